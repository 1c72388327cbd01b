#pragma once

// The node's HTTP endpoint (docs/http.md), on cpp-httplib: /healthz, /readyz,
// /metrics, the push notifications of Gmail and Microsoft Graph, and the REST
// API under /api/v1 (bearer token; off without one).

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <caf/error.hpp>

#include "adapters/http/prometheus.hpp"
#include "config/config.hpp"

namespace mailpipe::http {

/// What the node adds to the endpoint.
struct endpoint_hooks {
  /// Appends the node's own metrics (its job workers' counters) to /metrics.
  std::function<void(prometheus_text&)> node_metrics;
  /// Called after a request ended in a 500, with a title and what happened
  /// (never a secret: request bodies and tokens are not in it).
  std::function<void(const std::string& title, const std::string& detail)>
      internal_error;
};

/// Request threads of the endpoint (and at most as many idle database
/// connections).
constexpr int endpoint_threads = 4;

/// Serves `cfg.http.listen` in threads of its own until stopped.
class endpoint {
public:
  endpoint(config cfg, endpoint_hooks hooks);
  ~endpoint();
  endpoint(const endpoint&) = delete;
  endpoint& operator=(const endpoint&) = delete;

  /// Binds the address and starts serving; an error says why it cannot
  /// (address in use, say).
  caf::error start();

  /// Stops accepting, ends the requests in flight and joins the threads.
  void stop();

  /// Requests answered, and those answered with a 5xx.
  int64_t requests() const;
  int64_t server_errors() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace mailpipe::http
