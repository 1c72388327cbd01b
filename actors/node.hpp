#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "actors/actors.hpp"
#include "config/config.hpp"

namespace mailpipe {

/// How the node starts one of its children.
struct node_child_spec {
  /// What the child is, for status and logs.
  std::string name;
  /// Spawns it (detached if it blocks) and returns its handle.
  std::function<caf::actor(caf::actor_system&)> start;
};

/// The children of a production node, in start order: the registrar first, then
/// the pipeline (`pipeline_children`): stores, metrics, alerter, scheduler;
/// then the job workers (`job_worker_children`), the push watch
/// (`push_watch`), and the HTTP endpoint
/// (`http_endpoint_children`) when `http.listen` is set.
std::vector<node_child_spec> standard_children(const config& cfg);

/// A child of the node, as the node tracks it.
struct node_child {
  /// What the child is.
  std::string name;
  /// Its handle.
  caf::actor handle;
  /// True once its down message arrived.
  bool down = false;
};

/// State of the node actor: its children in start order and the shutdown in
/// progress.
struct node_state {
  static inline const char* name = "node";
  /// The node's configuration.
  config cfg;
  /// Children in the order they were started.
  std::vector<node_child> children;
  /// The children's handles, shared with the exit functor (which runs after CAF
  /// destroyed this state, so it must not read it).
  std::shared_ptr<std::vector<caf::actor>> handles =
      std::make_shared<std::vector<caf::actor>>();
  /// True once the ordered shutdown started.
  bool stopping = false;
  /// Why the node stops when a child ended on its own (the node then exits with
  /// it).
  caf::error failure;
  /// When the node started.
  caf::timestamp started_at;
};

/// The root actor of a node. Starts `children` in order and monitors them; on
/// `shutdown` a terminator stops them one by one in reverse order, killing a
/// child that outlives `node.shutdown_grace`, and then the node quits. A child
/// that ends on its own stops the node the same way, and the node quits with
/// the child's reason. However the node ends, no child outlives it.
node_actor::behavior_type node(node_actor::stateful_pointer<node_state> self,
                               config cfg,
                               std::vector<node_child_spec> children);

} // namespace mailpipe
