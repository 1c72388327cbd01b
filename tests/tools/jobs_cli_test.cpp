// `mailpipe jobs ...` and `mailpipe queue ...` through the built binary, on a
// scratch PostgreSQL database.

#include <memory>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "adapters/db/connection.hpp"
#include "adapters/db/jobs.hpp"
#include "adapters/db/migrate.hpp"
#include "tests/support/child.hpp"
#include "tests/support/env.hpp"

using namespace mailpipe;
using namespace std::chrono_literals;

namespace {

struct jobs_cli {
  std::string url;
  std::unique_ptr<pqxx::connection> conn;

  explicit jobs_cli(const std::string& db_url) : url(db_url) {
    conn = std::move(*db::connect(url));
    EXPECT_TRUE(db::migrate(*conn));
  }

  std::vector<std::string> env() const {
    return {"MAILPIPE_DATABASE_URL=" + url};
  }

  test::run_result run(std::vector<std::string> args) {
    args.insert(args.begin(), test::mailpipe_binary());
    return test::run_process(args, env());
  }

  int64_t scalar(const std::string& sql) {
    pqxx::nontransaction tx{*conn};
    return tx.exec1(sql)[0].as<int64_t>();
  }
};

} // namespace

TEST(jobs_cli, one_id_enqueued_by_two_processes_at_once_is_one_row) {
  MAILPIPE_SCRATCH_DATABASE(scratch);
  jobs_cli c{scratch.url()};
  std::vector<std::unique_ptr<test::child_process>> procs;
  for (int i = 0; i < 2; ++i)
    procs.push_back(std::make_unique<test::child_process>(
        std::vector<std::string>{
            test::mailpipe_binary(), "jobs", "enqueue", "process_mails", "--id",
            "newsletter-42", "--payload", R"({"newsletter_id":42})", "--json"},
        c.env(), "enqueue-" + std::to_string(i)));
  std::string outputs;
  for (auto& p : procs) {
    EXPECT_EQ(p->wait_exit(30s), 0) << p->output();
    outputs += p->output();
  }
  EXPECT_EQ(c.scalar("SELECT count(*) FROM jobs"), 1);
  // One was told it added the job, the other that it was already there.
  EXPECT_NE(outputs.find(R"("added":true)"), std::string::npos) << outputs;
  EXPECT_NE(outputs.find(R"("added":false,"state":"queued")"),
            std::string::npos)
      << outputs;
}

TEST(jobs_cli, enqueue_list_show_and_mistakes) {
  MAILPIPE_SCRATCH_DATABASE(scratch);
  jobs_cli c{scratch.url()};
  auto add = c.run({"jobs", "enqueue", "index_news", "--id", "n-1", "--payload",
                    R"({"newsletter_id":1})", "--priority", "high"});
  EXPECT_EQ(add.status, 0) << add.err;
  EXPECT_EQ(add.out, "added job n-1 to index_news\n");
  auto again = c.run(
      {"jobs", "enqueue", "index_news", "--id", "n-1", "--payload", "{}"});
  EXPECT_EQ(again.status, 0);
  EXPECT_NE(again.out.find("already there (queued)"), std::string::npos)
      << again.out;
  auto list = c.run({"jobs", "list", "--queue", "index_news", "--json"});
  EXPECT_EQ(list.status, 0) << list.err;
  EXPECT_NE(
      list.out.find(R"("id":"n-1","queue":"index_news","priority":"high")"),
      std::string::npos)
      << list.out;
  auto show = c.run({"jobs", "show", "n-1"});
  EXPECT_EQ(show.status, 0);
  EXPECT_NE(show.out.find(R"(payload     {"newsletter_id": 1})"),
            std::string::npos)
      << show.out;
  // Usage mistakes are exit 2 and add nothing; an unknown id is exit 1.
  EXPECT_EQ(c.run({"jobs", "enqueue", "index_news", "--id", "n-2", "--payload",
                   "{not json"})
                .status,
            2);
  EXPECT_EQ(
      c.run({"jobs", "enqueue", "no_queue", "--id", "n-3", "--payload", "{}"})
          .status,
      2);
  EXPECT_EQ(c.run({"jobs", "list", "--state", "lost"}).status, 2);
  EXPECT_EQ(
      c.run({"jobs", "purge", "--state", "succeeded", "--older-than", "soon"})
          .status,
      2);
  auto missing = c.run({"jobs", "show", "nope"});
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.err.find("no job 'nope'"), std::string::npos);
  EXPECT_EQ(c.scalar("SELECT count(*) FROM jobs"), 1);
}

TEST(jobs_cli, dead_jobs_are_listed_and_redriven_queues_paused_and_counted) {
  MAILPIPE_SCRATCH_DATABASE(scratch);
  jobs_cli c{scratch.url()};
  db::job_spec spec;
  spec.id = "w-1";
  spec.queue = "send_notifications";
  spec.payload_json = R"({"channel":"webhook"})";
  ASSERT_TRUE(db::enqueue_job(*c.conn, spec)->added);
  ASSERT_EQ(db::claim_jobs(*c.conn, spec.queue, "node-a", 1, 1min)->size(), 1u);
  ASSERT_TRUE(db::fail_job(*c.conn, "w-1", "node-a",
                           "HTTP 410 from the receiver", true, 0s)
                  ->dead);
  auto dead = c.run({"jobs", "dead"});
  EXPECT_EQ(dead.status, 0);
  EXPECT_NE(dead.out.find("HTTP 410 from the receiver"), std::string::npos)
      << dead.out;
  auto redrive = c.run({"jobs", "redrive", "w-1"});
  EXPECT_EQ(redrive.status, 0) << redrive.err;
  EXPECT_EQ(db::find_job(*c.conn, "w-1")->state, "queued");
  EXPECT_EQ(c.run({"jobs", "redrive", "w-1"}).status, 1); // not dead now

  auto pause = c.run({"queue", "pause", "send_notifications"});
  EXPECT_EQ(pause.status, 0);
  EXPECT_EQ(pause.out, "queue send_notifications paused\n");
  EXPECT_TRUE(db::claim_jobs(*c.conn, "send_notifications", "node-a", 10, 1min)
                  ->empty());
  auto queues = c.run({"queue", "list", "--json"});
  EXPECT_NE(queues.out.find(R"({"queue":"send_notifications","paused":true,)"
                            R"("queued":1,)"),
            std::string::npos)
      << queues.out;
  EXPECT_EQ(c.run({"queue", "resume", "send_notifications"}).status, 0);
  EXPECT_EQ(
      db::claim_jobs(*c.conn, "send_notifications", "node-a", 10, 1min)->size(),
      1u);
  auto limit = c.run(
      {"queue", "limit", "index_news", "--concurrency", "2", "--rate", "1.5"});
  EXPECT_EQ(limit.status, 0) << limit.err;
  EXPECT_EQ(limit.out,
            "queue index_news: concurrency 2, rate 1.5 per second\n");
  auto limited = c.run({"queue", "list", "--json"});
  EXPECT_NE(limited.out.find(R"("queue":"index_news")"), std::string::npos);
  EXPECT_NE(limited.out.find(R"("concurrency":2,"rate_per_second":1.5})"),
            std::string::npos)
      << limited.out;
  EXPECT_EQ(c.run({"queue", "limit", "index_news", "--rate", "-1"}).status, 2);
  EXPECT_EQ(c.run({"queue", "limit", "nope"}).status, 2);
  auto lifted = c.run({"queue", "limit", "index_news"});
  EXPECT_EQ(lifted.out, "queue index_news: concurrency none, rate none per "
                        "second\n");
  EXPECT_EQ(c.scalar("SELECT count(*) FROM queue_settings WHERE paused"), 0);
}
