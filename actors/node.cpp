#include "actors/node.hpp"

#include <caf/actor_cast.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/timestamp.hpp>
#include <spdlog/spdlog.h>

#include "actors/http_endpoint.hpp"
#include "actors/job_worker.hpp"
#include "actors/pipeline.hpp"
#include "actors/push_watch.hpp"
#include "actors/registrar.hpp"
#include "actors/terminator.hpp"

namespace mailpipe {

namespace {

using node_ptr = node_actor::stateful_pointer<node_state>;

// The running children, last started first: the order in which they stop.
std::vector<terminator_target> stop_targets(const node_state& st) {
  std::vector<terminator_target> targets;
  for (auto i = st.children.rbegin(); i != st.children.rend(); ++i)
    if (!i->down)
      targets.push_back({i->name, i->handle});
  return targets;
}

void start_shutdown(node_ptr self) {
  auto& st = self->state;
  if (st.stopping)
    return;
  spdlog::info("node {}: ordered shutdown", st.cfg.node.name);
  st.stopping = true;
  auto stopper = self->spawn(terminator, stop_order::sequential,
                             caf::timespan{st.cfg.node.shutdown_grace});
  self->request(stopper, caf::infinite, atom::shutdown_v, stop_targets(st))
      .then([self](atom::done) {
        spdlog::info("node {}: all actors stopped", self->state.cfg.node.name);
        self->quit(self->state.failure);
      });
}

status_dict node_status(const node_state& st) {
  status_dict d;
  d["name"] = std::string{node_state::name};
  d["node"] = st.cfg.node.name;
  d["state"] = std::string{st.stopping ? "stopping" : "running"};
  d["uptime_seconds"] =
      static_cast<int64_t>(std::chrono::duration_cast<std::chrono::seconds>(
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
}

} // namespace

std::vector<node_child_spec> standard_children(const config& cfg) {
  std::vector<node_child_spec> out{
      {registrar_state::name,
       [cfg](caf::actor_system& sys) {
         return caf::actor_cast<caf::actor>(
             sys.spawn<caf::detached>(registrar, cfg));
       }},
  };
  for (auto& spec : pipeline_children(cfg))
    out.push_back(std::move(spec));
  auto jobs = std::make_shared<job_metrics>();
  for (auto& spec : job_worker_children(cfg, jobs))
    out.push_back(std::move(spec));
  out.push_back({push_watch_state::name, [cfg](caf::actor_system& sys) {
                   return caf::actor_cast<caf::actor>(
                       sys.spawn<caf::detached>(push_watch, cfg));
                 }});
  for (auto& spec : http_endpoint_children(cfg, jobs))
    out.push_back(std::move(spec));
  return out;
}

node_actor::behavior_type node(node_ptr self, config cfg,
                               std::vector<node_child_spec> children) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.started_at = caf::make_timestamp();
  for (auto& spec : children) {
    auto handle = spec.start(self->system());
    self->monitor(handle);
    st.children.push_back({spec.name, handle});
    st.handles->push_back(handle);
  }
  // However the node ends (ordered shutdown, kill, crash), no child outlives
  // it. The functor runs after the state is gone: it holds its own copy of the
  // handles.
  self->attach_functor([handles = st.handles](const caf::error& reason) {
    for (auto& child : *handles)
      caf::anon_send_exit(child, reason ? caf::exit_reason::kill
                                        : caf::exit_reason::user_shutdown);
  });
  self->set_down_handler([self](const caf::down_msg& msg) {
    auto& st = self->state;
    for (auto& child : st.children) {
      if (child.handle.address() != msg.source || child.down)
        continue;
      child.down = true;
      if (st.stopping)
        continue;
      spdlog::error("node: {} stopped unexpectedly: {}", child.name,
                    render(msg.reason));
      st.failure = msg.reason
                       ? msg.reason
                       : caf::make_error(ec::unspecified,
                                         child.name + " stopped unexpectedly");
    }
    if (st.failure && !st.stopping)
      start_shutdown(self);
  });
  spdlog::info("node {} started", st.cfg.node.name);
  return {
      [self](atom::status) -> status_dict { return node_status(self->state); },
      [self](atom::shutdown) { start_shutdown(self); },
  };
}

} // namespace mailpipe
