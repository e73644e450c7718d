// File: watch_event.hpp
//
// One event of a Kubernetes watch stream (one JSON line of `?watch=1`), decoded:
//
//   core::WatchEvent e = core::decode_watch_event(line);  // throws core::DecodeError
//   if (e.type == core::WatchEvent::Type::Error && e.error_code == 410) relist();
//
// The event's object is decoded as a list item is (object_list.hpp): one that cannot be
// understood is skipped with a line in `objects.errors`, never thrown.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "avw/core/decode_error.hpp"
#include "avw/core/objects.hpp"

namespace avw::core {

/// One event of a watch stream (one JSON line).
struct WatchEvent {
  enum class Type : std::uint8_t { Added, Modified, Deleted, Bookmark, Error };
  Type type = Type::Error;
  std::string resource_version;  // object.metadata.resourceVersion
  DecodedObjects objects;        // the one object (ADDED, MODIFIED, DELETED)
  int error_code = 0;            // ERROR: Status.code (410 for an expired resourceVersion)
  std::string error_message;     // ERROR: Status.message
};

/// Decodes one watch event line. Throws DecodeError when the line is not a watch event.
WatchEvent decode_watch_event(std::string_view line);

}  // namespace avw::core
