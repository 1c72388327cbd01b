// The alert rule, pure: the threshold-th event within the window fires once,
// the cool-down suppresses, events outside the window fall out, critical events
// fire at once.

#include <gtest/gtest.h>

#include "actors/alert_windows.hpp"

using namespace mailpipe;
using namespace std::chrono_literals;

namespace {

const wall_time t0 = std::chrono::sys_days{std::chrono::year{2026} / 1 / 1};

alert_event error(std::string kind = "account_error") {
  return {std::move(kind), false, "IMAP login failed",
          "seed1@mailpipe.test: NO", t0};
}

alert_event critical(std::string title = "database down") {
  return {"database_down", true, std::move(title), "connection refused", t0};
}

alert_limits limits() {
  return {10, 5min, 15min, 60s};
}

// Adds `n` events `every` apart from `start`; returns the decisions.
std::vector<alert_decision> add_n(alert_windows& w, const alert_event& ev,
                                  int n, wall_time start, duration every) {
  std::vector<alert_decision> out;
  for (int i = 0; i < n; ++i)
    out.push_back(w.add(ev, start + i * every).decision);
  return out;
}

int fires(const std::vector<alert_decision>& ds) {
  return static_cast<int>(
      std::count(ds.begin(), ds.end(), alert_decision::fire));
}

} // namespace

TEST(alert_windows, the_tenth_error_within_five_minutes_fires_once) {
  alert_windows w{limits()};
  auto ds = add_n(w, error(), 9, t0, 20s);
  EXPECT_EQ(fires(ds), 0);
  EXPECT_EQ(ds.back(), alert_decision::count);
  auto v = w.add(error(), t0 + 9 * 20s);
  EXPECT_EQ(v.decision, alert_decision::fire);
  EXPECT_EQ(v.in_window, 10);
  EXPECT_EQ(v.suppressed, 0);
}

TEST(alert_windows, the_cooldown_suppresses_and_is_reported_in_the_status) {
  alert_windows w{limits()};
  ASSERT_EQ(fires(add_n(w, error(), 10, t0, 1s)), 1);  // fires at t0 + 9 s
  auto during = add_n(w, error(), 5, t0 + 1min, 2min); // t0 + 1 .. 9 min
  EXPECT_EQ(during, std::vector<alert_decision>(5, alert_decision::suppressed));
  auto status = w.status(t0 + 10min);
  ASSERT_EQ(status.size(), 1u);
  EXPECT_EQ(status[0].suppressed, 5);
  EXPECT_EQ(status[0].fired, 1);
  ASSERT_TRUE(status[0].quiet_until);
  EXPECT_EQ(*status[0].quiet_until, t0 + 9s + 15min);
  // Still quiet one second before the cool-down ends.
  EXPECT_EQ(w.add(error(), t0 + 15min + 8s).decision,
            alert_decision::suppressed);
}

TEST(alert_windows, a_storm_fires_once_per_cooldown) {
  alert_windows w{limits()};
  // One error every 10 s for 40 minutes.
  auto ds = add_n(w, error(), 240, t0, 10s);
  std::vector<size_t> fired;
  for (size_t i = 0; i < ds.size(); ++i)
    if (ds[i] == alert_decision::fire)
      fired.push_back(i);
  // The 10th event (t0 + 90 s), then the first event after each cool-down: the
  // window is still full, so it fires at once (t0 + 990 s, t0 + 1890 s).
  EXPECT_EQ(fired, (std::vector<size_t>{9, 99, 189}));
  EXPECT_EQ(std::count(ds.begin(), ds.end(), alert_decision::suppressed),
            240 - 9 - 3);
}

TEST(alert_windows, after_the_cooldown_a_quiet_kind_needs_the_threshold_again) {
  alert_windows w{limits()};
  ASSERT_EQ(fires(add_n(w, error(), 10, t0, 1s)), 1);
  EXPECT_EQ(w.add(error(), t0 + 1min).decision, alert_decision::suppressed);
  // Long after: the window holds nothing old, so nine events are not enough.
  auto later = t0 + 1h;
  auto ds = add_n(w, error(), 9, later, 1s);
  EXPECT_EQ(fires(ds), 0);
  auto v = w.add(error(), later + 9s);
  EXPECT_EQ(v.decision, alert_decision::fire);
  EXPECT_EQ(v.suppressed, 1); // the one of the first cool-down, reported now
}

TEST(alert_windows, events_outside_the_window_fall_out) {
  alert_windows w{limits()};
  // One event a minute: at most five are ever within five minutes.
  auto ds = add_n(w, error(), 30, t0, 1min);
  EXPECT_EQ(fires(ds), 0);
  EXPECT_EQ(w.status(t0 + 29min)[0].in_window, 5);
  // Exactly five minutes old is outside.
  EXPECT_EQ(w.status(t0 + 29min + 4min)[0].in_window, 1);
  EXPECT_EQ(w.status(t0 + 29min + 5min)[0].in_window, 0);
}

TEST(alert_windows, kinds_have_their_own_windows) {
  alert_windows w{limits()};
  add_n(w, error("a"), 9, t0, 1s);
  add_n(w, error("b"), 9, t0, 1s);
  EXPECT_EQ(w.add(error("a"), t0 + 10s).decision, alert_decision::fire);
  EXPECT_EQ(w.add(error("b"), t0 + 10s).decision, alert_decision::fire);
  EXPECT_EQ(w.add(error("c"), t0 + 10s).decision, alert_decision::count);
}

TEST(alert_windows, a_critical_event_fires_at_once_outside_the_window) {
  alert_windows w{limits()};
  auto v = w.add(critical(), t0);
  EXPECT_EQ(v.decision, alert_decision::fire);
  EXPECT_EQ(w.status(t0)[0].in_window, 0);
  // A critical event ignores a non-critical cool-down of its kind.
  alert_event same_kind = error("database_down");
  add_n(w, same_kind, 10, t0, 1s);
  EXPECT_EQ(w.add(critical("another title"), t0 + 20s).decision,
            alert_decision::fire);
}

TEST(alert_windows, identical_criticals_within_a_minute_collapse) {
  alert_windows w{limits()};
  ASSERT_EQ(w.add(critical(), t0).decision, alert_decision::fire);
  EXPECT_EQ(w.add(critical(), t0 + 10s).decision, alert_decision::suppressed);
  EXPECT_EQ(w.add(critical(), t0 + 59s).decision, alert_decision::suppressed);
  EXPECT_EQ(w.add(critical("other"), t0 + 59s).decision, alert_decision::fire);
  auto v = w.add(critical(), t0 + 60s);
  EXPECT_EQ(v.decision, alert_decision::fire);
  EXPECT_EQ(v.suppressed, 2);
  auto msg = compose_alert(critical(), v, limits());
  EXPECT_NE(msg.body.find("collapsed 2 times"), std::string::npos) << msg.body;
}

TEST(alert_windows, a_threshold_of_one_fires_on_the_first_event) {
  alert_windows w{{1, 5min, 1min, 60s}};
  EXPECT_EQ(w.add(error(), t0).decision, alert_decision::fire);
  EXPECT_EQ(w.add(error(), t0 + 30s).decision, alert_decision::suppressed);
  EXPECT_EQ(w.add(error(), t0 + 61s).decision, alert_decision::fire);
}

TEST(alert_windows, the_alert_body_says_how_many_came_and_were_suppressed) {
  alert_windows w{limits()};
  add_n(w, error(), 10, t0, 1s);
  add_n(w, error(), 3, t0 + 1min, 1s);
  auto later = t0 + 30min;
  add_n(w, error(), 9, later, 1s);
  auto v = w.add(error(), later + 9s);
  ASSERT_EQ(v.decision, alert_decision::fire);
  auto msg = compose_alert(error(), v, limits());
  EXPECT_EQ(msg.title, "IMAP login failed");
  EXPECT_FALSE(msg.critical);
  EXPECT_EQ(
      msg.body.rfind(
          "seed1@mailpipe.test: NO\n\n10 `account_error` events within", 0),
      0u)
      << msg.body;
  EXPECT_NE(msg.body.find("3 more were suppressed"), std::string::npos)
      << msg.body;
}

TEST(alert_windows, prune_forgets_idle_kinds_only) {
  alert_windows w{limits()};
  w.add(error("idle"), t0);
  w.add(error("busy"), t0 + 10min);
  w.prune(t0 + 11min);
  auto status = w.status(t0 + 11min);
  ASSERT_EQ(status.size(), 1u);
  EXPECT_EQ(status[0].kind, "busy");
}
