#pragma once

#include <memory>

#include "actors/actors.hpp"
#include "config/config.hpp"

namespace mailpipe {

/// State of the metrics actor: the node's counters since it started.
struct metrics_state {
  static inline const char* name = "metrics";
  /// The retention of the daily cleanup (0: no cleanup), and where rows go
  /// (declared second: CAF would construct a state whose first member takes the
  /// actor pointer from that pointer).
  int64_t retention_days = 0;
  store_actor store;
  /// Runs whose rows arrived, rows written, accounts by outcome, messages
  /// found.
  int64_t runs = 0;
  int64_t rows_written = 0;
  int64_t successes = 0;
  int64_t failures = 0;
  int64_t timeouts = 0;
  int64_t skipped = 0;
  int64_t emails_found = 0;
  /// Rows deleted by cleanups, and the last error.
  int64_t rows_cleaned = 0;
  std::string last_error;
};

/// Counts what each run's rows say and writes them through `store`. With
/// `retention_days > 0`, deletes older rows at start and then once a day, each
/// cleanup a line of `metrics-cleanup.log`.
metrics_actor::behavior_type
metrics(metrics_actor::stateful_pointer<metrics_state> self, store_actor store,
        int64_t retention_days);

} // namespace mailpipe
