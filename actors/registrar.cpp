#include "actors/registrar.hpp"

#include <unistd.h>

#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/stateful_actor.hpp>
#include <pqxx/nontransaction>
#include <spdlog/spdlog.h>

#include "adapters/db/connection.hpp"

namespace mailpipe {

namespace {

std::string host_name() {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  return host;
}

// Connects if needed and runs `f(tx)`; on failure drops the connection and records why.
template <class F>
bool with_db(registrar_actor::stateful_pointer<registrar_state> self,
             const char* what, F f) {
  auto& st = self->state;
  if (!st.conn) {
    auto conn = db::connect(st.cfg.database);
    if (!conn) {
      auto msg = render(conn.error());
      if (msg != st.last_error)
        spdlog::error("registrar: {}", msg);
      st.last_error = msg;
      return false;
    }
    st.conn = std::move(*conn);
  }
  auto res = db::guarded(what, [&] {
    pqxx::nontransaction tx{*st.conn};
    f(tx);
  });
  if (!res) {
    st.last_error = render(res.error());
    spdlog::error("registrar: {}", st.last_error);
    st.conn.reset();
    return false;
  }
  if (!st.last_error.empty())
    spdlog::info("registrar: database reachable again");
  st.last_error.clear();
  return true;
}

} // namespace

registrar_actor::behavior_type
registrar(registrar_actor::stateful_pointer<registrar_state> self, config cfg) {
  self->state.cfg = std::move(cfg);
  self->set_exit_handler([self](const caf::exit_msg& msg) {
    if (self->state.registered)
      with_db(self, "mark node stopped", [&](pqxx::nontransaction& tx) {
        tx.exec_params("UPDATE nodes SET stopped_at = now() WHERE name = $1 "
                       "AND pid = $2",
                       self->state.cfg.node.name, static_cast<int>(getpid()));
      });
    spdlog::info("registrar: node {} stopped", self->state.cfg.node.name);
    self->quit(msg.reason);
  });
  self->send(self, atom::heartbeat_v);
  return {
    [self](atom::status) -> status_dict {
      auto& st = self->state;
      status_dict d;
      d["name"] = std::string{registrar_state::name};
      d["node"] = st.cfg.node.name;
      d["heartbeats"] = st.heartbeats;
      d["registered"] = st.registered;
      d["database"] = st.conn ? std::string{"connected"}
                              : std::string{"unreachable"};
      if (!st.last_error.empty())
        d["last_error"] = st.last_error;
      return d;
    },
    [self](atom::heartbeat) {
      auto& st = self->state;
      auto ok = with_db(self, "heartbeat", [&](pqxx::nontransaction& tx) {
        if (!st.registered) {
          tx.exec_params(
            "INSERT INTO nodes (name, host, pid, version, inspect_endpoint) "
            "VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (name) DO UPDATE SET host = EXCLUDED.host, "
            "pid = EXCLUDED.pid, version = EXCLUDED.version, "
            "inspect_endpoint = EXCLUDED.inspect_endpoint, started_at = now(), "
            "heartbeat_at = now(), stopped_at = NULL",
            st.cfg.node.name, host_name(), static_cast<int>(getpid()),
            std::string{MAILPIPE_VERSION}, st.cfg.node.inspect_listen);
          spdlog::info("registrar: node {} registered", st.cfg.node.name);
          st.registered = true;
        } else {
          tx.exec_params("UPDATE nodes SET heartbeat_at = now() WHERE name = $1",
                         st.cfg.node.name);
        }
      });
      if (ok)
        ++st.heartbeats;
      self->delayed_send(self, st.cfg.node.heartbeat_interval,
                         atom::heartbeat_v);
    },
  };
}

} // namespace mailpipe
