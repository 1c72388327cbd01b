#pragma once

#include <unordered_map>
#include <vector>

#include "actors/actors.hpp"
#include "actors/pipeline.hpp"

namespace mailpipe {

/// State of the scheduler: the supervisors and the run in progress.
struct scheduler_state {
  static inline const char* name = "scheduler";
  /// The pipeline's shared context.
  pipeline_ptr context;
  /// How often runs start by themselves (zero: only when asked).
  duration interval{0};
  /// One supervisor per account seen so far.
  std::unordered_map<int64_t, supervisor_actor> supervisors;
  /// The run of every eligible account in progress (null when none).
  orchestrator_actor current;
  /// Runs of named accounts in progress (a `fetch_emails` job's), beside it:
  /// the accounts' leases keep them from sharing an account.
  std::vector<orchestrator_actor> targeted;
  /// Runs started and runs that failed.
  int64_t runs = 0;
  int64_t failed_runs = 0;
  /// True once the node asked it to stop: the run in flight finishes, none
  /// starts.
  bool stopping = false;
};

/// Starts a run when asked, and every `interval` when it is not zero, never two
/// runs of every account at once (a tick during one is skipped); a run of
/// named accounts starts whenever asked. On an exit request it lets the runs
/// in progress finish their passes in flight (the node's terminator bounds
/// that by `node.shutdown_grace`), ends them (releasing their leases), then
/// quits, taking the supervisors with it. A scheduler that runs on an
/// interval (a node's) is in the registry under `scheduler_registry_key`.
scheduler_actor::behavior_type
scheduler(scheduler_actor::stateful_pointer<scheduler_state> self,
          pipeline_ptr context, duration interval);

} // namespace mailpipe
