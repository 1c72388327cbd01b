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
#include "tests/support/fault_proxy.hpp"

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

// What the endpoint answers to `request` sent as it is: the first line only,
// or all it sends until it closes the connection (`whole`); what came within
// two seconds.
std::string raw_exchange(int port, const std::string& request, bool whole) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  timeval wait{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
  std::string answer;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    char buf[512];
    while (whole || answer.find("\r\n") == std::string::npos) {
      auto n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0)
        break;
      answer.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return answer;
}

// The status code of the answer to `request`, or -1 when none came.
int status_of_raw(int port, const std::string& request) {
  auto answer = raw_exchange(port, request, false);
  if (answer.rfind("HTTP/1.1 ", 0) != 0 || answer.size() < 12)
    return -1;
  return std::stoi(answer.substr(9, 3));
}

// How many answers come to `requests` sent at once before the endpoint closes
// the connection.
int answers_to_raw(int port, const std::string& requests) {
  auto answer = raw_exchange(port, requests, true);
  int count = 0;
  for (auto at = answer.find("HTTP/1.1 "); at != std::string::npos;
       at = answer.find("HTTP/1.1 ", at + 1))
    ++count;
  return count;
}

TEST(endpoint, refuses_bodies_it_cannot_bound_before_reading_them) {
  auto port = free_port();
  http::endpoint ep{endpoint_config(port), {}};
  ASSERT_FALSE(ep.start());
  auto head = [](const std::string& method, const std::string& headers) {
    return method + " /api/v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers
           + "\r\n";
  };
  // Chunked, with no end in sight: refused, not read until the client stops.
  EXPECT_EQ(status_of_raw(port, head("POST", "Transfer-Encoding: chunked\r\n")
                                    + "400\r\n" + std::string(1024, 'a')),
            411);
  EXPECT_EQ(status_of_raw(port, head("GET", "Transfer-Encoding: chunked\r\n")
                                    + "400\r\n"),
            411);
  // No length: cpp-httplib would read until the client closes.
  EXPECT_EQ(status_of_raw(port, head("POST", "") + "{\"queue\""), 411);
  // Compressed: inflated past the limit its length was checked against.
  EXPECT_EQ(status_of_raw(port, head("POST", "Content-Encoding: gzip\r\n"
                                             "Content-Length: 4\r\n")
                                    + "\x1f\x8b\x08\x00"),
            415);
  // A body with its length is read and routed (the API is off here: 404).
  EXPECT_EQ(status_of_raw(port, head("POST", "Content-Length: 2\r\n") + "{}"),
            404);
  EXPECT_EQ(status_of_raw(port, head("GET", "")), 404);
  // Over 1 MiB by its length: refused before it is read (cpp-httplib would
  // read all it announces first).
  EXPECT_EQ(status_of_raw(
                port, head("POST", "Content-Length: 1000000000000\r\n") + "{}"),
            413);
  EXPECT_EQ(status_of_raw(port, head("POST", "Content-Length: 2x\r\n") + "{}"),
            400);
  // One request a connection: a refused body is never read as requests.
  EXPECT_EQ(answers_to_raw(port, head("POST", "Content-Length: 10\r\n"
                                              "Content-Encoding: gzip\r\n")
                                     + head("GET", "")),
            1);
  ep.stop();
}

TEST(endpoint, readiness_says_unavailable_when_the_database_freezes) {
  auto target = test::env("MAILPIPE_TEST_DATABASE_URL");
  ASSERT_FALSE(target.empty()) << "no PostgreSQL: run with tools/test";
  auto pg = test::pg_target_of(target);
  ASSERT_TRUE(pg);
  test::fault_proxy proxy{pg->host, pg->port};
  auto port = free_port();
  auto cfg = endpoint_config(port);
  cfg.database.url = test::through_port(target, proxy.port());
  cfg.database.statement_timeout = std::chrono::seconds{1};
  cfg.database.connect_timeout = std::chrono::seconds{1};
  http::endpoint ep{cfg, {}};
  ASSERT_FALSE(ep.start());
  http::client client;
  http::request req;
  req.url = "http://127.0.0.1:" + std::to_string(port) + "/readyz";
  req.timeout = std::chrono::seconds{20};
  auto ready = client.perform(req);
  ASSERT_TRUE(ready) << render(ready.error());
  EXPECT_EQ(ready->status, 200) << ready->body;
  // Frozen: the pooled connection's query gets no answer, and the endpoint
  // says so within the call's bound instead of holding the request.
  proxy.freeze();
  auto frozen = client.perform(req);
  ASSERT_TRUE(frozen) << render(frozen.error());
  EXPECT_EQ(frozen->status, 503) << frozen->body;
  EXPECT_NE(frozen->body.find("no answer"), std::string::npos) << frozen->body;
  proxy.resume();
  ep.stop();
}

} // namespace
} // namespace mailpipe
