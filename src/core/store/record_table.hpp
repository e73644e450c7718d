// File: record_table.hpp (private to the store)
//
// The store's hash tables. RecordTable is open addressing over pointers to packed records:
// each record starts with its key, so a slot is one pointer and a lookup compares the key in
// place, with no node and no key string per entry (there are hundreds of thousands).
// It is filled by the builder and only read once the snapshot is published, so workers look
// it up concurrently without locks. StringMap is the ordinary map for the few small tables
// (interned names, LimitRanges and namespaces), looked up by string_view without a copy.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "record_keys.hpp"

namespace avw::core::packed {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

/// Keyed by std::string, looked up by std::string_view without building a string.
template <class V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

/// An open addressing table of records, keyed by a key each record holds (KeyOf).
template <std::string_view (*KeyOf)(const char*) = key_of>
class RecordTable {
 public:
  const char* find(std::string_view key) const {
    if (slots_.empty()) return nullptr;
    for (std::size_t i = hash(key) & mask();; i = (i + 1) & mask()) {
      const char* r = slots_[i];
      if (r == nullptr) return nullptr;
      if (KeyOf(r) == key) return r;
    }
  }
  /// Inserts or replaces; returns the record replaced, or nullptr.
  const char* put(const char* record) {
    if ((size_ + 1) * 4 > slots_.size() * 3) grow();
    const std::string_view key = KeyOf(record);
    for (std::size_t i = hash(key) & mask();; i = (i + 1) & mask()) {
      const char*& slot = slots_[i];
      if (slot == nullptr) {
        slot = record;
        ++size_;
        return nullptr;
      }
      if (KeyOf(slot) == key) return std::exchange(slot, record);
    }
  }
  template <class F>
  void for_each(F f) const {
    for (const char* r : slots_) {
      if (r != nullptr) f(r);
    }
  }
  std::size_t size() const { return size_; }
  std::size_t bytes() const { return slots_.capacity() * sizeof(const char*); }

 private:
  static std::size_t hash(std::string_view key) { return std::hash<std::string_view>{}(key); }
  std::size_t mask() const { return slots_.size() - 1; }
  void grow() {
    std::vector<const char*> old = std::move(slots_);
    slots_.assign(old.empty() ? 16 : old.size() * 2, nullptr);
    size_ = 0;
    for (const char* r : old) {
      if (r != nullptr) put(r);
    }
  }

  std::vector<const char*> slots_;
  std::size_t size_ = 0;
};

}  // namespace avw::core::packed
