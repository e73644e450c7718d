#include "avw/core/gates.hpp"

#include <array>
#include <charconv>
#include <limits>

namespace avw::core {
namespace {

constexpr std::int64_t kMaxSeconds = std::int64_t{10} * 365 * 24 * 3600;  // ten years is "forever"

std::optional<std::int64_t> parse_count(std::string_view text) {
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0) return std::nullopt;
  return value;
}

void apply(Gates& gates, const LabelSet& annotations, std::string_view prefix, std::string_view source,
           std::vector<std::string>& problems) {
  std::string key(prefix);
  const std::size_t base = key.size();
  auto lookup = [&](std::string_view name) {
    key.resize(base);
    key += name;
    return annotations.get(key);
  };
  auto problem = [&](std::string_view value, std::string_view expected) {
    problems.push_back(std::string(source) + " annotation " + key + "=" + std::string(value.substr(0, 64)) +
                       " ignored: expected " + std::string(expected));
  };

  if (auto v = lookup("min-history")) {
    if (auto s = parse_duration_seconds(*v)) gates.min_history_seconds = *s;
    else problem(*v, "a duration such as 48h");
  }
  if (auto v = lookup("min-samples")) {
    if (auto n = parse_count(*v)) gates.min_samples = *n;
    else problem(*v, "a whole number");
  }
  if (auto v = lookup("retry-memory-factor")) {
    auto f = Quantity::parse(*v);
    if (f && f->format() == Quantity::Format::DecimalSI && *f >= Quantity::from_units(1) &&
        *f <= Quantity::from_units(16)) {
      gates.retry_memory_factor = *f;
    } else {
      problem(*v, "a number from 1 to 16");
    }
  }
  for (Resource r : kResources) {
    for (const bool decrease : {true, false}) {
      std::string name = decrease ? "max-decrease-" : "max-increase-";
      name += to_string(r);
      auto v = lookup(name);
      if (!v) continue;
      ResourceValues& target = decrease ? gates.max_decrease : gates.max_increase;
      if (*v == "off") {
        target[r].reset();
      } else if (auto f = parse_fraction(*v); f && (!decrease || *f <= Quantity::from_units(1))) {
        target[r] = *f;
      } else {
        problem(*v, decrease ? "a fraction from 0% to 100%, or off" : "a fraction such as 50%, or off");
      }
    }
  }
}

}  // namespace

std::string_view to_string(Gate g) {
  switch (g) {
    case Gate::Retry: return "retry";
    case Gate::Step: return "step";
    case Gate::Oom: return "oom";
    case Gate::History: break;
  }
  return "history";
}

std::optional<std::int64_t> parse_duration_seconds(std::string_view text) {
  if (text == "0") return 0;
  if (text.empty()) return std::nullopt;
  std::int64_t total = 0;
  while (!text.empty()) {
    std::size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    if (digits == 0 || digits == text.size() || digits > 9) return std::nullopt;
    const auto number = parse_count(text.substr(0, digits));
    std::int64_t unit = 0;
    switch (text[digits]) {
      case 'd': unit = 24 * 3600; break;
      case 'h': unit = 3600; break;
      case 'm': unit = 60; break;
      case 's': unit = 1; break;
      default: return std::nullopt;
    }
    total += *number * unit;
    if (total > kMaxSeconds) return std::nullopt;
    text.remove_prefix(digits + 1);
  }
  return total;
}

std::optional<Quantity> parse_fraction(std::string_view text) {
  const bool percent = !text.empty() && text.back() == '%';
  if (percent) text.remove_suffix(1);
  auto q = Quantity::parse(text);
  // Only plain decimal numbers: `1k` or `1Mi` as a fraction is a typo, not a policy.
  if (!q || q->is_negative() || q->format() != Quantity::Format::DecimalSI) return std::nullopt;
  for (char c : text) {
    if ((c < '0' || c > '9') && c != '.') return std::nullopt;
  }
  if (percent) return q->scaled(Quantity::from_units(1), Quantity::from_units(100), 1);
  return q;
}

Gates gates_for(const Gates& defaults, const LabelSet* namespace_annotations, const LabelSet& pod_annotations,
                std::string_view prefix, std::vector<std::string>& problems) {
  Gates gates = defaults;
  if (namespace_annotations != nullptr) apply(gates, *namespace_annotations, prefix, "namespace", problems);
  apply(gates, pod_annotations, prefix, "pod", problems);
  return gates;
}

}  // namespace avw::core
