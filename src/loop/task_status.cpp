// The AirflowTask's status.runs and status.oomKills, read and written (see task_status.hpp).
#include "task_status.hpp"

#include "avw/core/json_writer.hpp"
#include "avw/core/object_list.hpp"
#include "avw/core/objects.hpp"
#include "avw/provision/objects.hpp"

namespace avw::loop {

std::string status_patch(std::string_view resource_version, const std::vector<core::OomKill>* kills,
                         const core::RunStats* runs) {
  std::string out = R"({"metadata":{"resourceVersion":)";
  core::append_json_string(out, resource_version);
  out += R"(},"status":{)";
  if (kills != nullptr) {
    out += R"("oomKills":)";
    out += core::oom_kills_to_json(*kills);
  }
  if (runs != nullptr) {
    if (kills != nullptr) out += ',';
    out += R"("runs":)";
    out += core::run_stats_to_json(*runs);
  }
  out += "}}";
  return out;
}

boost::asio::awaitable<StatusWrite> learn_into_status(kube::Client& client, const LearnInput& input) {
  StatusWrite out;
  const std::string path = provision::airflow_task_path(input.namespace_, input.task_name);
  for (;;) {
    const kube::Response got = co_await client.request(kube::Request("GET", path));
    if (got.status == 404) {
      out.result = StatusWrite::Result::Missing;
      co_return out;
    }
    if (!got.ok()) {
      out.error = "reading AirflowTask " + input.namespace_ + "/" + input.task_name + ": " + kube::describe(got);
      co_return out;
    }
    core::DecodedObjects decoded;
    std::optional<core::RunStats> runs;
    try {
      decoded = core::decode_objects(got.body);
      runs = core::run_stats_of(got.body);
    } catch (const core::DecodeError& e) {
      decoded.errors.emplace_back(e.what());
    }
    const auto version = provision::object_version(got.body);
    if (decoded.targets.size() != 1 || !version || !decoded.errors.empty()) {
      // A status edited by hand into something unreadable is not overwritten blindly.
      out.result = StatusWrite::Result::Undecodable;
      out.error = "AirflowTask " + input.namespace_ + "/" + input.task_name + " cannot be read: " +
                  (decoded.errors.empty() ? std::string("no uid") : decoded.errors.front());
      co_return out;
    }
    out.uid = version->uid;
    out.resource_version = version->resource_version;
    core::OomUpdate update =
        core::learn_from_pod_end(std::move(decoded.targets.front().oom_kills), input.pod, input.run_id,
                                 input.try_number, input.policy, input.recommended_memory, input.now);
    if (!runs) runs.emplace();
    const bool counted = input.run && core::count_run(*runs, *input.run);
    if (!update.changed() && !counted) {
      out.result = StatusWrite::Result::Unchanged;
      out.update = std::move(update);
      co_return out;
    }
    const kube::Response patched = co_await client.request(
        kube::Request("PATCH", path + "/status",
                      status_patch(version->resource_version, update.changed() ? &update.kills : nullptr,
                                   counted ? &*runs : nullptr),
                      "application/merge-patch+json"));
    if (patched.status == 409 && out.conflicts < input.max_conflicts) {
      ++out.conflicts;
      continue;
    }
    if (patched.status == 404) {
      out.result = StatusWrite::Result::Missing;
      co_return out;
    }
    if (!patched.ok()) {
      out.error = "updating the status of AirflowTask " + input.namespace_ + "/" + input.task_name + ": " +
                  kube::describe(patched);
      co_return out;
    }
    if (auto after = provision::object_version(patched.body)) out.resource_version = after->resource_version;
    out.result = StatusWrite::Result::Written;
    out.update = std::move(update);
    out.run_counted = counted;
    co_return out;
  }
}

}  // namespace avw::loop
