// The client-side bound on blocking libpq calls, on the real PostgreSQL: a
// statement that outlives its deadline is cut, whatever other deadlines are
// armed at the time.

#include <chrono>
#include <future>
#include <thread>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "adapters/db/connection.hpp"
#include "adapters/db/deadline.hpp"
#include "tests/support/env.hpp"

using namespace mailpipe;
using namespace std::chrono_literals;

namespace {

using steady = std::chrono::steady_clock;

std::unique_ptr<pqxx::connection> open(const std::string& url) {
  auto conn = db::connect(url);
  EXPECT_TRUE(conn) << render(conn.error());
  return conn ? std::move(*conn) : nullptr;
}

// `SELECT pg_sleep(seconds)` under a deadline of `timeout`; returns the error
// (none when the statement finished) and how long the call took.
std::pair<caf::error, steady::duration>
sleep_bounded(pqxx::connection& conn, double seconds, duration timeout) {
  auto start = steady::now();
  auto result = db::bounded(conn, timeout, "sleep", [&] {
    return db::guarded("sleep", [&] {
      pqxx::nontransaction tx{conn};
      tx.exec("SELECT pg_sleep(" + std::to_string(seconds) + ")");
    });
  });
  return {result ? caf::error{} : result.error(), steady::now() - start};
}

} // namespace

TEST(call_deadline, a_call_within_its_deadline_is_left_alone) {
  MAILPIPE_SCRATCH_DATABASE(db);
  auto conn = open(db.url());
  ASSERT_TRUE(conn);
  auto [err, took] = sleep_bounded(*conn, 0.05, 5s);
  EXPECT_FALSE(err) << render(err);
  EXPECT_TRUE(conn->is_open());
}

TEST(call_deadline, a_call_past_its_deadline_is_cut_with_no_answer) {
  MAILPIPE_SCRATCH_DATABASE(db);
  auto conn = open(db.url());
  ASSERT_TRUE(conn);
  auto [err, took] = sleep_bounded(*conn, 30, 300ms);
  ASSERT_TRUE(err);
  EXPECT_EQ(err.code(), static_cast<uint8_t>(ec::database_unavailable));
  EXPECT_NE(render(err).find("no answer from the database"), std::string::npos)
      << render(err);
  EXPECT_LT(took, 10s);
}

// The watchdog sleeps until the earliest armed deadline; a shorter one armed
// while it sleeps for a longer one must wake it.
TEST(call_deadline,
     a_short_deadline_armed_behind_a_long_one_still_cuts_its_call) {
  MAILPIPE_SCRATCH_DATABASE(db);
  auto slow = open(db.url());
  auto fast = open(db.url());
  ASSERT_TRUE(slow && fast);
  auto long_call = std::async(std::launch::async,
                              [&] { return sleep_bounded(*slow, 3, 60s); });
  std::this_thread::sleep_for(200ms); // the long deadline is armed first
  auto [err, took] = sleep_bounded(*fast, 30, 300ms);
  ASSERT_TRUE(err);
  EXPECT_EQ(err.code(), static_cast<uint8_t>(ec::database_unavailable));
  EXPECT_LT(took, 2500ms) << "not cut at its own deadline";
  auto [long_err, long_took] = long_call.get();
  EXPECT_FALSE(long_err) << render(long_err);
}
