// The node's HTTP endpoint as a part: it starts, answers, and stops at any
// moment, its listening loop running or not yet (no wait in `start`).

#include "adapters/http/endpoint.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "adapters/http/client.hpp"
#include "messages/error.hpp"
#include "tests/support/env.hpp"

namespace mailpipe {
namespace {

// A port the kernel gives out now (bound to 0, then closed).
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

config endpoint_config(int port) {
  config cfg;
  cfg.database.url = test::env("MAILPIPE_TEST_DATABASE_URL");
  cfg.http.listen = "127.0.0.1:" + std::to_string(port);
  return cfg;
}

TEST(endpoint, stops_at_once_after_start_whether_or_not_it_listens_yet) {
  for (int i = 0; i < 200; ++i) {
    http::endpoint ep{endpoint_config(0), {}};
    ASSERT_FALSE(ep.start());
    ep.stop(); // returns: the test would hang otherwise
  }
}

TEST(endpoint, answers_until_stopped_then_frees_its_port) {
  // A port that was free a moment ago, so that a second endpoint can bind it
  // after the first.
  auto port = free_port();
  http::endpoint first{endpoint_config(port), {}};
  ASSERT_FALSE(first.start());
  http::client client;
  http::request req;
  req.url = "http://127.0.0.1:" + std::to_string(port) + "/healthz";
  auto res = client.perform(req);
  ASSERT_TRUE(res) << render(res.error());
  EXPECT_EQ(res->status, 200);
  first.stop();
  EXPECT_FALSE(client.perform(req)); // refused
  http::endpoint second{endpoint_config(port), {}};
  EXPECT_FALSE(second.start());
  second.stop();
}

} // namespace
} // namespace mailpipe
