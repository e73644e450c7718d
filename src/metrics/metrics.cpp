#include "avw/metrics/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

namespace avw::metrics {
namespace {

enum class Type { Counter, Gauge, Histogram };

std::string_view type_name(Type t) {
  switch (t) {
    case Type::Counter: return "counter";
    case Type::Gauge: return "gauge";
    case Type::Histogram: return "histogram";
  }
  return "untyped";
}

bool valid_name(std::string_view name, bool allow_colon) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                       (allow_colon && c == ':');
    const bool digit = c >= '0' && c <= '9';
    if (!alpha && !(digit && i > 0)) return false;
  }
  return true;
}

void append_number(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[32];
    const auto res = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, res.ptr);
  }
}

void append_number(std::string& out, std::uint64_t v) {
  char buf[24];
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, res.ptr);
}

// Label values escape backslash, double quote and newline; HELP text only backslash and
// newline (exposition format 0.0.4).
void append_escaped(std::string& out, std::string_view text, bool quote) {
  for (const char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

// `{a="x",b="y"}` with an optional extra label (the histogram's `le`), or nothing when empty.
void append_labels(std::string& out, const Labels& labels, std::string_view extra_name = {},
                   std::string_view extra_value = {}) {
  if (labels.empty() && extra_name.empty()) return;
  out += '{';
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (!first) out += ',';
    first = false;
    out += name;
    out += "=\"";
    append_escaped(out, value, true);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!first) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
}

}  // namespace

void Gauge::add(double d) { value_.fetch_add(d, std::memory_order_relaxed); }

void FloatCounter::add(double d) {
  if (d > 0) value_.fetch_add(d, std::memory_order_relaxed);
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    if (!std::isfinite(bounds_[i]) || (i > 0 && bounds_[i] <= bounds_[i - 1])) {
      throw std::invalid_argument("histogram bounds must be finite and strictly increasing");
    }
  }
}

void Histogram::observe(double v) {
  // Bucket i counts observations v <= bounds_[i] that are above the previous bound; the last
  // slot is +Inf (also where NaN lands, so it is still counted).
  const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);
  const auto i = static_cast<std::size_t>(it - bounds_.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  if (!std::isnan(v)) sum_.fetch_add(v, std::memory_order_relaxed);
}

struct Registry::Impl {
  struct Series {
    Labels labels;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<FloatCounter> float_counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
  };
  struct Family {
    std::string name;
    std::string help;
    Type type = Type::Counter;
    std::vector<Series> series;
  };

  mutable std::mutex mutex;
  std::vector<std::unique_ptr<Family>> families;  // in registration order

  // Returns the series, creating the family and the series as needed. Called with the lock held.
  Series& find_or_add(std::string_view name, std::string_view help, Type type, const Labels& labels) {
    if (!valid_name(name, true)) {
      throw std::invalid_argument("invalid metric name \"" + std::string(name) + "\"");
    }
    for (const auto& [label, value] : labels) {
      if (!valid_name(label, false) || label.starts_with("__") || label == "le") {
        throw std::invalid_argument("invalid label name \"" + label + "\" on " + std::string(name));
      }
    }
    auto fit = std::find_if(families.begin(), families.end(),
                            [&](const auto& f) { return f->name == name; });
    if (fit == families.end()) {
      auto family = std::make_unique<Family>();
      family->name = std::string(name);
      family->help = std::string(help);
      family->type = type;
      families.push_back(std::move(family));
      fit = families.end() - 1;
    } else if ((*fit)->type != type) {
      throw std::logic_error("metric " + std::string(name) + " registered as " +
                             std::string(type_name((*fit)->type)) + " and as " +
                             std::string(type_name(type)));
    }
    auto& series = (*fit)->series;
    auto sit = std::find_if(series.begin(), series.end(),
                            [&](const Series& s) { return s.labels == labels; });
    if (sit != series.end()) return *sit;
    series.push_back(Series{labels, nullptr, nullptr, nullptr, nullptr});
    return series.back();
  }
};

Registry::Registry() : impl_(std::make_unique<Impl>()) {}
Registry::~Registry() = default;

Counter& Registry::counter(std::string_view name, std::string_view help, const Labels& labels) {
  std::lock_guard lock(impl_->mutex);
  auto& s = impl_->find_or_add(name, help, Type::Counter, labels);
  if (!s.counter) s.counter = std::make_unique<Counter>();
  return *s.counter;
}

FloatCounter& Registry::float_counter(std::string_view name, std::string_view help, const Labels& labels) {
  std::lock_guard lock(impl_->mutex);
  auto& s = impl_->find_or_add(name, help, Type::Counter, labels);
  if (!s.float_counter) s.float_counter = std::make_unique<FloatCounter>();
  return *s.float_counter;
}

Gauge& Registry::gauge(std::string_view name, std::string_view help, const Labels& labels) {
  std::lock_guard lock(impl_->mutex);
  auto& s = impl_->find_or_add(name, help, Type::Gauge, labels);
  if (!s.gauge) s.gauge = std::make_unique<Gauge>();
  return *s.gauge;
}

Histogram& Registry::histogram(std::string_view name, std::string_view help,
                               std::vector<double> bounds, const Labels& labels) {
  std::lock_guard lock(impl_->mutex);
  auto& s = impl_->find_or_add(name, help, Type::Histogram, labels);
  if (!s.histogram) s.histogram = std::make_unique<Histogram>(std::move(bounds));
  return *s.histogram;
}

std::string Registry::render() const {
  std::lock_guard lock(impl_->mutex);
  std::string out;
  out.reserve(4096);
  for (const auto& family : impl_->families) {
    out += "# HELP ";
    out += family->name;
    out += ' ';
    append_escaped(out, family->help, false);
    out += "\n# TYPE ";
    out += family->name;
    out += ' ';
    out += type_name(family->type);
    out += '\n';
    for (const auto& s : family->series) {
      if (s.counter) {
        out += family->name;
        append_labels(out, s.labels);
        out += ' ';
        append_number(out, s.counter->value());
        out += '\n';
      } else if (s.gauge || s.float_counter) {
        out += family->name;
        append_labels(out, s.labels);
        out += ' ';
        append_number(out, s.gauge ? s.gauge->value() : s.float_counter->value());
        out += '\n';
      } else if (s.histogram) {
        const Histogram& h = *s.histogram;
        // Buckets are read once each and summed here, so +Inf always equals _count even
        // while other threads observe.
        std::uint64_t cumulative = 0;
        std::string le;
        for (std::size_t i = 0; i <= h.bounds().size(); ++i) {
          cumulative += h.bucket(i);
          le.clear();
          if (i < h.bounds().size()) {
            append_number(le, h.bounds()[i]);
          } else {
            le = "+Inf";
          }
          out += family->name;
          out += "_bucket";
          append_labels(out, s.labels, "le", le);
          out += ' ';
          append_number(out, cumulative);
          out += '\n';
        }
        out += family->name;
        out += "_sum";
        append_labels(out, s.labels);
        out += ' ';
        append_number(out, h.sum());
        out += '\n';
        out += family->name;
        out += "_count";
        append_labels(out, s.labels);
        out += ' ';
        append_number(out, cumulative);
        out += '\n';
      }
    }
  }
  return out;
}

std::vector<double> latency_buckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0};
}

}  // namespace avw::metrics
