// File: patch.hpp
//
// The JSON Patch (RFC 6902) a decision sends back to the API server:
//
//   std::vector<core::PatchOp> patch = {{"/spec/containers/0/resources/requests/cpu", "250m"}};
//   core::patch_to_json(patch);  // [{"op":"add","path":"/spec/...","value":"250m"}]
//
// Paths are JSON Pointers (json_pointer.hpp escapes their tokens).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace avw::core {

/// One JSON Patch operation. Only `add` is ever produced (it creates or replaces a member);
/// a missing value means the empty object `{}`.
struct PatchOp {
  std::string path;                 // JSON Pointer, already escaped
  std::optional<std::string> value; // a JSON string value; nullopt means {}
  friend bool operator==(const PatchOp&, const PatchOp&) = default;
};

/// The patch as a compact JSON array.
std::string patch_to_json(const std::vector<PatchOp>& patch);

}  // namespace avw::core
