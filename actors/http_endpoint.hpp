#pragma once

#include <memory>
#include <vector>

#include "actors/actors.hpp"
#include "actors/job_worker.hpp"
#include "actors/node.hpp"
#include "adapters/http/endpoint.hpp"
#include "config/config.hpp"

namespace mailpipe {

/// State of the HTTP endpoint actor: the endpoint it runs (stopped, its
/// threads joined, when the state goes).
struct http_endpoint_state {
  static inline const char* name = "http_endpoint";
  std::string address;
  std::unique_ptr<http::endpoint> server;
};

/// Serves `cfg.http.listen`; /metrics adds `jobs`' counters, and a 500 is a
/// critical `http_500` alert through the node's alerter. Quits with the
/// reason when the address cannot be bound.
http_endpoint_actor::behavior_type
http_endpoint(http_endpoint_actor::stateful_pointer<http_endpoint_state> self,
              config cfg, std::shared_ptr<job_metrics> jobs);

/// The endpoint as a node child (after the job workers, so it stops first),
/// or nothing when `cfg.http.listen` is "".
std::vector<node_child_spec>
http_endpoint_children(const config& cfg, std::shared_ptr<job_metrics> jobs);

} // namespace mailpipe
