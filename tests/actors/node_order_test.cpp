// The node's own logic on the test coordinator, with children that only write
// down what happens to them: start order, status, the ordered stop in reverse,
// a child killed once it outlives the grace, a child that ends on its own.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <gtest/gtest.h>

#include "actors/node.hpp"
#include "tests/support/deterministic.hpp"

using namespace mailpipe;
using namespace std::chrono_literals;

namespace {

using journal = std::shared_ptr<std::vector<std::string>>;
using strings = std::vector<std::string>;

// Writes "stop NAME" when asked to exit; quits unless it is stubborn (a kill
// ends it anyway).
caf::behavior child(caf::event_based_actor* self, std::string name, journal log,
                    bool stubborn) {
  self->set_exit_handler([=](const caf::exit_msg& msg) {
    log->push_back("stop " + name);
    if (!stubborn || msg.reason == caf::exit_reason::kill)
      self->quit(msg.reason);
  });
  return {[](int) {}};
}

struct node_order_fixture : test::deterministic_fixture {
  journal log = std::make_shared<strings>();
  std::map<std::string, caf::actor> children;

  node_child_spec spec(const std::string& name, bool stubborn = false) {
    return {name, [this, name, stubborn](caf::actor_system& s) {
              log->push_back("start " + name);
              auto handle = s.spawn(child, name, log, stubborn);
              children[name] = handle;
              return handle;
            }};
  }

  static config node_config() {
    config cfg;
    cfg.node.name = "ordered";
    cfg.node.shutdown_grace = 2s;
    return cfg;
  }

  // The names and states of the children, as the node's status gives them.
  strings children_in_status(const node_actor& n) {
    self->send(n, atom::status_v);
    run();
    auto d = take<status_dict>();
    if (!d)
      return {"no status"};
    strings out;
    auto list = caf::get_if<std::vector<caf::config_value>>(&*d, "children");
    for (auto& c : list ? *list : std::vector<caf::config_value>{}) {
      auto& dict = caf::get<caf::config_value::dictionary>(c);
      out.push_back(caf::get_or(dict, "name", std::string{}) + " "
                    + caf::get_or(dict, "state", std::string{}));
    }
    return out;
  }
};

} // namespace

TEST_F(node_order_fixture, starts_in_order_and_stops_in_reverse) {
  auto n =
      sys.spawn(node, node_config(),
                std::vector<node_child_spec>{spec("a"), spec("b"), spec("c")});
  run();
  EXPECT_EQ(*log, (strings{"start a", "start b", "start c"}));
  EXPECT_EQ(children_in_status(n),
            (strings{"a running", "b running", "c running"}));
  self->monitor(n);
  self->send(n, atom::shutdown_v);
  run();
  EXPECT_EQ(*log, (strings{"start a", "start b", "start c", "stop c", "stop b",
                           "stop a"}));
  auto down = take<caf::down_msg>();
  ASSERT_TRUE(down);
  EXPECT_FALSE(down->reason) << sys.render(down->reason);
}

TEST_F(node_order_fixture, kills_a_child_that_outlives_the_grace) {
  auto n =
      sys.spawn(node, node_config(),
                std::vector<node_child_spec>{spec("a"), spec("stuck", true)});
  run();
  self->monitor(n);
  self->send(n, atom::shutdown_v);
  run();
  // The stuck child was asked and ignores it: "a" waits, the node runs on.
  EXPECT_EQ(log->back(), "stop stuck");
  EXPECT_FALSE(take<caf::down_msg>());
  advance(1s);
  EXPECT_EQ(log->back(), "stop stuck");
  EXPECT_FALSE(take<caf::down_msg>());
  // At the grace it is killed, and the stop goes on.
  advance(1s);
  // (CAF applies a kill without calling the exit handler.)
  EXPECT_EQ(*log, (strings{"start a", "start stuck", "stop stuck", "stop a"}));
  auto down = take<caf::down_msg>();
  ASSERT_TRUE(down);
  EXPECT_FALSE(down->reason) << sys.render(down->reason);
}

TEST_F(node_order_fixture,
       a_child_that_ends_on_its_own_stops_the_node_with_its_reason) {
  auto n =
      sys.spawn(node, node_config(),
                std::vector<node_child_spec>{spec("a"), spec("b"), spec("c")});
  run();
  self->monitor(n);
  auto boom = caf::make_error(ec::database_unavailable, "b gave up");
  self->send_exit(children["b"], boom);
  run();
  EXPECT_EQ(*log, (strings{"start a", "start b", "start c", "stop b", "stop c",
                           "stop a"}));
  auto down = take<caf::down_msg>();
  ASSERT_TRUE(down);
  EXPECT_EQ(down->reason, boom) << sys.render(down->reason);
}
