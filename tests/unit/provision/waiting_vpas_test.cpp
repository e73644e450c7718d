// Counting the provisioned VPAs that wait for a recommendation, by the recommender they name.
#include "avw/provision/waiting_vpas.hpp"

#include <chrono>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace provision = avw::provision;
using provision::ListedVpa;
using provision::RecommenderCounts;
using provision::RecommenderTally;
using namespace std::chrono_literals;

namespace {

const provision::TimePoint kNow = provision::TimePoint(std::chrono::sys_days{std::chrono::year{2026} / 11 / 23}) + 17h;

ListedVpa vpa(std::string name, std::vector<std::string> recommenders, bool recommended,
              std::optional<provision::TimePoint> created, bool managed = true) {
  ListedVpa v;
  v.namespace_ = "airflow";
  v.name = std::move(name);
  v.resource_version = "1";
  v.managed = managed;
  v.recommenders = std::move(recommenders);
  v.has_recommendation = recommended;
  v.created = created;
  return v;
}

}  // namespace

TEST_CASE("managed VPAs past the grace period without a recommendation wait, per recommender", "[provision][waiting]") {
  RecommenderTally tally;
  provision::add_to_tally(tally,
                          {
                              vpa("old", {"batch"}, false, kNow - 7h),
                              vpa("exactly-grace", {"batch"}, false, kNow - 6h),
                              vpa("young", {"batch"}, false, kNow - 5h),
                              vpa("answered", {"batch"}, true, kNow - 30h),
                              vpa("default-old", {}, false, kNow - 48h),
                              vpa("default-answered", {}, true, kNow - 1h),
                          },
                          kNow, 6h);
  CHECK(tally == RecommenderTally{{"batch", {2, 1}}, {"default", {1, 1}}});
}

TEST_CASE("VPAs nobody can date, from the future, or not managed never count as waiting", "[provision][waiting]") {
  RecommenderTally tally;
  provision::add_to_tally(tally,
                          {
                              vpa("undated", {"batch"}, false, std::nullopt),
                              vpa("future", {"batch"}, false, kNow + 24h),
                              vpa("by-hand", {"other"}, false, kNow - 72h, /*managed=*/false),
                          },
                          kNow, 6h);
  // The recommender shows, with nothing to report; the hand-made VPA's does not.
  CHECK(tally == RecommenderTally{{"batch", {0, 0}}});
}

TEST_CASE("pages add up", "[provision][waiting]") {
  RecommenderTally tally;
  provision::add_to_tally(tally, {vpa("a", {"batch"}, false, kNow - 10h)}, kNow, 6h);
  provision::add_to_tally(tally, {vpa("b", {"batch"}, false, kNow - 10h), vpa("c", {"batch"}, true, kNow)}, kNow,
                          6h);
  CHECK(tally.at("batch") == RecommenderCounts{2, 1});
}
