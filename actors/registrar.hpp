#pragma once

#include <memory>
#include <string>

#include <pqxx/connection>

#include "actors/actors.hpp"
#include "adapters/db/nodes.hpp"
#include "config/config.hpp"

namespace mailpipe {

/// State of the registrar: the node's row in `nodes` and its database connection.
struct registrar_state {
  static inline const char* name = "registrar";
  /// The node's configuration (name, heartbeat interval, database).
  config cfg;
  /// Who this process is in `nodes`.
  db::node_identity identity;
  /// The open connection, or null while the database is unreachable.
  std::unique_ptr<pqxx::connection> conn;
  /// Heartbeats written, and the last error seen.
  int64_t heartbeats = 0;
  std::string last_error;
  /// When the last heartbeat was written (or the registrar started).
  caf::timestamp last_success;
  /// True once the outage in progress was reported as lasting `dead_after`.
  bool outage_reported = false;
  /// True once the node row was inserted.
  bool registered = false;
};

/// Spawn with `spawn<detached>`: it blocks on PostgreSQL, each call bounded by
/// `min(database.statement_timeout + database.connect_timeout, node.dead_after)`. Quits
/// with an error (which stops the node) when the database was never migrated, the
/// password is refused, or a live node holds the same name.
registrar_actor::behavior_type
registrar(registrar_actor::stateful_pointer<registrar_state> self, config cfg);

} // namespace mailpipe
