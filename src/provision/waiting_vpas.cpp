#include "avw/provision/waiting_vpas.hpp"

namespace avw::provision {

void add_to_tally(RecommenderTally& tally, const std::vector<ListedVpa>& vpas, TimePoint now,
                  std::chrono::seconds grace) {
  for (const ListedVpa& vpa : vpas) {
    // Only what the provisioner made: a VPA someone wrote by hand is theirs to watch.
    if (!vpa.managed) continue;
    RecommenderCounts& counts = tally[vpa.served_by()];
    if (vpa.has_recommendation) {
      ++counts.recommended;
    } else if (vpa.created && *vpa.created <= now && now - *vpa.created >= grace) {
      ++counts.waiting;
    }
  }
}

}  // namespace avw::provision
