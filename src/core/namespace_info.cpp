// Decoding of a v1 Namespace: its annotations (per-namespace overrides of the safety gates)
// and labels (the closed loop's mode).
#include <rapidjson/document.h>

#include <string>

#include "json_fields.hpp"
#include "kind_decoders.hpp"

namespace avw::core {

using rapidjson::Value;
using namespace json_fields;

NamespaceInfo decode_namespace(const Value& object) {
  NamespaceInfo ns;
  ns.meta = decode_meta(object);
  const Value& md = req_object(object, "metadata", "");
  if (const Value* annotations = opt_object(md, "annotations", "metadata")) {
    for (const auto& member : annotations->GetObject()) {
      if (!member.value.IsString()) fail("metadata.annotations", "values must be strings");
      ns.annotations.emplace_back(view_of(member.name), view_of(member.value));
    }
  }
  if (const Value* labels = opt_object(md, "labels", "metadata")) {
    for (const auto& member : labels->GetObject()) {
      if (!member.value.IsString()) fail("metadata.labels", "values must be strings");
      ns.labels.emplace_back(view_of(member.name), view_of(member.value));
    }
  }
  return ns;
}

}  // namespace avw::core
