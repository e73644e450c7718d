// File: report.hpp
//
// `airflow-vpa-webhook report`: the fleet view (core/fleet_report.hpp) of a recommendations
// file or of the cluster (--kubeconfig, else the in-cluster service account, as serve chooses),
// printed as a table, JSON or CSV.
#pragma once

#include <iosfwd>

#include "avw/cli/config.hpp"

namespace avw::cli {

/// Reads the objects, builds the report and writes it to `out`. Returns 0, or 2 after one line
/// on `err` (`airflow-vpa-webhook: report: cannot open x.json: No such file or directory`).
/// Objects that were skipped are reported on `err` as warnings and do not fail the command.
int run_report(const Config& config, std::ostream& out, std::ostream& err);

}  // namespace avw::cli
