// The terminator on the test coordinator: order, and the grace-then-kill path.

#include <memory>
#include <string>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <gtest/gtest.h>

#include "actors/terminator.hpp"
#include "tests/support/deterministic.hpp"

using namespace mailpipe;
using namespace std::chrono_literals;

namespace {

using journal = std::shared_ptr<std::vector<std::string>>;

// Writes its name to the journal when asked to exit; quits unless it is stubborn.
caf::behavior target(caf::event_based_actor* self, std::string name,
                     journal log, bool stubborn) {
  self->set_exit_handler([=](const caf::exit_msg& msg) {
    log->push_back(name);
    if (!stubborn || msg.reason == caf::exit_reason::kill)
      self->quit(msg.reason);
  });
  return {[](int) {}};
}

struct terminator_fixture : test::deterministic_fixture {
  journal log = std::make_shared<std::vector<std::string>>();

  terminator_target spawn_target(const std::string& name,
                                 bool stubborn = false) {
    return {name, sys.spawn(target, name, log, stubborn)};
  }
};

} // namespace

TEST_F(terminator_fixture,
       stops_targets_one_after_the_other_in_the_given_order) {
  std::vector<terminator_target> targets{spawn_target("c"), spawn_target("b"),
                                         spawn_target("a")};
  auto t = sys.spawn(terminator, stop_order::sequential, caf::timespan{10s});
  self->send(t, atom::shutdown_v, targets);
  run();
  EXPECT_EQ(*log, (std::vector<std::string>{"c", "b", "a"}));
  EXPECT_TRUE(take<atom::done>());
}

TEST_F(terminator_fixture, kills_a_target_that_outlives_the_grace_and_goes_on) {
  auto stubborn = spawn_target("stubborn", true);
  std::vector<terminator_target> targets{stubborn, spawn_target("after")};
  self->monitor(stubborn.handle);
  auto t = sys.spawn(terminator, stop_order::sequential, caf::timespan{10s});
  self->send(t, atom::shutdown_v, targets);
  run();
  // The stubborn target ignored its exit: nothing more happens before the grace ends.
  EXPECT_EQ(*log, (std::vector<std::string>{"stubborn"}));
  EXPECT_FALSE(take<atom::done>());
  advance(9s);
  EXPECT_FALSE(take<atom::done>());
  advance(1s);
  auto down = take<caf::down_msg>();
  ASSERT_TRUE(down);
  EXPECT_EQ(down->reason, caf::exit_reason::kill);
  // CAF applies a kill without calling the exit handler: the journal shows the exit only.
  EXPECT_EQ(*log, (std::vector<std::string>{"stubborn", "after"}));
  EXPECT_TRUE(take<atom::done>());
}

TEST_F(terminator_fixture, the_grace_bounds_the_whole_stop_not_each_target) {
  std::vector<terminator_target> targets{spawn_target("first", true),
                                         spawn_target("second", true)};
  auto t = sys.spawn(terminator, stop_order::sequential, caf::timespan{10s});
  self->send(t, atom::shutdown_v, targets);
  run();
  advance(10s); // kills the first; the second starts with no grace left
  run();
  advance(0s);
  EXPECT_EQ(*log, (std::vector<std::string>{"first", "second"}));
  EXPECT_TRUE(take<atom::done>());
}

TEST_F(terminator_fixture, parallel_order_stops_every_target_at_once) {
  std::vector<terminator_target> targets{
      spawn_target("x"), spawn_target("y", true), spawn_target("z")};
  auto t = sys.spawn(terminator, stop_order::parallel, caf::timespan{5s});
  self->send(t, atom::shutdown_v, targets);
  run();
  EXPECT_EQ(log->size(), 3u);
  EXPECT_FALSE(take<atom::done>());
  advance(5s);
  EXPECT_TRUE(take<atom::done>());
}

TEST_F(terminator_fixture, answers_at_once_when_nothing_runs) {
  auto t = sys.spawn(terminator, stop_order::sequential, caf::timespan{5s});
  self->send(t, atom::shutdown_v, std::vector<terminator_target>{});
  run();
  EXPECT_TRUE(take<atom::done>());
}
