#pragma once

// Deterministic actor tests: CAF's test coordinator driven from GoogleTest (as Broker's
// base_fixture does). Nothing runs until the test says so: `run()` delivers every
// pending message, `advance(d)` moves the clock and fires the timeouts due.

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>
#include <gtest/gtest.h>

#include "messages/fwd.hpp"

namespace mailpipe::test {

/// An actor system configuration with the project's types and the testing scheduler.
struct deterministic_config : caf::actor_system_config {
  deterministic_config() {
    register_message_types(*this);
    set("scheduler.policy", caf::atom("testing"));
  }
};

/// A fixture with an actor system on the test coordinator and a scoped actor to talk
/// to it. No threads run the actors: the test drives them.
struct deterministic_fixture : ::testing::Test {
  deterministic_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  caf::scheduler::test_coordinator& sched =
      dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());

  /// Runs every actor until no message is left.
  void run() { sched.run(); }

  /// Moves the test clock by `d`, fires the timeouts due and runs.
  void advance(caf::timespan d) {
    sched.advance_time(d);
    run();
  }

  /// Takes one message of type `T` from the scoped actor's mailbox, if there is one.
  template <class T>
  std::optional<T> take() {
    std::optional<T> result;
    self->receive([&](const T& x) { result = x; },
                  caf::after(std::chrono::seconds{0}) >> [] {});
    return result;
  }
};

} // namespace mailpipe::test
