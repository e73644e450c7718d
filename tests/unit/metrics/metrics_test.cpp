#include <catch2/catch.hpp>

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "avw/metrics/metrics.hpp"

using avw::metrics::Registry;

TEST_CASE("a counter renders with help, type and its labels", "[metrics]") {
  Registry r;
  auto& c = r.counter("avw_admission_requests_total", "Admission requests.",
                      {{"path", "/mutate"}, {"outcome", "patched"}});
  c.inc();
  c.inc(2);
  CHECK(c.value() == 3);
  CHECK(r.render() ==
        "# HELP avw_admission_requests_total Admission requests.\n"
        "# TYPE avw_admission_requests_total counter\n"
        "avw_admission_requests_total{path=\"/mutate\",outcome=\"patched\"} 3\n");
}

TEST_CASE("the same name and labels return the same series", "[metrics]") {
  Registry r;
  auto& a = r.counter("x_total", "X.", {{"k", "v"}});
  auto& b = r.counter("x_total", "other help is ignored", {{"k", "v"}});
  auto& c = r.counter("x_total", "X.", {{"k", "w"}});
  CHECK(&a == &b);
  CHECK(&a != &c);
  a.inc();
  c.inc(5);
  CHECK(r.render() ==
        "# HELP x_total X.\n"
        "# TYPE x_total counter\n"
        "x_total{k=\"v\"} 1\n"
        "x_total{k=\"w\"} 5\n");
}

TEST_CASE("gauges set and add, and render without labels", "[metrics]") {
  Registry r;
  auto& g = r.gauge("avw_connections_open", "Open connections.");
  g.set(3);
  g.add(-1);
  g.add(0.5);
  CHECK(g.value() == 2.5);
  CHECK(r.render() ==
        "# HELP avw_connections_open Open connections.\n"
        "# TYPE avw_connections_open gauge\n"
        "avw_connections_open 2.5\n");
}

TEST_CASE("non-finite gauge values render as Prometheus spells them", "[metrics]") {
  Registry r;
  auto& g = r.gauge("g", "G.");
  auto [value, text] = GENERATE(table<double, std::string>({
      {std::numeric_limits<double>::quiet_NaN(), "NaN"},
      {std::numeric_limits<double>::infinity(), "+Inf"},
      {-std::numeric_limits<double>::infinity(), "-Inf"},
      {1e21, "1e+21"},
      {-0.25, "-0.25"},
  }));
  g.set(value);
  CHECK(r.render() == "# HELP g G.\n# TYPE g gauge\ng " + text + "\n");
}

TEST_CASE("a histogram renders cumulative buckets, sum and count", "[metrics]") {
  Registry r;
  auto& h = r.histogram("avw_admission_duration_seconds", "Latency.", {0.1, 0.5, 1.0},
                        {{"path", "/mutate"}});
  h.observe(0.05);
  h.observe(0.1);  // le is inclusive
  h.observe(0.3);
  h.observe(2.0);
  CHECK(h.count() == 4);
  CHECK(h.sum() == Approx(2.45));
  CHECK(r.render() ==
        "# HELP avw_admission_duration_seconds Latency.\n"
        "# TYPE avw_admission_duration_seconds histogram\n"
        "avw_admission_duration_seconds_bucket{path=\"/mutate\",le=\"0.1\"} 2\n"
        "avw_admission_duration_seconds_bucket{path=\"/mutate\",le=\"0.5\"} 3\n"
        "avw_admission_duration_seconds_bucket{path=\"/mutate\",le=\"1\"} 3\n"
        "avw_admission_duration_seconds_bucket{path=\"/mutate\",le=\"+Inf\"} 4\n"
        "avw_admission_duration_seconds_sum{path=\"/mutate\"} 2.45\n"
        "avw_admission_duration_seconds_count{path=\"/mutate\"} 4\n");
}

TEST_CASE("label values and help text are escaped", "[metrics]") {
  Registry r;
  r.counter("c_total", "Help with \\ and\nnewline \"quotes\".", {{"v", "a\"b\\c\nd"}}).inc();
  CHECK(r.render() ==
        "# HELP c_total Help with \\\\ and\\nnewline \"quotes\".\n"
        "# TYPE c_total counter\n"
        "c_total{v=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST_CASE("families render in registration order", "[metrics]") {
  Registry r;
  r.gauge("b", "B.");
  r.counter("a_total", "A.");
  const std::string text = r.render();
  CHECK(text.find("# HELP b ") < text.find("# HELP a_total "));
}

TEST_CASE("registering a name with another type or an invalid name is a programming error",
          "[metrics]") {
  Registry r;
  r.counter("n_total", "N.");
  CHECK_THROWS_AS(r.gauge("n_total", "N."), std::logic_error);
  CHECK_THROWS_AS(r.counter("1bad", "N."), std::invalid_argument);
  CHECK_THROWS_AS(r.counter("bad-name", "N."), std::invalid_argument);
  CHECK_THROWS_AS(r.counter("ok_total", "N.", {{"le", "1"}}), std::invalid_argument);
  CHECK_THROWS_AS(r.counter("ok_total", "N.", {{"__x", "1"}}), std::invalid_argument);
  CHECK_THROWS_AS(r.histogram("h", "H.", {1.0, 0.5}), std::invalid_argument);
}

TEST_CASE("counters and histograms count every update from many threads", "[metrics]") {
  Registry r;
  auto& c = r.counter("c_total", "C.");
  auto& h = r.histogram("h", "H.", {1.0});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.inc();
        h.observe(i % 2 == 0 ? 0.5 : 2.0);
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(c.value() == 40000);
  CHECK(h.count() == 40000);
  CHECK(h.bucket(0) == 20000);
  CHECK(h.bucket(1) == 20000);
}

TEST_CASE("default latency buckets are increasing from 50 microseconds to 1 second", "[metrics]") {
  const auto b = avw::metrics::latency_buckets();
  REQUIRE(b.size() > 2);
  CHECK(b.front() == 0.00005);
  CHECK(b.back() == 1.0);
  CHECK(std::is_sorted(b.begin(), b.end()));
}
