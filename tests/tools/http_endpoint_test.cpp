// The HTTP endpoint of a `mailpipe run` node, with real HTTP requests:
// /healthz, /readyz and /metrics; the REST API behind its bearer token (the
// same JSON as the commands, bad input a 400 naming the field); Gmail Pub/Sub
// push and Microsoft Graph change notifications becoming fetch_emails jobs,
// deduplicated; a 500 raising a critical alert; a port in use stopping the
// node with a clear error.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <memory>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <pqxx/pqxx>

#include "adapters/sys/crypto.hpp"
#include "tests/support/child.hpp"
#include "tests/support/env.hpp"

using namespace mailpipe;
using namespace std::chrono_literals;

namespace {

const std::string api_token = "api-token-for-tests-0123456789";
const std::string push_token = "gmail-push-token-42";
const std::string client_state = "graph-client-state-7";

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A port nobody listens on right now.
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string gmail_push_body(const std::string& email, int64_t history_id) {
  auto data = crypto::base64_encode(fmt::format(
      R"({{"emailAddress":"{}","historyId":{}}})", email, history_id));
  return fmt::format(
      R"({{"message":{{"data":"{}","messageId":"2070443601311540",)"
      R"("publishTime":"2026-12-05T10:00:00Z"}},)"
      R"("subscription":"projects/p/subscriptions/mailpipe"}})",
      data);
}

std::string graph_notification(const std::string& state,
                               const std::string& message_id) {
  return fmt::format(
      R"({{"value":[{{"subscriptionId":"sub-1","clientState":"{}",)"
      R"("changeType":"created","resource":"Users/u-1/Messages/{}",)"
      R"("resourceData":{{"@odata.type":"#Microsoft.Graph.Message",)"
      R"("id":"{}"}},"tenantId":"t-1"}}]}})",
      state, message_id, message_id);
}

class http_endpoint : public ::testing::Test {
protected:
  void SetUp() override {
    ASSERT_FALSE(db_.url().empty()) << "no PostgreSQL: run with tools/test";
    env_ = {"MAILPIPE_DATABASE_URL=" + db_.url(), "API_TOKEN=" + api_token,
            "PUSH_TOKEN=" + push_token, "CLIENT_STATE=" + client_state};
    auto migrate =
        test::run_process({test::mailpipe_binary(), "migrate"}, env_);
    ASSERT_EQ(migrate.status, 0) << migrate.err;
    // The jobs the endpoint queues stay queued: what is tested here is the
    // endpoint, not the fetch_emails handler (tests/tools/fetch_job_test.cpp).
    auto pause = test::run_process(
        {test::mailpipe_binary(), "queue", "pause", "fetch_emails"}, env_);
    ASSERT_EQ(pause.status, 0) << pause.err;
    pqxx::connection c{db_.url()};
    pqxx::work tx{c};
    gmail_id_ = tx.exec1("INSERT INTO email_accounts (email, provider, "
                         "auth_method) VALUES ('seed@gmail.test', 'gmail', "
                         "'oauth2') RETURNING id")[0]
                    .as<int64_t>();
    outlook_id_ = tx.exec1("INSERT INTO email_accounts (email, provider, "
                           "auth_method) VALUES ('seed@outlook.test', "
                           "'outlook', 'oauth2') RETURNING id")[0]
                      .as<int64_t>();
    tx.exec("INSERT INTO email_accounts (email, provider, imap_host, "
            "imap_port, imap_security, username) VALUES ('seed@imap.test', "
            "'imap', '127.0.0.1', 143, 'plain', 'seed')");
    tx.commit();
    port_ = free_port();
    node_ = start_node("http-node", port_, true);
    ASSERT_TRUE(wait_listening(port_)) << node_->output();
  }

  // A node serving 127.0.0.1:`port`, with the API and push secrets when
  // `secrets`.
  std::unique_ptr<test::child_process> start_node(const std::string& name,
                                                  int port, bool secrets) {
    auto dir = fmt::format("{}{}-{}", ::testing::TempDir(), name, getpid());
    auto cfg = dir + ".toml";
    std::ofstream{cfg} << fmt::format(
        "[node]\nname = \"{}\"\nshutdown_grace = \"3s\"\n"
        "[http]\nlisten = \"127.0.0.1:{}\"\n{}"
        "[processing]\ninterval = \"1h\"\n[jobs]\nworkers = 1\n"
        // No test here sends a run to the providers; were one to, it stays on
        // the loopback.
        "[gmail]\napi_url = \"http://127.0.0.1:9\"\n"
        "token_url = \"http://127.0.0.1:9/token\"\n"
        "[outlook]\napi_url = \"http://127.0.0.1:9\"\n"
        "token_url = \"http://127.0.0.1:9/token\"\n"
        "[log]\ndir = \"{}\"\n",
        name, port,
        secrets ? "api_token = \"${API_TOKEN}\"\n"
                  "gmail_push_token = \"${PUSH_TOKEN}\"\n"
                  "graph_client_state = \"${CLIENT_STATE}\"\n"
                : "",
        dir);
    return std::make_unique<test::child_process>(
        std::vector<std::string>{test::mailpipe_binary(), "--config", cfg,
                                 "run"},
        env_, name);
  }

  static bool wait_listening(int port) {
    httplib::Client client{"127.0.0.1", port};
    for (int i = 0; i < 300; ++i) {
      if (auto res = client.Get("/healthz"); res && res->status == 200)
        return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  httplib::Client client(bool with_token = true) {
    httplib::Client c{"127.0.0.1", port_};
    c.set_read_timeout(10);
    if (with_token)
      c.set_bearer_token_auth(api_token.c_str());
    return c;
  }

  httplib::Result post(const std::string& path, const std::string& body) {
    return client().Post(path.c_str(), body, "application/json");
  }

  int64_t count(const std::string& sql) {
    pqxx::connection c{db_.url()};
    return pqxx::nontransaction{c}.exec1(sql)[0].as<int64_t>();
  }

  test::scratch_database db_;
  std::vector<std::string> env_;
  int64_t gmail_id_ = 0;
  int64_t outlook_id_ = 0;
  int port_ = 0;
  std::unique_ptr<test::child_process> node_;
};

} // namespace

TEST_F(http_endpoint, answers_health_readiness_and_prometheus_metrics) {
  auto c = client(false);
  auto health = c.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto ready = c.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200) << ready->body;
  EXPECT_TRUE(contains(ready->body, R"("database":"ok")")) << ready->body;

  ASSERT_EQ(post("/api/v1/jobs",
                 R"({"queue":"fetch_emails","id":"m-1","payload":{}})")
                ->status,
            201);
  ASSERT_EQ(post("/api/v1/jobs",
                 R"({"queue":"fetch_emails","id":"m-2","payload":{}})")
                ->status,
            201);
  auto metrics = c.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->get_header_value("Content-Type"),
            "text/plain; version=0.0.4");
  auto& text = metrics->body;
  EXPECT_TRUE(contains(text, "mailpipe_database_up 1\n")) << text;
  EXPECT_TRUE(contains(
      text, "mailpipe_jobs{queue=\"fetch_emails\",state=\"queued\"} 2\n"))
      << text;
  EXPECT_TRUE(
      contains(text, "mailpipe_jobs{queue=\"index_news\",state=\"dead\"} 0\n"))
      << text;
  EXPECT_TRUE(contains(text, "mailpipe_accounts{state=\"active\"} 3\n"))
      << text;
  EXPECT_TRUE(contains(text, "mailpipe_accounts{state=\"disabled\"} 0\n"))
      << text;
  EXPECT_TRUE(
      contains(text, "# TYPE mailpipe_job_duration_seconds histogram\n"))
      << text;
  EXPECT_TRUE(contains(text, "mailpipe_job_duration_seconds_bucket{queue="
                             "\"send_notifications\",le=\"+Inf\"} 0\n"))
      << text;
  EXPECT_TRUE(contains(text, "# TYPE mailpipe_nodes gauge\n")) << text;
  EXPECT_TRUE(contains(text, "mailpipe_alerts{state=\"failed\"} 0\n")) << text;
  // No secret reaches the page.
  EXPECT_FALSE(contains(text, api_token));
}

TEST_F(http_endpoint, the_api_wants_its_bearer_token) {
  auto none = client(false).Get("/api/v1/accounts");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(none->get_header_value("WWW-Authenticate"), "Bearer");
  EXPECT_TRUE(contains(none->body, R"("field":"Authorization")")) << none->body;
  auto wrong = client(false);
  wrong.set_bearer_token_auth("api-token-for-tests-0123456788");
  EXPECT_EQ(wrong.Get("/api/v1/accounts")->status, 401);

  pqxx::connection c{db_.url()};
  pqxx::nontransaction{c}.exec("UPDATE email_accounts SET active = false, "
                               "disabled_reason = 'auth' WHERE provider = "
                               "'imap'");
  auto ok = client().Get("/api/v1/accounts");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_TRUE(contains(ok->body, R"("email":"seed@gmail.test","provider":)"
                                 R"("gmail","state":"active")"))
      << ok->body;
  EXPECT_TRUE(contains(ok->body, R"("email":"seed@imap.test","provider":)"
                                 R"("imap","state":"disabled")"))
      << ok->body;
  EXPECT_FALSE(contains(ok->body, "secret_encrypted"));
}

TEST_F(http_endpoint, creates_a_test_and_reports_it_as_test_show_does) {
  auto made = post("/api/v1/tests", R"({"token":"mp-api-1","name":"launch"})");
  ASSERT_TRUE(made);
  EXPECT_EQ(made->status, 201) << made->body;
  EXPECT_EQ(made->body, R"({"token":"mp-api-1","accounts":3})");

  auto again = post("/api/v1/tests", R"({"token":"mp-api-1"})");
  EXPECT_EQ(again->status, 409);
  EXPECT_TRUE(contains(again->body, R"("field":"token")")) << again->body;

  struct bad_case {
    std::string body;
    std::string field;
  };
  for (auto& bad : std::vector<bad_case>{
           {R"({"token":5})", "token"},
           {R"({"token":"t2","accounts":"all"})", "accounts"},
           {R"({"token":"t3","accounts":[999999]})", "accounts"},
           {R"({"token":"t4","expires_in":"soon"})", "expires_in"},
           {R"({"token":"t5","name":["x"]})", "name"},
           {R"({"token":"t6\u0007"})", "token"},
           {R"({"token":")" + std::string(513, 't') + R"("})", "token"}}) {
    auto res = post("/api/v1/tests", bad.body);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << bad.body << " -> " << res->body;
    EXPECT_TRUE(contains(res->body, "\"field\":\"" + bad.field + "\""))
        << bad.body << " -> " << res->body;
  }
  EXPECT_EQ(post("/api/v1/tests", "not json")->status, 400);
  EXPECT_EQ(count("SELECT count(*) FROM tests"), 1);

  auto report = client().Get("/api/v1/tests/mp-api-1");
  ASSERT_TRUE(report);
  EXPECT_EQ(report->status, 200);
  auto shown = test::run_process(
      {test::mailpipe_binary(), "test", "show", "mp-api-1", "--json"}, env_);
  ASSERT_EQ(shown.status, 0) << shown.err;
  EXPECT_EQ(report->body, shown.out);
  EXPECT_TRUE(contains(report->body, R"("rates":{"inbox":0.0000)"))
      << report->body;

  auto unknown = client().Get("/api/v1/tests/no-such-test");
  EXPECT_EQ(unknown->status, 404);
  // "0": a test that never expires.
  EXPECT_EQ(
      post("/api/v1/tests", R"({"token":"mp-api-0","expires_in":"0"})")->status,
      201);
  EXPECT_EQ(count("SELECT count(*) FROM tests WHERE test_id = 'mp-api-0' AND "
                  "expires_at IS NULL"),
            1);
  // A token with slashes is shown by its path too.
  EXPECT_EQ(post("/api/v1/tests", R"({"token":"mp/api/2"})")->status, 201);
  auto slashed = client().Get("/api/v1/tests/mp/api/2");
  ASSERT_TRUE(slashed);
  EXPECT_EQ(slashed->status, 200) << slashed->body;
}

TEST_F(http_endpoint, enqueues_lists_dead_jobs_and_redrives_them) {
  auto added = post("/api/v1/jobs", R"({"queue":"fetch_emails","id":"j-1",)"
                                    R"("payload":{"account_id":1},)"
                                    R"("priority":"medium","delay":"1h"})");
  ASSERT_TRUE(added);
  EXPECT_EQ(added->status, 201) << added->body;
  EXPECT_EQ(added->body, R"({"id":"j-1","added":true,"state":"queued"})");
  auto twice = post("/api/v1/jobs", R"({"queue":"fetch_emails","id":"j-1"})");
  EXPECT_EQ(twice->status, 200);
  EXPECT_EQ(twice->body, R"({"id":"j-1","added":false,"state":"queued"})");
  EXPECT_EQ(count("SELECT count(*) FROM jobs WHERE id = 'j-1' AND priority = "
                  "1 AND run_at > now() + interval '50 minutes'"),
            1);

  struct bad_case {
    std::string body;
    std::string field;
  };
  for (auto& bad : std::vector<bad_case>{
           {R"({"queue":"nope","id":"x"})", "queue"},
           {R"({"queue":"index_news"})", "id"},
           {R"({"queue":"index_news","id":"x","payload":[1]})", "payload"},
           {R"({"queue":"index_news","id":"x","priority":"low"})", "priority"},
           {R"({"queue":"index_news","id":"x","delay":"-"})", "delay"},
           // What PostgreSQL would refuse (a 500 and an alert otherwise).
           {R"({"queue":"index_news","id":"x\u0000y"})", "id"},
           {R"({"queue":"index_news","id":")" + std::string(513, 'x') + R"("})",
            "id"},
           {R"({"queue":"index_news","id":"x","payload":{"a":["\u0000"]}})",
            "payload"}}) {
    auto res = post("/api/v1/jobs", bad.body);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << bad.body << " -> " << res->body;
    EXPECT_TRUE(contains(res->body, "\"field\":\"" + bad.field + "\""))
        << bad.body << " -> " << res->body;
  }
  EXPECT_EQ(count("SELECT count(*) FROM jobs"), 1);

  pqxx::connection c{db_.url()};
  pqxx::nontransaction{c}.exec("UPDATE jobs SET state = 'dead', attempts = 3, "
                               "last_error = 'gave up' WHERE id = 'j-1'");
  auto dead = client().Get("/api/v1/jobs/dead");
  ASSERT_TRUE(dead);
  EXPECT_EQ(dead->status, 200);
  EXPECT_TRUE(contains(dead->body, R"("id":"j-1","queue":"fetch_emails")"))
      << dead->body;
  EXPECT_TRUE(contains(dead->body, R"("last_error":"gave up")")) << dead->body;

  auto redriven = post("/api/v1/jobs/j-1/redrive", "");
  EXPECT_EQ(redriven->status, 200) << redriven->body;
  EXPECT_EQ(count("SELECT count(*) FROM jobs WHERE id = 'j-1' AND state = "
                  "'queued' AND attempts = 0"),
            1);
  EXPECT_EQ(post("/api/v1/jobs/j-1/redrive", "")->status, 409);
  EXPECT_EQ(post("/api/v1/jobs/nope/redrive", "")->status, 404);
  // An id with slashes (a Graph resource path) is redriven by its path too.
  EXPECT_EQ(
      post("/api/v1/jobs", R"({"queue":"fetch_emails","id":"j/2"})")->status,
      201);
  pqxx::nontransaction{c}.exec(
      "UPDATE jobs SET state = 'dead' WHERE id = 'j/2'");
  EXPECT_EQ(post("/api/v1/jobs/j/2/redrive", "")->status, 200);
  EXPECT_EQ(count("SELECT count(*) FROM alerts WHERE kind = 'http_500'"), 0);
}

TEST_F(http_endpoint, gmail_push_becomes_one_fetch_job_per_history_id) {
  auto c = client(false);
  auto path = "/push/gmail?token=" + push_token;
  auto body = gmail_push_body("seed@gmail.test", 987654321);
  auto wrong = c.Post("/push/gmail?token=nope", body, "application/json");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 403);
  EXPECT_EQ(count("SELECT count(*) FROM jobs"), 0);

  for (int i = 0; i < 2; ++i) { // Pub/Sub delivers at least once
    auto res = c.Post(path.c_str(), body, "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 204) << res->body;
  }
  auto id = fmt::format("fetch_emails:gmail:{}:987654321", gmail_id_);
  EXPECT_EQ(count("SELECT count(*) FROM jobs"), 1);
  EXPECT_EQ(count(fmt::format(
                "SELECT count(*) FROM jobs WHERE id = '{}' AND queue = "
                "'fetch_emails' AND priority = 0 AND state = 'queued' AND "
                "payload->>'history_id' = '987654321' AND "
                "(payload->>'account_id')::bigint = {}",
                id, gmail_id_)),
            1);

  // A mailbox no account has is acknowledged (Pub/Sub would redeliver it for
  // days) and adds nothing; a body that is no push message is refused.
  auto stranger = c.Post(path.c_str(), gmail_push_body("who@gmail.test", 5),
                         "application/json");
  EXPECT_EQ(stranger->status, 204);
  auto junk = c.Post(path.c_str(), R"({"message":{}})", "application/json");
  EXPECT_EQ(junk->status, 400);
  EXPECT_TRUE(contains(junk->body, R"("field":"message.data")")) << junk->body;
  EXPECT_EQ(count("SELECT count(*) FROM jobs"), 1);
}

TEST_F(http_endpoint, graph_validates_and_checks_client_state) {
  auto c = client(false);
  auto path = fmt::format("/push/graph/{}", outlook_id_);
  auto handshake =
      c.Post((path + "?validationToken=Validation%3A%20abc%2B1").c_str(), "",
             "text/plain");
  ASSERT_TRUE(handshake);
  EXPECT_EQ(handshake->status, 200);
  EXPECT_EQ(handshake->body, "Validation: abc+1");
  EXPECT_EQ(handshake->get_header_value("Content-Type"), "text/plain");

  auto forged = c.Post(path.c_str(), graph_notification("guess", "AAMk-1"),
                       "application/json");
  ASSERT_TRUE(forged);
  EXPECT_EQ(forged->status, 202);
  EXPECT_EQ(count("SELECT count(*) FROM jobs"), 0);

  for (int i = 0; i < 2; ++i) {
    auto res = c.Post(path.c_str(), graph_notification(client_state, "AAMk-1"),
                      "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 202);
  }
  EXPECT_EQ(count(fmt::format("SELECT count(*) FROM jobs WHERE id = "
                              "'fetch_emails:outlook:{}:AAMk-1' AND "
                              "payload->>'message' = 'AAMk-1'",
                              outlook_id_)),
            1);
  EXPECT_EQ(count("SELECT count(*) FROM jobs"), 1);
  // The Gmail account is no Graph account: nothing added.
  auto other =
      c.Post(fmt::format("/push/graph/{}", gmail_id_).c_str(),
             graph_notification(client_state, "AAMk-2"), "application/json");
  EXPECT_EQ(other->status, 202);
  EXPECT_EQ(count("SELECT count(*) FROM jobs"), 1);
}

TEST_F(http_endpoint, a_500_raises_a_critical_alert) {
  {
    pqxx::connection c{db_.url()};
    pqxx::nontransaction{c}.exec(
        "ALTER TABLE email_accounts RENAME TO email_accounts_away");
  }
  auto res = client().Get("/api/v1/accounts");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 500);
  EXPECT_TRUE(test::eventually(db_.url(),
                               "SELECT count(*) = 1 FROM alerts WHERE kind = "
                               "'http_500' AND severity = 'critical' AND "
                               "title LIKE '%GET /api/v1/accounts%'",
                               20s))
      << node_->output();
  pqxx::connection c{db_.url()};
  pqxx::nontransaction{c}.exec(
      "ALTER TABLE email_accounts_away RENAME TO email_accounts");
}

TEST_F(http_endpoint, without_secrets_the_api_and_push_are_off) {
  auto port = free_port();
  auto bare = start_node("http-bare", port, false);
  ASSERT_TRUE(wait_listening(port)) << bare->output();
  httplib::Client c{"127.0.0.1", port};
  auto api = c.Get("/api/v1/accounts");
  ASSERT_TRUE(api);
  EXPECT_EQ(api->status, 404);
  EXPECT_TRUE(contains(api->body, "api_token")) << api->body;
  auto push = c.Post("/push/gmail?token=", "{}", "application/json");
  EXPECT_EQ(push->status, 404);
  auto graph = c.Post("/push/graph/1?validationToken=x", "", "text/plain");
  EXPECT_EQ(graph->status, 404);
  bare->signal(SIGTERM);
  EXPECT_EQ(bare->wait_exit(15s), 0) << bare->output();
}

TEST_F(http_endpoint, a_port_in_use_stops_the_node_with_a_clear_error) {
  auto second = start_node("http-clash", port_, true);
  EXPECT_EQ(second->wait_exit(20s), 1) << second->output();
  EXPECT_TRUE(contains(second->output(),
                       fmt::format("cannot listen on 127.0.0.1:{}", port_)))
      << second->output();
  // The first node still serves.
  EXPECT_EQ(client(false).Get("/healthz")->status, 200);
}
