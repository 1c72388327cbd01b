// `mailpipe run`: starts a node and runs it until SIGTERM or SIGINT.

#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/node.hpp"
#include "actors/pipeline.hpp"
#include "adapters/db/connection.hpp"
#include "adapters/db/deadline.hpp"
#include "adapters/db/migrate.hpp"
#include "adapters/sys/logging.hpp"
#include "messages/fwd.hpp"
#include "tools/mailpipe/cli.hpp"
#include "tools/mailpipe/signals.hpp"

namespace mailpipe::cli {

namespace {

/// The CAF configuration of a node: our message types and the middleman.
class node_system_config : public caf::actor_system_config {
public:
  node_system_config() {
    register_message_types(*this);
    configure_scheduler(*this);
    load<caf::io::middleman>();
  }
};

// True when a stop signal is pending (taken from the queue).
bool signal_pending(const sigset_t& set) {
  timespec zero{0, 0};
  return sigtimedwait(&set, nullptr, &zero) > 0;
}

// Ends the process now: actors still blocked in a call (a detached actor in libpq, say)
// would otherwise hold the actor system's destructor forever.
[[noreturn]] void exit_now(int code) {
  mailpipe::shutdown_logging();
  std::fflush(nullptr);
  std::_Exit(code);
}

// Waits for the root's down message until `deadline`, watching for a second signal.
// Returns the node's exit reason, or nullopt when it did not stop in time.
std::optional<caf::error> await_root(caf::scoped_actor& self,
                                     const sigset_t& set,
                                     caf::timestamp deadline) {
  std::optional<caf::error> reason;
  while (!reason && caf::make_timestamp() < deadline) {
    self->receive([&](caf::down_msg& msg) { reason = std::move(msg.reason); },
                  caf::after(std::chrono::milliseconds{50}) >> [] {});
    if (!reason && signal_pending(set)) {
      spdlog::warn("second stop signal: exiting without waiting");
      exit_now(exit_failure);
    }
  }
  return reason;
}

// Waits until only the caller's scoped actor is left, or `deadline`.
bool await_actors(caf::actor_system& sys, caf::timestamp deadline) {
  while (sys.registry().running() > 1) {
    if (caf::make_timestamp() >= deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  return true;
}

// Warns when the database was migrated by a newer binary (its schema_migrations has rows
// this binary does not know). A one-shot detached actor, since it blocks on libpq within
// the connect timeout and db::call_timeout; a database that cannot be reached or was never
// migrated is the registrar's to report.
void check_schema(caf::actor_system& sys, const config& cfg) {
  sys.spawn<caf::detached>([db_cfg = cfg.database](caf::event_based_actor*) {
    auto conn = db::connect(db_cfg);
    if (!conn)
      return;
    auto unknown = db::bounded(**conn, db::call_timeout(db_cfg), "schema check",
                               [&] { return db::unknown_migrations(**conn); });
    if (!unknown || unknown->empty())
      return;
    auto n = unknown->size();
    spdlog::warn("the database has {} migration{} this binary does not know: "
                 "{}; a newer "
                 "mailpipe migrated it: upgrade this node",
                 n, n == 1 ? "" : "s", db::describe(*unknown));
  });
}

int run_node(const config& cfg) {
  // The stop signals are blocked in every thread (the logger's and CAF's, see
  // add_run_command) and waited for here.
  auto set = stop_signals();
  node_system_config sys_cfg;
  caf::actor_system sys{sys_cfg};
  caf::scoped_actor self{sys};
  auto root = sys.spawn(node, cfg, standard_children(cfg));
  self->monitor(root);
  check_schema(sys, cfg);
  spdlog::info("node {} running (pid {}); SIGTERM, SIGINT or SIGHUP stops it",
               cfg.node.name, getpid());
  std::optional<caf::error> reason;
  int sig = 0;
  timespec tick{0, 100'000'000};
  while (!reason) {
    sig = sigtimedwait(&set, nullptr, &tick);
    if (sig > 0)
      break;
    self->receive([&](caf::down_msg& msg) { reason = std::move(msg.reason); },
                  caf::after(std::chrono::milliseconds{0}) >> [] {});
  }
  // The whole stop, blocked actors included, takes at most the grace and a margin.
  auto deadline =
      caf::make_timestamp() + cfg.node.shutdown_grace + std::chrono::seconds{1};
  if (!reason) {
    spdlog::info("received {}, stopping", signal_name(sig));
    self->send(root, atom::shutdown_v);
    reason = await_root(self, set, deadline);
  }
  if (!reason) {
    spdlog::error("node did not stop within {}, exiting",
                  format_duration(cfg.node.shutdown_grace));
    exit_now(exit_failure);
  }
  if (!await_actors(sys, deadline)) {
    spdlog::warn(
        "node {} stopped; {} actor(s) still blocked in a call, exiting "
        "without them",
        cfg.node.name, sys.registry().running() - 1);
    exit_now(*reason ? exit_failure : exit_ok);
  }
  if (*reason) {
    spdlog::critical("node {} stopped: {}", cfg.node.name, render(*reason));
    std::cerr << "mailpipe: " << render(*reason) << "\n";
    return exit_failure;
  }
  spdlog::info("node {} stopped cleanly", cfg.node.name);
  return exit_ok;
}

} // namespace

void add_run_command(CLI::App& app, context& ctx) {
  auto cmd = app.add_subcommand(
      "run",
      "start a node: registers in the cluster and runs until SIGTERM/SIGINT");
  cmd->callback([&ctx] {
    // Before the logger starts its thread: a thread that did not block a stop
    // signal would die of it instead of the node stopping in order.
    auto set = stop_signals();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    auto cfg = ctx.load_and_log();
    if (!cfg)
      return;
    ctx.exit = run_node(*cfg);
  });
}

} // namespace mailpipe::cli
