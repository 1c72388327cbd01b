// Every example of /work/shared/reference/authres-rfc-examples.txt (values
// copied byte-for-byte, folds kept), plus the real-world quirks the issue
// lists.

#include "adapters/mail/auth_results.hpp"

#include <gtest/gtest.h>

#include <fmt/format.h>

using namespace mailpipe;

namespace {

// The EXPECT notation of the reference file, without comments.
std::string render(const auth_results_header& h) {
  std::string s;
  if (h.instance > 0)
    s += fmt::format("i={} ", h.instance);
  s += fmt::format("authserv-id={} version={}", h.authserv_id, h.version);
  if (h.none)
    s += " | none";
  for (auto& r : h.results) {
    s += fmt::format(" | {}{}={}", r.method,
                     r.method_version.empty() ? "" : "/" + r.method_version,
                     r.result);
    if (!r.reason.empty())
      s += fmt::format(" reason=\"{}\"", r.reason);
    s += " {";
    for (std::size_t i = 0; i < r.properties.size(); ++i) {
      auto& p = r.properties[i];
      s += fmt::format("{}{}{}={}", i ? ", " : "",
                       p.ptype.empty() ? "" : p.ptype + ".", p.name, p.value);
    }
    s += "}";
  }
  return s;
}

std::string parse(std::string_view v, bool arc = false) {
  auto h = parse_auth_results(v, arc);
  EXPECT_TRUE(h.defects.empty()) << h.defects.front();
  return render(h);
}

} // namespace

// -- PART A: RFC examples -----------------------------------------------------

TEST(auth_results, rfc_01_none_with_version) {
  EXPECT_EQ(parse("example.org 1; none"),
            "authserv-id=example.org version=1 | none");
}

TEST(auth_results, rfc_02_single_spf) {
  EXPECT_EQ(
      parse("example.com;\r\n          spf=pass smtp.mailfrom=example.net"),
      "authserv-id=example.com version=1 | spf=pass "
      "{smtp.mailfrom=example.net}");
}

TEST(auth_results, rfc_03_comment_after_result) {
  auto h =
      parse_auth_results("example.com;\r\n          auth=pass (cram-md5) "
                         "smtp.auth=sender@example.net;\r\n          spf=pass "
                         "smtp.mailfrom=example.net");
  EXPECT_EQ(render(h), "authserv-id=example.com version=1 | auth=pass "
                       "{smtp.auth=sender@example.net} | spf=pass "
                       "{smtp.mailfrom=example.net}");
  EXPECT_EQ(h.results[0].comment, "cram-md5");
}

TEST(auth_results, rfc_04_iprev_policy) {
  EXPECT_EQ(
      parse("example.com; iprev=pass\r\n          policy.iprev=192.0.2.200"),
      "authserv-id=example.com version=1 | iprev=pass "
      "{policy.iprev=192.0.2.200}");
}

TEST(auth_results, rfc_05_dkim_header_d) {
  auto h = parse_auth_results("example.com;\r\n          dkim=pass (good "
                              "signature) header.d=example.com");
  EXPECT_EQ(
      render(h),
      "authserv-id=example.com version=1 | dkim=pass {header.d=example.com}");
  EXPECT_EQ(h.results[0].comment, "good signature");
}

TEST(auth_results, rfc_06_auth_and_spf_fail) {
  EXPECT_EQ(parse("example.com;\r\n          auth=pass (cram-md5) "
                  "smtp.auth=sender@example.com;\r\n          spf=fail "
                  "smtp.mailfrom=example.com"),
            "authserv-id=example.com version=1 | auth=pass "
            "{smtp.auth=sender@example.com} "
            "| spf=fail {smtp.mailfrom=example.com}");
}

TEST(auth_results, rfc_07_two_dkim_with_reason) {
  EXPECT_EQ(
      parse(
          "example.com;\r\n      dkim=pass reason=\"good signature\"\r\n"
          "        header.i=@mail-router.example.net;\r\n      dkim=fail "
          "reason=\"bad signature\"\r\n        header.i=@newyork.example.com"),
      "authserv-id=example.com version=1 | dkim=pass reason=\"good signature\" "
      "{header.i=@mail-router.example.net} | dkim=fail reason=\"bad "
      "signature\" "
      "{header.i=@newyork.example.com}");
}

TEST(auth_results, rfc_08_downstream_admd) {
  EXPECT_EQ(parse("example.net;\r\n      dkim=pass (good signature) "
                  "header.i=@newyork.example.com"),
            "authserv-id=example.net version=1 | dkim=pass "
            "{header.i=@newyork.example.com}");
}

TEST(auth_results, rfc_09_comments_between_every_token) {
  EXPECT_EQ(
      parse("foo.example.net (foobar) 1 (baz);\r\n    dkim (Because I like it) "
            "/ 1 "
            "(One yay) = (wait for it) fail\r\n      policy (A dot can go "
            "here) . "
            "(like that) expired\r\n      (this surprised me) = (as I wasn't "
            "expecting it) 1362471462"),
      "authserv-id=foo.example.net version=1 | dkim/1=fail "
      "{policy.expired=1362471462}");
}

TEST(auth_results, rfc_10_sender_id_and_dkim) {
  EXPECT_EQ(parse("example.com;\r\n          sender-id=fail "
                  "header.from=example.com;\r\n"
                  "          dkim=pass (good signature) header.d=example.com"),
            "authserv-id=example.com version=1 | sender-id=fail "
            "{header.from=example.com} "
            "| dkim=pass {header.d=example.com}");
}

TEST(auth_results, rfc_11_header_b_tells_signatures_apart) {
  EXPECT_EQ(
      parse("mail-router.example.net; dkim=pass (good signature) "
            "header.d=newyork.example.com header.b=oINEO8hg; dkim=fail (bad "
            "signature) header.d=newyork.example.com header.b=EToRSuvU"),
      "authserv-id=mail-router.example.net version=1 | dkim=pass "
      "{header.d=newyork.example.com, header.b=oINEO8hg} | dkim=fail "
      "{header.d=newyork.example.com, header.b=EToRSuvU}");
}

TEST(auth_results, rfc_12_none_with_comment) {
  auto h = parse_auth_results(
      "test.example.org; none (SPF not checked for localhost)");
  EXPECT_EQ(render(h), "authserv-id=test.example.org version=1 | none");
  EXPECT_EQ(h.none_comment, "SPF not checked for localhost");
  EXPECT_TRUE(h.results.empty());
}

TEST(auth_results, rfc_13_quoted_authserv_id) {
  EXPECT_EQ(parse("\"example.org\"; none"),
            "authserv-id=example.org version=1 | none");
}

TEST(auth_results, rfc_14_quoted_property_values) {
  EXPECT_EQ(
      parse("example.net;\r\n      dkim=pass header.d=\"github.com\" "
            "header.i=\"dkim+foo-bar@example.github.com\""),
      "authserv-id=example.net version=1 | dkim=pass {header.d=github.com, "
      "header.i=dkim+foo-bar@example.github.com}");
}

TEST(auth_results, rfc_15_nested_comments) {
  auto h =
      parse_auth_results("example.com;\r\n          dkim=pass (good (comment "
                         "(another)) signature(s)) header.d=example.com");
  EXPECT_EQ(
      render(h),
      "authserv-id=example.com version=1 | dkim=pass {header.d=example.com}");
  EXPECT_EQ(h.results[0].comment, "good (comment (another)) signature(s)");
}

TEST(auth_results, rfc_16_bimi) {
  EXPECT_EQ(
      parse("example.com; bimi=pass header.d=example.com "
            "header.selector=myselector"),
      "authserv-id=example.com version=1 | bimi=pass {header.d=example.com, "
      "header.selector=myselector}");
}

TEST(auth_results, rfc_17_arc_first_hop) {
  auto h = parse_auth_results(
      "i=1; lists.example.org;\r\n    spf=pass "
      "smtp.mfrom=jqd@d1.example;\r\n    dkim=pass (1024-bit key) "
      "header.i=@d1.example;\r\n    dmarc=pass",
      true);
  EXPECT_TRUE(h.defects.empty());
  EXPECT_EQ(render(h),
            "i=1 authserv-id=lists.example.org version=1 | spf=pass "
            "{smtp.mfrom=jqd@d1.example} | dkim=pass {header.i=@d1.example} "
            "| dmarc=pass {}");
  EXPECT_EQ(h.results[1].comment, "1024-bit key");
}

TEST(auth_results, rfc_18_arc_later_hop) {
  auto h = parse_auth_results(
      "i=2; gmail.example;\r\n\tspf=fail "
      "smtp.from=jqd@d1.example;\r\n\tdkim=fail (512-bit key) "
      "header.i=@example.org; dmarc=fail;\r\n\tarc=pass "
      "(as.1.lists.example.org=pass, ams.1.lists.example.org=pass)",
      true);
  EXPECT_TRUE(h.defects.empty());
  EXPECT_EQ(render(h),
            "i=2 authserv-id=gmail.example version=1 | spf=fail "
            "{smtp.from=jqd@d1.example} | dkim=fail {header.i=@example.org} "
            "| dmarc=fail {} | arc=pass {}");
  EXPECT_EQ(h.results[3].comment,
            "as.1.lists.example.org=pass, ams.1.lists.example.org=pass");
}

TEST(auth_results, rfc_19_received_spf_pass) {
  auto spf = parse_received_spf(
      "pass (mybox.example.org: domain of\r\n    myname@example.com designates "
      "192.0.2.1 "
      "as permitted sender)\r\n       receiver=mybox.example.org; "
      "client-ip=192.0.2.1;\r\n"
      "       envelope-from=\"myname@example.com\"; helo=foo.example.com;");
  EXPECT_TRUE(spf.defects.empty());
  EXPECT_EQ(spf.result, "pass");
  EXPECT_EQ(spf.comment,
            "mybox.example.org: domain of myname@example.com designates "
            "192.0.2.1 as permitted sender");
  ASSERT_EQ(spf.properties.size(), 4u);
  EXPECT_EQ(spf.property("receiver"), "mybox.example.org");
  EXPECT_EQ(spf.property("client-ip"), "192.0.2.1");
  EXPECT_EQ(spf.property("envelope-from"), "myname@example.com");
  EXPECT_EQ(spf.property("helo"), "foo.example.com");
}

TEST(auth_results, rfc_20_received_spf_fail_with_identity) {
  auto spf = parse_received_spf(
      "fail (mybox.example.org: domain of\r\n                    "
      "myname@example.com does "
      "not designate\r\n                    192.0.2.1 as permitted sender)\r\n"
      "                    identity=mailfrom; client-ip=192.0.2.1;\r\n"
      "                    envelope-from=\"myname@example.com\";");
  EXPECT_TRUE(spf.defects.empty());
  EXPECT_EQ(spf.result, "fail");
  EXPECT_EQ(spf.comment,
            "mybox.example.org: domain of myname@example.com does not "
            "designate 192.0.2.1 as permitted sender");
  ASSERT_EQ(spf.properties.size(), 3u);
  EXPECT_EQ(spf.property("identity"), "mailfrom");
  EXPECT_EQ(spf.property("client-ip"), "192.0.2.1");
  EXPECT_EQ(spf.property("envelope-from"), "myname@example.com");
}

// -- real-world quirks --------------------------------------------------------

TEST(auth_results, microsoft_without_authserv_id) {
  auto h = parse_auth_results(
      "spf=pass (sender IP is 198.51.100.7)\r\n smtp.mailfrom=contoso.com; "
      "dkim=pass "
      "(signature was verified)\r\n header.d=contoso.com;dmarc=bestguesspass "
      "action=none\r\n "
      "header.from=contoso.com;compauth=pass reason=109");
  EXPECT_TRUE(h.defects.empty());
  EXPECT_EQ(render(h),
            "authserv-id= version=1 | spf=pass {smtp.mailfrom=contoso.com} | "
            "dkim=pass {header.d=contoso.com} | dmarc=bestguesspass "
            "{action=none, header.from=contoso.com} | compauth=pass "
            "reason=\"109\" {}");
  EXPECT_EQ(h.results[0].comment, "sender IP is 198.51.100.7");
}

TEST(auth_results, comment_holding_semicolons_and_parens) {
  EXPECT_EQ(
      parse(
          "mx.example.net; spf=softfail (a; b (c; d)) smtp.mailfrom=x.example; "
          "dkim=none"),
      "authserv-id=mx.example.net version=1 | spf=softfail "
      "{smtp.mailfrom=x.example} | dkim=none {}");
}

TEST(auth_results, yahoo_comment_glued_to_result_and_trailing_semicolon) {
  auto h =
      parse_auth_results("atlas210.free.mail.bf1.yahoo.com;\r\n dkim=pass "
                         "header.i=@example.com header.s=s2048;\r\n spf=pass "
                         "smtp.mailfrom=example.com;\r\n dmarc=pass(p=REJECT) "
                         "header.from=example.com;");
  EXPECT_TRUE(h.defects.empty());
  ASSERT_EQ(h.results.size(), 3u);
  EXPECT_EQ(h.results[2].result, "pass");
  EXPECT_EQ(h.results[2].comment, "p=REJECT");
  EXPECT_EQ(h.results[2].property("header", "from"), "example.com");
}

TEST(auth_results, non_rfc_methods_results_and_properties_kept_verbatim) {
  EXPECT_EQ(
      parse("mx-gate.example.com; dkim=permfail reason=\"mailfrom (ip=1.2.3.4, "
            "headerfrom=a.example)\" orig.disposition=quarantine; "
            "x-vs=clean score=40 state=0; x-aligned-from=pass (Address match)"),
      "authserv-id=mx-gate.example.com version=1 | dkim=permfail "
      "reason=\"mailfrom (ip=1.2.3.4, headerfrom=a.example)\" "
      "{orig.disposition=quarantine} | x-vs=clean {score=40, state=0} | "
      "x-aligned-from=pass {}");
}

TEST(auth_results, missing_semicolon_between_clauses) {
  EXPECT_EQ(parse("mx.example.net; spf=pass smtp.mailfrom=a.example dkim=pass "
                  "header.d=a.example"),
            "authserv-id=mx.example.net version=1 | spf=pass "
            "{smtp.mailfrom=a.example} | "
            "dkim=pass {header.d=a.example}");
}

TEST(auth_results, garbage_is_a_defect_not_a_crash) {
  for (std::string_view bad :
       {"", ";", "(((", "\"unterminated", "a; =pass", "a; dkim",
        "a; dkim=pass header.", "a; dkim=pass header.d", "i=x;",
        "a; spf=pass ( nested ( ( ", "=;=;=;"}) {
    auto h = parse_auth_results(bad, true);
    (void)h;
    auto spf = parse_received_spf(bad);
    (void)spf;
  }
  auto h = parse_auth_results("a; dkim", false);
  EXPECT_FALSE(h.defects.empty());
  auto u = parse_auth_results("a; spf=pass (never closed", false);
  EXPECT_FALSE(u.defects.empty());
  EXPECT_EQ(u.results.size(), 1u);
}

TEST(auth_results, arc_without_instance_is_a_defect) {
  auto h = parse_auth_results("mx.example.net; arc=pass", true);
  ASSERT_FALSE(h.defects.empty());
  EXPECT_EQ(h.authserv_id, "mx.example.net");
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_EQ(h.results[0].method, "arc");
}

TEST(auth_results, missing_semicolon_after_authserv_id) {
  auto h =
      parse_auth_results("mx.example.net spf=pass smtp.mailfrom=a.example");
  EXPECT_EQ(render(h), "authserv-id=mx.example.net version=1 | spf=pass "
                       "{smtp.mailfrom=a.example}");
  EXPECT_EQ(h.defects.size(), 1u);
}
