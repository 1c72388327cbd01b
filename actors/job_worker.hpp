#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>

#include <caf/expected.hpp>
#include <pqxx/connection>

#include "actors/actors.hpp"
#include "actors/job_handlers.hpp"
#include "actors/node.hpp"
#include "adapters/db/jobs.hpp"
#include "adapters/http/prometheus.hpp"
#include "config/config.hpp"

namespace mailpipe {

/// What a node's job workers did, per queue, for /metrics: shared by the
/// workers (which observe) and the HTTP endpoint (which reads).
struct job_metrics {
  struct queue_metrics {
    /// Seconds a handler ran.
    http::histogram duration{
        {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}};
    std::atomic<uint64_t> succeeded{0};
    std::atomic<uint64_t> retried{0};
    std::atomic<uint64_t> dead{0};
  };
  /// One entry per queue of `db::job_queues`, made up front (never added to,
  /// so threads read it without a lock).
  std::map<std::string, std::unique_ptr<queue_metrics>, std::less<>> queues;

  job_metrics();

  /// The entry of `queue` (one of `db::job_queues`).
  queue_metrics& of(std::string_view queue);

  /// Writes the job duration histogram and the outcome counters.
  void write(http::prometheus_text& out) const;
};

/// Lets at most a few of a node's job workers talk to the job store at once
/// (a claim, or the record of a batch's successes). Many workers on few cores
/// otherwise spend their time claiming past each other's locked rows; River
/// feeds all the executors of a queue from one producer for the same reason.
/// The handlers run outside the gate, so as many jobs run at once as there are
/// workers.
class store_gate {
public:
  /// A gate of `slots` (at least one).
  explicit store_gate(int64_t slots);

  /// Blocks until a slot is free; `leave` gives it back.
  void enter();
  void leave();

private:
  std::mutex mtx_;
  std::condition_variable freed_;
  int64_t free_;
};

/// State of a job worker.
struct job_worker_state {
  static inline const char* name = "job_worker";
  config cfg;
  /// The lease owner: "<node name>/<worker number>", so a worker that starts
  /// again takes back what it held, and only that.
  std::string owner;
  job_handlers handlers;
  std::shared_ptr<job_metrics> metrics;
  /// Shared by the node's workers.
  std::shared_ptr<store_gate> gate;
  std::unique_ptr<pqxx::connection> conn;
  /// LISTENs on `conn` (declared after it: destroyed first).
  std::unique_ptr<db::job_listener> listener;
  /// An enqueue notified; claim at the next tick.
  bool woken = true;
  /// A queue's limits (concurrency, rate) held jobs back at the last claim.
  bool held_back = false;
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
  /// What a batch of `unsettled_queue` left when the database stopped
  /// answering, settled at the next connection before the worker takes back
  /// what it held: successes to record, jobs never started to give back.
  std::string unsettled_queue;
  std::vector<db::job_success> unrecorded;
  std::vector<std::string> unstarted;
  /// How long each queue's jobs took of late, in seconds (a moving average),
  /// which sizes the next claim.
  std::map<std::string, double, std::less<>> job_seconds;
};

/// Worker number `number` of the node (1, 2, ...) for `handlers`' queues, with
/// the `[jobs]` settings of `cfg`, counting into `metrics`, its claims and
/// completions through `gate`.
job_worker_actor::behavior_type
job_worker(job_worker_actor::stateful_pointer<job_worker_state> self,
           config cfg, job_handlers handlers, int64_t number,
           std::shared_ptr<job_metrics> metrics,
           std::shared_ptr<store_gate> gate);

/// The node's lease keeper, then `cfg.jobs.workers` job workers with the
/// standard handlers, as node children (after the alerter; the workers find
/// both in the registry, and stop before the keeper).
std::vector<node_child_spec>
job_worker_children(const config& cfg, std::shared_ptr<job_metrics> metrics);

} // namespace mailpipe
