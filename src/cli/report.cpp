#include "avw/cli/report.hpp"

#include <ostream>

#include "command_errors.hpp"
#include "report_format.hpp"
#include "report_input.hpp"

namespace avw::cli {
namespace {

constexpr std::string_view kCommand = "report";

// The objects, from the file or the cluster: the cluster as serve finds it, through
// --kubeconfig or else the in-cluster service account.
ReportInput read_input(const Config& config, std::string& source) {
  if (!config.recommendations.empty()) {
    source = config.recommendations;
    return read_report_file(config);
  }
  kube::ClusterConfig cluster;
  try {
    cluster = config.kubeconfig.empty() ? kube::load_in_cluster_config() : kube::load_kubeconfig(config.kubeconfig);
  } catch (const kube::ConfigError& e) {
    throw ReportInputError(e.what());
  }
  source = cluster.server;
  return read_report_cluster(cluster, config);
}

}  // namespace

int run_report(const Config& config, std::ostream& out, std::ostream& err) {
  ReportInput input;
  std::string source;
  try {
    input = read_input(config, source);
  } catch (const ReportInputError& e) {
    return fail(err, kCommand, e.what());
  }
  warn_skipped(err, kCommand, source, input.skipped);

  const core::FleetReport report = core::build_fleet_report(input.fleet.tasks, input.fleet.vpas, *input.snapshot,
                                                            config.decision(), config.report_query);
  out << format_report(report, config.report_format);
  out.flush();
  if (!out) return fail(err, kCommand, "cannot write the report");
  return 0;
}

}  // namespace avw::cli
