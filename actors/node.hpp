#pragma once

#include <string>
#include <vector>

#include <caf/actor.hpp>

#include "actors/actors.hpp"
#include "config/config.hpp"

namespace mailpipe {

/// A child of the node, as the node tracks it.
struct node_child {
  /// What the child is (its state's name).
  std::string name;
  /// Its handle.
  caf::actor handle;
  /// True once its down message arrived.
  bool down = false;
};

/// State of the node actor: its children in start order and the shutdown in progress.
struct node_state {
  static inline const char* name = "node";
  /// The node's configuration.
  config cfg;
  /// Children in the order they were started.
  std::vector<node_child> children;
  /// True once the ordered shutdown started.
  bool stopping = false;
  /// Index of the child being stopped (reverse order), during shutdown.
  size_t stopping_index = 0;
  /// When the node started.
  caf::timestamp started_at;
};

/// The root actor of a node. Spawns its children (the registrar first), monitors them, and on
/// `shutdown` stops them one by one in reverse order, killing a child that outlives
/// `node.shutdown_grace`.
node_actor::behavior_type node(node_actor::stateful_pointer<node_state> self,
                               config cfg);

} // namespace mailpipe
