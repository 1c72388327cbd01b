#include "adapters/db/migrate.hpp"

#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <openssl/evp.h>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>

#include "adapters/db/connection.hpp"
#include "messages/embedded.hpp"
#include "messages/error.hpp"

namespace mailpipe::embedded {
extern const embedded_file mailpipe_migrations[];
extern const std::size_t mailpipe_migrations_count;
} // namespace mailpipe::embedded

namespace mailpipe::db {

namespace {

// "mailpipe" as a 64-bit integer: the advisory lock all migrating nodes share.
constexpr int64_t migration_lock_key = 0x6d61696c70697065;

std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  std::string out;
  for (unsigned i = 0; i < len; ++i)
    out += fmt::format("{:02x}", digest[i]);
  return out;
}

const char* create_table_sql = R"(
  CREATE TABLE IF NOT EXISTS schema_migrations (
    version    BIGINT PRIMARY KEY,
    name       TEXT NOT NULL,
    checksum   TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
  ))";

struct applied_row {
  std::string name;
  std::string checksum;
  std::string applied_at;
};

std::map<int64_t, applied_row> read_applied(pqxx::connection& conn) {
  pqxx::nontransaction tx{conn};
  std::map<int64_t, applied_row> out;
  auto exists = tx.exec1("SELECT to_regclass('schema_migrations') IS NOT NULL");
  if (!exists[0].as<bool>())
    return out;
  for (auto row : tx.exec("SELECT version, name, checksum, "
                          "to_char(applied_at AT TIME ZONE 'UTC', "
                          "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
                          "FROM schema_migrations ORDER BY version"))
    out.emplace(row[0].as<int64_t>(),
                applied_row{row[1].as<std::string>(),
                            row[2].as<std::string>(),
                            row[3].as<std::string>()});
  return out;
}

} // namespace

const std::vector<migration>& builtin_migrations() {
  static const std::vector<migration> all = [] {
    std::vector<migration> out;
    for (size_t i = 0; i < embedded::mailpipe_migrations_count; ++i) {
      auto& file = embedded::mailpipe_migrations[i];
      auto name = file.name;
      if (name.size() < 5 || name.substr(name.size() - 4) != ".sql")
        continue;
      auto underscore = name.find('_');
      if (underscore == std::string_view::npos)
        continue;
      migration m;
      m.version = std::stoll(std::string{name.substr(0, underscore)});
      m.name = std::string{name.substr(underscore + 1, name.size() - underscore - 5)};
      m.sql = file.content;
      m.checksum = sha256_hex(file.content);
      out.push_back(std::move(m));
    }
    std::sort(out.begin(), out.end(),
              [](auto& x, auto& y) { return x.version < y.version; });
    return out;
  }();
  return all;
}

caf::expected<int> migrate(pqxx::connection& conn,
                           const std::function<void(const migration&)>& on_applied) {
  bool locked = false;
  auto unlock = [&] {
    if (!locked)
      return;
    try {
      pqxx::nontransaction tx{conn};
      tx.exec_params("SELECT pg_advisory_unlock($1)", migration_lock_key);
    } catch (...) {
      // The lock dies with the session anyway.
    }
  };
  try {
    {
      pqxx::nontransaction tx{conn};
      tx.exec_params("SELECT pg_advisory_lock($1)", migration_lock_key);
      locked = true;
      tx.exec(create_table_sql);
    }
    auto applied = read_applied(conn);
    for (auto& m : builtin_migrations()) {
      auto i = applied.find(m.version);
      if (i != applied.end() && i->second.checksum != m.checksum) {
        unlock();
        return caf::make_error(
          ec::migration_failed,
          fmt::format("migration {} ({}) was changed after it was applied: "
                      "the database has checksum {}, this binary {}",
                      m.version, m.name, i->second.checksum.substr(0, 12),
                      m.checksum.substr(0, 12)));
      }
    }
    int count = 0;
    for (auto& m : builtin_migrations()) {
      if (applied.count(m.version))
        continue;
      try {
        pqxx::work tx{conn};
        tx.exec(std::string{m.sql});
        tx.exec_params("INSERT INTO schema_migrations (version, name, checksum) "
                       "VALUES ($1, $2, $3)",
                       m.version, m.name, m.checksum);
        tx.commit();
      } catch (const std::exception& e) {
        unlock();
        auto err = to_error(e, fmt::format("migration {} ({})", m.version, m.name));
        return caf::make_error(ec::migration_failed, render(err));
      }
      ++count;
      if (on_applied)
        on_applied(m);
    }
    unlock();
    return count;
  } catch (const std::exception& e) {
    unlock();
    return to_error(e, "migrate");
  }
}

caf::expected<std::vector<migration_state>>
migration_status(pqxx::connection& conn) {
  return guarded("migration status", [&] {
    auto applied = read_applied(conn);
    std::vector<migration_state> out;
    for (auto& m : builtin_migrations()) {
      migration_state s;
      s.version = m.version;
      s.name = m.name;
      if (auto i = applied.find(m.version); i != applied.end()) {
        s.applied_at = i->second.applied_at;
        s.checksum_matches = i->second.checksum == m.checksum;
        applied.erase(i);
      }
      out.push_back(std::move(s));
    }
    for (auto& [version, row] : applied) {
      migration_state s;
      s.version = version;
      s.name = row.name;
      s.applied_at = row.applied_at;
      s.unknown_to_binary = true;
      out.push_back(std::move(s));
    }
    std::sort(out.begin(), out.end(),
              [](auto& x, auto& y) { return x.version < y.version; });
    return out;
  });
}

} // namespace mailpipe::db
