#include "handler.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <limits>

#include "avw/core/admission.hpp"
#include "avw/core/task.hpp"
#include "avw/server/admission.hpp"
#include "logfmt.hpp"

namespace avw::server {
namespace {

constexpr std::string_view kTextPlain = "text/plain; charset=utf-8";

std::string json_error(std::string_view message) {
  std::string out = "{\"error\":\"";
  for (const char ch : message) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      out += ' ';
    } else {
      out += ch;
    }
  }
  out += "\"}";
  return out;
}

std::uint64_t clamp_u64(core::Int128 v) {
  if (v <= 0) return 0;
  constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
  return v > static_cast<core::Int128>(kMax) ? kMax : static_cast<std::uint64_t>(v);
}

// Quantities in the resource-sum counters: cpu in whole millicores, memory in whole bytes,
// both rounded up as the planner rounds them.
std::uint64_t whole_units(const core::Quantity& q, core::Resource r) {
  const core::Int128 step = core::rounding_step(r);
  const core::Int128 n = q.nanos();
  return clamp_u64(n / step + (n % step > 0 ? 1 : 0));
}

void count_resources(ServerMetrics& m, core::Mode mode, const core::Decision& d) {
  const auto mi = static_cast<std::size_t>(mode == core::Mode::Enforce ? 0 : 1);
  for (const core::ContainerPlan& plan : d.containers) {
    for (const core::ResourceChange& ch : plan.changes) {
      auto& counters = ch.resource == core::Resource::Cpu ? m.cpu_millicores[mi] : m.memory_bytes[mi];
      if (ch.old_request) counters[0]->inc(whole_units(*ch.old_request, ch.resource));
      if (ch.new_request) counters[1]->inc(whole_units(*ch.new_request, ch.resource));
    }
  }
}

std::size_t outcome_index(core::Outcome o) {
  switch (o) {
    case core::Outcome::Patched: return 0;
    case core::Outcome::Audited: return 1;
    case core::Outcome::Unchanged: return 2;
    case core::Outcome::Skipped: break;
  }
  return 3;
}

// One line per decision, at info whatever the outcome (a pod left alone needs its reason as
// much as a patched one): who, which task and VPA, what happened and why. Never the pod.
void log_decision(AdmissionPath path, core::Mode mode, const Admission& a) {
  const auto& d = a.decision;
  const auto level = spdlog::level::info;
  if (!spdlog::should_log(level) && a.internal_error.empty()) return;
  const core::AdmissionRequest& r = a.review.request();
  std::string line = "admission";
  append_field(line, "uid", r.uid);
  append_field(line, "path", path == AdmissionPath::Mutate ? "/mutate" : "/audit");
  append_field(line, "namespace", r.namespace_);
  std::string_view pod = !r.name.empty() ? r.name : (!r.pod.name.empty() ? r.pod.name : r.pod.generate_name);
  append_field(line, "pod", pod);
  if (d.task) {
    std::string task(d.task->dag_id);
    task += '/';
    task += d.task->task_id;
    task += '/';
    task += core::to_string(d.task->launcher);
    append_field(line, "task", task);
  }
  if (!d.vpa_name.empty()) append_field(line, "vpa", d.vpa_name);
  append_field(line, "mode", core::to_string(mode));
  if (r.dry_run) append_field(line, "dry_run", "true");
  append_field(line, "outcome", core::to_string(d.outcome));
  append_field(line, "code", core::to_string(d.code));
  append_field(line, "reason", d.reason);  // a change's reason holds its summary
  if (!a.internal_error.empty()) {
    append_field(line, "error", a.internal_error);
    spdlog::error(line);
    return;
  }
  // The string overload takes the line as it is: no format pass, no copy.
  spdlog::log(level, line);
}

std::string_view path_of(std::string_view target) {
  const auto q = target.find('?');
  return q == std::string_view::npos ? target : target.substr(0, q);
}

}  // namespace

bool is_json_content_type(std::string_view content_type) {
  std::string_view media = content_type.substr(0, content_type.find(';'));
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.remove_suffix(1);
  while (!media.empty() && (media.front() == ' ' || media.front() == '\t')) media.remove_prefix(1);
  constexpr std::string_view kJson = "application/json";
  return media.size() == kJson.size() && std::equal(media.begin(), media.end(), kJson.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == b;
         });
}

Handler::Handler(const ServerOptions& options, ServerMetrics& metrics, const std::atomic<bool>& ready,
                 const TaskPodObserver& task_pods)
    : options_(options), metrics_(metrics), ready_(ready), task_pods_(task_pods) {}

void Handler::error(unsigned status, std::string_view message, HttpReply& reply) const {
  reply.status = status;
  reply.content_type = "application/json";
  reply.body = json_error(message);
  metrics_.http_error(status).inc();
}

void Handler::handle(const HttpRequest& request, const core::Snapshot& snapshot, core::ReviewParser& parser,
                     HttpReply& reply) const {
  const std::string_view path = path_of(request.target);
  if (path == "/mutate" || path == "/audit") {
    admission(path == "/mutate" ? AdmissionPath::Mutate : AdmissionPath::Audit, request, snapshot, parser, reply);
    return;
  }
  if (path == "/healthz" || path == "/readyz" || path == "/metrics") {
    // HEAD answers as GET does; the session leaves the body out.
    if (request.method != Method::Get && request.method != Method::Head) {
      reply.allow = "GET, HEAD";
      error(405, "method not allowed: use GET or HEAD", reply);
      return;
    }
    reply.content_type = kTextPlain;
    if (path == "/healthz") {
      reply.body = "ok\n";
    } else if (path == "/readyz") {
      if (ready_.load(std::memory_order_relaxed)) {
        reply.body = "ok\n";
      } else {
        reply.status = 503;
        reply.body = "not ready\n";
        metrics_.http_error(503).inc();
      }
    } else {
      reply.content_type = "text/plain; version=0.0.4; charset=utf-8";
      reply.body = metrics_.registry.render();
    }
    return;
  }
  error(404, "not found: " + std::string(path.substr(0, 200)), reply);
}

void Handler::admission(AdmissionPath path, const HttpRequest& request, const core::Snapshot& snapshot,
                        core::ReviewParser& parser, HttpReply& reply) const {
  if (request.method != Method::Post) {
    reply.allow = "POST";
    error(405, "method not allowed: use POST", reply);
    return;
  }
  if (!is_json_content_type(request.content_type)) {
    error(415, "unsupported content type \"" + std::string(request.content_type.substr(0, 100)) +
                   "\": use application/json",
          reply);
    return;
  }
  const auto p = static_cast<std::size_t>(path);
  reply.latency = metrics_.admission_duration[p];
  const core::Mode mode =
      (path == AdmissionPath::Audit || options_.dry_run) ? core::Mode::DryRun : core::Mode::Enforce;
  try {
    Admission a = admit(parser, request.body, snapshot, options_.decision, mode);
    metrics_.admission_requests[p][outcome_index(a.decision.outcome)]->inc();
    for (core::Gate g : a.decision.gates) metrics_.gate_held[static_cast<std::size_t>(g)]->inc();
    if (!a.review.request().dry_run) {
      count_resources(metrics_, mode, a.decision);
      if (a.decision.task && task_pods_) task_pods_(*a.decision.task);
    }
    log_decision(path, mode, a);
    reply.status = 200;
    reply.content_type = "application/json";
    reply.body = std::move(a.response);
  } catch (const core::DecodeError& e) {
    metrics_.admission_requests[p][kOutcomeInvalid]->inc();
    std::string line = "admission request rejected status=400";
    append_field(line, "error", e.what());
    spdlog::warn("{}", line);
    error(400, e.what(), reply);
  } catch (const std::exception& e) {
    std::string line = "admission request failed status=500";
    append_field(line, "error", e.what());
    spdlog::error("{}", line);
    error(500, "internal error", reply);
  }
}

}  // namespace avw::server
