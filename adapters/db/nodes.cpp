#include "adapters/db/nodes.hpp"

#include <fmt/format.h>
#include <pqxx/except>
#include <pqxx/nontransaction>

#include "adapters/db/connection.hpp"
#include "messages/error.hpp"

namespace mailpipe::db {

namespace {

// SQLSTATE 42P01: a table the statement names does not exist.
bool never_migrated(const caf::error& err) {
  return err && render(err).find("SQLSTATE 42P01") != std::string::npos;
}

caf::error not_migrated(std::string_view what) {
  return caf::make_error(
      ec::migration_failed,
      fmt::format("{}: the database has no mailpipe tables; run "
                  "`mailpipe migrate` first",
                  what));
}

caf::error holder_of(pqxx::nontransaction& tx, const node_identity& id) {
  auto row = tx.exec_params1(
      "SELECT host, pid, extract(epoch FROM now() - heartbeat_at)::float8 "
      "FROM nodes WHERE name = $1",
      id.name);
  return caf::make_error(
      ec::invalid_config,
      fmt::format(
          "node name '{}' is held by a live node on {} (pid {}, heartbeat "
          "{:.1f} s ago); give this node another node.name or stop that one",
          id.name, row[0].as<std::string>(), row[1].as<int>(),
          row[2].as<double>()));
}

} // namespace

caf::error register_node(pqxx::connection& conn, const node_identity& id,
                         duration dead_after) {
  caf::error refused;
  auto res = guarded("register node", [&] {
    pqxx::nontransaction tx{conn};
    auto rows = tx.exec_params(
        "INSERT INTO nodes (name, host, pid, version, inspect_endpoint) "
        "VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (name) DO UPDATE SET host = EXCLUDED.host, pid = "
        "EXCLUDED.pid, "
        "version = EXCLUDED.version, inspect_endpoint = "
        "EXCLUDED.inspect_endpoint, "
        "started_at = now(), heartbeat_at = now(), stopped_at = NULL "
        "WHERE nodes.stopped_at IS NOT NULL "
        "OR nodes.heartbeat_at < now() - make_interval(secs => $6) "
        "OR (nodes.host = EXCLUDED.host AND nodes.pid = EXCLUDED.pid) "
        "RETURNING name",
        id.name, id.host, id.pid, id.version, id.inspect_endpoint,
        std::chrono::duration<double>(dead_after).count());
    if (rows.empty())
      refused = holder_of(tx, id);
  });
  if (never_migrated(res.error()))
    return not_migrated("register node");
  if (!res)
    return res.error();
  return refused;
}

caf::error write_heartbeat(pqxx::connection& conn, const node_identity& id) {
  auto res = guarded("heartbeat", [&] {
    pqxx::nontransaction tx{conn};
    tx.exec_params(
        "UPDATE nodes SET heartbeat_at = now() WHERE name = $1 AND pid = $2 "
        "AND host = $3",
        id.name, id.pid, id.host);
  });
  return res ? caf::error{} : res.error();
}

caf::error mark_node_stopped(pqxx::connection& conn, const node_identity& id) {
  auto res = guarded("mark node stopped", [&] {
    pqxx::nontransaction tx{conn};
    tx.exec_params(
        "UPDATE nodes SET stopped_at = now() WHERE name = $1 AND pid = $2 "
        "AND host = $3",
        id.name, id.pid, id.host);
  });
  return res ? caf::error{} : res.error();
}

} // namespace mailpipe::db
