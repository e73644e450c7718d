// Fuzzes core::Selector: parse, to_string, matches, equality_value and from_structured.
//
// Input: the first line is a selector in string form; each further line is a label `key=value`
// (or `key`, with an empty value) of the pod it is matched against. Checked for every input:
//   - a parse failure explains itself on one line;
//   - a parsed selector is normalized (requirements sorted, values sorted and unique, arity
//     right for the operator), prints canonically, and the text parses back to an equal
//     selector that prints the same (the store indexes and logs that text);
//   - matches() is the conjunction of the requirements, and the re-parsed selector agrees;
//   - equality_value(key) is a promise: every pod it matches has that value for the key;
//   - the same requirements given as a structured LabelSelector match the same pods.
#include <algorithm>
#include <optional>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "avw/core/selector.hpp"
#include "fuzz_support.hpp"

using avw::core::LabelSet;
using avw::core::Requirement;
using avw::core::Selector;
using avw::fuzz::fuzz_require;

namespace {

void check_normalized(const Selector& s, std::string_view text) {
  const auto& reqs = s.requirements();
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    const Requirement& r = reqs[i];
    fuzz_require(std::is_sorted(r.values.begin(), r.values.end()) &&
                     std::adjacent_find(r.values.begin(), r.values.end()) == r.values.end(),
                 "requirement values are not sorted and unique", text);
    switch (r.op) {
      case Requirement::Operator::Equals:
      case Requirement::Operator::NotEquals:
        fuzz_require(r.values.size() == 1, "an equality requirement needs exactly one value", text);
        break;
      case Requirement::Operator::In:
      case Requirement::Operator::NotIn:
        fuzz_require(!r.values.empty(), "a set requirement needs values", text);
        break;
      case Requirement::Operator::Exists:
      case Requirement::Operator::DoesNotExist:
        fuzz_require(r.values.empty(), "an existence requirement has values", text);
        break;
    }
    if (i > 0) fuzz_require(reqs[i - 1].key <= r.key, "requirements are not sorted by key", text);
  }
}

// The requirements as a structured LabelSelector, all as matchExpressions (`=` is `In` with one
// value and `!=` is `NotIn` with one value: same semantics).
std::optional<Selector> as_structured(const Selector& s) {
  std::vector<Selector::MatchExpression> expressions;
  for (const Requirement& r : s.requirements()) {
    Selector::MatchExpression e{r.key, {}, r.values};
    switch (r.op) {
      case Requirement::Operator::Equals:
      case Requirement::Operator::In: e.op = "In"; break;
      case Requirement::Operator::NotEquals:
      case Requirement::Operator::NotIn: e.op = "NotIn"; break;
      case Requirement::Operator::Exists: e.op = "Exists"; break;
      case Requirement::Operator::DoesNotExist: e.op = "DoesNotExist"; break;
    }
    expressions.push_back(std::move(e));
  }
  std::string error;
  auto out = Selector::from_structured({}, expressions, &error);
  if (!out) fuzz_require(!error.empty(), "from_structured failed without a reason");
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = avw::fuzz::as_view(data, size);
  const std::size_t first_nl = input.find('\n');
  const std::string_view text = input.substr(0, first_nl);

  // The pod's labels: views into the input, which outlives the set.
  LabelSet labels;
  if (first_nl != std::string_view::npos) {
    std::string_view rest = input.substr(first_nl + 1);
    while (!rest.empty()) {
      const std::size_t nl = rest.find('\n');
      const std::string_view line = rest.substr(0, nl);
      rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
      const std::size_t eq = line.find('=');
      const std::string_view key = line.substr(0, eq);
      const std::string_view value = eq == std::string_view::npos ? std::string_view{} : line.substr(eq + 1);
      labels.set(key, value);
      (void)avw::core::is_valid_label_key(key);
      (void)avw::core::is_valid_label_value(value);
      fuzz_require(labels.get(key) == value, "LabelSet::set did not store the value", line);
    }
  }

  std::string error;
  const auto selector = Selector::parse(text, &error);
  if (!selector) {
    fuzz_require(!error.empty(), "parse failed without a reason", text);
    fuzz_require(error.find('\n') == std::string::npos && error.find('\r') == std::string::npos,
                 "parse error spans lines", error);
    return 0;
  }
  check_normalized(*selector, text);

  const bool matched = selector->matches(labels);
  if (selector->is_nothing()) {
    fuzz_require(!matched, "the nothing selector matched", text);
    return 0;
  }
  bool all = true;
  for (const Requirement& r : selector->requirements()) all = all && r.matches(labels);
  fuzz_require(matched == all, "matches() is not the conjunction of the requirements", text);
  fuzz_require(selector->empty() == selector->requirements().empty(), "empty() disagrees with requirements()", text);

  const std::string canonical = selector->to_string();
  std::string reparse_error;
  const auto again = Selector::parse(canonical, &reparse_error);
  fuzz_require(again.has_value(), "canonical text does not parse", canonical + " <- " + reparse_error);
  fuzz_require(*again == *selector, "canonical text parses to another selector", canonical);
  fuzz_require(again->to_string() == canonical, "canonical text is not a fixed point", canonical);
  fuzz_require(again->matches(labels) == matched, "the re-parsed selector matches differently", canonical);

  for (const Requirement& r : selector->requirements()) {
    if (const auto value = selector->equality_value(r.key); value && matched) {
      fuzz_require(labels.get(r.key) == *value, "equality_value promised a value the matched pod lacks", canonical);
    }
  }

  if (const auto structured = as_structured(*selector)) {
    fuzz_require(structured->matches(labels) == matched, "the structured form matches differently", canonical);
  }
  return 0;
}
