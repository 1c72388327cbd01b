// What a newsletter's analysis reads of a message: every field is text a
// database takes, whatever the message's charset.

#include "adapters/mail/newsletter.hpp"

#include <gtest/gtest.h>

namespace mailpipe {
namespace {

TEST(newsletter, reads_the_fields_and_the_first_part) {
  auto n =
      read_newsletter("Message-ID: <a-1@acme.test>\r\n"
                      "From: =?UTF-8?Q?Acme_=C3=A9t=C3=A9?= <n@acme.test>\r\n"
                      "Subject: Weekly\r\n"
                      "Date: Mon, 07 Dec 2026 08:00:00 +0000\r\n"
                      "Content-Type: text/plain; charset=utf-8\r\n\r\n"
                      "Hello readers.\r\n",
                      64 << 10);
  EXPECT_EQ(n.message_id, "a-1@acme.test");
  EXPECT_EQ(n.sender, "Acme été <n@acme.test>");
  EXPECT_EQ(n.subject, "Weekly");
  EXPECT_EQ(n.date, "Mon, 07 Dec 2026 08:00:00 +0000");
  EXPECT_EQ(n.body, "Hello readers.\r\n");
}

TEST(newsletter, a_latin1_body_and_nul_bytes_become_valid_utf8_text) {
  // Quoted-printable Latin-1 (=E4 is ä) with a NUL: PostgreSQL would refuse
  // both as they are.
  auto n = read_newsletter("Subject: Angebot\r\n"
                           "Content-Type: text/plain; charset=iso-8859-1\r\n"
                           "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
                           "Sch=F6ne Gr=FC=DFe, K=E4se=00!\r\n",
                           64 << 10);
  EXPECT_EQ(n.body, "Schöne Grüße, Käse!\r\n");
  auto raw =
      read_newsletter(std::string{"Subject: caf\xe9\r\n\r\nx"}, 64 << 10);
  EXPECT_EQ(raw.subject, "café");
}

TEST(newsletter, a_list_header_of_any_case_makes_a_list_message) {
  EXPECT_TRUE(is_list_message(
      "From: a@x.test\r\nlist-id: Weekly <weekly.x.test>\r\n\r\nhi", 4096));
  EXPECT_TRUE(is_list_message(
      "From: a@x.test\r\nList-Unsubscribe: <https://x.test/u>\r\n\r\nhi",
      4096));
  // In the body, or past the header limit, it does not count.
  EXPECT_FALSE(is_list_message(
      "From: a@x.test\r\nSubject: hi\r\n\r\nList-Id: <weekly.x.test>\r\n",
      4096));
  EXPECT_FALSE(
      is_list_message("From: a@x.test\r\nX-Pad: " + std::string(200, 'p')
                          + "\r\nList-Id: <weekly.x.test>\r\n\r\nhi",
                      64));
  EXPECT_FALSE(is_list_header("List-Post"));
  EXPECT_FALSE(is_list_header("X-List-Id"));
}

} // namespace
} // namespace mailpipe
