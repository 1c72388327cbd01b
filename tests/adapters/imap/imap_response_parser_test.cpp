#include "adapters/imap/response_parser.hpp"

#include <string>

#include <gtest/gtest.h>

#include "adapters/imap/client.hpp"
#include "messages/error.hpp"

using namespace mailpipe;
using namespace mailpipe::imap;
using namespace std::literals;

namespace {

response parse_ok(std::string_view frame) {
  auto r = parse_response(frame);
  EXPECT_TRUE(r) << (r ? "" : render(r.error()));
  return r ? *r : response{};
}

/// Feeds `input` one byte at a time and collects every response.
std::vector<response> parse_stream(std::string_view input) {
  response_parser p;
  std::vector<response> out;
  for (auto c : input) {
    p.feed(std::string_view{&c, 1});
    for (;;) {
      auto r = p.next();
      EXPECT_TRUE(r) << render(r.error());
      if (!r || !*r)
        break;
      out.push_back(std::move(**r));
    }
  }
  return out;
}

} // namespace

// -- single responses ---------------------------------------------------------

TEST(imap_response_parser, greeting_with_capabilities) {
  auto r = parse_ok("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] Dovecot "
                    "ready.\r\n");
  EXPECT_EQ(r.kind, response_kind::untagged);
  EXPECT_EQ(r.state, status::ok);
  EXPECT_EQ(r.code, "CAPABILITY");
  EXPECT_EQ(r.code_args, "IMAP4rev1 SASL-IR AUTH=PLAIN");
  EXPECT_EQ(r.text, "Dovecot ready.");
}

TEST(imap_response_parser, tagged_no_with_code) {
  auto r = parse_ok("a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
  EXPECT_EQ(r.kind, response_kind::tagged);
  EXPECT_EQ(r.tag, "a1");
  EXPECT_EQ(r.state, status::no);
  EXPECT_EQ(r.code, "AUTHENTICATIONFAILED");
  EXPECT_EQ(r.text, "Authentication failed.");
}

TEST(imap_response_parser, continuation) {
  auto r = parse_ok("+ idling\r\n");
  EXPECT_EQ(r.kind, response_kind::continuation);
  EXPECT_EQ(r.text, "idling");
  EXPECT_EQ(parse_ok("+\r\n").kind, response_kind::continuation);
}

TEST(imap_response_parser, exists_with_number) {
  auto r = parse_ok("* 23 EXISTS\r\n");
  ASSERT_TRUE(r.number);
  EXPECT_EQ(*r.number, 23u);
  EXPECT_EQ(r.keyword, "EXISTS");
}

TEST(imap_response_parser, list_with_quoted_and_nil) {
  auto r =
      parse_ok("* LIST (\\HasNoChildren \\Junk) \"/\" \"[Gmail]/Spam\"\r\n");
  ASSERT_EQ(r.data.size(), 3u);
  ASSERT_EQ(r.data[0].kind, value::type::list);
  EXPECT_EQ(r.data[0].items[1].text, "\\Junk");
  EXPECT_EQ(r.data[2].text, "[Gmail]/Spam");
  auto n = parse_ok("* LIST (\\Noselect) NIL \"\"\r\n");
  EXPECT_EQ(n.data[1].kind, value::type::nil);
  auto boxes = parse_list({r, n});
  ASSERT_EQ(boxes.size(), 2u);
  auto junk = find_junk(boxes);
  ASSERT_TRUE(junk);
  EXPECT_EQ(junk->name, "[Gmail]/Spam");
}

TEST(imap_response_parser, quoted_escapes) {
  auto r = parse_ok("* LIST () \"/\" \"a \\\"b\\\" \\\\ c\"\r\n");
  EXPECT_EQ(r.data[2].text, "a \"b\" \\ c");
}

TEST(imap_response_parser, fetch_with_literal_and_section) {
  std::string hdr = "Subject: hi\r\nX-Mailpipe-Test-Id: mp-1\r\n\r\n";
  auto frame = "* 3 FETCH (UID 17 X-GM-LABELS (\\Inbox \"Foo Bar\") "
               "BODY[HEADER] {"
               + std::to_string(hdr.size()) + "}\r\n" + hdr + ")\r\n";
  auto r = parse_ok(frame);
  EXPECT_EQ(r.keyword, "FETCH");
  auto uid = fetch_item(r, "UID");
  ASSERT_NE(uid, nullptr);
  EXPECT_EQ(uid->number(), 17u);
  auto body = fetch_item(r, "BODY[HEADER]");
  ASSERT_NE(body, nullptr);
  EXPECT_EQ(body->text, hdr);
  auto labels = fetch_item(r, "X-GM-LABELS");
  ASSERT_NE(labels, nullptr);
  ASSERT_EQ(labels->items.size(), 2u);
  EXPECT_EQ(labels->items[1].text, "Foo Bar");
}

TEST(imap_response_parser, section_with_spaces_is_one_atom) {
  auto r = parse_ok("* 1 FETCH (BODY[HEADER.FIELDS (FROM TO)]<0> \"x\")\r\n");
  ASSERT_EQ(r.data[0].items.size(), 2u);
  EXPECT_EQ(r.data[0].items[0].text, "BODY[HEADER.FIELDS (FROM TO)]<0>");
}

TEST(imap_response_parser, non_synchronizing_and_binary_literals) {
  auto r = parse_ok("* LIST () \"/\" {3+}\r\nabc\r\n");
  EXPECT_EQ(r.data[2].text, "abc");
  auto b = parse_ok("* 1 FETCH (BINARY[1] ~{2}\r\n\x00\x01)\r\n"sv);
  EXPECT_EQ(b.data[0].items[1].text.size(), 2u);
}

TEST(imap_response_parser, search_results) {
  auto r = parse_ok("* SEARCH 2 84 882\r\n");
  ASSERT_EQ(r.data.size(), 3u);
  EXPECT_EQ(r.data[2].number(), 882u);
}

TEST(imap_response_parser, code_with_list_argument) {
  auto r = parse_ok("* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n");
  EXPECT_EQ(r.code, "PERMANENTFLAGS");
  EXPECT_EQ(r.code_args, "(\\Deleted \\Seen \\*)");
  EXPECT_EQ(r.text, "Limited");
}

TEST(imap_response_parser, unknown_untagged_with_odd_syntax_is_kept) {
  auto r = parse_ok("* XWEIRD ) ] stuff\r\n");
  EXPECT_EQ(r.keyword, "XWEIRD");
  EXPECT_EQ(r.text, ") ] stuff");
}

// -- errors -------------------------------------------------------------------

TEST(imap_response_parser, bad_input_is_a_parse_error) {
  for (std::string_view bad :
       {"\r\n", "*\r\n", "a1\r\n", "a1 MAYBE whatever\r\n",
        "* 1 FETCH (UID 1\r\n", "* LIST (\\Junk \"/\" \"x\r\n",
        "* 1 FETCH (BODY[HEADER] {10}\r\nabc)\r\n",
        "* 1 FETCH (BODY[HEADER] {99999999999999999999}\r\n)\r\n",
        "* OK [UNTERMINATED text\r\n", "* SEARCH 1 ) 2\r\n"}) {
    auto r = parse_response(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_TRUE(is(r.error(), ec::parse_error)) << render(r.error());
  }
}

TEST(imap_response_parser, nesting_limit) {
  std::string deep =
      "* 1 FETCH " + std::string(100, '(') + std::string(100, ')') + "\r\n";
  auto r = parse_response(deep);
  ASSERT_FALSE(r);
  EXPECT_NE(render(r.error()).find("nested"), std::string::npos);
}

TEST(imap_response_parser, literal_and_line_limits_in_stream) {
  response_parser p{parser_limits{64, 1000, 8}};
  p.feed("* 1 FETCH (BODY[HEADER] {5000}\r\n");
  auto r = p.next();
  ASSERT_FALSE(r);
  EXPECT_TRUE(is(r.error(), ec::parse_error));
  // Broken streams stay broken.
  p.feed("* OK fine\r\n");
  EXPECT_FALSE(p.next());
  response_parser q{parser_limits{64, 1000, 8}};
  q.feed(std::string(100, 'x'));
  EXPECT_FALSE(q.next());
}

// -- the incremental parser ---------------------------------------------------

TEST(imap_response_parser, byte_by_byte_stream) {
  std::string hdr = "From: a@b\r\n\r\n";
  std::string input = "* OK ready\r\n* 1 FETCH (UID 5 BODY[HEADER] {"
                      + std::to_string(hdr.size()) + "}\r\n" + hdr
                      + ")\r\n+ go on\r\nt1 OK done\r\n";
  auto rs = parse_stream(input);
  ASSERT_EQ(rs.size(), 4u);
  EXPECT_EQ(rs[0].state, status::ok);
  EXPECT_EQ(fetch_item(rs[1], "BODY[HEADER]")->text, hdr);
  EXPECT_EQ(rs[2].kind, response_kind::continuation);
  EXPECT_EQ(rs[3].tag, "t1");
}

TEST(imap_response_parser, literal_ending_in_crlf_lookalike) {
  // The literal itself contains "{3}\r\n": only the outer marker counts.
  std::string lit = "x {3}\r\n";
  std::string input = "* 1 FETCH (BODY[HEADER] {" + std::to_string(lit.size())
                      + "}\r\n" + lit + ")\r\na OK\r\n";
  auto rs = parse_stream(input);
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(fetch_item(rs[0], "BODY[HEADER]")->text, lit);
}

// -- helpers ------------------------------------------------------------------

TEST(imap_helpers, modified_utf7) {
  EXPECT_EQ(decode_mailbox_name("Courrier ind&AOk-sirable"),
            "Courrier indésirable");
  EXPECT_EQ(decode_mailbox_name("A&-B"), "A&B");
  EXPECT_EQ(decode_mailbox_name("&ZeVnLIqe-"), "日本語");
  EXPECT_EQ(decode_mailbox_name("bad&*-"), "bad&*-");
}

TEST(imap_helpers, junk_fallback_names) {
  std::vector<mailbox_info> boxes{
      {"INBOX", "INBOX", {}, "/"},
      {"Courrier ind&AOk-sirable", "Courrier indésirable", {}, "/"}};
  auto j = find_junk(boxes);
  ASSERT_TRUE(j);
  EXPECT_EQ(j->name, "Courrier ind&AOk-sirable");
  boxes.push_back({"INBOX.Spamverdacht", "INBOX.Spamverdacht", {}, "."});
  boxes.push_back({"Stuff", "Stuff", {"\\Junk"}, "."});
  EXPECT_EQ(find_junk(boxes)->name, "Stuff");
  EXPECT_FALSE(find_junk({{"INBOX", "INBOX", {}, "/"}}));
}

TEST(imap_helpers, search_criteria_ors_every_term) {
  auto c = search_criteria({"mp-a", "mp-b"},
                           {"X-Mailpipe-Test-Id", "X-Test-ID"}, false);
  ASSERT_TRUE(c);
  EXPECT_EQ(*c, "OR HEADER \"X-Mailpipe-Test-Id\" \"mp-a\" OR HEADER "
                "\"X-Test-ID\" \"mp-a\" OR HEADER \"X-Mailpipe-Test-Id\" "
                "\"mp-b\" HEADER \"X-Test-ID\" \"mp-b\"");
  EXPECT_FALSE(search_criteria({"bad\r\nid"}, {"X"}, false));
  EXPECT_FALSE(search_criteria({}, {"X"}, false));
}

TEST(imap_helpers, header_values_unfold) {
  auto v = header_values("Subject: a\r\n b\r\nx-test-id:  mp-1 \r\n\r\n"
                         "X-Test-ID: body\r\n",
                         "X-Test-ID");
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0], "mp-1");
  EXPECT_EQ(header_values("Subject: a\r\n b\r\n", "subject")[0], "a b");
}

TEST(imap_helpers, errors_are_classified_and_masked) {
  auto err = [](std::string_view line, ec fallback) {
    return error_from(*parse_response(line), fallback, "CMD", {"hunter2"});
  };
  EXPECT_TRUE(
      is(err("a NO [AUTHENTICATIONFAILED] bad hunter2\r\n", ec::protocol_error),
         ec::auth_failed));
  EXPECT_EQ(render(err("a NO [AUTHENTICATIONFAILED] bad hunter2\r\n",
                       ec::protocol_error))
                .find("hunter2"),
            std::string::npos);
  EXPECT_TRUE(is(err("a NO [NONEXISTENT] no such\r\n", ec::protocol_error),
                 ec::mailbox_not_found));
  EXPECT_TRUE(is(err("a NO [OVERQUOTA] full\r\n", ec::protocol_error),
                 ec::quota_exceeded));
  EXPECT_TRUE(is(err("a NO [LIMIT] slow down\r\n", ec::protocol_error),
                 ec::rate_limited));
  EXPECT_TRUE(is(err("a NO Account THROTTLED\r\n", ec::protocol_error),
                 ec::rate_limited));
  EXPECT_TRUE(is(err("a NO [UNAVAILABLE] later\r\n", ec::protocol_error),
                 ec::service_unavailable));
  EXPECT_TRUE(is(err("* BYE going down\r\n", ec::protocol_error),
                 ec::service_unavailable));
  EXPECT_TRUE(
      is(err("a BAD syntax\r\n", ec::mailbox_not_found), ec::protocol_error));
  EXPECT_TRUE(is(err("a NO whatever\r\n", ec::mailbox_not_found),
                 ec::mailbox_not_found));
  auto text = render(
      err("a NO [NONEXISTENT] Mailbox doesn't exist\r\n", ec::protocol_error));
  EXPECT_NE(text.find("Mailbox doesn't exist"), std::string::npos) << text;
}

TEST(imap_helpers, mask_catches_cut_secrets) {
  EXPECT_EQ(mask("pw=hunter2!! end", {"hunter2!!"}), "pw=*** end");
  EXPECT_EQ(mask("near \"m1 LOGIN u \\\"hunter2", {"hunter2!!"}),
            "near \"m1 LOGIN u \\\"***");
  EXPECT_EQ(mask("r2!! tail", {"hunter2!!"}), "r2!! tail"); // 4 bytes: kept
  EXPECT_EQ(mask("ter2!! tail", {"hunter2!!"}), "*** tail");
}

TEST(imap_response_parser,
     parsing_in_place_leaves_nothing_of_the_previous_response) {
  response_parser p;
  p.feed("m1 NO [AUTHENTICATIONFAILED] bad\r\n"
         "* 4 FETCH (UID 9 BODY[HEADER] {5}\r\nA: b\n)\r\n"
         "+ go on\r\n"
         "* BYE [UNAVAILABLE x y] later\r\n");
  response r;
  auto got = p.next(r);
  ASSERT_TRUE(got && *got);
  EXPECT_EQ(r.kind, response_kind::tagged);
  EXPECT_EQ(r.tag, "m1");
  EXPECT_EQ(r.state, status::no);
  EXPECT_EQ(r.code, "AUTHENTICATIONFAILED");
  got = p.next(r);
  ASSERT_TRUE(got && *got);
  EXPECT_EQ(r.kind, response_kind::untagged);
  EXPECT_EQ(r.tag, "");
  EXPECT_EQ(r.state, status::none);
  EXPECT_EQ(r.code, "");
  EXPECT_EQ(r.text, "");
  EXPECT_EQ(r.number, 4u);
  EXPECT_EQ(r.keyword, "FETCH");
  auto body = fetch_item(r, "BODY[HEADER]");
  ASSERT_NE(body, nullptr);
  EXPECT_EQ(body->text, "A: b\n");
  got = p.next(r);
  ASSERT_TRUE(got && *got);
  EXPECT_EQ(r.kind, response_kind::continuation);
  EXPECT_EQ(r.text, "go on");
  EXPECT_FALSE(r.number);
  EXPECT_EQ(r.keyword, "");
  EXPECT_TRUE(r.data.empty());
  got = p.next(r);
  ASSERT_TRUE(got && *got);
  EXPECT_EQ(r.state, status::bye);
  EXPECT_EQ(r.code, "UNAVAILABLE");
  EXPECT_EQ(r.code_args, "x y");
  EXPECT_EQ(r.text, "later");
  got = p.next(r);
  ASSERT_TRUE(got);
  EXPECT_FALSE(*got); // no more bytes
}

TEST(imap_response_parser, values_reused_in_place_match_a_fresh_parse) {
  // Shapes that change from one response to the next: longer and shorter
  // lists, a list where an atom was, NIL where a string was, a literal, an
  // untokenizable unknown response, and data after a status.
  const std::vector<std::string> frames = {
      "* LIST (\\HasNoChildren \\Junk) \"/\" \"Junk Mail With A Long "
      "Name\"\r\n",
      "* LIST () NIL INBOX\r\n",
      "* 12 FETCH (UID 7 FLAGS (\\Seen (nested (deeper))) X-GM-LABELS (\"a\" "
      "b))\r\n",
      "* SEARCH 1 2 3 4 5 6 7 8 9 10 11 12\r\n",
      "* SEARCH\r\n",
      "* 3 FETCH (BODY[HEADER] {4}\r\nX: y)\r\n",
      "* XWEIRD ( unbalanced\r\n",
      "* OK [UIDVALIDITY 42] UIDs valid\r\n",
      "* ID (\"name\" \"Dovecot\" \"version\" NIL)\r\n",
      "m9 OK done\r\n",
  };
  response reused;
  for (int round = 0; round < 2; ++round)
    for (const auto& f : frames) {
      auto fresh = parse_response(f, parser_limits{});
      ASSERT_TRUE(fresh) << f;
      auto err = parse_response(f, parser_limits{}, reused);
      ASSERT_FALSE(err) << f;
      EXPECT_TRUE(reused == *fresh) << f;
    }
  // A failed strict parse leaves no stale values behind.
  auto err = parse_response("* SEARCH 1 (2\r\n", parser_limits{}, reused);
  EXPECT_TRUE(err);
  EXPECT_TRUE(reused.data.empty());
  // Nor does any other error, wherever the parse stops.
  for (const char* bad : {"*  \r\n", "m1\r\n", "m1 MAYBE\r\n"}) {
    ASSERT_FALSE(parse_response(frames[2], parser_limits{}, reused));
    ASSERT_FALSE(reused.data.empty());
    EXPECT_TRUE(parse_response(bad, parser_limits{}, reused)) << bad;
    EXPECT_TRUE(reused.data.empty()) << bad;
  }
}

// -- capability lists ---------------------------------------------------------

TEST(imap_capabilities, words_are_case_insensitive_and_exact) {
  capability_list caps{"IMAP4rev1 SASL-IR  auth=PLAIN LITERAL+ IDLE idle"};
  EXPECT_EQ(caps.text(), "IMAP4rev1 SASL-IR  auth=PLAIN LITERAL+ IDLE idle");
  EXPECT_EQ(caps.words(),
            (std::vector<std::string>{"AUTH=PLAIN", "IDLE", "IMAP4REV1",
                                      "LITERAL+", "SASL-IR"}));
  EXPECT_TRUE(caps.has("AUTH=PLAIN"));
  EXPECT_TRUE(caps.has("imap4rev1"));
  EXPECT_TRUE(caps.has("Literal+"));
  EXPECT_FALSE(caps.has("LITERAL")); // a prefix is not the word
  EXPECT_FALSE(caps.has("AUTH=PLAINX"));
  EXPECT_FALSE(caps.has("AUTH"));
  EXPECT_FALSE(caps.has(""));
  EXPECT_FALSE(caps.has("ZZZ"));
  EXPECT_FALSE(capability_list{}.has("IMAP4rev1"));
  EXPECT_TRUE(capability_list{""}.words().empty());
}
