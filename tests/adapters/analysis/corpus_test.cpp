// The sample corpus under tests/data/messages/: realistic header blocks from
// providers and gateways, each with the analysis asserted field by field.

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "adapters/analysis/analysis.hpp"
#include "adapters/analysis/analysis_json.hpp"
#include "messages/error.hpp"
#include "tests/support/env.hpp"

using namespace mailpipe;

namespace {

std::string read(const std::string& name) {
  std::ifstream in{test::source_path("tests/data/messages/" + name),
                   std::ios::binary};
  EXPECT_TRUE(in) << name;
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

message_analysis run(const std::string& name, placement_input where,
                     std::vector<std::string> extra_trusted = {}) {
  auto policy = builtin_policy();
  EXPECT_TRUE(policy) << render(policy.error());
  analysis_config cfg;
  cfg.trusted_imap.insert(cfg.trusted_imap.end(), extra_trusted.begin(),
                          extra_trusted.end());
  auto an = analyzer::make(std::move(*policy), cfg);
  EXPECT_TRUE(an);
  auto msg = read(name);
  return an->analyze(msg, where);
}

const filter_report* filter(const message_analysis& a, std::string_view name) {
  for (auto& f : a.filters)
    if (f.name == name)
      return &f;
  return nullptr;
}

std::vector<std::string> filter_names(const message_analysis& a) {
  std::vector<std::string> out;
  for (auto& f : a.filters)
    out.push_back(f.name);
  return out;
}

bool has_rule(const filter_report& f, std::string_view rule) {
  for (auto& r : f.rules)
    if (r == rule)
      return true;
  return false;
}

} // namespace

TEST(corpus, gmail_promotions) {
  auto a = run("gmail_promotions.eml",
               {"gmail", "", {"CATEGORY_PROMOTIONS", "INBOX", "UNREAD"}});
  EXPECT_EQ(a.test_ids, std::vector<std::string>{"mp-7f3a9c2e41b0"});
  ASSERT_TRUE(a.placement);
  EXPECT_EQ(a.placement->placement, "promotions");
  EXPECT_EQ(a.subject, "Your weekly digest \xE2\x80\x93 november");
  EXPECT_EQ(a.from, "Example News \xE2\x80\x94 Weekly <news@news.example.com>");
  EXPECT_EQ(a.auth.spf_result, "pass");
  EXPECT_EQ(a.auth.spf_domain, "em.news.example.com");
  ASSERT_EQ(a.auth.dkim.size(), 2u);
  EXPECT_EQ(a.auth.dkim[0].domain, "news.example.com");
  EXPECT_EQ(a.auth.dkim[0].selector, "s1");
  EXPECT_EQ(a.auth.dkim[1].domain, "sendgrid.info");
  EXPECT_EQ(a.auth.dkim[1].selector, "smtpapi");
  EXPECT_EQ(a.auth.dmarc_result, "pass");
  EXPECT_EQ(a.auth.dmarc_policy, "quarantine");
  EXPECT_EQ(a.auth.dmarc_header_from, "news.example.com");
  EXPECT_FALSE(a.auth.arc_result);
  EXPECT_TRUE(a.filters.empty());
  EXPECT_TRUE(a.defects.empty());
  // Received-SPF names google.com, not a trusted id: listed but untrusted.
  bool saw_received_spf = false;
  for (auto& e : a.auth.results)
    if (e.header == "Received-SPF") {
      saw_received_spf = true;
      EXPECT_FALSE(e.trusted);
      EXPECT_EQ(e.result.result, "pass");
    }
  EXPECT_TRUE(saw_received_spf);
}

TEST(corpus, gmail_spam_forwarded_through_a_list_with_arc) {
  auto a = run("gmail_spam_arc.eml", {"gmail", "", {"SPAM"}});
  EXPECT_EQ(a.test_ids, std::vector<std::string>{"mp-Q1w2E3r4T5y6"});
  EXPECT_EQ(a.placement->placement, "spam");
  EXPECT_EQ(a.auth.spf_domain, "lists.example.org");
  EXPECT_EQ(a.auth.dmarc_result, "fail");
  EXPECT_EQ(a.auth.dmarc_policy, "reject");
  EXPECT_EQ(a.auth.dmarc_header_from, "sender.example");
  EXPECT_EQ(a.auth.arc_result, "pass");
  // The list's own results (i=1, lists.example.org) are reported, untrusted.
  int untrusted = 0;
  for (auto& e : a.auth.results)
    if (e.authserv_id == "lists.example.org") {
      EXPECT_FALSE(e.trusted);
      ++untrusted;
    }
  EXPECT_EQ(untrusted, 4); // three ARC results + the X-Original one
}

TEST(corpus, microsoft_365_junk_spoof) {
  auto a = run("outlook_m365_junk.eml", {"outlook", "junkemail", {"other"}});
  EXPECT_EQ(a.test_ids, std::vector<std::string>{"mp-Z9y8X7w6V5u4"});
  EXPECT_EQ(a.placement->placement, "spam");
  EXPECT_EQ(a.placement->focused, "other");
  EXPECT_EQ(a.subject, "V\xC3\xA9rification de votre compte mp-Z9y8X7w6V5u4");
  EXPECT_EQ(a.auth.spf_result, "fail");
  EXPECT_EQ(a.auth.spf_domain, "bank.example");
  ASSERT_EQ(a.auth.dkim.size(), 1u);
  EXPECT_EQ(a.auth.dkim[0].result, "none");
  EXPECT_EQ(a.auth.dkim[0].domain, "");
  EXPECT_EQ(a.auth.dmarc_result, "fail");
  EXPECT_EQ(a.auth.dmarc_header_from, "bank.example");
  EXPECT_EQ(a.auth.compauth_result, "fail");
  EXPECT_EQ(a.auth.compauth_reason, "000");
  auto eop = filter(a, "Microsoft EOP");
  ASSERT_TRUE(eop);
  EXPECT_EQ(eop->verdict, filter_verdict::spam);
  EXPECT_EQ(eop->score, 5.0);
  EXPECT_EQ(eop->threshold, 5.0);
  EXPECT_TRUE(has_rule(*eop, "SFV:SPM"));
  EXPECT_TRUE(has_rule(*eop, "CAT:SPOOF"));
  EXPECT_TRUE(has_rule(*eop, "SFTY:9.22"));
  EXPECT_TRUE(has_rule(*eop, "BCL:0"));
  EXPECT_TRUE(has_rule(*eop, "dest:J"));
  bool sfv_decoded = false, dest_decoded = false;
  for (auto& d : eop->details) {
    if (d.field == "SFV") {
      sfv_decoded = true;
      EXPECT_EQ(d.meaning, "marked spam by spam filtering");
    }
    if (d.field == "dest") {
      dest_decoded = true;
      EXPECT_EQ(d.meaning, "delivered to Junk Email");
    }
  }
  EXPECT_TRUE(sfv_decoded);
  EXPECT_TRUE(dest_decoded);
  EXPECT_EQ(filter_names(a), std::vector<std::string>{"Microsoft EOP"});
}

TEST(corpus, outlook_com_inbox_focused) {
  auto a = run("outlookcom_inbox.eml", {"outlook", "inbox", {"focused"}});
  EXPECT_EQ(a.test_ids, std::vector<std::string>{"mp-OutlookCom0001"});
  EXPECT_EQ(a.placement->placement, "inbox");
  EXPECT_EQ(a.placement->focused, "focused");
  EXPECT_EQ(a.auth.spf_result, "pass");
  EXPECT_EQ(a.auth.spf_domain, "shop.example");
  ASSERT_EQ(a.auth.dkim.size(), 1u);
  EXPECT_EQ(a.auth.dkim[0].domain, "shop.example");
  EXPECT_EQ(a.auth.dmarc_result, "pass");
  EXPECT_EQ(a.auth.compauth_result, "pass");
  EXPECT_EQ(a.auth.compauth_reason, "100");
  auto eop = filter(a, "Microsoft EOP");
  ASSERT_TRUE(eop);
  EXPECT_EQ(eop->verdict, filter_verdict::not_spam);
  EXPECT_EQ(eop->score, 1.0);
  EXPECT_TRUE(has_rule(*eop, "BCL:2"));
  EXPECT_TRUE(has_rule(*eop, "dest:I"));
}

TEST(corpus, yahoo_bulk_folder) {
  auto a = run("yahoo_bulk.eml", {"imap", "Bulk", {}});
  EXPECT_EQ(a.placement->placement, "spam");
  EXPECT_EQ(a.auth.spf_result, "pass");
  EXPECT_EQ(a.auth.spf_domain, "mailer.promo.example");
  EXPECT_EQ(a.auth.dmarc_result, "pass");
  EXPECT_EQ(a.auth.dmarc_policy, "none");
  ASSERT_EQ(a.auth.dkim.size(), 1u);
  EXPECT_EQ(a.auth.dkim[0].domain, "promo.example");
  EXPECT_EQ(a.auth.dkim[0].selector, "k2");
  auto y = filter(a, "Yahoo");
  ASSERT_TRUE(y);
  EXPECT_EQ(y->verdict, filter_verdict::spam);
  EXPECT_TRUE(a.defects.empty());
}

TEST(corpus, icloud_junk_with_per_method_authserv_ids) {
  auto a =
      run("icloud_junk.eml", {"imap", "Junk", {"\\Junk", "\\HasNoChildren"}});
  EXPECT_EQ(a.test_ids, std::vector<std::string>{"mp-iCloudJunk0001"});
  EXPECT_EQ(a.placement->placement, "spam");
  EXPECT_EQ(a.placement->matched, "\\Junk");
  EXPECT_EQ(a.auth.spf_result, "pass");
  EXPECT_EQ(a.auth.spf_domain, "em.retailer.example");
  ASSERT_EQ(a.auth.dkim.size(), 1u);
  EXPECT_EQ(a.auth.dkim[0].domain, "retailer.example");
  EXPECT_EQ(a.auth.dmarc_result, "pass");
  auto apple = filter(a, "iCloud");
  ASSERT_TRUE(apple);
  EXPECT_EQ(apple->verdict, filter_verdict::spam);
  EXPECT_NEAR(*apple->score, 4.333, 0.001);
  auto pp = filter(a, "Proofpoint");
  ASSERT_TRUE(pp);
  EXPECT_EQ(pp->verdict, filter_verdict::not_spam);
  EXPECT_EQ(pp->score, 0.0);
}

TEST(corpus, spamassassin_spam) {
  auto a = run("spamassassin_spam.eml", {"imap", "INBOX.Junk", {}},
               {"mail.mailpipe.test"});
  EXPECT_EQ(a.placement->placement, "spam");
  auto sa = filter(a, "SpamAssassin");
  ASSERT_TRUE(sa);
  EXPECT_EQ(sa->verdict, filter_verdict::spam);
  EXPECT_EQ(sa->score, 6.3);
  EXPECT_EQ(sa->threshold, 5.0);
  EXPECT_EQ(sa->rules,
            (std::vector<std::string>{
                "BAYES_99", "BAYES_999", "DKIM_ADSP_NXDOMAIN", "HTML_MESSAGE",
                "RDNS_NONE", "SPF_HELO_NONE", "URIBL_ABUSE_SURBL"}));
  EXPECT_EQ(filter_names(a), std::vector<std::string>{"SpamAssassin"});
  EXPECT_EQ(a.auth.spf_result, "softfail");
  EXPECT_EQ(a.auth.dmarc_result, "fail");
  EXPECT_EQ(a.auth.dmarc_policy, "reject");
  ASSERT_EQ(a.auth.dkim.size(), 1u);
  EXPECT_EQ(a.auth.dkim[0].result, "none");
  // Without the site's id in trusted_imap nothing is trusted.
  auto untrusted = run("spamassassin_spam.eml", {"imap", "INBOX", {}});
  EXPECT_FALSE(untrusted.auth.spf_result);
  EXPECT_EQ(untrusted.placement->placement, "inbox");
}

TEST(corpus, rspamd_add_header_is_spam_whatever_the_flag_says) {
  auto a =
      run("rspamd_add_header.eml", {"imap", "Spam", {}}, {"mx.mailpipe.test"});
  auto r = filter(a, "Rspamd");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->verdict, filter_verdict::spam);
  EXPECT_EQ(r->score, 7.5);
  EXPECT_EQ(r->threshold, 15.0);
  EXPECT_TRUE(has_rule(*r, "BAYES_SPAM"));
  EXPECT_TRUE(has_rule(*r, "MANY_INVISIBLE_PARTS"));
  EXPECT_EQ(r->rules.size(), 6u);
  // X-Spam is Rspamd's own header here, so no unidentified filter appears.
  EXPECT_EQ(filter_names(a), std::vector<std::string>{"Rspamd"});
  EXPECT_EQ(a.auth.dmarc_policy, "none");
}

TEST(corpus, barracuda_not_spam_with_levels) {
  auto a =
      run("barracuda.eml", {"imap", "INBOX", {}}, {"mx1.campus.example.edu"});
  auto b = filter(a, "Barracuda");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->verdict, filter_verdict::not_spam);
  EXPECT_EQ(b->score, 1.2);
  EXPECT_EQ(b->threshold, 3.5);
  EXPECT_EQ(b->rules,
            (std::vector<std::string>{"BSF_SC0_MISMATCH_TO", "HTML_MESSAGE",
                                      "MIME_HTML_ONLY"}));
  EXPECT_EQ(a.auth.spf_result, "pass");
  ASSERT_EQ(a.auth.dkim.size(), 1u);
  EXPECT_EQ(a.auth.dkim[0].selector, "sel1");
}

TEST(corpus, proofpoint_in_front_of_microsoft_365) {
  auto a = run("proofpoint_o365.eml", {"outlook", "inbox", {}});
  auto pp = filter(a, "Proofpoint");
  ASSERT_TRUE(pp);
  EXPECT_EQ(pp->verdict, filter_verdict::not_spam);
  EXPECT_EQ(pp->score, 4.0);
  EXPECT_TRUE(has_rule(*pp, "rule:notspam"));
  EXPECT_TRUE(has_rule(*pp, "mlxscore:4"));
  auto eop = filter(a, "Microsoft EOP");
  ASSERT_TRUE(eop);
  EXPECT_EQ(eop->verdict, filter_verdict::not_spam);
  EXPECT_EQ(eop->score, -1.0);
  EXPECT_TRUE(has_rule(*eop, "SFV:SKN"));
  EXPECT_TRUE(has_rule(*eop, "IPV:CAL"));
  // Microsoft's own results count; Proofpoint's
  // (Authentication-Results-Original) do not.
  EXPECT_EQ(a.auth.spf_domain, "corp.example");
  ASSERT_EQ(a.auth.dkim.size(), 1u);
  EXPECT_EQ(a.auth.dkim[0].domain, "vendor.example");
  EXPECT_EQ(a.auth.dkim[0].selector, "");
  EXPECT_EQ(a.auth.compauth_reason, "100");
  bool saw_original = false;
  for (auto& e : a.auth.results)
    if (e.header == "Authentication-Results-Original") {
      saw_original = true;
      EXPECT_EQ(e.authserv_id, "ppops.net");
      EXPECT_FALSE(e.trusted);
    }
  EXPECT_TRUE(saw_original);
}

TEST(corpus, mimecast_score_without_threshold_is_scanned) {
  auto a = run("mimecast.eml", {"imap", "INBOX", {}});
  auto m = filter(a, "Mimecast");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->verdict, filter_verdict::scanned);
  EXPECT_EQ(m->score, 1.0);
  EXPECT_FALSE(m->threshold);
  // relay.mimecast.com is not the seed's own server: untrusted by default.
  EXPECT_FALSE(a.auth.spf_result);
  auto t = run("mimecast.eml", {"imap", "INBOX", {}}, {"relay.mimecast.com"});
  EXPECT_EQ(t.auth.dmarc_policy, "quarantine");
  EXPECT_EQ(t.auth.spf_domain, "partner.example");
}

TEST(corpus, trend_micro_negative_score_double_dash) {
  auto a = run("trendmicro.eml", {"imap", "INBOX", {}});
  auto t = filter(a, "Trend Micro");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->verdict, filter_verdict::not_spam);
  EXPECT_EQ(t->score, -1.813);
  EXPECT_EQ(t->threshold, 5.0);
}

TEST(corpus, kaspersky_spam) {
  auto a = run("kaspersky_spam.eml", {"imap", "Spam", {}});
  auto k = filter(a, "Kaspersky");
  ASSERT_TRUE(k);
  EXPECT_EQ(k->verdict, filter_verdict::spam);
  EXPECT_EQ(k->score, 100.0);
  EXPECT_EQ(a.subject, "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82 you "
                       "won mp-Kaspersky001");
}

TEST(corpus, gmx_not_junk_and_test_id_in_the_first_body_part) {
  auto a = run("gmx_inbox.eml", {"imap", "INBOX", {}});
  EXPECT_EQ(a.test_ids, std::vector<std::string>{"mp-GmxBodyToken1"});
  auto g = filter(a, "GMX");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->verdict, filter_verdict::not_spam);
  EXPECT_EQ(a.subject, "Best\xC3\xA4tigung Ihrer Anmeldung");
  EXPECT_EQ(a.placement->placement, "inbox");
}

TEST(corpus, ironport_filtered_true_is_scanned_never_spam) {
  auto a = run("ironport_scanned.eml", {"imap", "INBOX", {}});
  auto c = filter(a, "Cisco IronPort");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->verdict, filter_verdict::scanned);
  EXPECT_TRUE(has_rule(*c, "SKIPPED(no attachment in message)"));
}

TEST(corpus, shared_headers_are_attributed_by_companions) {
  auto a = run("amavis_and_unidentified.eml", {"imap", "INBOX", {}});
  auto am = filter(a, "amavisd-new");
  ASSERT_TRUE(am);
  EXPECT_EQ(am->verdict, filter_verdict::not_spam);
  EXPECT_EQ(am->score, -2.099);
  EXPECT_EQ(am->threshold, 6.31);
  EXPECT_EQ(am->rules,
            (std::vector<std::string>{"BAYES_00", "DKIM_SIGNED", "DKIM_VALID",
                                      "DKIM_VALID_AU", "SPF_PASS"}));
  EXPECT_FALSE(filter(a, "SpamAssassin"));
  // X-Spam has no companion: reported by itself, unattributed.
  auto un = filter(a, "unidentified");
  ASSERT_TRUE(un);
  EXPECT_EQ(un->verdict, filter_verdict::spam);
  EXPECT_EQ(a.filters.size(), 2u);
}

TEST(corpus, malformed_lines_are_defects_not_crashes) {
  auto a = run("malformed.eml", {"", "", {}});
  EXPECT_FALSE(a.placement);
  EXPECT_EQ(a.test_ids, std::vector<std::string>{"mp-Malformed0001"});
  EXPECT_GE(a.defects.size(), 5u);
  EXPECT_NE(a.defects[0].find("line 1"), std::string::npos);
  // What could be read still is.
  ASSERT_EQ(a.auth.dkim.size(), 1u);
  EXPECT_EQ(a.auth.dkim[0].domain, "ok.example");
  auto json = to_json(a);
  EXPECT_NE(json.find("\"defects\""), std::string::npos);
}

TEST(corpus, microsoft_365_newsletter_used_by_the_benchmark) {
  auto a = run("m365_newsletter_6k.eml", {"outlook", "inbox", {"focused"}});
  EXPECT_EQ(a.header_count, 55u);
  EXPECT_EQ(a.test_ids, std::vector<std::string>{"mp-BenchM365News01"});
  EXPECT_EQ(a.placement->placement, "inbox");
  EXPECT_EQ(a.subject,
            "Your November product update \xE2\x80\x94 what\xE2\x80\x99s new");
  EXPECT_EQ(a.auth.spf_domain, "mail12.suw121.mcdlv.net");
  ASSERT_EQ(a.auth.dkim.size(), 2u);
  EXPECT_EQ(a.auth.dkim[0].domain, "mcsv.net");
  EXPECT_EQ(a.auth.dkim[1].domain, "newsletter.example");
  EXPECT_EQ(a.auth.dmarc_header_from, "newsletter.example");
  EXPECT_EQ(a.auth.compauth_result, "pass");
  auto eop = filter(a, "Microsoft EOP");
  ASSERT_TRUE(eop);
  EXPECT_EQ(eop->verdict, filter_verdict::not_spam);
  EXPECT_TRUE(has_rule(*eop, "BCL:4"));
  EXPECT_TRUE(a.defects.empty());
}

// One scratch reused across the whole corpus, biggest message first and then
// in both orders, gives every message the analysis it gets with fresh buffers:
// nothing of one message leaks into the next.
TEST(corpus, a_reused_scratch_changes_no_analysis) {
  auto an = analyzer::builtin();
  ASSERT_TRUE(an);
  std::vector<std::string> messages;
  for (auto& entry : std::filesystem::directory_iterator{
           test::source_path("tests/data/messages")})
    if (entry.path().extension() == ".eml")
      messages.push_back(read(entry.path().filename().string()));
  ASSERT_GE(messages.size(), 10u);
  std::sort(messages.begin(), messages.end(),
            [](auto& a, auto& b) { return a.size() > b.size(); });
  placement_input where{"imap", "INBOX", {}};
  analysis_scratch scratch;
  for (int round = 0; round < 2; ++round) {
    for (auto& msg : messages)
      EXPECT_EQ(to_json(an->analyze(msg, where, scratch), 0),
                to_json(an->analyze(msg, where), 0))
          << msg.substr(0, 200);
    std::reverse(messages.begin(), messages.end());
  }
}
