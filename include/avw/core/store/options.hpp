// File: store/options.hpp
//
// What a source tells the store about how to index and what to trust: the label keys that
// index targets, the update modes that may govern a pod, and whether missing checkpoints mean
// "no history yet". Fixed for a snapshot's life, so a worker never reads a setting that
// changes under it.
#pragma once

#include <string>
#include <vector>

#include "avw/core/objects.hpp"

namespace avw::core {

struct StoreOptions {
  std::string index_key_a = "dag_id";   // label keys whose equality requirements index targets
  std::string index_key_b = "task_id";
  std::vector<UpdateMode> allowed_update_modes = {UpdateMode::Off, UpdateMode::Initial};
  /// The source reads checkpoints (the live API): a missing checkpoint means "no history yet"
  /// even when the source has none at all. A file without checkpoints leaves this false and
  /// turns the history gate off (its author vouches for it).
  bool checkpoints_authoritative = false;
};

}  // namespace avw::core
