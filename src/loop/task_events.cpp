// Events on an AirflowTask (see task_events.hpp).
#include "task_events.hpp"

#include "avw/core/json_writer.hpp"
#include "avw/core/objects.hpp"
#include "avw/kube/url.hpp"
#include "avw/provision/objects.hpp"

namespace avw::loop {
namespace {

constexpr std::size_t kMaxNote = 1024;

void member(std::string& out, std::string_view name, std::string_view value) {
  core::append_json_string(out, name);
  out += ':';
  core::append_json_string(out, value);
}

std::string bounded_note(std::string note) {
  if (note.size() <= kMaxNote) return note;
  std::size_t cut = kMaxNote - 3;
  while (cut > 0 && (static_cast<unsigned char>(note[cut]) & 0xC0) == 0x80) --cut;
  note.resize(cut);
  return note + "...";
}

}  // namespace

std::string event_json(const TaskEvent& e) {
  std::string time = core::format_rfc3339(e.event_time);
  time.insert(time.size() - 1, ".000000");  // MicroTime: six fraction digits
  std::string out = R"({"apiVersion":"events.k8s.io/v1","kind":"Event","metadata":{)";
  // The task name leaves room for the server's five random characters within 253.
  member(out, "generateName", e.task_name.substr(0, 200) + "-");
  out += ',';
  member(out, "namespace", e.namespace_);
  out += "},";
  member(out, "eventTime", time);
  out += ',';
  member(out, "reportingController", kReportingController);
  out += ',';
  member(out, "reportingInstance", e.instance.substr(0, 128));
  out += ',';
  member(out, "action", e.action);
  out += ',';
  member(out, "reason", e.reason);
  out += ',';
  member(out, "type", e.type);
  out += ',';
  member(out, "note", bounded_note(e.note));
  out += R"(,"regarding":{)";
  member(out, "apiVersion", provision::kTaskApiVersion);
  out += ',';
  member(out, "kind", provision::kTaskKind);
  out += ',';
  member(out, "namespace", e.namespace_);
  out += ',';
  member(out, "name", e.task_name);
  out += ',';
  member(out, "uid", e.task_uid);
  out += ',';
  member(out, "resourceVersion", e.task_resource_version);
  out += "}}";
  return out;
}

boost::asio::awaitable<kube::Response> post_event(kube::Client& client, const TaskEvent& event) {
  co_return co_await client.request(kube::Request(
      "POST", "/apis/events.k8s.io/v1/namespaces/" + kube::url_encode(event.namespace_) + "/events",
      event_json(event)));
}

}  // namespace avw::loop
