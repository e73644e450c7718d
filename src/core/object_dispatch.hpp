// File: object_dispatch.hpp (private to the core)
//
// One Kubernetes object, decoded by its apiVersion and kind with the decoder of that kind
// (kind_decoders.hpp) into the matching list of a DecodedObjects. Lists (object_list.cpp) and
// watch events (watch_event.cpp) hand each of their objects to it.
#pragma once

#include <string_view>

#include "avw/core/objects.hpp"
#include "json_fields.hpp"

namespace avw::core {

/// Decodes one object into `out`; one that cannot be understood adds a line to `out.errors`.
/// `default_api_version` and `default_kind` come from a typed list page, whose items the API
/// server sends without apiVersion and kind (LimitRangeList). `position` names the object in
/// messages when it has no name ("items[3]").
void decode_object(const json_fields::Value& object, std::string_view default_api_version,
                   std::string_view default_kind, std::string_view position, DecodedObjects& out);

}  // namespace avw::core
