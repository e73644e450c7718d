// File: arena.hpp (private to the store)
//
// Where a snapshot's packed records live. A record is written once, by the builder on the
// control thread, and never moves, so the tables and views hold plain pointers into it and
// the workers read it without locks for as long as they hold the snapshot. Records are copied
// into large blocks rather than allocated one by one: 100,000 tasks make a few hundred
// thousand records, and a heap allocation each would cost more than the records themselves.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

namespace avw::core::packed {

class Arena {
 public:
  /// Copies `bytes` into the arena; the copy stays where it is until the arena is destroyed.
  const char* store(std::string_view bytes) {
    if (bytes.size() > kBlock / 4) {
      blocks_.push_back(std::make_unique<char[]>(bytes.size()));
      reserved_ += bytes.size();
      std::memcpy(blocks_.back().get(), bytes.data(), bytes.size());
      return blocks_.back().get();
    }
    if (free_ < bytes.size()) {
      blocks_.push_back(std::make_unique<char[]>(kBlock));
      reserved_ += kBlock;
      next_ = blocks_.back().get();
      free_ = kBlock;
    }
    char* out = next_;
    std::memcpy(out, bytes.data(), bytes.size());
    next_ += bytes.size();
    free_ -= bytes.size();
    return out;
  }
  /// Bytes allocated for records, used or not.
  std::size_t reserved() const { return reserved_; }

 private:
  static constexpr std::size_t kBlock = 256 * 1024;
  std::vector<std::unique_ptr<char[]>> blocks_;
  char* next_ = nullptr;
  std::size_t free_ = 0;
  std::size_t reserved_ = 0;
};

}  // namespace avw::core::packed
