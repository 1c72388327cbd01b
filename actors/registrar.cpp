#include "actors/registrar.hpp"

#include <unistd.h>

#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/stateful_actor.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "actors/alerter.hpp"
#include "actors/last_error.hpp"
#include "adapters/db/connection.hpp"
#include "adapters/db/deadline.hpp"

namespace mailpipe {

namespace {

using registrar_ptr = registrar_actor::stateful_pointer<registrar_state>;

std::string host_name() {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  return host;
}

duration call_bound(const config& cfg) {
  return std::min(db::call_timeout(cfg.database), cfg.node.dead_after);
}

// Errors that no retry can mend: the node must stop and say why.
bool fatal(const caf::error& err) {
  if (err == ec::migration_failed || err == ec::invalid_config)
    return true;
  auto text = render(err);
  // libpq's connection errors carry no SQLSTATE, only the server's text.
  bool no_such_role = text.find("role \"") != std::string::npos
                      && text.find("does not exist") != std::string::npos;
  return no_such_role
         || text.find("password authentication failed") != std::string::npos
         || text.find("SQLSTATE 28P01") != std::string::npos
         || text.find("SQLSTATE 28000") != std::string::npos;
}

// A critical alert through the node's alerter, when one runs: the alerter
// delivers to Discord even while the database (where it records alerts) is down.
void alert_outage(registrar_ptr self) {
  auto& st = self->state;
  auto alerter =
      self->home_system().registry().get<alerter_actor>(alerter_registry_key);
  if (!alerter)
    return;
  self->send(
      alerter, atom::event_v,
      database_down_alert(
          st.cfg.node.name,
          fmt::format("The database has not answered for {}: {}",
                      format_duration(st.cfg.node.dead_after), st.last_error)));
}

void note_failure(registrar_ptr self, const caf::error& err) {
  auto& st = self->state;
  if (keep_last_error(st.last_error, err))
    spdlog::error("registrar: {}", st.last_error);
  auto down_for = caf::make_timestamp() - st.last_success;
  if (!st.outage_reported && down_for >= st.cfg.node.dead_after) {
    spdlog::critical("registrar: the database has not answered for {}: {}",
                     format_duration(st.cfg.node.dead_after), st.last_error);
    alert_outage(self);
    st.outage_reported = true;
  }
}

void note_success(registrar_ptr self) {
  auto& st = self->state;
  if (!st.last_error.empty())
    spdlog::info("registrar: database reachable again");
  st.last_error.clear();
  st.outage_reported = false;
  st.last_success = caf::make_timestamp();
}

// Connects if needed and runs `f(conn)` (a statement of adapters/db/nodes) within the call
// bound; on failure drops the connection, records why, and returns the error.
template <class F>
caf::error with_db(registrar_ptr self, const char* what, duration bound, F f) {
  auto& st = self->state;
  if (!st.conn) {
    auto conn = db::connect(st.cfg.database);
    if (!conn) {
      note_failure(self, conn.error());
      return conn.error();
    }
    st.conn = std::move(*conn);
  }
  auto err = db::bounded(*st.conn, bound, what, [&] { return f(*st.conn); });
  if (err) {
    note_failure(self, err);
    st.conn.reset();
    return err;
  }
  note_success(self);
  return {};
}

void beat(registrar_ptr self) {
  auto& st = self->state;
  auto err = with_db(
      self, "heartbeat", call_bound(st.cfg), [&](pqxx::connection& conn) {
        if (st.registered)
          return db::write_heartbeat(conn, st.identity);
        auto res = db::register_node(conn, st.identity, st.cfg.node.dead_after);
        if (!res) {
          spdlog::info("registrar: node {} registered", st.cfg.node.name);
          st.registered = true;
        }
        return res;
      });
  if (err && fatal(err)) {
    spdlog::critical("registrar: {}", render(err));
    self->quit(err);
    return;
  }
  if (!err)
    ++st.heartbeats;
  self->delayed_send(self, st.cfg.node.heartbeat_interval, atom::heartbeat_v);
}

status_dict registrar_status(const registrar_state& st) {
  status_dict d;
  d["name"] = std::string{registrar_state::name};
  d["node"] = st.cfg.node.name;
  d["heartbeats"] = st.heartbeats;
  d["registered"] = st.registered;
  d["database"] =
      st.conn ? std::string{"connected"} : std::string{"unreachable"};
  if (!st.last_error.empty())
    d["last_error"] = st.last_error;
  return d;
}

} // namespace

registrar_actor::behavior_type registrar(registrar_ptr self, config cfg) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.identity = {st.cfg.node.name, host_name(), static_cast<int>(getpid()),
                 MAILPIPE_VERSION, st.cfg.node.inspect_listen};
  st.last_success = caf::make_timestamp();
  self->set_exit_handler([self](const caf::exit_msg& msg) {
    // Within the node's grace, so that a frozen database cannot hold the stop.
    auto bound = std::min(call_bound(self->state.cfg),
                          self->state.cfg.node.shutdown_grace);
    if (self->state.registered)
      with_db(self, "mark node stopped", bound, [&](pqxx::connection& conn) {
        return db::mark_node_stopped(conn, self->state.identity);
      });
    spdlog::info("registrar: node {} stopped", self->state.cfg.node.name);
    self->quit(msg.reason);
  });
  self->send(self, atom::heartbeat_v);
  return {
      [self](atom::status) -> status_dict {
        return registrar_status(self->state);
      },
      [self](atom::heartbeat) { beat(self); },
  };
}

} // namespace mailpipe
