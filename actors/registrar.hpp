#pragma once

#include <string>

#include <pqxx/connection>

#include "actors/actors.hpp"
#include "config/config.hpp"

namespace mailpipe {

/// State of the registrar: the node's row in `nodes` and its database connection.
struct registrar_state {
  static inline const char* name = "registrar";
  /// The node's configuration (name, heartbeat interval, database).
  config cfg;
  /// The open connection, or null while the database is unreachable.
  std::unique_ptr<pqxx::connection> conn;
  /// Heartbeats written, and the last error seen.
  int64_t heartbeats = 0;
  std::string last_error;
  /// True once the node row was inserted.
  bool registered = false;
};

/// Spawn with `spawn<detached>`: it blocks on PostgreSQL.
registrar_actor::behavior_type
registrar(registrar_actor::stateful_pointer<registrar_state> self, config cfg);

} // namespace mailpipe
