// `mailpipe account ...`, `test ...` and `metrics clean` through the built binary, on a
// scratch PostgreSQL database.

#include <fstream>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "adapters/db/connection.hpp"
#include "adapters/db/migrate.hpp"
#include "adapters/db/pipeline.hpp"
#include "tests/support/env.hpp"

using namespace mailpipe;

namespace {

// A base64 256-bit key (32 bytes of 'k').
const std::string key_b64 = "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s=";

struct cli {
  std::string url;
  std::unique_ptr<pqxx::connection> conn;

  explicit cli(const std::string& db_url) : url(db_url) {
    conn = std::move(*db::connect(url));
    EXPECT_TRUE(db::migrate(*conn));
  }

  test::run_result run(std::vector<std::string> args,
                       std::vector<std::string> env = {},
                       const std::string& input = {}, bool with_key = true) {
    args.insert(args.begin(), test::mailpipe_binary());
    env.push_back("MAILPIPE_DATABASE_URL=" + url);
    if (with_key)
      env.push_back("MAILPIPE_SECRET_KEY=" + key_b64);
    return test::run_process(args, env, input);
  }

  int64_t scalar(const std::string& sql) {
    pqxx::nontransaction tx{*conn};
    return tx.exec1(sql)[0].as<int64_t>();
  }

  // Adds an IMAP account and returns its id.
  int64_t add(const std::string& email) {
    auto r = run({"account", "add", "--email", email, "--host", "127.0.0.1",
                  "--password-env", "SEED_PW"},
                 {"SEED_PW=pw-" + email});
    EXPECT_EQ(r.status, 0) << r.err;
    return scalar(
        fmt::format("SELECT id FROM email_accounts WHERE email = '{}'", email));
  }
};

std::string write_file(const std::string& name, const std::string& text) {
  auto path = fmt::format("{}/{}-{}", testing::TempDir(), getpid(), name);
  std::ofstream{path} << text;
  return path;
}

} // namespace

TEST(db_commands, account_add_seals_the_secret_and_never_shows_it) {
  MAILPIPE_SCRATCH_DATABASE(db);
  cli c{db.url()};
  auto r =
      c.run({"account", "add", "--email", "seed@mailpipe.test", "--host",
             "imap.test", "--tls", "starttls", "--password-env", "SEED_PW"},
            {"SEED_PW=Very-Secret-Pw-42"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("added account"), std::string::npos);
  EXPECT_EQ(
      c.scalar("SELECT count(*) FROM email_accounts WHERE imap_security = "
               "'starttls' "
               "AND imap_port = 143 AND secret_encrypted IS NOT NULL AND "
               "position('Very-Secret-Pw-42'::bytea IN secret_encrypted) = 0"),
      1);
  auto list = c.run({"account", "list", "--json"});
  ASSERT_EQ(list.status, 0) << list.err;
  EXPECT_NE(list.out.find("\"email\":\"seed@mailpipe.test\""),
            std::string::npos);
  auto show = c.run({"account", "show", "1"});
  ASSERT_EQ(show.status, 0) << show.err;
  EXPECT_NE(show.out.find("secret stored, sealed"), std::string::npos);
  for (auto& out : {r.out, r.err, list.out, show.out})
    EXPECT_EQ(out.find("Very-Secret-Pw-42"), std::string::npos);
  // Read from stdin too; a gmail account needs a refresh token.
  auto in = c.run({"account", "add", "--email", "two@mailpipe.test", "--host",
                   "h", "--password-stdin"},
                  {}, "stdin-pw\n");
  EXPECT_EQ(in.status, 0) << in.err;
  auto gmail = c.run({"account", "add", "--email", "g@gmail.test", "--provider",
                      "gmail", "--password-env", "SEED_PW"},
                     {"SEED_PW=x"});
  EXPECT_EQ(gmail.status, 2);
  EXPECT_NE(gmail.err.find("refresh token"), std::string::npos);
}

TEST(db_commands,
     account_add_names_the_missing_key_the_duplicate_and_the_unset_var) {
  MAILPIPE_SCRATCH_DATABASE(db);
  cli c{db.url()};
  auto nokey = c.run({"account", "add", "--email", "a@mailpipe.test", "--host",
                      "h", "--password-env", "SEED_PW"},
                     {"SEED_PW=x"}, {}, false);
  EXPECT_EQ(nokey.status, 2);
  EXPECT_NE(nokey.err.find("crypto.key_file"), std::string::npos) << nokey.err;
  EXPECT_NE(nokey.err.find("MAILPIPE_SECRET_KEY"), std::string::npos)
      << nokey.err;
  EXPECT_EQ(c.scalar("SELECT count(*) FROM email_accounts"), 0);
  c.add("a@mailpipe.test");
  auto dup = c.run({"account", "add", "--email", "a@mailpipe.test", "--host",
                    "h", "--password-env", "SEED_PW"},
                   {"SEED_PW=x"});
  EXPECT_EQ(dup.status, 1);
  EXPECT_NE(dup.err.find("a@mailpipe.test already exists"), std::string::npos)
      << dup.err;
  auto unset = c.run({"account", "add", "--email", "b@mailpipe.test", "--host",
                      "h", "--password-env", "MAILPIPE_TEST_NOT_SET"});
  EXPECT_EQ(unset.status, 2);
  EXPECT_NE(unset.err.find("MAILPIPE_TEST_NOT_SET is not set"),
            std::string::npos);
  auto down = test::run_process(
      {test::mailpipe_binary(), "account", "list"},
      {"MAILPIPE_DATABASE_URL=postgresql://nobody@127.0.0.1:1/none"});
  EXPECT_EQ(down.status, 1);
}

TEST(db_commands, account_show_reactivate_and_remove_by_id) {
  MAILPIPE_SCRATCH_DATABASE(db);
  cli c{db.url()};
  auto id = c.add("a@mailpipe.test");
  db::failure_report rep{id, failure_class::auth, "LOGIN refused",
                         std::chrono::minutes{10}, 1};
  ASSERT_TRUE(db::record_failure(*c.conn, rep)->disabled);
  auto show = c.run({"account", "show", std::to_string(id), "--json"});
  ASSERT_EQ(show.status, 0) << show.err;
  EXPECT_NE(show.out.find("\"active\":false"), std::string::npos) << show.out;
  EXPECT_NE(
      show.out.find(
          "\"count\":1,\"class\":\"auth\",\"last_error\":\"LOGIN refused\""),
      std::string::npos)
      << show.out;
  ASSERT_EQ(c.run({"account", "reactivate", std::to_string(id)}).status, 0);
  EXPECT_EQ(c.scalar("SELECT count(*) FROM email_accounts WHERE active"), 1);
  EXPECT_EQ(c.scalar("SELECT count(*) FROM email_account_failures"), 0);
  auto unknown = c.run({"account", "show", "999"});
  EXPECT_EQ(unknown.status, 1);
  EXPECT_NE(unknown.err.find("no account 999"), std::string::npos);
  ASSERT_EQ(c.run({"account", "remove", std::to_string(id)}).status, 0);
  EXPECT_EQ(c.scalar("SELECT count(*) FROM email_accounts"), 0);
  EXPECT_EQ(c.run({"account", "remove", std::to_string(id)}).status, 1);
}

TEST(db_commands, account_import_adds_all_or_nothing_and_names_the_bad_line) {
  MAILPIPE_SCRATCH_DATABASE(db);
  cli c{db.url()};
  auto bad_csv = write_file("bad.csv", "email,provider,host,port,password_env\n"
                                       "a@mailpipe.test,imap,h,993,PW1\n"
                                       "\n"
                                       "b@mailpipe.test,imap,h,99999,PW1\n");
  auto r = c.run({"account", "import", bad_csv}, {"PW1=one"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("line 4"), std::string::npos) << r.err;
  // A duplicate found by the database also leaves nothing behind.
  auto dup_csv = write_file("dup.csv", "email,host,password_env\n"
                                       "a@mailpipe.test,h,PW1\n"
                                       "a@mailpipe.test,h,PW1\n");
  r = c.run({"account", "import", dup_csv}, {"PW1=one"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("line 3: an account for a@mailpipe.test already exists"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(c.scalar("SELECT count(*) FROM email_accounts"), 0);
  auto good = write_file("good.toml", "[[account]]\n"
                                      "email = \"a@mailpipe.test\"\n"
                                      "host = \"127.0.0.1\"\n"
                                      "port = 143\n"
                                      "tls = \"none\"\n"
                                      "password_env = \"PW1\"\n"
                                      "[[account]]\n"
                                      "email = \"o@outlook.test\"\n"
                                      "provider = \"outlook\"\n"
                                      "oauth_refresh_token_env = \"PW1\"\n");
  r = c.run({"account", "import", good}, {"PW1=one"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("imported 2 accounts"), std::string::npos);
  EXPECT_EQ(
      c.scalar(
          "SELECT count(*) FROM email_accounts WHERE (imap_security = 'plain' "
          "AND imap_port = 143) OR (provider = 'outlook' AND auth_method = "
          "'oauth2' AND imap_host IS NULL)"),
      2);
}

TEST(db_commands, test_add_and_show_report_results_and_rates) {
  MAILPIPE_SCRATCH_DATABASE(db);
  cli c{db.url()};
  std::vector<int64_t> ids;
  for (auto e : {"a@m.test", "b@m.test", "c@m.test", "d@m.test"})
    ids.push_back(c.add(e));
  auto add = c.run({"test", "add", "--token", "tok-1", "--expires-in", "2h"});
  ASSERT_EQ(add.status, 0) << add.err;
  EXPECT_NE(add.out.find("for 4 accounts"), std::string::npos);
  EXPECT_EQ(c.run({"test", "add", "--token", "tok-1"}).status, 1);
  auto partial = c.run({"test", "add", "--token", "tok-2", "--account",
                        std::to_string(ids[0]), "--account", "999"});
  EXPECT_EQ(partial.status, 1);
  EXPECT_NE(partial.err.find("no active account 999"), std::string::npos);
  EXPECT_EQ(c.scalar("SELECT count(*) FROM tests"), 1);
  EXPECT_EQ(
      c.run({"test", "add", "--token", "tok-3", "--expires-in", "soon"}).status,
      2);
  auto test_id =
      c.scalar("SELECT id FROM tests WHERE test_id = 'tok-1' AND expires_at > "
               "now() + interval '119 minutes'");

  db::found_result inbox;
  inbox.placement = "inbox";
  inbox.folder = "INBOX";
  inbox.analysis_json =
      R"({"auth": {"spf": {"result": "pass"}}, "filters": [{"name": "x"}]})";
  db::found_result spam;
  spam.placement = "spam";
  spam.folder = "Junk";
  spam.labels = {"\\Junk"};
  spam.spf_result = "fail";
  db::found_result promo;
  promo.placement = "promotions";
  ASSERT_TRUE(db::record_found(*c.conn, "00000000-0000-4000-8000-000000000001",
                               test_id, ids[0], inbox));
  ASSERT_TRUE(db::record_found(*c.conn, "00000000-0000-4000-8000-000000000001",
                               test_id, ids[1], spam));
  ASSERT_TRUE(db::record_found(*c.conn, "00000000-0000-4000-8000-000000000001",
                               test_id, ids[2], promo));

  auto show = c.run({"test", "show", "tok-1", "--json"});
  ASSERT_EQ(show.status, 0) << show.err;
  auto& j = show.out;
  EXPECT_NE(j.find("\"token\":\"tok-1\""), std::string::npos) << j;
  EXPECT_NE(j.find("\"status\":\"pending\""), std::string::npos);
  EXPECT_NE(
      j.find("\"rates\":{\"inbox\":0.2500,\"spam\":0.2500,\"tabs\":0.2500,"
             "\"missing\":0.0000}"),
      std::string::npos)
      << j;
  EXPECT_NE(
      j.find(
          "\"email\":\"a@m.test\",\"provider\":\"imap\",\"status\":\"found\","
          "\"placement\":\"inbox\",\"folder\":\"INBOX\",\"labels\":[],"
          "\"auth\":{\"spf\": {\"result\": \"pass\"}},"
          "\"filters\":[{\"name\": \"x\"}]"),
      std::string::npos)
      << j;
  EXPECT_NE(
      j.find(
          "\"placement\":\"spam\",\"folder\":\"Junk\",\"labels\":[\"\\\\Junk\"]"
          ","
          "\"auth\":{\"arc\": {\"result\": null}, \"spf\": {\"domain\": null, "
          "\"result\": \"fail\"}"),
      std::string::npos)
      << j;
  EXPECT_NE(
      j.find(
          "\"email\":\"d@m.test\",\"provider\":\"imap\",\"status\":\"pending\","
          "\"placement\":null"),
      std::string::npos)
      << j;

  // Expiry turns the pending account missing; the rates follow.
  pqxx::nontransaction{*c.conn}.exec(
      "UPDATE tests SET expires_at = now() - interval '1s'");
  ASSERT_TRUE(db::expire_tests(*c.conn));
  show = c.run({"test", "show", "tok-1", "--json"});
  EXPECT_NE(show.out.find("\"status\":\"expired\""), std::string::npos);
  EXPECT_NE(show.out.find("\"missing\":0.2500"), std::string::npos) << show.out;
  auto table = c.run({"test", "show", "tok-1"});
  EXPECT_NE(
      table.out.find("inbox 25.0%  spam 25.0%  tabs 25.0%  missing 25.0%"),
      std::string::npos)
      << table.out;
  auto list = c.run({"test", "list", "--json"});
  EXPECT_NE(
      list.out.find(
          "\"counts\":{\"pending\":0,\"found\":3,\"missing\":1,\"error\":0,"
          "\"total\":4}"),
      std::string::npos)
      << list.out;
  EXPECT_EQ(c.run({"test", "show", "nope"}).status, 1);
}

TEST(db_commands, metrics_clean_deletes_rows_older_than_the_given_days) {
  MAILPIPE_SCRATCH_DATABASE(db);
  cli c{db.url()};
  auto now = std::chrono::system_clock::now();
  ASSERT_TRUE(
      db::insert_metrics(*c.conn, {{"00000000-0000-4000-8000-000000000001", 0,
                                    "n", now, 1, 0, 0, "success"},
                                   {"00000000-0000-4000-8000-000000000001", 0,
                                    "n", now, 1, 0, 0, "success"}}));
  pqxx::nontransaction{*c.conn}.exec(
      "UPDATE email_processing_metrics SET created_at = now() - interval '10 "
      "days' "
      "WHERE id = (SELECT min(id) FROM email_processing_metrics)");
  auto r = c.run({"metrics", "clean", "--days", "7"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("deleted 1 metrics row older than 7 days"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(c.scalar("SELECT count(*) FROM email_processing_metrics"), 1);
  EXPECT_EQ(c.run({"metrics", "clean", "--days", "-1"}).status, 2);
}
