#pragma once

// What the pipeline's actors share: the configuration, the compiled analyzer
// and the handles of the node-wide actors. Built once (`start_pipeline`),
// read-only afterwards.

#include <memory>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/expected.hpp>

#include "actors/actors.hpp"
#include "actors/fetcher.hpp"
#include "adapters/analysis/analysis.hpp"
#include "config/config.hpp"
#include "messages/clock.hpp"

namespace mailpipe {

/// The shared, read-only context of a node's pipeline.
struct pipeline_context {
  /// The node's configuration.
  config cfg;
  /// The analysis policy, compiled once (`analyze` is const and thread-safe).
  std::shared_ptr<const analyzer> analysis;
  /// The PostgreSQL writers; an account's writes always go to the same one.
  std::vector<store_actor> stores;
  /// Counters and metrics rows.
  metrics_actor metrics;
  /// Alerts (null when the node runs without one).
  alerter_actor alerter;
  /// The wall clock the supervisors' retry gate reads (a fake one in actor
  /// tests).
  clock_fn now = [] { return std::chrono::system_clock::now(); };
  /// Finds an account's test messages (`fetch_test_messages`; a stand-in in
  /// actor tests).
  fetch_fn fetch = fetch_test_messages;
  /// True when `fetch` blocks (a real provider): fetchers are then detached
  /// actors.
  bool blocking_fetch = true;

  /// The store of an account (claims and run-wide calls use `stores.front()`).
  const store_actor& store_for(int64_t account_id) const;
};

/// Shared by every actor of the pipeline.
using pipeline_ptr = std::shared_ptr<const pipeline_context>;

/// The node-wide actors of the pipeline, started by `start_pipeline`.
struct pipeline_handles {
  /// The context the scheduler and its supervisors read.
  pipeline_ptr context;
  /// Starts runs and owns the supervisors.
  scheduler_actor scheduler;
  /// Every actor started, in start order (stop them in reverse: the scheduler
  /// first).
  std::vector<terminator_target> actors;
};

/// How the scheduler runs.
struct schedule {
  /// A run every this long (zero: only when asked, as `mailpipe process` does).
  duration interval{0};
  /// Clean metrics rows older than `metrics_days` once a day (zero: never).
  int64_t metrics_days = 0;
};

/// Days of `email_processing_metrics` a node keeps (its daily cleanup;
/// `mailpipe metrics clean --days` has the same default).
constexpr int64_t metrics_retention_days = 30;

/// Compiles the analysis policy, loads the secrets key and spawns the stores,
/// the metrics actor, the alerter and the scheduler. A bad policy file is an
/// error; a missing key is not (claims then fail with the reason, so `process`
/// can say it).
caf::expected<pipeline_handles>
start_pipeline(caf::actor_system& sys, const config& cfg, schedule when);

struct node_child_spec;

/// Sets the scheduler a process running the pipeline needs: CAF's work-sharing
/// scheduler. The pipeline's event-based actors do little between messages
/// (the work is in the detached fetchers and stores), and the default
/// work-stealing workers poll for it: on a machine whose cores the mail
/// servers keep busy, that polling costs more CPU than the actors themselves.
/// Sharing workers sleep on a condition variable instead.
void configure_scheduler(caf::actor_system_config& cfg);

/// The pipeline as children of a node, in start order (stores, metrics,
/// alerter, scheduler): runs every `processing.interval`, metrics cleaned
/// daily. The first spec starts the whole pipeline; a pipeline that cannot
/// start (a bad policy file) is a child that ends at once with the reason,
/// which stops the node.
std::vector<node_child_spec> pipeline_children(const config& cfg);

} // namespace mailpipe
