#pragma once

// A few PostgreSQL connections shared by threads that each need one for a
// moment (the HTTP endpoint's request threads).

#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include <caf/expected.hpp>
#include <pqxx/connection>

#include "adapters/db/deadline.hpp"
#include "config/config.hpp"

namespace mailpipe::db {

/// Hands out connections, opening one when none is idle; keeps at most
/// `max_idle` of those given back, and drops a broken one.
class connection_pool {
public:
  connection_pool(database_config cfg, size_t max_idle);

  /// An idle connection, or a new one (`ec::database_unavailable` when the
  /// database cannot be reached).
  caf::expected<std::unique_ptr<pqxx::connection>> take();

  /// Returns a connection taken from this pool.
  void give_back(std::unique_ptr<pqxx::connection> conn);

  /// Runs `f(conn)` on a connection of the pool, bounded by one call's
  /// deadline (`call_timeout`: a frozen database is a `no_answer` error, not
  /// a thread held for ever); `f` returns a `caf::expected`, whose error,
  /// like the pool's, is handed on. The connection goes back to the pool
  /// unless it broke or was cut.
  template <class F>
  auto with_connection(F&& f)
      -> decltype(f(std::declval<pqxx::connection&>())) {
    auto conn = take();
    if (!conn)
      return conn.error();
    auto timeout = call_timeout(cfg_);
    std::optional<decltype(f(**conn))> result;
    bool cut = false;
    { // disarmed before the connection goes back to the pool
      call_deadline deadline{**conn, timeout};
      result.emplace(f(**conn));
      cut = deadline.expired();
    }
    if (cut)
      return no_answer("database call", timeout);
    give_back(std::move(*conn));
    return std::move(*result);
  }

private:
  database_config cfg_;
  size_t max_idle_;
  std::mutex mtx_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;
};

} // namespace mailpipe::db
