// File: waiting_vpas.hpp
//
// Which recommenders leave the provisioned VPAs without a recommendation. A VPA that names a
// recommender which does not run (a typo in --vpa-recommender, the recommender component not
// applied, a recommender in a crash loop) never gets a recommendation, and the webhook then
// leaves every pod of its task as it asked, silently. Counting, per recommender, the managed
// VPAs that have waited longer than a grace period beside those that have a recommendation
// makes that visible: many waiting and none answered means the recommender is not there.
//
//   RecommenderTally tally;
//   add_to_tally(tally, page.items, now, std::chrono::hours(6));   // once per list page
//   tally["airflow-vpa-webhook"]   // {waiting: 12, recommended: 0}: nothing serves that name
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "avw/provision/objects.hpp"

namespace avw::provision {

struct RecommenderCounts {
  /// Managed VPAs created at least the grace period ago that still have no recommendation.
  std::size_t waiting = 0;
  /// Managed VPAs that have a recommendation.
  std::size_t recommended = 0;

  friend bool operator==(const RecommenderCounts&, const RecommenderCounts&) = default;
};

/// Counts by the recommender that serves the VPAs (ListedVpa::served_by: "default" for VPAs
/// that name none).
using RecommenderTally = std::map<std::string, RecommenderCounts>;

/// Adds the managed VPAs of `vpas` to `tally`. Every managed VPA makes its recommender appear,
/// so a recommender whose VPAs are all young is reported with zero counts rather than left
/// out. A VPA younger than `grace`, or whose creation time is unknown, is not counted as
/// waiting: its task's first run may not have been sampled yet.
void add_to_tally(RecommenderTally& tally, const std::vector<ListedVpa>& vpas, TimePoint now,
                  std::chrono::seconds grace);

}  // namespace avw::provision
