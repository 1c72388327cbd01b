// Email over SMTP: the job payload read field by field, the message as sent,
// and libcurl against a local SMTP stand-in that takes, defers (451) or refuses
// (554) the message.

#include <gtest/gtest.h>

#include "adapters/http/smtp.hpp"
#include "messages/error.hpp"
#include "tests/support/smtp_stub.hpp"

using namespace mailpipe;

namespace {

smtp_config config_for(const std::string& url) {
  smtp_config cfg;
  cfg.url = url;
  cfg.from = "mailpipe@ops.test";
  cfg.require_tls = false; // the stand-in speaks plain text on loopback
  cfg.timeout = std::chrono::seconds{5};
  return cfg;
}

smtp::email sample() {
  return {{"ops@example.test", "dev@example.test"},
          "Test mp-42: 80 % inbox",
          "Inbox 80 %\n.hidden line\nSpam 20 %\n"};
}

const auto noon = std::chrono::system_clock::from_time_t(1796558400);

} // namespace

TEST(smtp, a_job_payload_is_read_field_by_field) {
  auto one = smtp::parse_job_payload(
      R"({"channel":"email","to":"ops@example.test","subject":"s","text":"t"})");
  ASSERT_TRUE(one) << render(one.error());
  EXPECT_EQ(one->to, std::vector<std::string>{"ops@example.test"});
  auto many = smtp::parse_job_payload(
      R"({"channel":"email","to":["a@x.test","b@y.test"],"subject":"s",)"
      R"("text":""})");
  ASSERT_TRUE(many);
  EXPECT_EQ(many->to.size(), 2u);
  for (auto [payload, field] : std::vector<std::pair<std::string, std::string>>{
           {"[", "not JSON"},
           {R"({"channel":"discord"})", "channel"},
           {R"({"channel":"email","subject":"s","text":"t"})", "to"},
           {R"({"channel":"email","to":[],"subject":"s","text":"t"})", "to"},
           {R"({"channel":"email","to":"a@b\r\nBcc: x@y","subject":"s",)"
            R"("text":"t"})",
            "to"},
           {R"({"channel":"email","to":[1],"subject":"s","text":"t"})", "to"},
           {R"({"channel":"email","to":"a@b.test","text":"t"})", "subject"},
           {R"({"channel":"email","to":"a@b.test","subject":"s"})", "text"}}) {
    auto bad = smtp::parse_job_payload(payload);
    ASSERT_FALSE(bad) << payload;
    EXPECT_TRUE(is(bad.error(), ec::invalid_argument));
    EXPECT_NE(render(bad.error()).find(field), std::string::npos)
        << render(bad.error());
  }
}

TEST(smtp, the_message_has_its_headers_an_encoded_subject_and_crlf_lines) {
  auto cfg = config_for("smtp://127.0.0.1:1");
  auto text = smtp::message(cfg, sample(), noon, "job-7");
  EXPECT_NE(text.find("From: mailpipe@ops.test\r\n"), std::string::npos);
  EXPECT_NE(text.find("To: ops@example.test, dev@example.test\r\n"),
            std::string::npos);
  EXPECT_NE(text.find("Subject: Test mp-42: 80 % inbox\r\n"),
            std::string::npos);
  EXPECT_NE(text.find("Date: Sun, 06 Dec 2026 12:00:00 +0000\r\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("Message-ID: <job-7@mailpipe>\r\n"), std::string::npos);
  EXPECT_NE(text.find("\r\n\r\nInbox 80 %\r\n.hidden line\r\nSpam 20 %\r\n"),
            std::string::npos);
  // Not ASCII: one encoded word; a line break cannot add a header.
  auto mail = sample();
  mail.subject = "Été\r\nBcc: x@y.test";
  auto encoded = smtp::message(cfg, mail, noon, "j");
  EXPECT_NE(encoded.find("Subject: =?UTF-8?B?"), std::string::npos);
  EXPECT_EQ(encoded.find("\nBcc:"), std::string::npos);
  // A bare CR cannot end the data early; a long line is cut.
  mail.text = "one\r.\rtwo\n" + std::string(1200, 'x');
  auto body = smtp::message(cfg, mail, noon, "j");
  EXPECT_NE(body.find("one\r\n.\r\ntwo\r\n" + std::string(998, 'x') + "\r\n"
                      + std::string(202, 'x')),
            std::string::npos);
  EXPECT_EQ(body.find("\r."), std::string::npos); // no CR without its LF
  mail.subject = "a\r\nBcc: x@y.test";
  EXPECT_EQ(smtp::message(cfg, mail, noon, "j").find("\nBcc:"),
            std::string::npos);
}

TEST(smtp, a_message_taken_deferred_or_refused) {
  test::smtp_stub server{
      {"250 2.0.0 queued as A1", "451 4.3.0 try later", "554 5.7.1 no"}};
  auto cfg = config_for(server.url());
  ASSERT_FALSE(smtp::send(cfg, sample(), noon, "job-1"));
  auto taken = server.messages();
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0].from, "mailpipe@ops.test");
  EXPECT_EQ(taken[0].to,
            (std::vector<std::string>{"ops@example.test", "dev@example.test"}));
  // The dot-stuffed line arrives as written.
  EXPECT_NE(taken[0].data.find("\r\n.hidden line\r\n"), std::string::npos)
      << taken[0].data;
  auto later = smtp::send(cfg, sample(), noon, "job-2");
  ASSERT_TRUE(later);
  EXPECT_TRUE(is(later, ec::service_unavailable)) << render(later);
  auto never = smtp::send(cfg, sample(), noon, "job-3");
  ASSERT_TRUE(never);
  EXPECT_TRUE(is(never, ec::invalid_argument)) << render(never);
  EXPECT_NE(render(never).find("554"), std::string::npos) << render(never);
  EXPECT_EQ(server.messages().size(), 1u);
}

TEST(smtp, no_server_is_a_failure_to_retry_and_no_url_one_for_good) {
  auto down = smtp::send(config_for("smtp://127.0.0.1:1"), sample(), noon, "j");
  ASSERT_TRUE(down);
  EXPECT_TRUE(is(down, ec::service_unavailable)) << render(down);
  auto none = smtp::send(config_for(""), sample(), noon, "j");
  ASSERT_TRUE(none);
  EXPECT_TRUE(is(none, ec::invalid_argument));
  // A server that does not offer STARTTLS while TLS is required: refused
  // before anything is sent, and the password is in no error.
  test::smtp_stub plain;
  auto cfg = config_for(plain.url());
  cfg.require_tls = true;
  cfg.username = "ops";
  cfg.password = "smtp-s3cret";
  auto refused = smtp::send(cfg, sample(), noon, "j");
  ASSERT_TRUE(refused);
  EXPECT_EQ(render(refused).find("smtp-s3cret"), std::string::npos);
  EXPECT_EQ(plain.messages().size(), 0u);
}
