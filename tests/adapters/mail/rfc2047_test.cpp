#include "adapters/mail/rfc2047.hpp"

#include <gtest/gtest.h>

using namespace mailpipe;

TEST(rfc2047, b_and_q_in_utf8) {
  EXPECT_EQ(decode_rfc2047(
                "=?UTF-8?B?WW91ciB3ZWVrbHkgZGlnZXN0IOKAkyBub3ZlbWJlcg==?="),
            "Your weekly digest \xE2\x80\x93 november");
  EXPECT_EQ(decode_rfc2047("=?utf-8?q?caf=C3=A9_cr=C3=A8me?="),
            "caf\xC3\xA9 cr\xC3\xA8me");
}

TEST(rfc2047, adjacent_words_join_and_text_keeps_its_spaces) {
  // RFC 2047 §8 examples.
  EXPECT_EQ(decode_rfc2047("(=?ISO-8859-1?Q?a?=)"), "(a)");
  EXPECT_EQ(decode_rfc2047("=?ISO-8859-1?Q?a?= b"), "a b");
  EXPECT_EQ(decode_rfc2047("=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?="), "ab");
  EXPECT_EQ(decode_rfc2047("=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?="),
            "ab");
  EXPECT_EQ(decode_rfc2047("=?ISO-8859-1?Q?a_b?="), "a b");
  EXPECT_EQ(decode_rfc2047("=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?="), "a b");
  EXPECT_EQ(decode_rfc2047("Re: =?utf-8?q?x?= end"), "Re: x end");
}

TEST(rfc2047, multibyte_character_split_across_words) {
  // U+00E9 is C3 A9; each word holds one byte.
  EXPECT_EQ(decode_rfc2047("=?UTF-8?Q?caf=C3?= =?UTF-8?Q?=A9?="),
            "caf\xC3\xA9");
}

TEST(rfc2047, single_byte_charsets) {
  EXPECT_EQ(decode_rfc2047("=?ISO-8859-1?Q?Andr=E9?="), "Andr\xC3\xA9");
  EXPECT_EQ(decode_rfc2047("=?iso-8859-2?Q?=A3=F3d=BC?="),
            "\xC5\x81\xC3\xB3\x64\xC5\xBA");
  EXPECT_EQ(decode_rfc2047("=?ISO-8859-15?Q?=A4?="), "\xE2\x82\xAC");
  EXPECT_EQ(decode_rfc2047("=?windows-1252?Q?=80_=93x=94?="),
            "\xE2\x82\xAC \xE2\x80\x9Cx\xE2\x80\x9D");
  EXPECT_EQ(decode_rfc2047("=?windows-1251?B?z/Do4uXy?="),
            "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82");
  EXPECT_EQ(decode_rfc2047("=?koi8-r?B?8NLJ18XU?="),
            "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82");
  EXPECT_EQ(decode_rfc2047("=?cp1250?Q?=8A?="), "\xC5\xA0");
  EXPECT_EQ(decode_rfc2047("=?US-ASCII*EN?Q?Keith_Moore?="), "Keith Moore");
}

TEST(rfc2047, unknown_charset_and_broken_words_are_kept) {
  EXPECT_EQ(decode_rfc2047("=?x-unknown?Q?abc?="), "=?x-unknown?Q?abc?=");
  EXPECT_EQ(decode_rfc2047("=?utf-8?B?***?= tail"), "=?utf-8?B?***?= tail");
  EXPECT_EQ(decode_rfc2047("=?utf-8?X?abc?="), "=?utf-8?X?abc?=");
  EXPECT_EQ(decode_rfc2047("=?utf-8?Q?unterminated"), "=?utf-8?Q?unterminated");
  EXPECT_EQ(decode_rfc2047("a =? b"), "a =? b");
}

TEST(rfc2047, raw_eight_bit_becomes_valid_utf8) {
  EXPECT_EQ(decode_rfc2047("caf\xE9"), "caf\xC3\xA9");     // Latin-1 byte
  EXPECT_EQ(decode_rfc2047("caf\xC3\xA9"), "caf\xC3\xA9"); // already UTF-8
  EXPECT_EQ(decode_rfc2047("\x93q\x94"), "\xE2\x80\x9Cq\xE2\x80\x9D"); // cp1252
  EXPECT_EQ(decode_rfc2047("=?utf-8?Q?=FF?="),
            "\xC3\xBF"); // invalid UTF-8 in a word
}

TEST(rfc2047, unfolds_plain_text) {
  EXPECT_EQ(decode_rfc2047("  Hello\r\n\tworld  "), "Hello world");
}

TEST(rfc2047, charset_names_cut_short_are_unknown_not_a_crash) {
  // Found by the fuzzer: "iso_8859-" with nothing after the dash.
  EXPECT_EQ(decode_rfc2047("=?iso_8859-*?Q?x?="), "=?iso_8859-*?Q?x?=");
  EXPECT_EQ(decode_rfc2047("=?ISO8859-?B?eA==?="), "=?ISO8859-?B?eA==?=");
  EXPECT_EQ(decode_rfc2047("=?iso8859-15?Q?=A4?="), "\xE2\x82\xAC");
}
