#include "actors/http_endpoint.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

namespace mailpipe {

namespace {

// The hooks of the endpoint: the job counters, and an alert for each 500.
http::endpoint_hooks hooks_of(caf::actor_system& sys,
                              std::shared_ptr<job_metrics> jobs) {
  http::endpoint_hooks hooks;
  hooks.node_metrics = [jobs](http::prometheus_text& out) { jobs->write(out); };
  hooks.internal_error = [&sys](const std::string& title,
                                const std::string& detail) {
    spdlog::error("{}: {}", title, detail);
    auto alerter = sys.registry().get<alerter_actor>(alerter_registry_key);
    if (alerter)
      caf::anon_send(alerter, atom::event_v,
                     alert_event{"http_500", true, title, detail,
                                 std::chrono::system_clock::now()});
  };
  return hooks;
}

} // namespace

http_endpoint_actor::behavior_type
http_endpoint(http_endpoint_actor::stateful_pointer<http_endpoint_state> self,
              config cfg, std::shared_ptr<job_metrics> jobs) {
  auto& st = self->state;
  st.address = cfg.http.listen;
  st.server = std::make_unique<http::endpoint>(
      std::move(cfg), hooks_of(self->home_system(), std::move(jobs)));
  if (auto err = st.server->start()) {
    spdlog::critical("{}", render(err));
    self->quit(err);
    return http_endpoint_actor::behavior_type::make_empty_behavior();
  }
  return {
      [self](atom::status) {
        auto& st = self->state;
        status_dict d;
        d["name"] = std::string{http_endpoint_state::name};
        d["address"] = st.address;
        d["requests"] = st.server->requests();
        d["server_errors"] = st.server->server_errors();
        return d;
      },
  };
}

std::vector<node_child_spec>
http_endpoint_children(const config& cfg, std::shared_ptr<job_metrics> jobs) {
  if (cfg.http.listen.empty())
    return {};
  return {{http_endpoint_state::name, [cfg, jobs](caf::actor_system& sys) {
             return caf::actor_cast<caf::actor>(
                 sys.spawn<caf::detached>(http_endpoint, cfg, jobs));
           }}};
}

} // namespace mailpipe
