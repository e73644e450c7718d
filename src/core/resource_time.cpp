// Resource-time of a finished task pod (see resource_time.hpp).
#include "avw/core/resource_time.hpp"

#include <algorithm>

namespace avw::core {
namespace {

ResourceValues* find_container(PodRequests& requests, std::string_view name) {
  auto it = std::find_if(requests.begin(), requests.end(), [name](const auto& c) { return c.first == name; });
  return it == requests.end() ? nullptr : &it->second;
}

// The next token of `text` from `pos`, up to a space, a comma, a semicolon or the end.
std::string_view token(std::string_view text, std::size_t& pos) {
  const std::size_t end = std::min(text.find_first_of(" ,;", pos), text.size());
  const std::string_view t = text.substr(pos, end - pos);
  pos = end;
  return t;
}

bool consume(std::string_view text, std::size_t& pos, std::string_view expected) {
  if (text.substr(pos, expected.size()) != expected) return false;
  pos += expected.size();
  return true;
}

}  // namespace

PodRequests requests_of(const TaskPod& pod) {
  PodRequests out;
  out.reserve(pod.containers.size());
  for (const TaskPodContainer& c : pod.containers) out.emplace_back(c.name, c.requests);
  return out;
}

PodRequests requests_before_patch(const TaskPod& pod, std::string_view summary) {
  PodRequests out = requests_of(pod);
  // `base: cpu request 500m -> 250m, memory request 1Gi -> 600Mi (capped to maxAllowed);
  // airflow-xcom-sidecar: ...`: a container's part starts at its name and ": ", its requests'
  // changes at "<resource> request ". Notes in parentheses never hold "; " or ": <resource>".
  std::size_t start = 0;
  while (start < summary.size()) {
    std::size_t end = summary.find("; ", start);
    if (end == std::string_view::npos) end = summary.size();
    const std::string_view part = summary.substr(start, end - start);
    start = end + 2;
    const std::size_t colon = part.find(": ");
    if (colon == std::string_view::npos) continue;
    ResourceValues* requests = find_container(out, part.substr(0, colon));
    if (requests == nullptr) continue;
    for (Resource r : kResources) {
      const std::string lead = std::string(to_string(r)) + " request ";
      for (std::size_t at = part.find(lead, colon); at != std::string_view::npos; at = part.find(lead, at + 1)) {
        // Only an item's start: right after "name: " or ", ".
        if (at != colon + 2 && (at < 2 || part.substr(at - 2, 2) != ", ")) continue;
        std::size_t pos = at + lead.size();
        const std::string_view old_text = token(part, pos);
        if (!consume(part, pos, " -> ")) continue;
        if (old_text == "unset") {
          (*requests)[r].reset();
        } else if (auto q = Quantity::parse(old_text)) {
          (*requests)[r] = *q;
        }
        break;
      }
    }
  }
  return out;
}

PodRequests requests_after(const TaskPod& pod, const Decision& decision) {
  PodRequests out = requests_of(pod);
  for (const ContainerPlan& plan : decision.containers) {
    ResourceValues* requests = find_container(out, plan.name);
    if (requests == nullptr) continue;
    for (const ResourceChange& change : plan.changes) {
      if (change.new_request) (*requests)[change.resource] = change.new_request;
    }
  }
  return out;
}

ResourceSeconds resource_seconds(const PodRequests& requests, std::int64_t run_seconds) {
  ResourceSeconds out;
  const auto seconds = static_cast<double>(run_seconds);
  for (const auto& [name, values] : requests) {
    if (const auto& cpu = values[Resource::Cpu]) {
      out.cpu_core_seconds += static_cast<double>(cpu->nanos()) / static_cast<double>(kNanosPerUnit) * seconds;
    }
    if (const auto& memory = values[Resource::Memory]) {
      out.memory_byte_seconds += static_cast<double>(memory->nanos()) / static_cast<double>(kNanosPerUnit) * seconds;
    }
  }
  return out;
}

AdmissionRequest creation_request_of(const TaskPod& pod) {
  AdmissionRequest request;
  request.namespace_ = pod.namespace_;
  request.operation = "CREATE";
  request.has_pod = true;
  request.pod.name = pod.name;
  request.pod.namespace_ = pod.namespace_;
  request.pod.labels = pod.label_set();
  request.pod.annotations = pod.annotation_set();
  request.pod.has_annotations = !pod.annotations.empty();
  for (const TaskPodContainer& c : pod.containers) {
    PodContainer container;
    container.name = c.name;
    container.requests = c.requests;
    container.limits = c.limits;
    container.has_requests = c.requests[Resource::Cpu] || c.requests[Resource::Memory];
    container.has_limits = c.limits[Resource::Cpu] || c.limits[Resource::Memory];
    container.has_resources = container.has_requests || container.has_limits;
    request.pod.containers.push_back(container);
  }
  return request;
}

}  // namespace avw::core
