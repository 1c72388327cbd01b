// Outgoing webhooks: the signature against `openssl dgst -sha256 -hmac`, the
// payload checked field by field, and a delivery to a local receiver.

#include "adapters/http/webhook.hpp"

#include <gtest/gtest.h>

#include "messages/error.hpp"
#include "tests/support/http_stub.hpp"

using namespace mailpipe;
using namespace std::chrono_literals;

TEST(outgoing_webhook,
     the_signature_is_stripes_scheme_over_timestamp_and_body) {
  // printf '%s' '1700000000.{"id":"j","event":"e","data":{}}' \
  //   | openssl dgst -sha256 -hmac 'whsec_k'
  EXPECT_EQ(webhook::signature("whsec_k", 1700000000,
                               R"({"id":"j","event":"e","data":{}})"),
            "t=1700000000,v1=f1979818dc3623a8ec28818bcdb5e4175bffd18115f0455125"
            "d0366d909abe9d");
  EXPECT_EQ(webhook::body_of("j", {"http://x", "e", "{}"}),
            R"({"id":"j","event":"e","data":{}})");
}

TEST(outgoing_webhook, a_payload_is_checked_field_by_field) {
  auto ok = webhook::parse_payload(
      R"({"channel":"webhook","url":"https://hooks.example/in","event":"t",)"
      R"("data":{"a": [1, 2]}})");
  ASSERT_TRUE(ok) << render(ok.error());
  EXPECT_EQ(ok->url, "https://hooks.example/in");
  EXPECT_EQ(ok->data_json, R"({"a":[1,2]})");
  auto field_of = [](const char* payload) {
    auto res = webhook::parse_payload(payload);
    EXPECT_FALSE(res) << payload;
    EXPECT_TRUE(!res && is(res.error(), ec::invalid_argument));
    return res ? std::string{} : render(res.error());
  };
  EXPECT_NE(field_of("{nope").find("not JSON"), std::string::npos);
  EXPECT_NE(field_of(R"({"channel":"discord"})").find("channel"),
            std::string::npos);
  EXPECT_NE(field_of(R"({"channel":"webhook","url":"ftp://x"})").find("url"),
            std::string::npos);
  EXPECT_NE(field_of(R"({"channel":"webhook","url":"http://x","data":{}})")
                .find("event"),
            std::string::npos);
  EXPECT_NE(field_of(R"({"channel":"webhook","url":"http://x","event":"e",)"
                     R"("data":[]})")
                .find("data"),
            std::string::npos);
}

TEST(outgoing_webhook, a_2xx_is_success_anything_else_or_silence_a_failure) {
  test::http_stub receiver;
  receiver.script(
      "POST", "/in",
      {test::stub_reply::json(202, ""),
       test::stub_reply::json(302, "").with_header("Location", "/x"),
       test::stub_reply::json(500, R"({"error":"down"})"),
       test::stub_reply::json(204, "").after(1500ms)});
  http::client client;
  webhook::delivery d{receiver.url() + "/in", "test.completed", R"({"k":1})"};
  auto now = std::chrono::system_clock::now();
  EXPECT_FALSE(webhook::deliver(client, "j1", d, "s", 1s, now));
  auto sent = receiver.requests("/in");
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].header("Content-Type"), "application/json");
  EXPECT_EQ(sent[0].header("Mailpipe-Signature").rfind("t=", 0), 0u);
  EXPECT_TRUE(is(webhook::deliver(client, "j1", d, "s", 1s, now),
                 ec::protocol_error)); // a redirect is not followed
  EXPECT_TRUE(is(webhook::deliver(client, "j1", d, "s", 1s, now),
                 ec::service_unavailable));
  EXPECT_TRUE(is(webhook::deliver(client, "j1", d, "s", 1s, now), ec::timeout));
}
