// The IMAP client against tiny local TCP servers that misbehave on purpose.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "adapters/imap/client.hpp"
#include "messages/error.hpp"

using namespace mailpipe;
using namespace mailpipe::imap;
using namespace std::chrono_literals;

namespace {

// -- a scripted server --------------------------------------------------------

/// Listens on 127.0.0.1 (random port) and runs `script` on each accepted
/// connection in a thread; stops on destruction.
class fault_server {
public:
  using script = std::function<void(int fd, const std::atomic<bool>& stop)>;

  explicit fault_server(script s) : script_(std::move(s)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(::listen(fd_, 8), 0);
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread{[this] { loop(); }};
  }

  ~fault_server() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }

  uint16_t port() const { return port_; }

  endpoint plain() const {
    return {"127.0.0.1", port_, security::plain, "", ""};
  }

private:
  void loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0)
        continue;
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0)
        continue;
      script_(c, stop_);
      ::close(c);
    }
  }

  script script_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

void send_all(int fd, std::string_view x) {
  ::send(fd, x.data(), x.size(), MSG_NOSIGNAL);
}

/// Reads one line (up to LF) or returns "" when the peer goes away.
std::string read_line(int fd, const std::atomic<bool>& stop) {
  std::string line;
  char c;
  while (!stop) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0)
      continue;
    if (::recv(fd, &c, 1, 0) != 1)
      return line;
    line += c;
    if (c == '\n')
      return line;
  }
  return line;
}

void wait_until_stopped_or_closed(int fd, const std::atomic<bool>& stop) {
  char buf[256];
  while (!stop) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) > 0 && ::recv(fd, buf, sizeof(buf), 0) <= 0)
      return;
  }
}

settings fast_settings() {
  settings cfg;
  cfg.allow_plaintext = true;
  cfg.connect_timeout = 400ms;
  cfg.command_timeout = 400ms;
  return cfg;
}

const credentials creds{"user@example.com", "s3cret-pass",
                        credentials::method::login};

caf::error pass_error(const fault_server& srv, const settings& cfg,
                      std::chrono::milliseconds& took) {
  auto t0 = std::chrono::steady_clock::now();
  auto r = find_test_messages(srv.plain(), creds, {"mp-abc12345"}, {}, cfg);
  took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - t0);
  EXPECT_FALSE(r);
  return r ? caf::error{} : r.error();
}

} // namespace

// -- timeouts -----------------------------------------------------------------

TEST(imap_fault, silent_server_times_out_on_greeting) {
  fault_server srv{wait_until_stopped_or_closed};
  std::chrono::milliseconds took;
  auto err = pass_error(srv, fast_settings(), took);
  EXPECT_TRUE(is(err, ec::timeout)) << render(err);
  EXPECT_EQ(classify(err), failure_class::timeout);
  EXPECT_LT(took, 2s);
  EXPECT_GE(took, 350ms);
}

TEST(imap_fault, server_that_stops_answering_after_login_times_out) {
  fault_server srv{[](int fd, const std::atomic<bool>& stop) {
    send_all(fd, "* OK [CAPABILITY IMAP4rev1] hi\r\n");
    wait_until_stopped_or_closed(fd, stop);
  }};
  std::chrono::milliseconds took;
  auto err = pass_error(srv, fast_settings(), took);
  EXPECT_TRUE(is(err, ec::timeout)) << render(err);
  EXPECT_NE(render(err).find("LOGIN"), std::string::npos) << render(err);
  EXPECT_LT(took, 2s);
}

TEST(imap_fault, trickling_untagged_data_does_not_stretch_the_timeout) {
  fault_server srv{[](int fd, const std::atomic<bool>& stop) {
    send_all(fd, "* OK [CAPABILITY IMAP4rev1] hi\r\n");
    read_line(fd, stop);
    for (int i = 0; i < 100 && !stop; ++i) {
      send_all(fd, "* OK still thinking\r\n");
      std::this_thread::sleep_for(50ms);
    }
  }};
  std::chrono::milliseconds took;
  auto err = pass_error(srv, fast_settings(), took);
  EXPECT_TRUE(is(err, ec::timeout)) << render(err);
  EXPECT_LT(took, 1500ms);
}

TEST(imap_fault, silent_tls_handshake_times_out) {
  fault_server srv{wait_until_stopped_or_closed};
  auto cfg = fast_settings();
  endpoint ep{"127.0.0.1", srv.port(), security::implicit_tls, "", ""};
  auto t0 = std::chrono::steady_clock::now();
  auto s = session::open(ep, cfg);
  ASSERT_FALSE(s);
  EXPECT_TRUE(is(s.error(), ec::timeout)) << render(s.error());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
}

TEST(imap_fault, idle_with_a_silent_server_returns_nothing_in_time) {
  fault_server srv{[](int fd, const std::atomic<bool>& stop) {
    send_all(fd, "* OK [CAPABILITY IMAP4rev1 IDLE] hi\r\n");
    auto line = read_line(fd, stop); // "m1 IDLE"
    send_all(fd, "+ idling\r\n");
    line = read_line(fd, stop); // "DONE"
    if (line == "DONE\r\n")
      send_all(fd, "m1 OK Idle completed\r\n");
    wait_until_stopped_or_closed(fd, stop);
  }};
  auto s = session::open(srv.plain(), fast_settings());
  ASSERT_TRUE(s) << render(s.error());
  auto r = s->idle(200ms);
  ASSERT_TRUE(r) << render(r.error());
  EXPECT_FALSE(*r);
}

// -- broken connections -------------------------------------------------------

TEST(imap_fault, close_mid_response_is_network) {
  fault_server srv{[](int fd, const std::atomic<bool>& stop) {
    send_all(fd, "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] hi\r\n");
    read_line(fd, stop);
    // Half a literal, then hang up.
    send_all(fd, "* 1 FETCH (UID 1 BODY[HEADER] {500}\r\nFrom: x");
  }};
  std::chrono::milliseconds took;
  auto err = pass_error(srv, fast_settings(), took);
  EXPECT_TRUE(is(err, ec::network)) << render(err);
  EXPECT_EQ(classify(err), failure_class::network);
}

TEST(imap_fault, bye_then_close_is_service_unavailable) {
  fault_server srv{[](int fd, const std::atomic<bool>& stop) {
    send_all(fd, "* OK [CAPABILITY IMAP4rev1] hi\r\n");
    read_line(fd, stop);
    send_all(fd, "* BYE [UNAVAILABLE] maintenance\r\n");
  }};
  std::chrono::milliseconds took;
  auto err = pass_error(srv, fast_settings(), took);
  EXPECT_TRUE(is(err, ec::service_unavailable)) << render(err);
  EXPECT_NE(render(err).find("maintenance"), std::string::npos);
}

TEST(imap_fault, bye_greeting_is_service_unavailable) {
  fault_server srv{[](int fd, const std::atomic<bool>&) {
    send_all(fd, "* BYE Too many connections\r\n");
  }};
  std::chrono::milliseconds took;
  auto err = pass_error(srv, fast_settings(), took);
  EXPECT_TRUE(is(err, ec::service_unavailable)) << render(err);
}

// -- garbage ------------------------------------------------------------------

TEST(imap_fault, garbage_greeting_is_a_parse_error) {
  fault_server srv{[](int fd, const std::atomic<bool>& stop) {
    send_all(fd, "HTTP/1.1 400 Bad Request\r\n");
    wait_until_stopped_or_closed(fd, stop);
  }};
  std::chrono::milliseconds took;
  auto err = pass_error(srv, fast_settings(), took);
  EXPECT_TRUE(is(err, ec::parse_error) || is(err, ec::protocol_error))
      << render(err);
  EXPECT_EQ(classify(err), failure_class::parse);
}

TEST(imap_fault, binary_garbage_after_login_is_a_parse_error) {
  fault_server srv{[](int fd, const std::atomic<bool>& stop) {
    send_all(fd, "* OK [CAPABILITY IMAP4rev1] hi\r\n");
    read_line(fd, stop);
    std::string junk;
    for (int i = 0; i < 4096; ++i)
      junk += static_cast<char>((i * 7919) & 0xff);
    send_all(fd, junk + "\r\n");
    wait_until_stopped_or_closed(fd, stop);
  }};
  std::chrono::milliseconds took;
  auto err = pass_error(srv, fast_settings(), took);
  EXPECT_TRUE(is(err, ec::parse_error) || is(err, ec::protocol_error))
      << render(err);
  EXPECT_LT(took, 2s);
}

TEST(imap_fault, echoed_credentials_never_reach_the_error) {
  fault_server srv{[](int fd, const std::atomic<bool>& stop) {
    send_all(fd, "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] hi\r\n");
    auto line = read_line(fd, stop);
    // A broken server echoes the command (base64 of the password) in garbage.
    send_all(fd, "\x01\x02 " + line.substr(0, 50) + "\r\n");
    wait_until_stopped_or_closed(fd, stop);
  }};
  for (auto mech : {credentials::method::login, credentials::method::plain}) {
    auto c = creds;
    c.mechanism = mech;
    auto r = find_test_messages(srv.plain(), c, {"mp-abc12345"}, {},
                                fast_settings());
    ASSERT_FALSE(r);
    EXPECT_TRUE(is(r.error(), ec::parse_error)) << render(r.error());
    auto text = render(r.error());
    EXPECT_NE(text.find("***"), std::string::npos) << text;
    for (const auto& secret : secrets_of(c))
      EXPECT_EQ(text.find(secret.substr(0, 8)), std::string::npos) << text;
    EXPECT_EQ(text.find("parse_error: parse_error"), std::string::npos);
  }
}

TEST(imap_fault, unknown_tag_is_a_protocol_error) {
  fault_server srv{[](int fd, const std::atomic<bool>& stop) {
    send_all(fd, "* OK [CAPABILITY IMAP4rev1] hi\r\n");
    read_line(fd, stop);
    send_all(fd, "zz9 OK who are you\r\n");
    wait_until_stopped_or_closed(fd, stop);
  }};
  std::chrono::milliseconds took;
  auto err = pass_error(srv, fast_settings(), took);
  EXPECT_TRUE(is(err, ec::protocol_error)) << render(err);
}

TEST(imap_fault, endless_line_hits_the_limit) {
  fault_server srv{[](int fd, const std::atomic<bool>& stop) {
    std::string chunk(64 * 1024, 'A');
    for (int i = 0; i < 40 && !stop; ++i)
      send_all(fd, chunk);
    wait_until_stopped_or_closed(fd, stop);
  }};
  auto cfg = fast_settings();
  cfg.limits.max_line = 256 * 1024;
  cfg.connect_timeout = 3s;
  auto s = session::open(srv.plain(), cfg);
  ASSERT_FALSE(s);
  EXPECT_TRUE(is(s.error(), ec::parse_error)) << render(s.error());
}

// -- server refusals ----------------------------------------------------------

TEST(imap_fault, refusals_are_classified_and_secret_free) {
  struct row {
    const char* answer;
    ec expected;
  };
  for (auto [answer, expected] :
       {row{"NO [AUTHENTICATIONFAILED] Invalid credentials s3cret-pass",
            ec::auth_failed},
        row{"NO [LIMIT] Too many logins", ec::rate_limited},
        row{"NO [OVERQUOTA] Quota exceeded", ec::quota_exceeded},
        row{"NO [UNAVAILABLE] Backend down", ec::service_unavailable},
        row{"NO Login failed", ec::auth_failed}}) {
    std::string reply = answer;
    fault_server srv{[reply](int fd, const std::atomic<bool>& stop) {
      send_all(fd, "* OK [CAPABILITY IMAP4rev1] hi\r\n");
      // The first command gets the refusal, pipelined ones a BAD.
      for (bool first = true; !stop; first = false) {
        auto line = read_line(fd, stop);
        if (line.empty())
          return;
        auto tag = line.substr(0, line.find(' '));
        send_all(fd,
                 tag + " " + (first ? reply : "BAD Not logged in") + "\r\n");
      }
    }};
    std::chrono::milliseconds took;
    auto err = pass_error(srv, fast_settings(), took);
    EXPECT_TRUE(is(err, expected)) << render(err);
    EXPECT_EQ(render(err).find("s3cret-pass"), std::string::npos)
        << render(err);
  }
}

TEST(imap_fault, xoauth2_error_challenge_is_answered) {
  fault_server srv{[](int fd, const std::atomic<bool>& stop) {
    send_all(fd, "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] hi\r\n");
    auto line = read_line(fd, stop);
    auto tag = line.substr(0, line.find(' '));
    if (line.find("AUTHENTICATE XOAUTH2 ") == std::string::npos)
      return;
    // Gmail's way: an error challenge, an empty answer, then NO.
    send_all(fd, "+ eyJzdGF0dXMiOiI0MDAifQ==\r\n");
    if (read_line(fd, stop) != "\r\n")
      return;
    send_all(fd, tag
                     + " NO [AUTHENTICATIONFAILED] Invalid credentials "
                       "(Failure)\r\n");
    // Commands held back until the answer above now arrive.
    for (;;) {
      line = read_line(fd, stop);
      if (line.empty())
        return;
      send_all(fd, line.substr(0, line.find(' ')) + " BAD Not logged in\r\n");
    }
  }};
  auto c = creds;
  c.mechanism = credentials::method::xoauth2;
  c.secret = "ya29.token-value";
  auto r =
      find_test_messages(srv.plain(), c, {"mp-abc12345"}, {}, fast_settings());
  ASSERT_FALSE(r);
  EXPECT_TRUE(is(r.error(), ec::auth_failed)) << render(r.error());
  EXPECT_EQ(render(r.error()).find("ya29"), std::string::npos);
}

// -- continuations ------------------------------------------------------------

TEST(imap_fault, sasl_without_initial_response_waits_for_the_challenge) {
  std::atomic<bool> checked{false};
  fault_server srv{[&checked](int fd, const std::atomic<bool>& stop) {
    send_all(fd, "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\r\n");
    auto line = read_line(fd, stop);
    if (line != "m1 AUTHENTICATE PLAIN\r\n")
      return;
    send_all(fd, "+ \r\n");
    // base64("\0user@example.com\0s3cret-pass")
    if (read_line(fd, stop) != "AHVzZXJAZXhhbXBsZS5jb20AczNjcmV0LXBhc3M=\r\n")
      return;
    checked = true;
    send_all(fd, "m1 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n");
    wait_until_stopped_or_closed(fd, stop);
  }};
  auto s = session::open(srv.plain(), fast_settings());
  ASSERT_TRUE(s) << render(s.error());
  auto c = creds;
  c.mechanism = credentials::method::plain;
  auto err = s->authenticate(c);
  EXPECT_FALSE(err) << render(err);
  EXPECT_TRUE(checked);
  EXPECT_TRUE(s->has_capability("IDLE")); // taken from the OK's code
}

// -- capabilities from hints --------------------------------------------------

/// Hints as a pass against a server announcing these lists leaves them.
session_hints hints_for(std::string greeting, std::string after_login) {
  session_hints h;
  h.greeting_capabilities =
      std::make_shared<const capability_list>(std::move(greeting));
  h.capabilities =
      std::make_shared<const capability_list>(std::move(after_login));
  h.known = true;
  return h;
}

/// A server that greets with `greeting` and answers the login with
/// `after_login` in the OK's code.
fault_server::script announcing(std::string greeting, std::string after_login) {
  return [=](int fd, const std::atomic<bool>& stop) {
    send_all(fd, "* OK [CAPABILITY " + greeting + "] hi\r\n");
    if (read_line(fd, stop).rfind("m1 LOGIN ", 0) != 0)
      return;
    send_all(fd, "m1 OK [CAPABILITY " + after_login + "] Logged in\r\n");
    wait_until_stopped_or_closed(fd, stop);
  };
}

TEST(imap_fault, announced_list_equal_to_the_hints_is_taken_from_them) {
  fault_server srv{announcing("IMAP4rev1 LITERAL+", "IMAP4rev1 IDLE MOVE")};
  auto hints = hints_for("IMAP4rev1 LITERAL+", "IMAP4rev1 IDLE MOVE");
  auto s = session::open(srv.plain(), fast_settings(), &hints);
  ASSERT_TRUE(s) << render(s.error());
  // The greeting is not awaited: its list comes from the hints.
  EXPECT_EQ(s->shared_capabilities(), hints.greeting_capabilities);
  auto err = s->authenticate(creds);
  ASSERT_FALSE(err) << render(err);
  EXPECT_EQ(s->shared_capabilities(), hints.capabilities); // not parsed again
  EXPECT_TRUE(s->has_capability("idle"));
}

TEST(imap_fault, changed_list_is_noticed_despite_the_hints) {
  // The server gained SEARCHRES and lost IDLE since the hints were taken.
  fault_server srv{announcing("IMAP4rev1 LITERAL+", "IMAP4rev1 SEARCHRES")};
  auto hints = hints_for("IMAP4rev1 LITERAL+", "IMAP4rev1 IDLE");
  auto s = session::open(srv.plain(), fast_settings(), &hints);
  ASSERT_TRUE(s) << render(s.error());
  auto err = s->authenticate(creds);
  ASSERT_FALSE(err) << render(err);
  EXPECT_NE(s->shared_capabilities(), hints.capabilities);
  EXPECT_TRUE(s->has_capability("SEARCHRES"));
  EXPECT_FALSE(s->has_capability("IDLE"));
  EXPECT_EQ(s->capabilities().text(), "IMAP4rev1 SEARCHRES");
  EXPECT_EQ(hints.capabilities->text(), "IMAP4rev1 IDLE"); // hints untouched
}

TEST(imap_fault, untagged_capability_list_replaces_the_one_in_force) {
  fault_server srv{[](int fd, const std::atomic<bool>& stop) {
    send_all(fd, "* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n");
    if (read_line(fd, stop) != "m1 CAPABILITY\r\n")
      return;
    send_all(fd, "* CAPABILITY IMAP4rev1 NAMESPACE ENABLE\r\n"
                 "m1 OK done\r\n");
    wait_until_stopped_or_closed(fd, stop);
  }};
  auto s = session::open(srv.plain(), fast_settings());
  ASSERT_TRUE(s) << render(s.error());
  EXPECT_TRUE(s->has_capability("STARTTLS"));
  auto err = s->refresh_capabilities();
  ASSERT_FALSE(err) << render(err);
  EXPECT_FALSE(s->has_capability("STARTTLS"));
  EXPECT_TRUE(s->has_capability("namespace"));
  EXPECT_EQ(s->capabilities().text(), "IMAP4rev1 NAMESPACE ENABLE");
}

TEST(imap_fault, odd_password_goes_out_as_a_synchronizing_literal) {
  std::atomic<bool> checked{false};
  fault_server srv{[&checked](int fd, const std::atomic<bool>& stop) {
    send_all(fd, "* OK [CAPABILITY IMAP4rev1] hi\r\n");
    if (read_line(fd, stop) != "m1 LOGIN \"user@example.com\" {6}\r\n")
      return;
    send_all(fd, "+ Ready for literal data\r\n");
    if (read_line(fd, stop) != "p\xc3\xa4ss!\r\n")
      return;
    checked = true;
    send_all(fd, "m1 OK Logged in\r\n");
    wait_until_stopped_or_closed(fd, stop);
  }};
  auto s = session::open(srv.plain(), fast_settings());
  ASSERT_TRUE(s) << render(s.error());
  auto c = creds;
  c.secret = "p\xc3\xa4ss!";
  auto err = s->authenticate(c);
  EXPECT_FALSE(err) << render(err);
  EXPECT_TRUE(checked);
}

TEST(imap_fault, literal_refused_before_continuation_is_not_sent) {
  fault_server srv{[](int fd, const std::atomic<bool>& stop) {
    send_all(fd, "* OK [CAPABILITY IMAP4rev1] hi\r\n");
    read_line(fd, stop);
    send_all(fd, "m1 NO [AUTHENTICATIONFAILED] no literals for you\r\n");
    wait_until_stopped_or_closed(fd, stop);
  }};
  auto s = session::open(srv.plain(), fast_settings());
  ASSERT_TRUE(s);
  auto c = creds;
  c.secret = "p\xc3\xa4ss!";
  auto err = s->authenticate(c);
  EXPECT_TRUE(is(err, ec::auth_failed)) << render(err);
  EXPECT_EQ(render(err).find(c.secret), std::string::npos);
}
