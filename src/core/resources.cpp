#include "avw/core/resources.hpp"

namespace avw::core {

std::optional<Resource> resource_from_string(std::string_view name) {
  // Exact names only: the VPA and the API server spell resources in lower case.
  if (name == "cpu") return Resource::Cpu;
  if (name == "memory") return Resource::Memory;
  return std::nullopt;
}

}  // namespace avw::core
