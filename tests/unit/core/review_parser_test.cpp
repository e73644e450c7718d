// A ReviewParser decodes one review after another, and a ParsedReview's views live in it:
// reviews in turn with one parser are independent, a refused body leaves the parser ready,
// and a review moved or alive beside others keeps its own views.
#include "avw/core/admission.hpp"

#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "review_samples.hpp"

namespace {

using avw::core::DecodeError;
using avw::core::ParsedReview;
using avw::core::ReviewBuffer;
using avw::core::ReviewParser;
using avw::test::review_samples::buffered;
using avw::test::review_samples::fixture;
using avw::test::review_samples::review_with_request;

// What a test reads of a review, copied out of it (its views die with it).
struct Summary {
  std::string uid;
  std::string task_id;
  std::vector<std::string> containers;
  friend bool operator==(const Summary&, const Summary&) = default;
};

Summary summary(const ParsedReview& review) {
  Summary s{std::string(review.request().uid), {}, {}};
  if (const auto task_id = review.request().pod.labels.get("task_id")) s.task_id = std::string(*task_id);
  for (const auto& c : review.request().pod.containers) s.containers.emplace_back(c.name);
  return s;
}

// The review decoded alone, with a parser of its own.
Summary reference(const std::string& body) { return summary(ParsedReview(body)); }

}  // namespace

TEST_CASE("reviews decoded in turn with one parser are each what they decode to alone", "[admission][parser]") {
  ReviewParser parser;
  const std::vector<std::string> bodies = {fixture("kpo-pod"), fixture("executor-pod"),
                                           review_with_request(R"({"uid":"third","operation":"CREATE"})"),
                                           fixture("kpo-pod")};
  std::vector<Summary> in_turn;
  for (const std::string& body : bodies) {
    const ReviewBuffer received = buffered(body, 4096);
    const ParsedReview review(parser, received.padded());
    in_turn.push_back(summary(review));
  }
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    INFO("review " << i);
    CHECK(in_turn[i] == reference(bodies[i]));
  }
  CHECK(in_turn[0].containers == std::vector<std::string>{"base", "airflow-xcom-sidecar"});
  CHECK(in_turn[1].containers == std::vector<std::string>{"base"});
  CHECK(in_turn[2].uid == "third");
  CHECK(in_turn[2].containers.empty());
}

TEST_CASE("a refused body leaves the parser ready for the next review", "[admission][parser]") {
  ReviewParser parser;
  const std::string good = fixture("executor-pod");
  const std::string bad = GENERATE(as<std::string>{}, R"({"kind":)", "", "[1]", "{\"a\":\"\xff\"}",
                                   R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"})",
                                   std::string(1000, '['));
  INFO(bad.substr(0, 40));
  CHECK_THROWS_AS(ParsedReview(parser, buffered(bad, 7).padded()), DecodeError);
  const ReviewBuffer received = buffered(good, 4096);
  const ParsedReview review(parser, received.padded());
  CHECK(summary(review) == reference(good));
  // ...and again after that one, once it is gone.
  CHECK_THROWS_AS(ParsedReview(parser, buffered(bad, 7).padded()), DecodeError);
}

TEST_CASE("a parser grown by a big review decodes the next one the same", "[admission][parser]") {
  ReviewParser parser;
  const std::string big = review_with_request(R"({"uid":"big","operation":"CREATE","padding":")" +
                                              std::string(1 << 20, 'x') + R"("})");
  {
    const ReviewBuffer received = buffered(big, 1 << 16);
    CHECK(ParsedReview(parser, received.padded()).request().uid == "big");
  }
  const std::string body = fixture("kpo-pod");
  const ReviewBuffer received = buffered(body, 4096);
  CHECK(summary(ParsedReview(parser, received.padded())) == reference(body));
  // The depth limit holds after the parser gave its big buffers back.
  const std::string deep = review_with_request(R"({"uid":"u","operation":"CREATE","x":)" + std::string(300, '[') +
                                               std::string(300, ']') + "}");
  CHECK_THROWS_WITH(ParsedReview(parser, buffered(deep, 4096).padded()),
                    "AdmissionReview is nested deeper than 256 levels");
}

TEST_CASE("a moved ParsedReview keeps its views valid", "[admission][parser]") {
  ParsedReview original(fixture("kpo-pod"));
  ParsedReview moved(std::move(original));
  CHECK(moved.request().uid == "71855644-6b31-452d-82c9-d8999240b18e");
  CHECK(moved.request().pod.labels.get("task_id") == "load");

  ParsedReview assigned(fixture("executor-pod"));
  assigned = std::move(moved);
  CHECK(assigned.request().pod.containers.at(1).name == "airflow-xcom-sidecar");

  // A review that borrows a parser moves the same; the parser is free once it is gone.
  ReviewParser parser;
  const ReviewBuffer received = buffered(fixture("executor-pod"), 4096);
  {
    std::optional<ParsedReview> borrowed(std::in_place, parser, received.padded());
    ParsedReview taken(std::move(*borrowed));
    borrowed.reset();
    CHECK(taken.request().pod.containers.size() == 1);
    assigned = std::move(taken);
  }
  CHECK(assigned.request().uid == "2b617356-268b-4184-8c95-ed9b86d358de");
  assigned = ParsedReview(fixture("kpo-pod"));  // finishes the borrowed parser's review
  CHECK(ParsedReview(parser, received.padded()).request().pod.containers.size() == 1);
}

TEST_CASE("reviews alive at the same time keep their own views", "[admission][parser]") {
  ReviewParser parser;
  const ReviewBuffer received = buffered(fixture("executor-pod"), 4096);
  auto first = std::make_optional<ParsedReview>(parser, received.padded());
  const ParsedReview second(fixture("kpo-pod"));
  const ParsedReview third(review_with_request(R"({"uid":"third","operation":"CREATE"})"));
  CHECK(first->request().pod.containers.size() == 1);
  CHECK(second.request().pod.containers.at(1).name == "airflow-xcom-sidecar");
  CHECK(third.request().uid == "third");
  first.reset();
  CHECK(second.request().uid == "71855644-6b31-452d-82c9-d8999240b18e");
}

TEST_CASE("a padded body decodes as the same bytes in a string do, errors included", "[admission][parser]") {
  ReviewParser parser;
  for (const char* name : {"kpo-pod", "executor-pod"}) {
    const std::string body = fixture(name);
    const ReviewBuffer b = buffered(body, 1000);
    CHECK(summary(ParsedReview(parser, b.padded())) == reference(body));
  }
  for (const std::string_view bad : {std::string_view(R"({"kind":)"), std::string_view(""), std::string_view("[1]"),
                                     std::string_view("{\"a\":\"\xff\"}")}) {
    std::string in_place_error, copied_error;
    try {
      const ParsedReview r(parser, buffered(bad, 3).padded());
    } catch (const DecodeError& e) {
      in_place_error = e.what();
    }
    try {
      const ParsedReview r(bad);
    } catch (const DecodeError& e) {
      copied_error = e.what();
    }
    INFO(bad);
    CHECK(!in_place_error.empty());
    CHECK(in_place_error == copied_error);
  }
}
