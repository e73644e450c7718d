// Which decoder reads an object: the kind's own, or the scale target's for any object with a
// selector of pods. The API server (or a hand-edited recommendations file) is untrusted input:
// an object that cannot be understood is skipped with one line in `errors` instead of aborting
// the whole document, so one broken VPA never hides the others.
#include "object_dispatch.hpp"

#include <optional>
#include <string>
#include <utility>

#include "kind_decoders.hpp"

namespace avw::core {

using json_fields::Value;
using namespace json_fields;

namespace {

std::string describe(std::string_view kind, const Value& object, std::string_view fallback_name) {
  std::string out(kind.empty() ? std::string_view("object") : kind);
  out += ' ';
  const Value* md = find(object, "metadata");
  const Value* ns = md != nullptr ? find(*md, "namespace") : nullptr;
  const Value* name = md != nullptr ? find(*md, "name") : nullptr;
  if (ns != nullptr && ns->IsString() && ns->GetStringLength() > 0) {
    out += view_of(*ns);
    out += '/';
  }
  if (name != nullptr && name->IsString() && name->GetStringLength() > 0) {
    out += view_of(*name);
  } else {
    out += fallback_name;
  }
  return out;
}

}  // namespace

void decode_object(const Value& object, std::string_view default_api_version,
                   std::string_view default_kind, std::string_view position, DecodedObjects& out) {
  if (!object.IsObject()) {
    out.errors.push_back(one_line(std::string(position) + ": expected an object, got " +
                                  type_name(object)));
    return;
  }
  std::string_view api_version = default_api_version;
  std::string_view kind = default_kind;
  const Value* api_version_value = find(object, "apiVersion");
  const Value* kind_value = find(object, "kind");
  if ((api_version_value != nullptr && !api_version_value->IsString()) ||
      (kind_value != nullptr && !kind_value->IsString())) {
    out.errors.push_back(
        one_line(describe("object", object, position) + ": apiVersion and kind must be strings"));
    return;
  }
  if (api_version_value != nullptr) api_version = view_of(*api_version_value);
  if (kind_value != nullptr) kind = view_of(*kind_value);
  const std::string_view group = group_of(api_version);

  try {
    if (group == "autoscaling.k8s.io" && kind == "VerticalPodAutoscaler") {
      out.vpas.push_back(decode_vpa(object));
    } else if (group == "autoscaling.k8s.io" && kind == "VerticalPodAutoscalerCheckpoint") {
      out.checkpoints.push_back(decode_checkpoint(object));
    } else if (group.empty() && api_version == "v1" && kind == "LimitRange") {
      out.limit_ranges.push_back(decode_limit_range(object));
    } else if (group.empty() && api_version == "v1" && kind == "Namespace") {
      out.namespaces.push_back(decode_namespace(object));
    } else if (group.empty() && api_version == "v1" && kind == "Pod") {
      out.pods.push_back(decode_task_pod(object));
    } else if (std::optional<ScaleTarget> target = decode_scale_target(object, api_version, kind)) {
      out.targets.push_back(std::move(*target));
    }
  } catch (const ObjectError& e) {
    out.errors.push_back(one_line(describe(kind, object, position) + ": " + e.what()));
  }
}

}  // namespace avw::core
