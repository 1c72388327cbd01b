#include "adapters/db/migrate.hpp"

#include <algorithm>
#include <chrono>
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
                applied_row{row[1].as<std::string>(), row[2].as<std::string>(),
                            row[3].as<std::string>()});
  return out;
}

// The applied migrations that no built-in migration has.
std::vector<migration_state>
unknown_of(const std::map<int64_t, applied_row>& applied) {
  std::vector<migration_state> out;
  auto& known = builtin_migrations();
  for (auto& [version, row] : applied) {
    auto same = [v = version](const migration& m) { return m.version == v; };
    if (std::any_of(known.begin(), known.end(), same))
      continue;
    migration_state s;
    s.version = version;
    s.name = row.name;
    s.applied_at = row.applied_at;
    s.unknown_to_binary = true;
    out.push_back(std::move(s));
  }
  return out;
}

// Runs `sql` on its own; true when the server cut its wait for a lock
// (lock_timeout, SQLSTATE 55P03).
bool lock_wait_cut(pqxx::connection& conn, const std::string& sql) {
  try {
    pqxx::nontransaction{conn}.exec(sql);
    return false;
  } catch (const pqxx::sql_error& e) {
    if (e.sqlstate() == "55P03"
        || std::string_view{e.what()}.find("lock timeout")
               != std::string_view::npos)
      return true;
    throw;
  }
}

// "another migration holds the lock (PostgreSQL backend pid N, application 'x', client
// 10.0.0.5, connected at T)": the session that holds the lock in this database, as far as
// pg_locks and pg_stat_activity show it to this role.
std::string lock_holder(pqxx::connection& conn) {
  std::string who;
  try {
    pqxx::nontransaction tx{conn};
    auto rows = tx.exec_params(
        "SELECT l.pid, coalesce(a.application_name, ''), "
        "coalesce(host(a.client_addr), ''), "
        "coalesce(to_char(a.backend_start AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '') "
        "FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = "
        "current_database()) "
        "AND l.classid::bigint = $1 AND l.objid::bigint = $2 LIMIT 1",
        migration_lock_key >> 32, migration_lock_key & 0xffffffff);
    if (!rows.empty()) {
      auto row = rows[0];
      who = fmt::format("PostgreSQL backend pid {}", row[0].as<int>());
      if (auto app = row[1].as<std::string>(); !app.empty())
        who += fmt::format(", application '{}'", app);
      if (auto addr = row[2].as<std::string>(); !addr.empty())
        who += fmt::format(", client {}", addr);
      if (auto since = row[3].as<std::string>(); !since.empty())
        who += fmt::format(", connected at {}", since);
    }
  } catch (const std::exception&) {
    // The holder stays unnamed.
  }
  return who.empty()
             ? "another migration holds the lock"
             : fmt::format("another migration holds the lock ({})", who);
}

// Takes the migration lock within `wait`; ec::busy naming the holder when it
// cannot. The server bounds the wait (lock_timeout, with the statement timeout
// moved past it for this one statement), so the client never sleeps.
caf::error take_lock(pqxx::connection& conn, duration wait) {
  auto ms = std::max<int64_t>(
      1, std::chrono::duration_cast<std::chrono::milliseconds>(wait).count());
  auto statement_timeout = pqxx::nontransaction{conn}
                               .exec1("SHOW statement_timeout")[0]
                               .as<std::string>();
  pqxx::nontransaction{conn}.exec(fmt::format(
      "SET lock_timeout = {}; SET statement_timeout = {}", ms, ms + 5000));
  bool cut = lock_wait_cut(
      conn, fmt::format("SELECT pg_advisory_lock({})", migration_lock_key));
  {
    pqxx::nontransaction restore{conn};
    restore.exec("SET lock_timeout = 0; SET statement_timeout = "
                 + restore.quote(statement_timeout));
  }
  if (!cut)
    return {};
  return caf::make_error(
      ec::busy, fmt::format("{}; waited {} for it: try again when it ends "
                            "(or give `migrate --lock-wait` more time)",
                            lock_holder(conn), format_duration(wait)));
}

} // namespace

std::string describe(const std::vector<migration_state>& states) {
  std::string out;
  for (auto& s : states)
    out +=
        fmt::format("{}{:04} {}", out.empty() ? "" : ", ", s.version, s.name);
  return out;
}

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
      m.name = std::string{
          name.substr(underscore + 1, name.size() - underscore - 5)};
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

caf::expected<migrate_outcome> apply_migrations(pqxx::connection& conn,
                                                const migrate_options& opts) {
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
    if (auto err = take_lock(conn, opts.lock_wait))
      return err;
    locked = true;
    {
      pqxx::nontransaction tx{conn};
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
    migrate_outcome outcome;
    outcome.unknown = unknown_of(applied);
    std::vector<migration_state> pending;
    for (auto& m : builtin_migrations()) {
      if (applied.count(m.version))
        continue;
      migration_state p;
      p.version = m.version;
      p.name = m.name;
      pending.push_back(std::move(p));
    }
    if (!outcome.unknown.empty() && !pending.empty()) {
      // A newer binary of the same line would have applied these too.
      unlock();
      return caf::make_error(ec::migration_failed,
                             fmt::format("the database has migrations this "
                                         "binary does not know ({}) and lacks "
                                         "ones it knows ({}): it was migrated "
                                         "by a binary of another line; "
                                         "nothing applied",
                                         describe(outcome.unknown),
                                         describe(pending)));
    }
    for (auto& m : builtin_migrations()) {
      if (applied.count(m.version))
        continue;
      try {
        pqxx::work tx{conn};
        tx.exec(std::string{m.sql});
        tx.exec_params(
            "INSERT INTO schema_migrations (version, name, checksum) "
            "VALUES ($1, $2, $3)",
            m.version, m.name, m.checksum);
        tx.commit();
      } catch (const std::exception& e) {
        unlock();
        auto err =
            to_error(e, fmt::format("migration {} ({})", m.version, m.name));
        return caf::make_error(ec::migration_failed, render(err));
      }
      ++outcome.applied;
      if (opts.on_applied)
        opts.on_applied(m);
    }
    unlock();
    return outcome;
  } catch (const std::exception& e) {
    unlock();
    return to_error(e, "migrate");
  }
}

caf::expected<int>
migrate(pqxx::connection& conn,
        const std::function<void(const migration&)>& on_applied) {
  migrate_options opts;
  opts.on_applied = on_applied;
  auto outcome = apply_migrations(conn, opts);
  if (!outcome)
    return outcome.error();
  return outcome->applied;
}

caf::expected<std::vector<migration_state>>
unknown_migrations(pqxx::connection& conn) {
  return guarded("migration status",
                 [&] { return unknown_of(read_applied(conn)); });
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
    auto unknown = unknown_of(applied);
    out.insert(out.end(), unknown.begin(), unknown.end());
    std::sort(out.begin(), out.end(),
              [](auto& x, auto& y) { return x.version < y.version; });
    return out;
  });
}

} // namespace mailpipe::db
