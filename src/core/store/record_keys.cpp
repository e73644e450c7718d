// File: record_keys.cpp
//
// The keys of packed records that are built on the control thread only (see
// record_keys.hpp); PairKey, built on the admission path, stays inline in the header.
#include "record_keys.hpp"

namespace avw::core::packed {

std::string target_key(std::uint64_t namespace_id, std::uint64_t kind_id, std::string_view name) {
  std::string key;
  Writer out(key);
  out.varint(namespace_id);
  out.varint(kind_id);
  key.append(name);
  return key;
}

std::string name_key(std::uint64_t namespace_id, std::string_view name) {
  std::string key;
  Writer(key).varint(namespace_id);
  key.append(name);
  return key;
}

std::string pair_key(std::uint64_t namespace_id, std::string_view a, std::string_view b) {
  return std::string(PairKey(namespace_id, a, b).view());
}

CompositeKey::CompositeKey(std::initializer_list<std::string_view> parts) {
  std::size_t needed = 0;
  for (auto part : parts) needed += sizeof(std::uint64_t) + part.size();
  char* out = buffer_.data();
  if (needed > buffer_.size()) {
    heap_.resize(needed);
    out = heap_.data();
  }
  char* p = out;
  for (auto part : parts) {
    const std::uint64_t size = part.size();
    std::memcpy(p, &size, sizeof size);
    p += sizeof size;
    if (!part.empty()) std::memcpy(p, part.data(), part.size());
    p += part.size();
  }
  view_ = std::string_view(out, needed);
}

std::string_view group_of(std::string_view api_version) {
  auto slash = api_version.find('/');
  return slash == std::string_view::npos ? std::string_view{} : api_version.substr(0, slash);
}

}  // namespace avw::core::packed
