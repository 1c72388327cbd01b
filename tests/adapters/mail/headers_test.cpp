#include "adapters/mail/headers.hpp"

#include <gtest/gtest.h>

#include "adapters/mail/text.hpp"

using namespace mailpipe;

TEST(headers, unfolds_keeps_order_and_duplicates_crlf) {
  auto hb = parse_header_block(
      "Received: from a\r\n\tby b; Mon\r\nReceived: from c\r\n"
      "SUBJECT: hi\r\n  there\r\n\r\nbody line\r\n",
      1 << 20);
  ASSERT_EQ(hb.fields.size(), 3u);
  EXPECT_TRUE(hb.defects.empty());
  EXPECT_EQ(hb.fields[0].name, "Received");
  EXPECT_EQ(unfold(hb.fields[0].value), "from a by b; Mon");
  EXPECT_EQ(hb.fields[1].value, "from c");
  EXPECT_EQ(hb.fields[2].line, 4u);
  EXPECT_EQ(unfold(hb.value_of("subject")), "hi there");
  EXPECT_EQ(hb.body, "body line\r\n");
  EXPECT_EQ(hb.find("received"), &hb.fields[0]);
  EXPECT_EQ(hb.find("X-None"), nullptr);
}

TEST(headers, bare_lf_and_value_on_the_next_line) {
  auto hb = parse_header_block("To:\n  a@example.com\nX-A: 1\n\nbody", 1 << 20);
  ASSERT_EQ(hb.fields.size(), 2u);
  EXPECT_EQ(unfold(hb.fields[0].value), "a@example.com");
  EXPECT_EQ(hb.fields[1].value, "1");
  EXPECT_EQ(hb.body, "body");
}

TEST(headers, malformed_lines_are_defects_and_skipped) {
  auto hb =
      parse_header_block(" leading continuation\r\nno colon here\r\n"
                         "  its continuation\r\nBad Name: x\r\nGood: yes\r\n"
                         ": empty name\r\n",
                         1 << 20);
  ASSERT_EQ(hb.fields.size(), 1u);
  EXPECT_EQ(hb.fields[0].name, "Good");
  EXPECT_EQ(hb.fields[0].value, "yes");
  ASSERT_EQ(hb.defects.size(), 4u);
  EXPECT_EQ(hb.defects[0].line, 1u);
  EXPECT_EQ(hb.defects[1].line, 2u);
  EXPECT_EQ(hb.defects[2].line, 4u);
  EXPECT_EQ(hb.defects[3].line, 6u);
}

TEST(headers, obsolete_space_before_colon_and_mbox_from_line) {
  auto hb =
      parse_header_block("From someone@example.com Sat Jan  3 01:05:34 1996\n"
                         "Subject : old style\n",
                         1 << 20);
  EXPECT_TRUE(hb.defects.empty());
  ASSERT_EQ(hb.fields.size(), 1u);
  EXPECT_EQ(hb.fields[0].name, "Subject");
  EXPECT_EQ(hb.fields[0].value, "old style");
}

TEST(headers, eight_bit_bytes_and_nul_are_tolerated) {
  std::string block = "Subject: caf\xE9 \xC3\xA9\r\nX-Bin: a";
  block.push_back('\0');
  block += "b\r\n";
  auto hb = parse_header_block(block, 1 << 20);
  ASSERT_EQ(hb.fields.size(), 2u);
  EXPECT_EQ(hb.fields[1].value.size(), 3u);
}

TEST(headers, size_limit_cuts_and_records_a_defect) {
  std::string block;
  for (int i = 0; i < 100; ++i)
    block += "X-Filler: 0123456789012345678901234567890123456789\r\n";
  auto hb = parse_header_block(block, 1000);
  EXPECT_TRUE(hb.truncated);
  EXPECT_LT(hb.fields.size(), 100u);
  EXPECT_GT(hb.fields.size(), 10u);
  for (auto& f : hb.fields)
    EXPECT_EQ(f.value, "0123456789012345678901234567890123456789");
  ASSERT_FALSE(hb.defects.empty());
  EXPECT_NE(hb.defects[0].message.find("1000"), std::string::npos);
  // A whole message with a short header block is not cut by a long body.
  auto msg = parse_header_block("A: 1\r\n\r\n" + block, 100);
  EXPECT_FALSE(msg.truncated);
  EXPECT_EQ(msg.fields.size(), 1u);
}

TEST(text, glob_and_case_helpers) {
  EXPECT_TRUE(text::iglob("*notspam", "outbound_NOTSPAM"));
  EXPECT_TRUE(text::iglob("*spam*", "inbound_spam_bulk"));
  EXPECT_FALSE(text::iglob("junk:*", "notjunk:1"));
  EXPECT_TRUE(text::iglob("a*b*c", "aXXbYYc"));
  EXPECT_FALSE(text::iglob("a*b*c", "aXXbYY"));
  EXPECT_EQ(text::ifind("Hello World", "WORLD"), 6u);
  EXPECT_EQ(text::parse_number("-1.813"), -1.813);
  EXPECT_EQ(text::parse_number("+3"), 3.0);
  EXPECT_FALSE(text::parse_number("inf"));
  EXPECT_FALSE(text::parse_number("1.2x"));
}
