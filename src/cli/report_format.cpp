#include "report_format.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <string_view>
#include <vector>

#include "avw/core/json_writer.hpp"
#include "avw/core/objects.hpp"

namespace avw::cli {
namespace {

using core::Resource;

std::string fixed(double v, int decimals) {
  // Rounding must not print "-0.000" for a change too small to show.
  if (std::fabs(v) < 0.5 * std::pow(10.0, -decimals)) v = 0;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// The shortest text that reads back as `v`, for JSON.
std::string number(double v) {
  if (v == 0) return "0";
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc{} ? std::string(buf, end) : fixed(v, 6);
}

std::string time_or_dash(const std::optional<std::int64_t>& t) { return t ? core::format_rfc3339(*t) : "-"; }

// 3600 -> "1h00m", 1830 -> "30m30s", 45 -> "45s".
std::string duration(double seconds) {
  const auto s = static_cast<long long>(std::llround(seconds));
  char buf[64];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, s % 3600 / 60);
  else if (s >= 60) std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%llds", s);
  return buf;
}

std::string quantity_or_dash(const std::optional<core::Quantity>& q) { return q ? q->to_string() : "-"; }

// `base 250m/1Gi, sidecar -/16Mi`; "-" when no container has a value.
template <class Field>
std::string containers(const core::FleetRow& row, Field field) {
  std::string out;
  for (const core::FleetContainer& c : row.containers) {
    const core::ResourceValues& v = field(c);
    if (v.empty()) continue;
    if (!out.empty()) out += ", ";
    out += c.name + " " + quantity_or_dash(v[Resource::Cpu]) + "/" + quantity_or_dash(v[Resource::Memory]);
  }
  return out.empty() ? "-" : out;
}

const core::ResourceValues& asks(const core::FleetContainer& c) { return c.asks; }
const core::ResourceValues& recommended(const core::FleetContainer& c) { return c.recommended; }
const core::ResourceValues& would_set(const core::FleetContainer& c) { return c.would_set; }

std::string gates(const core::FleetRow& row, std::string_view none) {
  std::string out;
  for (const core::Gate g : row.gates) {
    if (!out.empty()) out += ",";
    out += to_string(g);
  }
  return out.empty() ? std::string(none) : out;
}

std::string oom(const core::FleetRow& row) {
  if (row.oom_kills == 0) return "-";
  return std::to_string(row.oom_kills) + (row.oom_floors > 0 ? " (floor)" : "");
}

// ---- table ----------------------------------------------------------------------------------

// Columns padded to their widest cell, two spaces apart; the last one (the long "why") is not.
class Table {
 public:
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void write(std::string& out) const {
    std::vector<std::size_t> widths;
    for (const auto& row : rows_) {
      widths.resize(std::max(widths.size(), row.size()));
      for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
    }
    for (const auto& row : rows_) {
      std::string line;
      for (std::size_t i = 0; i < row.size(); ++i) {
        line += row[i];
        if (i + 1 < row.size()) line.append(widths[i] - row[i].size() + 2, ' ');
      }
      line.erase(line.find_last_not_of(' ') + 1);
      out += line;
      out += '\n';
    }
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

// A totals table: the group's leading cells (namespace, or namespace and DAG), then the sums.
void write_totals(std::string& out, std::string_view title, const std::vector<std::string>& leading,
                  const std::vector<std::pair<std::vector<std::string>, const core::FleetTotal*>>& groups) {
  Table table;
  std::vector<std::string> header = leading;
  for (const char* name : {"TASKS", "WITH-RUNS", "RUNS/DAY", "OOM-KILLS", "CORE-H/DAY", "GIB-H/DAY"}) header.emplace_back(name);
  table.add(std::move(header));
  for (const auto& [cells, total] : groups) {
    std::vector<std::string> row = cells;
    const core::FleetTotal& t = *total;
    for (std::string cell : {std::to_string(t.tasks), std::to_string(t.tasks_with_runs), fixed(t.runs_per_day, 2),
                             std::to_string(t.oom_kills), fixed(t.core_hours_per_day, 3), fixed(t.gib_hours_per_day, 3)}) {
      row.push_back(std::move(cell));
    }
    table.add(std::move(row));
  }
  out += "\n";
  out += title;
  out += "\n";
  table.write(out);
}

std::string table(const core::FleetReport& r) {
  std::string out;
  Table tasks;
  tasks.add({"NAMESPACE", "DAG", "TASK", "LAUNCHER", "LAST-SEEN", "RUNS", "RUNS/DAY", "MEAN-RUN", "ASKS",
             "RECOMMENDED", "WOULD-SET", "OOM-KILLS", "CORE-H/DAY", "GIB-H/DAY", "GATES", "WHY"});
  for (const core::FleetRow& row : r.rows) {
    const bool ran = row.runs_observed > 0;
    tasks.add({row.namespace_, row.dag_id, row.task_id, std::string(to_string(row.launcher)), time_or_dash(row.last_seen),
               std::to_string(row.runs_observed), ran ? fixed(row.runs_per_day, 2) : "-",
               ran ? duration(row.mean_run_seconds) : "-", containers(row, asks), containers(row, recommended),
               containers(row, would_set), oom(row), fixed(row.core_hours_per_day, 3), fixed(row.gib_hours_per_day, 3),
               gates(row, "-"), row.why});
  }
  tasks.write(out);
  if (r.rows.size() < r.matched) {
    out += "(" + std::to_string(r.rows.size()) + " of " + std::to_string(r.matched) + " tasks shown; totals count all)\n";
  }

  std::vector<std::pair<std::vector<std::string>, const core::FleetTotal*>> groups;
  for (const core::FleetTotal& t : r.namespaces) groups.push_back({{t.namespace_}, &t});
  groups.push_back({{"(all)"}, &r.total});
  write_totals(out, "Totals by namespace", {"NAMESPACE"}, groups);
  groups.clear();
  for (const core::FleetTotal& t : r.dags) groups.push_back({{t.namespace_, t.dag_id}, &t});
  write_totals(out, "Totals by DAG", {"NAMESPACE", "DAG"}, groups);
  return out;
}

// ---- JSON -----------------------------------------------------------------------------------

void json_string(std::string& out, std::string_view s) { core::append_json_string(out, s); }

// `"key":"value"`, after a comma unless it is the object's first member.
void string_member(std::string& out, std::string_view key, std::string_view value, bool first = false) {
  if (!first) out += ',';
  json_string(out, key);
  out += ':';
  json_string(out, value);
}

void json_resources(std::string& out, const core::ResourceValues& v) {
  out += '{';
  bool first = true;
  for (const Resource r : core::kResources) {
    if (!v[r]) continue;
    string_member(out, to_string(r), v[r]->to_string(), first);
    first = false;
  }
  out += '}';
}

void json_total(std::string& out, const core::FleetTotal& t) {
  out += '{';
  if (!t.namespace_.empty()) string_member(out, "namespace", t.namespace_, true);
  if (!t.dag_id.empty()) string_member(out, "dag", t.dag_id);
  if (!t.namespace_.empty()) out += ',';
  out += "\"tasks\":" + std::to_string(t.tasks) + ",\"tasksWithRuns\":" + std::to_string(t.tasks_with_runs) +
         ",\"runsPerDay\":" + number(t.runs_per_day) + ",\"oomKills\":" + std::to_string(t.oom_kills) +
         ",\"coreHoursPerDay\":" + number(t.core_hours_per_day) + ",\"gibHoursPerDay\":" + number(t.gib_hours_per_day) +
         '}';
}

void json_row(std::string& out, const core::FleetRow& row) {
  out += '{';
  string_member(out, "namespace", row.namespace_, true);
  string_member(out, "dag", row.dag_id);
  string_member(out, "task", row.task_id);
  string_member(out, "launcher", to_string(row.launcher));
  string_member(out, "airflowTask", row.task_name);
  out += ",\"vpa\":";
  if (row.vpa_name.empty()) out += "null";
  else json_string(out, row.vpa_name);
  out += ",\"lastSeen\":";
  if (row.last_seen) json_string(out, core::format_rfc3339(*row.last_seen));
  else out += "null";
  out += ",\"runs\":{\"observed\":" + std::to_string(row.runs_observed) + ",\"perDay\":" + number(row.runs_per_day) +
         ",\"meanSeconds\":" + number(row.mean_run_seconds) + "},\"containers\":[";
  for (std::size_t i = 0; i < row.containers.size(); ++i) {
    const core::FleetContainer& c = row.containers[i];
    out += i == 0 ? "{" : ",{";
    string_member(out, "name", c.name, true);
    out += ",\"asks\":";
    json_resources(out, c.asks);
    out += ",\"recommended\":";
    json_resources(out, c.recommended);
    out += ",\"wouldSet\":";
    json_resources(out, c.would_set);
    out += ",\"notes\":[";
    for (std::size_t j = 0; j < c.notes.size(); ++j) {
      if (j != 0) out += ',';
      json_string(out, c.notes[j]);
    }
    out += "]}";
  }
  out += ']';
  string_member(out, "outcome", to_string(row.outcome));
  string_member(out, "why", row.why);
  out += ",\"gates\":[";
  for (std::size_t i = 0; i < row.gates.size(); ++i) {
    if (i != 0) out += ',';
    json_string(out, to_string(row.gates[i]));
  }
  out += "],\"oomKills\":" + std::to_string(row.oom_kills) + ",\"oomFloors\":" + std::to_string(row.oom_floors) +
         ",\"change\":{\"coreHoursPerDay\":" + number(row.core_hours_per_day) +
         ",\"gibHoursPerDay\":" + number(row.gib_hours_per_day) + "}}";
}

std::string json(const core::FleetReport& r) {
  std::string out = "{\"tasks\":[";
  for (std::size_t i = 0; i < r.rows.size(); ++i) {
    out += i == 0 ? "\n" : ",\n";
    json_row(out, r.rows[i]);
  }
  out += "],\n\"matched\":" + std::to_string(r.matched) + ",\n\"totals\":{\"namespaces\":[";
  for (std::size_t i = 0; i < r.namespaces.size(); ++i) {
    if (i != 0) out += ',';
    json_total(out, r.namespaces[i]);
  }
  out += "],\"dags\":[";
  for (std::size_t i = 0; i < r.dags.size(); ++i) {
    if (i != 0) out += ',';
    json_total(out, r.dags[i]);
  }
  out += "],\"all\":";
  json_total(out, r.total);
  out += "}}\n";
  return out;
}

// ---- CSV ------------------------------------------------------------------------------------

void csv_field(std::string& out, std::string_view field) {
  if (field.find_first_of(",\"\r\n") == std::string_view::npos) {
    out += field;
    return;
  }
  out += '"';
  for (const char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

void csv_line(std::string& out, const std::vector<std::string>& fields) {
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i != 0) out += ',';
    csv_field(out, fields[i]);
  }
  out += "\r\n";
}

std::string csv(const core::FleetReport& r) {
  std::string out;
  csv_line(out, {"namespace", "dag", "task", "launcher", "airflow_task", "vpa", "last_seen", "runs_observed",
                 "runs_per_day", "mean_run_seconds", "asks", "recommended", "would_set", "oom_kills", "oom_floors",
                 "core_hours_per_day", "gib_hours_per_day", "outcome", "gates", "why"});
  for (const core::FleetRow& row : r.rows) {
    csv_line(out, {row.namespace_, row.dag_id, row.task_id, std::string(to_string(row.launcher)), row.task_name,
                   row.vpa_name, row.last_seen ? core::format_rfc3339(*row.last_seen) : "",
                   std::to_string(row.runs_observed), fixed(row.runs_per_day, 4), fixed(row.mean_run_seconds, 1),
                   containers(row, asks), containers(row, recommended), containers(row, would_set),
                   std::to_string(row.oom_kills), std::to_string(row.oom_floors), fixed(row.core_hours_per_day, 4),
                   fixed(row.gib_hours_per_day, 4), std::string(to_string(row.outcome)), gates(row, ""), row.why});
  }
  return out;
}

}  // namespace

std::string format_report(const core::FleetReport& report, ReportFormat format) {
  switch (format) {
    case ReportFormat::Json: return json(report);
    case ReportFormat::Csv: return csv(report);
    case ReportFormat::Table: break;
  }
  return table(report);
}

}  // namespace avw::cli
