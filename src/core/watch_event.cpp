// Decoding of one watch event line: its type, the resourceVersion it brings the watch to, and
// its object (decoded as a list item is) or, for ERROR, the metav1.Status.
#include "avw/core/watch_event.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <string>

#include "json_fields.hpp"
#include "object_dispatch.hpp"

namespace avw::core {

namespace {

using rapidjson::Value;
using namespace json_fields;

rapidjson::Document parse_document(std::string_view json, std::string_view what) {
  rapidjson::Document doc;
  // Iterative parsing: nesting depth cannot exhaust the stack, whatever the input.
  doc.Parse<rapidjson::kParseIterativeFlag>(json.data(), json.size());
  if (doc.HasParseError()) {
    throw DecodeError(std::string(what) + ": invalid JSON at offset " +
                      std::to_string(doc.GetErrorOffset()) + ": " +
                      rapidjson::GetParseError_En(doc.GetParseError()));
  }
  if (!doc.IsObject()) {
    throw DecodeError(std::string(what) + ": expected a JSON object, got " + type_name(doc));
  }
  return doc;
}

}  // namespace

WatchEvent decode_watch_event(std::string_view line) {
  rapidjson::Document doc = parse_document(line, "watch event");
  WatchEvent event;

  const Value* type = find(doc, "type");
  if (type == nullptr || !type->IsString()) throw DecodeError("watch event: type is missing");
  const std::string_view type_text = view_of(*type);
  if (type_text == "ADDED") {
    event.type = WatchEvent::Type::Added;
  } else if (type_text == "MODIFIED") {
    event.type = WatchEvent::Type::Modified;
  } else if (type_text == "DELETED") {
    event.type = WatchEvent::Type::Deleted;
  } else if (type_text == "BOOKMARK") {
    event.type = WatchEvent::Type::Bookmark;
  } else if (type_text == "ERROR") {
    event.type = WatchEvent::Type::Error;
  } else {
    throw DecodeError(one_line("watch event: unknown type " + quoted(type_text)));
  }

  const Value* object = find(doc, "object");
  if (object == nullptr || !object->IsObject()) {
    throw DecodeError("watch event: object is missing or not an object");
  }
  if (const Value* md = find(*object, "metadata"); md != nullptr) {
    if (const Value* rv = find(*md, "resourceVersion"); rv != nullptr && rv->IsString()) {
      event.resource_version = view_of(*rv);
    }
  }

  switch (event.type) {
    case WatchEvent::Type::Added:
    case WatchEvent::Type::Modified:
    case WatchEvent::Type::Deleted:
      decode_object(*object, {}, {}, "object", event.objects);
      break;
    case WatchEvent::Type::Bookmark:
      // A bookmark carries nothing but metadata.resourceVersion, by design.
      if (event.resource_version.empty()) {
        throw DecodeError("watch event: BOOKMARK without metadata.resourceVersion");
      }
      break;
    case WatchEvent::Type::Error:
      // A metav1.Status: 410 Expired means the resourceVersion is too old and the client must
      // list again. The API server sends it inside a 200 stream.
      if (const Value* code = find(*object, "code"); code != nullptr && code->IsInt()) {
        event.error_code = code->GetInt();
      }
      if (const Value* message = find(*object, "message");
          message != nullptr && message->IsString()) {
        event.error_message = one_line(std::string(view_of(*message)));
      }
      break;
  }
  return event;
}

}  // namespace avw::core
