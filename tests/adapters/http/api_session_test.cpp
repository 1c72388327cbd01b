#include "adapters/http/api_session.hpp"

#include <gtest/gtest.h>

#include "tests/support/fake_clock.hpp"
#include "tests/support/http_stub.hpp"

using namespace mailpipe;
using namespace std::chrono_literals;
using test::http_stub;
using test::stub_reply;

namespace {

struct fixture {
  http_stub stub;
  test::fake_clock fc;
  http::client client;
  oauth2::token_cache tokens{{stub.url() + "/token", "cid", "cs", "", 2s},
                             "rt"};
  per_user_limiter limiter{10, 10};

  fixture() {
    stub.on("POST", "/token", [](const test::stub_request&) {
      return stub_reply::json(200,
                              R"({"access_token":"at","expires_in":3600})");
    });
  }

  api_session session(http::retry_policy retry = {3, 10s, 1s}) {
    return api_session{{stub.url(), "seed@x", 2s, retry},
                       client,
                       tokens,
                       &limiter,
                       fc.clock()};
  }

  // `path` answers 429 with Retry-After: 2, then 200.
  void throttle_once(const std::string& path) {
    stub.script("GET", path,
                {stub_reply::api_error(429, "TooManyRequests", "slow down")
                     .with_header("Retry-After", "2"),
                 stub_reply::json(200, "{}")});
  }

  // One GET tried until it is answered, as the fetcher tries it.
  caf::expected<http::response> get(api_session& s, const std::string& path,
                                    std::initializer_list<long> pass = {}) {
    return fc.drive([&] { return s.get(stub.url() + path, 1, {}, pass); }, s);
  }
};

} // namespace

TEST(api_session, obeys_retry_after_on_429) {
  fixture f;
  f.throttle_once("/r");
  auto s = f.session();
  auto resp = f.get(s, "/r");
  ASSERT_TRUE(resp) << render(resp.error());
  EXPECT_EQ(*f.fc.waits, (std::vector<duration>{2s}));
  EXPECT_EQ(s.retries(), 1u);
}

TEST(api_session, a_wait_is_returned_never_slept) {
  fixture f;
  f.throttle_once("/r");
  auto s = f.session();
  auto url = f.stub.url() + "/r";
  auto first = s.get(url, 1);
  ASSERT_FALSE(first);
  EXPECT_TRUE(is(first.error(), ec::retry_later)) << render(first.error());
  EXPECT_EQ(s.retry_in(), duration{2s});
  EXPECT_TRUE(is(s.cause(), ec::rate_limited));
  // Too early: nothing is sent, the rest of the wait is named.
  f.fc.advance(500ms);
  auto early = s.get(url, 1);
  ASSERT_FALSE(early);
  EXPECT_TRUE(is(early.error(), ec::retry_later));
  EXPECT_EQ(s.retry_in(), duration{1500ms});
  EXPECT_EQ(f.stub.count("/r"), 1u);
  f.fc.advance(1500ms);
  ASSERT_TRUE(s.get(url, 1));
  EXPECT_EQ(f.stub.count("/r"), 2u);
  EXPECT_EQ(s.waited(), duration{2s});
}

TEST(api_session, a_rerun_replays_what_was_answered) {
  fixture f;
  f.stub.script("GET", "/a", {stub_reply::json(200, R"({"a":1})")});
  f.stub.script("GET", "/b",
                {stub_reply::api_error(503, "503", "Backend Error"),
                 stub_reply::json(200, R"({"b":2})")});
  auto s = f.session();
  // A read of /a then /b, re-run from its start as the adapters are.
  auto read = [&]() -> caf::expected<std::string> {
    auto a = s.get(f.stub.url() + "/a", 1);
    if (!a)
      return std::move(a.error());
    auto b = s.get(f.stub.url() + "/b", 1);
    if (!b)
      return std::move(b.error());
    return a->body + b->body;
  };
  auto both = f.fc.drive(read, s);
  ASSERT_TRUE(both) << render(both.error());
  EXPECT_EQ(*both, R"({"a":1}{"b":2})");
  EXPECT_EQ(f.stub.count("/a"), 1u); // replayed on the re-run, not asked again
  EXPECT_EQ(f.stub.count("/b"), 2u);
  EXPECT_EQ(*f.fc.waits, (std::vector<duration>{1s}));
}

TEST(api_session, too_long_retry_after_is_reported_not_waited) {
  fixture f;
  f.stub.script("GET", "/r",
                {stub_reply::api_error(429, "TooManyRequests", "x")
                     .with_header("Retry-After", "3600")});
  auto s = f.session();
  auto resp = f.get(s, "/r");
  ASSERT_FALSE(resp);
  EXPECT_TRUE(is(resp.error(), ec::rate_limited));
  EXPECT_EQ(http::retry_after(resp.error()), duration{3600s});
  EXPECT_TRUE(f.fc.waits->empty());
}

TEST(api_session, server_errors_are_retried_then_reported) {
  fixture f;
  f.stub.script("GET", "/r",
                {stub_reply::api_error(500, "500", "Backend Error")});
  auto s = f.session();
  auto resp = f.get(s, "/r");
  ASSERT_FALSE(resp);
  EXPECT_TRUE(is(resp.error(), ec::service_unavailable));
  EXPECT_NE(render(resp.error()).find("Backend Error"), std::string::npos);
  EXPECT_EQ(f.stub.count("/r"), 3u);
  EXPECT_EQ(*f.fc.waits, (std::vector<duration>{1s, 2s}));
}

TEST(api_session, passes_statuses_the_caller_handles) {
  fixture f;
  f.stub.script("GET", "/r", {stub_reply::api_error(404, "404", "Not Found")});
  auto s = f.session();
  auto resp = f.get(s, "/r?pass", {404});
  ASSERT_TRUE(resp);
  EXPECT_EQ(resp->status, 404);
  auto err = f.get(s, "/r");
  EXPECT_TRUE(is(err.error(), ec::not_found));
}

TEST(api_session, paces_requests_per_user) {
  fixture f;
  f.stub.script("GET", "/r", {stub_reply::json(200, "{}")});
  auto s = f.session();
  for (int i = 0; i < 12; ++i)
    ASSERT_TRUE(f.get(s, "/r?page=" + std::to_string(i)));
  // A burst of 10, then one unit per 100 ms; a call that waited goes out on
  // its reservation.
  EXPECT_EQ(*f.fc.waits, (std::vector<duration>{100ms, 100ms}));
  EXPECT_EQ(f.stub.count("/r"), 12u);
}

TEST(api_session, never_sends_the_token_to_another_origin) {
  fixture f;
  auto s = f.session();
  auto resp = s.get("http://evil.example/steal", 1);
  ASSERT_FALSE(resp);
  EXPECT_TRUE(is(resp.error(), ec::protocol_error));
  EXPECT_EQ(f.stub.count(".*"), 0u);
}

TEST(api_session, options_come_from_the_provider_config) {
  config cfg;
  cfg.outlook.max_attempts = 5;
  cfg.outlook.request_timeout = 7s;
  auto opts = session_options(cfg.outlook, "seed@contoso.com");
  EXPECT_EQ(opts.api_url, "https://graph.microsoft.com/v1.0");
  EXPECT_EQ(opts.user_key, "seed@contoso.com");
  EXPECT_EQ(opts.timeout, duration{7s});
  EXPECT_EQ(opts.retry.max_attempts, 5);
  EXPECT_EQ(opts.retry.max_wait, duration{60s});
  auto ep = token_endpoint(cfg.outlook);
  EXPECT_EQ(ep.token_url,
            "https://login.microsoftonline.com/common/oauth2/v2.0/token");
  EXPECT_NE(ep.scope.find("offline_access"), std::string::npos);
  EXPECT_EQ(token_endpoint(cfg.gmail).token_url,
            "https://oauth2.googleapis.com/token");
  EXPECT_EQ(token_endpoint(cfg.gmail).scope, "");
}

TEST(api_session, scope_is_sent_with_the_refresh_when_configured) {
  fixture f;
  f.stub.script("GET", "/r", {stub_reply::json(200, "{}")});
  oauth2::token_cache tokens{
      {f.stub.url() + "/token", "cid", "cs", "offline_access Mail.Read", 2s},
      "rt"};
  api_session s{
      {f.stub.url(), "u", 2s, {}}, f.client, tokens, nullptr, f.fc.clock()};
  ASSERT_TRUE(s.get(f.stub.url() + "/r", 1));
  auto grants = f.stub.requests("/token");
  ASSERT_EQ(grants.size(), 1u);
  EXPECT_EQ(grants[0].param("scope"), "offline_access Mail.Read");
}
