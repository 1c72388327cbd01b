#include "actors/alert_windows.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace mailpipe {

// -- limits and decisions -----------------------------------------------------

alert_limits limits_of(const alerts_config& cfg) {
  alert_limits out;
  out.threshold = cfg.threshold;
  out.window = cfg.window;
  out.cooldown = cfg.cooldown;
  return out;
}

std::string to_string(alert_decision x) {
  switch (x) {
    case alert_decision::count: return "count";
    case alert_decision::fire: return "fire";
    case alert_decision::suppressed: return "suppressed";
  }
  return "count";
}

// -- the text of an alert -----------------------------------------------------

namespace {

std::string window_summary(const alert_event& ev, const alert_verdict& verdict,
                           const alert_limits& limits) {
  auto text = fmt::format("{} `{}` events within {}.", verdict.in_window,
                          ev.kind, format_duration(limits.window));
  if (verdict.suppressed > 0)
    text += fmt::format(" {} more were suppressed since the previous alert.",
                        verdict.suppressed);
  text += fmt::format(" Next alert of this kind in {} at the earliest.",
                      format_duration(limits.cooldown));
  return text;
}

std::string critical_summary(const alert_verdict& verdict) {
  if (verdict.suppressed == 0)
    return {};
  return fmt::format(
      "The same alert was collapsed {} times since it last fired.",
      verdict.suppressed);
}

std::string joined(const std::string& body, const std::string& summary) {
  if (body.empty() || summary.empty())
    return body + summary;
  return body + "\n\n" + summary;
}

} // namespace

alert_message compose_alert(const alert_event& ev, const alert_verdict& verdict,
                            const alert_limits& limits) {
  alert_message out;
  out.kind = ev.kind;
  out.critical = ev.critical;
  out.title = ev.title.empty() ? ev.kind : ev.title;
  auto summary = ev.critical ? critical_summary(verdict)
                             : window_summary(ev, verdict, limits);
  out.body = joined(ev.body, summary);
  out.at = ev.at;
  return out;
}

// -- the windows --------------------------------------------------------------

alert_windows::alert_windows(alert_limits limits) : limits_(limits) {
  // nop
}

int64_t alert_windows::threshold() const {
  return std::max<int64_t>(limits_.threshold, 1);
}

alert_verdict alert_windows::add(const alert_event& ev, wall_time now) {
  latest_ = std::max(latest_, now);
  auto& k = kinds_[ev.kind];
  return ev.critical ? add_critical(k, ev.title, latest_)
                     : add_counted(k, latest_);
}

alert_verdict alert_windows::add_critical(kind_state& k,
                                          const std::string& title,
                                          wall_time now) {
  auto [it, first] = k.criticals.try_emplace(title, now, 0);
  auto& [fired_at, collapsed] = it->second;
  if (!first && now - fired_at < limits_.critical_dedup) {
    ++collapsed;
    return {alert_decision::suppressed, 0, collapsed};
  }
  alert_verdict out{alert_decision::fire, 0, first ? 0 : collapsed};
  fired_at = now;
  collapsed = 0;
  ++k.fired;
  return out;
}

alert_verdict alert_windows::add_counted(kind_state& k, wall_time now) {
  slide(k, now);
  k.recent.push_back(now);
  if (static_cast<int64_t>(k.recent.size()) > threshold())
    k.recent.pop_front();
  auto in_window = static_cast<int64_t>(k.recent.size());
  if (now < k.quiet_until) {
    ++k.suppressed;
    return {alert_decision::suppressed, in_window, k.suppressed};
  }
  if (in_window < threshold())
    return {alert_decision::count, in_window, 0};
  alert_verdict out{alert_decision::fire, in_window, k.suppressed};
  k.suppressed = 0;
  k.quiet_until = now + limits_.cooldown;
  ++k.fired;
  return out;
}

// Drops the events that are `window` old or older.
void alert_windows::slide(kind_state& k, wall_time now) const {
  while (!k.recent.empty() && now - k.recent.front() >= limits_.window)
    k.recent.pop_front();
}

// Forgets the critical titles past their dedup interval with nothing collapsed.
void alert_windows::forget_criticals(kind_state& k, wall_time now) const {
  std::erase_if(k.criticals, [&](auto& c) {
    return c.second.second == 0
           && now - c.second.first >= limits_.critical_dedup;
  });
}

bool alert_windows::idle(const kind_state& k, wall_time now) const {
  auto recent = !k.recent.empty() && now - k.recent.back() < limits_.window;
  return !recent && now >= k.quiet_until && k.suppressed == 0
         && k.criticals.empty();
}

void alert_windows::prune(wall_time now) {
  for (auto it = kinds_.begin(); it != kinds_.end();) {
    forget_criticals(it->second, now);
    it = idle(it->second, now) ? kinds_.erase(it) : std::next(it);
  }
}

std::vector<alert_kind_status> alert_windows::status(wall_time now) const {
  std::vector<alert_kind_status> out;
  for (auto& [kind, k] : kinds_) {
    alert_kind_status s;
    s.kind = kind;
    s.in_window =
        std::count_if(k.recent.begin(), k.recent.end(),
                      [&](wall_time t) { return now - t < limits_.window; });
    s.suppressed = k.suppressed;
    for (auto& c : k.criticals)
      s.suppressed += c.second.second;
    s.fired = k.fired;
    if (now < k.quiet_until)
      s.quiet_until = k.quiet_until;
    out.push_back(std::move(s));
  }
  return out;
}

} // namespace mailpipe
