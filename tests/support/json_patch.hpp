// File: json_patch.hpp
//
// An RFC 6902 JSON Patch applier and JSON Pointer (RFC 6901) queries, for tests. The webhook's
// patches are applied to captured pods with it, which proves they apply as the API server
// applies them: strictly, so an `add` whose parent does not exist fails, just as it does in
// the API server (evanphx/json-patch without EnsurePathExistsOnAdd).
//
//   std::string pod = apply_json_patch(object_json, patch_to_json(decision.patch));
//   json_at(pod, "/spec/containers/0/resources/requests/cpu") == "250m"
//
// All functions throw std::runtime_error with a message on invalid JSON, an invalid pointer,
// or an operation that does not apply.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace avw::test {

/// Applies `patch_json` (an array of add, remove, replace, move, copy and test operations)
/// to `document_json` and returns the result as compact JSON.
std::string apply_json_patch(std::string_view document_json, std::string_view patch_json);

/// The value at `pointer`: a string's content without quotes, any other value as compact
/// JSON (`{}`, `42`, `true`, `["a"]`). Throws when there is no such value.
std::string json_at(std::string_view document_json, std::string_view pointer);

/// True when `pointer` names a value of the document (null counts as a value).
bool json_has(std::string_view document_json, std::string_view pointer);

/// `text` as a JSON string literal, quoted and escaped (for building patches in tests).
std::string json_string(std::string_view text);

/// Every JSON Pointer of the document below the root, parents before children, in document
/// order, escaped (`/metadata/labels/kubernetes.io~1limit-ranger`).
std::vector<std::string> json_pointers(std::string_view document_json);

}  // namespace avw::test
