#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>
#include <pqxx/connection>

#include "config/config.hpp"

namespace mailpipe::db {

/// One versioned SQL file shipped inside the binary (adapters/migrations/NNNN_name.sql).
struct migration {
  /// The number before the first underscore.
  int64_t version = 0;
  /// The rest of the file name, without `.sql`.
  std::string name;
  /// The SQL text, run in one transaction.
  std::string_view sql;
  /// SHA-256 of the SQL, hex; detects a migration edited after it was applied.
  std::string checksum;
};

/// A migration's state in a database.
struct migration_state {
  int64_t version = 0;
  std::string name;
  /// When it was applied; nullopt if pending.
  std::optional<std::string> applied_at;
  /// False if the database's checksum differs from the binary's.
  bool checksum_matches = true;
  /// True if the database has it but this binary does not know it (a newer binary migrated).
  bool unknown_to_binary = false;
};

/// The migrations compiled into this binary, ordered by version.
const std::vector<migration>& builtin_migrations();

/// How `apply_migrations` runs.
struct migrate_options {
  /// How long to wait while another session (another node's `migrate`) holds the migration
  /// lock; then the result is `ec::busy` naming the holder.
  duration lock_wait = std::chrono::seconds{60};
  /// Called after each commit.
  std::function<void(const migration&)> on_applied;
};

/// What `apply_migrations` did and found.
struct migrate_outcome {
  /// How many migrations were applied.
  int applied = 0;
  /// Migrations the database has and this binary does not know (a newer binary applied
  /// them), by version; they are left as they are.
  std::vector<migration_state> unknown;
};

/// Applies every pending migration, each in its own transaction, under an advisory lock so
/// that nodes migrating at once take turns. The server waits for the lock at most
/// `opts.lock_wait`: a session that holds it longer is reported (`ec::busy`, "another
/// migration holds the lock (PostgreSQL backend pid N, application 'x', ...)"). A database
/// that has migrations unknown to this binary and lacks some it knows was migrated by a
/// binary of another line: `ec::migration_failed`, nothing applied.
caf::expected<migrate_outcome> apply_migrations(pqxx::connection& conn,
                                                const migrate_options& opts);

/// `apply_migrations` with the default lock wait; returns how many were applied.
caf::expected<int>
migrate(pqxx::connection& conn,
        const std::function<void(const migration&)>& on_applied = nullptr);

/// The migrations the database has and this binary does not know, by version; empty for a
/// database never migrated.
caf::expected<std::vector<migration_state>>
unknown_migrations(pqxx::connection& conn);

/// "0003 name, 0004 other": the versions and names of `states`.
std::string describe(const std::vector<migration_state>& states);

/// Lists every migration known to the binary or the database, applied or not.
caf::expected<std::vector<migration_state>>
migration_status(pqxx::connection& conn);

} // namespace mailpipe::db
