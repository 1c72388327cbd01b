// A job worker whose connection breaks in the middle of a batch, on the real
// PostgreSQL: what the batch left is settled on the next connection, so a
// job that succeeded is recorded as such and a job never started keeps its
// attempt, even on their last one.

#include "actors/job_worker.hpp"

#include <map>
#include <mutex>
#include <string>

#include <caf/exit_reason.hpp>
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "adapters/db/connection.hpp"
#include "adapters/db/jobs.hpp"
#include "adapters/db/migrate.hpp"
#include "tests/support/actor_system.hpp"
#include "tests/support/env.hpp"

using namespace mailpipe;
using namespace std::chrono_literals;

namespace {

db::job_spec last_try(std::string id) {
  db::job_spec spec;
  spec.id = std::move(id);
  spec.queue = "process_mails";
  spec.max_attempts = 1;
  return spec;
}

// Ends the handler's own database session, as a server restart would.
void break_connection(pqxx::connection& conn) {
  try {
    pqxx::nontransaction{conn}.exec("SELECT pg_terminate_backend("
                                    "pg_backend_pid())");
  } catch (const std::exception&) {
  }
}

struct job_worker_fixture : test::actor_system_fixture {
  std::mutex mtx;
  std::map<std::string, int> runs;

  // Counts each run; a job whose id starts with "break" breaks the worker's
  // connection first, one that starts with "break-fail" then fails, and one
  // that starts with "uses-db" fails when its query does.
  job_handlers handlers() {
    auto handler =
        [this](const config&, pqxx::connection& conn,
               const db::claimed_job& job) -> caf::expected<std::string> {
      {
        std::lock_guard<std::mutex> guard{mtx};
        ++runs[job.id];
      }
      if (job.id.rfind("break", 0) == 0)
        break_connection(conn);
      if (job.id.rfind("break-fail", 0) == 0)
        return caf::make_error(ec::network, "the handler failed");
      if (job.id.rfind("uses-db", 0) == 0)
        try {
          pqxx::nontransaction{conn}.exec("SELECT 1");
        } catch (const std::exception& e) {
          return caf::make_error(ec::database_unavailable, e.what());
        }
      return std::string{};
    };
    return {{"process_mails", handler}};
  }

  int runs_of(const std::string& id) {
    std::lock_guard<std::mutex> guard{mtx};
    return runs[id];
  }
};

std::string state_of(pqxx::connection& conn, const std::string& id) {
  auto job = db::find_job(conn, id);
  return job ? job->state : render(job.error());
}

TEST_F(job_worker_fixture,
       a_batch_cut_by_a_broken_connection_is_settled_on_the_next) {
  MAILPIPE_SCRATCH_DATABASE(scratch);
  auto conn = db::connect(scratch.url());
  ASSERT_TRUE(conn) << render(conn.error());
  ASSERT_TRUE(db::migrate(**conn));
  config cfg;
  cfg.database.url = scratch.url();
  cfg.node.name = "worker-test";
  cfg.jobs.poll_interval = 1s;
  auto worker = sys.spawn<caf::detached>(
      job_worker, cfg, handlers(), int64_t{1}, std::make_shared<job_metrics>(),
      std::make_shared<store_gate>(int64_t{1}));
  // Quick jobs first, so that the worker claims the next ones together.
  ASSERT_TRUE(db::enqueue_jobs(
      **conn, {last_try("a-1"), last_try("a-2"), last_try("a-3")}));
  ASSERT_TRUE(test::eventually(
      scratch.url(), "SELECT count(*) = 3 FROM jobs WHERE state = 'succeeded'",
      15s));
  // A success its worker could not record: recorded on the next connection,
  // not dead as a lease that ended on its last attempt.
  ASSERT_TRUE(db::enqueue_job(**conn, last_try("break-ok")));
  EXPECT_TRUE(test::eventually(
      scratch.url(),
      "SELECT state = 'succeeded' FROM jobs WHERE id = 'break-ok'", 15s))
      << state_of(**conn, "break-ok");
  EXPECT_EQ(runs_of("break-ok"), 1);
  // A failure its worker could not record, and the job after it in the same
  // batch: the failure ended the last attempt (dead), and the job never
  // started is given back with its attempt and runs.
  ASSERT_TRUE(db::enqueue_jobs(
      **conn, {last_try("break-fail-1"), last_try("next-after-break")}));
  EXPECT_TRUE(test::eventually(
      scratch.url(),
      "SELECT state = 'succeeded' AND attempts = 1 FROM jobs WHERE id = "
      "'next-after-break'",
      15s))
      << state_of(**conn, "next-after-break");
  EXPECT_EQ(state_of(**conn, "break-fail-1"), "dead");
  EXPECT_EQ(runs_of("break-fail-1"), 1);
  EXPECT_EQ(runs_of("next-after-break"), 1);
  // A success on a connection it broke, then a job that would query on it:
  // the second is given back unrun, and runs once on the next connection.
  ASSERT_TRUE(
      db::enqueue_jobs(**conn, {last_try("break-then"), last_try("uses-db")}));
  EXPECT_TRUE(test::eventually(
      scratch.url(),
      "SELECT count(*) = 2 FROM jobs WHERE id IN ('break-then', 'uses-db') "
      "AND state = 'succeeded' AND attempts = 1",
      15s))
      << state_of(**conn, "uses-db");
  EXPECT_EQ(runs_of("break-then"), 1);
  EXPECT_EQ(runs_of("uses-db"), 1);
  caf::anon_send_exit(worker, caf::exit_reason::user_shutdown);
}

} // namespace
