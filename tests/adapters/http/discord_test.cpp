// The Discord webhook adapter: payload limits on UTF-8 text, and the answers of
// a stand-in webhook on 127.0.0.1 that replies as Discord documents (204/200,
// 429 with retry_after and X-RateLimit-* headers, 400/404, 5xx, timeouts).

#include "adapters/http/discord.hpp"

#include <memory>

#include <gtest/gtest.h>
#include <simdjson.h>

#include "adapters/mail/text.hpp"
#include "tests/support/http_stub.hpp"

using namespace mailpipe;
using namespace std::chrono_literals;
using test::http_stub;
using test::stub_reply;

namespace {

const wall_time t0 = std::chrono::sys_days{std::chrono::year{2026} / 1 / 1};

const std::string webhook_path = "/api/webhooks/123456/s3cret-token";

// A reply with a plain-text body (none for 204).
stub_reply plain(int status, std::string body = "") {
  stub_reply r;
  r.status = status;
  r.body = std::move(body);
  r.content_type = "text/plain";
  return r;
}

// True when all of `s` is valid UTF-8.
bool valid_utf8(std::string_view s) {
  while (!s.empty()) {
    auto n = text::utf8_sequence_length(s);
    if (n == 0)
      return false;
    s.remove_prefix(n);
  }
  return true;
}

std::string repeat(std::string_view unit, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i)
    out += unit;
  return out;
}

discord::message sample() {
  discord::message m;
  m.title = "10 account_error events";
  m.description = "seed1@mailpipe.test: NO [AUTHENTICATIONFAILED]";
  m.critical = false;
  m.timestamp = t0;
  m.footer = "mailpipe · node-1";
  return m;
}

// The string at `pointer` (a JSON pointer) of a parsed payload.
std::string text_at(simdjson::dom::element doc, std::string_view pointer) {
  std::string_view out;
  EXPECT_EQ(doc.at_pointer(pointer).get(out), simdjson::SUCCESS) << pointer;
  return std::string{out};
}

struct webhook : ::testing::Test {
  http_stub stub;
  http::client client;
  std::string url = stub.url() + webhook_path;

  discord::delivery post_sample(duration timeout = 5s) {
    return discord::post(
        client, url, sample(), [] { return t0; }, timeout);
  }

  void answer(stub_reply reply) {
    stub.script("POST", webhook_path, {std::move(reply)});
  }
};

stub_reply rate_limited() {
  return stub_reply::json(429, R"({"message": "You are being rate limited.", )"
                               R"("retry_after": 1.5, "global": false})")
      .with_header("Retry-After", "2")
      .with_header("X-RateLimit-Limit", "5")
      .with_header("X-RateLimit-Remaining", "0")
      .with_header("X-RateLimit-Reset-After", "1.5")
      .with_header("X-RateLimit-Bucket", "abcd1234")
      .with_header("X-RateLimit-Scope", "user");
}

} // namespace

// -- limits -------------------------------------------------------------------

TEST(discord_limits, short_text_is_kept) {
  EXPECT_EQ(discord::truncate("héllo", 5), "héllo");
  EXPECT_EQ(discord::char_count("héllo €😀"), 8u);
}

TEST(discord_limits,
     long_text_is_cut_on_a_code_point_and_ends_with_an_ellipsis) {
  for (std::string unit : {"a", "é", "€", "😀"}) {
    auto cut = discord::truncate(repeat(unit, 5000), 4096);
    EXPECT_EQ(discord::char_count(cut), 4096u) << unit;
    EXPECT_TRUE(valid_utf8(cut)) << unit;
    EXPECT_TRUE(cut.ends_with(repeat(unit, 3) + "…")) << unit;
  }
  EXPECT_EQ(discord::truncate("abcdef", 3), "ab…");
  EXPECT_EQ(discord::truncate("abcdef", 0), "");
}

TEST(discord_limits, invalid_utf8_becomes_valid) {
  auto out = discord::truncate("bad \xFF\xC3 bytes", 100);
  EXPECT_TRUE(valid_utf8(out));
  EXPECT_TRUE(out.starts_with("bad "));
}

TEST(discord_payload, is_json_with_one_embed) {
  auto body = discord::payload(sample());
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(body).get(doc), simdjson::SUCCESS) << body;
  EXPECT_EQ(text_at(doc, "/embeds/0/title"), "10 account_error events");
  EXPECT_EQ(text_at(doc, "/embeds/0/description"), sample().description);
  EXPECT_EQ(text_at(doc, "/embeds/0/timestamp"), "2026-01-01T00:00:00.000Z");
  EXPECT_EQ(text_at(doc, "/embeds/0/footer/text"), "mailpipe · node-1");
  int64_t color = 0;
  ASSERT_EQ(doc.at_pointer("/embeds/0/color").get(color), simdjson::SUCCESS);
  EXPECT_EQ(color, discord::warning_color);
  simdjson::dom::array parse;
  ASSERT_EQ(doc.at_pointer("/allowed_mentions/parse").get(parse),
            simdjson::SUCCESS);
  EXPECT_EQ(parse.size(), 0u);
  EXPECT_EQ(doc["content"].error(), simdjson::NO_SUCH_FIELD);
}

TEST(discord_payload, critical_is_red_and_quotes_are_escaped) {
  auto m = sample();
  m.critical = true;
  m.title = "a \"quoted\"\ntitle\\";
  auto body = discord::payload(m);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(body).get(doc), simdjson::SUCCESS) << body;
  EXPECT_EQ(text_at(doc, "/embeds/0/title"), m.title);
  int64_t color = 0;
  ASSERT_EQ(doc.at_pointer("/embeds/0/color").get(color), simdjson::SUCCESS);
  EXPECT_EQ(color, discord::critical_color);
}

TEST(discord_payload, every_text_is_within_the_limits) {
  discord::message m;
  m.content = repeat("é", 3000);
  m.title = repeat("€", 300);
  m.description = repeat("😀", 5000);
  m.footer = repeat("x", 3000);
  m.timestamp = t0 + 1234ms;
  auto body = discord::payload(m);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(body).get(doc), simdjson::SUCCESS);
  ASSERT_TRUE(valid_utf8(body));
  auto content = text_at(doc, "/content");
  auto title = text_at(doc, "/embeds/0/title");
  auto description = text_at(doc, "/embeds/0/description");
  auto footer = text_at(doc, "/embeds/0/footer/text");
  EXPECT_EQ(discord::char_count(content), discord::max_content);
  EXPECT_EQ(discord::char_count(title), discord::max_title);
  EXPECT_EQ(discord::char_count(footer), discord::max_footer);
  // The description gives way so that the embed stays within 6000 characters.
  EXPECT_EQ(discord::char_count(title) + discord::char_count(description)
                + discord::char_count(footer),
            discord::max_embed_total);
  EXPECT_TRUE(description.ends_with("😀…"));
  EXPECT_EQ(text_at(doc, "/embeds/0/timestamp"), "2026-01-01T00:00:01.234Z");
}

TEST(discord_payload, a_job_payload_is_read_field_by_field) {
  auto now = std::chrono::system_clock::now();
  auto msg = discord::parse_job_payload(
      R"({"channel":"discord","title":"Test mp-42 done","description":)"
      R"("inbox 80 %","critical":true,"content":"@here"})",
      now);
  ASSERT_TRUE(msg) << render(msg.error());
  EXPECT_EQ(msg->title, "Test mp-42 done");
  EXPECT_EQ(msg->description, "inbox 80 %");
  EXPECT_EQ(msg->content, "@here");
  EXPECT_TRUE(msg->critical);
  EXPECT_EQ(msg->timestamp, now);
  auto bare =
      discord::parse_job_payload(R"({"channel":"discord","title":"t"})", now);
  ASSERT_TRUE(bare);
  EXPECT_FALSE(bare->critical);
  EXPECT_EQ(bare->description, "");
  // Each mistake names its field and can never succeed.
  for (auto [payload, field] : std::vector<std::pair<std::string, std::string>>{
           {"not json", "not JSON"},
           {R"({"channel":"webhook","title":"t"})", "channel"},
           {R"({"channel":"discord"})", "title"},
           {R"({"channel":"discord","title":""})", "title"},
           {R"({"channel":"discord","title":"t","description":3})",
            "description"},
           {R"({"channel":"discord","title":"t","critical":"yes"})",
            "critical"}}) {
    auto bad = discord::parse_job_payload(payload, now);
    ASSERT_FALSE(bad) << payload;
    EXPECT_TRUE(is(bad.error(), ec::invalid_argument));
    EXPECT_NE(render(bad.error()).find(field), std::string::npos)
        << render(bad.error());
  }
}

TEST(discord_payload, the_webhook_token_is_masked) {
  auto masked = discord::mask_webhook("https://discord.com" + webhook_path);
  EXPECT_EQ(masked, "https://discord.com/***");
  EXPECT_EQ(masked.find("s3cret"), std::string::npos);
  EXPECT_EQ(discord::execute_url("https://x/y"), "https://x/y?wait=true");
  EXPECT_EQ(discord::execute_url("https://x/y?thread_id=1"),
            "https://x/y?thread_id=1&wait=true");
}

// -- delivery -----------------------------------------------------------------

TEST_F(webhook, a_204_is_delivered) {
  stub.script("POST", webhook_path, {plain(204)});
  auto d = post_sample();
  EXPECT_EQ(d.status, discord::delivery_status::delivered) << d.reason;
  EXPECT_EQ(d.http_status, 204);
  EXPECT_EQ(d.wait, 0ms);
  auto seen = stub.requests(webhook_path);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].param("wait"), "true");
  EXPECT_EQ(seen[0].header("content-type"), "application/json");
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(seen[0].body).get(doc), simdjson::SUCCESS);
  EXPECT_EQ(text_at(doc, "/embeds/0/title"), "10 account_error events");
}

TEST_F(webhook, a_200_with_the_message_is_delivered) {
  answer(stub_reply::json(200, R"({"id": "1", "type": 0, "content": ""})"));
  auto d = post_sample();
  EXPECT_EQ(d.status, discord::delivery_status::delivered);
  EXPECT_EQ(d.http_status, 200);
  EXPECT_TRUE(d.reason.empty());
}

TEST_F(webhook, an_empty_bucket_delays_the_next_send_after_a_success) {
  answer(plain(204)
             .with_header("X-RateLimit-Remaining", "0")
             .with_header("X-RateLimit-Reset-After", "0.75"));
  auto d = post_sample();
  EXPECT_EQ(d.status, discord::delivery_status::delivered);
  EXPECT_EQ(d.wait, 750ms);
}

TEST_F(webhook, a_bucket_with_room_left_asks_no_wait) {
  answer(plain(204)
             .with_header("X-RateLimit-Remaining", "4")
             .with_header("X-RateLimit-Reset-After", "2"));
  EXPECT_EQ(post_sample().wait, 0ms);
}

TEST_F(webhook, a_429_is_retried_after_the_bodys_retry_after) {
  answer(rate_limited());
  auto d = post_sample();
  EXPECT_EQ(d.status, discord::delivery_status::retry);
  EXPECT_EQ(d.http_status, 429);
  // The body's 1.5 s, not the header's rounded 2 s.
  EXPECT_EQ(d.wait, 1500ms);
  EXPECT_NE(d.reason.find("You are being rate limited."), std::string::npos)
      << d.reason;
}

TEST_F(webhook, a_429_without_a_body_takes_the_retry_after_header) {
  answer(plain(429).with_header("Retry-After", "3"));
  auto d = post_sample();
  EXPECT_EQ(d.status, discord::delivery_status::retry);
  EXPECT_EQ(d.wait, 3s);
}

TEST_F(webhook, a_global_429_says_so) {
  answer(stub_reply::json(429, R"({"message": "You are being rate limited.", )"
                               R"("retry_after": 0.25, "global": true})")
             .with_header("X-RateLimit-Global", "true"));
  auto d = post_sample();
  EXPECT_EQ(d.wait, 250ms);
  EXPECT_NE(d.reason.find("global"), std::string::npos) << d.reason;
}

TEST_F(webhook, a_400_fails_for_good_with_discords_words) {
  answer(stub_reply::json(400,
                          R"({"message": "Invalid Form Body", "code": 50035, )"
                          R"("errors": {"embeds": {}}})"));
  auto d = post_sample();
  EXPECT_EQ(d.status, discord::delivery_status::failed);
  EXPECT_EQ(d.http_status, 400);
  EXPECT_NE(d.reason.find("HTTP 400: Invalid Form Body (code 50035)"),
            std::string::npos)
      << d.reason;
}

TEST_F(webhook, an_unknown_webhook_fails_for_good) {
  answer(stub_reply::json(404,
                          R"({"message": "Unknown Webhook", "code": 10015})"));
  auto d = post_sample();
  EXPECT_EQ(d.status, discord::delivery_status::failed);
  EXPECT_EQ(d.reason.find("s3cret"), std::string::npos);
}

TEST_F(webhook, a_500_is_retryable) {
  answer(stub_reply::json(
      500, R"({"message": "500: Internal Server Error", "code": 0})"));
  auto d = post_sample();
  EXPECT_EQ(d.status, discord::delivery_status::retry);
  EXPECT_EQ(d.http_status, 500);
  EXPECT_EQ(d.wait, 0ms); // the caller's backoff decides
}

TEST_F(webhook, a_503_with_retry_after_is_retried_after_it) {
  answer(plain(503, "upstream connect error").with_header("Retry-After", "5"));
  auto d = post_sample();
  EXPECT_EQ(d.status, discord::delivery_status::retry);
  EXPECT_EQ(d.wait, 5s);
}

TEST_F(webhook, a_timeout_is_retryable) {
  answer(plain(204).after(600ms));
  auto d = post_sample(200ms);
  EXPECT_EQ(d.status, discord::delivery_status::retry);
  EXPECT_EQ(d.http_status, 0);
  EXPECT_EQ(d.reason.find("s3cret"), std::string::npos) << d.reason;
}

TEST(discord_delivery, a_refused_connection_is_retryable) {
  std::string url;
  {
    http_stub closed;
    url = closed.url() + webhook_path;
  }
  http::client client;
  auto d = discord::post(
      client, url, sample(), [] { return t0; }, 2s);
  EXPECT_EQ(d.status, discord::delivery_status::retry);
  EXPECT_FALSE(d.reason.empty());
}

TEST(discord_delivery, a_url_that_is_not_http_fails_for_good) {
  http::client client;
  auto d = discord::post(
      client, "ftp://127.0.0.1/x", sample(), [] { return t0; }, 2s);
  EXPECT_EQ(d.status, discord::delivery_status::failed);
}
