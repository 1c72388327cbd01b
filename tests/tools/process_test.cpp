// `mailpipe process` end to end through the built binary: the real PostgreSQL
// (a scratch database) and the real Dovecot of the harness, seed accounts added
// with `account import`, tests with `test add`, and the report read back with
// `test show --json`.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <pqxx/pqxx>
#include <simdjson.h>

#include "adapters/db/connection.hpp"
#include "adapters/db/migrate.hpp"
#include "tests/support/child.hpp"
#include "tests/support/dovecot.hpp"
#include "tests/support/env.hpp"
#include "tests/support/fault_proxy.hpp"
#include "tests/support/http_stub.hpp"

using namespace mailpipe;
using namespace std::chrono_literals;

namespace {

// A base64 256-bit key (32 bytes of 'k').
const std::string key_b64 = "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s=";

// -- fixture ------------------------------------------------------------------

/// A scratch database, a config file and the seed accounts of one test.
class process_e2e : public ::testing::Test {
protected:
  void SetUp() override {
    ASSERT_FALSE(db_.url().empty())
        << "no PostgreSQL: run the tests with tools/test";
    ASSERT_TRUE(imap_.ok());
    conn_ = std::move(*db::connect(db_.url()));
    ASSERT_TRUE(db::migrate(*conn_));
    dir_ = fmt::format("{}/process-{}-{}", testing::TempDir(), getpid(),
                       test::random_hex(6));
    std::filesystem::create_directories(dir_);
    write_config("");
  }

  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  /// Writes the config: plain IMAP on loopback, a one-second retry time, logs
  /// in dir_.
  void write_config(const std::string& extra,
                    const std::string& retry_after = "1s") {
    std::ofstream{dir_ + "/mailpipe.toml"} << fmt::format(
        "[node]\nname = \"e2e\"\n[imap]\nallow_plaintext = true\n"
        "[processing]\nretry_after = \"{}\"\nmax_failures = 3\n"
        "[log]\ndir = \"{}/logs\"\n{}",
        retry_after, dir_, extra);
  }

  test::run_result mailpipe(std::vector<std::string> args,
                            std::vector<std::string> env = {}) {
    args.insert(args.begin(),
                {test::mailpipe_binary(), "--config", dir_ + "/mailpipe.toml"});
    env.push_back("MAILPIPE_DATABASE_URL=" + db_.url());
    env.push_back("MAILPIPE_SECRET_KEY=" + key_b64);
    return test::run_process(args, env);
  }

  int64_t scalar(const std::string& sql) {
    pqxx::nontransaction tx{*conn_};
    return tx.exec1(sql)[0].as<int64_t>();
  }

  /// Imports `users` as IMAP accounts on the harness's Dovecot (`port` 0:
  /// Dovecot's); returns their ids in order.
  std::vector<int64_t> import(const std::vector<test::seed_user>& users,
                              uint16_t port = 0) {
    std::string csv = "email,provider,host,port,tls,username,password_env,"
                      "oauth_refresh_token_env\n";
    std::vector<std::string> env;
    for (size_t i = 0; i < users.size(); ++i) {
      csv += fmt::format("{},imap,127.0.0.1,{},none,,SEED_PW_{},\n",
                         users[i].email, port ? port : imap_.port(), i);
      env.push_back(fmt::format("SEED_PW_{}={}", i, users[i].password));
    }
    std::ofstream{dir_ + "/accounts.csv"} << csv;
    auto r = mailpipe({"account", "import", dir_ + "/accounts.csv"}, env);
    EXPECT_EQ(r.status, 0) << r.err;
    std::vector<int64_t> ids;
    for (auto& u : users)
      ids.push_back(scalar(fmt::format(
          "SELECT id FROM email_accounts WHERE email = '{}'", u.email)));
    return ids;
  }

  /// Adds a test for every active account; returns its token.
  std::string add_test() {
    auto token = "mp-e2e" + test::random_hex(16);
    auto r = mailpipe({"test", "add", "--token", token});
    EXPECT_EQ(r.status, 0) << r.err;
    return token;
  }

  /// Runs `process --json` with `args`; parses the report into `doc`.
  simdjson::dom::element process(simdjson::dom::parser& parser,
                                 std::vector<std::string> args = {}) {
    args.insert(args.begin(), {"process", "--json"});
    auto r = mailpipe(args);
    EXPECT_EQ(r.status, 0) << r.err;
    auto doc = parser.parse(r.out);
    EXPECT_FALSE(doc.error()) << r.out << r.err;
    return doc.value_unsafe();
  }

  int64_t count_in_log(const std::string& needle) {
    int64_t n = 0;
    for (auto& entry : std::filesystem::directory_iterator{dir_ + "/logs"}) {
      if (entry.path().filename().string().rfind("email-processing", 0) != 0)
        continue;
      std::ifstream in{entry.path()};
      for (std::string line; std::getline(in, line);)
        n += line.find(needle) != std::string::npos ? 1 : 0;
    }
    return n;
  }

  test::scratch_database db_;
  test::dovecot imap_;
  std::unique_ptr<pqxx::connection> conn_;
  std::string dir_;
};

int64_t num(simdjson::dom::element doc, const char* key) {
  return doc[key].get_int64().value_unsafe();
}

double rate(simdjson::dom::element doc, const char* key) {
  return doc["rates"][key].get_double().value_unsafe();
}

/// A TCP server on 127.0.0.1 that accepts connections and never says a word.
class silent_server {
public:
  silent_server() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 16);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~silent_server() { ::close(fd_); }
  uint16_t port() const { return port_; }

private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

} // namespace

// -- placement, reruns, expiry ------------------------------------------------

TEST_F(process_e2e,
       fifty_accounts_inbox_junk_missing_and_a_rerun_records_nothing_twice) {
  auto users = imap_.add_users(50);
  ASSERT_EQ(users.size(), 50u);
  import(users);
  auto token = add_test();
  const char* samples[] = {"gmx_inbox.eml", "outlookcom_inbox.eml",
                           "rspamd_add_header.eml", "spamassassin_spam.eml",
                           "proofpoint_o365.eml"};
  for (size_t i = 0; i < 40; ++i)
    ASSERT_TRUE(imap_.deliver(users[i], i < 20 ? "INBOX" : "Junk",
                              test::sample_message(token, samples[i % 5])));
  simdjson::dom::parser p1;
  auto first = process(p1, {"--parallel", "8"});
  EXPECT_EQ(num(first, "done"), 50);
  EXPECT_EQ(num(first, "failed"), 0);
  EXPECT_EQ(num(first, "emails_found"), 40);
  EXPECT_EQ(num(first, "recorded"), 40);
  EXPECT_EQ(scalar("SELECT count(*) FROM test_results WHERE status = 'found' "
                   "AND placement = 'inbox' AND folder = 'INBOX'"),
            20);
  EXPECT_EQ(scalar("SELECT count(*) FROM test_results WHERE status = 'found' "
                   "AND placement = 'spam' AND folder = 'Junk'"),
            20);
  EXPECT_EQ(
      scalar("SELECT count(*) FROM test_results WHERE filters <> '[]'::jsonb"),
      40);
  EXPECT_EQ(scalar("SELECT count(*) FROM email_processing_metrics WHERE status "
                   "= 'success' "
                   "AND node = 'e2e'"),
            50);
  EXPECT_EQ(
      scalar(
          "SELECT count(*) FROM email_accounts WHERE lease_owner IS NOT NULL"),
      0);
  EXPECT_EQ(count_in_log("outcome=success"), 50);
  // Each account keeps what its session learned of the server, for the next
  // process to make a one-round-trip pass.
  EXPECT_EQ(scalar("SELECT count(*) FROM email_accounts WHERE "
                   "sync_state->'imap_hints'->>'junk' = 'Junk' AND "
                   "sync_state->'imap_hints'->>'capabilities' LIKE '%IMAP4%'"),
            50);

  // The ten without a message stay pending and are visited again; nothing is
  // recorded twice.
  simdjson::dom::parser p2;
  auto second = process(p2);
  EXPECT_EQ(num(second, "done"), 10);
  EXPECT_EQ(num(second, "recorded"), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM test_results WHERE status = 'found'"),
            40);
  EXPECT_EQ(scalar("SELECT count(*) FROM email_processing_metrics"), 60);

  // Expired: the ten become missing and the test is over.
  scalar("WITH u AS (UPDATE tests SET expires_at = now() - interval '1 minute' "
         "RETURNING 1) SELECT count(*) FROM u");
  simdjson::dom::parser p3;
  auto third = process(p3);
  EXPECT_EQ(num(third, "tests_expired"), 1);
  auto show = mailpipe({"test", "show", token, "--json"});
  ASSERT_EQ(show.status, 0) << show.err;
  simdjson::dom::parser p4;
  auto report = p4.parse(show.out).value_unsafe();
  EXPECT_EQ(std::string{report["status"].get_string().value_unsafe()},
            "expired");
  EXPECT_DOUBLE_EQ(rate(report, "inbox"), 0.4);
  EXPECT_DOUBLE_EQ(rate(report, "spam"), 0.4);
  EXPECT_DOUBLE_EQ(rate(report, "missing"), 0.2);
  EXPECT_EQ(report["results"].get_array().value_unsafe().size(), 50u);
}

// -- failures -----------------------------------------------------------------

TEST_F(process_e2e,
       a_wrong_password_fails_once_per_run_waits_and_is_disabled_at_the_third) {
  // Runs take only the failing account: Dovecot's penalty for a wrong password
  // also slows the next logins from this address, so a healthy account beside
  // it could end its run after the retry time. Two seconds of retry time leave
  // a loaded machine room between two runs.
  write_config("", "2s");
  auto users = imap_.add_users(2);
  users[1].password = "not-the-password";
  auto ids = import(users);
  auto only_failing =
      std::vector<std::string>{"--account", std::to_string(ids[1])};
  auto token = add_test();
  auto failures = [&] {
    return scalar(fmt::format(
        "SELECT COALESCE(max(failure_count), 0) FROM email_account_failures "
        "WHERE email_account_id = {}",
        ids[1]));
  };
  simdjson::dom::parser p;
  auto first = process(p, only_failing);
  EXPECT_EQ(num(first, "failed"), 1);
  EXPECT_EQ(failures(), 1);
  // The report shows the failing account as an error, with its class.
  auto show = mailpipe({"test", "show", token, "--json"});
  EXPECT_NE(show.out.find("\"status\":\"error\""), std::string::npos)
      << show.out;
  EXPECT_NE(show.out.find("\"error\":\"auth\""), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("\"error\":1"), std::string::npos) << show.out;
  // Inside its retry time it is skipped, not tried.
  auto again = process(p, only_failing);
  EXPECT_EQ(num(again, "failed"), 0);
  EXPECT_EQ(num(again, "skipped"), 1);
  EXPECT_EQ(failures(), 1);
  for (int expected = 2; expected <= 3; ++expected) {
    std::this_thread::sleep_for(2100ms); // processing.retry_after
    auto run = process(p, only_failing);
    EXPECT_EQ(num(run, "failed"), 1);
    EXPECT_EQ(failures(), expected);
  }
  EXPECT_EQ(
      scalar(fmt::format(
          "SELECT count(*) FROM email_accounts WHERE id = {} AND NOT "
          "active AND disabled_reason LIKE '3 consecutive failures%auth%'",
          ids[1])),
      1);
  EXPECT_EQ(scalar("SELECT count(*) FROM email_processing_metrics WHERE status "
                   "= 'failure' "
                   "AND error_class = 'auth'"),
            3);
  // Disabled: no longer claimed, however long one waits.
  std::this_thread::sleep_for(2100ms);
  auto after = process(p, only_failing);
  EXPECT_EQ(num(after, "failed"), 0);
  EXPECT_EQ(count_in_log("disabled"), 1);
  for (auto& run : {mailpipe({"account", "show", std::to_string(ids[1])})})
    EXPECT_EQ(run.out.find("not-the-password"), std::string::npos);
}

TEST_F(process_e2e,
       a_disabled_account_is_one_critical_alert_on_discord_after_its_429) {
  test::http_stub discord;
  const std::string hook = "/api/webhooks/42/t0ken";
  discord.script(
      "POST", hook,
      {test::stub_reply::json(429, R"({"message": "You are being rate )"
                                   R"(limited.", "retry_after": 0.3, )"
                                   R"("global": false})")
           .with_header("X-RateLimit-Remaining", "0")
           .with_header("X-RateLimit-Reset-After", "0.3"),
       test::stub_reply::json(204, "")});
  write_config(fmt::format("[alerts]\ndiscord_webhook_url = \"{}{}\"\n",
                           discord.url(), hook));
  auto users = imap_.add_users(1);
  users[0].password = "not-the-password";
  import(users);
  add_test();
  simdjson::dom::parser p;
  for (int run = 1; run <= 3; ++run) {
    if (run > 1)
      std::this_thread::sleep_for(1100ms); // processing.retry_after = 1s
    EXPECT_EQ(num(process(p), "failed"), 1);
    // One error per run stays under the window's threshold: no alert until
    // the third failure disables the account.
    if (run < 3) {
      EXPECT_EQ(discord.count(hook), 0u);
    }
  }
  // `process` waited for its alert: refused once with a 429, then delivered.
  auto posts = discord.requests(hook);
  ASSERT_EQ(posts.size(), 2u);
  EXPECT_NE(posts[1].body.find("disabled"), std::string::npos) << posts[1].body;
  EXPECT_NE(posts[1].body.find(users[0].email), std::string::npos);
  EXPECT_EQ(posts[1].body.find("not-the-password"), std::string::npos);
  EXPECT_EQ(scalar("SELECT count(*) FROM alerts WHERE severity = 'critical' "
                   "AND state = 'delivered' AND delivery_attempts = 2"),
            1);
  EXPECT_EQ(scalar("SELECT count(*) FROM alerts"), 1);
}

TEST_F(process_e2e,
       a_server_that_never_answers_costs_one_timeout_not_a_stuck_run) {
  silent_server silent;
  auto users = imap_.add_users(2);
  import({users[0]});
  import({users[1]}, silent.port());
  add_test();
  simdjson::dom::parser p;
  auto start = std::chrono::steady_clock::now();
  // Long enough for the healthy account on a busy CI machine; the silent one
  // still waits the whole of it.
  auto run = process(p, {"--timeout", "8"});
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(num(run, "done"), 1);
  EXPECT_EQ(num(run, "failed"), 1);
  EXPECT_LT(took, 30s);
  EXPECT_EQ(
      scalar(
          "SELECT count(*) FROM email_account_failures WHERE failure_class = "
          "'timeout'"),
      1);
}

TEST_F(process_e2e,
       a_stop_signal_lets_the_pass_in_flight_end_and_releases_the_leases) {
  silent_server silent;
  auto users = imap_.add_users(3);
  import(users, silent.port());
  add_test();
  test::child_process run{
      {test::mailpipe_binary(), "--config", dir_ + "/mailpipe.toml", "process",
       "--parallel", "1", "--timeout", "3"},
      {"MAILPIPE_DATABASE_URL=" + db_.url(), "MAILPIPE_SECRET_KEY=" + key_b64},
      "process-stop"};
  // All three are claimed; the first is in flight, held by the silent server.
  ASSERT_TRUE(test::eventually(db_.url(),
                               "SELECT count(*) = 3 FROM email_accounts WHERE "
                               "lease_owner IS NOT NULL",
                               10s))
      << run.output();
  run.signal(SIGINT);
  EXPECT_EQ(run.wait_exit(20s), 130) << run.output();
  EXPECT_NE(run.output().find("received SIGINT"), std::string::npos)
      << run.output();
  // The pass in flight ended (cut at its time limit) and was recorded; the two
  // accounts it never reached were not; no lease is left behind.
  EXPECT_EQ(scalar("SELECT count(*) FROM email_accounts WHERE lease_owner IS "
                   "NOT NULL"),
            0);
  EXPECT_EQ(scalar("SELECT count(*) FROM email_account_failures"), 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM email_processing_metrics"), 1);
}

// -- concurrency and dry runs -------------------------------------------------

TEST_F(process_e2e,
       two_process_started_at_once_share_the_accounts_without_overlap) {
  auto users = imap_.add_users(20);
  import(users);
  auto token = add_test();
  for (auto& u : users)
    ASSERT_TRUE(imap_.deliver(u, "INBOX",
                              test::sample_message(token, "gmx_inbox.eml")));
  test::run_result a, b;
  std::thread ta{[&] {
    a = mailpipe({"process", "--json", "--parallel", "2"});
  }};
  std::thread tb{[&] {
    b = mailpipe({"process", "--json", "--parallel", "2"});
  }};
  ta.join();
  tb.join();
  ASSERT_EQ(a.status, 0) << a.err;
  ASSERT_EQ(b.status, 0) << b.err;
  simdjson::dom::parser pa, pb;
  auto ra = pa.parse(a.out).value_unsafe();
  auto rb = pb.parse(b.out).value_unsafe();
  EXPECT_EQ(num(ra, "done") + num(rb, "done"), 20) << a.out << "\n" << b.out;
  EXPECT_EQ(num(ra, "recorded") + num(rb, "recorded"), 20);
  // Each account was visited by exactly one of the runs.
  EXPECT_EQ(scalar("SELECT count(DISTINCT email_account_id) FROM "
                   "email_processing_metrics"),
            20);
  EXPECT_EQ(scalar("SELECT count(*) FROM email_processing_metrics"), 20);
  EXPECT_EQ(scalar("SELECT count(*) FROM test_results WHERE status = 'found'"),
            20);
}

TEST_F(process_e2e, a_dry_run_searches_and_prints_but_writes_nothing) {
  auto users = imap_.add_users(3);
  users[2].password = "wrong";
  import(users);
  auto token = add_test();
  ASSERT_TRUE(imap_.deliver(users[0], "Junk",
                            test::sample_message(token, "icloud_junk.eml")));
  auto r = mailpipe({"process", "--dry-run"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("would record " + token + " in spam (folder Junk)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("dry run, nothing written"), std::string::npos);
  EXPECT_EQ(
      scalar("SELECT count(*) FROM test_results WHERE status <> 'pending'"), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM email_processing_metrics"), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM email_account_failures"), 0);
  EXPECT_EQ(
      scalar(
          "SELECT count(*) FROM email_accounts WHERE lease_owner IS NOT NULL "
          "OR last_processed_at IS NOT NULL"),
      0);
}

TEST_F(process_e2e, a_dead_database_is_exit_1_and_a_bad_option_exit_2) {
  // The run cannot start: a critical alert reaches Discord all the same (its
  // row cannot be written; process says so after waiting for it).
  test::http_stub discord;
  const std::string hook = "/api/webhooks/7/t0ken";
  discord.script("POST", hook, {test::stub_reply::json(204, "")});
  write_config(fmt::format("[alerts]\ndiscord_webhook_url = \"{}{}\"\n",
                           discord.url(), hook));
  auto down = test::run_process(
      {test::mailpipe_binary(), "--config", dir_ + "/mailpipe.toml", "process"},
      {"MAILPIPE_DATABASE_URL=postgresql://nobody@127.0.0.1:1/none",
       "MAILPIPE_SECRET_KEY=" + key_b64});
  EXPECT_EQ(down.status, 1);
  EXPECT_NE(down.err.find("process: database_unavailable"), std::string::npos)
      << down.err;
  auto posts = discord.requests(hook);
  ASSERT_EQ(posts.size(), 1u) << down.err;
  EXPECT_NE(posts[0].body.find("database unreachable"), std::string::npos)
      << posts[0].body;
  EXPECT_EQ(mailpipe({"process", "--parallel", "0"}).status, 2);
  auto nokey = test::run_process(
      {test::mailpipe_binary(), "--config", dir_ + "/mailpipe.toml", "process"},
      {"MAILPIPE_DATABASE_URL=" + db_.url()});
  EXPECT_EQ(nokey.status, 2);
  EXPECT_NE(nokey.err.find("crypto.key_file"), std::string::npos) << nokey.err;
}

// -- the node -----------------------------------------------------------------

TEST_F(process_e2e,
       a_node_runs_the_pipeline_on_its_interval_and_stops_in_order) {
  std::ofstream{dir_ + "/mailpipe.toml"} << fmt::format(
      "[node]\nname = \"e2e-node\"\nheartbeat_interval = \"200ms\"\n"
      "[http]\nlisten = \"\"\n"
      "[imap]\nallow_plaintext = true\n[processing]\ninterval = \"1s\"\n"
      "[log]\ndir = \"{}/logs\"\n",
      dir_);
  auto users = imap_.add_users(4);
  import(users);
  auto token = add_test();
  test::child_process node{
      {test::mailpipe_binary(), "--config", dir_ + "/mailpipe.toml", "run"},
      {"MAILPIPE_DATABASE_URL=" + db_.url(), "MAILPIPE_SECRET_KEY=" + key_b64},
      "e2e-node"};
  // A message that arrives while the node runs is found at a following tick.
  ASSERT_TRUE(imap_.deliver(users[0], "Junk",
                            test::sample_message(token, "yahoo_bulk.eml")));
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (scalar("SELECT count(*) FROM test_results WHERE status = 'found'") == 0
         && std::chrono::steady_clock::now() < deadline && node.running())
    std::this_thread::sleep_for(100ms);
  EXPECT_EQ(scalar("SELECT count(*) FROM test_results WHERE status = 'found' "
                   "AND placement = 'spam'"),
            1)
      << node.output();
  // The run writes its metrics rows when its last account is done, after the
  // results.
  EXPECT_TRUE(test::eventually(db_.url(),
                               "SELECT count(DISTINCT run_id) >= 1 FROM "
                               "email_processing_metrics WHERE node = "
                               "'e2e-node'",
                               10s))
      << node.output();
  node.signal(SIGTERM);
  EXPECT_EQ(node.wait_exit(15s), 0) << node.output();
  EXPECT_EQ(
      scalar(
          "SELECT count(*) FROM email_accounts WHERE lease_owner IS NOT NULL"),
      0);
  EXPECT_NE(node.output().find("stopped cleanly"), std::string::npos)
      << node.output();
}

TEST_F(process_e2e, a_fetch_emails_job_is_a_pass_of_its_account_at_once) {
  // The node's own run comes once at its start, then in an hour: only the
  // job can make the second pass.
  std::ofstream{dir_ + "/mailpipe.toml"} << fmt::format(
      "[node]\nname = \"e2e-fetch\"\n[http]\nlisten = \"\"\n"
      "[imap]\nallow_plaintext = true\n[processing]\ninterval = \"1h\"\n"
      "[jobs]\nworkers = 1\npoll_interval = \"1h\"\n"
      "[log]\ndir = \"{}/logs\"\n",
      dir_);
  auto users = imap_.add_users(2);
  auto ids = import(users);
  auto token = add_test();
  test::child_process node{
      {test::mailpipe_binary(), "--config", dir_ + "/mailpipe.toml", "run"},
      {"MAILPIPE_DATABASE_URL=" + db_.url(), "MAILPIPE_SECRET_KEY=" + key_b64},
      "e2e-fetch"};
  ASSERT_TRUE(test::eventually(db_.url(),
                               "SELECT count(*) = 2 FROM "
                               "email_processing_metrics",
                               20s))
      << node.output();
  ASSERT_TRUE(imap_.deliver(users[0], "INBOX",
                            test::sample_message(token, "gmx_inbox.eml")));
  auto job =
      mailpipe({"jobs", "enqueue", "fetch_emails", "--id", "push-1",
                "--payload", fmt::format(R"({{"account_id":{}}})", ids[0])});
  ASSERT_EQ(job.status, 0) << job.err;
  auto bad = mailpipe({"jobs", "enqueue", "fetch_emails", "--id", "push-bad",
                       "--payload", R"({"account":"x"})"});
  ASSERT_EQ(bad.status, 0) << bad.err;
  EXPECT_TRUE(test::eventually(db_.url(),
                               "SELECT state = 'succeeded' AND "
                               "(result->>'emails_found')::int = 1 AND "
                               "(result->>'done')::int = 1 FROM jobs WHERE "
                               "id = 'push-1'",
                               20s))
      << node.output();
  EXPECT_EQ(scalar(fmt::format("SELECT count(*) FROM test_results WHERE "
                               "status = 'found' AND placement = 'inbox' AND "
                               "email_account_id = {}",
                               ids[0])),
            1);
  // A pass of that account only: its second metrics row, none for the other.
  EXPECT_EQ(scalar(fmt::format("SELECT count(*) FROM email_processing_metrics "
                               "WHERE email_account_id = {}",
                               ids[0])),
            2);
  EXPECT_EQ(scalar(fmt::format("SELECT count(*) FROM email_processing_metrics "
                               "WHERE email_account_id = {}",
                               ids[1])),
            1);
  EXPECT_TRUE(test::eventually(db_.url(),
                               "SELECT state = 'dead' AND attempts = 1 AND "
                               "last_error LIKE '%account_id%' FROM jobs "
                               "WHERE id = 'push-bad'",
                               10s));
  node.signal(SIGTERM);
  EXPECT_EQ(node.wait_exit(15s), 0) << node.output();
}

TEST_F(process_e2e,
       a_push_account_is_watched_with_idle_and_new_mail_is_a_pass) {
  // The node's own run comes once at its start, then in an hour: only the
  // IDLE watch can make the second pass of the push accounts.
  std::ofstream{dir_ + "/mailpipe.toml"}
      << fmt::format("[node]\nname = \"e2e-push\"\n[http]\nlisten = \"\"\n"
                     "[imap]\nallow_plaintext = true\nidle_interval = \"1s\"\n"
                     "[processing]\ninterval = \"1h\"\n"
                     "[jobs]\nworkers = 1\npoll_interval = \"1h\"\n"
                     "[log]\ndir = \"{}/logs\"\n",
                     dir_);
  auto users = imap_.add_users(3);
  auto ids = import(users);
  auto token = add_test();
  for (int i : {0, 1}) {
    auto on = mailpipe({"account", "push", std::to_string(ids[i]), "on"});
    ASSERT_EQ(on.status, 0) << on.err;
    EXPECT_EQ(on.out, fmt::format("account {}: push on\n", ids[i]));
  }
  auto missing = mailpipe({"account", "push", "999999", "on"});
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.err.find("no account with id 999999"), std::string::npos)
      << missing.err;
  test::child_process node{
      {test::mailpipe_binary(), "--config", dir_ + "/mailpipe.toml", "run"},
      {"MAILPIPE_DATABASE_URL=" + db_.url(), "MAILPIPE_SECRET_KEY=" + key_b64},
      "e2e-push"};
  // Every account had its first pass (the watchers' first reports may add
  // more passes of the push accounts at once, so count accounts, not rows).
  ASSERT_TRUE(test::eventually(db_.url(),
                               "SELECT count(DISTINCT email_account_id) = 3 "
                               "FROM email_processing_metrics",
                               20s))
      << node.output();
  ASSERT_TRUE(test::eventually(db_.url(),
                               "SELECT count(*) = 2 FROM push_watches WHERE "
                               "owner = 'e2e-push/push' AND until > now()",
                               20s))
      << node.output();
  auto shown = mailpipe({"account", "show", std::to_string(ids[0]), "--json"});
  EXPECT_NE(shown.out.find(R"("push":true,"push_watched_by":"e2e-push/push")"),
            std::string::npos)
      << shown.out;
  // A watcher's first look reports what is there (mail may have come while
  // no node watched); wait for both, so that the next reports are the new
  // mail's.
  auto looked = [&] {
    auto out = node.output();
    return out.find(fmt::format("account {}: idle on INBOX", ids[0]))
               != std::string::npos
           && out.find(fmt::format("account {}: idle on INBOX", ids[1]))
                  != std::string::npos;
  };
  for (int i = 0; i < 200 && !looked(); ++i)
    std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(looked()) << node.output();
  auto delivered_at = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  ASSERT_TRUE(imap_.deliver(users[0], "INBOX",
                            test::sample_message(token, "gmx_inbox.eml")));
  ASSERT_TRUE(imap_.deliver(users[1], "Junk",
                            test::sample_message(token, "gmx_inbox.eml")));
  ASSERT_TRUE(imap_.deliver(users[2], "INBOX",
                            test::sample_message(token, "gmx_inbox.eml")));
  EXPECT_TRUE(test::eventually(
      db_.url(),
      fmt::format("SELECT count(*) = 2 FROM test_results WHERE status = "
                  "'found' AND ((email_account_id = {} AND placement = "
                  "'inbox') OR (email_account_id = {} AND placement = 'spam'))",
                  ids[0], ids[1]),
      20s))
      << node.output();
  // Found by the jobs the watch added for the new mail (each ends after its
  // pass and scan).
  EXPECT_TRUE(test::eventually(
      db_.url(),
      fmt::format("SELECT count(DISTINCT payload->>'account_id') = 2 FROM jobs "
                  "WHERE queue = 'fetch_emails' AND payload->>'trigger' = "
                  "'imap_idle' AND state = 'succeeded' AND "
                  "(payload->>'account_id')::bigint IN ({}, {}) AND "
                  "(payload->>'seen_at')::bigint > {}",
                  ids[0], ids[1], delivered_at),
      20s));
  // The account without push waits for the next tick.
  EXPECT_EQ(scalar(fmt::format("SELECT count(*) FROM test_results WHERE "
                               "status = 'pending' AND email_account_id = {}",
                               ids[2])),
            1);
  node.signal(SIGTERM);
  EXPECT_EQ(node.wait_exit(15s), 0) << node.output();
  // The watches are given back.
  EXPECT_EQ(scalar("SELECT count(*) FROM push_watches"), 0);
}

// A list message as a newsletter sender writes it (`n` makes it unique).
std::string list_message(int n) {
  return fmt::format("Message-ID: <issue-{0}@letters.acme.test>\r\n"
                     "From: Acme Letters <letters@acme.test>\r\n"
                     "To: seed@mailpipe.test\r\n"
                     "Subject: Acme weekly #{0}\r\n"
                     "Date: Mon, 07 Dec 2026 08:00:00 +0000\r\n"
                     "List-Id: Acme weekly <weekly.acme.test>\r\n"
                     "List-Unsubscribe: <https://acme.test/u/{0}>\r\n"
                     "Content-Type: text/plain; charset=utf-8\r\n\r\n"
                     "This week at Acme: issue {0}.\r\n",
                     n);
}

TEST_F(process_e2e, a_fetch_emails_job_adds_the_accounts_new_newsletters) {
  std::ofstream{dir_ + "/mailpipe.toml"} << fmt::format(
      "[node]\nname = \"e2e-news\"\n[http]\nlisten = \"\"\n"
      "[imap]\nallow_plaintext = true\n[processing]\ninterval = \"1h\"\n"
      "[jobs]\nworkers = 1\npoll_interval = \"1h\"\n"
      "[log]\ndir = \"{}/logs\"\n",
      dir_);
  auto users = imap_.add_users(1);
  auto ids = import(users);
  // One list message before the first scan, and an ordinary message.
  ASSERT_TRUE(imap_.deliver(users[0], "INBOX", list_message(1)));
  ASSERT_TRUE(imap_.deliver(users[0], "INBOX",
                            test::sample_message("mp-other", "gmx_inbox.eml")));
  test::child_process node{
      {test::mailpipe_binary(), "--config", dir_ + "/mailpipe.toml", "run"},
      {"MAILPIPE_DATABASE_URL=" + db_.url(), "MAILPIPE_SECRET_KEY=" + key_b64},
      "e2e-news"};
  auto fetch = [&](const std::string& id) {
    auto job =
        mailpipe({"jobs", "enqueue", "fetch_emails", "--id", id, "--payload",
                  fmt::format(R"({{"account_id":{}}})", ids[0])});
    ASSERT_EQ(job.status, 0) << job.err;
    EXPECT_TRUE(test::eventually(
        db_.url(),
        fmt::format("SELECT state = 'succeeded' FROM jobs WHERE id = '{}'", id),
        20s))
        << node.output();
  };
  fetch("f-1");
  EXPECT_EQ(scalar("SELECT (result->>'newsletters')::int FROM jobs WHERE id = "
                   "'f-1'"),
            1);
  EXPECT_EQ(scalar(fmt::format(
                "SELECT count(*) FROM newsletters WHERE email_account_id = {} "
                "AND subject = 'Acme weekly #1' AND message_key = "
                "'issue-1@letters.acme.test' AND body_text LIKE '%issue 1.%'",
                ids[0])),
            1);
  // Its analysis is queued (no Mistral key here: the job waits).
  EXPECT_EQ(scalar("SELECT count(*) FROM jobs WHERE queue = 'process_mails' "
                   "AND state = 'queued'"),
            1);
  // A scan goes on from where the last one stopped.
  fetch("f-2");
  EXPECT_EQ(scalar("SELECT (result->>'newsletters')::int FROM jobs WHERE id = "
                   "'f-2'"),
            0);
  ASSERT_TRUE(imap_.deliver(users[0], "INBOX", list_message(2)));
  fetch("f-3");
  EXPECT_EQ(scalar("SELECT (result->>'newsletters')::int FROM jobs WHERE id = "
                   "'f-3'"),
            1);
  EXPECT_EQ(scalar("SELECT count(*) FROM newsletters"), 2);
  EXPECT_EQ(scalar("SELECT count(*) FROM jobs WHERE queue = 'process_mails'"),
            2);
  node.signal(SIGTERM);
  EXPECT_EQ(node.wait_exit(15s), 0) << node.output();
}

TEST_F(process_e2e, a_push_watch_reconnects_and_reports_what_came_meanwhile) {
  std::ofstream{dir_ + "/mailpipe.toml"}
      << fmt::format("[node]\nname = \"e2e-push2\"\n[http]\nlisten = \"\"\n"
                     "[imap]\nallow_plaintext = true\nidle_interval = \"1s\"\n"
                     "command_timeout = \"5s\"\nconnect_timeout = \"5s\"\n"
                     "[processing]\ninterval = \"1h\"\nretry_after = \"1s\"\n"
                     "[jobs]\nworkers = 1\npoll_interval = \"1h\"\n"
                     "[log]\ndir = \"{}/logs\"\n",
                     dir_);
  test::fault_proxy proxy{"127.0.0.1", imap_.port()};
  auto users = imap_.add_users(1);
  auto ids = import(users, proxy.port());
  auto token = add_test();
  ASSERT_EQ(mailpipe({"account", "push", std::to_string(ids[0]), "on"}).status,
            0);
  test::child_process node{
      {test::mailpipe_binary(), "--config", dir_ + "/mailpipe.toml", "run"},
      {"MAILPIPE_DATABASE_URL=" + db_.url(), "MAILPIPE_SECRET_KEY=" + key_b64},
      "e2e-push2"};
  auto logged = [&](const std::string& text) {
    for (int i = 0; i < 300; ++i) {
      if (node.output().find(text) != std::string::npos)
        return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  };
  ASSERT_TRUE(logged(fmt::format("account {}: idle on INBOX", ids[0])))
      << node.output();
  // The node's first run is over (it found nothing yet; a pass slowed down by
  // a busy machine may have failed: it is retried a second later). The
  // watcher's first report may have added a second pass already.
  ASSERT_TRUE(test::eventually(db_.url(),
                               "SELECT count(*) >= 1 FROM "
                               "email_processing_metrics",
                               20s))
      << node.output();
  // The server goes silent: the watcher's round times out and it reconnects.
  auto before = proxy.accepted();
  proxy.freeze();
  ASSERT_TRUE(logged(fmt::format("account {}: ", ids[0]) + "timeout"))
      << node.output();
  ASSERT_TRUE(imap_.deliver(users[0], "Junk",
                            test::sample_message(token, "gmx_inbox.eml")));
  proxy.resume();
  ASSERT_TRUE(logged(fmt::format("account {}: connected again", ids[0])))
      << node.output();
  EXPECT_GT(proxy.accepted(), before);
  EXPECT_TRUE(test::eventually(
      db_.url(),
      fmt::format("SELECT count(*) = 1 FROM test_results WHERE status = "
                  "'found' AND placement = 'spam' AND email_account_id = {}",
                  ids[0]),
      20s))
      << node.output();
  node.signal(SIGTERM);
  EXPECT_EQ(node.wait_exit(15s), 0) << node.output();
}

TEST_F(process_e2e, a_node_stops_at_once_while_its_watchers_idle) {
  // IDLE for ten minutes: only the interrupt lets the node stop in time.
  std::ofstream{dir_ + "/mailpipe.toml"}
      << fmt::format("[node]\nname = \"e2e-push3\"\nshutdown_grace = \"8s\"\n"
                     "[http]\nlisten = \"\"\n"
                     "[imap]\nallow_plaintext = true\nidle_interval = \"10m\"\n"
                     "[processing]\ninterval = \"1h\"\n[jobs]\nworkers = 1\n"
                     "[log]\ndir = \"{}/logs\"\n",
                     dir_);
  auto users = imap_.add_users(2);
  auto ids = import(users);
  for (auto id : ids)
    ASSERT_EQ(mailpipe({"account", "push", std::to_string(id), "on"}).status,
              0);
  test::child_process node{
      {test::mailpipe_binary(), "--config", dir_ + "/mailpipe.toml", "run"},
      {"MAILPIPE_DATABASE_URL=" + db_.url(), "MAILPIPE_SECRET_KEY=" + key_b64},
      "e2e-push3"};
  auto idling = [&] {
    auto out = node.output();
    return out.find(fmt::format("account {}: idle on INBOX", ids[0]))
               != std::string::npos
           && out.find(fmt::format("account {}: idle on INBOX", ids[1]))
                  != std::string::npos;
  };
  for (int i = 0; i < 200 && !idling(); ++i)
    std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(idling()) << node.output();
  EXPECT_EQ(scalar("SELECT count(*) FROM push_watches"), 2);
  node.signal(SIGTERM);
  // Well within the grace: the watchers did not wait for their IDLE to end.
  EXPECT_EQ(node.wait_exit(4s), 0) << node.output();
  EXPECT_EQ(node.output().find("still blocked"), std::string::npos)
      << node.output();
  EXPECT_EQ(scalar("SELECT count(*) FROM push_watches"), 0);
}
