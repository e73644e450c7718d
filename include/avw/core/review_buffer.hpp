// File: review_buffer.hpp
//
// A request body as the server receives it, with the padding the review parser reads past
// its end, so the body is decoded where it lies instead of being copied first:
//
//   core::ReviewBuffer body;            // one per connection; keeps its capacity
//   body.reserve(content_length);
//   read_into(body.extend(n), n);       // or body.append(data, n), piece by piece
//   core::ParsedReview review(parser, body.padded());
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>
#include <utility>

namespace avw::core {

/// Bytes past the end of a body that the parser reads (whatever their values) when it
/// parses the body where it lies.
inline constexpr std::size_t kReviewPadding = 64;

/// A body followed by at least kReviewPadding readable bytes. Only ReviewBuffer makes one
/// (or this default: the empty body), so the padding is there by construction.
class PaddedBody {
 public:
  PaddedBody() : bytes_(kZeros, 0) {}
  std::string_view bytes() const { return bytes_; }

 private:
  friend class ReviewBuffer;
  explicit PaddedBody(std::string_view bytes) : bytes_(bytes) {}
  static constexpr char kZeros[kReviewPadding] = {};
  std::string_view bytes_;
};

/// A request body as the server receives it: appended piece by piece or read into place,
/// always followed by kReviewPadding zero bytes, so it is decoded without a copy. Keeps its
/// capacity on clear(). Its storage is not zero-filled first: a body read straight from the
/// socket is written once.
class ReviewBuffer {
 public:
  ReviewBuffer() = default;
  ReviewBuffer(ReviewBuffer&& other) noexcept { *this = std::move(other); }
  ReviewBuffer& operator=(ReviewBuffer&& other) noexcept {
    data_ = std::move(other.data_);
    size_ = std::exchange(other.size_, 0);
    capacity_ = std::exchange(other.capacity_, 0);
    return *this;
  }

  /// Room for a body of `body_size` bytes, so that appending up to it allocates nothing.
  void reserve(std::size_t body_size);
  void append(const char* data, std::size_t n) {
    if (n > 0) std::memcpy(extend(n), data, n);
  }
  /// Grows the body by `n` bytes that the caller then writes (their values are unspecified
  /// until then), and returns where they start. truncate() takes back what it did not write.
  char* extend(std::size_t n);
  /// Shortens the body to `size` bytes (at most size()).
  void truncate(std::size_t size);
  void clear() { truncate(0); }
  /// Frees the storage.
  void release() { *this = ReviewBuffer(); }
  std::size_t size() const { return size_; }
  std::size_t capacity() const { return capacity_; }
  std::string_view view() const { return {data_.get(), size_}; }
  PaddedBody padded() const { return data_ ? PaddedBody(view()) : PaddedBody(); }

 private:
  void grow(std::size_t body_capacity);
  std::unique_ptr<char[]> data_;  // null, or size_ bytes of body then kReviewPadding zeros
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;  // of body bytes; the padding comes on top
};

}  // namespace avw::core
