// `mailpipe run` against a PostgreSQL that stops answering: a fault proxy
// between the node and the server freezes (sockets open, nothing forwarded, as
// a frozen postmaster looks), and the node must still log the outage within
// `node.dead_after` and exit within `node.shutdown_grace` of a SIGTERM.

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/child.hpp"
#include "tests/support/env.hpp"
#include "tests/support/fault_proxy.hpp"

using namespace mailpipe::test;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

// The node's timing: a heartbeat every 200 ms, dead after 3 s, 2 s to stop, a
// processing run every second (so that the pipeline's actors call the database
// through the proxy too).
// One call is bounded by statement + connect timeout = 3 s
// (db::call_timeout), the registrar's by min(that, dead_after).
constexpr auto dead_after = 3s;
constexpr auto shutdown_grace = 2s;

std::string node_config(const std::string& name, const std::string& log_dir) {
  return "[node]\nname = \"" + name
         + "\"\n"
           "heartbeat_interval = \"200ms\"\n"
           "dead_after = \"3s\"\n"
           "shutdown_grace = \"2s\"\n"
           "[http]\n"
           "listen = \"\"\n"
           "[processing]\n"
           "interval = \"1s\"\n"
           "[database]\n"
           "connect_timeout = \"1s\"\n"
           "statement_timeout = \"2s\"\n"
           "[log]\n"
           "dir = \""
         + log_dir + "\"\n";
}

// Everything in the node's daily log files (`mailpipe_YYYY-MM-DD.log`).
std::string node_log(const std::string& dir) {
  std::string text;
  std::error_code err;
  for (auto& entry : std::filesystem::directory_iterator{dir, err}) {
    auto name = entry.path().filename().string();
    if (name.rfind("mailpipe_", 0) != 0 || entry.path().extension() != ".log")
      continue;
    std::ifstream in{entry.path()};
    text.append(std::istreambuf_iterator<char>{in}, {});
  }
  return text;
}

// How long it took until `done()` held, or nullopt after `timeout`.
template <class F>
std::optional<steady::duration> time_until(F done, steady::duration timeout) {
  auto start = steady::now();
  while (steady::now() - start < timeout) {
    if (done())
      return steady::now() - start;
    std::this_thread::sleep_for(50ms);
  }
  return std::nullopt;
}

double seconds(steady::duration d) {
  return std::chrono::duration<double>(d).count();
}

// A migrated scratch database, a fault proxy in front of its server, and a
// node running on the proxy, registered.
class node_fault : public ::testing::Test {
protected:
  void SetUp() override {
    ASSERT_FALSE(db_.url().empty()) << "no PostgreSQL: run with tools/test";
    auto migrate = run_process({mailpipe_binary(), "migrate"},
                               {"MAILPIPE_DATABASE_URL=" + db_.url()});
    ASSERT_EQ(migrate.status, 0) << migrate.err;
    auto target = pg_target_of(db_.url());
    ASSERT_TRUE(target) << db_.url();
    proxy_ = std::make_unique<fault_proxy>(target->host, target->port);
    ASSERT_NE(proxy_->port(), 0);
    auto name =
        std::string{"fault-"}
        + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    log_dir_ = ::testing::TempDir() + name + "-" + std::to_string(getpid());
    std::filesystem::remove_all(log_dir_);
    auto cfg = ::testing::TempDir() + name + ".toml";
    std::ofstream{cfg} << node_config(name, log_dir_);
    node_ = std::make_unique<child_process>(
        std::vector<std::string>{mailpipe_binary(), "--config", cfg, "run"},
        std::vector<std::string>{
            "MAILPIPE_DATABASE_URL=" + through_port(db_.url(), proxy_->port()),
            "MAILPIPE_SECRET_KEY=" + std::string(43, 'A') + "="},
        name);
    auto registered =
        eventually(db_.url(),
                   "SELECT count(*) = 1 FROM nodes WHERE stopped_at IS NULL "
                   "AND heartbeat_at > started_at",
                   20s);
    ASSERT_TRUE(registered) << node_->output();
    ASSERT_GT(proxy_->accepted(), 0) << "the node bypassed the proxy";
  }

  // Freezes the proxy and returns when.
  steady::time_point freeze() {
    proxy_->freeze();
    return steady::now();
  }

  // How long the node's log file took to show `text`, counted from `since`.
  std::optional<steady::duration> logged(const std::string& text,
                                         steady::time_point since,
                                         steady::duration timeout) {
    auto found = time_until(
        [&] { return node_log(log_dir_).find(text) != std::string::npos; },
        timeout - (steady::now() - since));
    if (!found)
      return std::nullopt;
    return steady::now() - since;
  }

  std::string log() { return node_log(log_dir_); }

  scratch_database db_;
  std::unique_ptr<fault_proxy> proxy_;
  std::string log_dir_;
  std::unique_ptr<child_process> node_;
};

} // namespace

TEST_F(node_fault, logs_a_frozen_database_within_dead_after) {
  auto frozen_at = freeze();
  // The registrar's call is cut at min(call timeout, dead_after) = 3 s after
  // its last success (at most one heartbeat before the freeze); 2 s of margin.
  auto critical =
      logged("the database has not answered for", frozen_at, dead_after + 2s);
  ASSERT_TRUE(critical) << log();
  EXPECT_NE(log().find("no answer from the database within"), std::string::npos)
      << log();
  // The node is still up, and resumes once the database answers again.
  EXPECT_TRUE(node_->running()) << node_->output();
  auto resumed_at = steady::now();
  proxy_->resume();
  EXPECT_TRUE(logged("database reachable again", resumed_at, 15s)) << log();
  // The outage was a critical alert, recorded once the database answered.
  EXPECT_TRUE(eventually(db_.url(),
                         "SELECT count(*) = 1 FROM alerts WHERE kind = "
                         "'database_down' AND severity = 'critical'",
                         15s))
      << log();
  node_->signal(SIGTERM);
  EXPECT_EQ(node_->wait_exit(15s), 0) << log();
  EXPECT_NE(log().find("stopped cleanly"), std::string::npos) << log();
}

TEST_F(node_fault, exits_within_the_grace_while_the_database_is_frozen) {
  proxy_->freeze();
  // The registrar is now blocked in a heartbeat (one every 200 ms).
  std::this_thread::sleep_for(1s);
  auto signalled_at = steady::now();
  node_->signal(SIGTERM);
  int status = node_->wait_exit(shutdown_grace + 10s);
  auto took = steady::now() - signalled_at;
  // Docs: the process exits within node.shutdown_grace + 1 s (2 s margin
  // here); an ordered stop exits 0 even when an actor had to be left behind.
  EXPECT_EQ(status, 0) << log();
  EXPECT_LT(took, shutdown_grace + 2s)
      << "exit " << seconds(took) << " s after SIGTERM; " << log();
  EXPECT_NE(log().find("received SIGTERM, stopping"), std::string::npos)
      << log();
  // The freeze held the registrar: the stop had to cut it loose.
  EXPECT_NE(log().find("still blocked in a call"), std::string::npos) << log();
}
