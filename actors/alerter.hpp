#pragma once

// The alerter (DESIGN.md, "Alerts"): an event-based actor that applies the
// alert windows (actors/alert_windows.hpp) and never blocks, and its detached
// helper, the alert sender, which owns the HTTP client and a PostgreSQL
// connection and does every blocking call: for each alert it inserts the
// `alerts` row (pending), posts it to Discord, and marks it delivered or failed
// with its attempts.
//
// What happens when things go wrong:
// - Discord answers 429: the next POST waits for `retry_after` (a
//   `delayed_send` to the sender, never a sleep), and the `X-RateLimit-*`
//   bucket is obeyed after every answer. 5xx and timeouts are retried with a
//   doubling backoff, at most `max_attempts` times; another 4xx fails the
//   alert at once. A failed alert is a 'failed' row with its error.
// - The database is down: the alert is delivered anyway; its row is written
//   once the database is back (with its original `created_at`; 'pending'
//   while it still waits for delivery, else its final state). The sender tries
//   the database again at most every `db_retry` (the alerter's tick nudges it).
// - No webhook configured: alerts are only recorded, as 'failed' rows with
//   last_error "no webhook configured" (so that no node redelivers them
//   later), and counted as unsent.
// - A restart: the 'pending' rows of this node's name (a previous process that
//   stopped before delivering) are delivered once the sender first reaches the
//   database, which it tries as it starts.
// Nothing is dropped silently: the status counts alerts delivered, failed,
// unsent, pending, waiting for the database, and dropped (with an error line
// for each drop).

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include <caf/actor_clock.hpp>
#include <pqxx/connection>

#include "actors/actors.hpp"
#include "actors/alert_windows.hpp"
#include "adapters/db/pipeline.hpp"
#include "adapters/http/client.hpp"
#include "config/config.hpp"

namespace mailpipe {

// -- the sender ---------------------------------------------------------------

/// The counters of the alerts, written by the sender and read by the alerter's
/// status without asking the sender (which may be inside a blocking call).
struct alert_counters {
  /// Alerts handed to the sender.
  std::atomic<int64_t> queued{0};
  /// Accepted by Discord.
  std::atomic<int64_t> delivered{0};
  /// Refused by Discord for good, or given up after `max_attempts`.
  std::atomic<int64_t> failed{0};
  /// Recorded only: no webhook configured.
  std::atomic<int64_t> unsent{0};
  /// Waiting for delivery now.
  std::atomic<int64_t> pending{0};
  /// Settled, their rows waiting for the database now.
  std::atomic<int64_t> unrecorded{0};
  /// Lost: over a queue's bound, or still unwritten when the sender stopped.
  std::atomic<int64_t> dropped{0};
};

/// The numbers of the sender that are not in the config.
struct alert_sender_limits {
  /// Delivery attempts of one alert before it fails (429s included).
  int32_t max_attempts = 10;
  /// Backoff after the first 5xx or timeout (when the answer named no wait);
  /// doubles, up to `max_backoff`.
  duration backoff = std::chrono::seconds{1};
  duration max_backoff = std::chrono::minutes{5};
  /// Time limit of one POST.
  duration post_timeout = std::chrono::seconds{10};
  /// Time between two attempts to reach a database that is down.
  duration db_retry = std::chrono::seconds{5};
  /// Alerts kept waiting for delivery, and rows kept waiting for the database;
  /// beyond, the oldest is dropped (with an error line).
  size_t max_queue = 1000;
};

/// State of the alert sender.
struct alert_sender_state {
  static inline const char* name = "alert-sender";
  /// Database and webhook settings (first member: CAF constructs the state from
  /// the actor pointer when its first member accepts one).
  config cfg;
  /// Retries, timeouts and bounds.
  alert_sender_limits limits;
  /// `node.name`, recorded in each row.
  std::string node;
  /// Shared with the alerter.
  std::shared_ptr<alert_counters> counters;
  /// The HTTP client (one easy handle, kept alive between posts).
  std::unique_ptr<http::client> http;
  /// The open connection, or null while the database is unreachable.
  std::unique_ptr<pqxx::connection> conn;
  /// No connection attempt before this (after a failure).
  caf::actor_clock::time_point next_db_try;
  /// True once the pending rows of an earlier process were taken into the
  /// outbox.
  bool took_over_pending = false;
  /// Alerts to deliver, oldest first (`id` 0: not yet in the database).
  std::deque<db::alert_row> outbox;
  /// Settled alerts (final state) whose row is waiting for the database, oldest
  /// first.
  std::deque<db::alert_row> unrecorded;
  /// No POST before this (a 429's retry_after, the bucket's reset, a backoff).
  caf::actor_clock::time_point next_send;
  /// The generation of the wake-up scheduled, and whether one is.
  uint64_t wake_generation = 0;
  bool waking = false;
  /// The last delivery and database errors ("" when the last call worked).
  std::string last_delivery_error;
  std::string last_db_error;
};

/// Spawn with `spawn<detached>` (it blocks on HTTP and PostgreSQL, each call
/// bounded: `limits.post_timeout`, `db::call_timeout(cfg.database)`). Posts to
/// `cfg.alerts.discord_webhook_url` ("" records only).
alert_sender_actor::behavior_type
alert_sender(alert_sender_actor::stateful_pointer<alert_sender_state> self,
             config cfg, std::string node_name,
             std::shared_ptr<alert_counters> counters,
             alert_sender_limits limits);

// -- the alerter --------------------------------------------------------------

/// State of the alerter.
struct alerter_state {
  static inline const char* name = "alerter";
  /// The windows of every kind (first member: not constructible from the actor
  /// pointer).
  alert_windows windows;
  /// Where fired alerts go.
  alert_sender_actor sender;
  /// The sender's counters (null when the sender is not ours, e.g. in tests).
  std::shared_ptr<const alert_counters> counters;
  /// True when a webhook is configured (for the status).
  bool webhook = false;
  /// The wall time at `clock_start`: `now` = wall_start + actor clock elapsed,
  /// so the windows follow the test coordinator's clock in tests.
  wall_time wall_start;
  caf::actor_clock::time_point clock_start;
  /// Events seen, alerts fired, events suppressed.
  int64_t events = 0;
  int64_t fired = 0;
  int64_t suppressed = 0;
};

/// How often the alerter prunes idle windows and asks the sender to write the
/// records that waited for the database.
constexpr auto alerter_tick_interval = std::chrono::seconds{5};

/// The alerter of a node: spawns its sender (detached, linked, so that the
/// alerter's exit stops it) with `cfg`, recording `cfg.node.name` in each row,
/// then counts `(atom::event, alert_event)` messages with the windows of
/// `cfg.alerts`. Send events with `anon_send(alerter, atom::event_v, ev)`;
/// never blocks the sender of an event.
alerter_actor::behavior_type
alerter(alerter_actor::stateful_pointer<alerter_state> self, config cfg);

/// The critical `database_down` event of node `node`: the database did not
/// answer (`detail` says how, secrets already masked). Raised by the registrar
/// of `run` once an outage reaches `node.dead_after`, and by `process` when its
/// run cannot reach the database.
alert_event database_down_alert(const std::string& node, std::string detail);

/// The alerter on a given sender (any actor of the sender's interface, e.g. a
/// fake in a deterministic test); `counters` may be null.
alerter_actor::behavior_type
alerter_with_sender(alerter_actor::stateful_pointer<alerter_state> self,
                    alert_limits limits, alert_sender_actor sender,
                    std::shared_ptr<const alert_counters> counters,
                    bool webhook);

} // namespace mailpipe
