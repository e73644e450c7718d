#include "avw/core/review_buffer.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace avw::core {

void ReviewBuffer::grow(std::size_t body_capacity) {
  auto bigger = std::make_unique_for_overwrite<char[]>(body_capacity + kReviewPadding);
  if (data_) std::memcpy(bigger.get(), data_.get(), size_ + kReviewPadding);
  else std::memset(bigger.get(), 0, kReviewPadding);
  data_ = std::move(bigger);
  capacity_ = body_capacity;
}

void ReviewBuffer::reserve(std::size_t body_size) {
  if (!data_ || body_size > capacity_) grow(body_size);
}

char* ReviewBuffer::extend(std::size_t n) {
  if (n > std::numeric_limits<std::size_t>::max() - kReviewPadding - size_) throw std::length_error("review body too large");
  // Doubling keeps appending a piece at a time linear; a reserved body never gets here.
  if (!data_ || size_ + n > capacity_) grow(std::max(size_ + n, 2 * capacity_));
  char* at = data_.get() + size_;
  size_ += n;
  std::memset(data_.get() + size_, 0, kReviewPadding);
  return at;
}

void ReviewBuffer::truncate(std::size_t size) {
  if (!data_) return;
  size_ = std::min(size, size_);
  std::memset(data_.get() + size_, 0, kReviewPadding);
}

}  // namespace avw::core
