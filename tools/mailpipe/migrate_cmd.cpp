// `mailpipe migrate [--status] [--lock-wait DURATION]`.

#include <iostream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "adapters/db/connection.hpp"
#include "adapters/db/migrate.hpp"
#include "tools/mailpipe/cli.hpp"

namespace mailpipe::cli {

void add_migrate_command(CLI::App& app, context& ctx) {
  auto cmd = app.add_subcommand(
      "migrate",
      "create or upgrade the database schema (safe to run twice, or on "
      "several nodes at once)");
  auto status = std::make_shared<bool>(false);
  cmd->add_flag("--status", *status,
                "list the migrations and whether each is applied");
  auto lock_wait = std::make_shared<std::string>("1m");
  cmd->add_option(
      "--lock-wait", *lock_wait,
      "how long to wait while another migration holds the lock (default 1m)");
  cmd->callback([&ctx, status, lock_wait] {
    auto wait = parse_duration(*lock_wait);
    if (!wait || wait->count() < 0) {
      std::cerr << "migrate: --lock-wait '" << *lock_wait
                << "' is not a duration like 30s, 5m or 1h\n";
      ctx.exit = exit_usage;
      return;
    }
    auto cfg = ctx.load_and_log(false);
    if (!cfg)
      return;
    auto conn = db::connect(cfg->database);
    if (!conn) {
      std::cerr << "migrate: " << render(conn.error()) << "\n";
      ctx.exit = exit_failure;
      return;
    }
    if (*status) {
      auto states = db::migration_status(**conn);
      if (!states) {
        std::cerr << "migrate: " << render(states.error()) << "\n";
        ctx.exit = exit_failure;
        return;
      }
      size_t pending = 0;
      std::cout << fmt::format("{:<8} {:<32} {}\n", "VERSION", "NAME",
                               "APPLIED");
      for (auto& s : *states) {
        std::string applied = s.applied_at ? *s.applied_at : "pending";
        if (!s.applied_at)
          ++pending;
        if (!s.checksum_matches)
          applied += " (CHANGED since applied)";
        if (s.unknown_to_binary)
          applied += " (unknown to this binary)";
        std::cout << fmt::format("{:<8} {:<32} {}\n", s.version, s.name,
                                 applied);
      }
      std::cout << fmt::format("{} applied, {} pending\n",
                               states->size() - pending, pending);
      return;
    }
    db::migrate_options opts;
    opts.lock_wait = *wait;
    opts.on_applied = [](const db::migration& m) {
      std::cout << fmt::format("applied {:04} {}\n", m.version, m.name);
    };
    auto outcome = db::apply_migrations(**conn, opts);
    if (!outcome) {
      std::cerr << "migrate: " << render(outcome.error()) << "\n";
      ctx.exit = exit_failure;
      return;
    }
    auto n = outcome->applied;
    if (n > 0)
      std::cout << fmt::format("{} migration{} applied\n", n,
                               n == 1 ? "" : "s");
    if (!outcome->unknown.empty()) {
      // Every migration this binary needs is there: not a failure (a newer node of a
      // rolling upgrade migrated first), but not "up to date" either.
      auto k = outcome->unknown.size();
      std::cerr << fmt::format("migrate: warning: the database has {} "
                               "migration{} this binary does not know: {}; "
                               "a newer mailpipe migrated it. Nothing was "
                               "undone; upgrade this node.\n",
                               k, k == 1 ? "" : "s",
                               db::describe(outcome->unknown));
      std::cout << fmt::format(
          "schema is ahead of this binary: every migration it knows "
          "is applied, {} newer one{} it does not know\n",
          k, k == 1 ? "" : "s");
    } else if (n == 0) {
      std::cout << "schema is up to date\n";
    }
  });
}

} // namespace mailpipe::cli
