// The alerter: its window logic on the test coordinator (with a fake sender),
// then end to end on a threaded system against the harness's PostgreSQL and a
// stand-in Discord webhook on 127.0.0.1.

#include "actors/alerter.hpp"

#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/settings.hpp>
#include <gtest/gtest.h>
#include <pqxx/pqxx>
#include <simdjson.h>

#include "adapters/db/connection.hpp"
#include "adapters/db/migrate.hpp"
#include "adapters/http/discord.hpp"
#include "tests/support/actor_system.hpp"
#include "tests/support/deterministic.hpp"
#include "tests/support/env.hpp"
#include "tests/support/http_stub.hpp"

using namespace mailpipe;
using namespace std::chrono_literals;
using test::http_stub;
using test::stub_reply;

namespace {

alert_event error_event(std::string title = "login refused") {
  return {
      "account_error", false, std::move(title), "seed1@mailpipe.test: NO", {}};
}

alert_event critical_event(std::string title = "account disabled") {
  return {
      "account_disabled", true, std::move(title), "seed2@mailpipe.test", {}};
}

int64_t int_at(const status_dict& d, std::string_view key) {
  return caf::get_or(d, key, int64_t{-1});
}

// -- the window logic, deterministic ------------------------------------------

using sent_alerts = std::shared_ptr<std::vector<alert_event>>;

// Stands in for the alert sender: keeps what it is given.
alert_sender_actor::behavior_type fake_sender(alert_sender_actor::pointer self,
                                              sent_alerts sent) {
  return {
      [](atom::status) -> status_dict { return {}; },
      [sent](atom::store, const alert_event& ev) { sent->push_back(ev); },
      [](atom::store) {},
      [](atom::tick, uint64_t) {},
  };
}

struct alerter_windows : test::deterministic_fixture {
  sent_alerts sent = std::make_shared<std::vector<alert_event>>();
  alert_sender_actor sender = sys.spawn(fake_sender, sent);
  alerter_actor alerter =
      sys.spawn(alerter_with_sender, alert_limits{3, 1min, 5min, 60s}, sender,
                std::shared_ptr<const alert_counters>{}, true);

  ~alerter_windows() override {
    self->send_exit(alerter, caf::exit_reason::user_shutdown);
    self->send_exit(sender, caf::exit_reason::user_shutdown);
    run();
  }

  void event(const alert_event& ev) {
    self->send(alerter, atom::event_v, ev);
    run();
  }

  status_dict status() {
    self->send(alerter, atom::status_v);
    run();
    return take<status_dict>().value_or(status_dict{});
  }
};

} // namespace

TEST_F(alerter_windows, the_threshold_th_event_sends_one_alert) {
  event(error_event());
  event(error_event());
  EXPECT_TRUE(sent->empty());
  event(error_event());
  ASSERT_EQ(sent->size(), 1u);
  auto& alert = sent->front();
  EXPECT_EQ(alert.kind, "account_error");
  EXPECT_FALSE(alert.critical);
  EXPECT_EQ(alert.title, "login refused");
  EXPECT_NE(alert.body.find("3 `account_error` events within"),
            std::string::npos)
      << alert.body;
  EXPECT_NE(alert.at,
            wall_time{}); // the alerter stamps events that came without a time
  auto d = status();
  EXPECT_EQ(int_at(d, "events"), 3);
  EXPECT_EQ(int_at(d, "fired"), 1);
  EXPECT_EQ(int_at(d, "windows.account_error.in_window"), 3);
  EXPECT_EQ(caf::get_or(d, "webhook", std::string{}), "configured");
}

TEST_F(alerter_windows, the_cooldown_follows_the_actor_clock) {
  for (int i = 0; i < 3; ++i)
    event(error_event());
  ASSERT_EQ(sent->size(), 1u);
  for (int i = 0; i < 3; ++i)
    event(error_event());
  EXPECT_EQ(sent->size(), 1u);
  auto d = status();
  EXPECT_EQ(int_at(d, "suppressed"), 3);
  EXPECT_EQ(int_at(d, "windows.account_error.suppressed"), 3);
  // Past the window but inside the cool-down: still quiet.
  advance(2min);
  for (int i = 0; i < 3; ++i)
    event(error_event());
  EXPECT_EQ(sent->size(), 1u);
  // Past the cool-down: the next three fire, reporting the six suppressed.
  advance(4min);
  for (int i = 0; i < 3; ++i)
    event(error_event());
  ASSERT_EQ(sent->size(), 2u);
  EXPECT_NE(sent->back().body.find("6 more were suppressed"), std::string::npos)
      << sent->back().body;
}

TEST_F(alerter_windows, events_that_fall_out_of_the_window_do_not_add_up) {
  event(error_event());
  event(error_event());
  advance(61s);
  event(error_event());
  event(error_event());
  EXPECT_TRUE(sent->empty());
  EXPECT_EQ(int_at(status(), "windows.account_error.in_window"), 2);
}

TEST_F(alerter_windows, a_critical_event_is_sent_at_once) {
  event(critical_event());
  ASSERT_EQ(sent->size(), 1u);
  EXPECT_TRUE(sent->front().critical);
  EXPECT_EQ(sent->front().title, "account disabled");
  EXPECT_EQ(sent->front().body, "seed2@mailpipe.test");
  // The same one again within a minute is collapsed; a minute later it is sent.
  event(critical_event());
  EXPECT_EQ(sent->size(), 1u);
  advance(60s);
  event(critical_event());
  ASSERT_EQ(sent->size(), 2u);
  EXPECT_NE(sent->back().body.find("collapsed 1 times"), std::string::npos);
}

// -- end to end: PostgreSQL and a stand-in Discord ----------------------------

namespace {

const std::string webhook_path = "/api/webhooks/42/t0ken";

// Polls `done` until it holds or `limit` passes.
template <class F>
bool eventually(F done, std::chrono::milliseconds limit = 10s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

// A webhook that answers from a script and records when each POST came.
struct timed_webhook {
  struct log {
    std::mutex mtx;
    std::vector<std::chrono::steady_clock::time_point> times;
  };
  std::shared_ptr<log> seen = std::make_shared<log>();

  timed_webhook(http_stub& stub, std::vector<stub_reply> replies) {
    stub.on("POST", webhook_path,
            [seen = seen, replies](const test::stub_request&) {
              std::lock_guard<std::mutex> guard{seen->mtx};
              auto i = std::min(seen->times.size(), replies.size() - 1);
              seen->times.push_back(std::chrono::steady_clock::now());
              return replies[i];
            });
  }

  std::vector<std::chrono::steady_clock::time_point> times() const {
    std::lock_guard<std::mutex> guard{seen->mtx};
    return seen->times;
  }
};

struct alerter_end_to_end : test::actor_system_fixture {
  http_stub discord;
  std::vector<alerter_actor> alerters;

  ~alerter_end_to_end() override {
    for (auto& a : alerters) {
      self->send_exit(a, caf::exit_reason::user_shutdown);
      self->wait_for(a);
    }
  }

  config alert_config(const std::string& db_url, bool webhook = true) {
    config cfg;
    cfg.database.url = db_url;
    cfg.database.connect_timeout = 2s;
    cfg.node.name = "node-1";
    cfg.node.shutdown_grace = 2s;
    cfg.alerts.discord_webhook_url =
        webhook ? discord.url() + webhook_path : "";
    cfg.alerts.threshold = 10;
    cfg.alerts.window = 1min;
    cfg.alerts.cooldown = 10min;
    return cfg;
  }

  alerter_actor start(const config& cfg) {
    auto a = sys.spawn(alerter, cfg);
    alerters.push_back(a);
    return a;
  }
};

bool migrate(const std::string& url) {
  auto conn = db::connect(url);
  return conn && static_cast<bool>(db::migrate(**conn));
}

int64_t scalar(const std::string& url, const std::string& sql) {
  try {
    pqxx::connection conn{url};
    pqxx::nontransaction tx{conn};
    return tx.exec1(sql)[0].as<int64_t>();
  } catch (const std::exception&) {
    return -1;
  }
}

std::string embed_text(const std::string& body, std::string_view pointer) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  std::string_view out;
  if (parser.parse(body).get(doc) != simdjson::SUCCESS
      || doc.at_pointer(pointer).get(out) != simdjson::SUCCESS)
    return "(none)";
  return std::string{out};
}

} // namespace

TEST_F(alerter_end_to_end, ten_errors_make_one_post_and_one_delivered_row) {
  MAILPIPE_SCRATCH_DATABASE(db);
  ASSERT_TRUE(migrate(db.url()));
  discord.script("POST", webhook_path, {stub_reply::json(204, "")});
  auto a = start(alert_config(db.url()));
  for (int i = 0; i < 9; ++i)
    self->send(a, atom::event_v, error_event());
  EXPECT_EQ(int_at(status_of(a), "fired"), 0);
  self->send(a, atom::event_v, error_event());
  ASSERT_TRUE(eventually([&] { return discord.count(webhook_path) == 1; }));
  auto sql =
      "SELECT count(*) FROM alerts WHERE state = 'delivered' AND kind = "
      "'account_error' AND severity = 'warning' AND delivery_attempts = 1 "
      "AND node = 'node-1' AND delivered_at IS NOT NULL";
  EXPECT_TRUE(eventually([&] { return scalar(db.url(), sql) == 1; }));
  EXPECT_EQ(scalar(db.url(), "SELECT count(*) FROM alerts"), 1);
  auto d = status_of(a);
  EXPECT_EQ(int_at(d, "events"), 10);
  EXPECT_EQ(int_at(d, "fired"), 1);
  EXPECT_EQ(int_at(d, "queued"), 1);
  EXPECT_EQ(int_at(d, "delivered"), 1);
  EXPECT_EQ(int_at(d, "pending"), 0);
  EXPECT_EQ(int_at(d, "dropped"), 0);
  auto body = discord.requests(webhook_path).at(0).body;
  EXPECT_EQ(embed_text(body, "/embeds/0/title"), "login refused");
  EXPECT_EQ(embed_text(body, "/embeds/0/footer/text"),
            "mailpipe · node-1 · account_error");
}

TEST_F(alerter_end_to_end, a_critical_event_is_posted_at_once) {
  MAILPIPE_SCRATCH_DATABASE(db);
  ASSERT_TRUE(migrate(db.url()));
  discord.script("POST", webhook_path,
                 {stub_reply::json(200, R"({"id": "1"})")});
  auto a = start(alert_config(db.url()));
  self->send(a, atom::event_v, critical_event());
  ASSERT_TRUE(eventually([&] { return discord.count(webhook_path) == 1; }));
  auto req = discord.requests(webhook_path).at(0);
  EXPECT_EQ(req.param("wait"), "true");
  EXPECT_EQ(embed_text(req.body, "/embeds/0/title"), "account disabled");
  EXPECT_TRUE(eventually([&] {
    return scalar(db.url(),
                  "SELECT count(*) FROM alerts WHERE state = 'delivered' AND "
                  "severity = 'critical'")
           == 1;
  }));
}

TEST_F(alerter_end_to_end,
       a_429_delays_the_retry_by_retry_after_then_delivers) {
  MAILPIPE_SCRATCH_DATABASE(db);
  ASSERT_TRUE(migrate(db.url()));
  auto limited =
      stub_reply::json(429, R"({"message": "You are being rate limited.", )"
                            R"("retry_after": 0.4, "global": false})")
          .with_header("Retry-After", "1")
          .with_header("X-RateLimit-Remaining", "0")
          .with_header("X-RateLimit-Reset-After", "0.4");
  timed_webhook hook{discord, {limited, stub_reply::json(204, "")}};
  auto a = start(alert_config(db.url()));
  self->send(a, atom::event_v, critical_event());
  ASSERT_TRUE(eventually([&] { return hook.times().size() == 2; }));
  auto times = hook.times();
  EXPECT_GE(times[1] - times[0], 400ms);
  EXPECT_TRUE(eventually([&] {
    return scalar(db.url(),
                  "SELECT count(*) FROM alerts WHERE state = 'delivered' AND "
                  "delivery_attempts = 2 AND last_error IS NULL")
           == 1;
  }));
  EXPECT_EQ(int_at(status_of(a), "delivered"), 1);
}

TEST_F(alerter_end_to_end, a_refused_alert_is_a_failed_row_and_not_retried) {
  MAILPIPE_SCRATCH_DATABASE(db);
  ASSERT_TRUE(migrate(db.url()));
  discord.script("POST", webhook_path,
                 {stub_reply::json(
                      404, R"({"message": "Unknown Webhook", "code": 10015})"),
                  stub_reply::json(204, "")});
  auto a = start(alert_config(db.url()));
  self->send(a, atom::event_v, critical_event());
  EXPECT_TRUE(eventually([&] {
    return scalar(db.url(),
                  "SELECT count(*) FROM alerts WHERE state = 'failed' AND "
                  "delivery_attempts = 1 AND last_error LIKE "
                  "'HTTP 404: Unknown Webhook%'")
           == 1;
  }));
  // A second alert goes out normally; the first was never tried again.
  self->send(a, atom::event_v, critical_event("another"));
  ASSERT_TRUE(eventually([&] { return discord.count(webhook_path) == 2; }));
  EXPECT_TRUE(
      eventually([&] { return int_at(status_of(a), "delivered") == 1; }));
  EXPECT_EQ(discord.count(webhook_path), 2u);
  EXPECT_EQ(int_at(status_of(a), "failed"), 1);
}

TEST_F(alerter_end_to_end, without_a_webhook_alerts_are_only_recorded) {
  MAILPIPE_SCRATCH_DATABASE(db);
  ASSERT_TRUE(migrate(db.url()));
  auto a = start(alert_config(db.url(), false));
  self->send(a, atom::event_v, critical_event());
  EXPECT_TRUE(eventually([&] {
    return scalar(db.url(),
                  "SELECT count(*) FROM alerts WHERE state = 'failed' AND "
                  "last_error = 'no webhook configured' AND "
                  "delivery_attempts = 0")
           == 1;
  }));
  auto d = status_of(a);
  EXPECT_EQ(int_at(d, "unsent"), 1);
  EXPECT_EQ(caf::get_or(d, "webhook", std::string{}), "none");
  EXPECT_EQ(discord.count(".*"), 0u);
}

TEST_F(alerter_end_to_end,
       with_the_database_down_the_alert_is_sent_and_recorded_later) {
  MAILPIPE_SCRATCH_DATABASE(db);
  auto admin = test::env("MAILPIPE_TEST_DATABASE_URL");
  auto exec_admin = [&](const std::string& sql) {
    pqxx::connection conn{admin};
    pqxx::nontransaction tx{conn};
    tx.exec(sql);
  };
  // The database does not exist while the alert fires.
  exec_admin("DROP DATABASE \"" + db.name() + "\"");
  discord.script("POST", webhook_path, {stub_reply::json(204, "")});
  auto a = start(alert_config(db.url()));
  auto ev = critical_event();
  ev.at = std::chrono::system_clock::now() - 1h;
  self->send(a, atom::event_v, ev);
  ASSERT_TRUE(eventually([&] { return discord.count(webhook_path) == 1; }));
  EXPECT_TRUE(
      eventually([&] { return int_at(status_of(a), "unrecorded") == 1; }));
  // The database comes back: the row is written with its state and its time.
  exec_admin("CREATE DATABASE \"" + db.name() + "\"");
  ASSERT_TRUE(migrate(db.url()));
  EXPECT_TRUE(eventually(
      [&] {
        return scalar(
                   db.url(),
                   "SELECT count(*) FROM alerts WHERE state = 'delivered' AND "
                   "created_at < now() - interval '59 minutes'")
               == 1;
      },
      30s));
  EXPECT_TRUE(
      eventually([&] { return int_at(status_of(a), "unrecorded") == 0; }));
  EXPECT_EQ(int_at(status_of(a), "dropped"), 0);
}

TEST_F(alerter_end_to_end, a_500_is_retried_after_a_backoff) {
  MAILPIPE_SCRATCH_DATABASE(db);
  ASSERT_TRUE(migrate(db.url()));
  auto failing =
      stub_reply::json(500, R"({"message": "500: Internal Server Error", )"
                            R"("code": 0})");
  timed_webhook hook{discord, {failing, stub_reply::json(204, "")}};
  auto a = start(alert_config(db.url()));
  self->send(a, atom::event_v, critical_event());
  ASSERT_TRUE(eventually([&] { return hook.times().size() == 2; }));
  auto times = hook.times();
  EXPECT_GE(times[1] - times[0], alert_sender_limits{}.backoff);
  EXPECT_TRUE(eventually([&] {
    return scalar(db.url(),
                  "SELECT count(*) FROM alerts WHERE state = 'delivered' AND "
                  "delivery_attempts = 2")
           == 1;
  }));
}

TEST_F(alerter_end_to_end,
       pending_rows_of_an_earlier_process_are_delivered_at_start) {
  MAILPIPE_SCRATCH_DATABASE(db);
  ASSERT_TRUE(migrate(db.url()));
  {
    auto conn = db::connect(db.url());
    ASSERT_TRUE(conn);
    db::alert_row row;
    row.kind = "database_down";
    row.severity = "critical";
    row.title = "left behind";
    row.node = "node-1";
    row.created_at = std::chrono::system_clock::now() - 10min;
    ASSERT_TRUE(db::insert_alert(**conn, row));
    row.title = "another node's";
    row.node = "node-2";
    ASSERT_TRUE(db::insert_alert(**conn, row));
  }
  discord.script("POST", webhook_path, {stub_reply::json(204, "")});
  start(alert_config(db.url()));
  ASSERT_TRUE(eventually([&] { return discord.count(webhook_path) == 1; }));
  EXPECT_EQ(
      embed_text(discord.requests(webhook_path).at(0).body, "/embeds/0/title"),
      "left behind");
  EXPECT_TRUE(eventually([&] {
    return scalar(db.url(),
                  "SELECT count(*) FROM alerts WHERE state = 'delivered' AND "
                  "node = 'node-1'")
           == 1;
  }));
  EXPECT_EQ(scalar(db.url(),
                   "SELECT count(*) FROM alerts WHERE state = 'pending' AND "
                   "node = 'node-2'"),
            1);
}

TEST_F(alerter_end_to_end, the_alerters_exit_stops_its_sender) {
  MAILPIPE_SCRATCH_DATABASE(db);
  ASSERT_TRUE(migrate(db.url()));
  // A long 429 wait: the sender's scheduled retry keeps it alive unless the
  // alerter's exit stops it.
  discord.script("POST", webhook_path,
                 {stub_reply::json(429, R"({"message": "You are being rate )"
                                        R"(limited.", "retry_after": 30, )"
                                        R"("global": false})")});
  auto before = sys.registry().running();
  auto a = sys.spawn(alerter, alert_config(db.url()));
  // The alerter and its detached sender.
  ASSERT_TRUE(
      eventually([&] { return sys.registry().running() == before + 2; }));
  self->send(a, atom::event_v, critical_event());
  ASSERT_TRUE(eventually([&] { return discord.count(webhook_path) == 1; }));
  self->send_exit(a, caf::exit_reason::user_shutdown);
  self->wait_for(a);
  EXPECT_TRUE(
      eventually([&] { return sys.registry().running() == before; }, 5s));
  // The undelivered alert stays pending for the next start.
  EXPECT_EQ(scalar(db.url(), "SELECT count(*) FROM alerts WHERE state = "
                             "'pending' AND delivery_attempts = 1"),
            1);
}
