#include "avw/provision/objects.hpp"

#include "avw/core/objects.hpp"
#include "avw/kube/url.hpp"

#include <cstdio>
#include <cstdint>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace avw::provision {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

// Writes a string with its length: label values are label-safe, but names and uids come from
// the API server, and the writer escapes whatever it is given.
void put(Writer& w, std::string_view s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()), true); }

void put(Writer& w, std::string_view key, std::string_view value) {
  put(w, key);
  put(w, value);
}

std::string text_of(const rapidjson::StringBuffer& buffer) { return std::string(buffer.GetString(), buffer.GetSize()); }

void put_metadata(Writer& w, const core::TaskKey& key, const std::string& name) {
  put(w, "metadata");
  w.StartObject();
  put(w, "name", name);
  put(w, "namespace", key.namespace_);
  put(w, "labels");
  w.StartObject();
  put(w, kManagedByLabel, kManagedByValue);
  w.EndObject();
}

// spec.recommenders naming one recommender: [{"name": recommender}].
void put_recommenders(Writer& w, std::string_view recommender) {
  w.StartArray();
  w.StartObject();
  put(w, "name", recommender);
  w.EndObject();
  w.EndArray();
}

// One page of the cluster-wide list at `collection` of the objects the provisioner made.
std::string managed_list_path(std::string_view collection, std::size_t limit, std::string_view continue_token) {
  std::string path = std::string(collection) + "?labelSelector=" +
                     url_encode(std::string(kManagedByLabel) + "=" + std::string(kManagedByValue)) +
                     "&limit=" + std::to_string(limit);
  if (!continue_token.empty()) path += "&continue=" + url_encode(continue_token);
  return path;
}

std::string_view string_member(const rapidjson::Value& object, const char* name) {
  if (!object.IsObject()) return {};
  const auto it = object.FindMember(name);
  if (it == object.MemberEnd() || !it->value.IsString()) return {};
  return {it->value.GetString(), it->value.GetStringLength()};
}

const rapidjson::Value* object_member(const rapidjson::Value& object, const char* name) {
  if (!object.IsObject()) return nullptr;
  const auto it = object.FindMember(name);
  if (it == object.MemberEnd() || !it->value.IsObject()) return nullptr;
  return &it->value;
}

bool parse_document(rapidjson::Document& doc, std::string_view body) {
  doc.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
  return !doc.HasParseError() && doc.IsObject();
}

// Reads exactly `width` digits at `pos`.
std::optional<int> digits(std::string_view text, std::size_t pos, std::size_t width) {
  if (pos + width > text.size()) return std::nullopt;
  int value = 0;
  for (std::size_t i = pos; i < pos + width; ++i) {
    const char c = text[i];
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return value;
}

// A list page: its continue token, and each of its items handed to `read_item(item, page)`.
// nullopt and the reason in `error` when the body is not a list.
template <class Page, class ReadItem>
std::optional<Page> parse_list_page(std::string_view body, std::string* error, ReadItem read_item) {
  auto fail = [error](std::string why) -> std::optional<Page> {
    if (error != nullptr) *error = std::move(why);
    return std::nullopt;
  };
  rapidjson::Document doc;
  if (!parse_document(doc, body)) return fail("not a JSON object");
  const auto items = doc.FindMember("items");
  if (items == doc.MemberEnd() || !(items->value.IsArray() || items->value.IsNull())) {
    return fail("no items array");
  }
  Page page;
  if (const rapidjson::Value* meta = object_member(doc, "metadata")) {
    page.continue_token = std::string(string_member(*meta, "continue"));
  }
  if (items->value.IsNull()) return page;
  for (const auto& item : items->value.GetArray()) read_item(item, page);
  return page;
}

// One VPA of a list or a GET. A reason in `error` when it cannot be read.
std::optional<ListedVpa> read_vpa(const rapidjson::Value& item, std::string& error) {
  const rapidjson::Value* meta = object_member(item, "metadata");
  if (meta == nullptr) {
    error = "a VerticalPodAutoscaler without metadata";
    return std::nullopt;
  }
  ListedVpa vpa;
  vpa.namespace_ = std::string(string_member(*meta, "namespace"));
  vpa.name = std::string(string_member(*meta, "name"));
  vpa.resource_version = std::string(string_member(*meta, "resourceVersion"));
  if (vpa.namespace_.empty() || vpa.name.empty() || vpa.resource_version.empty()) {
    error = "a VerticalPodAutoscaler without namespace, name or resourceVersion: " + vpa.namespace_ + "/" + vpa.name;
    return std::nullopt;
  }
  if (const rapidjson::Value* labels = object_member(*meta, "labels")) {
    vpa.managed = string_member(*labels, std::string(kManagedByLabel).c_str()) == kManagedByValue;
  }
  vpa.created = parse_rfc3339(string_member(*meta, "creationTimestamp"));
  if (const rapidjson::Value* spec = object_member(item, "spec")) {
    const auto list = spec->FindMember("recommenders");
    if (list != spec->MemberEnd() && !list->value.IsNull()) {
      // Misread, this list would make the provisioner rewrite a VPA it should leave alone.
      if (!list->value.IsArray()) {
        error = "VerticalPodAutoscaler " + vpa.namespace_ + "/" + vpa.name + ": spec.recommenders is not a list";
        return std::nullopt;
      }
      for (const auto& selector : list->value.GetArray()) {
        const std::string_view name = string_member(selector, "name");
        if (name.empty()) {
          error = "VerticalPodAutoscaler " + vpa.namespace_ + "/" + vpa.name +
                  ": spec.recommenders has an item without a name";
          return std::nullopt;
        }
        vpa.recommenders.emplace_back(name);
      }
    }
  }
  if (const rapidjson::Value* status = object_member(item, "status")) {
    if (const rapidjson::Value* recommendation = object_member(*status, "recommendation")) {
      const auto list = recommendation->FindMember("containerRecommendations");
      vpa.has_recommendation = list != recommendation->MemberEnd() && list->value.IsArray() &&
                               !list->value.GetArray().Empty();
    }
  }
  return vpa;
}

}  // namespace

std::string airflow_task_json(const core::TaskKey& key, const core::TaskLabelKeys& keys) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  put(w, "apiVersion", kTaskApiVersion);
  put(w, "kind", kTaskKind);
  put_metadata(w, key, core::task_object_name(key));
  w.EndObject();
  put(w, "spec");
  w.StartObject();
  put(w, "dagId", key.dag_id);
  put(w, "taskId", key.task_id);
  put(w, "launcher", core::to_string(key.launcher));
  put(w, "selector", core::task_selector(key, keys).to_string());
  put(w, "replicas");
  w.Int(0);
  w.EndObject();
  w.EndObject();
  return text_of(buffer);
}

std::string status_patch_json(const core::TaskKey& key, const core::TaskLabelKeys& keys, TimePoint last_seen) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  put(w, "status");
  w.StartObject();
  put(w, "replicas");
  w.Int(0);
  put(w, "selector", core::task_selector(key, keys).to_string());
  put(w, "lastSeen", format_rfc3339(last_seen));
  w.EndObject();
  w.EndObject();
  return text_of(buffer);
}

std::string vpa_json(const core::TaskKey& key, std::string_view owner_uid, std::string_view recommender) {
  const std::string name = core::task_object_name(key);
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  put(w, "apiVersion", "autoscaling.k8s.io/v1");
  put(w, "kind", "VerticalPodAutoscaler");
  put_metadata(w, key, name);
  // A plain owner, not a controller: the garbage collector deletes the VPA with its
  // AirflowTask either way, and nothing here "controls" a VPA.
  put(w, "ownerReferences");
  w.StartArray();
  w.StartObject();
  put(w, "apiVersion", kTaskApiVersion);
  put(w, "kind", kTaskKind);
  put(w, "name", name);
  put(w, "uid", owner_uid);
  w.EndObject();
  w.EndArray();
  w.EndObject();
  put(w, "spec");
  w.StartObject();
  put(w, "targetRef");
  w.StartObject();
  put(w, "apiVersion", kTaskApiVersion);
  put(w, "kind", kTaskKind);
  put(w, "name", name);
  w.EndObject();
  put(w, "updatePolicy");
  w.StartObject();
  put(w, "updateMode", "Off");
  w.EndObject();
  put(w, "resourcePolicy");
  w.StartObject();
  put(w, "containerPolicies");
  w.StartArray();
  w.StartObject();
  put(w, "containerName", "*");
  put(w, "controlledResources");
  w.StartArray();
  put(w, "cpu");
  put(w, "memory");
  w.EndArray();
  w.EndObject();
  // The KubernetesPodOperator's xcom sidecar only waits on a file: the recommender would
  // raise its 1m / 10Mi to its own floor (25m / 250Mi), so it is left out of the recommendation.
  w.StartObject();
  put(w, "containerName", kXcomSidecar);
  put(w, "mode", "Off");
  w.EndObject();
  w.EndArray();
  w.EndObject();
  if (!recommender.empty()) {
    put(w, "recommenders");
    put_recommenders(w, recommender);
  }
  w.EndObject();
  w.EndObject();
  return text_of(buffer);
}

std::string recommenders_patch_json(std::string_view recommender, std::string_view resource_version) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  put(w, "metadata");
  w.StartObject();
  put(w, "resourceVersion", resource_version);
  w.EndObject();
  put(w, "spec");
  w.StartObject();
  put(w, "recommenders");
  if (recommender.empty()) {
    w.Null();
  } else {
    put_recommenders(w, recommender);
  }
  w.EndObject();
  w.EndObject();
  return text_of(buffer);
}

std::string delete_options_json(std::string_view resource_version) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  put(w, "kind", "DeleteOptions");
  put(w, "apiVersion", "v1");
  put(w, "preconditions");
  w.StartObject();
  put(w, "resourceVersion", resource_version);
  w.EndObject();
  put(w, "propagationPolicy", "Background");
  w.EndObject();
  return text_of(buffer);
}

std::string airflow_task_path(std::string_view namespace_, std::string_view name) {
  std::string path = "/apis/" + std::string(kTaskApiVersion) + "/namespaces/" + url_encode(namespace_) + "/airflowtasks";
  if (!name.empty()) path += "/" + url_encode(name);
  return path;
}

std::string vpa_path(std::string_view namespace_, std::string_view name) {
  std::string path = "/apis/autoscaling.k8s.io/v1/namespaces/" + url_encode(namespace_) + "/verticalpodautoscalers";
  if (!name.empty()) path += "/" + url_encode(name);
  return path;
}

std::string managed_tasks_list_path(std::size_t limit, std::string_view continue_token) {
  return managed_list_path("/apis/" + std::string(kTaskApiVersion) + "/airflowtasks", limit, continue_token);
}

std::string managed_vpas_list_path(std::size_t limit, std::string_view continue_token) {
  return managed_list_path("/apis/autoscaling.k8s.io/v1/verticalpodautoscalers", limit, continue_token);
}

std::string url_encode(std::string_view text) { return kube::url_encode(text); }

std::string format_rfc3339(TimePoint t) {
  using namespace std::chrono;
  return core::format_rfc3339(floor<seconds>(t).time_since_epoch().count());
}

std::optional<TimePoint> parse_rfc3339(std::string_view text) {
  using namespace std::chrono;
  // YYYY-MM-DDTHH:MM:SS
  if (text.size() < 20 || text[4] != '-' || text[7] != '-' || (text[10] != 'T' && text[10] != 't') ||
      text[13] != ':' || text[16] != ':') {
    return std::nullopt;
  }
  const auto y = digits(text, 0, 4);
  const auto mo = digits(text, 5, 2);
  const auto d = digits(text, 8, 2);
  const auto h = digits(text, 11, 2);
  const auto mi = digits(text, 14, 2);
  const auto s = digits(text, 17, 2);
  if (!y || !mo || !d || !h || !mi || !s || *h > 23 || *mi > 59 || *s > 60) return std::nullopt;
  const year_month_day ymd{year{*y}, month{static_cast<unsigned>(*mo)}, day{static_cast<unsigned>(*d)}};
  if (!ymd.ok()) return std::nullopt;
  std::size_t pos = 19;
  if (text[pos] == '.') {
    ++pos;
    const std::size_t start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
    if (pos == start) return std::nullopt;
  }
  seconds offset{0};
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    const auto oh = digits(text, pos + 1, 2);
    const auto om = digits(text, pos + 4, 2);
    if (!oh || !om || pos + 3 >= text.size() || text[pos + 3] != ':' || *oh > 23 || *om > 59) return std::nullopt;
    offset = hours{*oh} + minutes{*om};
    if (text[pos] == '-') offset = -offset;
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != text.size()) return std::nullopt;
  const auto local = sys_days{ymd} + hours{*h} + minutes{*mi} + seconds{*s};
  return time_point_cast<system_clock::duration>(local - offset);
}

std::optional<ObjectVersion> object_version(std::string_view body) {
  rapidjson::Document doc;
  if (!parse_document(doc, body)) return std::nullopt;
  const rapidjson::Value* meta = object_member(doc, "metadata");
  if (meta == nullptr) return std::nullopt;
  ObjectVersion out{std::string(string_member(*meta, "uid")), std::string(string_member(*meta, "resourceVersion"))};
  if (out.uid.empty()) return std::nullopt;
  return out;
}

std::optional<std::string> object_uid(std::string_view body) {
  auto version = object_version(body);
  if (!version) return std::nullopt;
  return std::move(version->uid);
}

std::optional<TaskListPage> parse_task_list(std::string_view body, std::string* error) {
  return parse_list_page<TaskListPage>(body, error, [](const rapidjson::Value& item, TaskListPage& page) {
    const rapidjson::Value* meta = object_member(item, "metadata");
    if (meta == nullptr) {
      page.errors.emplace_back("an item without metadata");
      return;
    }
    ListedTask task;
    task.namespace_ = std::string(string_member(*meta, "namespace"));
    task.name = std::string(string_member(*meta, "name"));
    task.resource_version = std::string(string_member(*meta, "resourceVersion"));
    if (task.namespace_.empty() || task.name.empty() || task.resource_version.empty()) {
      page.errors.emplace_back("an item without namespace, name or resourceVersion: " + task.namespace_ + "/" +
                               task.name);
      return;
    }
    if (const rapidjson::Value* labels = object_member(*meta, "labels")) {
      task.managed = string_member(*labels, std::string(kManagedByLabel).c_str()) == kManagedByValue;
    }
    task.created = parse_rfc3339(string_member(*meta, "creationTimestamp"));
    if (const rapidjson::Value* status = object_member(item, "status")) {
      task.last_seen = parse_rfc3339(string_member(*status, "lastSeen"));
    }
    page.items.push_back(std::move(task));
  });
}

bool ListedVpa::names(std::string_view recommender) const {
  if (recommender.empty()) return recommenders.empty();
  return recommenders.size() == 1 && recommenders.front() == recommender;
}

std::string ListedVpa::served_by() const { return recommenders.empty() ? "default" : recommenders.front(); }

std::optional<ListedVpa> parse_vpa(std::string_view body, std::string* error) {
  rapidjson::Document doc;
  std::string why;
  std::optional<ListedVpa> vpa;
  if (!parse_document(doc, body)) {
    why = "not a JSON object";
  } else {
    vpa = read_vpa(doc, why);
  }
  if (!vpa && error != nullptr) *error = std::move(why);
  return vpa;
}

std::optional<VpaListPage> parse_vpa_list(std::string_view body, std::string* error) {
  return parse_list_page<VpaListPage>(body, error, [](const rapidjson::Value& item, VpaListPage& page) {
    std::string why;
    if (auto vpa = read_vpa(item, why)) {
      page.items.push_back(std::move(*vpa));
    } else {
      page.errors.push_back(std::move(why));
    }
  });
}

bool is_stale(const ListedTask& task, TimePoint now, std::chrono::seconds forget_after) {
  const std::optional<TimePoint> reference = task.last_seen ? task.last_seen : task.created;
  if (!reference) return false;
  return *reference <= now && now - *reference >= forget_after;
}

}  // namespace avw::provision
