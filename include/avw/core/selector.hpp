// File: selector.hpp
//
// Label sets and Kubernetes label selectors with their full semantics:
// the string form parsed by apimachinery's labels.Parse (`a=b,c==d,e!=f,g in (x,y),
// h notin (z),i,!j`) and the structured metav1.LabelSelector (matchLabels plus
// matchExpressions with In, NotIn, Exists, DoesNotExist).
//
// LabelSet holds views: the strings belong to whoever filled it (a decoded
// AdmissionReview), so matching a pod allocates nothing beyond the set's vector.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace avw::core {

/// A pod's labels (or annotations): key/value views, looked up by key.
class LabelSet {
 public:
  struct Entry {
    std::string_view key;
    std::string_view value;
  };

  LabelSet() = default;
  LabelSet(std::initializer_list<Entry> entries) : entries_(entries) {}

  void reserve(std::size_t n) { entries_.reserve(n); }
  /// Adds or replaces a key. The views must outlive the set.
  void set(std::string_view key, std::string_view value);
  std::optional<std::string_view> get(std::string_view key) const;
  bool contains(std::string_view key) const { return get(key).has_value(); }
  bool empty() const { return entries_.empty(); }
  std::size_t size() const { return entries_.size(); }
  const std::vector<Entry>& entries() const { return entries_; }

 private:
  std::vector<Entry> entries_;
};

/// One requirement of a selector. Values are owned (selectors live in the store).
struct Requirement {
  enum class Operator { Equals, NotEquals, In, NotIn, Exists, DoesNotExist };
  std::string key;
  Operator op = Operator::Exists;
  std::vector<std::string> values;  // sorted, deduplicated; one value for Equals/NotEquals

  bool matches(const LabelSet& labels) const;
  friend bool operator==(const Requirement&, const Requirement&) = default;
};

/// A conjunction of requirements. The empty selector matches everything (as in Kubernetes);
/// a selector that can match nothing is represented by `Selector::nothing()`.
class Selector {
 public:
  Selector() = default;
  explicit Selector(std::vector<Requirement> requirements);

  /// Parses the string form. On failure returns nullopt and a one-line reason in `error`.
  static std::optional<Selector> parse(std::string_view text, std::string* error = nullptr);

  /// Builds from a structured LabelSelector: matchLabels become Equals requirements,
  /// matchExpressions their operators. `error` explains an invalid expression (e.g. `In`
  /// with no values, `Exists` with values, an unknown operator).
  struct MatchExpression {
    std::string key;
    std::string op;  // "In", "NotIn", "Exists", "DoesNotExist"
    std::vector<std::string> values;
  };
  static std::optional<Selector> from_structured(
      const std::vector<std::pair<std::string, std::string>>& match_labels,
      const std::vector<MatchExpression>& match_expressions, std::string* error = nullptr);

  static Selector nothing();

  bool matches(const LabelSet& labels) const;
  bool empty() const { return requirements_.empty() && !nothing_; }
  bool is_nothing() const { return nothing_; }

  /// Requirements sorted by key (then operator), as labels.Parse returns them.
  const std::vector<Requirement>& requirements() const { return requirements_; }

  /// The value of an `key=value` (or `key==value`, or `key in (value)`) requirement on `key`,
  /// if the selector has exactly one such value. Used by the store's index.
  std::optional<std::string_view> equality_value(std::string_view key) const;

  /// Canonical string form (`dag_id=etl,task_id=load,!kubernetes_executor`).
  std::string to_string() const;

  friend bool operator==(const Selector&, const Selector&) = default;

 private:
  std::vector<Requirement> requirements_;
  bool nothing_ = false;
};

/// True when `value` is a valid label value (empty, or <=63 chars of [A-Za-z0-9_.-]
/// starting and ending alphanumeric).
bool is_valid_label_value(std::string_view value);
/// True when `key` is a valid qualified label key (`[prefix/]name`).
bool is_valid_label_key(std::string_view key);

}  // namespace avw::core
