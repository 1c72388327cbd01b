#pragma once

// The statements of the `nodes` table: a node's registration, heartbeat and stop.

#include <string>

#include <caf/error.hpp>
#include <pqxx/connection>

#include "config/config.hpp"

namespace mailpipe::db {

/// Who this process is in `nodes`.
struct node_identity {
  /// `node.name`.
  std::string name;
  /// The host name and process id.
  std::string host;
  int pid = 0;
  /// The program's version and the inspector's endpoint.
  std::string version;
  std::string inspect_endpoint;
};

/// Inserts or takes over the node's row. A row of that name whose node is alive (not
/// stopped, heartbeat younger than `dead_after`) belongs to another process: the result is
/// `ec::invalid_config` naming its host, pid and last heartbeat, and nothing is written.
/// A database never migrated is `ec::migration_failed` saying to run `mailpipe migrate`.
caf::error register_node(pqxx::connection& conn, const node_identity& id,
                         duration dead_after);

/// Writes the node's heartbeat.
caf::error write_heartbeat(pqxx::connection& conn, const node_identity& id);

/// Marks the node stopped (only the row this process owns).
caf::error mark_node_stopped(pqxx::connection& conn, const node_identity& id);

} // namespace mailpipe::db
