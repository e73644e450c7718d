// File: json_fields.hpp (private to the core)
//
// Typed reads of the members of a Kubernetes object decoded by RapidJSON, shared by the
// decoders of each kind. Untrusted input: a member of the wrong type or an invalid quantity
// throws ObjectError with the member's path ("spec.targetRef.kind: missing"), which the
// caller turns into one skipped object, never into a crash.
#pragma once

#include <rapidjson/document.h>

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "avw/core/objects.hpp"
#include "avw/core/resources.hpp"

namespace avw::core::json_fields {

using rapidjson::Value;

/// Why one object was skipped: thrown by the readers below and caught once per object.
class ObjectError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

[[noreturn]] void fail(std::string_view path, std::string_view why);

std::string_view view_of(const Value& v);
std::string quoted(std::string_view s);
/// Untrusted names and messages kept to one printable line of bounded length.
std::string one_line(std::string text);
std::string join_path(std::string_view prefix, std::string_view name);
std::string indexed_path(std::string_view prefix, std::size_t index);
/// "a string", "an object", ... for messages.
const char* type_name(const Value& v);

/// A member of `object`; nullptr when absent or JSON null (Kubernetes treats both as unset).
const Value* find(const Value& object, const char* name);
const Value* opt_object(const Value& parent, const char* name, std::string_view prefix);
const Value& req_object(const Value& parent, const char* name, std::string_view prefix);
const Value* opt_array(const Value& parent, const char* name, std::string_view prefix);
std::optional<std::string_view> opt_string(const Value& parent, const char* name, std::string_view prefix);
/// A non-empty string.
std::string_view req_string(const Value& parent, const char* name, std::string_view prefix);
/// The group of an apiVersion ("" for the core group's "v1").
std::string_view group_of(std::string_view api_version);

/// A quantity given as a string or an integer (the CRDs say int-or-string); never negative:
/// no request may be, and a negative bound could only produce a pod the API server rejects.
Quantity decode_quantity(const Value& value, std::string_view where);
/// A ResourceList restricted to cpu and memory (strings or integers; other resources are
/// ignored; negative quantities refused).
ResourceValues decode_resources(const Value* list, std::string_view path);
/// metadata.namespace, .name (required) and .creationTimestamp.
ObjectMeta decode_meta(const Value& object);
/// An optional RFC 3339 timestamp, validated; "" when absent.
std::string decode_timestamp(const Value& parent, const char* name, std::string_view prefix);

}  // namespace avw::core::json_fields
