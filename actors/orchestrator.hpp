#pragma once

#include <deque>
#include <string>
#include <vector>

#include "actors/actors.hpp"
#include "actors/pipeline.hpp"

namespace mailpipe {

/// State of one run.
struct orchestrator_state {
  static inline const char* name = "orchestrator";
  /// The pipeline's shared context.
  pipeline_ptr context;
  /// Where passes go (the scheduler routes them to the accounts' supervisors).
  scheduler_actor router;
  /// The run as asked for, and its lease.
  run_request request;
  lease_holder holder;
  /// Accounts claimed and not yet started, and passes in flight.
  std::deque<claimed_account> waiting;
  int64_t in_flight = 0;
  int64_t claimed = 0;
  /// True once asked to stop: no further account starts.
  bool stopping = false;
  /// True once the claim answered, and once the run's end began.
  bool started = false;
  bool finishing = false;
  /// The report being written, and the metrics rows of the run.
  run_report report;
  std::vector<metrics_row> rows;
  /// The answer to whoever asked for the run.
  caf::typed_response_promise<run_report> promise;
};

/// One run: a new UUID; claims the eligible accounts with a lease
/// (`processing.lease`, renewed every third of it); keeps at most `parallel`
/// passes in flight (a new one starts as one ends); logs one line per account
/// to `email-processing.log`; then writes the metrics rows, releases the
/// leases, expires and completes tests, and answers with the report. A claim
/// that fails (database down) is the run's error.
orchestrator_actor::behavior_type
orchestrator(orchestrator_actor::stateful_pointer<orchestrator_state> self,
             pipeline_ptr context, scheduler_actor router);

/// A new random (version 4) UUID as text.
std::string new_run_id();

} // namespace mailpipe
