// File: report_format.hpp (private to cli)
//
// The fleet report as `report --output` prints it:
//   - table: one aligned row per task, then the totals by namespace, by DAG and in all;
//   - json: one document, {"tasks": [...], "matched": N, "totals": {...}};
//   - csv: RFC 4180 (a header row, CRLF line ends, fields quoted when they hold a comma, a
//     quote or a line end): one row per task; totals are left to the spreadsheet.
// Containers print as `name cpu/memory` (`base 250m/1Gi`), `-` for a value that is unset.
#pragma once

#include <string>

#include "avw/cli/config.hpp"
#include "avw/core/fleet_report.hpp"

namespace avw::cli {

std::string format_report(const core::FleetReport& report, ReportFormat format);

}  // namespace avw::cli
