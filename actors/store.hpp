#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include <pqxx/connection>

#include "actors/actors.hpp"
#include "adapters/sys/crypto.hpp"
#include "config/config.hpp"

namespace mailpipe {

/// State of one store: its connection and what it did.
struct store_state {
  static inline const char* name = "store";
  /// The configuration (database, processing).
  config cfg;
  /// Opens the accounts' secrets (none configured: claims fail with the
  /// reason).
  std::optional<crypto::secret_box> box;
  /// The open connection, or null while the database is unreachable.
  std::unique_ptr<pqxx::connection> conn;
  /// Rotated refresh tokens the database did not take, the latest of each
  /// account, sealed again after the next claim the database answers.
  std::map<int64_t, rotated_token> unsealed;
  /// Calls answered and calls failed, and the last failure.
  int64_t calls = 0;
  int64_t failures = 0;
  std::string last_error;
};

/// Spawn with `spawn<detached>`: every handler blocks on PostgreSQL, each call
/// bounded by `db::call_timeout`. A failed call drops the connection (the next
/// call reconnects) and answers with the error.
store_actor::behavior_type
store(store_actor::stateful_pointer<store_state> self, config cfg,
      std::optional<crypto::secret_box> box);

} // namespace mailpipe
