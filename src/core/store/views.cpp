// File: views.cpp
//
// Reading a VPA's and a scale target's packed records (see avw/core/store/views.hpp and the
// layouts in records.hpp). Each accessor walks the record from its start and decodes only
// what it is asked for, so the admission path pays for the one container it looks up.
#include "avw/core/store/views.hpp"

#include <utility>
#include <vector>

#include "byte_format.hpp"
#include "records.hpp"
#include "snapshot_data.hpp"

namespace avw::core {

using packed::parse_target_key;
using packed::parse_vpa;

// ---- VpaView -------------------------------------------------------------------------------

std::string_view VpaView::namespace_() const { return data_->namespace_names[parse_vpa(record_).namespace_id]; }
std::string_view VpaView::name() const { return parse_vpa(record_).name; }
std::int64_t VpaView::created() const { return parse_vpa(record_).created; }
UpdateMode VpaView::update_mode() const { return parse_vpa(record_).update_mode; }

bool VpaView::has_recommendations() const {
  return packed::Reader(parse_vpa(record_).recommendations).size() != 0;
}

std::optional<RecommendedResources> VpaView::recommendation_for(std::string_view container) const {
  packed::Reader in(parse_vpa(record_).recommendations);
  for (std::size_t n = in.size(); n > 0; --n) {
    const std::size_t size = in.size();
    packed::Reader entry(in.position());
    in.skip(size);
    if (entry.string() != container) continue;
    RecommendedResources out;
    entry.values<4>({&out.target, &out.lower_bound, &out.upper_bound, &out.uncapped_target});
    return out;
  }
  return std::nullopt;
}

std::optional<ResourcePolicy> VpaView::policy_for(std::string_view container) const {
  packed::Reader in(parse_vpa(record_).recommendations);
  for (std::size_t n = in.size(); n > 0; --n) in.skip(in.size());
  const char* wildcard = nullptr;
  const char* exact = nullptr;
  for (std::size_t n = in.size(); n > 0 && exact == nullptr; --n) {
    const std::size_t size = in.size();
    const char* entry = in.position();
    in.skip(size);
    const std::string_view name = packed::Reader(entry).string();
    if (name == container) exact = entry;
    if (wildcard == nullptr && name == "*") wildcard = entry;
  }
  const char* chosen = exact != nullptr ? exact : wildcard;
  if (chosen == nullptr) return std::nullopt;
  packed::Reader entry(chosen);
  entry.string();
  ResourcePolicy out;
  out.mode = static_cast<ContainerScalingMode>(entry.u8());
  const std::uint8_t controlled = entry.u8();
  out.controlled = {(controlled & 1U) != 0, (controlled & 2U) != 0};
  out.controlled_values = static_cast<ControlledValues>(entry.u8());
  entry.values<2>({&out.min_allowed, &out.max_allowed});
  return out;
}

TargetView VpaView::target() const { return target_ == nullptr ? TargetView() : TargetView(data_, target_); }

// ---- TargetView ----------------------------------------------------------------------------

std::string_view TargetView::namespace_() const {
  return data_->namespace_names[parse_target_key(record_).namespace_id];
}
std::string_view TargetView::name() const { return parse_target_key(record_).name; }
std::string_view TargetView::kind() const { return data_->kinds[parse_target_key(record_).kind_id].second; }
std::string_view TargetView::group() const { return data_->kinds[parse_target_key(record_).kind_id].first; }

Selector TargetView::selector() const {
  std::uint8_t flags = 0;
  packed::Reader in(packed::selector_of_target(record_, nullptr, nullptr, &flags));
  if ((flags & packed::kNothing) != 0) return Selector::nothing();
  std::vector<Requirement> requirements;
  for (std::size_t n = in.size(); n > 0; --n) {
    Requirement r;
    r.op = static_cast<Requirement::Operator>(in.u8());
    r.key = in.string();
    for (std::size_t m = in.size(); m > 0; --m) r.values.emplace_back(in.string());
    requirements.push_back(std::move(r));
  }
  return Selector(std::move(requirements));
}

namespace {

// The OOM kills that follow a target's selector in its record.
packed::Reader oom_kills_of(const char* record) {
  packed::Reader in(packed::selector_of_target(record));
  for (std::size_t n = in.size(); n > 0; --n) {
    in.u8();
    in.string();
    for (std::size_t m = in.size(); m > 0; --m) in.string();
  }
  return in;
}

}  // namespace

std::optional<OomKillSummary> TargetView::oom_kill(std::string_view container) const {
  packed::Reader in = oom_kills_of(record_);
  for (std::size_t n = in.size(); n > 0; --n) {
    const std::string_view name = in.string();
    ResourceValues request;
    ResourceValues limit;
    in.values<2>({&request, &limit});
    OomKillSummary out;
    out.killed_at = in.i64();
    out.try_number = static_cast<std::int64_t>(static_cast<std::uint64_t>(in.varint()));
    if (name != container) continue;
    out.memory_request = request[Resource::Memory];
    out.memory_limit = limit[Resource::Memory];
    return out;
  }
  return std::nullopt;
}

bool TargetView::has_oom_kills() const { return oom_kills_of(record_).size() != 0; }

}  // namespace avw::core
