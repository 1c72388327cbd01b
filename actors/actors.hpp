#pragma once

// Every typed actor interface of mailpipe, one comment per handler. Reading this file
// tells the whole message protocol.

#include <caf/dictionary.hpp>
#include <caf/config_value.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "messages/fwd.hpp"

namespace mailpipe {

/// The answer to a status request: a small dictionary (VAST's status convention).
using status_dict = caf::dictionary<caf::config_value>;

/// Every actor answers a status request (the console is built on it).
using status_handler = caf::replies_to<atom::status>::with<status_dict>;

/// The root actor of a node: supervises the node's actors and shuts them down in order.
using node_actor = caf::typed_actor<
  // Returns the node's status with one entry per child.
  status_handler,
  // Starts the ordered shutdown: children stop in reverse start order (a terminator kills
  // one that outlives `node.shutdown_grace`), then the node.
  caf::reacts_to<atom::shutdown>>;

/// Stops a set of actors in order, escalating to a kill after a grace period (one per
/// shutdown; the node and every supervisor use it).
using terminator_actor = caf::typed_actor<
  // Returns how many targets there are, how many are stopped and how many were killed.
  status_handler,
  // Stops the targets; the answer comes once every one is down or killed.
  caf::replies_to<atom::shutdown, std::vector<terminator_target>>::with<atom::done>,
  // Internal: the grace period of the target at this index ran out.
  caf::reacts_to<atom::tick, uint64_t>>;

/// Registers the node in `nodes` and keeps its heartbeat (a detached actor: it blocks on
/// PostgreSQL). Marks the node stopped when it exits.
using registrar_actor = caf::typed_actor<
  // Returns the node name, last heartbeat and database state.
  status_handler,
  // Internal: writes the heartbeat and schedules the next one.
  caf::reacts_to<atom::heartbeat>>;

} // namespace mailpipe
