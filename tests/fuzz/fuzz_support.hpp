// File: fuzz_support.hpp
//
// Helpers shared by the libFuzzer targets of the pure core.
//
// An invariant that fails must stop the run with a message: libFuzzer saves the input that
// caused an abort as a crash artifact. `assert` cannot be used because a build with NDEBUG
// would silently drop the checks, so fuzz_require() aborts on its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

namespace avw::fuzz {

/// Aborts with `what` (and `detail`, escaped) when `ok` is false.
inline void fuzz_require(bool ok, std::string_view what, std::string_view detail = {}) {
  if (ok) return;
  std::string shown;
  for (char c : detail.substr(0, 512)) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f) {
      shown += c;
    } else {
      constexpr std::string_view kHex = "0123456789abcdef";
      shown += "\\x";
      shown += kHex[byte >> 4];
      shown += kHex[byte & 0xf];
    }
  }
  std::fprintf(stderr, "fuzz invariant violated: %.*s [%s]\n", static_cast<int>(what.size()), what.data(),
               shown.c_str());
  std::abort();
}

/// The input as a string_view (libFuzzer passes a null pointer with size 0).
inline std::string_view as_view(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return {};
  return {reinterpret_cast<const char*>(data), size};
}

/// A fixture file's bytes, read once at start-up to build fixed state (never from the input).
/// A missing fixture is a broken checkout, not a finding: it aborts with the path.
inline std::string read_fixture(std::string_view relative_path) {
  const std::string path = std::string(AVW_FIXTURES_DIR) + "/" + std::string(relative_path);
  std::ifstream in(path, std::ios::binary);
  fuzz_require(static_cast<bool>(in), "cannot open fixture", path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace avw::fuzz
