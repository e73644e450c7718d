// The status.runs record (see run_stats.hpp): counting a run, and its JSON both ways.
#include "avw/core/run_stats.hpp"

#include <algorithm>

#include "avw/core/decode_error.hpp"
#include "avw/core/json_writer.hpp"
#include "avw/core/rfc3339.hpp"
#include "kind_decoders.hpp"

namespace avw::core {
namespace {

using namespace json_fields;
using rapidjson::SizeType;

constexpr double kSecondsPerDay = 86'400;

std::int64_t decode_count(const Value& object, const char* name, std::string_view path) {
  const Value* v = find(object, name);
  if (v == nullptr) return 0;
  if (!v->IsInt64() || v->GetInt64() < 0) fail(join_path(path, name), "expected a non-negative integer");
  return v->GetInt64();
}

std::int64_t decode_time(const Value& object, const char* name, std::string_view path) {
  const std::string text = decode_timestamp(object, name, path);
  return text.empty() ? 0 : *parse_rfc3339(text);
}

RunStats decode_runs(const Value& runs) {
  const std::string_view path = "status.runs";
  if (!runs.IsObject()) fail(path, std::string("expected an object, got ") + type_name(runs));
  RunStats stats;
  stats.observed = decode_count(runs, "observed", path);
  stats.seconds = decode_count(runs, "seconds", path);
  stats.since = decode_time(runs, "since", path);
  stats.last_finished_at = decode_time(runs, "lastFinishedAt", path);
  if (const Value* containers = opt_array(runs, "containers", path)) {
    for (SizeType i = 0; i < containers->Size(); ++i) {
      const std::string where = indexed_path(join_path(path, "containers"), i);
      const Value& c = (*containers)[i];
      if (!c.IsObject()) fail(where, std::string("expected an object, got ") + type_name(c));
      // The record's own shape: {name, cpu, memory}, which decode_resources reads as a list.
      stats.containers.emplace_back(std::string(req_string(c, "name", where)), decode_resources(&c, where));
    }
  }
  if (const Value* recent = opt_array(runs, "recentPods", path)) {
    for (SizeType i = 0; i < recent->Size(); ++i) {
      if (!(*recent)[i].IsString()) fail(indexed_path(join_path(path, "recentPods"), i), "expected a string");
      stats.recent_pods.emplace_back(view_of((*recent)[i]));
    }
  }
  return stats;
}

void member(std::string& out, std::string_view name) {
  if (out.back() != '{') out += ',';
  append_json_string(out, name);
  out += ':';
}

}  // namespace

double RunStats::window_days() const {
  const double span = static_cast<double>(std::max<std::int64_t>(last_finished_at - since, 0));
  return std::max(span, kSecondsPerDay) / kSecondsPerDay;
}

double RunStats::runs_per_day() const { return any() ? static_cast<double>(observed) / window_days() : 0; }

double RunStats::mean_run_seconds() const {
  return any() ? static_cast<double>(seconds) / static_cast<double>(observed) : 0;
}

double RunStats::run_seconds_per_day() const { return mean_run_seconds() * runs_per_day(); }

RunStats decode_run_stats(const Value* runs) {
  if (runs == nullptr) return {};
  try {
    return decode_runs(*runs);
  } catch (const ObjectError&) {
    return {};  // shown, not written: a record edited by hand into nonsense is no runs observed
  }
}

bool count_run(RunStats& stats, const FinishedRun& run) {
  if (std::find(stats.recent_pods.begin(), stats.recent_pods.end(), run.pod_uid) != stats.recent_pods.end()) {
    return false;
  }
  if (run.before_start && stats.observed > 0 && run.finished_at <= stats.last_finished_at) return false;
  if (stats.observed == 0 || run.finished_at < stats.since) stats.since = run.finished_at;
  ++stats.observed;
  stats.seconds += std::max<std::int64_t>(run.run_seconds, 0);
  if (run.finished_at >= stats.last_finished_at) {
    stats.last_finished_at = run.finished_at;
    stats.containers = run.asked;
  }
  stats.recent_pods.emplace_back(run.pod_uid);
  if (stats.recent_pods.size() > RunStats::kRecentPods) {
    stats.recent_pods.erase(stats.recent_pods.begin(),
                            stats.recent_pods.end() - static_cast<std::ptrdiff_t>(RunStats::kRecentPods));
  }
  return true;
}

std::optional<RunStats> run_stats_of(std::string_view airflow_task_json) {
  rapidjson::Document doc;
  doc.Parse(airflow_task_json.data(), airflow_task_json.size());
  if (doc.HasParseError() || !doc.IsObject()) throw DecodeError("the AirflowTask is not a JSON object");
  const Value* status = find(doc, "status");
  const Value* runs = status != nullptr && status->IsObject() ? find(*status, "runs") : nullptr;
  if (runs == nullptr) return std::nullopt;
  try {
    return decode_runs(*runs);
  } catch (const ObjectError& e) {
    throw DecodeError(e.what());
  }
}

std::string run_stats_to_json(const RunStats& stats) {
  std::string out = "{";
  member(out, "observed");
  out += std::to_string(stats.observed);
  member(out, "seconds");
  out += std::to_string(stats.seconds);
  if (stats.observed > 0) {
    member(out, "since");
    append_json_string(out, format_rfc3339(stats.since));
    member(out, "lastFinishedAt");
    append_json_string(out, format_rfc3339(stats.last_finished_at));
  }
  member(out, "containers");
  out += '[';
  for (const auto& [name, requests] : stats.containers) {
    if (out.back() != '[') out += ',';
    out += '{';
    member(out, "name");
    append_json_string(out, name);
    for (const Resource r : {Resource::Cpu, Resource::Memory}) {
      if (const auto& q = requests[r]) {
        member(out, to_string(r));
        append_json_string(out, q->to_string());
      }
    }
    out += '}';
  }
  out += ']';
  member(out, "recentPods");
  out += '[';
  for (const auto& uid : stats.recent_pods) {
    if (out.back() != '[') out += ',';
    append_json_string(out, uid);
  }
  out += "]}";
  return out;
}

}  // namespace avw::core
