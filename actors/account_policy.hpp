#pragma once

// The account supervisor's rules, as pure functions of its state and `now` (so
// its tests need no clock): may a pass start, what an error counts as, and what
// a stored outcome does to the cached state. Counting and disabling are decided
// in PostgreSQL
// (`db::record_failure`, one transaction, shared by every node); the supervisor
// caches the answer.

#include <cstdint>
#include <optional>
#include <string>

#include <caf/error.hpp>

#include "messages/clock.hpp"
#include "messages/error.hpp"
#include "messages/pipeline.hpp"

namespace mailpipe {

/// The failure state of an account, as the supervisor caches it.
struct account_health {
  /// Consecutive failures.
  int32_t failures = 0;
  /// No pass before this time (none after a success).
  std::optional<wall_time> retry_at;
  /// True once disabled (only `account reactivate` brings it back).
  bool disabled = false;
};

/// Whether a pass may start now.
enum class pass_gate : uint8_t {
  /// Go.
  open,
  /// Inside its retry time.
  retry_later,
  /// Disabled.
  disabled,
};

/// The gate of an account at `now`.
pass_gate gate(const account_health& health, wall_time now);

/// The cached state after a stored failure.
account_health after_failure(const failure_outcome& stored);

/// The cached state after a stored success.
account_health after_success();

/// The failure class of a pass error: the project's codes by `classify`, CAF's
/// request timeout as `timeout`, a fetcher or analyzer that died as `other`.
failure_class class_of(const caf::error& err);

/// The failure's text for the tables and logs (the adapters already masked
/// secrets).
std::string message_of(const caf::error& err);

} // namespace mailpipe
