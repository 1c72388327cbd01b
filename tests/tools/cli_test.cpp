// The `mailpipe` command line: exit codes, messages, and the node's life cycle.

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "tests/support/child.hpp"
#include "tests/support/env.hpp"

using namespace mailpipe::test;

namespace {

std::string write_temp(const std::string& name, const std::string& text) {
  auto path = ::testing::TempDir() + name;
  std::ofstream{path} << text;
  return path;
}

run_result run_mailpipe(std::vector<std::string> args,
                        std::vector<std::string> env = {}) {
  args.insert(args.begin(), mailpipe_binary());
  return run_process(args, env);
}

} // namespace

TEST(cli, config_check_accepts_a_good_file) {
  auto path = write_temp("good.toml", "[processing]\nparallel = 8\n");
  auto r = run_mailpipe({"config", "check", path});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("ok"), std::string::npos);
}

TEST(cli, config_check_names_file_line_and_key_and_exits_2) {
  auto path =
      write_temp("bad.toml", "[processing]\n"
                             "interval = \"10 minutes\"\n"
                             "paralel = 3\n"
                             "[mistral]\n"
                             "api_key = \"${MAILPIPE_TEST_UNSET_VAR}\"\n");
  auto r = run_mailpipe({"config", "check", path});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find(path + ":2:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("processing.interval"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("bad duration"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(path + ":3:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("processing.paralel"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(path + ":5:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("MAILPIPE_TEST_UNSET_VAR is not set"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("3 errors"), std::string::npos) << r.err;
}

TEST(cli, config_check_compiles_the_analysis_section) {
  // A pattern that does not compile and a policy file that does not exist are
  // config mistakes, found by `config check` rather than by the first message.
  auto bad_pattern =
      write_temp("pattern.toml", "[analysis]\ntest_id_pattern = \"mp-[A-Z\"\n");
  auto r = run_mailpipe({"config", "check", bad_pattern});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("[analysis]"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("ok"), std::string::npos) << r.out;

  auto missing_file = write_temp(
      "policy.toml",
      "[analysis]\nsignatures_file = \"/nonexistent/signatures.toml\"\n");
  r = run_mailpipe({"config", "check", missing_file});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("/nonexistent/signatures.toml"), std::string::npos)
      << r.err;
}

TEST(cli, config_check_of_a_missing_file_exits_2) {
  auto r = run_mailpipe({"config", "check", "/nonexistent/mailpipe.toml"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("cannot read"), std::string::npos) << r.err;
}

TEST(cli, config_show_masks_secrets_and_reflects_the_environment) {
  auto path =
      write_temp("show.toml", "[alerts]\ndiscord_webhook_url = \"${HOOK}\"\n");
  auto r =
      run_mailpipe({"--config", path, "config", "show"},
                   {"HOOK=https://discord.example/api/webhooks/1/SECRETTOKEN",
                    "MAILPIPE_DATABASE_URL=postgresql://u:pw123@h:1/db"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.find("SECRETTOKEN"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("pw123"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("postgresql://u:***@h:1/db"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("discord_webhook_url = \"***\""), std::string::npos);
}

TEST(cli, config_show_with_a_bad_file_exits_2) {
  auto path = write_temp("bad2.toml", "[log]\nlevel = 3\n");
  auto r = run_mailpipe({"--config", path, "config", "show"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("log.level"), std::string::npos) << r.err;
}

TEST(cli, every_command_has_help) {
  for (auto args :
       std::vector<std::vector<std::string>>{{"--help"},
                                             {"config", "--help"},
                                             {"config", "check", "--help"},
                                             {"config", "show", "--help"},
                                             {"migrate", "--help"},
                                             {"run", "--help"}}) {
    auto r = run_mailpipe(args);
    EXPECT_EQ(r.status, 0) << args[0] << r.err;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << args[0] << r.out;
  }
}

TEST(cli, usage_errors_exit_2) {
  EXPECT_EQ(run_mailpipe({}).status, 2);
  EXPECT_EQ(run_mailpipe({"frobnicate"}).status, 2);
  EXPECT_EQ(run_mailpipe({"migrate", "--no-such-flag"}).status, 2);
}

TEST(cli, migrate_with_a_dead_database_exits_1_with_a_clear_error) {
  auto r = run_mailpipe(
      {"migrate"},
      {"MAILPIPE_DATABASE_URL=postgresql://mailpipe:pw9@127.0.0.1:1/x"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("database_unavailable"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("pw9"), std::string::npos) << r.err;
}

TEST(cli, migrate_twice_then_status) {
  MAILPIPE_SCRATCH_DATABASE(db);
  std::vector<std::string> env{"MAILPIPE_DATABASE_URL=" + db.url()};
  auto first = run_mailpipe({"migrate"}, env);
  EXPECT_EQ(first.status, 0) << first.err;
  EXPECT_NE(first.out.find("applied 0001"), std::string::npos) << first.out;
  auto second = run_mailpipe({"migrate"}, env);
  EXPECT_EQ(second.status, 0) << second.err;
  EXPECT_NE(second.out.find("up to date"), std::string::npos) << second.out;
  auto status = run_mailpipe({"migrate", "--status"}, env);
  EXPECT_EQ(status.status, 0) << status.err;
  EXPECT_NE(status.out.find("0 pending"), std::string::npos) << status.out;
}

// -- the node -----------------------------------------------------------------

namespace {

// A `mailpipe run` node named `name` on `db_url`, heartbeat every 200 ms.
struct node_process {
  std::unique_ptr<child_process> child;

  node_process(const std::string& db_url, const std::string& name) {
    auto cfg =
        write_temp(name + ".toml", "[node]\nname = \"" + name
                                       + "\"\nheartbeat_interval = \"200ms\"\n"
                                         "dead_after = \"2s\"\n"
                                         "[http]\nlisten = \"\"\n");
    child = std::make_unique<child_process>(
        std::vector<std::string>{mailpipe_binary(), "--config", cfg, "run"},
        std::vector<std::string>{"MAILPIPE_DATABASE_URL=" + db_url}, name);
  }

  int wait_exit(std::chrono::seconds timeout) {
    return child->wait_exit(timeout);
  }
  std::string log() const { return child->output(); }
  bool running() { return child->running(); }
  void signal(int sig) { child->signal(sig); }
};

void node_stops_on(int sig) {
  MAILPIPE_SCRATCH_DATABASE(db);
  ASSERT_EQ(
      run_mailpipe({"migrate"}, {"MAILPIPE_DATABASE_URL=" + db.url()}).status,
      0);
  node_process node{db.url(), "node-" + std::to_string(sig)};
  // It registers, then keeps its heartbeat.
  ASSERT_TRUE(
      eventually(db.url(),
                 "SELECT count(*) = 1 FROM nodes WHERE stopped_at IS NULL "
                 "AND heartbeat_at > started_at",
                 std::chrono::seconds{10}))
      << node.log();
  node.signal(sig);
  EXPECT_EQ(node.wait_exit(std::chrono::seconds{15}), 0) << node.log();
  EXPECT_TRUE(eventually(
      db.url(), "SELECT count(*) = 1 FROM nodes WHERE stopped_at IS NOT NULL",
      std::chrono::seconds{1}));
  auto log = node.log();
  EXPECT_NE(log.find("ordered shutdown"), std::string::npos) << log;
  EXPECT_NE(log.find("stopped cleanly"), std::string::npos) << log;
}

} // namespace

TEST(node, starts_registers_and_stops_on_sigterm) {
  node_stops_on(SIGTERM);
}

TEST(node, stops_on_sigint) {
  node_stops_on(SIGINT);
}

// A hang-up (a closed terminal, a service manager's reload) is an ordered stop too.
TEST(node, stops_on_sighup) {
  node_stops_on(SIGHUP);
}

TEST(node, keeps_running_while_the_database_is_down_and_still_stops) {
  node_process node{"postgresql://mailpipe@127.0.0.1:1/none", "node-nodb"};
  std::this_thread::sleep_for(std::chrono::milliseconds{800});
  EXPECT_TRUE(node.running()) << "the node died: " << node.log();
  node.signal(SIGTERM);
  EXPECT_EQ(node.wait_exit(std::chrono::seconds{15}), 0) << node.log();
  EXPECT_NE(node.log().find("database_unavailable"), std::string::npos)
      << node.log();
}
