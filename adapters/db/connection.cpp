#include "adapters/db/connection.hpp"
#include "adapters/db/deadline.hpp"
#include "config/mask.hpp"

#include <cstring>

#include <fmt/format.h>
#include <libpq-fe.h>
#include <pqxx/except>
#include <pqxx/nontransaction>

namespace mailpipe::db {

namespace {

// libpq's messages can repeat the connection string, or a part of it: never let a
// password through, in whatever form libpq shows it. (A password shorter than four
// bytes is not searched for: masking it would garble every message.)
std::string scrub(std::string text, const std::string& url) {
  auto masked = mask_url(url);
  if (masked != url) {
    for (size_t pos; (pos = text.find(url)) != std::string::npos;)
      text.replace(pos, url.size(), masked);
  }
  if (auto password = conninfo_password(url); password.size() >= 4)
    for (size_t pos; (pos = text.find(password)) != std::string::npos;)
      text.replace(pos, password.size(), "***");
  while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
    text.pop_back();
  return text;
}

// Adds `key=value` to a connection string of either form unless it is already set.
std::string with_option(const std::string& url, std::string_view key,
                        const std::string& value) {
  if (url.find(fmt::format("{}=", key)) != std::string::npos)
    return url;
  if (url.find("://") == std::string::npos) // key=value form
    return fmt::format("{} {}={}", url, key, value);
  return fmt::format("{}{}{}={}", url,
                     url.find('?') == std::string::npos ? "?" : "&", key,
                     value);
}

// Client-side bounds of the connection: the connect timeout (libpq applies it to the
// whole startup, authentication included), TCP keepalives, so a peer that vanished is
// noticed within about 25 s even while idle, and a TCP user timeout of one call's bound,
// so data the peer never acknowledges (a black-holed route) fails the call. A frozen
// server that the kernel still acknowledges is cut by call_deadline
// (adapters/db/deadline.hpp).
std::string with_client_bounds(const database_config& cfg) {
  auto seconds = std::max<int64_t>(
      1, std::chrono::duration_cast<std::chrono::seconds>(cfg.connect_timeout)
             .count());
  auto user_timeout_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(call_timeout(cfg));
  auto out = with_option(cfg.url, "connect_timeout", std::to_string(seconds));
  out = with_option(out, "keepalives", "1");
  out = with_option(out, "keepalives_idle", "10");
  out = with_option(out, "keepalives_interval", "5");
  out = with_option(out, "keepalives_count", "3");
  out = with_option(out, "tcp_user_timeout",
                    std::to_string(user_timeout_ms.count()));
  return out;
}

} // namespace

std::string conninfo_password(const std::string& url) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &error);
  if (error)
    PQfreemem(error);
  if (!options)
    return {};
  std::string out;
  for (auto* o = options; o->keyword; ++o)
    if (std::strcmp(o->keyword, "password") == 0 && o->val)
      out = o->val;
  PQconninfoFree(options);
  return out;
}

caf::expected<std::unique_ptr<pqxx::connection>>
connect(const database_config& cfg) {
  try {
    auto conn = std::make_unique<pqxx::connection>(with_client_bounds(cfg));
    call_deadline deadline{*conn, cfg.connect_timeout};
    pqxx::nontransaction tx{*conn};
    tx.exec(fmt::format("SET statement_timeout = {}",
                        cfg.statement_timeout.count()));
    tx.exec("SET application_name = 'mailpipe'");
    return conn;
  } catch (const std::exception& e) {
    return caf::make_error(ec::database_unavailable,
                           fmt::format("cannot connect to {}: {}",
                                       mask_url(cfg.url),
                                       scrub(e.what(), cfg.url)));
  }
}

caf::expected<std::unique_ptr<pqxx::connection>>
connect(const std::string& url) {
  database_config cfg;
  cfg.url = url;
  return connect(cfg);
}

namespace {

// The SQLSTATE of an error PostgreSQL answered. libpqxx 6.4 leaves it out of a few of the
// classes it maps errors to (insufficient_privilege has an empty one; the 40xxx rollbacks
// are not even sql_errors): their class names it.
std::string sqlstate_of(const std::exception& e) {
  if (auto sql = dynamic_cast<const pqxx::sql_error*>(&e);
      sql && !sql->sqlstate().empty())
    return sql->sqlstate();
  if (dynamic_cast<const pqxx::insufficient_privilege*>(&e))
    return "42501";
  if (dynamic_cast<const pqxx::serialization_failure*>(&e))
    return "40001";
  if (dynamic_cast<const pqxx::statement_completion_unknown*>(&e))
    return "40003";
  if (dynamic_cast<const pqxx::deadlock_detected*>(&e))
    return "40P01";
  if (dynamic_cast<const pqxx::transaction_rollback*>(&e))
    return "40000";
  return {};
}

} // namespace

caf::error to_error(const std::exception& e, std::string_view what) {
  std::string msg = e.what();
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' '))
    msg.pop_back();
  if (dynamic_cast<const pqxx::broken_connection*>(&e))
    return caf::make_error(ec::database_unavailable,
                           fmt::format("{}: connection lost: {}", what, msg));
  auto sqlstate = sqlstate_of(e);
  if (sqlstate == "57014")
    return caf::make_error(ec::timeout,
                           fmt::format("{}: statement timeout", what));
  if (!sqlstate.empty())
    return caf::make_error(
        ec::database_error,
        fmt::format("{}: {} (SQLSTATE {})", what, msg, sqlstate));
  return caf::make_error(ec::database_error, fmt::format("{}: {}", what, msg));
}

} // namespace mailpipe::db
