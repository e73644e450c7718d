#include "avw/core/reason.hpp"

#include <array>

namespace avw::core {
namespace {

struct Wording {
  std::string_view code;
  std::string_view phrase;
};

// Indexed by Reason; the static_assert below keeps it in step with the enum.
constexpr std::array<Wording, kReasonCount> kWordings = {{
    {"internal-error", "internal error, pod allowed unchanged"},
    {"not-create", "operation {} is not a CREATE"},
    {"not-pod", "not a v1 Pod"},
    {"mirror-pod", "mirror pod"},
    {"opted-out", "opted out by annotation {}"},
    {"not-task-pod", "not an Airflow task pod (no {} labels)"},
    {"no-vpa", "no VPA governs task {}"},
    {"no-recommendation", "VPA {} has no recommendation yet"},
    {"already-match", "requests already match VPA {}"},
    {"left-as-asked", "VPA {} changes nothing: {}"},
    {"changed", "VPA {}: {}"},
    {"not-in-recommendation", "not in the recommendation"},
    {"not-controlled", "not in the VPA's controlledResources"},
    {"policy-off", "left alone: container policy mode Off"},
    {"invalid-quantity", "left alone: its resources hold an invalid quantity"},
    {"history-gate", "held back by the history gate: {}"},
    {"equal", "already as recommended"},
    {"request-above-limit", "its request is above its limit"},
    {"zero-recommendation", "the recommendation is zero"},
    {"limit-does-not-fit", "the scaled limit does not fit"},
    {"no-limitrange-fit", "no value satisfies the LimitRange"},
    {"pod-limitrange", "the new total would break the pod LimitRange"},
    {"retry-kept", "kept at the pod's request on retry {}"},
    {"retry-raised", "raised for retry {}"},
    {"max-decrease", "limited by max-decrease {}"},
    {"max-increase", "limited by max-increase {}"},
    {"oom-floor", "raised to the OOM floor {} (OOMKilled with {} on try {} at {})"},
    {"oom-limit-floor", "limit raised to the OOM floor {} (OOMKilled with {} on try {} at {})"},
    {"min-allowed", "raised to minAllowed {}"},
    {"max-allowed", "capped to maxAllowed {}"},
    {"webhook-min", "raised to the webhook minimum {}"},
    {"webhook-max", "capped to the webhook maximum {}"},
    {"container-limit", "capped to the container limit {}"},
    {"limitrange-min", "raised to fit the LimitRange min {}"},
    {"limitrange-max", "capped to fit the LimitRange max {}"},
}};
static_assert(kWordings.back().code == "limitrange-max", "kWordings follows the order of Reason");

const Wording& wording(Reason r) {
  const auto i = static_cast<std::size_t>(r);
  return kWordings[i < kWordings.size() ? i : 0];
}

}  // namespace

std::string_view to_string(Reason r) { return wording(r).code; }

std::string_view phrase(Reason r) { return wording(r).phrase; }

std::string say(Reason r, std::initializer_list<std::string_view> parts) {
  std::string_view rest = phrase(r);
  std::size_t size = rest.size();
  for (std::string_view p : parts) size += p.size();
  std::string out;
  out.reserve(size);
  const std::string_view* part = parts.begin();
  for (std::size_t slot = rest.find("{}"); slot != std::string_view::npos; slot = rest.find("{}")) {
    out += rest.substr(0, slot);
    if (part != parts.end()) out += *part++;
    rest.remove_prefix(slot + 2);
  }
  out += rest;
  return out;
}

void append_notes(std::string& out, const std::vector<Note>& notes, std::string_view separator) {
  for (std::size_t i = 0; i < notes.size(); ++i) {
    if (i != 0) out += separator;
    out += notes[i].text;
  }
}

}  // namespace avw::core
