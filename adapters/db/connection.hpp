#pragma once

#include <exception>
#include <memory>
#include <string>
#include <string_view>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <pqxx/connection>

#include "config/config.hpp"
#include "messages/error.hpp"

namespace mailpipe::db {

/// Opens a connection with the configured timeouts; a failure is `ec::database_unavailable`
/// with the URL's password masked.
caf::expected<std::unique_ptr<pqxx::connection>>
connect(const database_config& cfg);

/// Opens a connection to `url` with default timeouts.
caf::expected<std::unique_ptr<pqxx::connection>>
connect(const std::string& url);

/// The password of a connection string of either form (`postgresql://u:PW@...` with its
/// percent-encoding undone, or `... password='PW' ...`), as libpq's own parser
/// (PQconninfoParse) reads it; "" when there is none or libpq cannot parse the string.
/// Connection errors are scrubbed of it.
std::string conninfo_password(const std::string& url);

/// Turns an exception thrown by libpqxx into a project error; `what` says what was attempted.
caf::error to_error(const std::exception& e, std::string_view what);

/// Runs `f()` and turns any exception into a project error (the adapter's edge).
template <class F>
auto guarded(std::string_view what, F&& f) -> caf::expected<decltype(f())> {
  try {
    if constexpr (std::is_void_v<decltype(f())>) {
      f();
      return caf::unit;
    } else {
      return f();
    }
  } catch (const std::exception& e) {
    return to_error(e, what);
  }
}

} // namespace mailpipe::db
