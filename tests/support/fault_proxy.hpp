#pragma once

// A TCP proxy that can stop forwarding: a frozen or black-holed server as the
// client sees it (connections stay open, the kernel acknowledges, nothing
// answers), for tests of the client-side bounds of every call.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>

namespace mailpipe::test {

/// Host and port of a `postgresql://user@host:port/db` URL (an IPv4 host).
struct proxy_target {
  std::string host;
  uint16_t port = 0;
};
std::optional<proxy_target> pg_target_of(const std::string& url);

/// `url` with its port replaced by `port` (a proxy's).
std::string through_port(const std::string& url, uint16_t port);

/// One proxied connection (defined in the source).
struct fault_link;

/// Listens on 127.0.0.1 on a free port and forwards each connection to
/// `target_host:target_port`, in both directions, from one thread of its own.
class fault_proxy {
public:
  /// Starts listening and forwarding; fails the test (port() 0) when it cannot
  /// listen.
  fault_proxy(std::string target_host, uint16_t target_port);
  /// Stops forwarding, closes every socket and joins the thread.
  ~fault_proxy();
  fault_proxy(const fault_proxy&) = delete;
  fault_proxy& operator=(const fault_proxy&) = delete;

  /// The port it listens on.
  uint16_t port() const { return port_; }

  /// Stops forwarding in both directions and stops reading new connections'
  /// bytes, keeping every socket open: a black hole.
  void freeze();

  /// Forwards again what waited and what comes.
  void resume();

  /// Connections accepted so far.
  int accepted() const { return accepted_; }

private:
  void wake();
  void loop();
  std::unique_ptr<fault_link> accept_link();

  std::string target_host_;
  uint16_t target_port_;
  int listener_ = -1;
  int wake_pipe_[2] = {-1, -1};
  uint16_t port_ = 0;
  std::atomic<bool> frozen_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

} // namespace mailpipe::test
