// A `mailpipe run` node working the send_notifications queue: webhook jobs
// enqueued with `mailpipe jobs enqueue` reach a local receiver that checks
// their HMAC-SHA256 signature; a receiver that keeps failing sends the job to
// the dead-letter queue after its attempts, with a critical alert row; a
// payload that fails validation is dead at once.

#include <csignal>
#include <fstream>
#include <memory>
#include <thread>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "tests/support/child.hpp"
#include "tests/support/env.hpp"
#include "tests/support/http_stub.hpp"
#include "tests/support/smtp_stub.hpp"

using namespace mailpipe;
using namespace std::chrono_literals;
using test::stub_reply;
using test::stub_request;

namespace {

const std::string secret = "whsec_local_receiver_key";

// The receiver's own check of the documented scheme: "t=<secs>,v1=<hex>" over
// "<secs>.<body>".
bool signed_right(const stub_request& r) {
  auto header = r.header("Mailpipe-Signature");
  auto comma = header.find(",v1=");
  if (header.rfind("t=", 0) != 0 || comma == std::string::npos)
    return false;
  auto t = header.substr(2, comma - 2);
  auto text = t + "." + r.body;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(text.data()), text.size(), mac,
       &len);
  std::string hex;
  for (unsigned i = 0; i < len; ++i)
    hex += fmt::format("{:02x}", mac[i]);
  auto age = std::time(nullptr) - std::stoll(t);
  return header.substr(comma + 4) == hex && age >= 0 && age < 60;
}

std::string webhook_payload(const std::string& url) {
  return fmt::format(
      R"({{"channel":"webhook","url":"{}","event":)"
      R"("test.completed","data":{{"token":"mp-42","inbox":0.5}}}})",
      url);
}

class jobs_node : public ::testing::Test {
protected:
  void SetUp() override {
    ASSERT_FALSE(db_.url().empty()) << "no PostgreSQL: run with tools/test";
    receiver_.on("POST", "/hook", [](const stub_request& r) {
      return signed_right(r) ? stub_reply::json(204, "")
                             : stub_reply::json(401, R"({"error":"bad sig"})");
    });
    receiver_.script("POST", "/down",
                     {stub_reply::json(500, R"({"error":"down"})")});
    env_ = {"MAILPIPE_DATABASE_URL=" + db_.url(), "HOOK_SECRET=" + secret,
            "MAILPIPE_SECRET_KEY=" + std::string(43, 'A') + "="};
    auto migrate =
        test::run_process({test::mailpipe_binary(), "migrate"}, env_);
    ASSERT_EQ(migrate.status, 0) << migrate.err;
  }

  // A node named `name` with `workers` job workers holding leases of `lease`
  // and looking for jobs every `poll` without a notification.
  std::unique_ptr<test::child_process>
  start_node(const std::string& name, int workers, const std::string& lease,
             const std::string& poll, const std::string& more = "") {
    auto dir = fmt::format("{}{}-{}", ::testing::TempDir(), name, getpid());
    auto cfg = dir + ".toml";
    std::ofstream{cfg} << fmt::format(
        "[node]\nname = \"{}\"\nshutdown_grace = \"3s\"\n"
        "[http]\nlisten = \"\"\n"
        "[processing]\ninterval = \"1h\"\n"
        "[jobs]\nworkers = {}\nbackoff = \"100ms\"\nlease = \"{}\"\n"
        "poll_interval = \"{}\"\n"
        "[notifications]\nwebhook_secret = \"${{HOOK_SECRET}}\"\n"
        "timeout = \"5s\"\n[log]\ndir = \"{}\"\n{}",
        name, workers, lease, poll, dir, more);
    return std::make_unique<test::child_process>(
        std::vector<std::string>{test::mailpipe_binary(), "--config", cfg,
                                 "run"},
        env_, name);
  }

  void enqueue(const std::string& id, const std::string& payload) {
    auto r = test::run_process({test::mailpipe_binary(), "jobs", "enqueue",
                                "send_notifications", "--id", id, "--payload",
                                payload},
                               env_);
    ASSERT_EQ(r.status, 0) << r.err;
  }

  int64_t count_jobs(const std::string& like) {
    pqxx::connection c{db_.url()};
    return pqxx::nontransaction{c}
        .exec_params1("SELECT count(*) FROM jobs WHERE id LIKE $1", like)[0]
        .as<int64_t>();
  }

  bool eventually(const std::string& sql) {
    return test::eventually(db_.url(), sql, 30s);
  }

  test::scratch_database db_;
  test::http_stub receiver_;
  std::vector<std::string> env_;
  std::unique_ptr<test::child_process> node_;
};

} // namespace

TEST_F(jobs_node, webhooks_are_signed_retried_and_dead_lettered_with_an_alert) {
  // No polling within the test: the jobs come by notification, the retries
  // at the time their worker set.
  node_ = start_node("jobs-node", 2, "1m", "1h");
  enqueue("hook-ok", webhook_payload(receiver_.url() + "/hook"));
  enqueue("hook-down", webhook_payload(receiver_.url() + "/down"));
  enqueue("hook-bad", R"({"channel":"webhook","event":"x","data":{}})");

  EXPECT_TRUE(eventually("SELECT state = 'succeeded' AND attempts = 1 FROM "
                         "jobs WHERE id = 'hook-ok'"))
      << node_->output();
  auto posts = receiver_.requests("/hook");
  ASSERT_EQ(posts.size(), 1u);
  EXPECT_TRUE(signed_right(posts[0])) << posts[0].header("Mailpipe-Signature");
  // The data as the jsonb payload keeps it (keys in jsonb's order).
  EXPECT_EQ(posts[0].body, R"({"id":"hook-ok","event":"test.completed",)"
                           R"("data":{"inbox":0.5,"token":"mp-42"}})");

  // Three attempts (backoff 100 ms, then about 200 ms), then dead, alerted.
  EXPECT_TRUE(eventually("SELECT state = 'dead' AND attempts = 3 AND "
                         "last_error LIKE '%HTTP 500%' FROM jobs WHERE id = "
                         "'hook-down'"))
      << node_->output();
  EXPECT_EQ(receiver_.count("/down"), 3u);
  // Validation failed: dead at its first attempt, the field named.
  EXPECT_TRUE(eventually("SELECT state = 'dead' AND attempts = 1 AND "
                         "last_error LIKE '%url%' FROM jobs WHERE id = "
                         "'hook-bad'"));
  EXPECT_TRUE(eventually("SELECT count(*) = 2 FROM alerts WHERE kind = "
                         "'job_dead' AND severity = 'critical'"))
      << node_->output();

  node_->signal(SIGTERM);
  EXPECT_EQ(node_->wait_exit(15s), 0) << node_->output();
  // The secret is in no output.
  EXPECT_EQ(node_->output().find(secret), std::string::npos);
}

TEST_F(jobs_node, a_job_of_a_node_killed_mid_job_is_finished_once_by_another) {
  // The first delivery hangs; the node doing it is killed meanwhile.
  receiver_.script(
      "POST", "/slow",
      {stub_reply::json(204, "").after(4s), stub_reply::json(204, "")});
  auto a = start_node("jobs-a", 1, "2s", "200ms");
  enqueue("hook-slow", webhook_payload(receiver_.url() + "/slow"));
  ASSERT_TRUE(eventually("SELECT state = 'running' AND lease_owner = "
                         "'jobs-a/1' FROM jobs WHERE id = 'hook-slow'"))
      << a->output();
  // Killed while its POST waits for the answer.
  for (int i = 0; i < 200 && receiver_.count("/slow") == 0; ++i)
    std::this_thread::sleep_for(50ms);
  ASSERT_EQ(receiver_.count("/slow"), 1u);
  a->signal(SIGKILL);
  a->wait_exit(5s);
  auto b = start_node("jobs-b", 1, "2s", "200ms");
  EXPECT_TRUE(eventually("SELECT state = 'succeeded' AND attempts = 2 FROM "
                         "jobs WHERE id = 'hook-slow'"))
      << b->output();
  EXPECT_EQ(receiver_.count("/slow"), 2u); // the killed attempt, then b's
  EXPECT_NE(b->output().find("took back 1 job"), std::string::npos)
      << b->output();
  b->signal(SIGTERM);
  EXPECT_EQ(b->wait_exit(15s), 0);
}

TEST_F(jobs_node, a_job_longer_than_its_lease_keeps_it_and_runs_once) {
  // The receiver answers after 3 s; the lease is 1 s. While node a's worker
  // waits, its lease keeper renews the lease, so node b (which takes back
  // expired leases every third of a second) never takes the job.
  receiver_.script("POST", "/slow", {stub_reply::json(204, "").after(3s)});
  auto a = start_node("jobs-long-a", 1, "1s", "200ms");
  enqueue("hook-long", webhook_payload(receiver_.url() + "/slow"));
  ASSERT_TRUE(eventually("SELECT state = 'running' AND lease_owner = "
                         "'jobs-long-a/1' FROM jobs WHERE id = 'hook-long'"))
      << a->output();
  auto b = start_node("jobs-long-b", 1, "1s", "200ms");
  EXPECT_TRUE(eventually("SELECT state = 'succeeded' AND attempts = 1 FROM "
                         "jobs WHERE id = 'hook-long'"))
      << a->output() << b->output();
  EXPECT_EQ(receiver_.count("/slow"), 1u);
  EXPECT_EQ(b->output().find("took back"), std::string::npos) << b->output();
  for (auto* node : {a.get(), b.get()}) {
    node->signal(SIGTERM);
    EXPECT_EQ(node->wait_exit(15s), 0) << node->output();
  }
}

TEST_F(jobs_node, discord_messages_obey_a_429_and_bad_payloads_are_dead) {
  const std::string hook = "/api/webhooks/7/s3cret-token";
  receiver_.script(
      "POST", hook,
      {stub_reply::json(429, R"({"message": "You are being rate limited.", )"
                             R"("retry_after": 0.05, "global": false})")
           .with_header("X-RateLimit-Remaining", "0")
           .with_header("X-RateLimit-Reset-After", "0.05"),
       stub_reply::json(204, "")});
  node_ = start_node("jobs-discord", 1, "1m", "1h",
                     fmt::format("[alerts]\ndiscord_webhook_url = \"{}{}\"\n",
                                 receiver_.url(), hook));
  enqueue("discord-1", R"({"channel":"discord","title":"Test mp-42 finished",)"
                       R"("description":"inbox 80 %, spam 20 %"})");
  enqueue("discord-bad", R"({"channel":"discord","description":"no title"})");
  enqueue("smtp-1", R"({"channel":"smtp","to":"ops@example.test"})");
  // Refused once with a 429: snoozed for Discord's retry_after, then
  // delivered, on one attempt and with no error.
  EXPECT_TRUE(eventually("SELECT state = 'succeeded' AND attempts = 1 AND "
                         "last_error IS NULL FROM jobs WHERE id = 'discord-1'"))
      << node_->output();
  EXPECT_NE(node_->output().find("job discord-1: Discord asks to wait 50ms "
                                 "(429): snoozed"),
            std::string::npos)
      << node_->output();
  // The same webhook also gets the node's alerts: the two dead jobs below.
  std::vector<stub_request> posts, alerts;
  for (auto& r : receiver_.requests(hook))
    (r.body.find("Test mp-42") != std::string::npos ? posts : alerts)
        .push_back(r);
  ASSERT_EQ(posts.size(), 2u);
  EXPECT_EQ(posts[1].param("wait"), "true");
  EXPECT_NE(posts[1].body.find(R"("title":"Test mp-42 finished")"),
            std::string::npos)
      << posts[1].body;
  EXPECT_NE(posts[1].body.find("jobs-discord"), std::string::npos)
      << posts[1].body; // the node's name as the footer
  EXPECT_TRUE(eventually("SELECT state = 'dead' AND attempts = 1 AND "
                         "last_error LIKE '%title%' FROM jobs WHERE id = "
                         "'discord-bad'"));
  EXPECT_TRUE(eventually("SELECT state = 'dead' AND attempts = 1 AND "
                         "last_error LIKE '%channel%' FROM jobs WHERE id = "
                         "'smtp-1'"));
  EXPECT_TRUE(eventually("SELECT count(*) = 2 FROM alerts WHERE kind = "
                         "'job_dead' AND state = 'delivered'"));
  node_->signal(SIGTERM);
  EXPECT_EQ(node_->wait_exit(15s), 0) << node_->output();
  // The webhook's token is a secret: in no log line.
  EXPECT_EQ(node_->output().find("s3cret-token"), std::string::npos);
}

TEST_F(jobs_node, emails_go_through_smtp_and_a_dead_job_mails_the_admins) {
  test::smtp_stub smtp{{"451 4.3.0 busy, try later", "250 2.0.0 queued"}};
  node_ = start_node(
      "jobs-email", 1, "1m", "1h",
      fmt::format("[smtp]\nurl = \"{}\"\nfrom = \"mailpipe@ops.test\"\n"
                  "admin_to = \"admin@ops.test, oncall@ops.test\"\n"
                  "require_tls = false\ntimeout = \"5s\"\n",
                  smtp.url()));
  enqueue("mail-1", R"({"channel":"email","to":"customer@example.test",)"
                    R"("subject":"Test mp-42 finished","text":"inbox 80 %"})");
  // Deferred once (451), taken at the retry.
  EXPECT_TRUE(eventually("SELECT state = 'succeeded' AND attempts = 2 FROM "
                         "jobs WHERE id = 'mail-1'"))
      << node_->output();
  // A job that can never succeed is dead, and the admins get an email of it.
  enqueue("hook-nourl", R"({"channel":"webhook","event":"x","data":{}})");
  EXPECT_TRUE(eventually("SELECT count(*) = 1 FROM jobs WHERE state = "
                         "'succeeded' AND id LIKE 'admin-email:hook-nourl:%'"))
      << node_->output();
  auto taken = smtp.messages();
  ASSERT_EQ(taken.size(), 2u);
  EXPECT_EQ(taken[0].to, std::vector<std::string>{"customer@example.test"});
  EXPECT_NE(taken[0].data.find("Subject: Test mp-42 finished\r\n"),
            std::string::npos);
  EXPECT_NE(taken[0].data.find("Message-ID: <mail-1@mailpipe>"),
            std::string::npos);
  EXPECT_EQ(taken[1].to,
            (std::vector<std::string>{"admin@ops.test", "oncall@ops.test"}));
  EXPECT_NE(taken[1].data.find("job hook-nourl is dead"), std::string::npos)
      << taken[1].data;
  EXPECT_NE(taken[1].data.find("mailpipe jobs redrive hook-nourl"),
            std::string::npos);
  // A dead email job mails nobody (it could not be sent either).
  enqueue("mail-bad", R"({"channel":"email","to":"nobody","subject":"s",)"
                      R"("text":"t"})");
  EXPECT_TRUE(eventually("SELECT state = 'dead' FROM jobs WHERE id = "
                         "'mail-bad'"));
  EXPECT_EQ(count_jobs("admin-email:mail-bad:%"), 0);
  node_->signal(SIGTERM);
  EXPECT_EQ(node_->wait_exit(15s), 0) << node_->output();
}
