#include "adapters/http/oauth2.hpp"

#include <gtest/gtest.h>

#include "tests/support/fake_clock.hpp"
#include "tests/support/http_stub.hpp"

using namespace mailpipe;
using namespace std::chrono_literals;
using test::http_stub;
using test::stub_reply;
using test::stub_request;

namespace {

// Google's documented refresh answer (no refresh_token unless rotated).
std::string token_json(const std::string& access, int expires_in = 3599,
                       const std::string& rotated = "") {
  auto out = R"({"access_token": ")" + access + R"(", "expires_in": )"
             + std::to_string(expires_in)
             + R"(, "scope": "https://www.googleapis.com/auth/gmail.readonly",)"
               R"( "token_type": "Bearer")";
  if (!rotated.empty())
    out += R"(, "refresh_token": ")" + rotated + "\"";
  return out + "}";
}

// A token endpoint handing out at-1, at-2, ... for the refresh token "rt-good".
void serve_tokens(http_stub& stub, std::string rotate_to = "") {
  auto n = std::make_shared<int>(0);
  stub.on("POST", "/token", [n, rotate_to](const stub_request& r) {
    if (r.param("grant_type") != "refresh_token"
        || r.param("client_id") != "cid"
        || r.param("client_secret") != "csecret")
      return stub_reply::json(401, R"({"error": "invalid_client",
        "error_description": "The OAuth client was not found."})");
    if (r.param("refresh_token") != "rt-good")
      return stub_reply::json(400, R"({"error": "invalid_grant",
        "error_description": "Token has been expired or revoked."})");
    return stub_reply::json(
        200, token_json("at-" + std::to_string(++*n), 3599, rotate_to));
  });
}

oauth2::endpoint endpoint_of(const http_stub& stub) {
  return {stub.url() + "/token", "cid", "csecret", "", 2s};
}

} // namespace

// -- parsing ------------------------------------------------------------------

TEST(oauth2, parses_token_responses) {
  test::fake_clock fc;
  auto tok = oauth2::parse_token_response(token_json("ya29.a", 100, "1//new"),
                                          *fc.now);
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->access_token, "ya29.a");
  EXPECT_EQ(tok->refresh_token, "1//new");
  EXPECT_EQ(tok->expires_at, *fc.now + 100s);
  auto as_string = oauth2::parse_token_response(
      R"({"access_token":"x","expires_in":"60"})", *fc.now);
  ASSERT_TRUE(as_string);
  EXPECT_EQ(as_string->expires_at, *fc.now + 60s);
  auto no_expiry =
      oauth2::parse_token_response(R"({"access_token":"x"})", *fc.now);
  EXPECT_EQ(no_expiry->expires_at, *fc.now + 3600s);
  for (auto bad : {"", "not json", "{}", R"({"access_token": 5})",
                   R"({"access_token": ""})",
                   R"({"access_token":"x","expires_in":"soon"})"}) {
    auto t = oauth2::parse_token_response(bad, *fc.now);
    ASSERT_FALSE(t) << bad;
    EXPECT_TRUE(is(t.error(), ec::parse_error)) << bad;
  }
}

// -- the grant ----------------------------------------------------------------

TEST(oauth2, refresh_posts_the_form_and_reads_the_token) {
  http_stub stub;
  serve_tokens(stub);
  http::client c;
  test::fake_clock fc;
  auto tok = oauth2::refresh(c, endpoint_of(stub), "rt-good", *fc.now);
  ASSERT_TRUE(tok) << render(tok.error());
  EXPECT_EQ(tok->access_token, "at-1");
  auto reqs = stub.requests("/token");
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].header("Content-Type"),
            "application/x-www-form-urlencoded");
  EXPECT_NE(reqs[0].body.find("grant_type=refresh_token"), std::string::npos);
  EXPECT_NE(reqs[0].body.find("refresh_token=rt-good"), std::string::npos);
}

TEST(oauth2, invalid_grant_is_auth_failed_without_secrets) {
  http_stub stub;
  serve_tokens(stub);
  http::client c;
  test::fake_clock fc;
  auto tok = oauth2::refresh(c, endpoint_of(stub), "rt-revoked", *fc.now);
  ASSERT_FALSE(tok);
  EXPECT_TRUE(is(tok.error(), ec::auth_failed));
  auto text = render(tok.error());
  EXPECT_NE(text.find("invalid_grant"), std::string::npos) << text;
  EXPECT_NE(text.find("expired or revoked"), std::string::npos) << text;
  EXPECT_EQ(text.find("rt-revoked"), std::string::npos) << text;
  EXPECT_EQ(text.find("csecret"), std::string::npos) << text;
  auto ep = endpoint_of(stub);
  ep.client_secret = "wrong";
  auto bad_client = oauth2::refresh(c, ep, "rt-good", *fc.now);
  ASSERT_FALSE(bad_client);
  EXPECT_TRUE(is(bad_client.error(), ec::auth_failed));
}

TEST(oauth2, token_endpoint_failures_are_classified) {
  http_stub stub;
  stub.script("POST", "/token",
              {stub_reply::api_error(503, "503", "backend down"),
               stub_reply::json(200, "{not json"),
               stub_reply::json(200, "{}").after(600ms)});
  http::client c;
  test::fake_clock fc;
  auto ep = endpoint_of(stub);
  ep.timeout = 200ms;
  auto down = oauth2::refresh(c, ep, "rt", *fc.now);
  EXPECT_TRUE(is(down.error(), ec::service_unavailable))
      << render(down.error());
  auto garbled = oauth2::refresh(c, ep, "rt", *fc.now);
  EXPECT_TRUE(is(garbled.error(), ec::parse_error)) << render(garbled.error());
  auto slow = oauth2::refresh(c, ep, "rt", *fc.now);
  EXPECT_TRUE(is(slow.error(), ec::timeout)) << render(slow.error());
  EXPECT_TRUE(is(oauth2::refresh(c, ep, "", *fc.now).error(), ec::auth_failed));
}

// -- the cache ----------------------------------------------------------------

TEST(oauth2, cache_returns_the_token_until_shortly_before_expiry) {
  http_stub stub;
  serve_tokens(stub);
  http::client c;
  test::fake_clock fc;
  oauth2::token_cache cache{endpoint_of(stub), "rt-good", 60s};
  EXPECT_EQ(*cache.access_token(c, *fc.now), "at-1");
  fc.advance(3000s);
  EXPECT_EQ(*cache.access_token(c, *fc.now), "at-1");
  EXPECT_EQ(stub.count("/token"), 1u);
  fc.advance(540s); // 3540 s: within the 60 s margin of 3599 s
  EXPECT_EQ(*cache.access_token(c, *fc.now), "at-2");
  EXPECT_EQ(cache.refreshes(), 2u);
  cache.invalidate();
  EXPECT_EQ(*cache.access_token(c, *fc.now), "at-3");
}

TEST(oauth2, rotated_refresh_token_is_kept_and_reported) {
  http_stub stub;
  serve_tokens(stub, "rt-rotated");
  http::client c;
  test::fake_clock fc;
  oauth2::token_cache cache{endpoint_of(stub), "rt-good"};
  std::string stored;
  std::string replaced;
  cache.on_rotate = [&](const std::string& from, const std::string& to) {
    replaced = from;
    stored = to;
  };
  ASSERT_TRUE(cache.access_token(c, *fc.now));
  EXPECT_EQ(stored, "rt-rotated");
  EXPECT_EQ(replaced, "rt-good");
  EXPECT_EQ(cache.refresh_token(), "rt-rotated");
  EXPECT_EQ(cache.granted(), "rt-good");
}

// -- 401 handling -------------------------------------------------------------

namespace {

// A token endpoint, an API at /api and a token cache for `refresh_token`.
struct auth_fixture {
  http_stub stub;
  http::client client;
  test::fake_clock fc;
  oauth2::token_cache cache;

  explicit auth_fixture(std::string refresh_token)
      : cache(endpoint_of(stub), std::move(refresh_token)) {
    serve_tokens(stub);
  }

  caf::expected<http::response> call() {
    http::request req;
    req.url = stub.url() + "/api";
    return oauth2::call_with_auth(client, cache, req, fc.clock());
  }
};

} // namespace

TEST(oauth2, expired_token_is_refreshed_once_and_the_call_retried) {
  auth_fixture f{"rt-good"};
  // The API accepts only at-2: at-1 "expired" on the server's side before our
  // clock said so.
  f.stub.on("GET", "/api", [](const stub_request& r) {
    if (r.header("Authorization") != "Bearer at-2")
      return stub_reply::api_error(
                 401, "401", "Request had invalid authentication credentials.")
          .with_header("WWW-Authenticate",
                       "Bearer realm=\"https://accounts.google.com/\"");
    return stub_reply::json(200, R"({"ok": true})");
  });
  auto resp = f.call();
  ASSERT_TRUE(resp) << render(resp.error());
  EXPECT_EQ(resp->status, 200);
  EXPECT_EQ(f.cache.refreshes(), 2u);
  EXPECT_EQ(f.stub.count("/api"), 2u);
}

TEST(oauth2, second_401_is_auth_failed) {
  auth_fixture f{"rt-good"};
  f.stub.on("GET", "/api", [](const stub_request&) {
    return stub_reply::api_error(
        401, "InvalidAuthenticationToken",
        "Access token has expired or is not yet valid.");
  });
  auto resp = f.call();
  ASSERT_FALSE(resp);
  EXPECT_TRUE(is(resp.error(), ec::auth_failed));
  EXPECT_NE(render(resp.error()).find("has expired"), std::string::npos);
  EXPECT_EQ(render(resp.error()).find("at-"), std::string::npos);
  EXPECT_EQ(f.stub.count("/api"), 2u);
  EXPECT_EQ(f.cache.refreshes(), 2u);
}

TEST(oauth2, revoked_grant_is_auth_failed_before_any_call) {
  auth_fixture f{"rt-revoked"};
  f.stub.on("GET", "/api",
            [](const stub_request&) { return stub_reply::json(200, "{}"); });
  auto resp = f.call();
  ASSERT_FALSE(resp);
  EXPECT_TRUE(is(resp.error(), ec::auth_failed));
  EXPECT_EQ(f.stub.count("/api"), 0u);
}
