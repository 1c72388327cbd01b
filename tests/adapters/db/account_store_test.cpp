// Account secrets are stored sealed (AES-256-GCM) in the real PostgreSQL.

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "adapters/db/account_store.hpp"
#include "adapters/db/connection.hpp"
#include "adapters/db/migrate.hpp"
#include "tests/support/env.hpp"

using namespace mailpipe;

namespace {

crypto::secret_box make_box(char fill) {
  auto box = crypto::secret_box::from_key(std::string(crypto::key_size, fill));
  EXPECT_TRUE(box);
  return *box;
}

} // namespace

TEST(account_store, secrets_are_sealed_bound_to_their_row_and_open_again) {
  MAILPIPE_SCRATCH_DATABASE(db);
  auto conn = db::connect(db.url());
  ASSERT_TRUE(conn) << render(conn.error());
  ASSERT_TRUE(db::migrate(**conn));
  auto box = make_box('k');
  db::account_spec imap{"seed1@mailpipe.test", provider::imap, "127.0.0.1", 993,
                        "tls"};
  db::account_spec gmail{"seed@gmail.example", provider::gmail};
  gmail.auth_method = "oauth2";
  auto a = db::add_account(**conn, imap, "pw-plaintext-1", box);
  ASSERT_TRUE(a) << render(a.error());
  auto b = db::add_account(**conn, gmail, "1//refresh-token-2", box);
  ASSERT_TRUE(b) << render(b.error());

  // The plaintext is nowhere in the table.
  {
    pqxx::nontransaction tx{**conn};
    auto leaked = tx.exec1(
        "SELECT count(*) FROM email_accounts WHERE "
        "position('pw-plaintext-1'::bytea IN secret_encrypted) > 0 "
        "OR position('refresh-token-2'::bytea IN secret_encrypted) > 0");
    EXPECT_EQ(leaked[0].as<int>(), 0);
    auto row = tx.exec_params1("SELECT provider, imap_host, username FROM "
                               "email_accounts WHERE id = $1",
                               *b);
    EXPECT_EQ(row[0].as<std::string>(), "gmail");
    EXPECT_TRUE(row[1].is_null());
    EXPECT_EQ(row[2].as<std::string>(), "seed@gmail.example");
  }
  EXPECT_EQ(db::load_secret(**conn, *a, box).value(), "pw-plaintext-1");
  EXPECT_EQ(db::load_secret(**conn, *b, box).value(), "1//refresh-token-2");

  // A rotated refresh token replaces the old one.
  ASSERT_TRUE(db::replace_secret(**conn, *b, {"1//refresh-token-2"},
                                 "1//rotated-3", box)
                  .value());
  EXPECT_EQ(db::load_secret(**conn, *b, box).value(), "1//rotated-3");

  // A rotation replaces it only while the stored one is one it started from.
  EXPECT_FALSE(db::replace_secret(**conn, *b, {"1//old", "1//older"},
                                  "1//stale-chain", box)
                   .value());
  EXPECT_EQ(db::load_secret(**conn, *b, box).value(), "1//rotated-3");
  EXPECT_TRUE(db::replace_secret(**conn, *b, {"1//rotated-4", "1//rotated-3"},
                                 "1//rotated-5", box)
                  .value());
  EXPECT_EQ(db::load_secret(**conn, *b, box).value(), "1//rotated-5");
  EXPECT_FALSE(db::replace_secret(**conn, 999999, {"x"}, "y", box).value());

  // Another key does not open it, and the error does not show the secret.
  auto wrong = db::load_secret(**conn, *a, make_box('x'));
  ASSERT_FALSE(wrong);
  EXPECT_TRUE(is(wrong.error(), ec::auth_failed));
  EXPECT_EQ(render(wrong.error()).find("pw-plaintext"), std::string::npos);

  // A sealed value copied into another row does not open there.
  {
    pqxx::nontransaction tx{**conn};
    tx.exec_params(
        "UPDATE email_accounts SET secret_encrypted = "
        "(SELECT secret_encrypted FROM email_accounts WHERE id = $1) "
        "WHERE id = $2",
        *a, *b);
  }
  EXPECT_TRUE(is(db::load_secret(**conn, *b, box).error(), ec::auth_failed));

  // Missing accounts are named as such.
  EXPECT_TRUE(is(db::load_secret(**conn, 999999, box).error(), ec::not_found));
}

TEST(account_store, a_duplicate_address_is_named_and_adds_nothing) {
  MAILPIPE_SCRATCH_DATABASE(db);
  auto conn = db::connect(db.url());
  ASSERT_TRUE(conn);
  ASSERT_TRUE(db::migrate(**conn));
  auto box = make_box('k');
  db::account_spec spec{"dup@mailpipe.test", provider::imap, "127.0.0.1", 993,
                        "tls"};
  ASSERT_TRUE(db::add_account(**conn, spec, "one", box));
  auto again = db::add_account(**conn, spec, "two", box);
  ASSERT_FALSE(again);
  EXPECT_TRUE(is(again.error(), ec::invalid_argument));
  EXPECT_NE(render(again.error()).find("dup@mailpipe.test already exists"),
            std::string::npos);
  pqxx::nontransaction tx{**conn};
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM email_accounts")[0].as<int>(), 1);
}
