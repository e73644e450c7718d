// Decoding of the Kubernetes objects the webhook reads (see objects.hpp).
//
// The API server (or a hand-edited recommendations file) is untrusted input here: every field is
// type-checked, and an object that cannot be understood is skipped with one line in `errors`
// instead of aborting the whole document, so one broken VPA never hides the others. A VPA that
// is only partly understood (an unknown update mode, a policy we cannot read) is skipped whole:
// applying its recommendation while ignoring, say, a `mode: Off` policy would be worse than
// applying nothing.
#include "avw/core/objects.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cassert>
#include <array>
#include <stdexcept>
#include <string>
#include <utility>

#include "avw/core/admission.hpp"
#include "json_fields.hpp"
#include "kind_decoders.hpp"

namespace avw::core {

namespace {

using rapidjson::SizeType;
using rapidjson::Value;
using namespace json_fields;

// ---- VerticalPodAutoscaler --------------------------------------------------------------

ContainerPolicy decode_container_policy(const Value& item, const std::string& path) {
  if (!item.IsObject()) fail(path, std::string("expected an object, got ") + type_name(item));
  ContainerPolicy policy;
  // The CRD makes containerName optional; a nameless policy matches no container.
  policy.container_name = opt_string(item, "containerName", path).value_or("");

  if (auto mode = opt_string(item, "mode", path)) {
    if (*mode == "Auto") {
      policy.mode = ContainerScalingMode::Auto;
    } else if (*mode == "Off") {
      policy.mode = ContainerScalingMode::Off;
    } else {
      fail(join_path(path, "mode"), "unknown mode " + quoted(*mode));
    }
  }

  if (const Value* resources = opt_array(item, "controlledResources", path)) {
    std::vector<Resource> controlled;
    for (SizeType i = 0; i < resources->Size(); ++i) {
      const Value& r = (*resources)[i];
      std::string where = indexed_path(join_path(path, "controlledResources"), i);
      if (!r.IsString()) fail(where, std::string("expected a string, got ") + type_name(r));
      auto resource = resource_from_string(view_of(r));
      // The VPA itself only controls cpu and memory; anything else means we misread the
      // policy's intent, so the whole VPA is skipped rather than half-applied.
      if (!resource) fail(where, "unsupported resource " + quoted(view_of(r)));
      if (std::find(controlled.begin(), controlled.end(), *resource) == controlled.end()) {
        controlled.push_back(*resource);
      }
    }
    policy.controlled_resources = std::move(controlled);
  }

  if (auto values = opt_string(item, "controlledValues", path)) {
    if (*values == "RequestsAndLimits") {
      policy.controlled_values = ControlledValues::RequestsAndLimits;
    } else if (*values == "RequestsOnly") {
      policy.controlled_values = ControlledValues::RequestsOnly;
    } else {
      fail(join_path(path, "controlledValues"), "unknown value " + quoted(*values));
    }
  }

  policy.min_allowed = decode_resources(find(item, "minAllowed"), join_path(path, "minAllowed"));
  policy.max_allowed = decode_resources(find(item, "maxAllowed"), join_path(path, "maxAllowed"));
  return policy;
}

ContainerRecommendation decode_recommendation(const Value& item, const std::string& path) {
  if (!item.IsObject()) fail(path, std::string("expected an object, got ") + type_name(item));
  ContainerRecommendation rec;
  rec.container_name = req_string(item, "containerName", path);
  rec.target = decode_resources(find(item, "target"), join_path(path, "target"));
  rec.lower_bound = decode_resources(find(item, "lowerBound"), join_path(path, "lowerBound"));
  rec.upper_bound = decode_resources(find(item, "upperBound"), join_path(path, "upperBound"));
  rec.uncapped_target =
      decode_resources(find(item, "uncappedTarget"), join_path(path, "uncappedTarget"));
  return rec;
}

Vpa decode_vpa(const Value& object) {
  Vpa vpa;
  vpa.meta = decode_meta(object);
  const Value& spec = req_object(object, "spec", "");

  const Value& ref = req_object(spec, "targetRef", "spec");
  vpa.target_ref.api_version = opt_string(ref, "apiVersion", "spec.targetRef").value_or("");
  vpa.target_ref.kind = req_string(ref, "kind", "spec.targetRef");
  vpa.target_ref.name = req_string(ref, "name", "spec.targetRef");

  if (const Value* update = opt_object(spec, "updatePolicy", "spec")) {
    if (auto mode = opt_string(*update, "updateMode", "spec.updatePolicy")) {
      auto parsed = update_mode_from_string(*mode);
      if (!parsed) fail("spec.updatePolicy.updateMode", "unknown update mode " + quoted(*mode));
      vpa.update_mode = *parsed;
    }
  }

  if (const Value* policy = opt_object(spec, "resourcePolicy", "spec")) {
    if (const Value* list =
            opt_array(*policy, "containerPolicies", "spec.resourcePolicy")) {
      vpa.container_policies.reserve(list->Size());
      for (SizeType i = 0; i < list->Size(); ++i) {
        vpa.container_policies.push_back(decode_container_policy(
            (*list)[i], indexed_path("spec.resourcePolicy.containerPolicies", i)));
      }
    }
  }

  if (const Value* status = opt_object(object, "status", "")) {
    if (const Value* recommendation = opt_object(*status, "recommendation", "status")) {
      if (const Value* list = opt_array(*recommendation, "containerRecommendations",
                                        "status.recommendation")) {
        vpa.recommendations.reserve(list->Size());
        for (SizeType i = 0; i < list->Size(); ++i) {
          vpa.recommendations.push_back(decode_recommendation(
              (*list)[i], indexed_path("status.recommendation.containerRecommendations", i)));
        }
      }
    }
  }
  return vpa;
}

// ---- VerticalPodAutoscalerCheckpoint ----------------------------------------------------

Checkpoint decode_checkpoint(const Value& object) {
  Checkpoint cp;
  cp.meta = decode_meta(object);
  const Value& spec = req_object(object, "spec", "");
  cp.vpa_name = req_string(spec, "vpaObjectName", "spec");
  cp.container_name = req_string(spec, "containerName", "spec");

  // A checkpoint the recommender has not written yet has no status: no history at all.
  const Value* status = opt_object(object, "status", "");
  if (status == nullptr) return cp;
  cp.first_sample_start = decode_timestamp(*status, "firstSampleStart", "status");
  cp.last_sample_start = decode_timestamp(*status, "lastSampleStart", "status");
  if (const Value* count = find(*status, "totalSamplesCount")) {
    if (!count->IsInt64() || count->GetInt64() < 0) {
      fail("status.totalSamplesCount", "expected a non-negative integer");
    }
    cp.total_samples_count = count->GetInt64();
  }
  if (const Value* memory = opt_object(*status, "memoryHistogram", "status")) {
    if (const Value* weights = opt_object(*memory, "bucketWeights", "status.memoryHistogram")) {
      cp.has_memory_samples = weights->MemberCount() > 0;
    }
  }
  return cp;
}

// ---- Namespace -----------------------------------------------------------------------------

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

// ---- LimitRange -------------------------------------------------------------------------

LimitRange decode_limit_range(const Value& object) {
  LimitRange range;
  range.meta = decode_meta(object);
  const Value* spec = opt_object(object, "spec", "");
  if (spec == nullptr) return range;
  const Value* limits = opt_array(*spec, "limits", "spec");
  if (limits == nullptr) return range;
  range.items.reserve(limits->Size());
  for (SizeType i = 0; i < limits->Size(); ++i) {
    const Value& item = (*limits)[i];
    std::string path = indexed_path("spec.limits", i);
    if (!item.IsObject()) fail(path, std::string("expected an object, got ") + type_name(item));
    LimitRangeItem out;
    auto type = opt_string(item, "type", path).value_or("");
    out.type = type == "Container" ? LimitRangeItem::Type::Container
               : type == "Pod"     ? LimitRangeItem::Type::Pod
                                   : LimitRangeItem::Type::Other;
    out.min = decode_resources(find(item, "min"), join_path(path, "min"));
    out.max = decode_resources(find(item, "max"), join_path(path, "max"));
    out.default_limit = decode_resources(find(item, "default"), join_path(path, "default"));
    out.default_request =
        decode_resources(find(item, "defaultRequest"), join_path(path, "defaultRequest"));
    out.max_limit_request_ratio = decode_resources(find(item, "maxLimitRequestRatio"),
                                                   join_path(path, "maxLimitRequestRatio"));
    range.items.push_back(std::move(out));
  }
  return range;
}

// ---- Scale targets ----------------------------------------------------------------------

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

// ---- Dispatch ---------------------------------------------------------------------------

// Keeps untrusted names and messages to one printable line of bounded length.
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

// Decodes one object into `out`. `default_api_version` and `default_kind` come from a typed
// list page, whose items the API server sends without apiVersion and kind (LimitRangeList).
void decode_one(const Value& object, std::string_view default_api_version,
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
    } else {
      SelectorLocation where = locate_selector(object, group, kind);
      // Objects that select no pods (Pods, ConfigMaps, a Status) are simply not ours.
      if (where.source == SelectorSource::None) return;
      out.targets.push_back(decode_target(object, api_version, kind, where));
    }
  } catch (const ObjectError& e) {
    out.errors.push_back(one_line(describe(kind, object, position) + ": " + e.what()));
  }
}

rapidjson::Document parse_document(std::string_view json, std::string_view what) {
  rapidjson::Document doc;
  // Iterative parsing: nesting depth cannot exhaust the stack, whatever the input.
  doc.Parse<rapidjson::kParseIterativeFlag>(json.data(), json.size());
  if (doc.HasParseError()) {
    throw DecodeError(std::string(what) + ": invalid JSON at offset " +
                      std::to_string(doc.GetErrorOffset()) + ": " +
                      rapidjson::GetParseError_En(doc.GetParseError()));
  }
  if (!doc.IsObject()) {
    throw DecodeError(std::string(what) + ": expected a JSON object, got " + type_name(doc));
  }
  return doc;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// What a document holds besides the items already streamed (see ItemStreamer): a list's
// metadata and any items left in it, or one object.
void decode_document(const Value& doc, DecodedObjects& out) {
  const Value* kind_value = find(doc, "kind");
  std::string_view kind =
      kind_value != nullptr && kind_value->IsString() ? view_of(*kind_value) : std::string_view{};
  const Value* items = find(doc, "items");
  const bool is_list = ends_with(kind, "List") || (kind_value == nullptr && items != nullptr);
  if (!is_list) {
    decode_one(doc, {}, {}, "object", out);
    return;
  }

  if (const Value* md = find(doc, "metadata"); md != nullptr && md->IsObject()) {
    if (const Value* rv = find(*md, "resourceVersion"); rv != nullptr && rv->IsString()) {
      out.list_resource_version = view_of(*rv);
    }
    if (const Value* next = find(*md, "continue"); next != nullptr && next->IsString()) {
      out.list_continue = view_of(*next);
    }
  }
  // A typed page (`LimitRangeList`) omits apiVersion and kind on its items; a generic `List`
  // (kubectl) carries them on every item, so it gives no default.
  std::string_view default_kind =
      ends_with(kind, "List") ? kind.substr(0, kind.size() - 4) : std::string_view{};
  std::string_view default_api_version;
  if (!default_kind.empty()) {
    if (const Value* av = find(doc, "apiVersion"); av != nullptr && av->IsString()) {
      default_api_version = view_of(*av);
    }
  }

  if (items == nullptr) return;
  if (!items->IsArray()) {
    out.errors.push_back(std::string(kind.empty() ? "List" : one_line(std::string(kind))) +
                         ": items: expected an array, got " + type_name(*items));
    return;
  }
  for (SizeType i = 0; i < items->Size(); ++i) {
    decode_one((*items)[i], default_api_version, default_kind, indexed_path("items", i), out);
  }
}

// A RapidJSON input stream over the chunks of a ChunkSource. It behaves exactly like the
// MemoryStream that Document::Parse(str, length) reads (the same leading-BOM skip, '\0' at the
// end, offsets counted from the first byte), so errors read the same however the bytes arrive.
class ChunkStream {
 public:
  using Ch = char;

  explicit ChunkStream(const ChunkSource& next_chunk) : next_chunk_(next_chunk) {
    if (static_cast<unsigned char>(Peek()) == 0xEFu) Take();
    if (static_cast<unsigned char>(Peek()) == 0xBBu) Take();
    if (static_cast<unsigned char>(Peek()) == 0xBFu) Take();
  }
  ChunkStream(const ChunkStream&) = delete;
  ChunkStream& operator=(const ChunkStream&) = delete;

  Ch Peek() {
    if (pos_ == chunk_.size() && !fill()) return '\0';
    return chunk_[pos_];
  }
  Ch Take() {
    if (pos_ == chunk_.size() && !fill()) return '\0';
    ++consumed_;
    return chunk_[pos_++];
  }
  std::size_t Tell() const { return consumed_; }

  // Write side, unused: only in-situ parsing (not used here) writes to its stream.
  Ch* PutBegin() { return nullptr; }
  void Put(Ch) {}
  void Flush() {}
  std::size_t PutEnd(Ch*) { return 0; }

 private:
  bool fill() {
    if (ended_) return false;
    chunk_ = next_chunk_();
    pos_ = 0;
    if (chunk_.empty()) ended_ = true;
    return !ended_;
  }

  const ChunkSource& next_chunk_;
  std::string_view chunk_;
  std::size_t pos_ = 0;
  std::size_t consumed_ = 0;
  bool ended_ = false;
};

// The SAX handler of decode_objects(). It builds the DOM of the document as Document would
// (members in order, duplicates kept, so FindMember sees the first), with one exception: once
// the top-level `kind` and, when needed, `apiVersion` say the document is a list, each element
// of its first `items` array is built alone, decoded with decode_one() and dropped, and `items`
// stays an empty array in the DOM. Peak memory is then one item, not the whole list.
class ItemStreamer {
 public:
  ItemStreamer(rapidjson::Document::AllocatorType& top, DecodedObjects& out, const ItemSink* sink)
      : top_(top), item_buffer_(64 * 1024), item_(item_buffer_.data(), item_buffer_.size()), out_(out),
        sink_(sink) {}
  ItemStreamer(const ItemStreamer&) = delete;
  ItemStreamer& operator=(const ItemStreamer&) = delete;

  /// The document, once parsed without error.
  const Value& root() const {
    assert(stack_.size() == 1);
    return stack_.front();
  }

  // rapidjson::Handler
  bool Null() { return scalar(Value()); }
  bool Bool(bool b) { return scalar(Value(b)); }
  bool Int(int i) { return scalar(Value(i)); }
  bool Uint(unsigned u) { return scalar(Value(u)); }
  bool Int64(std::int64_t i) { return scalar(Value(i)); }
  bool Uint64(std::uint64_t u) { return scalar(Value(u)); }
  bool Double(double d) { return scalar(Value(d)); }
  bool RawNumber(const char* s, SizeType n, bool copy) { return String(s, n, copy); }
  bool String(const char* s, SizeType n, bool /*copy*/) { return scalar(Value(s, n, allocator())); }
  bool Key(const char* s, SizeType n, bool /*copy*/) {
    if (depth_ == 1) top_key_kind_ = classify(std::string_view(s, n));
    stack_.emplace_back(s, n, allocator());
    return true;
  }
  bool StartObject() {
    stack_.emplace_back(rapidjson::kObjectType);
    ++depth_;
    return true;
  }
  bool EndObject(SizeType count) {
    rapidjson::Document::AllocatorType& alloc = allocator();
    const std::size_t base = stack_.size() - 2 * std::size_t{count} - 1;
    Value& object = stack_[base];
    for (std::size_t i = base + 1; i < stack_.size(); i += 2) object.AddMember(stack_[i], stack_[i + 1], alloc);
    stack_.resize(base + 1);
    --depth_;
    return completed();
  }
  bool StartArray() {
    if (depth_ == 1 && top_key_kind_ == TopKey::Items && !items_seen_) {
      items_seen_ = true;
      streaming_ = streamable();
    }
    stack_.emplace_back(rapidjson::kArrayType);
    ++depth_;
    return true;
  }
  bool EndArray(SizeType count) {
    if (streaming_ && depth_ == 2) {
      // The end of the streamed items: each was decoded and dropped as it ended.
      streaming_ = false;
      --depth_;
      return completed();
    }
    rapidjson::Document::AllocatorType& alloc = allocator();
    const std::size_t base = stack_.size() - std::size_t{count} - 1;
    Value& array = stack_[base];
    array.Reserve(count, alloc);
    for (std::size_t i = base + 1; i < stack_.size(); ++i) array.PushBack(stack_[i], alloc);
    stack_.resize(base + 1);
    --depth_;
    return completed();
  }

 private:
  enum class TopKey : std::uint8_t { Other, Kind, ApiVersion, Items };
  // The first member of a name is the one FindMember, hence decode_document, reads.
  struct FirstMember {
    bool seen = false;
    bool is_string = false;
    bool is_null = false;
    std::string text;  // copied: short strings live inside their Value, which moves
  };

  static TopKey classify(std::string_view key) {
    if (key == "kind") return TopKey::Kind;
    if (key == "apiVersion") return TopKey::ApiVersion;
    if (key == "items") return TopKey::Items;
    return TopKey::Other;
  }

  // Items are allocated from a pool cleared after each one; everything else from the document.
  rapidjson::Document::AllocatorType& allocator() { return streaming_ && depth_ >= 2 ? item_ : top_; }

  bool scalar(Value&& v) {
    stack_.push_back(std::move(v));
    return completed();
  }

  // Called when a value has been pushed complete.
  bool completed() {
    if (streaming_ && depth_ == 2) {
      decode_one(stack_.back(), default_api_version_, default_kind_, indexed_path("items", item_index_++), out_);
      stack_.pop_back();
      item_.Clear();
      if (sink_ != nullptr && *sink_) (*sink_)(out_);
    } else if (depth_ == 1) {
      const Value& v = stack_.back();
      FirstMember* member = top_key_kind_ == TopKey::Kind         ? &kind_
                            : top_key_kind_ == TopKey::ApiVersion ? &api_version_
                                                                  : nullptr;
      if (member != nullptr && !member->seen) {
        member->seen = true;
        member->is_string = v.IsString();
        member->is_null = v.IsNull();
        if (member->is_string) member->text = view_of(v);
      }
      if (top_key_kind_ == TopKey::Items) items_seen_ = true;
      top_key_kind_ = TopKey::Other;
    }
    return true;
  }

  // Whether `items`, about to start, can be streamed: only when what decode_document() will
  // decide from `kind` and `apiVersion` is known already (they come first in what the API
  // server and kubectl write), and the document is a list.
  bool streamable() {
    if (!kind_.seen) return false;
    std::string_view kind;
    if (kind_.is_string) {
      kind = kind_.text;
      if (!ends_with(kind, "List")) return false;
    } else if (!kind_.is_null) {
      return false;  // `kind: 3`: not a list, one (bad) object
    }
    // (A null `kind` counts as absent: a document with items is then a generic list.)
    default_kind_ = kind.substr(0, kind.empty() ? 0 : kind.size() - 4);
    if (!default_kind_.empty()) {
      if (!api_version_.seen) return false;
      if (api_version_.is_string) default_api_version_ = api_version_.text;
    }
    return true;
  }

  rapidjson::Document::AllocatorType& top_;
  std::vector<char> item_buffer_;  // the item pool's first block, kept across Clear()
  rapidjson::Document::AllocatorType item_;
  DecodedObjects& out_;
  const ItemSink* sink_;
  std::vector<Value> stack_;  // values being built: containers, then keys and values in order
  int depth_ = 0;             // open containers
  TopKey top_key_kind_ = TopKey::Other;
  FirstMember kind_;
  FirstMember api_version_;
  bool items_seen_ = false;
  bool streaming_ = false;
  std::size_t item_index_ = 0;
  std::string_view default_kind_;         // views into kind_ and api_version_
  std::string_view default_api_version_;
};

}  // namespace

std::string_view to_string(UpdateMode m) {
  switch (m) {
    case UpdateMode::Off: return "Off";
    case UpdateMode::Initial: return "Initial";
    case UpdateMode::Recreate: return "Recreate";
    case UpdateMode::Auto: return "Auto";
    case UpdateMode::InPlaceOrRecreate: return "InPlaceOrRecreate";
    case UpdateMode::InPlace: return "InPlace";
  }
  return "Unknown";
}

std::optional<UpdateMode> update_mode_from_string(std::string_view s) {
  for (UpdateMode m : {UpdateMode::Off, UpdateMode::Initial, UpdateMode::Recreate,
                       UpdateMode::Auto, UpdateMode::InPlaceOrRecreate, UpdateMode::InPlace}) {
    if (to_string(m) == s) return m;
  }
  return std::nullopt;
}

const ContainerPolicy* Vpa::policy_for(std::string_view container) const {
  const ContainerPolicy* wildcard = nullptr;
  for (const auto& policy : container_policies) {
    if (policy.container_name == container) return &policy;
    if (wildcard == nullptr && policy.container_name == "*") wildcard = &policy;
  }
  return wildcard;
}

const ContainerRecommendation* Vpa::recommendation_for(std::string_view container) const {
  for (const auto& rec : recommendations) {
    if (rec.container_name == container) return &rec;
  }
  return nullptr;
}

DecodedObjects decode_objects(const ChunkSource& next_chunk, const ItemSink& sink) {
  rapidjson::Document top;  // owns what the document holds besides a streamed list's items
  DecodedObjects out;
  ItemStreamer streamer(top.GetAllocator(), out, &sink);
  ChunkStream stream(next_chunk);
  rapidjson::Reader reader;
  // Iterative parsing: nesting depth cannot exhaust the stack, whatever the input.
  reader.Parse<rapidjson::kParseIterativeFlag>(stream, streamer);
  if (reader.HasParseError()) {
    throw DecodeError("objects: invalid JSON at offset " + std::to_string(reader.GetErrorOffset()) + ": " +
                      rapidjson::GetParseError_En(reader.GetParseErrorCode()));
  }
  const Value& doc = streamer.root();
  if (!doc.IsObject()) throw DecodeError(std::string("objects: expected a JSON object, got ") + type_name(doc));
  decode_document(doc, out);
  return out;
}

DecodedObjects decode_objects(const ChunkSource& next_chunk) { return decode_objects(next_chunk, ItemSink()); }

DecodedObjects decode_objects(std::string_view json) {
  bool given = false;
  return decode_objects(ChunkSource([&]() -> std::string_view {
    if (given) return {};
    given = true;
    return json;
  }));
}

WatchEvent decode_watch_event(std::string_view line) {
  rapidjson::Document doc = parse_document(line, "watch event");
  WatchEvent event;

  const Value* type = find(doc, "type");
  if (type == nullptr || !type->IsString()) throw DecodeError("watch event: type is missing");
  const std::string_view type_text = view_of(*type);
  if (type_text == "ADDED") {
    event.type = WatchEvent::Type::Added;
  } else if (type_text == "MODIFIED") {
    event.type = WatchEvent::Type::Modified;
  } else if (type_text == "DELETED") {
    event.type = WatchEvent::Type::Deleted;
  } else if (type_text == "BOOKMARK") {
    event.type = WatchEvent::Type::Bookmark;
  } else if (type_text == "ERROR") {
    event.type = WatchEvent::Type::Error;
  } else {
    throw DecodeError(one_line("watch event: unknown type " + quoted(type_text)));
  }

  const Value* object = find(doc, "object");
  if (object == nullptr || !object->IsObject()) {
    throw DecodeError("watch event: object is missing or not an object");
  }
  if (const Value* md = find(*object, "metadata"); md != nullptr) {
    if (const Value* rv = find(*md, "resourceVersion"); rv != nullptr && rv->IsString()) {
      event.resource_version = view_of(*rv);
    }
  }

  switch (event.type) {
    case WatchEvent::Type::Added:
    case WatchEvent::Type::Modified:
    case WatchEvent::Type::Deleted:
      decode_one(*object, {}, {}, "object", event.objects);
      break;
    case WatchEvent::Type::Bookmark:
      // A bookmark carries nothing but metadata.resourceVersion, by design.
      if (event.resource_version.empty()) {
        throw DecodeError("watch event: BOOKMARK without metadata.resourceVersion");
      }
      break;
    case WatchEvent::Type::Error:
      // A metav1.Status: 410 Expired means the resourceVersion is too old and the client must
      // list again. The API server sends it inside a 200 stream.
      if (const Value* code = find(*object, "code"); code != nullptr && code->IsInt()) {
        event.error_code = code->GetInt();
      }
      if (const Value* message = find(*object, "message");
          message != nullptr && message->IsString()) {
        event.error_message = one_line(std::string(view_of(*message)));
      }
      break;
  }
  return event;
}

namespace {

// Reads exactly `n` ASCII digits at `pos`, advancing it.
std::optional<int> read_digits(std::string_view text, std::size_t& pos, std::size_t n) {
  if (text.size() - pos < n) return std::nullopt;
  int value = 0;
  for (std::size_t i = 0; i < n; ++i) {
    char c = text[pos + i];
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  pos += n;
  return value;
}

bool is_leap(std::int64_t year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int days_in_month(std::int64_t year, int month) {
  static constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap(year) ? 29 : kDays[static_cast<std::size_t>(month - 1)];
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

// Days since 1970-01-01 of a proleptic Gregorian date. Counting years from March puts the
// leap day at the end of the year, so the day of the year is a linear function of the month.
std::int64_t days_since_epoch(std::int64_t year, int month, int day) {
  const std::int64_t y = month <= 2 ? year - 1 : year;
  const std::int64_t month_from_march = (month + 9) % 12;  // March = 0, ..., February = 11
  const std::int64_t day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
  const std::int64_t days_from_year_0 =
      365 * y + floor_div(y, 4) - floor_div(y, 100) + floor_div(y, 400) + day_of_year;
  constexpr std::int64_t kDaysFromYear0ToEpoch = 719468;  // 0000-03-01 .. 1970-01-01
  return days_from_year_0 - kDaysFromYear0ToEpoch;
}

}  // namespace

std::optional<std::int64_t> parse_rfc3339(std::string_view text) {
  std::size_t pos = 0;
  auto expect = [&](char c) {
    if (pos < text.size() && text[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  };
  auto year = read_digits(text, pos, 4);
  if (!year || !expect('-')) return std::nullopt;
  auto month = read_digits(text, pos, 2);
  if (!month || !expect('-')) return std::nullopt;
  auto day = read_digits(text, pos, 2);
  if (!day || !(expect('T') || expect('t'))) return std::nullopt;
  auto hour = read_digits(text, pos, 2);
  if (!hour || !expect(':')) return std::nullopt;
  auto minute = read_digits(text, pos, 2);
  if (!minute || !expect(':')) return std::nullopt;
  auto second = read_digits(text, pos, 2);
  if (!second) return std::nullopt;
  if (*month < 1 || *month > 12 || *day < 1 || *day > days_in_month(*year, *month) ||
      *hour > 23 || *minute > 59 || *second > 59) {
    return std::nullopt;
  }
  if (expect('.')) {
    // Sub-second precision does not matter for ordering VPAs or gating on history.
    const std::size_t start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
    if (pos == start) return std::nullopt;
  }
  std::int64_t offset_seconds = 0;
  if (expect('Z') || expect('z')) {
    // UTC
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    const bool negative = text[pos] == '-';
    ++pos;
    auto offset_hour = read_digits(text, pos, 2);
    if (!offset_hour || !expect(':')) return std::nullopt;
    auto offset_minute = read_digits(text, pos, 2);
    if (!offset_minute || *offset_hour > 23 || *offset_minute > 59) return std::nullopt;
    offset_seconds = (std::int64_t{*offset_hour} * 60 + *offset_minute) * 60;
    if (negative) offset_seconds = -offset_seconds;
  } else {
    return std::nullopt;
  }
  if (pos != text.size()) return std::nullopt;
  const std::int64_t local = days_since_epoch(*year, *month, *day) * 86400 +
                             std::int64_t{*hour} * 3600 + std::int64_t{*minute} * 60 + *second;
  return local - offset_seconds;
}

std::string format_rfc3339(std::int64_t seconds_since_epoch) {
  using namespace std::chrono;
  const sys_seconds t{seconds(seconds_since_epoch)};
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss<seconds> hms{t - day};
  char buf[40];
  const int n = std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                              static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                              static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                              static_cast<int>(hms.seconds().count()));
  return std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
}

}  // namespace avw::core
