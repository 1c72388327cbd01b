#pragma once

#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>

#include <caf/expected.hpp>
#include <pqxx/connection>

#include "actors/actors.hpp"
#include "actors/node.hpp"
#include "adapters/db/jobs.hpp"
#include "config/config.hpp"

namespace mailpipe {

/// Runs one job: its result as JSON ("" for none), or why it failed. An
/// `ec::invalid_argument` error means the job can never succeed (a payload
/// that fails validation): it is dead at once; any other error is retried.
using job_handler = std::function<caf::expected<std::string>(
    const config&, const db::claimed_job&)>;

/// The handler of each queue a worker works.
using job_handlers = std::map<std::string, job_handler, std::less<>>;

/// The `send_notifications` handler: a webhook payload POSTed signed with
/// `notifications.webhook_secret` (adapters/http/webhook.hpp). Discord and SMTP
/// channels are not built yet: their payloads fail validation.
caf::expected<std::string> send_notification(const config& cfg,
                                             const db::claimed_job& job);

/// The handlers of a production node (the queues that have one).
job_handlers standard_job_handlers();

/// State of a job worker.
struct job_worker_state {
  static inline const char* name = "job_worker";
  config cfg;
  /// The lease owner: "<node name>/<worker number>", so a worker that starts
  /// again takes back what it held, and only that.
  std::string owner;
  job_handlers handlers;
  std::unique_ptr<pqxx::connection> conn;
  /// LISTENs on `conn` (declared after it: destroyed first).
  std::unique_ptr<db::job_listener> listener;
  /// An enqueue notified; claim at the next tick.
  bool woken = true;
  /// When to claim without a notification: the poll backstop, or sooner a
  /// retry this worker scheduled.
  std::chrono::steady_clock::time_point next_look{};
  std::chrono::steady_clock::time_point next_retry =
      std::chrono::steady_clock::time_point::max();
  /// Whether the node's leftovers were taken back, and when leases were last
  /// checked for expiry.
  bool reconciled = false;
  std::chrono::steady_clock::time_point last_recovery{};
  std::mt19937_64 random{std::random_device{}()};
  int64_t succeeded = 0;
  int64_t retried = 0;
  int64_t dead = 0;
  std::string last_error;
};

/// Worker number `number` of the node (1, 2, ...) for `handlers`' queues, with
/// the `[jobs]` settings of `cfg`.
job_worker_actor::behavior_type
job_worker(job_worker_actor::stateful_pointer<job_worker_state> self,
           config cfg, job_handlers handlers, int64_t number);

/// `cfg.jobs.workers` job workers with the standard handlers, as node children
/// (after the alerter, which they find in the registry).
std::vector<node_child_spec> job_worker_children(const config& cfg);

} // namespace mailpipe
