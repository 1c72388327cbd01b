#include "adapters/mail/test_id.hpp"

#include <gtest/gtest.h>

#include "messages/error.hpp"

using namespace mailpipe;

namespace {

token_pattern compile(std::string_view p) {
  auto pat = token_pattern::compile(p);
  EXPECT_TRUE(pat) << render(pat.error());
  return std::move(*pat);
}

} // namespace

TEST(token_pattern, default_pattern) {
  auto p = compile("mp-[A-Za-z0-9]{8,64}");
  EXPECT_EQ(p.find("Subject [mp-abcDEF12] hello"), "mp-abcDEF12");
  EXPECT_EQ(p.find("mp-short mp-0123456789abcdef!"), "mp-0123456789abcdef");
  EXPECT_EQ(p.find("no id here mp-1234567"), "");
  EXPECT_TRUE(p.matches("mp-12345678"));
  EXPECT_FALSE(p.matches("mp-1234567"));
}

TEST(token_pattern, quantifiers_classes_and_escapes) {
  EXPECT_EQ(compile("a+b?c*").find("xxaaabccc"), "aaabccc");
  EXPECT_EQ(compile("[^ ]+@x\\.com").find("to bob@x.com now"), "bob@x.com");
  EXPECT_EQ(compile("id-\\d{3}").find("id-12 id-345"), "id-345");
  EXPECT_EQ(compile("a.c").find("abc"), "abc");
  EXPECT_EQ(compile("x[-_]y").find("x_y"), "x_y");
  EXPECT_EQ(compile("a{2,}").find("a aa aaaa"), "aa");
  // Backtracking: the greedy class must give back the trailing digit.
  EXPECT_EQ(compile("[a-z0-9]+9").find("abc99z"), "abc99");
}

TEST(token_pattern, unsupported_or_malformed_is_an_error) {
  for (auto bad : {"", "(a)", "a|b", "^a", "[abc", "a{2", "a{3,1}", "*a", "a\\",
                   "[z-a]"}) {
    auto p = token_pattern::compile(bad);
    ASSERT_FALSE(p) << bad;
    EXPECT_TRUE(is(p.error(), ec::invalid_config));
  }
}

TEST(test_ids, headers_then_subject_then_first_body_part) {
  auto msg =
      "X-Test-ID: mp-fromheader1\r\n"
      "Subject: =?utf-8?Q?Offre_=E2=80=94_mp-fromsubject?=\r\n"
      "Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n"
      "preamble\r\n--b1\r\nContent-Type: text/plain\r\n"
      "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
      "ref mp-from=\r\nbody1 =3D\r\n--b1\r\nContent-Type: text/html\r\n\r\n"
      "mp-secondpart\r\n--b1--\r\n";
  auto hb = parse_header_block(msg, 1 << 20);
  test_id_rules rules{{"X-Mailpipe-Test-Id", "X-Test-ID"},
                      compile("mp-[A-Za-z0-9]{8,64}")};
  auto ids = find_test_ids(hb, rules);
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[0], "mp-fromheader1");
  EXPECT_EQ(ids[1], "mp-fromsubject");
  EXPECT_EQ(ids[2], "mp-frombody1");
}

TEST(test_ids, base64_body_and_nested_multipart) {
  auto msg = "Subject: hello\r\n"
             "Content-Type: multipart/mixed; boundary=outer\r\n\r\n"
             "--outer\r\nContent-Type: multipart/alternative; "
             "boundary=\"inner\"\r\n\r\n"
             "--inner\r\nContent-Type: text/plain; charset=utf-8\r\n"
             "Content-Transfer-Encoding: base64\r\n\r\n"
             "dGVzdCBtcC1iYXNlNjR0b2tlbiBlbmQ=\r\n--inner--\r\n--outer--\r\n";
  auto hb = parse_header_block(msg, 1 << 20);
  EXPECT_EQ(first_body_part(hb), "test mp-base64token end");
  test_id_rules rules{{}, compile("mp-[A-Za-z0-9]{8,64}")};
  auto ids = find_test_ids(hb, rules);
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(ids[0], "mp-base64token");
}

TEST(test_ids, duplicates_are_reported_once_and_header_block_alone_works) {
  auto hb = parse_header_block(
      "X-Mailpipe-Test-Id: mp-abcdefgh\r\nSubject: [mp-abcdefgh]\r\n", 1 << 20);
  test_id_rules rules{{"X-Mailpipe-Test-Id"}, compile("mp-[a-z]{8}")};
  auto ids = find_test_ids(hb, rules);
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(ids[0], "mp-abcdefgh");
}

TEST(test_ids, carried_are_the_pending_ids_the_rule_finds_in_its_order) {
  auto rules = make_test_id_rules({"X-Mailpipe-Test-Id"}, "mp-[a-z]{8,16}");
  ASSERT_TRUE(rules);
  auto hb = parse_header_block("Subject: [mp-subjectx] hi\r\n"
                               "x-mailpipe-test-id: mp-headerxx\r\n",
                               1 << 20);
  EXPECT_EQ(carried_test_ids(hb, *rules, {"mp-subjectx", "mp-headerxx"}),
            (std::vector<std::string>{"mp-headerxx", "mp-subjectx"}));
  EXPECT_EQ(carried_test_ids(hb, *rules, {"mp-subjectx", "mp-otherxxx"}),
            (std::vector<std::string>{"mp-subjectx"}));
  // A pending id that is only the start of the subject's (longest) token is
  // not carried.
  auto near = parse_header_block("Subject: mp-headerxxy\r\n", 1 << 20);
  EXPECT_TRUE(carried_test_ids(near, *rules, {"mp-headerxx"}).empty());
}

TEST(test_ids, rules_with_a_bad_pattern_are_invalid_config) {
  auto rules = make_test_id_rules({"X-Test-ID"}, "mp-[a-z");
  ASSERT_FALSE(rules);
  EXPECT_TRUE(is(rules.error(), ec::invalid_config));
  // Default rules (no pattern compiled) find header ids and no token.
  test_id_rules empty{{"X-Test-ID"}, {}};
  auto hb = parse_header_block("X-Test-ID: a\r\nSubject: mp-abcdefgh\r\n", 64);
  EXPECT_EQ(find_test_ids(hb, empty), (std::vector<std::string>{"a"}));
}
