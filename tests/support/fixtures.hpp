// File: fixtures.hpp
//
// The captured API-server fixtures (tests/fixtures, see its README.md), read by tests.
//
//   std::string body = avw::test::read_fixture("admission/kpo-pod.json");
#pragma once

#include <string>
#include <string_view>

namespace avw::test {

/// The bytes of AVW_FIXTURES_DIR/<relative_path>. Throws std::runtime_error naming the path
/// when the file cannot be read, so a missing fixture fails the test with a clear message.
std::string read_fixture(std::string_view relative_path);

}  // namespace avw::test
