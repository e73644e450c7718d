// File: oom_kill.hpp
//
// The record of a task container's OOM kill, as the AirflowTask keeps it in
// `status.oomKills` (one entry per container, the latest kill that raised its floor):
//
//   oomKills:
//   - container: base
//     memoryRequest: 300Mi        # what it was killed with
//     memoryLimit: 600Mi
//     killedAt: "2026-12-06T18:26:27Z"
//     pod: etl-load-oom
//     runId: scheduled__2026-12-06T00:00:00+00:00
//     tryNumber: 1
//     kills: 1                    # kills of this container since the floor was first raised
//     cleanRuns: [run ids]        # runs created after the kill that completed without one
//     liftedAt: "..."             # set when the floor ended (oom_floor.hpp says when)
//
// The status is shared by every replica, kept across restarts and shown by kubectl; the
// floor itself is computed from it by the flags (oom_floor.hpp), so the record holds facts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "avw/core/quantity.hpp"

namespace avw::core {

struct OomKill {
  std::string container;
  std::optional<Quantity> memory_request;
  std::optional<Quantity> memory_limit;
  std::int64_t killed_at = 0;  // seconds since the epoch (the container's finishedAt)
  std::string pod;
  std::string run_id;
  std::int64_t try_number = 0;
  std::int64_t kills = 1;
  std::vector<std::string> clean_runs;
  std::optional<std::int64_t> lifted_at;

  /// The floor holds until it is lifted.
  bool active() const { return !lifted_at.has_value(); }
  friend bool operator==(const OomKill&, const OomKill&) = default;
};

/// The JSON array of `status.oomKills`, in the order given (kubectl shows it as it is).
std::string oom_kills_to_json(const std::vector<OomKill>& kills);

}  // namespace avw::core
