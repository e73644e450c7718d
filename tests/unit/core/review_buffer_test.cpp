// The server's request bodies: appended or read into place, always followed by zero padding.
#include "avw/core/review_buffer.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "avw/core/admission.hpp"
#include "review_samples.hpp"

namespace {

using avw::core::kReviewPadding;
using avw::core::PaddedBody;
using avw::core::ParsedReview;
using avw::core::ReviewBuffer;
using avw::test::review_samples::buffered;
using avw::test::review_samples::fixture;

}  // namespace

TEST_CASE("a review buffer holds the body with zeros after it, however it arrived", "[review_buffer]") {
  const std::string body = fixture("kpo-pod");
  for (const std::size_t piece : {std::size_t{1}, std::size_t{7}, std::size_t{4096}, body.size()}) {
    const ReviewBuffer b = buffered(body, piece);
    INFO("pieces of " << piece);
    CHECK(b.view() == body);
    const PaddedBody padded = b.padded();
    CHECK(padded.bytes() == body);
    CHECK(std::all_of(padded.bytes().end(), padded.bytes().end() + kReviewPadding, [](char c) { return c == '\0'; }));
  }
  ReviewBuffer b = buffered(body, 100);
  const std::size_t capacity = b.capacity();
  b.clear();
  CHECK(b.view().empty());
  CHECK(b.capacity() == capacity);  // kept for the next request
  b.append("{}", 2);
  CHECK(b.view() == "{}");
  b.release();
  CHECK(b.capacity() < 100);
  CHECK(ReviewBuffer().padded().bytes().empty());
}

TEST_CASE("a review buffer read into place keeps only what was written, padded", "[review_buffer]") {
  const std::string body = fixture("kpo-pod");
  ReviewBuffer b;
  b.reserve(body.size());
  const std::size_t capacity = b.capacity();
  b.append(body.data(), 10);
  // A read asked for the rest and got part of it, then the rest.
  char* at = b.extend(body.size() - 10);
  std::memcpy(at, body.data() + 10, 1000);
  b.truncate(10 + 1000);
  CHECK(b.view() == std::string_view(body).substr(0, 1010));
  at = b.extend(body.size() - 1010);
  std::memcpy(at, body.data() + 1010, body.size() - 1010);
  CHECK(b.view() == body);
  CHECK(b.capacity() == capacity);  // reserved: no reallocation on the way
  const PaddedBody padded = b.padded();
  CHECK(std::all_of(padded.bytes().end(), padded.bytes().end() + kReviewPadding, [](char c) { return c == '\0'; }));
  avw::core::ReviewParser parser;
  CHECK(ParsedReview(parser, padded).request().pod.labels.get("task_id") == "load");
  b.truncate(2 * body.size());  // never longer
  CHECK(b.size() == body.size());
  ReviewBuffer moved = std::move(b);
  CHECK(moved.view() == body);
  CHECK(b.size() == 0);
  CHECK(b.padded().bytes().empty());
}

