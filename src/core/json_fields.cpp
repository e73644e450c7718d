// Typed reads of object members (see json_fields.hpp).
#include "json_fields.hpp"

#include <string>

namespace avw::core::json_fields {

[[noreturn]] void fail(std::string_view path, std::string_view why) {
  std::string message(path);
  message += ": ";
  message += why;
  throw ObjectError(message);
}

std::string_view view_of(const Value& v) { return {v.GetString(), v.GetStringLength()}; }

std::string quoted(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  out += s;
  out += '"';
  return out;
}

std::string one_line(std::string text) {
  constexpr std::size_t kMaxLength = 512;
  if (text.size() > kMaxLength) {
    text.resize(kMaxLength);
    text += "...";
  }
  for (char& c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = '?';
  }
  return text;
}

std::string join_path(std::string_view prefix, std::string_view name) {
  std::string out(prefix);
  if (!out.empty()) out += '.';
  out += name;
  return out;
}

std::string indexed_path(std::string_view prefix, std::size_t index) {
  std::string out(prefix);
  out += '[';
  out += std::to_string(index);
  out += ']';
  return out;
}

const char* type_name(const Value& v) {
  if (v.IsNull()) return "null";
  if (v.IsBool()) return "a boolean";
  if (v.IsNumber()) return "a number";
  if (v.IsString()) return "a string";
  if (v.IsArray()) return "an array";
  return "an object";
}

// A member of `object`; nullptr when absent or JSON null (Kubernetes treats both as unset).
const Value* find(const Value& object, const char* name) {
  if (!object.IsObject()) return nullptr;
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

const Value* opt_object(const Value& parent, const char* name, std::string_view prefix) {
  const Value* v = find(parent, name);
  if (v != nullptr && !v->IsObject()) {
    fail(join_path(prefix, name), std::string("expected an object, got ") + type_name(*v));
  }
  return v;
}

const Value& req_object(const Value& parent, const char* name, std::string_view prefix) {
  const Value* v = opt_object(parent, name, prefix);
  if (v == nullptr) fail(join_path(prefix, name), "missing");
  return *v;
}

const Value* opt_array(const Value& parent, const char* name, std::string_view prefix) {
  const Value* v = find(parent, name);
  if (v != nullptr && !v->IsArray()) {
    fail(join_path(prefix, name), std::string("expected an array, got ") + type_name(*v));
  }
  return v;
}

std::optional<std::string_view> opt_string(const Value& parent, const char* name,
                                           std::string_view prefix) {
  const Value* v = find(parent, name);
  if (v == nullptr) return std::nullopt;
  if (!v->IsString()) {
    fail(join_path(prefix, name), std::string("expected a string, got ") + type_name(*v));
  }
  return view_of(*v);
}

std::string_view req_string(const Value& parent, const char* name, std::string_view prefix) {
  auto s = opt_string(parent, name, prefix);
  if (!s || s->empty()) fail(join_path(prefix, name), "missing");
  return *s;
}

std::string_view group_of(std::string_view api_version) {
  auto slash = api_version.find('/');
  return slash == std::string_view::npos ? std::string_view{} : api_version.substr(0, slash);
}

// A ResourceList restricted to cpu and memory. Quantities may be strings or integers (the
// CRDs say int-or-string); other resource names (ephemeral-storage, GPUs) are not ours to
// manage and are ignored. Negative quantities are refused: no request may be negative, and a
// negative bound or recommendation could only produce a pod the API server rejects.
Quantity decode_quantity(const Value& value, std::string_view where) {
  std::string text;
  if (value.IsString()) {
    text.assign(view_of(value));
  } else if (value.IsInt64()) {
    text = std::to_string(value.GetInt64());
  } else if (value.IsUint64()) {
    text = std::to_string(value.GetUint64());
  } else {
    fail(where, std::string("expected a quantity, got ") + type_name(value));
  }
  std::string error;
  auto q = Quantity::parse(text, &error);
  if (!q) fail(where, error.empty() ? "invalid quantity " + quoted(text) : error);
  if (q->is_negative()) fail(where, "negative quantity " + quoted(text));
  return *q;
}

ResourceValues decode_resources(const Value* list, std::string_view path) {
  ResourceValues out;
  if (list == nullptr) return out;
  if (!list->IsObject()) fail(path, std::string("expected an object, got ") + type_name(*list));
  for (const auto& m : list->GetObject()) {
    auto resource = resource_from_string(view_of(m.name));
    if (!resource) continue;
    out[*resource] = decode_quantity(m.value, join_path(path, view_of(m.name)));
  }
  return out;
}

ObjectMeta decode_meta(const Value& object) {
  ObjectMeta meta;
  const Value* md = opt_object(object, "metadata", "");
  if (md == nullptr) fail("metadata", "missing");
  meta.name = req_string(*md, "name", "metadata");
  meta.namespace_ = opt_string(*md, "namespace", "metadata").value_or("");
  opt_string(*md, "uid", "metadata");
  opt_string(*md, "resourceVersion", "metadata");
  if (auto created = opt_string(*md, "creationTimestamp", "metadata")) {
    meta.created = parse_rfc3339(*created).value_or(ObjectMeta::kUnknownCreated);
  }
  return meta;
}

std::string decode_timestamp(const Value& parent, const char* name, std::string_view prefix) {
  auto text = opt_string(parent, name, prefix).value_or("");
  // Validated here so that the history gate can rely on every non-empty timestamp parsing.
  if (!text.empty() && !parse_rfc3339(text)) {
    fail(join_path(prefix, name), "invalid timestamp " + quoted(text));
  }
  return std::string(text);
}


}  // namespace avw::core::json_fields
