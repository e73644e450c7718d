#include "avw/core/task.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <initializer_list>
#include <utility>
#include <vector>

namespace avw::core {

namespace {

constexpr std::string_view kTrue = "True";
constexpr std::size_t kHashSuffixLength = 9;                   // "-" and 8 hex digits
constexpr std::size_t kMinNameLength = kHashSuffixLength + 1;  // one readable character
constexpr std::size_t kMaxNameLength = 63;                     // a DNS-1123 label

// The part of the object name (and of its hash) that tells the launchers apart. These strings
// are baked into the names of objects already in clusters: never change them.
std::string_view name_tag(Launcher l) {
  switch (l) {
    case Launcher::PodOperator: return "kpo";
    case Launcher::Executor: return "exec";
    case Launcher::Other: return "pod";
  }
  return "pod";
}

// 32-bit FNV-1a: tiny, stable across platforms and releases, and good enough to tell apart
// ids that sanitize or truncate to the same text (a collision needs both ids to be chosen).
class Fnv1a {
 public:
  void add(std::string_view s) {
    for (const char c : s) {
      hash_ ^= static_cast<unsigned char>(c);
      hash_ *= 16777619u;
    }
  }
  std::uint32_t value() const { return hash_; }

 private:
  std::uint32_t hash_ = 2166136261u;
};

// Lowercase alphanumerics kept; every run of anything else becomes one '-'; no leading '-'.
void append_sanitized(std::string& out, std::string_view text) {
  for (const char c : text) {
    if (c >= 'A' && c <= 'Z') {
      out += static_cast<char>(c - 'A' + 'a');
    } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      out += c;
    } else if (!out.empty() && out.back() != '-') {
      out += '-';
    }
  }
}

// A task label must be a usable label value: mutating webhooks run before the API server
// validates the pod, so `dag_id: "a,b"` could reach us and would corrupt the selector text.
std::optional<std::string_view> id_label(const LabelSet& labels, const std::string& key) {
  auto value = labels.get(key);
  if (!value || value->empty() || !is_valid_label_value(*value)) return std::nullopt;
  return value;
}

}  // namespace

std::string_view to_string(Launcher l) {
  switch (l) {
    case Launcher::PodOperator: return "PodOperator";
    case Launcher::Executor: return "Executor";
    case Launcher::Other: return "Other";
  }
  return "Other";
}

std::optional<TaskKey> task_key_of(const LabelSet& labels, std::string_view namespace_,
                                   const TaskLabelKeys& keys) {
  const auto dag_id = id_label(labels, keys.dag_id);
  const auto task_id = id_label(labels, keys.task_id);
  if (!dag_id || !task_id) return std::nullopt;

  const auto pod_operator = labels.get(keys.pod_operator);
  const auto executor = labels.get(keys.executor);
  // Anything but "True" is a spelling we do not know the meaning of; guessing could mix the
  // usage of two different pods, so such a pod is left alone.
  if ((pod_operator && *pod_operator != kTrue) || (executor && *executor != kTrue)) return std::nullopt;
  if (pod_operator && executor) return std::nullopt;

  const Launcher launcher = pod_operator ? Launcher::PodOperator
                            : executor   ? Launcher::Executor
                                         : Launcher::Other;
  return TaskKey{namespace_, *dag_id, *task_id, launcher};
}

Selector task_selector(const TaskKey& key, const TaskLabelKeys& keys) {
  using Op = Requirement::Operator;
  std::vector<Requirement> requirements;
  requirements.push_back({keys.dag_id, Op::Equals, {std::string(key.dag_id)}});
  requirements.push_back({keys.task_id, Op::Equals, {std::string(key.task_id)}});
  switch (key.launcher) {
    case Launcher::PodOperator:
      requirements.push_back({keys.pod_operator, Op::Equals, {std::string(kTrue)}});
      break;
    case Launcher::Executor:
      requirements.push_back({keys.executor, Op::Equals, {std::string(kTrue)}});
      break;
    case Launcher::Other:
      requirements.push_back({keys.pod_operator, Op::DoesNotExist, {}});
      requirements.push_back({keys.executor, Op::DoesNotExist, {}});
      break;
  }
  return Selector(std::move(requirements));
}

std::string task_object_name(const TaskKey& key, std::size_t max_length) {
  // Below 10 there is no room for a readable start plus the hash; above 63 the name would no
  // longer be a DNS-1123 label.
  max_length = std::clamp(max_length, kMinNameLength, kMaxNameLength);
  const std::string_view tag = name_tag(key.launcher);

  std::string name;
  name.reserve(key.dag_id.size() + key.task_id.size() + tag.size() + kHashSuffixLength + 2);
  for (const std::string_view part : {key.dag_id, key.task_id, tag}) {
    append_sanitized(name, part);
    append_sanitized(name, "-");  // a separator that merges with a run the part ended with
  }
  if (name.size() > max_length - kHashSuffixLength) name.resize(max_length - kHashSuffixLength);
  while (!name.empty() && name.back() == '-') name.pop_back();

  // The hash covers the exact ids, not the sanitized text, so `etl_daily` and `etl.daily`, or
  // two long ids that truncate alike, still get different names. '\n' cannot occur in a label
  // value, so the concatenation is unambiguous. The namespace is not hashed: the objects are
  // namespaced.
  Fnv1a hash;
  hash.add(key.dag_id);
  hash.add("\n");
  hash.add(key.task_id);
  hash.add("\n");
  hash.add(tag);
  static constexpr char kHex[] = "0123456789abcdef";
  name += '-';
  for (int shift = 28; shift >= 0; shift -= 4) name += kHex[(hash.value() >> shift) & 0xfu];
  return name;
}

std::optional<std::int64_t> try_number_of(const LabelSet& labels, const TaskLabelKeys& keys) {
  const auto text = labels.get(keys.try_number);
  // from_chars would accept a leading '-'; a try number is a plain non-negative decimal.
  if (!text || text->empty() || text->front() < '0' || text->front() > '9') return std::nullopt;
  std::int64_t value = 0;
  const char* end = text->data() + text->size();
  const auto [ptr, ec] = std::from_chars(text->data(), end, value);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

}  // namespace avw::core
