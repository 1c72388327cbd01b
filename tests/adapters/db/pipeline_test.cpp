// The SQL of a processing run, on the real PostgreSQL: leases, results once per test and
// account, failures, expiry, metrics and alerts.

#include <algorithm>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "adapters/db/account_store.hpp"
#include "adapters/db/connection.hpp"
#include "adapters/db/migrate.hpp"
#include "adapters/db/pipeline.hpp"
#include "tests/support/env.hpp"

using namespace mailpipe;
using namespace std::chrono_literals;

namespace {

constexpr const char* run_a = "00000000-0000-4000-8000-00000000000a";
constexpr const char* run_b = "00000000-0000-4000-8000-00000000000b";

struct fixture {
  std::unique_ptr<pqxx::connection> conn;

  explicit fixture(const std::string& url) {
    auto c = db::connect(url);
    EXPECT_TRUE(c);
    conn = std::move(*c);
    EXPECT_TRUE(db::migrate(*conn));
  }

  int64_t scalar(const std::string& sql) {
    pqxx::nontransaction tx{*conn};
    return tx.exec1(sql)[0].as<int64_t>();
  }

  void exec(const std::string& sql) {
    pqxx::nontransaction tx{*conn};
    tx.exec(sql);
  }

  // `n` IMAP accounts; returns their ids.
  std::vector<int64_t> accounts(int n) {
    auto box = crypto::secret_box::from_key(std::string(crypto::key_size, 'k'));
    std::vector<int64_t> ids;
    for (int i = 0; i < n; ++i) {
      db::account_spec spec{fmt::format("seed{}@mailpipe.test", i),
                            provider::imap, "127.0.0.1", 993, "tls"};
      ids.push_back(db::add_account(*conn, spec, "pw", *box).value());
    }
    return ids;
  }

  // A pending test with a pending result for every account; returns tests.id.
  int64_t test(const std::string& token,
               const std::string& expires = "now() + interval '1 day'") {
    auto id = scalar(fmt::format("INSERT INTO tests (test_id, expires_at) "
                                 "VALUES ('{}', {}) RETURNING id",
                                 token, expires));
    exec(fmt::format("INSERT INTO test_results (test_id, email_account_id) "
                     "SELECT {}, id FROM email_accounts",
                     id));
    return id;
  }
};

db::claim_request request(const char* run, int64_t limit = 0) {
  db::claim_request req;
  req.holder = {"node-1", run};
  req.lease_for = 5min;
  req.limit = limit;
  return req;
}

std::set<int64_t> ids_of(const db::claim_result& r) {
  std::set<int64_t> out;
  for (auto& a : r.accounts)
    out.insert(a.id);
  return out;
}

} // namespace

TEST(pipeline, claim_returns_the_pending_tests_of_eligible_accounts_only) {
  MAILPIPE_SCRATCH_DATABASE(db);
  fixture f{db.url()};
  auto ids = f.accounts(4);
  auto t1 = f.test("tok-1");
  auto t2 = f.test("tok-2");
  f.exec(fmt::format("UPDATE email_accounts SET active = false WHERE id = {}",
                     ids[0]));
  f.exec(fmt::format(
      "UPDATE test_results SET status = 'found' WHERE email_account_id = {}",
      ids[1]));
  f.exec(fmt::format(
      "UPDATE test_results SET status = 'found' WHERE email_account_id = {} "
      "AND test_id = {}",
      ids[2], t1));
  auto got = db::claim_accounts(*f.conn, request(run_a));
  ASSERT_TRUE(got) << render(got.error());
  ASSERT_EQ(ids_of(*got), (std::set<int64_t>{ids[2], ids[3]}));
  auto& a2 = got->accounts[0];
  EXPECT_EQ(a2.email, "seed2@mailpipe.test");
  EXPECT_EQ(a2.imap_host, "127.0.0.1");
  EXPECT_EQ(a2.imap_port, 993);
  EXPECT_EQ(a2.imap_security, "tls");
  EXPECT_EQ(a2.sync_state, "{}");
  ASSERT_EQ(a2.tests.size(), 1u);
  EXPECT_EQ(a2.tests[0].token, "tok-2");
  EXPECT_EQ(a2.tests[0].test_db_id, t2);
  ASSERT_EQ(got->accounts[1].tests.size(), 2u);
  EXPECT_EQ(got->accounts[1].tests[0].token, "tok-1");
  EXPECT_EQ(f.scalar(fmt::format(
                "SELECT count(*) FROM email_accounts WHERE lease_owner = "
                "'node-1' AND lease_run_id = '{}' AND lease_until > now() "
                "+ interval '4 minutes'",
                run_a)),
            2);
  // A test that is no longer pending makes nobody eligible.
  f.exec("UPDATE tests SET status = 'expired'");
  EXPECT_TRUE(db::eligible_accounts(*f.conn, request(run_b))->accounts.empty());
}

TEST(pipeline,
     claim_honours_the_filter_and_the_limit_and_dry_run_takes_nothing) {
  MAILPIPE_SCRATCH_DATABASE(db);
  fixture f{db.url()};
  auto ids = f.accounts(5);
  f.test("tok");
  auto req = request(run_a);
  req.accounts = {ids[1], ids[3]};
  auto dry = db::eligible_accounts(*f.conn, req);
  ASSERT_TRUE(dry) << render(dry.error());
  EXPECT_EQ(ids_of(*dry), (std::set<int64_t>{ids[1], ids[3]}));
  EXPECT_EQ(
      f.scalar(
          "SELECT count(*) FROM email_accounts WHERE lease_owner IS NOT NULL"),
      0);
  EXPECT_EQ(ids_of(*db::claim_accounts(*f.conn, req)),
            (std::set<int64_t>{ids[1], ids[3]}));
  EXPECT_EQ(db::claim_accounts(*f.conn, request(run_b, 2))->accounts.size(),
            2u);
  EXPECT_EQ(
      f.scalar(
          "SELECT count(*) FROM email_accounts WHERE lease_owner IS NOT NULL"),
      4);
}

TEST(pipeline,
     retry_time_ahead_and_live_leases_of_others_are_skipped_and_counted) {
  MAILPIPE_SCRATCH_DATABASE(db);
  fixture f{db.url()};
  auto ids = f.accounts(5);
  f.test("tok");
  f.exec(fmt::format(
      "INSERT INTO email_account_failures (email_account_id, failure_count, "
      "retry_at) VALUES ({}, 1, now() + interval '10 minutes'), ({}, 1, now() "
      "- "
      "interval '1 second')",
      ids[0], ids[1]));
  f.exec(fmt::format(
      "UPDATE email_accounts SET lease_owner = 'node-2', lease_run_id = '{}', "
      "lease_until = now() + interval '1 minute' WHERE id = {}",
      run_b, ids[2]));
  f.exec(fmt::format(
      "UPDATE email_accounts SET lease_owner = 'node-2', lease_run_id = '{}', "
      "lease_until = now() - interval '1 second' WHERE id = {}",
      run_b, ids[3]));
  // Same node name, another run: still another holder.
  f.exec(fmt::format(
      "UPDATE email_accounts SET lease_owner = 'node-1', lease_run_id = '{}', "
      "lease_until = now() + interval '1 minute' WHERE id = {}",
      run_b, ids[4]));
  auto got = db::claim_accounts(*f.conn, request(run_a));
  ASSERT_TRUE(got) << render(got.error());
  EXPECT_EQ(ids_of(*got), (std::set<int64_t>{ids[1], ids[3]}));
  EXPECT_EQ(got->skipped_retry, 1);
  EXPECT_EQ(got->skipped_leased, 2);
  // The same holder may claim its own accounts again (a retried claim).
  EXPECT_EQ(ids_of(*db::claim_accounts(*f.conn, request(run_a))),
            (std::set<int64_t>{ids[1], ids[3]}));
}

TEST(pipeline,
     locked_rows_are_skipped_and_two_concurrent_claims_never_overlap) {
  MAILPIPE_SCRATCH_DATABASE(db);
  fixture f{db.url()};
  auto ids = f.accounts(20);
  f.test("tok");
  {
    // Another transaction holds five rows: SKIP LOCKED passes them by at once.
    auto other = std::move(*db::connect(db.url()));
    pqxx::work lock{*other};
    lock.exec(fmt::format(
        "SELECT id FROM email_accounts WHERE id <= {} FOR UPDATE", ids[4]));
    auto got = db::claim_accounts(*f.conn, request(run_a, 3));
    ASSERT_TRUE(got) << render(got.error());
    EXPECT_EQ(ids_of(*got), (std::set<int64_t>{ids[5], ids[6], ids[7]}));
  }
  f.exec("UPDATE email_accounts SET lease_owner = NULL, lease_until = NULL");
  for (int round = 0; round < 5; ++round) {
    f.exec("UPDATE email_accounts SET lease_owner = NULL, lease_until = NULL");
    db::claim_result a, b;
    auto claim = [&](const char* run, db::claim_result& out) {
      auto conn = std::move(*db::connect(db.url()));
      out = db::claim_accounts(*conn, request(run, 12)).value();
    };
    std::thread ta{claim, run_a, std::ref(a)};
    std::thread tb{claim, run_b, std::ref(b)};
    ta.join();
    tb.join();
    auto sa = ids_of(a), sb = ids_of(b);
    std::vector<int64_t> both;
    std::set_intersection(sa.begin(), sa.end(), sb.begin(), sb.end(),
                          std::back_inserter(both));
    EXPECT_TRUE(both.empty()) << "round " << round;
    EXPECT_EQ(sa.size() + sb.size(), 20u) << "round " << round;
    EXPECT_EQ(f.scalar(fmt::format(
                  "SELECT count(*) FROM email_accounts WHERE lease_run_id "
                  "= '{}'",
                  run_a)),
              static_cast<int64_t>(sa.size()));
  }
}

TEST(pipeline, leases_are_released_and_renewed_only_by_their_holder) {
  MAILPIPE_SCRATCH_DATABASE(db);
  fixture f{db.url()};
  auto ids = f.accounts(1);
  f.test("tok");
  ASSERT_EQ(db::claim_accounts(*f.conn, request(run_a))->accounts.size(), 1u);
  db::lease_holder other{"node-1", run_b};
  EXPECT_FALSE(*db::renew_lease(*f.conn, ids[0], other, 1h));
  EXPECT_FALSE(*db::release_lease(*f.conn, ids[0], other));
  EXPECT_TRUE(*db::renew_lease(*f.conn, ids[0], request(run_a).holder, 1h));
  EXPECT_EQ(
      f.scalar(
          "SELECT count(*) FROM email_accounts WHERE lease_until > now() + "
          "interval '50 minutes'"),
      1);
  EXPECT_TRUE(*db::release_lease(*f.conn, ids[0], request(run_a).holder));
  EXPECT_EQ(
      f.scalar(
          "SELECT count(*) FROM email_accounts WHERE lease_owner IS NULL AND "
          "lease_until IS NULL"),
      1);
  EXPECT_EQ(db::claim_accounts(*f.conn, request(run_b))->accounts.size(), 1u);
  ASSERT_FALSE(db::save_sync_state(*f.conn, ids[0], R"({"history_id": "42"})"));
  EXPECT_EQ(db::claim_accounts(*f.conn, request(run_b))->accounts[0].sync_state,
            R"({"history_id": "42"})");
  EXPECT_TRUE(is(db::save_sync_state(*f.conn, 999, "{}"), ec::not_found));
}

TEST(pipeline, a_row_another_insert_refers_to_is_claimed_not_skipped) {
  MAILPIPE_SCRATCH_DATABASE(db);
  fixture f{db.url()};
  auto ids = f.accounts(1);
  f.test("tok");
  // Another session inserts a row that refers to the account (a push watch),
  // its transaction still open: the foreign key holds KEY SHARE on it.
  pqxx::connection other{db.url()};
  pqxx::work tx{other};
  tx.exec(fmt::format("INSERT INTO push_watches VALUES ({}, 'n/push', now())",
                      ids[0]));
  auto claimed = db::claim_accounts(*f.conn, request(run_a));
  ASSERT_TRUE(claimed) << render(claimed.error());
  EXPECT_EQ(claimed->accounts.size(), 1u);
  tx.abort();
}

TEST(pipeline, one_node_at_a_time_watches_a_push_account_until_push_is_off) {
  MAILPIPE_SCRATCH_DATABASE(db);
  fixture f{db.url()};
  auto ids = f.accounts(3);
  ASSERT_FALSE(db::set_account_push(*f.conn, ids[0], true));
  ASSERT_FALSE(db::set_account_push(*f.conn, ids[1], true));
  EXPECT_TRUE(is(db::set_account_push(*f.conn, 999, true), ec::not_found));
  auto held_ids = [](const std::vector<claimed_account>& xs) {
    std::vector<int64_t> out;
    for (auto& x : xs)
      out.push_back(x.id);
    return out;
  };
  auto a = db::claim_push_accounts(*f.conn, "a/push", 1min, 1000);
  ASSERT_TRUE(a) << render(a.error());
  EXPECT_EQ(held_ids(*a), (std::vector<int64_t>{ids[0], ids[1]}));
  EXPECT_EQ((*a)[0].imap_host, "127.0.0.1");
  // Another node gets nothing while a's watches are live; a keeps them.
  EXPECT_TRUE(db::claim_push_accounts(*f.conn, "b/push", 1min, 1000)->empty());
  EXPECT_EQ(db::claim_push_accounts(*f.conn, "a/push", 1min, 1000)->size(), 2u);
  // Push off: given back at a's next claim. A lease that ran out: b takes it.
  ASSERT_FALSE(db::set_account_push(*f.conn, ids[0], false));
  f.exec(fmt::format("UPDATE push_watches SET until = now() - interval '1s' "
                     "WHERE email_account_id = {}",
                     ids[1]));
  EXPECT_EQ(held_ids(*db::claim_push_accounts(*f.conn, "b/push", 1min, 1000)),
            std::vector<int64_t>{ids[1]});
  EXPECT_TRUE(db::claim_push_accounts(*f.conn, "a/push", 1min, 1000)->empty());
  EXPECT_EQ(
      f.scalar("SELECT count(*) FROM push_watches WHERE owner = 'a/push'"), 0);
  // A disabled account is not watched; a stopping node gives its watches back.
  f.exec(fmt::format("UPDATE email_accounts SET active = false WHERE id = {}",
                     ids[1]));
  EXPECT_TRUE(db::claim_push_accounts(*f.conn, "b/push", 1min, 1000)->empty());
  ASSERT_FALSE(db::set_account_push(*f.conn, ids[2], true));
  EXPECT_EQ(db::claim_push_accounts(*f.conn, "b/push", 1min, 1000)->size(), 1u);
  EXPECT_EQ(*db::release_push_accounts(*f.conn, "b/push"), 1);
  EXPECT_EQ(f.scalar("SELECT count(*) FROM push_watches"), 0);
}

TEST(pipeline, a_result_is_recorded_once_and_a_rerun_changes_nothing) {
  MAILPIPE_SCRATCH_DATABASE(db);
  fixture f{db.url()};
  auto ids = f.accounts(1);
  auto t = f.test("tok");
  db::found_result found;
  found.placement = "spam";
  found.folder = "Junk";
  found.labels = {"\\Junk", "quote\"d"};
  found.spf_result = "pass";
  found.dkim_result = "fail";
  found.dkim_domains = {"a.example", "b.example"};
  found.analysis_json =
      R"({"placement": "spam", "filters": [{"name": "rspamd"}]})";
  found.header_block = "Subject: x\r\n";
  auto first = db::record_found(*f.conn, run_a, t, ids[0], found);
  ASSERT_TRUE(first) << render(first.error());
  EXPECT_TRUE(*first);
  found.placement = "inbox";
  EXPECT_FALSE(*db::record_found(*f.conn, run_b, t, ids[0], found));
  pqxx::nontransaction tx{*f.conn};
  auto row =
      tx.exec1("SELECT status, placement, folder, array_to_json(labels)::text, "
               "spf_result, dkim_result, array_to_json(dkim_domains)::text, "
               "filters::text, analysis->>'placement', run_id::text, "
               "found_at IS NOT NULL, dmarc_result IS NULL, "
               "(SELECT count(*) FROM test_results) FROM test_results");
  EXPECT_EQ(row[0].as<std::string>(), "found");
  EXPECT_EQ(row[1].as<std::string>(), "spam");
  EXPECT_EQ(row[2].as<std::string>(), "Junk");
  EXPECT_EQ(row[3].as<std::string>(), R"(["\\Junk","quote\"d"])");
  EXPECT_EQ(row[4].as<std::string>(), "pass");
  EXPECT_EQ(row[5].as<std::string>(), "fail");
  EXPECT_EQ(row[6].as<std::string>(), R"(["a.example","b.example"])");
  EXPECT_EQ(row[7].as<std::string>(), R"([{"name": "rspamd"}])");
  EXPECT_EQ(row[8].as<std::string>(), "spam");
  EXPECT_EQ(row[9].as<std::string>(), run_a);
  EXPECT_TRUE(row[10].as<bool>());
  EXPECT_TRUE(row[11].as<bool>());
  EXPECT_EQ(row[12].as<int>(), 1);
}

TEST(pipeline, a_pass_records_its_results_and_success_once) {
  MAILPIPE_SCRATCH_DATABASE(db);
  fixture f{db.url()};
  auto ids = f.accounts(2);
  auto t1 = f.test("tok-1");
  auto t2 = f.test("tok-2");
  db::failure_report rep{ids[0], failure_class::timeout, "slow", 10min, 3};
  ASSERT_TRUE(db::record_failure(*f.conn, rep));
  db::found_result one;
  one.test_db_id = t1;
  one.placement = "inbox";
  one.folder = "INBOX";
  one.header_block = "Subject: one\r\n";
  // One message: one statement writes it, the success and the hints.
  auto n = db::record_pass(*f.conn, run_a, ids[0], {one}, R"({"v": 1})");
  ASSERT_TRUE(n) << render(n.error());
  EXPECT_EQ(*n, 1);
  EXPECT_EQ(f.scalar(fmt::format("SELECT count(*) FROM test_results WHERE "
                                 "test_id = {} AND status = 'found' AND "
                                 "run_id = '{}'",
                                 t1, run_a)),
            1);
  EXPECT_EQ(f.scalar("SELECT failure_count FROM email_account_failures"), 0);
  EXPECT_EQ(f.scalar(fmt::format(
                "SELECT count(*) FROM email_accounts WHERE id = {} AND "
                "last_processed_at IS NOT NULL AND "
                "sync_state->'imap_hints'->>'v' = '1'",
                ids[0])),
            1);
  // A rerun writes no result again, and "" leaves the hints as they were.
  EXPECT_EQ(*db::record_pass(*f.conn, run_b, ids[0], {one}, ""), 0);
  EXPECT_EQ(f.scalar(fmt::format("SELECT count(*) FROM email_accounts WHERE "
                                 "sync_state->'imap_hints'->>'v' = '1'")),
            1);
  // Messages of two tests: one transaction, both written.
  auto two = one;
  two.test_db_id = t2;
  one.placement = "spam";
  auto both = db::record_pass(*f.conn, run_a, ids[1], {one, two}, "");
  ASSERT_TRUE(both) << render(both.error());
  EXPECT_EQ(*both, 2);
  // Nothing found: the success alone.
  EXPECT_EQ(*db::record_pass(*f.conn, run_a, ids[1], {}, ""), 0);
  EXPECT_EQ(f.scalar("SELECT count(*) FROM test_results WHERE status = "
                     "'found'"),
            3);
  EXPECT_EQ(f.scalar("SELECT count(*) FROM test_results WHERE placement = "
                     "'spam'"),
            1);
  // An account that is gone: not_found, nothing written.
  auto gone = db::record_pass(*f.conn, run_a, 999, {one}, "");
  ASSERT_FALSE(gone);
  EXPECT_TRUE(is(gone.error(), ec::not_found));
  EXPECT_TRUE(is(db::record_pass(*f.conn, run_a, 999, {one, two}, "").error(),
                 ec::not_found));
}

TEST(pipeline, failures_count_up_disable_at_the_limit_and_success_resets) {
  MAILPIPE_SCRATCH_DATABASE(db);
  fixture f{db.url()};
  auto ids = f.accounts(1);
  db::failure_report rep{ids[0], failure_class::auth, "LOGIN refused", 10min,
                         3};
  auto one = db::record_failure(*f.conn, rep);
  ASSERT_TRUE(one) << render(one.error());
  EXPECT_EQ(one->failure_count, 1);
  EXPECT_FALSE(one->disabled);
  auto ahead = one->retry_at - std::chrono::system_clock::now();
  EXPECT_GT(ahead, 9min);
  EXPECT_LT(ahead, 11min);
  ASSERT_FALSE(db::record_success(*f.conn, ids[0]));
  EXPECT_EQ(f.scalar("SELECT failure_count FROM email_account_failures"), 0);
  EXPECT_EQ(
      f.scalar(
          "SELECT count(*) FROM email_account_failures WHERE retry_at IS NULL"),
      1);
  EXPECT_EQ(db::record_failure(*f.conn, rep)->failure_count, 1);
  EXPECT_FALSE(db::record_failure(*f.conn, rep)->disabled);
  auto third = db::record_failure(*f.conn, rep);
  EXPECT_EQ(third->failure_count, 3);
  EXPECT_TRUE(third->disabled);
  EXPECT_FALSE(db::record_failure(*f.conn, rep)->disabled); // already disabled
  EXPECT_EQ(
      f.scalar("SELECT count(*) FROM email_accounts WHERE NOT active AND "
               "disabled_at IS NOT NULL AND disabled_reason LIKE '%auth: LOGIN "
               "refused%'"),
      1);
  EXPECT_EQ(
      f.scalar(
          "SELECT count(*) FROM email_account_failures WHERE failure_class = "
          "'auth' AND last_error = 'LOGIN refused'"),
      1);
  ASSERT_FALSE(db::reactivate_account(*f.conn, ids[0]));
  EXPECT_EQ(f.scalar("SELECT count(*) FROM email_accounts WHERE active AND "
                     "disabled_reason "
                     "IS NULL"),
            1);
  EXPECT_EQ(f.scalar("SELECT count(*) FROM email_account_failures"), 0);
  EXPECT_TRUE(is(db::reactivate_account(*f.conn, 999), ec::not_found));
  rep.account_id = 999;
  EXPECT_TRUE(is(db::record_failure(*f.conn, rep).error(), ec::not_found));
}

TEST(pipeline,
     expired_tests_record_their_pending_accounts_missing_and_others_complete) {
  MAILPIPE_SCRATCH_DATABASE(db);
  fixture f{db.url()};
  auto ids = f.accounts(3);
  auto old = f.test("old", "now() - interval '1 minute'");
  auto done = f.test("done");
  auto open = f.test("open");
  ASSERT_TRUE(db::record_found(*f.conn, run_a, old, ids[0], {}));
  for (auto id : ids)
    ASSERT_TRUE(db::record_found(*f.conn, run_a, done, id, {}));
  auto exp = db::expire_tests(*f.conn);
  ASSERT_TRUE(exp) << render(exp.error());
  EXPECT_EQ(exp->tests_expired, 1);
  EXPECT_EQ(exp->results_missing, 2);
  EXPECT_EQ(f.scalar(fmt::format(
                "SELECT count(*) FROM test_results WHERE test_id = {} AND "
                "status = 'missing' AND placement = 'missing'",
                old)),
            2);
  EXPECT_EQ(f.scalar(fmt::format(
                "SELECT count(*) FROM test_results WHERE test_id = {} AND "
                "status = 'found'",
                old)),
            1);
  EXPECT_EQ(*db::complete_tests(*f.conn), 1);
  EXPECT_EQ(f.scalar(fmt::format(
                "SELECT count(*) FROM tests WHERE (id = {} AND status = "
                "'expired') OR (id = {} AND status = 'complete') OR (id = "
                "{} AND status = 'pending')",
                old, done, open)),
            3);
  EXPECT_EQ(db::expire_tests(*f.conn)->tests_expired, 0);
}

TEST(pipeline, metrics_rows_are_inserted_in_one_batch_and_cleaned_by_age) {
  MAILPIPE_SCRATCH_DATABASE(db);
  fixture f{db.url()};
  auto ids = f.accounts(2);
  auto start = std::chrono::system_clock::now() - 3s;
  std::vector<db::metrics_row> rows{
      {run_a, ids[0], "node-1", start, 1.25, 2, 0, "success", "", ""},
      {run_a, ids[1], "node-1", start, 300, 0, 1, "timeout", "timeout",
       "it's \"slow\""}};
  auto n = db::insert_metrics(*f.conn, rows);
  ASSERT_TRUE(n) << render(n.error());
  EXPECT_EQ(*n, 2);
  EXPECT_EQ(*db::insert_metrics(*f.conn, {}), 0);
  EXPECT_EQ(
      f.scalar(fmt::format(
          "SELECT count(*) FROM email_processing_metrics WHERE run_id = '{}' "
          "AND "
          "node = 'node-1' AND abs(extract(epoch FROM started_at) - {:.6f}) < "
          "0.001",
          run_a,
          std::chrono::duration<double>(start.time_since_epoch()).count())),
      2);
  EXPECT_EQ(
      f.scalar(
          "SELECT count(*) FROM email_processing_metrics WHERE status = "
          "'timeout' AND error_class = 'timeout' AND error_message = "
          "'it''s \"slow\"' AND duration_seconds = 300 AND errors_count = 1"),
      1);
  EXPECT_EQ(f.scalar("SELECT sum(emails_found) FROM email_processing_metrics"),
            2);
  f.exec("UPDATE email_processing_metrics SET created_at = now() - interval "
         "'31 days' WHERE "
         "status = 'timeout'");
  EXPECT_EQ(*db::clean_metrics(*f.conn, 30), 1);
  EXPECT_EQ(*db::clean_metrics(*f.conn, 30), 0);
  EXPECT_EQ(f.scalar("SELECT count(*) FROM email_processing_metrics"), 1);
}

TEST(pipeline, alerts_are_rows_with_their_delivery_state) {
  MAILPIPE_SCRATCH_DATABASE(db);
  fixture f{db.url()};
  db::alert_row a;
  a.kind = "account_disabled";
  a.severity = "critical";
  a.title = "seed@x disabled";
  a.node = "node-1";
  a.created_at = std::chrono::system_clock::now() - 1h;
  auto id = db::insert_alert(*f.conn, a);
  ASSERT_TRUE(id) << render(id.error());
  auto pending = db::pending_alerts(*f.conn);
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ((*pending)[0].id, *id);
  EXPECT_EQ((*pending)[0].title, "seed@x disabled");
  EXPECT_LT((*pending)[0].created_at.value(),
            std::chrono::system_clock::now() - 59min);
  ASSERT_FALSE(db::mark_alert(*f.conn, *id, "failed", 1, "HTTP 500"));
  EXPECT_TRUE(db::pending_alerts(*f.conn)->empty());
  ASSERT_FALSE(db::mark_alert(*f.conn, *id, "delivered", 2, ""));
  EXPECT_EQ(
      f.scalar(
          "SELECT count(*) FROM alerts WHERE state = 'delivered' AND "
          "delivery_attempts = 2 AND last_error IS NULL AND delivered_at IS "
          "NOT NULL"),
      1);
  EXPECT_TRUE(is(db::mark_alert(*f.conn, 999, "failed", 1, ""), ec::not_found));
}
