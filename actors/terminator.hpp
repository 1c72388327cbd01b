#pragma once

#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_clock.hpp>
#include <caf/timespan.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/actors.hpp"

namespace mailpipe {

/// How a terminator stops its targets.
enum class stop_order {
  /// One after the other, in the order given (a node: reverse start order).
  sequential,
  /// All at once (a supervisor's fetchers).
  parallel,
};

/// State of a terminator: what is left to stop and who waits for the answer.
struct terminator_state {
  static inline const char* name = "terminator";
  /// The targets, in the order given.
  std::vector<terminator_target> targets;
  /// Whether targets[i] is down (or was killed: a blocked detached actor never answers).
  std::vector<bool> gone;
  /// How long the whole stop may take: a target still running then is killed.
  caf::timespan grace{};
  /// When the grace ends.
  caf::actor_clock::time_point deadline;
  /// Sequential or parallel.
  stop_order order = stop_order::sequential;
  /// Index of the next target to stop (sequential order).
  size_t next = 0;
  /// Targets killed after their grace period.
  std::vector<std::string> killed;
  /// The answer to the shutdown request, delivered when every target is gone.
  caf::typed_response_promise<atom::done> done;
};

/// Stops actors in order (VAST's terminator): sends each an exit with `user_shutdown` and
/// waits for its down message; a target still running when `grace` (counted from the
/// request, for the whole stop) has passed is killed, and the terminator goes on. Answers the
/// `shutdown` request with `done` once every target is down or killed, then quits.
terminator_actor::behavior_type
terminator(terminator_actor::stateful_pointer<terminator_state> self,
           stop_order order, caf::timespan grace);

} // namespace mailpipe
