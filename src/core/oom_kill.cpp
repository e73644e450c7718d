// The status.oomKills record (see oom_kill.hpp): its JSON both ways.
#include "avw/core/oom_kill.hpp"

#include "avw/core/json_writer.hpp"
#include "avw/core/objects.hpp"
#include "kind_decoders.hpp"

namespace avw::core {
namespace {

using namespace json_fields;
using rapidjson::SizeType;

std::optional<Quantity> decode_memory(const Value& item, const char* name, std::string_view path) {
  const Value* v = find(item, name);
  if (v == nullptr) return std::nullopt;
  return decode_quantity(*v, join_path(path, name));
}

std::int64_t decode_count(const Value& item, const char* name, std::string_view path, std::int64_t fallback) {
  const Value* v = find(item, name);
  if (v == nullptr) return fallback;
  if (!v->IsInt64() || v->GetInt64() < 0) fail(join_path(path, name), "expected a non-negative integer");
  return v->GetInt64();
}

void member(std::string& out, std::string_view name, bool& first) {
  if (!first) out += ',';
  first = false;
  append_json_string(out, name);
  out += ':';
}

}  // namespace

std::vector<OomKill> decode_oom_kills(const Value* list, std::string_view path) {
  std::vector<OomKill> out;
  if (list == nullptr) return out;
  if (!list->IsArray()) fail(path, std::string("expected an array, got ") + type_name(*list));
  for (SizeType i = 0; i < list->Size(); ++i) {
    const std::string where = indexed_path(path, i);
    const Value& item = (*list)[i];
    if (!item.IsObject()) fail(where, std::string("expected an object, got ") + type_name(item));
    OomKill kill;
    kill.container = req_string(item, "container", where);
    kill.memory_request = decode_memory(item, "memoryRequest", where);
    kill.memory_limit = decode_memory(item, "memoryLimit", where);
    const std::string killed_at = decode_timestamp(item, "killedAt", where);
    if (killed_at.empty()) fail(join_path(where, "killedAt"), "missing");
    kill.killed_at = *parse_rfc3339(killed_at);
    kill.pod = opt_string(item, "pod", where).value_or("");
    kill.run_id = opt_string(item, "runId", where).value_or("");
    kill.try_number = decode_count(item, "tryNumber", where, 0);
    kill.kills = decode_count(item, "kills", where, 1);
    if (const Value* runs = opt_array(item, "cleanRuns", where)) {
      for (SizeType j = 0; j < runs->Size(); ++j) {
        if (!(*runs)[j].IsString()) fail(indexed_path(join_path(where, "cleanRuns"), j), "expected a string");
        kill.clean_runs.emplace_back(view_of((*runs)[j]));
      }
    }
    if (const std::string lifted = decode_timestamp(item, "liftedAt", where); !lifted.empty()) {
      kill.lifted_at = parse_rfc3339(lifted);
    }
    out.push_back(std::move(kill));
  }
  return out;
}

std::string oom_kills_to_json(const std::vector<OomKill>& kills) {
  std::string out = "[";
  for (std::size_t i = 0; i < kills.size(); ++i) {
    const OomKill& k = kills[i];
    if (i != 0) out += ',';
    out += '{';
    bool first = true;
    member(out, "container", first);
    append_json_string(out, k.container);
    if (k.memory_request) {
      member(out, "memoryRequest", first);
      append_json_string(out, k.memory_request->to_string());
    }
    if (k.memory_limit) {
      member(out, "memoryLimit", first);
      append_json_string(out, k.memory_limit->to_string());
    }
    member(out, "killedAt", first);
    append_json_string(out, format_rfc3339(k.killed_at));
    member(out, "pod", first);
    append_json_string(out, k.pod);
    member(out, "runId", first);
    append_json_string(out, k.run_id);
    member(out, "tryNumber", first);
    out += std::to_string(k.try_number);
    member(out, "kills", first);
    out += std::to_string(k.kills);
    member(out, "cleanRuns", first);
    out += '[';
    for (std::size_t j = 0; j < k.clean_runs.size(); ++j) {
      if (j != 0) out += ',';
      append_json_string(out, k.clean_runs[j]);
    }
    out += ']';
    if (k.lifted_at) {
      member(out, "liftedAt", first);
      append_json_string(out, format_rfc3339(*k.lifted_at));
    }
    out += '}';
  }
  out += ']';
  return out;
}

}  // namespace avw::core
