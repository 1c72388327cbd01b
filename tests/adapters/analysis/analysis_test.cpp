#include "adapters/analysis/analysis.hpp"

#include <gtest/gtest.h>

#include "adapters/analysis/analysis_json.hpp"

using namespace mailpipe;

namespace {

auth_summary summarize(std::string_view block,
                       std::vector<std::string> trusted) {
  auto hb = parse_header_block(block, 1 << 20);
  std::vector<std::string> defects;
  auth_scratch scratch;
  return summarize_auth(hb, trusted, defects, scratch);
}

} // namespace

TEST(summarize_auth, received_spf_is_the_fallback_for_spf) {
  auto s = summarize(
      "Received-SPF: softfail (mx.example.net: transitioning domain of "
      "a@b.example does not designate 192.0.2.1 as permitted sender) "
      "receiver=mx.example.net; client-ip=192.0.2.1; "
      "envelope-from=\"a@b.example\"; helo=h.example;\r\n"
      "Authentication-Results: mx.example.net; dkim=pass "
      "header.d=b.example\r\n",
      {"mx.example.net"});
  EXPECT_EQ(s.spf_result, "softfail");
  EXPECT_EQ(s.spf_domain, "b.example");
  ASSERT_EQ(s.results.size(), 2u);
  EXPECT_EQ(s.results[0].header, "Received-SPF");
  EXPECT_TRUE(s.results[0].trusted);
  EXPECT_EQ(s.results[0].authserv_id, "mx.example.net");
}

TEST(summarize_auth, topmost_trusted_header_wins_and_forged_ones_do_not_count) {
  auto s =
      summarize("Authentication-Results: mx.example.net; spf=fail "
                "smtp.mailfrom=bad.example\r\n"
                "Authentication-Results: mx.example.net; spf=pass "
                "smtp.mailfrom=older.example; "
                "dmarc=pass header.from=older.example\r\n"
                "Authentication-Results: forged.example; dkim=pass "
                "header.d=forged.example; "
                "arc=pass\r\n"
                "ARC-Authentication-Results: i=1; mx.example.net; arc=none\r\n"
                "ARC-Authentication-Results: i=2; mx.example.net; arc=fail\r\n",
                {"mx.example.net"});
  EXPECT_EQ(s.spf_result, "fail");
  EXPECT_EQ(s.spf_domain, "bad.example");
  EXPECT_EQ(s.dmarc_result,
            "pass"); // the first trusted header without dmarc does not hide it
  EXPECT_TRUE(s.dkim.empty());
  EXPECT_EQ(s.arc_result, "fail"); // from the highest trusted ARC instance
  int untrusted = 0;
  for (auto& e : s.results)
    untrusted += !e.trusted;
  EXPECT_EQ(untrusted, 2);
}

TEST(summarize_auth, glob_and_missing_authserv_id_trust) {
  EXPECT_TRUE(
      is_trusted("atlas1.free.mail.gq1.yahoo.com", {"*.mail.*.yahoo.com"}));
  EXPECT_FALSE(is_trusted("yahoo.com.evil.example", {"*.mail.*.yahoo.com"}));
  EXPECT_TRUE(is_trusted("", {""}));
  EXPECT_FALSE(is_trusted("", {"*"}));
  EXPECT_FALSE(is_trusted("mx.example", {""}));
}

TEST(analysis_json, escapes_and_stays_valid_utf8) {
  message_analysis a;
  a.subject =
      std::string{"quote \" backslash \\ tab \t nul "} + '\0' + " bad \xFF end";
  a.test_ids = {"mp-1"};
  auto json = to_json(a, 0);
  EXPECT_NE(
      json.find(
          R"("subject":"quote \" backslash \\ tab \t nul \u0000 bad ÿ end")"),
      std::string::npos)
      << json;
  EXPECT_NE(json.find(R"("placement":null)"), std::string::npos);
  EXPECT_NE(json.find(R"("spf":{"result":null,"domain":null})"),
            std::string::npos);
}
