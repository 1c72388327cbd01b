// The durable queues' statements on the real PostgreSQL: idempotent enqueue
// (from many connections at once), claiming by priority with SKIP LOCKED,
// leases, retries and the dead-letter queue, recovery, pause.

#include <algorithm>
#include <atomic>
#include <limits>
#include <optional>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "adapters/db/connection.hpp"
#include "adapters/db/jobs.hpp"
#include "adapters/db/migrate.hpp"
#include "tests/support/env.hpp"

using namespace mailpipe;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<pqxx::connection> open(const std::string& url) {
  auto conn = db::connect(url);
  EXPECT_TRUE(conn) << render(conn.error());
  return conn ? std::move(*conn) : nullptr;
}

std::unique_ptr<pqxx::connection> migrated(const std::string& url) {
  auto conn = open(url);
  if (conn) {
    EXPECT_TRUE(db::migrate(*conn));
  }
  return conn;
}

db::job_spec job(std::string id, std::string queue = "process_mails",
                 std::string payload = "{}") {
  db::job_spec spec;
  spec.id = std::move(id);
  spec.queue = std::move(queue);
  spec.payload_json = std::move(payload);
  return spec;
}

std::string state_of(pqxx::connection& conn, const std::string& id) {
  auto j = db::find_job(conn, id);
  return j ? j->state : render(j.error());
}

// Moves a job's lease into the past, as if its node stopped renewing it.
void expire_lease(pqxx::connection& conn, const std::string& id) {
  pqxx::nontransaction tx{conn};
  tx.exec_params("UPDATE jobs SET lease_until = now() - interval '1 second' "
                 "WHERE id = $1",
                 id);
}

std::vector<std::string> ids_of(const std::vector<db::claimed_job>& jobs) {
  std::vector<std::string> out;
  for (auto& j : jobs)
    out.push_back(j.id);
  return out;
}

} // namespace

TEST(jobs, retry_delay_doubles_with_equal_jitter_and_a_cap) {
  EXPECT_EQ(db::job_retry_delay(1, 30s, 0.0), duration{15s});
  EXPECT_EQ(db::job_retry_delay(1, 30s, 0.999999), duration{29999});
  EXPECT_EQ(db::job_retry_delay(2, 30s, 0.5), duration{45s});
  EXPECT_EQ(db::job_retry_delay(3, 30s, 1.0), duration{120s});
  EXPECT_EQ(db::job_retry_delay(40, 30s, 1.0), duration{24h});
  EXPECT_EQ(db::default_priority("fetch_emails"), db::job_priority::high);
  EXPECT_EQ(db::default_priority("send_notifications"),
            db::job_priority::medium);
}

TEST(jobs, an_id_is_added_once_and_a_dead_one_can_come_back) {
  MAILPIPE_SCRATCH_DATABASE(scratch);
  auto conn = migrated(scratch.url());
  ASSERT_TRUE(conn);
  auto first =
      db::enqueue_job(*conn, job("n-1", "process_mails", R"({"a":1})"));
  ASSERT_TRUE(first) << render(first.error());
  EXPECT_TRUE(first->added);
  auto again =
      db::enqueue_job(*conn, job("n-1", "process_mails", R"({"a":2})"));
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->added);
  EXPECT_EQ(again->state, "queued");
  EXPECT_EQ(db::find_job(*conn, "n-1")->payload_json, R"({"a": 1})");
  // Succeeded: still nothing added.
  auto held = db::claim_jobs(*conn, "process_mails", "node-a", 10, 1min);
  ASSERT_EQ(held->size(), 1u);
  ASSERT_TRUE(*db::complete_job(*conn, "n-1", "node-a", R"({"ok":true})"));
  EXPECT_EQ(db::enqueue_job(*conn, job("n-1"))->state, "succeeded");
  // Dead: enqueued again, attempts reset.
  ASSERT_TRUE(db::enqueue_job(*conn, job("d-1"))->added);
  ASSERT_EQ(db::claim_jobs(*conn, "process_mails", "node-a", 10, 1min)->size(),
            1u);
  ASSERT_TRUE(db::fail_job(*conn, "d-1", "node-a", "bad", true, 0s)->dead);
  auto back = db::enqueue_job(*conn, job("d-1"));
  EXPECT_TRUE(back->added);
  EXPECT_EQ(back->state, "queued");
  EXPECT_EQ(db::find_job(*conn, "d-1")->attempts, 0);
  // Mistakes are the caller's, and add nothing.
  auto bad = db::enqueue_job(*conn, job("b-1", "process_mails", "{nope"));
  ASSERT_FALSE(bad);
  EXPECT_TRUE(is(bad.error(), ec::invalid_argument)) << render(bad.error());
  auto queue = db::enqueue_job(*conn, job("b-2", "no_such_queue"));
  ASSERT_FALSE(queue);
  EXPECT_TRUE(is(queue.error(), ec::invalid_argument));
  EXPECT_EQ(state_of(*conn, "b-1").find("not_found"), 0u);
}

TEST(jobs, one_id_enqueued_from_eight_connections_at_once_is_one_row) {
  MAILPIPE_SCRATCH_DATABASE(scratch);
  ASSERT_TRUE(migrated(scratch.url()));
  std::vector<std::thread> threads;
  std::atomic<int> added{0}, refused{0};
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      auto conn = open(scratch.url());
      for (int n = 0; n < 50; ++n) {
        auto res = db::enqueue_job(*conn, job("same-" + std::to_string(n)));
        if (res && res->added)
          ++added;
        else if (res)
          ++refused;
      }
    });
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(added.load(), 50);
  EXPECT_EQ(refused.load(), 7 * 50);
  auto conn = open(scratch.url());
  pqxx::nontransaction tx{*conn};
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM jobs")[0].as<int>(), 50);
}

TEST(jobs, bulk_enqueue_is_one_statement_and_counts_a_repeated_id_once) {
  MAILPIPE_SCRATCH_DATABASE(scratch);
  auto conn = migrated(scratch.url());
  ASSERT_TRUE(conn);
  ASSERT_TRUE(db::enqueue_job(*conn, job("x-0"))->added);
  std::vector<db::job_spec> batch;
  for (int i = 0; i < 1000; ++i)
    batch.push_back(job("x-" + std::to_string(i), "index_news",
                        R"({"n":)" + std::to_string(i) + "}"));
  batch.push_back(job("x-5", "index_news"));
  auto added = db::enqueue_jobs(*conn, batch);
  ASSERT_TRUE(added) << render(added.error());
  EXPECT_EQ(added->size(), 999u); // x-0 was there, x-5 twice
  EXPECT_EQ(db::find_job(*conn, "x-999")->priority, "medium");
  batch.push_back(job("y", "bogus"));
  auto refused = db::enqueue_jobs(*conn, batch);
  ASSERT_FALSE(refused);
  EXPECT_NE(render(refused.error()).find("job 'y'"), std::string::npos);
}

TEST(jobs, claims_high_before_medium_ready_ones_only_and_not_when_paused) {
  MAILPIPE_SCRATCH_DATABASE(scratch);
  auto conn = migrated(scratch.url());
  ASSERT_TRUE(conn);
  auto medium = job("old-medium");
  medium.priority = db::job_priority::medium;
  ASSERT_TRUE(db::enqueue_job(*conn, medium)->added);
  ASSERT_TRUE(db::enqueue_job(*conn, job("new-high"))->added);
  auto later = job("later");
  later.delay = 1h;
  ASSERT_TRUE(db::enqueue_job(*conn, later)->added);
  ASSERT_TRUE(
      db::set_queue_paused(*conn, "process_mails", true, "test").value());
  EXPECT_TRUE(db::claim_jobs(*conn, "process_mails", "n", 10, 1min)->empty());
  EXPECT_FALSE(
      db::set_queue_paused(*conn, "process_mails", true, "test").value());
  ASSERT_TRUE(
      db::set_queue_paused(*conn, "process_mails", false, "test").value());
  auto first = db::claim_jobs(*conn, "process_mails", "n", 1, 1min);
  ASSERT_EQ(ids_of(*first), std::vector<std::string>{"new-high"});
  EXPECT_EQ((*first)[0].attempt, 1);
  auto rest = db::claim_jobs(*conn, "process_mails", "n", 10, 1min);
  EXPECT_EQ(ids_of(*rest), std::vector<std::string>{"old-medium"});
  auto queues = db::list_queues(*conn);
  ASSERT_TRUE(queues);
  auto pm = std::find_if(queues->begin(), queues->end(),
                         [](auto& q) { return q.queue == "process_mails"; });
  ASSERT_NE(pm, queues->end());
  EXPECT_EQ(pm->running, 2);
  EXPECT_EQ(pm->queued, 1);
}

TEST(jobs, two_workers_claiming_at_once_never_take_the_same_job) {
  MAILPIPE_SCRATCH_DATABASE(scratch);
  auto conn = migrated(scratch.url());
  ASSERT_TRUE(conn);
  std::vector<db::job_spec> batch;
  for (int i = 0; i < 400; ++i)
    batch.push_back(job("j-" + std::to_string(i), "fetch_emails"));
  ASSERT_EQ(db::enqueue_jobs(*conn, batch)->size(), 400u);
  std::vector<std::string> taken[2];
  std::vector<std::thread> workers;
  for (int w = 0; w < 2; ++w)
    workers.emplace_back([&, w] {
      auto c = open(scratch.url());
      for (;;) {
        auto got = db::claim_jobs(*c, "fetch_emails",
                                  "worker-" + std::to_string(w), 7, 1min);
        if (!got || got->empty())
          return;
        for (auto& j : *got)
          taken[w].push_back(j.id);
      }
    });
  for (auto& t : workers)
    t.join();
  std::set<std::string> all(taken[0].begin(), taken[0].end());
  all.insert(taken[1].begin(), taken[1].end());
  EXPECT_EQ(all.size(), 400u);
  EXPECT_EQ(taken[0].size() + taken[1].size(), 400u);
}

TEST(jobs, failures_back_off_then_the_last_one_is_dead) {
  MAILPIPE_SCRATCH_DATABASE(scratch);
  auto conn = migrated(scratch.url());
  ASSERT_TRUE(conn);
  ASSERT_TRUE(db::enqueue_job(*conn, job("f-1"))->added);
  for (int attempt = 1; attempt <= 3; ++attempt) {
    auto got = db::claim_jobs(*conn, "process_mails", "n", 10, 1min);
    ASSERT_EQ(got->size(), 1u) << "attempt " << attempt;
    EXPECT_EQ((*got)[0].attempt, attempt);
    auto res = db::fail_job(*conn, "f-1", "n", "HTTP 503", false, 1h);
    ASSERT_TRUE(res && res->held);
    EXPECT_EQ(res->dead, attempt == 3);
    if (attempt < 3) {
      // Not ready before its backoff.
      EXPECT_TRUE(
          db::claim_jobs(*conn, "process_mails", "n", 10, 1min)->empty());
      pqxx::nontransaction tx{*conn};
      tx.exec("UPDATE jobs SET run_at = now()");
    }
  }
  auto dead = db::find_job(*conn, "f-1");
  EXPECT_EQ(dead->state, "dead");
  EXPECT_EQ(dead->last_error, "HTTP 503");
  EXPECT_FALSE(dead->finished_at.empty());
  db::job_filter filter;
  filter.state = "dead";
  EXPECT_EQ(db::list_jobs(*conn, filter)->size(), 1u);
  // Redriven: queued, attempts reset; a job that is not dead is refused.
  EXPECT_FALSE(db::redrive_job(*conn, "f-1"));
  EXPECT_EQ(db::find_job(*conn, "f-1")->attempts, 0);
  EXPECT_TRUE(is(db::redrive_job(*conn, "f-1"), ec::invalid_argument));
  EXPECT_TRUE(is(db::redrive_job(*conn, "nope"), ec::not_found));
  // A payload that can never succeed is dead at its first failure.
  ASSERT_EQ(db::claim_jobs(*conn, "process_mails", "n", 10, 1min)->size(), 1u);
  auto permanent = db::fail_job(*conn, "f-1", "n", "payload: no url", true, 1h);
  EXPECT_TRUE(permanent->dead);
  EXPECT_EQ(permanent->attempts, 1);
}

TEST(jobs,
     a_lease_that_ran_out_is_taken_again_and_the_old_holder_cannot_finish) {
  MAILPIPE_SCRATCH_DATABASE(scratch);
  auto conn = migrated(scratch.url());
  ASSERT_TRUE(conn);
  ASSERT_TRUE(db::enqueue_job(*conn, job("l-1"))->added);
  ASSERT_TRUE(db::enqueue_job(*conn, job("l-2"))->added);
  ASSERT_EQ(
      db::claim_jobs(*conn, "process_mails", "dead-node", 10, 1min)->size(),
      2u);
  // Renewed: still held; one lease runs out.
  EXPECT_EQ(
      db::renew_job_leases(*conn, "dead-node", {"l-1", "l-2"}, 1min).value(),
      2);
  expire_lease(*conn, "l-1");
  auto rec = db::recover_jobs(*conn);
  ASSERT_TRUE(rec) << render(rec.error());
  EXPECT_EQ(rec->requeued, 1);
  EXPECT_EQ(state_of(*conn, "l-1"), "queued");
  EXPECT_EQ(state_of(*conn, "l-2"), "running");
  auto again = db::claim_jobs(*conn, "process_mails", "live-node", 10, 1min);
  ASSERT_EQ(ids_of(*again), std::vector<std::string>{"l-1"});
  EXPECT_EQ((*again)[0].attempt, 2);
  // The first holder comes back too late: it cannot complete or fail it.
  EXPECT_FALSE(*db::complete_job(*conn, "l-1", "dead-node"));
  EXPECT_FALSE(db::fail_job(*conn, "l-1", "dead-node", "x", false, 0s)->held);
  EXPECT_TRUE(*db::complete_job(*conn, "l-1", "live-node"));
  EXPECT_FALSE(*db::complete_job(*conn, "l-1", "live-node")); // once
  // A node that starts again reconciles what it held, lease or not.
  auto mine = db::recover_jobs(*conn, "dead-node");
  EXPECT_EQ(mine->requeued, 1);
  EXPECT_EQ(state_of(*conn, "l-2"), "queued");
  // A job whose last attempt ran out is dead, not retried forever.
  auto poison = job("p-1");
  poison.max_attempts = 1;
  ASSERT_TRUE(db::enqueue_job(*conn, poison)->added);
  auto got = db::claim_jobs(*conn, "process_mails", "n", 10, 1min);
  ASSERT_TRUE(got);
  expire_lease(*conn, "p-1");
  auto dead = db::recover_jobs(*conn);
  ASSERT_TRUE(dead) << render(dead.error());
  EXPECT_EQ(dead->dead, 1);
  // Returned with its payload and error, for the alert and its newsletter.
  ASSERT_EQ(dead->dead_jobs.size(), 1u);
  EXPECT_EQ(dead->dead_jobs[0].first.id, "p-1");
  EXPECT_EQ(dead->dead_jobs[0].first.queue, "process_mails");
  EXPECT_EQ(dead->dead_jobs[0].first.payload_json,
            db::find_job(*conn, "p-1")->payload_json);
  EXPECT_EQ(dead->dead_jobs[0].second, "lease of n ended while running");
  auto p = db::find_job(*conn, "p-1");
  EXPECT_EQ(p->state, "dead");
  EXPECT_NE(p->last_error.find("lease of n"), std::string::npos)
      << p->last_error;
}

TEST(jobs, a_snoozed_job_waits_with_its_new_payload_and_keeps_its_attempts) {
  MAILPIPE_SCRATCH_DATABASE(scratch);
  auto conn = migrated(scratch.url());
  ASSERT_TRUE(conn);
  ASSERT_TRUE(db::enqueue_job(*conn, job("s-1"))->added);
  ASSERT_EQ(db::claim_jobs(*conn, "process_mails", "w/1", 10, 1min)->size(),
            1u);
  // Only its holder may snooze it.
  EXPECT_FALSE(*db::snooze_job(*conn, "s-1", "w/2", 0ms, R"({"step":2})"));
  auto held = db::snooze_job(*conn, "s-1", "w/1", 1h,
                             R"({"step":2,"snoozed":{"task":7}})");
  ASSERT_TRUE(held) << render(held.error());
  EXPECT_TRUE(*held);
  auto row = db::find_job(*conn, "s-1");
  EXPECT_EQ(row->state, "queued");
  EXPECT_EQ(row->attempts, 0);
  EXPECT_EQ(row->payload_json, R"({"step": 2, "snoozed": {"task": 7}})");
  // Not ready before its time; then claimed as the same attempt.
  EXPECT_TRUE(db::claim_jobs(*conn, "process_mails", "w/1", 10, 1min)->empty());
  EXPECT_FALSE(*db::snooze_job(*conn, "s-1", "w/1", 0ms, "{}")); // queued
  pqxx::nontransaction{*conn}.exec(
      "UPDATE jobs SET run_at = now() WHERE id = 's-1'");
  auto again = db::claim_jobs(*conn, "process_mails", "w/1", 10, 1min);
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ((*again)[0].attempt, 1);
  EXPECT_EQ((*again)[0].payload_json, R"({"step": 2, "snoozed": {"task": 7}})");
  // A failed attempt drops what it did while snoozed; the next starts afresh.
  ASSERT_TRUE(db::fail_job(*conn, "s-1", "w/1", "boom", false, 0ms)->held);
  EXPECT_EQ(db::find_job(*conn, "s-1")->payload_json, R"({"step": 2})");
}

TEST(jobs, a_batch_of_successes_is_one_statement_for_the_jobs_still_held) {
  MAILPIPE_SCRATCH_DATABASE(scratch);
  auto conn = migrated(scratch.url());
  ASSERT_TRUE(conn);
  for (auto id : {"b-1", "b-2", "b-3"})
    ASSERT_TRUE(db::enqueue_job(*conn, job(id))->added);
  ASSERT_EQ(db::claim_jobs(*conn, "process_mails", "w/1", 10, 1min)->size(),
            3u);
  // b-3's lease ran out and another worker took it.
  expire_lease(*conn, "b-3");
  ASSERT_EQ(db::recover_jobs(*conn)->requeued, 1);
  ASSERT_EQ(db::claim_jobs(*conn, "process_mails", "w/2", 10, 1min)->size(),
            1u);
  auto done = db::complete_jobs(
      *conn, "w/1", {{"b-1", R"({"n":1})"}, {"b-2", ""}, {"b-3", ""}});
  ASSERT_TRUE(done) << render(done.error());
  EXPECT_EQ(*done, (std::vector<std::string>{"b-1", "b-2"}));
  auto b1 = db::find_job(*conn, "b-1");
  EXPECT_EQ(b1->state, "succeeded");
  EXPECT_EQ(b1->result_json, R"({"n": 1})");
  EXPECT_EQ(db::find_job(*conn, "b-2")->result_json, "");
  EXPECT_EQ(state_of(*conn, "b-3"), "running");
  EXPECT_EQ(db::find_job(*conn, "b-3")->lease_owner, "w/2");
  // Again: nothing is completed twice.
  EXPECT_TRUE(db::complete_jobs(*conn, "w/1", {{"b-1", ""}})->empty());
  EXPECT_TRUE(db::complete_jobs(*conn, "w/1", {})->empty());
}

TEST(jobs, a_queue_limit_holds_claims_back_for_every_claimer) {
  MAILPIPE_SCRATCH_DATABASE(scratch);
  auto conn = migrated(scratch.url());
  ASSERT_TRUE(conn);
  std::vector<db::job_spec> specs;
  for (int i = 0; i < 20; ++i)
    specs.push_back(job(fmt::format("c-{}", i)));
  ASSERT_EQ(db::enqueue_jobs(*conn, specs)->size(), 20u);
  // Unlimited: nothing held back.
  bool held_back = true;
  auto first =
      db::claim_jobs(*conn, "process_mails", "w/0", 1, 1min, &held_back);
  ASSERT_EQ(first->size(), 1u);
  EXPECT_FALSE(held_back);
  // At most 3 running: one is, so 8 claimers at once take 2 between them.
  ASSERT_FALSE(db::set_queue_limits(*conn, "process_mails", {3, 0}));
  std::atomic<int> claimed{0}, held{0};
  std::vector<std::thread> claimers;
  for (int i = 1; i <= 8; ++i)
    claimers.emplace_back([&, i] {
      auto c = open(scratch.url());
      bool back = false;
      auto got = db::claim_jobs(*c, "process_mails", fmt::format("w/{}", i), 10,
                                1min, &back);
      claimed += got ? static_cast<int>(got->size()) : -100;
      held += back ? 1 : 0;
    });
  for (auto& t : claimers)
    t.join();
  EXPECT_EQ(claimed.load(), 2);
  EXPECT_EQ(held.load(), 8);
  // One ends: one more may start.
  ASSERT_TRUE(*db::complete_job(*conn, (*first)[0].id, "w/0"));
  EXPECT_EQ(db::claim_jobs(*conn, "process_mails", "w/9", 10, 1min)->size(),
            1u);
  auto q = db::list_queues(*conn);
  auto row = std::find_if(q->begin(), q->end(),
                          [](auto& r) { return r.queue == "process_mails"; });
  EXPECT_EQ(row->limits.concurrency, 3);
  EXPECT_EQ(row->running, 3);
  // A rate of 2 per second, no concurrency limit: a burst of 2, then
  // nothing until the bucket refills.
  ASSERT_FALSE(db::set_queue_limits(*conn, "process_mails", {0, 2}));
  auto burst =
      db::claim_jobs(*conn, "process_mails", "w/r", 10, 1min, &held_back);
  EXPECT_EQ(burst->size(), 2u);
  EXPECT_TRUE(held_back);
  EXPECT_TRUE(db::claim_jobs(*conn, "process_mails", "w/r", 10, 1min)->empty());
  std::this_thread::sleep_for(600ms); // 1.2 tokens
  EXPECT_EQ(db::claim_jobs(*conn, "process_mails", "w/r", 10, 1min)->size(),
            1u);
  // Lifted: the rest at once.
  ASSERT_FALSE(db::set_queue_limits(*conn, "process_mails", {}));
  EXPECT_EQ(db::claim_jobs(*conn, "process_mails", "w/r", 100, 1min, &held_back)
                ->size(),
            13u);
  EXPECT_FALSE(held_back);
  EXPECT_TRUE(db::set_queue_limits(*conn, "nope", {1, 0}));
  EXPECT_TRUE(db::set_queue_limits(*conn, "process_mails", {-1, 0}));
  EXPECT_TRUE(db::set_queue_limits(
      *conn, "process_mails", {0, std::numeric_limits<double>::quiet_NaN()}));
}

TEST(jobs, a_rate_limited_claim_that_waited_for_the_queue_holds_back) {
  MAILPIPE_SCRATCH_DATABASE(scratch);
  auto conn = migrated(scratch.url());
  ASSERT_TRUE(conn);
  ASSERT_EQ(db::enqueue_jobs(*conn, {job("w-1"), job("w-2")})->size(), 2u);
  // A slow rate, so that no token comes back while the test runs.
  ASSERT_FALSE(db::set_queue_limits(*conn, "process_mails", {0, 0.01}));
  // Another claim holds the queue's row, and spends the bucket after this
  // claim started waiting for it.
  auto holder = open(scratch.url());
  pqxx::work lock{*holder};
  lock.exec("SELECT 1 FROM queue_settings WHERE queue = 'process_mails' "
            "FOR UPDATE");
  auto late = open(scratch.url());
  bool held_back = false;
  std::optional<caf::expected<std::vector<db::claimed_job>>> claimed;
  std::thread claimer{[&] {
    claimed.emplace(
        db::claim_jobs(*late, "process_mails", "w/late", 10, 1min, &held_back));
  }};
  EXPECT_TRUE(test::eventually(
      scratch.url(),
      "SELECT count(*) = 1 FROM pg_stat_activity WHERE wait_event_type = "
      "'Lock' AND query LIKE '%mailpipe_claim_jobs%'",
      10s));
  lock.exec("UPDATE queue_settings SET rate_tokens = 0, rate_refilled_at = "
            "clock_timestamp() WHERE queue = 'process_mails'");
  lock.commit();
  claimer.join();
  ASSERT_TRUE(claimed);
  ASSERT_TRUE(*claimed) << render(claimed->error());
  EXPECT_TRUE((*claimed)->empty());
  EXPECT_TRUE(held_back);
  EXPECT_EQ(state_of(*conn, "w-1"), "queued");
}

TEST(jobs, purge_deletes_finished_jobs_older_than_asked) {
  MAILPIPE_SCRATCH_DATABASE(scratch);
  auto conn = migrated(scratch.url());
  ASSERT_TRUE(conn);
  for (auto id : {"s-old", "s-new"}) {
    ASSERT_TRUE(db::enqueue_job(*conn, job(id, "send_notifications"))->added);
  }
  auto got = db::claim_jobs(*conn, "send_notifications", "n", 10, 1min);
  ASSERT_EQ(got->size(), 2u);
  for (auto& j : *got)
    ASSERT_TRUE(*db::complete_job(*conn, j.id, "n"));
  {
    pqxx::nontransaction tx{*conn};
    tx.exec("UPDATE jobs SET finished_at = now() - interval '8 days' "
            "WHERE id = 's-old'");
  }
  EXPECT_EQ(db::purge_jobs(*conn, "succeeded", 7 * 24h).value(), 1);
  EXPECT_EQ(state_of(*conn, "s-new"), "succeeded");
  EXPECT_EQ(state_of(*conn, "s-old").find("not_found"), 0u);
  EXPECT_FALSE(db::purge_jobs(*conn, "queued", 24h));
}

TEST(jobs, an_enqueue_wakes_a_listener_on_another_connection) {
  MAILPIPE_SCRATCH_DATABASE(scratch);
  auto worker = migrated(scratch.url());
  auto producer = open(scratch.url());
  ASSERT_TRUE(worker && producer);
  db::job_listener listener{*worker};
  auto quiet = listener.wait(100ms);
  ASSERT_TRUE(quiet) << render(quiet.error());
  EXPECT_FALSE(*quiet);
  ASSERT_TRUE(db::enqueue_job(*producer, job("wake-1"))->added);
  auto heard = listener.wait(30s);
  ASSERT_TRUE(heard);
  EXPECT_TRUE(*heard);
  // Nothing added, nothing notified: an id already there stays quiet.
  ASSERT_FALSE(db::enqueue_job(*producer, job("wake-1"))->added);
  EXPECT_FALSE(*listener.wait(200ms));
  // A bulk enqueue notifies too.
  ASSERT_EQ(db::enqueue_jobs(*producer, {job("wake-2"), job("wake-3")})->size(),
            2u);
  EXPECT_TRUE(*listener.wait(30s));
}
