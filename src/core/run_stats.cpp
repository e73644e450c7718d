// The status.runs record (see run_stats.hpp): its JSON both ways, tolerant on the way in.
#include "avw/core/run_stats.hpp"

#include <algorithm>

#include "avw/core/admission.hpp"
#include "avw/core/objects.hpp"
#include "kind_decoders.hpp"

namespace avw::core {
namespace {

using namespace json_fields;
using rapidjson::SizeType;

constexpr double kSecondsPerDay = 24 * 3600;

std::int64_t decode_count(const Value& object, const char* name) {
  const Value* v = find(object, name);
  if (v == nullptr) return 0;
  if (!v->IsInt64() || v->GetInt64() < 0) fail(join_path("runs", name), "expected a non-negative integer");
  return v->GetInt64();
}

std::optional<std::int64_t> decode_time(const Value& object, const char* name) {
  const std::string text = decode_timestamp(object, name, "runs");
  if (text.empty()) return std::nullopt;
  return parse_rfc3339(text);
}

}  // namespace

double RunStats::window_days() const {
  double seconds_between = 0;
  if (since && last_finished_at) seconds_between = static_cast<double>(*last_finished_at - *since);
  return std::max(seconds_between, kSecondsPerDay) / kSecondsPerDay;
}

double RunStats::runs_per_day() const { return any() ? static_cast<double>(observed) / window_days() : 0; }

double RunStats::mean_run_seconds() const {
  return any() ? static_cast<double>(seconds) / static_cast<double>(observed) : 0;
}

double RunStats::run_seconds_per_day() const { return mean_run_seconds() * runs_per_day(); }

RunStats decode_run_stats(const Value* runs) {
  if (runs == nullptr || !runs->IsObject()) return {};
  try {
    RunStats out;
    out.observed = decode_count(*runs, "observed");
    out.seconds = decode_count(*runs, "seconds");
    out.since = decode_time(*runs, "since");
    out.last_finished_at = decode_time(*runs, "lastFinishedAt");
    if (const Value* list = opt_array(*runs, "containers", "runs")) {
      for (SizeType i = 0; i < list->Size(); ++i) {
        const std::string where = indexed_path("runs.containers", i);
        const Value& item = (*list)[i];
        if (!item.IsObject()) fail(where, "expected an object");
        RunContainer c;
        c.name = req_string(item, "name", where);
        c.requests = decode_resources(&item, where);
        out.containers.push_back(std::move(c));
      }
    }
    if (!out.any()) return {};
    return out;
  } catch (const ObjectError&) {
    return {};
  }
}

RunStats decode_run_stats(std::string_view json) {
  rapidjson::Document document;
  document.Parse<rapidjson::kParseIterativeFlag>(json.data(), json.size());
  if (document.HasParseError()) return {};
  return decode_run_stats(&document);
}

std::string run_stats_to_json(const RunStats& runs) {
  // Members in a fixed order, the optional ones after the first: no separator to track.
  std::string out = "{\"observed\":" + std::to_string(runs.observed) + ",\"seconds\":" + std::to_string(runs.seconds);
  if (runs.since) {
    out += ",\"since\":";
    append_json_string(out, format_rfc3339(*runs.since));
  }
  if (runs.last_finished_at) {
    out += ",\"lastFinishedAt\":";
    append_json_string(out, format_rfc3339(*runs.last_finished_at));
  }
  out += ",\"containers\":[";
  for (std::size_t i = 0; i < runs.containers.size(); ++i) {
    const RunContainer& c = runs.containers[i];
    out += i == 0 ? "{\"name\":" : ",{\"name\":";
    append_json_string(out, c.name);
    for (const Resource r : kResources) {
      if (!c.requests[r]) continue;
      out += ',';
      append_json_string(out, to_string(r));
      out += ':';
      append_json_string(out, c.requests[r]->to_string());
    }
    out += '}';
  }
  out += "]}";
  return out;
}

}  // namespace avw::core
