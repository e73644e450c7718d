#include "support/fixtures.hpp"

#include <fstream>
#include <iterator>
#include <stdexcept>

namespace avw::test {

std::string read_fixture(std::string_view relative_path) {
  const std::string path = std::string(AVW_FIXTURES_DIR) + "/" + std::string(relative_path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open fixture " + path);
  std::string content{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) throw std::runtime_error("cannot read fixture " + path);
  return content;
}

}  // namespace avw::test
