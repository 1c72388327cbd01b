// Newsletters through a `mailpipe run` node: `news add` queues the content
// analysis; process_mails asks a local server that answers as Mistral's
// chat-completions API documents (JSON mode), stores the checked reply and
// queues index_news, which writes PostgreSQL's full-text index (or
// MeiliSearch's, a local stand-in whose tasks are polled); `news search`
// finds it. A reply that is not the JSON asked for is retried, and after the
// last attempt the job is dead, the newsletter invalid and an alert raised.

#include <csignal>
#include <fstream>
#include <memory>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "tests/support/child.hpp"
#include "tests/support/env.hpp"
#include "tests/support/http_stub.hpp"

using namespace mailpipe;
using namespace std::chrono_literals;
using test::stub_reply;
using test::stub_request;

namespace {

const std::string mistral_key = "mk-local-test-key";

const std::string analysis_content =
    R"({"summary":"Acme launches the Rocket plan with new pricing.",)"
    R"("topics":["launch","pricing"],"language":"en","category":"product",)"
    R"("is_newsletter":true})";

// A chat completion as Mistral documents it, `content` the assistant's text.
stub_reply completion(const std::string& content) {
  return stub_reply::json(
      200, fmt::format(R"({{"id":"cmpl-1","object":"chat.completion",)"
                       R"("model":"mistral-small-latest","choices":[{{)"
                       R"("index":0,"message":{{"role":"assistant",)"
                       R"("content":{}}},"finish_reason":"stop"}}],)"
                       R"("usage":{{"prompt_tokens":90,"total_tokens":120,)"
                       R"("completion_tokens":30}}}})",
                       test::json_quote(content)));
}

const char* newsletter_eml =
    "Message-ID: <nl-1@acme.test>\r\n"
    "From: Acme News <news@acme.test>\r\n"
    "Subject: =?UTF-8?Q?Acme_=C3=A9t=C3=A9_launch?=\r\n"
    "Date: Sat, 05 Dec 2026 09:00:00 +0000\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "Meet the Rocket plan: faster sends and simpler pricing for teams.\r\n";

class news_node : public ::testing::Test {
protected:
  void SetUp() override {
    ASSERT_FALSE(db_.url().empty()) << "no PostgreSQL: run with tools/test";
    env_ = {"MAILPIPE_DATABASE_URL=" + db_.url(), "MISTRAL_KEY=" + mistral_key};
    auto migrate =
        test::run_process({test::mailpipe_binary(), "migrate"}, env_);
    ASSERT_EQ(migrate.status, 0) << migrate.err;
    dir_ = fmt::format("{}news-{}", ::testing::TempDir(), getpid());
    eml_ = dir_ + "-nl.eml";
    std::ofstream{eml_} << newsletter_eml;
  }

  void TearDown() override {
    if (node_) {
      node_->signal(SIGTERM);
      EXPECT_EQ(node_->wait_exit(15s), 0) << node_->output();
      EXPECT_EQ(node_->output().find(mistral_key), std::string::npos);
    }
  }

  // The config of a node (and of the commands) with Mistral at the stand-in,
  // `search_extra` the [search] table's lines.
  std::string write_config(const std::string& search_extra = "") {
    auto cfg = dir_ + ".toml";
    std::ofstream{cfg} << fmt::format(
        "[node]\nname = \"news-node\"\nshutdown_grace = \"3s\"\n"
        "[http]\nlisten = \"\"\n[processing]\ninterval = \"1h\"\n"
        "[jobs]\nworkers = 1\nbackoff = \"100ms\"\npoll_interval = \"1h\"\n"
        "[mistral]\napi_url = \"{}\"\napi_key = \"${{MISTRAL_KEY}}\"\n"
        "timeout = \"5s\"\n[search]\n{}\n[log]\ndir = \"{}\"\n",
        mistral_.url(), search_extra, dir_);
    return cfg;
  }

  void start_node(const std::string& cfg) {
    node_ = std::make_unique<test::child_process>(
        std::vector<std::string>{test::mailpipe_binary(), "--config", cfg,
                                 "run"},
        env_, "news-node");
  }

  test::run_result mailpipe(const std::string& cfg,
                            std::vector<std::string> args) {
    args.insert(args.begin(), {test::mailpipe_binary(), "--config", cfg});
    return test::run_process(args, env_);
  }

  bool eventually(const std::string& sql) {
    return test::eventually(db_.url(), sql, 30s);
  }

  test::scratch_database db_;
  test::http_stub mistral_;
  std::vector<std::string> env_;
  std::string dir_;
  std::string eml_;
  std::unique_ptr<test::child_process> node_;
};

bool json_mode_request(const stub_request& r) {
  return r.header("Authorization") == "Bearer " + mistral_key
         && r.body.find(R"("response_format":{"type":"json_object"})")
                != std::string::npos
         && r.body.find(R"("model":"mistral-small-latest")")
                != std::string::npos
         && r.body.find("Rocket plan") != std::string::npos;
}

} // namespace

TEST_F(news_node, a_newsletter_is_analysed_indexed_and_found) {
  mistral_.on("POST", "/v1/chat/completions", [](const stub_request& r) {
    return json_mode_request(r) ? completion(analysis_content)
                                : stub_reply::json(401, R"({"message":"no"})");
  });
  auto cfg = write_config();
  start_node(cfg);
  auto added = mailpipe(cfg, {"news", "add", eml_});
  ASSERT_EQ(added.status, 0) << added.err;
  EXPECT_NE(added.out.find("newsletter 1 added"), std::string::npos)
      << added.out;
  auto again = mailpipe(cfg, {"news", "add", eml_});
  EXPECT_EQ(again.status, 0);
  EXPECT_NE(again.out.find("already there"), std::string::npos) << again.out;

  EXPECT_TRUE(eventually(
      "SELECT status = 'indexed' AND analysis->>'category' = 'product' AND "
      "subject = 'Acme été launch' AND message_key = 'nl-1@acme.test' FROM "
      "newsletters WHERE id = 1"))
      << node_->output();
  EXPECT_TRUE(eventually("SELECT count(*) = 2 FROM jobs WHERE state = "
                         "'succeeded' AND id IN ('process_mails:1', "
                         "'index_news:1')"));
  EXPECT_EQ(mistral_.count("/v1/chat/completions"), 1u);

  auto found = mailpipe(cfg, {"news", "search", "rocket pricing", "--json"});
  ASSERT_EQ(found.status, 0) << found.err;
  EXPECT_NE(found.out.find(R"("id":1,"subject":"Acme été launch")"),
            std::string::npos)
      << found.out;
  EXPECT_NE(found.out.find("Rocket plan with new pricing"), std::string::npos);
  // Topics from the analysis are searchable too; a word nowhere finds none.
  auto topic = mailpipe(cfg, {"news", "search", "launch"});
  EXPECT_NE(topic.out.find("1 newsletter\n"), std::string::npos) << topic.out;
  auto none = mailpipe(cfg, {"news", "search", "zeppelin", "--json"});
  EXPECT_EQ(none.out, "[]\n");
}

TEST_F(news_node, a_rate_limit_and_malformed_json_are_retried) {
  mistral_.script("POST", "/v1/chat/completions",
                  {stub_reply::json(429, R"({"message":"Requests rate limit "
                                         R"(exceeded"})"),
                   completion("Sure! Here is the JSON: {summary:"),
                   completion(analysis_content)});
  auto cfg = write_config();
  start_node(cfg);
  ASSERT_EQ(mailpipe(cfg, {"news", "add", eml_}).status, 0);
  EXPECT_TRUE(eventually("SELECT state = 'succeeded' AND attempts = 3 FROM "
                         "jobs WHERE id = 'process_mails:1'"))
      << node_->output();
  EXPECT_TRUE(
      eventually("SELECT status = 'indexed' FROM newsletters WHERE id = 1"));
  EXPECT_EQ(mistral_.count("/v1/chat/completions"), 3u);
}

TEST_F(news_node,
       three_bad_replies_make_the_job_dead_and_the_newsletter_invalid) {
  mistral_.on("POST", "/v1/chat/completions", [](const stub_request&) {
    return completion(R"({"summary":"","topics":"none"})");
  });
  auto cfg = write_config();
  start_node(cfg);
  ASSERT_EQ(mailpipe(cfg, {"news", "add", eml_}).status, 0);
  EXPECT_TRUE(eventually("SELECT state = 'dead' AND attempts = 3 AND "
                         "last_error LIKE '%summary%' FROM jobs WHERE id = "
                         "'process_mails:1'"))
      << node_->output();
  EXPECT_TRUE(eventually("SELECT status = 'invalid' AND invalid_reason LIKE "
                         "'%Mistral reply: summary%' FROM newsletters WHERE "
                         "id = 1"))
      << node_->output();
  EXPECT_TRUE(eventually("SELECT count(*) = 1 FROM alerts WHERE kind = "
                         "'job_dead' AND severity = 'critical' AND title LIKE "
                         "'%process_mails:1%'"));
  EXPECT_EQ(mistral_.count("/v1/chat/completions"), 3u);
  auto shown = mailpipe(cfg, {"news", "show", "1"});
  EXPECT_NE(shown.out.find("newsletter 1 (invalid)"), std::string::npos)
      << shown.out;
  // Nothing was indexed.
  EXPECT_EQ(mailpipe(cfg, {"news", "search", "rocket", "--json"}).out, "[]\n");
}

TEST_F(news_node, with_meilisearch_the_document_is_added_and_its_task_polled) {
  mistral_.on("POST", "/v1/chat/completions",
              [](const stub_request&) { return completion(analysis_content); });
  test::http_stub meili;
  meili.on("POST", "/indexes/newsletters/documents", [](const stub_request&) {
    return stub_reply::json(
        202, R"({"taskUid":7,"indexUid":"newsletters","status":"enqueued",)"
             R"("type":"documentAdditionOrUpdate",)"
             R"("enqueuedAt":"2026-12-05T09:00:00Z"})");
  });
  meili.script("GET", "/tasks/7",
               {stub_reply::json(200, R"({"uid":7,"status":"enqueued"})"),
                stub_reply::json(200, R"({"uid":7,"status":"processing"})"),
                stub_reply::json(200, R"({"uid":7,"status":"succeeded"})")});
  meili.on("POST", "/indexes/newsletters/search", [](const stub_request& r) {
    return r.body.find(R"("q":"rocket")") != std::string::npos
               ? stub_reply::json(200, R"({"hits":[{"id":1,"subject":"Acme"}],)"
                                       R"("query":"rocket","limit":20})")
               : stub_reply::json(200, R"({"hits":[]})");
  });
  auto cfg = write_config(fmt::format(
      "meilisearch_url = \"{}\"\nmeilisearch_api_key = \"meili-master\"",
      meili.url()));
  start_node(cfg);
  ASSERT_EQ(mailpipe(cfg, {"news", "add", eml_}).status, 0);
  EXPECT_TRUE(eventually("SELECT status = 'indexed' AND search IS NULL FROM "
                         "newsletters WHERE id = 1"))
      << node_->output();
  EXPECT_TRUE(eventually("SELECT result->>'engine' = 'meilisearch' AND "
                         "(result->>'task')::int = 7 FROM jobs WHERE id = "
                         "'index_news:1'"));
  auto posted = meili.requests("/indexes/newsletters/documents");
  ASSERT_EQ(posted.size(), 1u);
  EXPECT_EQ(posted[0].param("primaryKey"), "id");
  EXPECT_EQ(posted[0].header("Authorization"), "Bearer meili-master");
  EXPECT_NE(posted[0].body.find(R"("subject":"Acme été launch")"),
            std::string::npos)
      << posted[0].body;
  // The analysis goes as PostgreSQL's jsonb prints it.
  EXPECT_NE(posted[0].body.find(R"("category": "product")"), std::string::npos)
      << posted[0].body;
  EXPECT_EQ(meili.count("/tasks/7"), 3u);
  // The job snoozed while the task was pending: one attempt, no error.
  EXPECT_TRUE(eventually("SELECT attempts = 1 AND last_error IS NULL FROM jobs "
                         "WHERE id = 'index_news:1'"));

  auto found = mailpipe(cfg, {"news", "search", "rocket"});
  ASSERT_EQ(found.status, 0) << found.err;
  EXPECT_EQ(found.out, "[{\"id\":1,\"subject\":\"Acme\"}]\n");
}

TEST_F(news_node,
       a_failed_meilisearch_task_fails_the_attempt_and_the_next_adds_again) {
  mistral_.on("POST", "/v1/chat/completions",
              [](const stub_request&) { return completion(analysis_content); });
  test::http_stub meili;
  meili.script("POST", "/indexes/newsletters/documents",
               {stub_reply::json(202, R"({"taskUid":7,"status":"enqueued"})"),
                stub_reply::json(202, R"({"taskUid":8,"status":"enqueued"})")});
  meili.on("GET", "/tasks/7", [](const stub_request&) {
    return stub_reply::json(
        200, R"({"uid":7,"status":"failed","error":{"message":"disk full",)"
             R"("code":"no_space_left_on_device"}})");
  });
  meili.on("GET", "/tasks/8", [](const stub_request&) {
    return stub_reply::json(200, R"({"uid":8,"status":"succeeded"})");
  });
  auto cfg = write_config(fmt::format(
      "meilisearch_url = \"{}\"\nmeilisearch_api_key = \"k\"", meili.url()));
  start_node(cfg);
  ASSERT_EQ(mailpipe(cfg, {"news", "add", eml_}).status, 0);
  EXPECT_TRUE(eventually("SELECT status = 'indexed' FROM newsletters WHERE "
                         "id = 1"))
      << node_->output();
  EXPECT_TRUE(eventually("SELECT state = 'succeeded' AND attempts = 2 AND "
                         "(result->>'task')::int = 8 FROM jobs WHERE id = "
                         "'index_news:1'"));
  EXPECT_EQ(meili.count("/indexes/newsletters/documents"), 2u);
  EXPECT_EQ(meili.count("/tasks/7"), 1u);
  EXPECT_NE(node_->output().find("MeiliSearch task 7 failed: disk full"),
            std::string::npos)
      << node_->output();
}
