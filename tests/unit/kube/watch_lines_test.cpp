#include "avw/kube/watch_lines.hpp"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace {

using avw::kube::LineSplitter;

std::vector<std::string> feed_all(LineSplitter& splitter, const std::vector<std::string>& pieces) {
  std::vector<std::string> lines;
  for (const auto& p : pieces) {
    splitter.feed(p, [&](std::string_view line) { lines.emplace_back(line); });
  }
  return lines;
}

}  // namespace

TEST_CASE("one event per chunk gives one line per chunk", "[kube][watch]") {
  LineSplitter splitter;
  auto lines = feed_all(splitter, {"{\"type\":\"ADDED\"}\n", "{\"type\":\"BOOKMARK\"}\n"});
  CHECK(lines == std::vector<std::string>{"{\"type\":\"ADDED\"}", "{\"type\":\"BOOKMARK\"}"});
  CHECK_FALSE(splitter.has_partial());
}

TEST_CASE("an event split across pieces at any byte is reassembled", "[kube][watch]") {
  const std::string stream = "{\"a\":1}\n{\"b\":22}\n{\"c\":333}\n";
  // Every cut point of the 27-byte stream, combined with cuts inside each event and at the end.
  const auto cut1 = GENERATE(range(std::size_t{0}, std::size_t{28}));
  const auto cut2 = GENERATE(std::size_t{3}, std::size_t{9}, std::size_t{20}, std::size_t{27});
  REQUIRE(stream.size() == 27);
  const auto lo = std::min(cut1, cut2);
  const auto hi = std::max(cut1, cut2);
  LineSplitter splitter;
  auto lines = feed_all(splitter, {stream.substr(0, lo), stream.substr(lo, hi - lo), stream.substr(hi)});
  CHECK(lines == std::vector<std::string>{"{\"a\":1}", "{\"b\":22}", "{\"c\":333}"});
  CHECK_FALSE(splitter.has_partial());
}

TEST_CASE("several events in one piece are all delivered", "[kube][watch]") {
  LineSplitter splitter;
  auto lines = feed_all(splitter, {"x\ny\r\n\nz\n"});
  CHECK(lines == std::vector<std::string>{"x", "y", "z"});
}

TEST_CASE("half an event at the end of a stream stays a partial line", "[kube][watch]") {
  LineSplitter splitter;
  auto lines = feed_all(splitter, {"{\"type\":\"ADDED\"}\n{\"type\":\"MODI"});
  CHECK(lines == std::vector<std::string>{"{\"type\":\"ADDED\"}"});
  CHECK(splitter.has_partial());
  splitter.reset();
  CHECK_FALSE(splitter.has_partial());
  CHECK(feed_all(splitter, {"next\n"}) == std::vector<std::string>{"next"});
}

TEST_CASE("a line longer than the limit fails the splitter", "[kube][watch]") {
  LineSplitter splitter(8);
  std::vector<std::string> lines;
  auto sink = [&](std::string_view l) { lines.emplace_back(l); };
  SECTION("in one piece") { CHECK_FALSE(splitter.feed("0123456789\n", sink)); }
  SECTION("accumulated over pieces") {
    CHECK(splitter.feed("01234", sink));
    CHECK_FALSE(splitter.feed("56789", sink));
  }
  SECTION("completed by a later piece") {
    CHECK(splitter.feed("01234", sink));
    CHECK_FALSE(splitter.feed("5678\n", sink));
  }
  CHECK(splitter.failed());
  CHECK_FALSE(splitter.feed("ok\n", sink));
  CHECK(lines.empty());
  splitter.reset();
  CHECK(splitter.feed("ok\n", sink));
  CHECK(lines == std::vector<std::string>{"ok"});
}

TEST_CASE("a line exactly at the limit is accepted", "[kube][watch]") {
  LineSplitter splitter(8);
  CHECK(feed_all(splitter, {"0123", "4567\n"}) == std::vector<std::string>{"01234567"});
}
