#pragma once

// A client-side bound on every blocking libpq call. A frozen or black-holed PostgreSQL
// answers neither statement_timeout (the server's) nor TCP keepalives (the kernel still
// acknowledges), so libpq would wait forever: a watchdog thread shuts the connection's
// socket down when a call outlives its deadline, libpq's read returns, and libpqxx throws.

#include <cstdint>
#include <string_view>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <pqxx/connection>

#include "adapters/db/connection.hpp"
#include "config/config.hpp"

namespace mailpipe::db {

/// While alive, bounds the calls made on `conn`: once `timeout` has passed, the
/// connection's socket is shut down (the connection is then unusable: drop it).
class call_deadline {
public:
  /// Arms the deadline `timeout` from now on `conn`'s socket.
  call_deadline(pqxx::connection_base& conn, duration timeout);
  /// Disarms it.
  ~call_deadline();
  call_deadline(const call_deadline&) = delete;
  call_deadline& operator=(const call_deadline&) = delete;

  /// True when the deadline passed and the socket was shut down.
  bool expired() const;

private:
  uint64_t id_ = 0;
};

/// ec::database_unavailable "`what`: no answer from the database within `timeout`".
caf::error no_answer(std::string_view what, duration timeout);

/// Runs `f()` (which returns `caf::error` or `caf::expected<T>`, e.g. a `guarded` call or
/// a statement of adapters/db/) under a `call_deadline` of `timeout`; a call cut by the
/// deadline gives `no_answer(what, timeout)`.
template <class F>
auto bounded(pqxx::connection_base& conn, duration timeout,
             std::string_view what, F&& f) -> decltype(f()) {
  call_deadline deadline{conn, timeout};
  auto result = f();
  if (deadline.expired())
    return no_answer(what, timeout);
  return result;
}

/// The bound of one call on a connection opened with `cfg`: the statement timeout plus
/// the connect timeout as a margin for the round trip.
duration call_timeout(const database_config& cfg);

} // namespace mailpipe::db
