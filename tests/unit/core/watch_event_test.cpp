// Watch events: the captured VPA stream, an expired watch, and lines that are not events.
#include "avw/core/watch_event.hpp"

#include <catch2/catch.hpp>

#include <sstream>
#include <string>

#include "object_samples.hpp"
#include "support/fixtures.hpp"

namespace {

using avw::core::DecodeError;
using avw::core::WatchEvent;
using avw::core::decode_watch_event;
using avw::test::read_fixture;
using namespace avw::test::object_samples;

}  // namespace

TEST_CASE("watch events of the captured VPA stream decode in order", "[objects][watch]") {
  std::istringstream stream(read_fixture("api/watch-vpas.ndjson"));
  std::vector<WatchEvent> events;
  for (std::string line; std::getline(stream, line);) {
    if (!line.empty()) events.push_back(decode_watch_event(line));
  }
  REQUIRE(events.size() == 4);
  for (const auto& event : events) {
    INFO(joined(event.objects.errors));
    CHECK(event.objects.errors.empty());
  }

  CHECK(events[0].type == WatchEvent::Type::Modified);
  CHECK(events[0].resource_version == "239");
  REQUIRE(events[0].objects.vpas.size() == 1);
  CHECK(events[0].objects.vpas[0].meta.name == "etl-daily-extract");
  REQUIRE(events[0].objects.vpas[0].recommendations.size() == 1);
  CHECK(events[0].objects.vpas[0].recommendations[0].target == values("187m", "623479808"));

  CHECK(events[1].type == WatchEvent::Type::Added);
  CHECK(events[1].resource_version == "240");
  REQUIRE(events[1].objects.vpas.size() == 1);
  CHECK(events[1].objects.vpas[0].meta.name == "etl-daily-transform");
  CHECK(events[1].objects.vpas[0].target_ref.name == "etl-daily-transform");
  CHECK(events[1].objects.vpas[0].recommendations.empty());

  CHECK(events[2].type == WatchEvent::Type::Deleted);
  CHECK(events[2].resource_version == "241");
  REQUIRE(events[2].objects.vpas.size() == 1);
  CHECK(events[2].objects.vpas[0].meta.name == "ml-train-fit");

  CHECK(events[3].type == WatchEvent::Type::Bookmark);
  CHECK(events[3].resource_version == "241");
  CHECK(events[3].objects.vpas.empty());
  CHECK(events[3].objects.errors.empty());
}

TEST_CASE("an expired watch gives an ERROR event with code 410", "[objects][watch]") {
  WatchEvent event = decode_watch_event(read_fixture("api/watch-410.json"));
  CHECK(event.type == WatchEvent::Type::Error);
  CHECK(event.error_code == 410);
  CHECK(event.error_message == "too old resource version: 1 (225)");
  CHECK(event.objects.vpas.empty());
  CHECK(event.objects.targets.empty());
}

TEST_CASE("watch lines that are not watch events throw DecodeError", "[objects][watch]") {
  auto line = GENERATE(as<std::string>{},
                       "", "not json", "[]", "{}", R"({"type":"ADDED"})",
                       R"({"type":"ADDED","object":[]})", R"({"type":"RENAMED","object":{}})",
                       R"({"type":7,"object":{}})", R"({"type":"BOOKMARK","object":{"metadata":{}}})",
                       R"({"type":"ADDED","object":{)");
  INFO("line: " << line);
  CHECK_THROWS_AS(decode_watch_event(line), avw::core::DecodeError);
}

TEST_CASE("a watch event with an undecodable object reports it instead of throwing",
          "[objects][watch]") {
  WatchEvent event = decode_watch_event(
      R"({"type":"MODIFIED","object":{"apiVersion":"autoscaling.k8s.io/v1","kind":"VerticalPodAutoscaler",)"
      R"("metadata":{"name":"v","namespace":"ns","resourceVersion":"9"},"spec":{}}})");
  CHECK(event.type == WatchEvent::Type::Modified);
  CHECK(event.resource_version == "9");
  CHECK(event.objects.vpas.empty());
  REQUIRE(event.objects.errors.size() == 1);
  CHECK_THAT(event.objects.errors[0],
             Catch::Contains("VerticalPodAutoscaler ns/v") && Catch::Contains("spec.targetRef"));
}

