// `mailpipe run`: starts a node and runs it until SIGTERM or SIGINT.

#include <signal.h>

#include <iostream>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/node.hpp"
#include "messages/fwd.hpp"
#include "tools/mailpipe/cli.hpp"

namespace mailpipe::cli {

namespace {

/// The CAF configuration of a node: our message types and the middleman.
class node_system_config : public caf::actor_system_config {
public:
  node_system_config() {
    register_message_types(*this);
    load<caf::io::middleman>();
  }
};

int run_node(const config& cfg) {
  // Block the stop signals in every thread (CAF's included), then wait for them here.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  node_system_config sys_cfg;
  caf::actor_system sys{sys_cfg};
  auto root = sys.spawn(node, cfg);
  spdlog::info("node {} running (pid {}); SIGTERM or SIGINT stops it",
               cfg.node.name, getpid());
  int sig = 0;
  sigwait(&stop_signals, &sig);
  spdlog::info("received {}, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  caf::scoped_actor self{sys};
  self->monitor(root);
  self->send(root, atom::shutdown_v);
  bool stopped = false;
  auto deadline = cfg.node.shutdown_grace * 2 + std::chrono::seconds{1};
  self->receive(
    [&](const caf::down_msg&) { stopped = true; },
    caf::after(deadline) >> [&] {
      spdlog::error("node did not stop within {}, killing it",
                    format_duration(deadline));
      self->send_exit(root, caf::exit_reason::kill);
    });
  spdlog::info("node {} stopped {}", cfg.node.name,
               stopped ? "cleanly" : "after a kill");
  return stopped ? exit_ok : exit_failure;
}

} // namespace

void add_run_command(CLI::App& app, context& ctx) {
  auto cmd = app.add_subcommand(
    "run", "start a node: registers in the cluster and runs until SIGTERM/SIGINT");
  cmd->callback([&ctx] {
    auto cfg = ctx.load_and_log();
    if (!cfg)
      return;
    ctx.exit = run_node(*cfg);
  });
}

} // namespace mailpipe::cli
