#include "adapters/http/client.hpp"

#include <gtest/gtest.h>

#include "tests/support/http_stub.hpp"

using namespace mailpipe;
using namespace std::chrono_literals;
using test::http_stub;
using test::stub_reply;

namespace {

http::time_point fixed_now() {
  // Sun, 06 Nov 1994 08:49:37 GMT, the RFC 9110 example date.
  return std::chrono::system_clock::from_time_t(784111777);
}

http::response status(long code, std::string body = {}) {
  http::response r;
  r.status = code;
  r.body = std::move(body);
  return r;
}

} // namespace

// -- transport ----------------------------------------------------------------

TEST(http_client, sends_method_headers_body_and_reads_response) {
  http_stub stub;
  stub.on("POST", "/echo", [](const test::stub_request& r) {
    return stub_reply::json(201, R"({"got":")" + r.body + "\"}")
        .with_header("X-Request-Id", "abc");
  });
  http::client c;
  http::request req;
  req.method = "POST";
  req.url = stub.url() + "/echo?x=1";
  req.headers.push_back({"X-Custom", "yes"});
  req.headers.push_back({"Content-Type", "text/plain"});
  req.body = "hello";
  auto resp = c.perform(req);
  ASSERT_TRUE(resp) << render(resp.error());
  EXPECT_EQ(resp->status, 201);
  EXPECT_EQ(resp->body, R"({"got":"hello"})");
  ASSERT_TRUE(resp->header("x-request-id"));
  EXPECT_EQ(*resp->header("X-REQUEST-ID"), "abc");
  EXPECT_FALSE(resp->header("X-Missing"));
  auto seen = stub.requests("/echo");
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].param("x"), "1");
  EXPECT_EQ(seen[0].header("x-custom"), "yes");
}

TEST(http_client, reuses_the_handle_for_several_requests) {
  http_stub stub;
  stub.script("GET", "/n",
              {stub_reply::json(200, "1"), stub_reply::json(200, "2")});
  http::client c;
  http::request req;
  req.url = stub.url() + "/n";
  EXPECT_EQ(c.perform(req)->body, "1");
  EXPECT_EQ(c.perform(req)->body, "2");
  EXPECT_EQ(c.perform(req)->body, "2");
}

TEST(http_client, slow_server_is_a_timeout) {
  http_stub stub;
  stub.on("GET", "/slow", [](const test::stub_request&) {
    return stub_reply::json(200, "{}").after(800ms);
  });
  http::client c;
  http::request req;
  req.url = stub.url() + "/slow";
  req.timeout = 200ms;
  auto t0 = std::chrono::steady_clock::now();
  auto resp = c.perform(req);
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(resp);
  EXPECT_TRUE(is(resp.error(), ec::timeout)) << render(resp.error());
  EXPECT_LT(took, 700ms);
}

TEST(http_client, closed_port_is_a_network_error) {
  int port;
  {
    http_stub stub;
    port = stub.port();
  }
  http::client c;
  http::request req;
  req.url = "http://127.0.0.1:" + std::to_string(port) + "/";
  auto resp = c.perform(req);
  ASSERT_FALSE(resp);
  EXPECT_TRUE(is(resp.error(), ec::network)) << render(resp.error());
}

TEST(http_client, refuses_non_http_urls) {
  http::client c;
  http::request req;
  req.url = "file:///etc/passwd";
  auto resp = c.perform(req);
  ASSERT_FALSE(resp);
  EXPECT_TRUE(is(resp.error(), ec::invalid_argument));
}

TEST(http_client, oversized_body_is_refused) {
  http_stub stub;
  stub.on("GET", "/big", [](const test::stub_request&) {
    return stub_reply::json(200, std::string(100000, 'x'));
  });
  http::client c{1000};
  http::request req;
  req.url = stub.url() + "/big";
  auto resp = c.perform(req);
  ASSERT_FALSE(resp);
  EXPECT_TRUE(is(resp.error(), ec::protocol_error)) << render(resp.error());
}

// -- classification -----------------------------------------------------------

TEST(http_classify, success_is_no_error) {
  EXPECT_FALSE(http::classify_response(status(200), "x", fixed_now()));
  EXPECT_FALSE(http::classify_response(status(204), "x", fixed_now()));
}

TEST(http_classify, maps_statuses_to_error_codes) {
  auto code = [](long s, std::string body = {}) {
    auto err = http::classify_response(status(s, body), "op", fixed_now());
    return static_cast<ec>(err.code());
  };
  EXPECT_EQ(code(401), ec::auth_failed);
  EXPECT_EQ(code(404), ec::not_found);
  EXPECT_EQ(code(410), ec::not_found);
  EXPECT_EQ(code(408), ec::timeout);
  EXPECT_EQ(code(429), ec::rate_limited);
  EXPECT_EQ(code(500), ec::service_unavailable);
  EXPECT_EQ(code(503), ec::service_unavailable);
  EXPECT_EQ(code(507), ec::quota_exceeded);
  EXPECT_EQ(code(400), ec::protocol_error);
  EXPECT_EQ(code(400, R"({"error":"invalid_grant","error_description":"Bad"})"),
            ec::auth_failed);
  EXPECT_EQ(
      code(403, R"({"error":{"code":403,"message":"Insufficient Permission",
    "errors":[{"domain":"global","reason":"insufficientPermissions"}]}})"),
      ec::auth_failed);
  EXPECT_EQ(
      code(403, R"({"error":{"code":403,"message":"User-rate limit exceeded.",
    "errors":[{"domain":"usageLimits","reason":"userRateLimitExceeded"}]}})"),
      ec::rate_limited);
  EXPECT_EQ(code(403, R"({"error":{"code":403,"message":"Rate Limit Exceeded",
    "errors":[{"domain":"usageLimits","reason":"rateLimitExceeded"}]}})"),
            ec::rate_limited);
  EXPECT_EQ(code(403, R"({"error":{"code":403,"message":"Quota exceeded",
    "status":"PERMISSION_DENIED","details":[{"@type":
    "type.googleapis.com/google.rpc.ErrorInfo","reason":"RATE_LIMIT_EXCEEDED"}]}})"),
            ec::rate_limited);
  EXPECT_EQ(code(403, R"({"error":{"code":403,"message":"Daily Limit Exceeded",
    "errors":[{"domain":"usageLimits","reason":"dailyLimitExceeded"}]}})"),
            ec::quota_exceeded);
  EXPECT_EQ(classify(http::classify_response(status(401), "op", fixed_now())),
            failure_class::auth);
  EXPECT_EQ(classify(http::classify_response(status(429), "op", fixed_now())),
            failure_class::rate_limited);
}

TEST(http_classify, a_numeric_code_that_repeats_the_status_is_said_once) {
  auto err = http::classify_response(
      status(429, R"({"error":{"code":429,"message":"Too many requests",
      "status":"RESOURCE_EXHAUSTED"}})"),
      "GET /gmail/v1/users/me/messages", fixed_now());
  auto text = render(err);
  EXPECT_NE(text.find("HTTP 429: Too many requests"), std::string::npos)
      << text;
  EXPECT_EQ(text.find("429 429"), std::string::npos) << text;
}

TEST(http_classify, keeps_server_message_and_masks_tokens) {
  auto err = http::classify_response(
      status(401, R"({"error":{"code":"InvalidAuthenticationToken",
      "message":"Token Bearer eyJ0eXAiOi.secret.part is expired"}})"),
      "GET /me/messages", fixed_now());
  auto text = render(err);
  EXPECT_NE(text.find("HTTP 401"), std::string::npos) << text;
  EXPECT_NE(text.find("InvalidAuthenticationToken"), std::string::npos) << text;
  EXPECT_NE(text.find("is expired"), std::string::npos) << text;
  EXPECT_EQ(text.find("eyJ0eXAiOi"), std::string::npos) << text;
}

TEST(http_classify, retry_after_seconds_and_date_are_kept) {
  auto r = status(
      429, R"({"error":{"code":"TooManyRequests","message":"slow down"}})");
  r.headers.push_back({"retry-after", "7"});
  auto err = http::classify_response(r, "op", fixed_now());
  ASSERT_TRUE(http::retry_after(err));
  EXPECT_EQ(*http::retry_after(err), 7s);
  r.headers = {{"Retry-After", "Sun, 06 Nov 1994 08:50:07 GMT"}};
  err = http::classify_response(r, "op", fixed_now());
  ASSERT_TRUE(http::retry_after(err));
  EXPECT_EQ(*http::retry_after(err), 30s);
  EXPECT_FALSE(http::retry_after(
      http::classify_response(status(429), "op", fixed_now())));
}

TEST(http_classify, parse_retry_after_rejects_garbage) {
  EXPECT_EQ(http::parse_retry_after("120", fixed_now()), duration{120s});
  EXPECT_EQ(http::parse_retry_after(" 0 ", fixed_now()), duration{0});
  EXPECT_EQ(
      http::parse_retry_after("Sunday, 06-Nov-94 08:49:40 GMT", fixed_now()),
      duration{3s});
  EXPECT_EQ(http::parse_retry_after("Sun Nov  6 08:49:47 1994", fixed_now()),
            duration{10s});
  EXPECT_EQ(
      http::parse_retry_after("Sat, 05 Nov 1994 08:49:37 GMT", fixed_now()),
      duration{0});
  EXPECT_FALSE(http::parse_retry_after("", fixed_now()));
  EXPECT_FALSE(http::parse_retry_after("soon", fixed_now()));
  EXPECT_FALSE(http::parse_retry_after("-5", fixed_now()));
  EXPECT_FALSE(http::parse_retry_after("99999999999999999999", fixed_now()));
  // Found by the fuzzer: a date centuries ahead overflowed the nanosecond clock.
  EXPECT_FALSE(http::parse_retry_after(" ,25 Nov 2823\x9fn", fixed_now()));
  EXPECT_FALSE(
      http::parse_retry_after("Wed, 25 Nov 2823 10:00:00 GMT", fixed_now()));
}

TEST(http_classify, malformed_error_body_still_classifies) {
  auto err =
      http::classify_response(status(503, "<html>oops"), "op", fixed_now());
  EXPECT_TRUE(is(err, ec::service_unavailable));
  auto e = http::parse_api_error("{\"error\": [1,2");
  EXPECT_TRUE(e.code.empty());
}

TEST(http_classify, mask_secrets_hides_token_values) {
  auto s = http::mask_secrets("refresh_token=1//abc&client_secret=shh "
                              "access_token=ya29.x code=4/0A bearer zz");
  EXPECT_EQ(s, "refresh_token=***&client_secret=*** access_token=*** code=*** "
               "bearer ***");
}

// -- retry policy -------------------------------------------------------------

TEST(http_retry, obeys_retry_after_and_backs_off) {
  http::retry_policy p{3, 10s, 1s};
  auto limited = caf::make_error(ec::rate_limited, "x", caf::timespan{2s});
  EXPECT_EQ(http::retry_delay(limited, 1, p), duration{2s});
  EXPECT_FALSE(http::retry_delay(limited, 3, p));
  auto too_long = caf::make_error(ec::rate_limited, "x", caf::timespan{60s});
  EXPECT_FALSE(http::retry_delay(too_long, 1, p));
  auto down = caf::make_error(ec::service_unavailable, "x");
  EXPECT_EQ(http::retry_delay(down, 1, p), duration{1s});
  EXPECT_EQ(http::retry_delay(down, 2, p), duration{2s});
  EXPECT_FALSE(http::retry_delay(caf::make_error(ec::auth_failed, "x"), 1, p));
  EXPECT_FALSE(http::retry_delay(caf::make_error(ec::parse_error, "x"), 1, p));
}

// -- URLs ---------------------------------------------------------------------

TEST(http_url, encodes_and_finds_origins) {
  EXPECT_EQ(http::url_encode("a b/c?d=é~"), "a%20b%2Fc%3Fd%3D%C3%A9~");
  EXPECT_EQ(http::form_encode({{"grant_type", "refresh_token"}, {"x", "a&b"}}),
            "grant_type=refresh_token&x=a%26b");
  EXPECT_EQ(http::origin_of("https://Graph.Microsoft.com/v1.0/me?x"),
            "https://graph.microsoft.com");
  EXPECT_EQ(http::origin_of("http://u:pw@127.0.0.1:80/x"),
            "http://127.0.0.1:80");
  EXPECT_EQ(http::origin_of("nope"), "");
}
