#include "actors/alerter.hpp"

#include <algorithm>

#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/stateful_actor.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "adapters/db/connection.hpp"
#include "adapters/db/deadline.hpp"
#include "adapters/http/discord.hpp"

namespace mailpipe {

namespace {

using sender_ptr = alert_sender_actor::stateful_pointer<alert_sender_state>;
using alerter_ptr = alerter_actor::stateful_pointer<alerter_state>;

constexpr const char* no_webhook = "no webhook configured";

// -- the sender: the database -------------------------------------------------

caf::error error_of(const caf::error& x) {
  return x;
}

template <class T>
caf::error error_of(const caf::expected<T>& x) {
  return x ? caf::error{} : x.error();
}

void note_db_failure(sender_ptr self, const caf::error& err) {
  auto& st = self->state;
  auto msg = render(err);
  if (msg != st.last_db_error)
    spdlog::warn("alert-sender: database: {}", msg);
  st.last_db_error = std::move(msg);
  st.conn.reset();
  st.next_db_try = self->clock().now() + st.limits.db_retry;
}

void take_over_pending(sender_ptr self);

// Connects unless connected; while the database is down, tries at most every
// `db_retry` so that deliveries do not wait on connection attempts.
bool connected(sender_ptr self) {
  auto& st = self->state;
  if (st.conn)
    return true;
  if (self->clock().now() < st.next_db_try)
    return false;
  auto conn = db::connect(st.cfg.database);
  if (!conn) {
    note_db_failure(self, conn.error());
    return false;
  }
  st.conn = std::move(*conn);
  if (!st.last_db_error.empty())
    spdlog::info("alert-sender: database reachable again");
  st.last_db_error.clear();
  take_over_pending(self);
  return st.conn != nullptr;
}

// Runs `f(conn)` (a statement of adapters/db/pipeline) within the call bound;
// on failure drops the connection and records why.
template <class F>
auto on_db(sender_ptr self, const char* what, F f)
    -> decltype(f(*self->state.conn)) {
  auto& st = self->state;
  if (!connected(self))
    return caf::make_error(ec::database_unavailable, "database unreachable",
                           st.last_db_error);
  auto timeout = db::call_timeout(st.cfg.database);
  auto result =
      db::bounded(*st.conn, timeout, what, [&] { return f(*st.conn); });
  if (auto err = error_of(result))
    note_db_failure(self, err);
  return result;
}

void update_counts(sender_ptr self) {
  auto& st = self->state;
  st.counters->pending = static_cast<int64_t>(st.outbox.size());
  st.counters->unrecorded = static_cast<int64_t>(st.unrecorded.size());
}

void wake(sender_ptr self, caf::timespan after);

// The 'pending' rows of this node left by an earlier process join the outbox.
void take_over_pending(sender_ptr self) {
  auto& st = self->state;
  if (st.took_over_pending)
    return;
  st.took_over_pending = true;
  auto timeout = db::call_timeout(st.cfg.database);
  auto rows = db::bounded(*st.conn, timeout, "list pending alerts", [&] {
    return db::pending_alerts(*st.conn,
                              static_cast<int64_t>(st.limits.max_queue));
  });
  if (!rows) {
    st.took_over_pending = false;
    note_db_failure(self, rows.error());
    return;
  }
  size_t taken = 0;
  for (auto& row : *rows)
    if (row.node == st.node) {
      st.outbox.push_back(std::move(row));
      ++taken;
    }
  if (taken == 0)
    return;
  spdlog::info("alert-sender: {} pending alerts of an earlier run to deliver",
               taken);
  update_counts(self);
  if (!st.waking)
    wake(self, caf::timespan{0});
}

// Writes the final state of a settled alert: an update of its row, or its
// insertion when the database was down as it fired.
caf::error write_settled(sender_ptr self, db::alert_row& row) {
  if (row.id == 0) {
    auto id = on_db(self, "insert alert", [&](pqxx::connection& c) {
      return db::insert_alert(c, row);
    });
    if (!id)
      return id.error();
    row.id = *id;
    return {};
  }
  auto err = on_db(self, "mark alert", [&](pqxx::connection& c) {
    return db::mark_alert(c, row.id, row.state, row.attempts, row.last_error);
  });
  if (is(err, ec::not_found)) {
    spdlog::warn("alert-sender: alert {} vanished from the database", row.id);
    return {};
  }
  return err;
}

void drop(sender_ptr self, const db::alert_row& row, const char* why) {
  ++self->state.counters->dropped;
  spdlog::error("alert-sender: alert '{}' ({}, {}) dropped: {}", row.title,
                row.kind, row.state, why);
}

void keep_unrecorded(sender_ptr self, db::alert_row row) {
  auto& st = self->state;
  st.unrecorded.push_back(std::move(row));
  if (st.unrecorded.size() > st.limits.max_queue) {
    drop(self, st.unrecorded.front(), "too many alerts wait for the database");
    st.unrecorded.pop_front();
  }
}

void settle(sender_ptr self, db::alert_row row) {
  if (write_settled(self, row))
    keep_unrecorded(self, std::move(row));
  update_counts(self);
}

// Writes the rows that waited for the database, oldest first, until one fails.
void flush_unrecorded(sender_ptr self) {
  auto& st = self->state;
  while (!st.unrecorded.empty() && !write_settled(self, st.unrecorded.front()))
    st.unrecorded.pop_front();
  update_counts(self);
}

// Inserts the rows of alerts still waiting for delivery that fired while the
// database was down (as 'pending', so that a restart would deliver them), until
// one fails.
void record_outbox(sender_ptr self) {
  for (auto& row : self->state.outbox)
    if (row.id == 0 && write_settled(self, row))
      return;
}

bool has_work_for_db(const alert_sender_state& st) {
  return !st.took_over_pending || !st.unrecorded.empty()
         || std::any_of(st.outbox.begin(), st.outbox.end(),
                        [](const db::alert_row& row) { return row.id == 0; });
}

// The database chores: taking over the pending rows of an earlier process (on
// the first connection), then writing what waited for the database.
void catch_up_db(sender_ptr self) {
  if (!has_work_for_db(self->state) || !connected(self))
    return;
  record_outbox(self);
  flush_unrecorded(self);
}

// -- the sender: delivery -----------------------------------------------------

db::alert_row row_of(const alert_event& ev, const std::string& node) {
  db::alert_row row;
  row.kind = ev.kind;
  row.severity = ev.critical ? "critical" : "warning";
  row.title = ev.title;
  row.body = ev.body;
  row.node = node;
  row.created_at = ev.at;
  return row;
}

void wake(sender_ptr self, caf::timespan after) {
  auto& st = self->state;
  st.waking = true;
  auto gen = ++st.wake_generation;
  if (after <= caf::timespan{0})
    self->send(self, atom::tick_v, gen);
  else
    self->delayed_send(self, after, atom::tick_v, gen);
}

duration backoff(const alert_sender_limits& limits, int32_t attempts) {
  auto d = limits.backoff;
  for (int32_t i = 1; i < attempts && d < limits.max_backoff; ++i)
    d *= 2;
  return std::min(d, limits.max_backoff);
}

discord::delivery post(sender_ptr self, const db::alert_row& row) {
  auto& st = self->state;
  discord::message msg;
  msg.title = row.title;
  msg.description = row.body;
  msg.critical = row.severity == "critical";
  msg.timestamp = row.created_at.value_or(std::chrono::system_clock::now());
  msg.footer = fmt::format("mailpipe · {} · {}", row.node, row.kind);
  return discord::post(*st.http, st.cfg.alerts.discord_webhook_url, msg,
                       http::system_clock(), st.limits.post_timeout);
}

// Records a retry's attempt on the row (best effort: the final state is what
// counts).
void note_attempt(sender_ptr self, const db::alert_row& row) {
  if (row.id != 0 && self->state.conn)
    on_db(self, "mark alert", [&](pqxx::connection& c) {
      return db::mark_alert(c, row.id, "pending", row.attempts, row.last_error);
    });
}

// Applies one answer to the alert at the head of the outbox; true when it is
// settled.
bool apply(sender_ptr self, db::alert_row& row, const discord::delivery& d) {
  auto& st = self->state;
  auto now = self->clock().now();
  ++row.attempts;
  st.next_send = now + d.wait;
  row.last_error = d.reason;
  st.last_delivery_error = d.reason;
  if (d.status == discord::delivery_status::delivered) {
    row.state = "delivered";
    ++st.counters->delivered;
    spdlog::info("alert-sender: alert '{}' delivered ({} attempts)", row.title,
                 row.attempts);
    return true;
  }
  if (d.status == discord::delivery_status::retry
      && row.attempts < st.limits.max_attempts) {
    if (d.wait == duration{0})
      st.next_send = now + backoff(st.limits, row.attempts);
    spdlog::warn("alert-sender: alert '{}' not delivered yet (attempt {}): {}",
                 row.title, row.attempts, d.reason);
    note_attempt(self, row);
    return false;
  }
  row.state = "failed";
  ++st.counters->failed;
  spdlog::error("alert-sender: alert '{}' failed after {} attempts: {}",
                row.title, row.attempts, d.reason);
  return true;
}

// One delivery attempt of the alert at the head of the outbox, or a wake-up
// when the rate limit says to wait; schedules the next step while alerts
// remain.
void step(sender_ptr self) {
  auto& st = self->state;
  if (st.outbox.empty())
    return;
  auto wait = st.next_send - self->clock().now();
  if (wait > caf::timespan{0}) {
    wake(self, wait);
    return;
  }
  auto& row = st.outbox.front();
  bool settled = true;
  if (st.cfg.alerts.discord_webhook_url.empty()) {
    row.state = "failed";
    row.last_error = no_webhook;
    ++st.counters->unsent;
    spdlog::info("alert-sender: alert '{}' recorded only: {}", row.title,
                 no_webhook);
  } else {
    settled = apply(self, row, post(self, row));
  }
  if (settled) {
    auto done = std::move(row);
    st.outbox.pop_front();
    settle(self, std::move(done));
  }
  update_counts(self);
  if (!st.outbox.empty())
    wake(self, std::max(st.next_send - self->clock().now(), caf::timespan{0}));
}

void enqueue(sender_ptr self, const alert_event& ev) {
  auto& st = self->state;
  auto row = row_of(ev, st.node);
  ++st.counters->queued;
  auto id = on_db(self, "insert alert", [&](pqxx::connection& c) {
    return db::insert_alert(c, row);
  });
  if (id)
    row.id = *id;
  st.outbox.push_back(std::move(row));
  if (st.outbox.size() > st.limits.max_queue) {
    auto oldest = std::move(st.outbox.front());
    st.outbox.pop_front();
    drop(self, oldest, "too many alerts wait for delivery");
    oldest.state = "failed";
    oldest.last_error = "dropped: too many alerts waited for delivery";
    settle(self, std::move(oldest));
  }
  update_counts(self);
  if (!st.waking)
    wake(self, caf::timespan{0});
}

// -- the sender: stopping -----------------------------------------------------

// Writes what it can before the sender stops: the rows that waited for the
// database, and the alerts not yet delivered that have no row (as 'pending', so
// that the next start delivers them). What cannot be written is dropped,
// loudly.
void save_before_exit(sender_ptr self) {
  auto& st = self->state;
  st.cfg.database.statement_timeout =
      std::min(st.cfg.database.statement_timeout, st.cfg.node.shutdown_grace);
  st.next_db_try = {};
  flush_unrecorded(self);
  for (auto& row : st.unrecorded)
    drop(self, row, "the database was unreachable when the node stopped");
  size_t left = 0;
  for (auto& row : st.outbox) {
    if (row.id == 0 && write_settled(self, row)) {
      drop(self, row, "undelivered and unrecorded when the node stopped");
      continue;
    }
    ++left;
  }
  if (left > 0)
    spdlog::warn(
        "alert-sender: {} alerts left pending; the next start delivers them",
        left);
}

status_dict sender_status(const alert_sender_state& st) {
  status_dict d;
  d["name"] = std::string{alert_sender_state::name};
  d["outbox"] = static_cast<int64_t>(st.outbox.size());
  d["unrecorded"] = static_cast<int64_t>(st.unrecorded.size());
  d["database"] =
      st.conn ? std::string{"connected"} : std::string{"unreachable"};
  if (!st.last_db_error.empty())
    d["last_db_error"] = st.last_db_error;
  if (!st.last_delivery_error.empty())
    d["last_delivery_error"] = st.last_delivery_error;
  return d;
}

// -- the alerter --------------------------------------------------------------

wall_time wall_now(alerter_ptr self) {
  auto& st = self->state;
  auto elapsed = self->clock().now() - st.clock_start;
  return st.wall_start
         + std::chrono::duration_cast<wall_time::duration>(elapsed);
}

alert_event event_of(const alert_message& msg) {
  return {msg.kind, msg.critical, msg.title, msg.body, msg.at};
}

void on_event(alerter_ptr self, alert_event ev) {
  auto& st = self->state;
  auto now = wall_now(self);
  if (ev.at == wall_time{})
    ev.at = now;
  ++st.events;
  auto verdict = st.windows.add(ev, now);
  if (verdict.decision == alert_decision::suppressed) {
    ++st.suppressed;
    return;
  }
  if (verdict.decision != alert_decision::fire)
    return;
  ++st.fired;
  auto msg = compose_alert(ev, verdict, st.windows.limits());
  spdlog::info("alerter: {} alert '{}' ({})",
               msg.critical ? "critical" : "warning", msg.title, msg.kind);
  self->send(st.sender, atom::store_v, event_of(msg));
}

caf::config_value::dictionary window_status(const alert_kind_status& k,
                                            wall_time now) {
  caf::config_value::dictionary d;
  d["in_window"] = k.in_window;
  d["suppressed"] = k.suppressed;
  d["fired"] = k.fired;
  if (k.quiet_until)
    d["quiet_for"] = format_duration(
        std::chrono::duration_cast<duration>(*k.quiet_until - now));
  return d;
}

void add_counters(status_dict& d, const alert_counters& c) {
  d["queued"] = c.queued.load();
  d["delivered"] = c.delivered.load();
  d["failed"] = c.failed.load();
  d["unsent"] = c.unsent.load();
  d["pending"] = c.pending.load();
  d["unrecorded"] = c.unrecorded.load();
  d["dropped"] = c.dropped.load();
}

status_dict alerter_status(alerter_ptr self) {
  auto& st = self->state;
  auto now = wall_now(self);
  status_dict d;
  d["name"] = std::string{alerter_state::name};
  d["webhook"] = std::string{st.webhook ? "configured" : "none"};
  d["events"] = st.events;
  d["fired"] = st.fired;
  d["suppressed"] = st.suppressed;
  caf::config_value::dictionary windows;
  for (auto& k : st.windows.status(now))
    windows[k.kind] = window_status(k, now);
  d["windows"] = std::move(windows);
  if (st.counters)
    add_counters(d, *st.counters);
  return d;
}

} // namespace

// -- spawn functions ----------------------------------------------------------

alert_sender_actor::behavior_type
alert_sender(sender_ptr self, config cfg, std::string node_name,
             std::shared_ptr<alert_counters> counters,
             alert_sender_limits limits) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.limits = limits;
  st.node = std::move(node_name);
  st.counters = std::move(counters);
  st.http = std::make_unique<http::client>(1024 * 1024);
  self->set_exit_handler([self](const caf::exit_msg& msg) {
    save_before_exit(self);
    self->quit(msg.reason);
  });
  self->send(
      self, atom::store_v); // takes over the pending rows of an earlier process
  return {
      [self](atom::status) -> status_dict {
        return sender_status(self->state);
      },
      [self](atom::store, const alert_event& ev) { enqueue(self, ev); },
      [self](atom::store) { catch_up_db(self); },
      [self](atom::tick, uint64_t gen) {
        if (gen != self->state.wake_generation)
          return;
        self->state.waking = false;
        step(self);
      },
  };
}

namespace {

// Puts the alerter in the registry under alerter_registry_key while it runs.
void register_alerter(alerter_ptr self) {
  auto& registry = self->home_system().registry();
  registry.put(alerter_registry_key, self);
  self->attach_functor([&registry] { registry.erase(alerter_registry_key); });
}

} // namespace

alerter_actor::behavior_type alerter_with_sender(
    alerter_ptr self, alert_limits limits, alert_sender_actor sender,
    std::shared_ptr<const alert_counters> counters, bool webhook) {
  auto& st = self->state;
  st.windows = alert_windows{limits};
  st.sender = std::move(sender);
  st.counters = std::move(counters);
  st.webhook = webhook;
  st.wall_start = std::chrono::system_clock::now();
  st.clock_start = self->clock().now();
  register_alerter(self);
  self->delayed_send(self, alerter_tick_interval, atom::tick_v);
  return {
      [self](atom::status) -> status_dict { return alerter_status(self); },
      [self](atom::event, alert_event ev) { on_event(self, std::move(ev)); },
      [self](atom::tick) {
        self->state.windows.prune(wall_now(self));
        self->send(self->state.sender, atom::store_v);
        self->delayed_send(self, alerter_tick_interval, atom::tick_v);
      },
  };
}

alert_event database_down_alert(const std::string& node, std::string detail) {
  return {"database_down", true,
          fmt::format("node {}: database unreachable", node), std::move(detail),
          std::chrono::system_clock::now()};
}

alerter_actor::behavior_type alerter(alerter_ptr self, config cfg) {
  auto& url = cfg.alerts.discord_webhook_url;
  if (url.empty())
    spdlog::warn("alerter: {}: alerts are only recorded in the database",
                 no_webhook);
  else
    spdlog::info("alerter: alerts go to the Discord webhook {}",
                 discord::mask_webhook(url));
  auto limits = limits_of(cfg.alerts);
  auto webhook = !url.empty();
  auto counters = std::make_shared<alert_counters>();
  auto node_name = cfg.node.name;
  auto sender = self->spawn<caf::detached + caf::linked>(
      alert_sender, std::move(cfg), std::move(node_name), counters,
      alert_sender_limits{});
  return alerter_with_sender(self, limits, std::move(sender),
                             std::move(counters), webhook);
}

} // namespace mailpipe
