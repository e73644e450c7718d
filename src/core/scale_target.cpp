// Decoding of a scale target: any object a VPA can target, with the selector of its pods,
// read where the VPA's own target fetcher reads it.
#include <rapidjson/document.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "json_fields.hpp"
#include "kind_decoders.hpp"

namespace avw::core {

using rapidjson::SizeType;
using rapidjson::Value;
using namespace json_fields;

namespace {

// A structured metav1.LabelSelector. Unknown members are ignored, as the API server's own
// decoder does; a selector left empty by that matches everything and the store refuses it.
Selector decode_structured_selector(const Value& selector, std::string_view path) {
  std::vector<std::pair<std::string, std::string>> match_labels;
  std::vector<Selector::MatchExpression> match_expressions;
  if (const Value* labels = opt_object(selector, "matchLabels", path)) {
    for (const auto& m : labels->GetObject()) {
      if (!m.value.IsString()) {
        fail(join_path(join_path(path, "matchLabels"), view_of(m.name)),
             std::string("expected a string, got ") + type_name(m.value));
      }
      match_labels.emplace_back(std::string(view_of(m.name)), std::string(view_of(m.value)));
    }
  }
  if (const Value* expressions = opt_array(selector, "matchExpressions", path)) {
    for (SizeType i = 0; i < expressions->Size(); ++i) {
      const Value& e = (*expressions)[i];
      std::string where = indexed_path(join_path(path, "matchExpressions"), i);
      if (!e.IsObject()) fail(where, std::string("expected an object, got ") + type_name(e));
      Selector::MatchExpression expression;
      expression.key = req_string(e, "key", where);
      expression.op = req_string(e, "operator", where);
      if (const Value* values = opt_array(e, "values", where)) {
        for (SizeType j = 0; j < values->Size(); ++j) {
          const Value& v = (*values)[j];
          if (!v.IsString()) {
            fail(indexed_path(join_path(where, "values"), j),
                 std::string("expected a string, got ") + type_name(v));
          }
          expression.values.emplace_back(view_of(v));
        }
      }
      match_expressions.push_back(std::move(expression));
    }
  }
  std::string error;
  auto parsed = Selector::from_structured(match_labels, match_expressions, &error);
  if (!parsed) fail(path, error.empty() ? "invalid label selector" : error);
  return std::move(*parsed);
}

// A plain label map used as a selector (ReplicationController spec.selector, CronJob template
// labels): every entry is an equality.
Selector decode_label_map(const Value& map, std::string_view path) {
  std::vector<std::pair<std::string, std::string>> match_labels;
  for (const auto& m : map.GetObject()) {
    if (!m.value.IsString()) {
      fail(join_path(path, view_of(m.name)),
           std::string("expected a string, got ") + type_name(m.value));
    }
    match_labels.emplace_back(std::string(view_of(m.name)), std::string(view_of(m.value)));
  }
  std::string error;
  auto parsed = Selector::from_structured(match_labels, {}, &error);
  if (!parsed) fail(path, error.empty() ? "invalid label selector" : error);
  return std::move(*parsed);
}

Selector parse_selector_string(std::string_view text, std::string_view path) {
  std::string error;
  auto parsed = Selector::parse(text, &error);
  if (!parsed) fail(path, error.empty() ? "invalid label selector " + quoted(text) : error);
  return std::move(*parsed);
}

// Where an object keeps the selector of its pods, if anywhere. The order follows the VPA's
// target fetcher: what /scale reports (status.selector) first, then spec.selector; the two
// built-in kinds whose selector is a plain label map are read the way the VPA reads them.
enum class SelectorSource : std::uint8_t {
  None, StatusString, SpecString, SpecStructured, LabelMap, EmptyStatus
};

struct SelectorLocation {
  SelectorSource source = SelectorSource::None;
  const Value* value = nullptr;
  const char* path = "";
};

SelectorLocation locate_selector(const Value& object, std::string_view group, std::string_view kind) {
  if (group.empty() && kind == "ReplicationController") {
    const Value* spec = find(object, "spec");
    const Value* map = spec != nullptr ? find(*spec, "selector") : nullptr;
    if (map != nullptr && map->IsObject()) return {SelectorSource::LabelMap, map, "spec.selector"};
    return {};
  }
  if (group == "batch" && kind == "CronJob") {
    // The VPA takes a CronJob's selector from its pod template labels.
    const Value* v = find(object, "spec");
    for (const char* step : {"jobTemplate", "spec", "template", "metadata", "labels"}) {
      v = v != nullptr ? find(*v, step) : nullptr;
    }
    if (v != nullptr && v->IsObject()) {
      return {SelectorSource::LabelMap, v, "spec.jobTemplate.spec.template.metadata.labels"};
    }
    return {};
  }
  const Value* status = find(object, "status");
  const Value* status_selector = status != nullptr ? find(*status, "selector") : nullptr;
  if (status_selector != nullptr && !(status_selector->IsString() &&
                                      status_selector->GetStringLength() == 0)) {
    return {SelectorSource::StatusString, status_selector, "status.selector"};
  }
  const Value* spec = find(object, "spec");
  const Value* spec_selector = spec != nullptr ? find(*spec, "selector") : nullptr;
  if (spec_selector != nullptr) {
    return {spec_selector->IsObject() ? SelectorSource::SpecStructured : SelectorSource::SpecString,
            spec_selector, "spec.selector"};
  }
  // `status.selector: ""`: a scalable object whose selector is not written yet. It is kept
  // (so a VPA's target resolves) with an empty selector, which governs no pod.
  if (status_selector != nullptr) return {SelectorSource::EmptyStatus, status_selector, "status.selector"};
  return {};
}

ScaleTarget decode_target(const Value& object, std::string_view api_version, std::string_view kind,
                          const SelectorLocation& where) {
  ScaleTarget target;
  target.meta = decode_meta(object);
  target.api_version = api_version;
  target.kind = kind;
  const Value& v = *where.value;
  switch (where.source) {
    case SelectorSource::StatusString:
    case SelectorSource::SpecString:
      if (!v.IsString()) {
        fail(where.path, std::string("expected a string or a LabelSelector, got ") + type_name(v));
      }
      target.selector = parse_selector_string(view_of(v), where.path);
      break;
    case SelectorSource::SpecStructured:
      target.selector = decode_structured_selector(v, where.path);
      break;
    case SelectorSource::LabelMap:
      target.selector = decode_label_map(v, where.path);
      break;
    case SelectorSource::EmptyStatus:
    case SelectorSource::None:
      break;
  }
  if (const Value* status = opt_object(object, "status", "")) {
    target.oom_kills = decode_oom_kills(find(*status, "oomKills"), "status.oomKills");
  }
  return target;
}

}  // namespace

std::optional<ScaleTarget> decode_scale_target(const Value& object, std::string_view api_version,
                                               std::string_view kind) {
  const SelectorLocation where = locate_selector(object, group_of(api_version), kind);
  // Objects that select no pods (ConfigMaps, a Status) are simply not ours.
  if (where.source == SelectorSource::None) return std::nullopt;
  return decode_target(object, api_version, kind, where);
}

}  // namespace avw::core
