// File: metrics.hpp
//
// Prometheus metrics: counters, gauges and histograms registered once at start-up, updated
// lock-free from any thread (relaxed atomics), rendered in the text exposition format
// (version 0.0.4) for GET /metrics.
//
//   metrics::Registry registry;
//   auto& requests = registry.counter("avw_admission_requests_total", "Admission requests.",
//                                     {{"path", "/mutate"}, {"outcome", "patched"}});
//   requests.inc();
//   std::string text = registry.render();
//
// Registration takes a lock and allocates; it happens at start-up or the first time a label
// set is seen. The returned references stay valid for the registry's lifetime, so hot paths
// keep them and never look anything up.
#pragma once

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace avw::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void inc(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

/// A counter of a quantity that is not a whole number (core-seconds): it only goes up.
class FloatCounter {
 public:
  /// Negative or NaN amounts are ignored: a counter never goes down.
  void add(double d);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void add(double d);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

/// Cumulative histogram with fixed upper bounds (seconds for latencies).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  std::uint64_t bucket(std::size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }
  std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // non-cumulative per bound, +Inf last
  std::atomic<std::uint64_t> count_{0};
  std::atomic<double> sum_{0.0};
};

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  /// Returns the series with this name and labels, creating it on first use. A name keeps
  /// the help text and type of its first registration.
  Counter& counter(std::string_view name, std::string_view help, const Labels& labels = {});
  FloatCounter& float_counter(std::string_view name, std::string_view help, const Labels& labels = {});
  Gauge& gauge(std::string_view name, std::string_view help, const Labels& labels = {});
  Histogram& histogram(std::string_view name, std::string_view help, std::vector<double> bounds,
                       const Labels& labels = {});

  /// Text exposition format: # HELP / # TYPE once per family, label values escaped.
  std::string render() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Default latency buckets for admission handling, in seconds (50 µs .. 1 s).
std::vector<double> latency_buckets();

}  // namespace avw::metrics
