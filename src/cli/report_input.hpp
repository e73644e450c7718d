// File: report_input.hpp (private to cli)
//
// What `report` reads: the store snapshot the webhook would decide with, and the AirflowTasks
// and VPA container names the report adds to it. From a recommendations file, decoded by the
// file source's own loader; or from the cluster, listed page by page as the API source lists it.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "avw/cli/config.hpp"
#include "avw/core/fleet_tasks.hpp"
#include "avw/core/store.hpp"
#include "avw/kube/config.hpp"

namespace avw::cli {

/// The input could not be read: one line, without the program name.
class ReportInputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ReportInput {
  std::shared_ptr<const core::Snapshot> snapshot;
  core::FleetObjects fleet;
  std::vector<std::string> skipped;  // objects not understood, one line each
};

/// The recommendations file config.recommendations. Throws ReportInputError.
ReportInput read_report_file(const Config& config);

/// Every VPA, AirflowTask, LimitRange, checkpoint and Namespace of the cluster. Throws
/// ReportInputError when a list fails (a missing checkpoint CRD is an empty list).
ReportInput read_report_cluster(const kube::ClusterConfig& cluster, const Config& config);

}  // namespace avw::cli
