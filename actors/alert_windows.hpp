#pragma once

// The alert rule of DESIGN.md ("Alerts"), pure: a sliding window per event
// kind, a cool-down after each alert, and critical events at once. No actor, no
// I/O, no clock: `now` is always an argument, so tests step through minutes
// without waiting.
//
// The rule, per kind:
// - A non-critical event counts in its kind's window. When the window (the last
//   `window` of time) holds `threshold` events, this one included, one alert
//   fires and the kind is quiet for `cooldown`: events of the cool-down still
//   count in the window and are reported as suppressed (in the status, and in
//   the body of the kind's next alert). A storm that goes on past the cool-down
//   fires again at its next event.
// - A critical event fires at once, outside the window and the cool-down;
//   identical critical events (same kind and title) within `critical_dedup` of
//   the one that fired are collapsed into it: suppressed, and counted in the
//   next such alert.

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "messages/clock.hpp"
#include "messages/pipeline.hpp"

namespace mailpipe {

/// The numbers of the rule (`[alerts]` of the config, plus the critical dedup
/// interval).
struct alert_limits {
  /// Events of one kind within `window` that fire an alert (values below 1
  /// count as 1).
  int64_t threshold = 10;
  /// The sliding window.
  duration window = std::chrono::minutes{5};
  /// Quiet time of a kind after its alert.
  duration cooldown = std::chrono::minutes{15};
  /// Identical critical events within this time of the one that fired are
  /// collapsed.
  duration critical_dedup = std::chrono::seconds{60};
};

/// The limits of `[alerts]`, with the default critical dedup interval.
alert_limits limits_of(const alerts_config& cfg);

/// What one event did.
enum class alert_decision : uint8_t {
  /// Counted in its window, below the threshold: no alert.
  count,
  /// Fires an alert now.
  fire,
  /// Counted, but its kind is in its cool-down (or it repeats a critical alert
  /// that
  /// just fired): no alert, reported as suppressed.
  suppressed,
};

/// Returns "count", "fire" or "suppressed".
std::string to_string(alert_decision x);

/// The decision on one event and what the alert says about it.
struct alert_verdict {
  /// Fire, count or suppressed.
  alert_decision decision = alert_decision::count;
  /// Events of the kind in the window now, this one included (0 for critical
  /// events); never more than the threshold, which is all the window keeps.
  int64_t in_window = 0;
  /// For `fire`: events suppressed since the kind's (or critical title's)
  /// previous alert. Otherwise: events suppressed so far, this one included.
  int64_t suppressed = 0;
};

/// What an alert says: the text the alerter records and sends.
struct alert_message {
  /// The event kind.
  std::string kind;
  /// True for a critical alert ("critical" severity; else "warning").
  bool critical = false;
  /// The embed's title and body.
  std::string title;
  std::string body;
  /// When it fired (the firing event's time).
  wall_time at;
};

/// Builds the alert of an event that fired: the event's own text for a critical
/// one; for a window alert, the event's text followed by how many events came
/// within the window and how many were suppressed since the kind's previous
/// alert.
alert_message compose_alert(const alert_event& ev, const alert_verdict& verdict,
                            const alert_limits& limits);

/// The state of one kind, for the status.
struct alert_kind_status {
  /// The event kind.
  std::string kind;
  /// Non-critical events within the window (at most the threshold).
  int64_t in_window = 0;
  /// Events suppressed since the kind's last alert (cool-down and collapsed
  /// criticals).
  int64_t suppressed = 0;
  /// Alerts this kind fired.
  int64_t fired = 0;
  /// The end of the cool-down in progress, if one is.
  std::optional<wall_time> quiet_until;
};

/// Sliding windows of every event kind seen (idle kinds are forgotten).
class alert_windows {
public:
  /// Windows that apply `limits`.
  explicit alert_windows(alert_limits limits = {});

  /// Counts `ev` at `now` and returns what it did. Times are expected not to go
  /// backwards; an earlier `now` is taken as the latest time seen.
  alert_verdict add(const alert_event& ev, wall_time now);

  /// Every kind still remembered at `now`, ordered by kind.
  std::vector<alert_kind_status> status(wall_time now) const;

  /// Forgets the kinds with nothing left to remember at `now` (no event in the
  /// window, no cool-down, nothing suppressed, no critical to collapse).
  void prune(wall_time now);

  /// The limits applied.
  const alert_limits& limits() const { return limits_; }

private:
  // What is remembered of one kind.
  struct kind_state {
    // The newest events, at most `threshold` of them, oldest first.
    std::deque<wall_time> recent;
    // End of the cool-down (epoch when none has started).
    wall_time quiet_until{};
    // Window events suppressed since the last window alert.
    int64_t suppressed = 0;
    // Alerts fired, window and critical.
    int64_t fired = 0;
    // Critical titles that fired: when, and how many were collapsed since.
    std::map<std::string, std::pair<wall_time, int64_t>> criticals;
  };

  alert_verdict add_critical(kind_state& k, const std::string& title,
                             wall_time now);
  alert_verdict add_counted(kind_state& k, wall_time now);
  void slide(kind_state& k, wall_time now) const;
  void forget_criticals(kind_state& k, wall_time now) const;
  bool idle(const kind_state& k, wall_time now) const;
  int64_t threshold() const;

  alert_limits limits_;
  std::map<std::string, kind_state> kinds_;
  wall_time latest_{};
};

} // namespace mailpipe
