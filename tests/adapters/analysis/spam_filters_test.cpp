#include "adapters/analysis/spam_filters.hpp"

#include <gtest/gtest.h>

#include "messages/error.hpp"

using namespace mailpipe;

namespace {

std::vector<filter_report> scan(std::string_view block) {
  auto p = builtin_policy();
  EXPECT_TRUE(p) << render(p.error());
  filter_table table{p->filters};
  auto hb = parse_header_block(block, 1 << 20);
  return table.scan(hb);
}

} // namespace

TEST(spam_filters, builtin_table_covers_the_high_and_medium_rows) {
  auto p = builtin_policy();
  ASSERT_TRUE(p);
  std::vector<std::string> names;
  for (auto& f : p->filters)
    names.push_back(f.name);
  for (auto want : {"SpamAssassin",
                    "amavisd-new",
                    "Exim spamd",
                    "Rspamd",
                    "Microsoft EOP",
                    "Microsoft Exchange Server",
                    "Barracuda",
                    "Proofpoint",
                    "Mimecast",
                    "Cisco IronPort",
                    "Symantec Email Security.cloud",
                    "Trend Micro",
                    "FortiMail",
                    "FortiGate",
                    "Cloudmark",
                    "SpamExperts",
                    "Kaspersky",
                    "Yandex",
                    "GMX",
                    "Google Workspace",
                    "Yahoo",
                    "iCloud",
                    "Check Point",
                    "Fastmail",
                    "Postini"})
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
}

TEST(spam_filters, nothing_found_in_a_plain_message) {
  EXPECT_TRUE(scan("From: a@example.com\r\nSubject: hi\r\n").empty());
}

TEST(spam_filters, trend_micro_double_dash_and_tmase) {
  auto r = scan("X-TM-AS-Product-Ver: IMSS-9.1.0.1960-8.5.0.1020-22512.000\r\n"
                "X-TM-AS-Result: Yes-5.339-5.0-31-1\r\n");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].verdict, filter_verdict::spam);
  EXPECT_EQ(r[0].score, 5.339);
  EXPECT_EQ(r[0].threshold, 5.0);
  auto t = scan("X-TMASE-Result: 10--5.534000-4.000000\r\n");
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].verdict, filter_verdict::not_spam);
  EXPECT_EQ(t[0].score, -5.534);
  EXPECT_EQ(t[0].threshold, 4.0);
}

TEST(spam_filters, microsoft_fields_decide_in_either_direction) {
  auto r = scan("X-Forefront-Antispam-Report: SFV:SKI;SCL:6;CAT:HSPM;\r\n");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].verdict, filter_verdict::spam);
  auto bulk = scan("X-Microsoft-Antispam: BCL:8;\r\n");
  ASSERT_EQ(bulk.size(), 1u);
  EXPECT_EQ(bulk[0].verdict, filter_verdict::scanned);
  ASSERT_EQ(bulk[0].details.size(), 1u);
  EXPECT_EQ(bulk[0].details[0].meaning, "bulk sender, many complaints");
  auto unknown = scan("X-Forefront-Antispam-Report: SFV:XYZ;\r\n");
  EXPECT_EQ(unknown[0].verdict, filter_verdict::unknown);
}

TEST(spam_filters, rspamd_no_action_and_symbols_on_new_lines) {
  auto r = scan(
      "X-Spamd-Result: default: False [-1.20 / 15.00]\r\n\tR_SPF_ALLOW(-0.20)"
      "[+ip4:1.2.3.4]\r\n\tBAYES_HAM(-1.00)[99%]\r\nX-Rspamd-Action: no "
      "action\r\n");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].verdict, filter_verdict::not_spam);
  EXPECT_EQ(r[0].score, -1.2);
  EXPECT_EQ(r[0].rules, (std::vector<std::string>{"R_SPF_ALLOW", "BAYES_HAM"}));
}

TEST(spam_filters, symantec_fortigate_share_a_header_name_told_apart_by_value) {
  auto s =
      scan("X-SpamInfo: spam detected heuristically\r\nX-Spam-Flag: YES\r\n");
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].name, "Symantec Email Security.cloud");
  EXPECT_EQ(s[0].verdict, filter_verdict::spam);
  auto f = scan("X-Spaminfo: dnsbl, bl.example.net\r\n");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].name, "FortiGate");
  EXPECT_EQ(f[0].verdict, filter_verdict::spam);
  EXPECT_EQ(f[0].rules, std::vector<std::string>{"dnsbl, bl.example.net"});
}

TEST(spam_filters, check_point_percent_score_and_shared_flag) {
  auto r = scan("X-VStream-Spam-Level: 81%\r\nX-Spam-Flag: YES\r\n");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].name, "Check Point");
  EXPECT_EQ(r[0].score, 81.0);
  EXPECT_EQ(r[0].verdict, filter_verdict::spam);
}

TEST(spam_filters, yandex_and_kaspersky_legacy) {
  auto y = scan("X-Yandex-Spam: 1\r\n");
  EXPECT_EQ(y.at(0).verdict, filter_verdict::not_spam);
  auto k = scan("X-Spamtest-Status: Probable Spam\r\n");
  EXPECT_EQ(k.at(0).verdict, filter_verdict::spam);
}

TEST(spam_filters, operator_file_adds_and_replaces_filters) {
  auto p = builtin_policy();
  ASSERT_TRUE(p);
  auto before = p->filters.size();
  ASSERT_FALSE(merge_signatures_toml(*p, R"(
[[filter]]
name = "Acme Gateway"
detect = ["X-Acme-Scan"]
  [[filter.read]]
  header = "X-Acme-Verdict"
  format = "kv"
  pairs = ";"
  assign = "="
  score = ["s"]
  threshold = ["t"]
  score_verdict = true
  rule_keys = ["why"]

[[filter]]
name = "Yahoo"
detect = ["X-Yahoo-New"]
)",
                                     "extra.toml"));
  EXPECT_EQ(p->filters.size(), before + 1);
  filter_table table{p->filters};
  auto hb = parse_header_block(
      "X-Acme-Scan: 1\r\nX-Acme-Verdict: s=7.5; t=5; why=url\r\n"
      "X-YahooFilteredBulk: 1.2.3.4\r\n",
      1 << 20);
  auto r = table.scan(hb);
  ASSERT_EQ(r.size(),
            1u); // the replaced Yahoo no longer knows X-YahooFilteredBulk
  EXPECT_EQ(r[0].name, "Acme Gateway");
  EXPECT_EQ(r[0].verdict, filter_verdict::spam);
  EXPECT_EQ(r[0].score, 7.5);
  EXPECT_EQ(r[0].threshold, 5.0);
  EXPECT_EQ(r[0].rules, std::vector<std::string>{"why:url"});
}
