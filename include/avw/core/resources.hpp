// File: resources.hpp
//
// The two resources the VPA controls (cpu, memory) and small fixed-size maps over them.
// The VPA rejects any other controlledResources, so an array indexed by Resource is both
// exact and allocation-free.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "avw/core/quantity.hpp"

namespace avw::core {

enum class Resource : std::uint8_t { Cpu = 0, Memory = 1 };
inline constexpr std::array<Resource, 2> kResources = {Resource::Cpu, Resource::Memory};

constexpr std::string_view to_string(Resource r) { return r == Resource::Cpu ? "cpu" : "memory"; }
std::optional<Resource> resource_from_string(std::string_view name);

/// Rounding step of a resource: cpu to whole millicores, memory to whole bytes.
constexpr Int128 rounding_step(Resource r) { return r == Resource::Cpu ? kNanosPerMilli : kNanosPerUnit; }

/// An optional quantity per resource (a ResourceList restricted to cpu and memory).
struct ResourceValues {
  std::array<std::optional<Quantity>, 2> values{};

  std::optional<Quantity>& operator[](Resource r) { return values[static_cast<std::size_t>(r)]; }
  const std::optional<Quantity>& operator[](Resource r) const { return values[static_cast<std::size_t>(r)]; }
  bool empty() const { return !values[0] && !values[1]; }
  friend bool operator==(const ResourceValues&, const ResourceValues&) = default;
};

}  // namespace avw::core
