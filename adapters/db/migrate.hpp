#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>
#include <pqxx/connection>

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

/// Applies every pending migration, each in its own transaction, under an advisory lock so
/// that nodes migrating at once take turns. `on_applied` is called after each commit.
/// Returns how many were applied.
caf::expected<int> migrate(pqxx::connection& conn,
                           const std::function<void(const migration&)>& on_applied
                           = nullptr);

/// Lists every migration known to the binary or the database, applied or not.
caf::expected<std::vector<migration_state>> migration_status(pqxx::connection& conn);

} // namespace mailpipe::db
