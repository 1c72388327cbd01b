// The node actor on a real threaded actor system, against the harness's
// PostgreSQL.

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "actors/node.hpp"
#include "adapters/db/connection.hpp"
#include "adapters/db/migrate.hpp"
#include "tests/support/actor_system.hpp"
#include "tests/support/env.hpp"

using namespace mailpipe;
using namespace std::chrono_literals;

namespace {

struct node_fixture : test::actor_system_fixture {
  config node_config(const std::string& url) {
    config cfg;
    cfg.database.url = url;
    cfg.node.name = "test-node";
    cfg.node.heartbeat_interval = 100ms;
    // Room for every child's longest call, and one job worker: a detached
    // actor killed inside a libpq call at the grace leaves its result to
    // LeakSanitizer when the process exits.
    cfg.node.shutdown_grace = 5s;
    cfg.jobs.workers = 1;
    // The endpoint has tests of its own (tests/tools/http_endpoint_test.cpp).
    cfg.http.listen = "";
    return cfg;
  }
};

} // namespace

TEST_F(node_fixture, answers_status_and_shuts_down_in_order) {
  MAILPIPE_SCRATCH_DATABASE(db);
  {
    auto conn = db::connect(db.url());
    ASSERT_TRUE(conn);
    ASSERT_TRUE(db::migrate(**conn));
  }
  auto n = sys.spawn(node, node_config(db.url()),
                     standard_children(node_config(db.url())));
  auto d = status_of(n);
  EXPECT_EQ(caf::get_or(d, "name", std::string{}), "node");
  EXPECT_EQ(caf::get_or(d, "node", std::string{}), "test-node");
  EXPECT_EQ(caf::get_or(d, "state", std::string{}), "running");
  auto children = caf::get_if<std::vector<caf::config_value>>(&d, "children");
  ASSERT_TRUE(children);
  // The registrar, then the pipeline: a store per pooled connection, metrics,
  // alerter, scheduler; then the lease keeper, the job workers and the push
  // watch.
  auto cfg = node_config(db.url());
  auto pool = static_cast<size_t>(cfg.database.pool_size);
  auto workers = static_cast<size_t>(cfg.jobs.workers);
  ASSERT_EQ(children->size(), 1u + pool + 3u + 1u + workers + 1u);
  // The registrar writes the node row and heartbeats.
  EXPECT_TRUE(test::eventually(db.url(),
                               "SELECT count(*) = 1 FROM nodes WHERE name = "
                               "'test-node' AND stopped_at IS NULL",
                               5s));
  self->monitor(n);
  self->send(n, atom::shutdown_v);
  bool down = false;
  self->receive([&](const caf::down_msg&) { down = true; },
                caf::after(10s) >> [] {});
  EXPECT_TRUE(down);
  pqxx::connection c{db.url()};
  pqxx::nontransaction tx{c};
  EXPECT_EQ(
      tx.exec1("SELECT count(*) FROM nodes WHERE stopped_at IS NOT NULL")[0]
          .as<int>(),
      1);
}

TEST_F(node_fixture, runs_on_while_the_database_is_unreachable) {
  auto cfg = node_config("postgresql://mailpipe@127.0.0.1:1/x");
  auto n = sys.spawn(node, cfg, standard_children(cfg));
  // The registrar's connections fail at once (nothing listens on port 1); it
  // retries at every beat, and neither it nor the node gives up.
  auto d = status_of(n);
  EXPECT_EQ(caf::get_or(d, "state", std::string{}), "running");
  auto children = caf::get_if<std::vector<caf::config_value>>(&d, "children");
  ASSERT_TRUE(children);
  for (auto& c : *children)
    EXPECT_EQ(caf::get_or(caf::get<caf::config_value::dictionary>(c), "state",
                          std::string{}),
              "running");
  self->send_exit(n, caf::exit_reason::user_shutdown);
}
