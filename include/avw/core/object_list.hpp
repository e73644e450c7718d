// File: object_list.hpp
//
// Decoding of a document of Kubernetes objects: a `List` (what `kubectl get vpa,airflowtasks
// -A -o json` prints), an API list page such as `VerticalPodAutoscalerList`, or a single
// object, whole or pulled in chunks from a ChunkSource. A list's items are then decoded one at
// a time, so neither the whole document nor its DOM is ever held: a 100k-task file is 140 MB
// of JSON. Objects that cannot be understood are skipped with a message in `errors`, never
// thrown: one bad object must not hide the others.
//
//   core::DecodedObjects page = core::decode_objects(body);   // throws core::DecodeError
#pragma once

#include <functional>
#include <string_view>

#include "avw/core/decode_error.hpp"
#include "avw/core/objects.hpp"

namespace avw::core {

/// Decodes a List, an API list page (`*List`) or a single object. Throws DecodeError only
/// when the document itself is not JSON or not an object.
DecodedObjects decode_objects(std::string_view json);

/// Supplies a document piece by piece: each call returns the next chunk, which must stay valid
/// until the next call; an empty chunk ends the document. It may throw (a read error): the
/// exception leaves decode_objects() unchanged.
using ChunkSource = std::function<std::string_view()>;

/// decode_objects() over a document pulled from `next_chunk`, with the same results and errors.
/// The items of a list whose `kind` (and, for a typed page, `apiVersion`) come before `items`,
/// as the API server and kubectl write them, are decoded as they arrive and then dropped; any
/// other document is held whole while it is decoded.
DecodedObjects decode_objects(const ChunkSource& next_chunk);

/// Called with the objects decoded so far after each streamed list item; it may move them out
/// (a SnapshotBuilder packs them), so that a long list is never held decoded.
using ItemSink = std::function<void(DecodedObjects&)>;

/// decode_objects() handing each streamed item's objects to `sink` as it is decoded. What the
/// sink leaves in place, and the objects of a document that is not streamed, are returned.
DecodedObjects decode_objects(const ChunkSource& next_chunk, const ItemSink& sink);

}  // namespace avw::core
