// The account supervisor's state machine on the test coordinator: a stand-in
// store (an actor answering as the store does, counting failures as
// db::record_failure does) and a stand-in fetch; the wall clock is a fake that
// the test moves.

#include <memory>
#include <string>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <gtest/gtest.h>

#include "actors/account_policy.hpp"
#include "actors/supervisor.hpp"
#include "tests/support/deterministic.hpp"

using namespace mailpipe;
using namespace std::chrono_literals;

namespace {

/// What the stand-ins saw, shared with the test.
struct journal {
  /// The fake wall clock.
  wall_time now = wall_time{} + std::chrono::hours{24 * 365 * 56};
  /// Fetches made, and what the next one returns: "retry later" with each of
  /// `waits` first (for a rate limit), then `fetch_error` or `fetch_found`.
  int fetches = 0;
  std::vector<duration> waits;
  caf::error fetch_error;
  std::vector<found_message> fetch_found;
  /// Failures stored, records written, alerts raised.
  int32_t failures = 0;
  std::vector<pass_record> records;
  std::vector<alert_event> alerts;
};

using journal_ptr = std::shared_ptr<journal>;

constexpr auto retry_after = std::chrono::minutes{10};

// Answers like actors/store.cpp over db::record_failure with max_failures = 3.
store_actor::behavior_type fake_store(journal_ptr j) {
  return {
      [](atom::status) { return status_dict{}; },
      [](atom::run, const claim_request&) { return claim_result{}; },
      [j](atom::store, const pass_record& rec) {
        j->records.push_back(rec);
        pass_ack ack;
        if (!rec.failed) {
          j->failures = 0;
          ack.recorded = static_cast<int32_t>(rec.found.size());
          return ack;
        }
        ack.failure.failure_count = ++j->failures;
        ack.failure.disabled = j->failures == 3;
        ack.failure.retry_at = j->now + retry_after;
        return ack;
      },
      [](atom::store, const rotated_token&) {},
      [](atom::store, const std::vector<metrics_row>& rows) {
        return static_cast<int64_t>(rows.size());
      },
      [](atom::lease, const lease_holder&, pipeline_duration) {
        return int64_t{0};
      },
      [](atom::done, const lease_holder&) -> caf::result<int64_t, int64_t> {
        return {int64_t{0}, int64_t{0}};
      },
      [](atom::clean, int64_t) { return int64_t{0}; },
  };
}

alerter_actor::behavior_type fake_alerter(journal_ptr j) {
  return {
      [](atom::status) { return status_dict{}; },
      [j](atom::event, const alert_event& ev) { j->alerts.push_back(ev); },
      [](atom::tick) {},
  };
}

// The fetch the journal scripts.
fetch_fn stand_in_fetch(journal_ptr j) {
  return [j](const config&, const pass_request&, connection_knowledge& know,
             fetch_progress& progress)
             -> caf::expected<std::vector<found_message>> {
    auto n = static_cast<size_t>(j->fetches++);
    if (n < j->waits.size()) {
      progress.retry_in = j->waits[n];
      progress.cause = caf::make_error(ec::rate_limited, "quota spent");
      return caf::make_error(ec::retry_later, "wait");
    }
    know.hints.junk_folder = "Junk";
    if (j->fetch_error)
      return j->fetch_error;
    return j->fetch_found;
  };
}

struct supervisor_fixture : test::deterministic_fixture {
  journal_ptr j = std::make_shared<journal>();
  supervisor_actor sup;

  supervisor_fixture() {
    auto ctx = std::make_shared<pipeline_context>();
    ctx->analysis =
        std::make_shared<const analyzer>(std::move(*analyzer::builtin()));
    ctx->stores.push_back(sys.spawn(fake_store, j));
    ctx->alerter = sys.spawn(fake_alerter, j);
    ctx->now = [j = j] { return j->now; };
    ctx->blocking_fetch = false;
    ctx->fetch = stand_in_fetch(j);
    sup = sys.spawn(supervisor, int64_t{7}, pipeline_ptr{ctx});
    actors = {caf::actor_cast<caf::actor>(sup),
              caf::actor_cast<caf::actor>(ctx->stores[0]),
              caf::actor_cast<caf::actor>(ctx->alerter)};
  }

  // The actor system waits for every actor: stop them before it is destroyed.
  ~supervisor_fixture() override {
    for (auto& a : actors)
      self->send_exit(a, caf::exit_reason::user_shutdown);
    run();
  }

  std::vector<caf::actor> actors;

  pass_request request() {
    pass_request req;
    req.run_id = "run-1";
    req.account.id = 7;
    req.account.email = "seed@mailpipe.test";
    req.account.tests = {{42, "mp-token0001"}};
    return req;
  }

  pass_outcome pass() {
    self->send(sup, atom::run_v, request());
    run();
    auto out = take<pass_outcome>();
    EXPECT_TRUE(out);
    return out ? *out : pass_outcome{};
  }

  // An answer already delivered to the test, if any.
  std::optional<pass_outcome> outcome() {
    run();
    return take<pass_outcome>();
  }

  status_dict status() {
    self->send(sup, atom::status_v);
    run();
    return take<status_dict>().value_or(status_dict{});
  }
};

found_message message_with(const std::string& token,
                           const std::string& folder) {
  found_message m;
  m.test_id = token;
  m.folder = folder;
  m.labels = {"\\Junk"};
  m.header_block =
      "From: a@example.com\r\nX-Mailpipe-Test-Id: " + token + "\r\n\r\n";
  return m;
}

} // namespace

TEST_F(supervisor_fixture,
       a_found_message_is_analysed_stored_and_the_hints_kept) {
  j->fetch_found = {message_with("mp-token0001", "Junk"),
                    message_with("mp-nobodywaits", "INBOX")};
  auto out = pass();
  EXPECT_EQ(out.status, pass_status::success);
  EXPECT_EQ(out.emails_found,
            1); // the message no pending test waits for is dropped
  EXPECT_EQ(out.recorded, 1);
  ASSERT_EQ(j->records.size(), 1u);
  ASSERT_EQ(j->records[0].found.size(), 1u);
  EXPECT_EQ(j->records[0].found[0].test_db_id, 42);
  EXPECT_EQ(j->records[0].found[0].placement, "spam");
  EXPECT_FALSE(j->records[0].found[0].analysis_json.empty());
  auto st = status();
  EXPECT_EQ(caf::get_or(st, "passes", int64_t{0}), 1);
  EXPECT_EQ(caf::get_or(st, "last", std::string{}), "success");
}

TEST_F(supervisor_fixture,
       failures_wait_their_retry_time_and_the_third_disables) {
  j->fetch_error = caf::make_error(ec::auth_failed, "LOGIN refused");
  auto first = pass();
  EXPECT_EQ(first.status, pass_status::failure);
  EXPECT_EQ(first.kind, failure_class::auth);
  EXPECT_EQ(first.failure_count, 1);
  ASSERT_EQ(j->alerts.size(), 1u);
  EXPECT_EQ(j->alerts[0].kind, "account_error");
  EXPECT_FALSE(j->alerts[0].critical);
  // Inside the retry time: skipped, no fetch.
  j->now += retry_after - 1s;
  EXPECT_EQ(pass().status, pass_status::skipped);
  EXPECT_EQ(j->fetches, 1);
  j->now += 1s;
  EXPECT_EQ(pass().failure_count, 2);
  j->now += retry_after;
  auto third = pass();
  EXPECT_EQ(third.failure_count, 3);
  EXPECT_TRUE(third.disabled);
  ASSERT_EQ(j->alerts.size(), 3u);
  EXPECT_EQ(j->alerts[2].kind, "account_disabled");
  EXPECT_TRUE(j->alerts[2].critical);
  // Disabled: never tried again.
  j->now += 24h;
  auto after = pass();
  EXPECT_EQ(after.status, pass_status::skipped);
  EXPECT_TRUE(after.disabled);
  EXPECT_EQ(j->fetches, 3);
  EXPECT_TRUE(caf::get_or(status(), "disabled", false));
}

TEST_F(supervisor_fixture, a_success_resets_the_failure_count) {
  j->fetch_error = caf::make_error(ec::timeout, "no answer");
  EXPECT_EQ(pass().kind, failure_class::timeout);
  j->now += retry_after;
  j->fetch_error = caf::error{};
  EXPECT_EQ(pass().status, pass_status::success);
  EXPECT_EQ(caf::get_or(status(), "failures", int64_t{-1}), 0);
}

TEST(account_policy, the_gate_and_the_error_classes) {
  account_health h;
  auto now = wall_time{} + 1000h;
  EXPECT_EQ(gate(h, now), pass_gate::open);
  h = after_failure({2, false, now + 1min});
  EXPECT_EQ(gate(h, now), pass_gate::retry_later);
  EXPECT_EQ(gate(h, now + 1min), pass_gate::open);
  h = after_failure({3, true, now});
  EXPECT_EQ(gate(h, now + 1000h), pass_gate::disabled);
  EXPECT_EQ(gate(after_success(), now), pass_gate::open);
  EXPECT_EQ(class_of(caf::make_error(caf::sec::request_timeout)),
            failure_class::timeout);
  EXPECT_EQ(class_of(caf::make_error(ec::quota_exceeded)),
            failure_class::quota);
  EXPECT_EQ(class_of(caf::make_error(ec::mailbox_not_found)),
            failure_class::mailbox);
}

// -- a read that must wait ----------------------------------------------------

TEST_F(supervisor_fixture, a_fetch_that_must_wait_is_tried_again_later) {
  j->waits = {2s, 3s};
  j->fetch_found = {message_with("mp-token0001", "INBOX")};
  self->send(sup, atom::run_v, request()); // the pass has 300 s
  EXPECT_FALSE(outcome());
  EXPECT_EQ(j->fetches, 1);
  advance(2s);
  EXPECT_EQ(j->fetches, 2);
  EXPECT_FALSE(outcome());
  advance(3s);
  auto out = take<pass_outcome>();
  ASSERT_TRUE(out);
  EXPECT_EQ(out->status, pass_status::success);
  EXPECT_EQ(out->recorded, 1);
  EXPECT_EQ(j->fetches, 3);
}

TEST_F(supervisor_fixture, a_wait_past_the_pass_time_is_its_cause) {
  j->waits = {10min};
  auto out = pass(); // answered at once: nothing is scheduled past 300 s
  EXPECT_EQ(out.status, pass_status::failure);
  EXPECT_EQ(out.kind, failure_class::rate_limited);
  EXPECT_NE(out.message.find("quota spent"), std::string::npos) << out.message;
  EXPECT_EQ(j->fetches, 1);
}

TEST_F(supervisor_fixture, a_waiting_fetcher_answers_status_and_exit) {
  j->waits = {1min};
  auto know = std::make_shared<connection_knowledge>();
  auto worker = sys.spawn(fetcher, config{}, stand_in_fetch(j), know);
  self->send(worker, atom::fetch_v, request());
  run();
  self->send(worker, atom::status_v);
  run();
  auto st = take<status_dict>();
  ASSERT_TRUE(st);
  EXPECT_TRUE(caf::get_or(*st, "waiting", false));
  EXPECT_EQ(caf::get_or(*st, "tries", int64_t{0}), 1);
  EXPECT_EQ(caf::get_or(*st, "account", std::string{}), "seed@mailpipe.test");
  self->monitor(worker);
  self->send_exit(worker, caf::exit_reason::user_shutdown);
  run();
  bool down = false;
  self->receive([&](const caf::down_msg&) { down = true; },
                [](const caf::error&) {},
                caf::after(std::chrono::seconds{0}) >> [] {});
  // The request's error may come first; the down message follows.
  if (!down)
    self->receive([&](const caf::down_msg&) { down = true; },
                  caf::after(std::chrono::seconds{0}) >> [] {});
  EXPECT_TRUE(down);
  EXPECT_EQ(j->fetches, 1);
}
