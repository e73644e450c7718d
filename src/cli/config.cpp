#include "avw/cli/config.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include "avw/core/gates.hpp"
#include "avw/core/objects.hpp"
#include "avw/core/quantity.hpp"
#include "avw/core/resources.hpp"
#include "avw/core/selector.hpp"

namespace avw::cli {
namespace {

// The commands a flag belongs to. The decision's flags go to every command that decides.
enum Scope : unsigned { kServe = 1, kReview = 2, kReport = 4, kDecide = kServe | kReview | kReport };

struct Flag {
  std::string_view name;  // without the leading dashes
  unsigned scope;
  bool takes_value;
  std::function<void(Config&, std::string_view)> apply;
};

[[noreturn]] void fail(std::string_view flag, std::string_view what) {
  throw UsageError("--" + std::string(flag) + ": " + std::string(what));
}

std::string quoted(std::string_view v) { return "\"" + std::string(v) + "\""; }

template <class Int>
Int parse_int(std::string_view flag, std::string_view value, Int min, Int max) {
  Int out{};
  const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
  if (ec == std::errc::result_out_of_range || (ec == std::errc{} && ptr == value.data() + value.size() &&
                                               (out < min || out > max))) {
    fail(flag, quoted(value) + " is out of range (" + std::to_string(min) + ".." + std::to_string(max) + ")");
  }
  if (ec != std::errc{} || ptr != value.data() + value.size() || value.empty()) {
    fail(flag, quoted(value) + " is not a whole number");
  }
  return out;
}

std::chrono::milliseconds duration_flag(std::string_view flag, std::string_view value, bool allow_zero) {
  const auto d = parse_duration(value);
  if (!d) fail(flag, quoted(value) + " is not a duration (e.g. 10s, 500ms, 1m30s)");
  if (!allow_zero && d->count() == 0) fail(flag, "must be more than 0");
  return *d;
}

core::Quantity quantity_flag(std::string_view flag, std::string_view value) {
  std::string error;
  const auto q = core::Quantity::parse(value, &error);
  if (!q) fail(flag, error);
  if (q->is_negative()) fail(flag, quoted(value) + " is negative");
  return *q;
}

std::size_t bytes_flag(std::string_view flag, std::string_view value) {
  const core::Quantity q = quantity_flag(flag, value);
  if (q.nanos() % core::kNanosPerUnit != 0) fail(flag, quoted(value) + " is not a whole number of bytes");
  const core::Int128 bytes = q.nanos() / core::kNanosPerUnit;
  if (bytes <= 0) fail(flag, "must be more than 0");
  if (bytes > static_cast<core::Int128>(std::numeric_limits<std::uint32_t>::max())) {
    fail(flag, quoted(value) + " is too large");
  }
  return static_cast<std::size_t>(bytes);
}

std::string label_key_flag(std::string_view flag, std::string_view value) {
  if (!core::is_valid_label_key(value)) fail(flag, quoted(value) + " is not a valid label key");
  return std::string(value);
}

// A recommender's name as `--recommender-name` spells it and spec.recommenders[].name carries
// it. The VPA API takes any string, but a name with spaces or symbols is a typo here, and a
// typo makes every provisioned VPA wait for a recommender that never answers.
std::string recommender_flag(std::string_view value) {
  const auto word = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  bool ok = value.size() <= 253;
  for (std::size_t i = 0; ok && i < value.size(); ++i) {
    const char c = value[i];
    const bool edge = i == 0 || i + 1 == value.size();
    ok = word(c) || (!edge && (c == '-' || c == '_' || c == '.'));
  }
  if (!ok) {
    fail("vpa-recommender", quoted(value) + " is not a recommender name (letters, digits and inner '-', '_', '.'; "
                                            "e.g. airflow-vpa-webhook; empty for the default recommender)");
  }
  return std::string(value);
}

// HOST:PORT, with IPv6 hosts in brackets ([::1]:8443). The host must be an IP address:
// binding to a name would depend on resolver order and is never what a webhook wants.
void parse_listen(Config& c, std::string_view value) {
  std::string_view host;
  std::string_view port;
  if (value.starts_with('[')) {
    const auto close = value.find(']');
    if (close == std::string_view::npos || close + 1 >= value.size() || value[close + 1] != ':') {
      fail("listen", quoted(value) + " is not HOST:PORT ([::1]:8443 for IPv6)");
    }
    host = value.substr(1, close - 1);
    port = value.substr(close + 2);
  } else {
    const auto colon = value.rfind(':');
    if (colon == std::string_view::npos) fail("listen", quoted(value) + " is not HOST:PORT");
    host = value.substr(0, colon);
    port = value.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      fail("listen", quoted(value) + ": write IPv6 addresses in brackets ([::]:8443)");
    }
  }
  const std::string h(host);
  std::array<unsigned char, 16> addr{};
  if (inet_pton(AF_INET, h.c_str(), addr.data()) != 1 && inet_pton(AF_INET6, h.c_str(), addr.data()) != 1) {
    fail("listen", quoted(host) + " is not an IP address");
  }
  c.server.listen_host = h;
  c.server.listen_port = parse_int<std::uint16_t>("listen", port, 0, 65535);
}

void set_resource_bound(Config& c, std::string_view flag, std::string_view value, core::Resource r, bool min) {
  const core::Quantity q = quantity_flag(flag, value);
  (min ? c.server.decision.min_request : c.server.decision.max_request)[r] = q;
}

void set_step(Config& c, std::string_view flag, std::string_view value, core::Resource r, bool decrease) {
  const auto f = core::parse_fraction(value);
  if (!f || (decrease && *f > core::Quantity::from_units(1))) {
    fail(flag, quoted(value) + (decrease ? " is not a fraction from 0% to 100%" : " is not a fraction such as 50%"));
  }
  (decrease ? c.server.decision.gates.max_decrease : c.server.decision.gates.max_increase)[r] = *f;
}

const std::vector<Flag>& flags() {
  static const std::vector<Flag> table = {
      // Shared by the commands that decide.
      {"recommendations", kDecide, true, [](Config& c, std::string_view v) { c.recommendations = v; }},
      {"dry-run", kServe | kReview, false, [](Config& c, std::string_view) { c.dry_run = true; }},
      {"recommendation-field", kDecide, true,
       [](Config& c, std::string_view v) {
         const auto f = core::recommendation_field_from_string(v);
         if (!f) fail("recommendation-field", quoted(v) + " is not target, lowerBound, upperBound or uncappedTarget");
         c.server.decision.field = *f;
       }},
      {"min-cpu", kDecide, true, [](Config& c, std::string_view v) { set_resource_bound(c, "min-cpu", v, core::Resource::Cpu, true); }},
      {"max-cpu", kDecide, true, [](Config& c, std::string_view v) { set_resource_bound(c, "max-cpu", v, core::Resource::Cpu, false); }},
      {"min-memory", kDecide, true, [](Config& c, std::string_view v) { set_resource_bound(c, "min-memory", v, core::Resource::Memory, true); }},
      {"max-memory", kDecide, true, [](Config& c, std::string_view v) { set_resource_bound(c, "max-memory", v, core::Resource::Memory, false); }},
      {"allowed-update-modes", kDecide, true,
       [](Config& c, std::string_view v) {
         std::vector<core::UpdateMode> modes;
         std::size_t start = 0;
         while (start <= v.size()) {
           const auto comma = std::min(v.find(',', start), v.size());
           const std::string_view item = v.substr(start, comma - start);
           const auto m = core::update_mode_from_string(item);
           if (!m) fail("allowed-update-modes", quoted(item) + " is not an update mode (Off, Initial, Recreate, Auto, InPlaceOrRecreate)");
           if (std::find(modes.begin(), modes.end(), *m) == modes.end()) modes.push_back(*m);
           start = comma + 1;
         }
         c.store.allowed_update_modes = std::move(modes);
       }},
      {"dag-id-label", kDecide, true, [](Config& c, std::string_view v) { c.server.decision.keys.dag_id = label_key_flag("dag-id-label", v); }},
      {"task-id-label", kDecide, true, [](Config& c, std::string_view v) { c.server.decision.keys.task_id = label_key_flag("task-id-label", v); }},
      {"pod-operator-label", kDecide, true, [](Config& c, std::string_view v) { c.server.decision.keys.pod_operator = label_key_flag("pod-operator-label", v); }},
      {"executor-label", kDecide, true, [](Config& c, std::string_view v) { c.server.decision.keys.executor = label_key_flag("executor-label", v); }},
      {"try-number-label", kDecide, true, [](Config& c, std::string_view v) { c.server.decision.keys.try_number = label_key_flag("try-number-label", v); }},
      // Safety gates (core/gates.hpp); namespace and pod annotations override them.
      {"min-history", kDecide, true,
       [](Config& c, std::string_view v) {
         const auto s = core::parse_duration_seconds(v);
         if (!s) fail("min-history", quoted(v) + " is not a duration such as 48h, 90m or 0");
         c.server.decision.gates.min_history_seconds = *s;
       }},
      {"min-samples", kDecide, true,
       [](Config& c, std::string_view v) { c.server.decision.gates.min_samples = parse_int<std::int64_t>("min-samples", v, 0, 1'000'000'000); }},
      {"retry-memory-factor", kDecide, true,
       [](Config& c, std::string_view v) {
         const auto f = core::Quantity::parse(v);
         if (!f || *f < core::Quantity::from_units(1) || *f > core::Quantity::from_units(16)) {
           fail("retry-memory-factor", quoted(v) + " is not a number from 1 to 16");
         }
         c.server.decision.gates.retry_memory_factor = *f;
       }},
      // The closed loop's OOM floor (core/oom_floor.hpp).
      {"oom-bump-ratio", kDecide, true,
       [](Config& c, std::string_view v) {
         const auto f = core::Quantity::parse(v);
         if (!f || *f < core::Quantity::from_units(1) || *f > core::Quantity::from_units(16)) {
           fail("oom-bump-ratio", quoted(v) + " is not a number from 1 to 16");
         }
         c.server.decision.oom.bump_ratio = *f;
       }},
      {"oom-min-bump", kDecide, true,
       [](Config& c, std::string_view v) {
         const auto q = core::Quantity::parse(v);
         if (!q || q->is_negative()) fail("oom-min-bump", quoted(v) + " is not a memory quantity such as 100Mi");
         c.server.decision.oom.min_bump = *q;
       }},
      {"oom-floor-clean-runs", kDecide, true,
       [](Config& c, std::string_view v) { c.server.decision.oom.clean_runs_to_lift = parse_int<std::int64_t>("oom-floor-clean-runs", v, 1, 1000); }},
      {"max-decrease-cpu", kDecide, true, [](Config& c, std::string_view v) { set_step(c, "max-decrease-cpu", v, core::Resource::Cpu, true); }},
      {"max-decrease-memory", kDecide, true, [](Config& c, std::string_view v) { set_step(c, "max-decrease-memory", v, core::Resource::Memory, true); }},
      {"max-increase-cpu", kDecide, true, [](Config& c, std::string_view v) { set_step(c, "max-increase-cpu", v, core::Resource::Cpu, false); }},
      {"max-increase-memory", kDecide, true, [](Config& c, std::string_view v) { set_step(c, "max-increase-memory", v, core::Resource::Memory, false); }},
      // review
      {"review", kReview, true, [](Config& c, std::string_view v) { c.review_file = v; }},
      // report
      {"output", kReport, true,
       [](Config& c, std::string_view v) {
         if (v == "table") c.report_format = ReportFormat::Table;
         else if (v == "json") c.report_format = ReportFormat::Json;
         else if (v == "csv") c.report_format = ReportFormat::Csv;
         else fail("output", quoted(v) + " is not table, json or csv");
       }},
      {"namespace", kReport, true, [](Config& c, std::string_view v) { c.report_query.namespace_ = v; }},
      {"dag", kReport, true, [](Config& c, std::string_view v) { c.report_query.dag_id = v; }},
      {"sort", kReport, true,
       [](Config& c, std::string_view v) {
         const auto s = core::fleet_sort_from_string(v);
         if (!s) fail("sort", quoted(v) + " is not name, cpu-savings, memory-savings, last-seen or runs");
         c.report_query.sort = *s;
       }},
      {"limit", kReport, true,
       [](Config& c, std::string_view v) { c.report_query.limit = parse_int<std::size_t>("limit", v, 0, 100'000'000); }},
      // serve
      {"listen", kServe, true, parse_listen},
      {"tls-cert", kServe, true, [](Config& c, std::string_view v) { c.server.tls_cert = v; }},
      {"tls-key", kServe, true, [](Config& c, std::string_view v) { c.server.tls_key = v; }},
      {"client-ca", kServe, true, [](Config& c, std::string_view v) { c.server.client_ca = v; }},
      {"kubeconfig", kServe | kReport, true, [](Config& c, std::string_view v) { c.kubeconfig = v; }},
      {"disable-provisioning", kServe, false, [](Config& c, std::string_view) { c.provision = false; }},
      {"disable-run-watch", kServe, false, [](Config& c, std::string_view) { c.run_watch = false; }},
      {"provision-refresh", kServe, true, [](Config& c, std::string_view v) { c.provision_refresh = duration_flag("provision-refresh", v, false); }},
      {"provision-gc-interval", kServe, true, [](Config& c, std::string_view v) { c.provision_gc_interval = duration_flag("provision-gc-interval", v, false); }},
      {"forget-after", kServe, true, [](Config& c, std::string_view v) { c.forget_after = duration_flag("forget-after", v, false); }},
      {"vpa-recommender", kServe, true, [](Config& c, std::string_view v) { c.vpa_recommender = recommender_flag(v); }},
      {"missing-recommendation-after", kServe, true,
       [](Config& c, std::string_view v) { c.missing_recommendation_after = duration_flag("missing-recommendation-after", v, false); }},
      {"threads", kServe, true, [](Config& c, std::string_view v) { c.server.threads = parse_int<unsigned>("threads", v, 1, 1024); }},
      {"max-request-bytes", kServe, true, [](Config& c, std::string_view v) { c.server.max_request_bytes = bytes_flag("max-request-bytes", v); }},
      {"max-connections", kServe, true,
       [](Config& c, std::string_view v) { c.server.max_connections = parse_int<std::size_t>("max-connections", v, 1, 1'000'000); }},
      {"handshake-timeout", kServe, true, [](Config& c, std::string_view v) { c.server.handshake_timeout = duration_flag("handshake-timeout", v, false); }},
      {"header-timeout", kServe, true, [](Config& c, std::string_view v) { c.server.header_timeout = duration_flag("header-timeout", v, false); }},
      {"body-timeout", kServe, true, [](Config& c, std::string_view v) { c.server.body_timeout = duration_flag("body-timeout", v, false); }},
      {"idle-timeout", kServe, true, [](Config& c, std::string_view v) { c.server.idle_timeout = duration_flag("idle-timeout", v, false); }},
      {"shutdown-timeout", kServe, true, [](Config& c, std::string_view v) { c.server.shutdown_timeout = duration_flag("shutdown-timeout", v, true); }},
      {"log-format", kServe, true,
       [](Config& c, std::string_view v) {
         if (v == "text") c.log_format = LogFormat::Text;
         else if (v == "json") c.log_format = LogFormat::Json;
         else fail("log-format", quoted(v) + " is not json or text");
       }},
      {"log-level", kServe, true,
       [](Config& c, std::string_view v) {
         static constexpr std::array<std::string_view, 7> kLevels = {"trace", "debug", "info", "warn", "error", "critical", "off"};
         if (std::find(kLevels.begin(), kLevels.end(), v) == kLevels.end()) {
           fail("log-level", quoted(v) + " is not trace, debug, info, warn, error, critical or off");
         }
         c.log_level = v;
       }},
  };
  return table;
}

// "serve", "serve and report", ...: the commands of a scope, for messages.
std::string commands_of(unsigned scope) {
  std::vector<std::string_view> names;
  if ((scope & kServe) != 0) names.push_back("serve");
  if ((scope & kReview) != 0) names.push_back("review");
  if ((scope & kReport) != 0) names.push_back("report");
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i != 0) out += i + 1 == names.size() ? " and " : ", ";
    out += names[i];
  }
  return out;
}

void validate(Config& c) {
  auto& d = c.server.decision;
  for (const auto r : core::kResources) {
    if (d.min_request[r] && d.max_request[r] && *d.min_request[r] > *d.max_request[r]) {
      throw UsageError("--min-" + std::string(to_string(r)) + " " + d.min_request[r]->to_string() + " is above --max-" +
                       std::string(to_string(r)) + " " + d.max_request[r]->to_string());
    }
  }
  if (d.keys.dag_id == d.keys.task_id) throw UsageError("--dag-id-label and --task-id-label must differ");
  // The store indexes targets by the same two labels the decision reads.
  c.store.index_key_a = d.keys.dag_id;
  c.store.index_key_b = d.keys.task_id;

  if (c.command == Command::Review) {
    if (c.recommendations.empty()) throw UsageError("review: --recommendations FILE is required");
  } else if (c.command == Command::Report) {
    if (!c.recommendations.empty() && !c.kubeconfig.empty()) {
      throw UsageError("report: --recommendations and --kubeconfig are exclusive");
    }
  } else if (c.command == Command::Serve) {
    c.server.dry_run = c.dry_run;
    if (c.server.tls_cert.empty() || c.server.tls_key.empty()) {
      throw UsageError("serve: --tls-cert FILE and --tls-key FILE are required");
    }
    if (!c.recommendations.empty() && !c.kubeconfig.empty()) {
      throw UsageError("serve: --recommendations and --kubeconfig are exclusive");
    }
    // The name goes into the VPAs the provisioner creates; without provisioning it would be
    // silently ignored, and whoever set it would believe their VPAs name it.
    if (!c.vpa_recommender.empty() && (!c.recommendations.empty() || !c.provision)) {
      throw UsageError("serve: --vpa-recommender names the recommender of provisioned VPAs; it needs provisioning "
                       "(the Kubernetes API source, without --recommendations or --disable-provisioning)");
    }
  }
}

}  // namespace

std::string_view version() { return AVW_VERSION; }

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::int64_t total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::int64_t n = 0;
    const auto [ptr, ec] = std::from_chars(text.data() + i, text.data() + text.size(), n);
    if (ec != std::errc{} || ptr == text.data() + i || n < 0) return std::nullopt;
    i = static_cast<std::size_t>(ptr - text.data());
    std::int64_t unit = 0;
    if (text.substr(i).starts_with("ms")) {
      unit = 1;
      i += 2;
    } else if (i < text.size() && text[i] == 's') {
      unit = 1000;
      ++i;
    } else if (i < text.size() && text[i] == 'm') {
      unit = 60'000;
      ++i;
    } else if (i < text.size() && text[i] == 'h') {
      unit = 3'600'000;
      ++i;
    } else {
      return std::nullopt;  // a bare number: the unit is not guessed
    }
    // Anything past a year is a typo, and the bound keeps the sum far from overflow.
    constexpr std::int64_t kMax = 366LL * 24 * 3'600'000;
    if (n > kMax / unit || total + n * unit > kMax) return std::nullopt;
    total += n * unit;
  }
  return std::chrono::milliseconds(total);
}

Config parse_args(std::span<const std::string_view> args) {
  Config c;
  if (args.empty()) throw UsageError("missing command (serve, review or report); see --help");
  const std::string_view command = args[0];
  unsigned scope = 0;
  if (command == "serve") {
    c.command = Command::Serve;
    scope = kServe;
  } else if (command == "review") {
    c.command = Command::Review;
    scope = kReview;
  } else if (command == "report") {
    c.command = Command::Report;
    scope = kReport;
  } else if (command == "--help" || command == "-h" || command == "help") {
    c.command = Command::Help;
    if (command == "help" && args.size() > 1) c.help_topic = args[1];
    if (!c.help_topic.empty() && c.help_topic != "serve" && c.help_topic != "review" && c.help_topic != "report") {
      throw UsageError("help: unknown command \"" + c.help_topic + "\" (serve, review or report)");
    }
    return c;
  } else if (command == "--version" || command == "version") {
    c.command = Command::Version;
    return c;
  } else {
    throw UsageError("unknown command \"" + std::string(command) + "\" (serve, review or report); see --help");
  }

  // `serve --whatever --help` shows the help rather than complaining about --whatever.
  if (std::find(args.begin() + 1, args.end(), "--help") != args.end() ||
      std::find(args.begin() + 1, args.end(), "-h") != args.end()) {
    Config help;
    help.command = Command::Help;
    help.help_topic = std::string(command);
    return help;
  }
  for (std::size_t i = 1; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (!arg.starts_with("--") || arg.size() == 2) {
      throw UsageError(std::string(command) + ": unexpected argument \"" + std::string(arg) + "\"");
    }
    arg.remove_prefix(2);
    std::optional<std::string_view> value;
    if (const auto eq = arg.find('='); eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    }
    const auto& table = flags();
    const auto it = std::find_if(table.begin(), table.end(), [&](const Flag& f) { return f.name == arg; });
    if (it == table.end()) {
      throw UsageError(std::string(command) + ": unknown flag --" + std::string(arg) + "; see " + std::string(command) +
                       " --help");
    }
    if ((it->scope & scope) == 0) {
      throw UsageError(std::string(command) + ": --" + std::string(arg) + " is a flag of " + commands_of(it->scope));
    }
    if (it->takes_value) {
      if (!value) {
        if (i + 1 >= args.size()) fail(arg, "needs a value");
        value = args[++i];
      }
      it->apply(c, *value);
    } else {
      if (value && *value != "true") {
        if (*value != "false") fail(arg, "takes no value (or =true, =false)");
        if (arg == "dry-run") c.dry_run = false;
        continue;
      }
      it->apply(c, {});
    }
  }
  validate(c);
  return c;
}

}  // namespace avw::cli
