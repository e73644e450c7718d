// File: config.hpp
//
// Command-line flags -> Config. Every problem is a UsageError with a one-line message
// (`--threads: "x" is not a whole number`); main prints it and exits 2.
//
//   cli::Config c = cli::parse_args(args);   // args without argv[0]
//   if (c.command == cli::Command::Serve) ...
//
// Flags take `--flag VALUE` or `--flag=VALUE`; a repeated flag keeps its last value.
// Durations are written like `10s`, `500ms`, `1m30s`; sizes like Kubernetes quantities
// (`4Mi`, `4194304`).
#pragma once

#include <chrono>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include "avw/core/decision.hpp"
#include "avw/core/fleet_report.hpp"
#include "avw/core/store.hpp"
#include "avw/server/server.hpp"

namespace avw::cli {

/// A bad command line. The message is one line without the program name.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class Command { Help, Version, Serve, Review, Report };
enum class LogFormat { Text, Json };
enum class ReportFormat { Table, Json, Csv };

struct Config {
  Command command = Command::Help;
  /// For Command::Help: the subcommand asked about (empty: the overview).
  std::string help_topic;

  // Shared by serve, review and report (which decide alike).
  std::string recommendations;  // --recommendations FILE
  bool dry_run = false;         // --dry-run
  core::StoreOptions store;     // --allowed-update-modes, index keys = the dag/task label keys

  // review
  std::string review_file;      // --review FILE; empty: stdin

  // report
  ReportFormat report_format = ReportFormat::Table;  // --output
  core::FleetQuery report_query;                     // --namespace, --dag, --sort, --limit

  // serve and report
  std::string kubeconfig;       // --kubeconfig FILE

  // serve
  /// Provisioning of AirflowTasks and VPAs (the Kubernetes API source only).
  bool provision = true;                                  // --disable-provisioning turns it off
  std::chrono::milliseconds provision_refresh{3'600'000};  // --provision-refresh
  std::chrono::milliseconds provision_gc_interval{3'600'000};  // --provision-gc-interval
  std::chrono::milliseconds forget_after{30LL * 24 * 3'600'000};  // --forget-after
  /// The closed loop's task-pod watch (the Kubernetes API source only).
  bool run_watch = true;                                  // --disable-run-watch turns it off
  /// The recommender provisioned VPAs name in spec.recommenders; empty: none (the cluster's
  /// default recommender).
  std::string vpa_recommender;                                  // --vpa-recommender
  std::chrono::milliseconds missing_recommendation_after{6 * 3'600'000};  // --missing-recommendation-after
  server::ServerOptions server; // also holds the decision config (server.decision)
  LogFormat log_format = LogFormat::Text;
  std::string log_level = "info";

  const core::Config& decision() const { return server.decision; }
};

/// Parses the arguments after the program name. Throws UsageError.
Config parse_args(std::span<const std::string_view> args);

/// Help text for `topic` ("", "serve", "review" or "report"), ending in a newline.
std::string usage(std::string_view topic);

/// The program version (the CMake project version).
std::string_view version();

/// A duration like `10s`, `250ms`, `2m`, `1h`, `1m30s`; nullopt when malformed.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

}  // namespace avw::cli
