#pragma once

#include <memory>
#include <string>

#include "actors/account_policy.hpp"
#include "actors/actors.hpp"
#include "actors/fetcher.hpp"
#include "actors/pipeline.hpp"

namespace mailpipe {

/// State of an account supervisor; small, as a node keeps one per seed account.
struct supervisor_state {
  static inline const char* name = "supervisor";
  /// The account's id.
  int64_t account_id = 0;
  /// The pipeline's shared context.
  pipeline_ptr context;
  /// Hints and tokens from the last pass (shared with no one once a pass
  /// ended).
  std::shared_ptr<connection_knowledge> knowledge;
  /// Cached failure state.
  account_health health;
  /// Passes made, and whether one is in progress.
  int32_t passes = 0;
  bool busy = false;
  /// How the last pass ended.
  pass_status last = pass_status::skipped;
};

/// The supervisor of account `account_id`. A pass spawns a detached fetcher
/// (cut at the request's timeout), an analyzer, writes through the account's
/// store, updates the cached state from the store's answer, raises alerts
/// (every failure counts toward the `account_error` window; a disabling is
/// critical) and answers with the outcome.
supervisor_actor::behavior_type
supervisor(supervisor_actor::stateful_pointer<supervisor_state> self,
           int64_t account_id, pipeline_ptr context);

} // namespace mailpipe
