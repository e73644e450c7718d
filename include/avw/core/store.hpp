// File: store.hpp
//
// The recommendation store, the one header the rest of the code includes: an immutable
// Snapshot of VPAs, their targets, LimitRanges and checkpoints, indexed for the admission hot
// path. Edges (file source, API watch) build a new Snapshot on the control thread and publish
// it; every worker holds a shared_ptr and reads it without locks, never waiting for a writer.
//
// A snapshot does not keep the decoded objects: each VPA and scale target is packed into a
// record of a few hundred bytes (names interned, quantities as varints) and read back through
// VpaView and TargetView, so the RSS with 100,000 tasks stays well under the 64 MiB the
// webhook is held to. Checkpoints (one per VPA container in a live cluster) are packed too.
// LimitRanges and namespaces, few and read as they are, are kept decoded.
//
// One concept per header in store/:
//   options.hpp           StoreOptions: the index label keys, the allowed update modes
//   views.hpp             VpaView, TargetView and what they decode (recommendations, policies)
//   packed_object.hpp     PackedObject: one object packed on its own, for a source's caches
//   snapshot_builder.hpp  SnapshotBuilder: objects in, a Snapshot out
//   snapshot.hpp          Snapshot: find_vpa and the other lookups
// The byte format, the arena and the hash tables are private to the core (src/core/store/).
#pragma once

#include "avw/core/store/options.hpp"
#include "avw/core/store/packed_object.hpp"
#include "avw/core/store/snapshot.hpp"
#include "avw/core/store/snapshot_builder.hpp"
#include "avw/core/store/views.hpp"
