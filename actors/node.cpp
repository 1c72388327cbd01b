#include "actors/node.hpp"

#include <caf/actor_cast.hpp>
#include <caf/send.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/timestamp.hpp>
#include <spdlog/spdlog.h>

#include "actors/registrar.hpp"

namespace mailpipe {

namespace {

using node_ptr = node_actor::stateful_pointer<node_state>;

// Stops the next running child in reverse start order, or quits when none is left.
void stop_next(node_ptr self) {
  auto& st = self->state;
  while (st.stopping_index > 0) {
    auto& child = st.children[st.stopping_index - 1];
    if (child.down) {
      --st.stopping_index;
      continue;
    }
    spdlog::info("node: stopping {}", child.name);
    self->send_exit(child.handle, caf::exit_reason::user_shutdown);
    self->delayed_send(self, st.cfg.node.shutdown_grace, atom::tick_v,
                       static_cast<uint64_t>(st.stopping_index));
    return;
  }
  spdlog::info("node {}: all actors stopped", st.cfg.node.name);
  self->quit();
}

} // namespace

node_actor::behavior_type node(node_ptr self, config cfg) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.started_at = caf::make_timestamp();
  auto reg = self->spawn<caf::detached + caf::monitored>(registrar, st.cfg);
  st.children.push_back({registrar_state::name, caf::actor_cast<caf::actor>(reg)});
  // However the node ends (ordered shutdown, kill, crash), no child outlives it.
  self->attach_functor([self](const caf::error& reason) {
    for (auto& child : self->state.children)
      if (!child.down)
        caf::anon_send_exit(child.handle, reason ? caf::exit_reason::kill
                                                 : caf::exit_reason::user_shutdown);
  });
  self->set_down_handler([self](const caf::down_msg& msg) {
    auto& st = self->state;
    for (auto& child : st.children) {
      if (child.handle.address() == msg.source) {
        child.down = true;
        if (!st.stopping)
          spdlog::error("node: {} stopped unexpectedly: {}", child.name,
                        to_string(msg.reason));
      }
    }
    if (st.stopping)
      stop_next(self);
  });
  spdlog::info("node {} started", st.cfg.node.name);
  return {
    [self](atom::status) -> status_dict {
      auto& st = self->state;
      status_dict d;
      d["name"] = std::string{node_state::name};
      d["node"] = st.cfg.node.name;
      d["state"] = std::string{st.stopping ? "stopping" : "running"};
      d["uptime_seconds"] = static_cast<int64_t>(
        std::chrono::duration_cast<std::chrono::seconds>(
          caf::make_timestamp() - st.started_at)
          .count());
      std::vector<caf::config_value> children;
      for (auto& c : st.children) {
        caf::config_value::dictionary cd;
        cd["name"] = c.name;
        cd["state"] = std::string{c.down ? "down" : "running"};
        children.emplace_back(std::move(cd));
      }
      d["children"] = std::move(children);
      return d;
    },
    [self](atom::shutdown) {
      auto& st = self->state;
      if (st.stopping)
        return;
      spdlog::info("node {}: ordered shutdown", st.cfg.node.name);
      st.stopping = true;
      st.stopping_index = st.children.size();
      stop_next(self);
    },
    [self](atom::tick, uint64_t position) {
      auto& st = self->state;
      if (!st.stopping || st.stopping_index != position || position == 0)
        return;
      auto& child = st.children[st.stopping_index - 1];
      if (!child.down) {
        spdlog::warn("node: {} did not stop within {}, killing it", child.name,
                     format_duration(st.cfg.node.shutdown_grace));
        self->send_exit(child.handle, caf::exit_reason::kill);
      }
    },
  };
}

} // namespace mailpipe
