// `mailpipe migrate [--status]`.

#include <iostream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "adapters/db/connection.hpp"
#include "adapters/db/migrate.hpp"
#include "tools/mailpipe/cli.hpp"

namespace mailpipe::cli {

void add_migrate_command(CLI::App& app, context& ctx) {
  auto cmd = app.add_subcommand(
    "migrate", "create or upgrade the database schema (safe to run twice, or on "
               "several nodes at once)");
  auto status = std::make_shared<bool>(false);
  cmd->add_flag("--status", *status, "list the migrations and whether each is applied");
  cmd->callback([&ctx, status] {
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
      std::cout << fmt::format("{:<8} {:<32} {}\n", "VERSION", "NAME", "APPLIED");
      for (auto& s : *states) {
        std::string applied = s.applied_at ? *s.applied_at : "pending";
        if (!s.applied_at)
          ++pending;
        if (!s.checksum_matches)
          applied += " (CHANGED since applied)";
        if (s.unknown_to_binary)
          applied += " (unknown to this binary)";
        std::cout << fmt::format("{:<8} {:<32} {}\n", s.version, s.name, applied);
      }
      std::cout << fmt::format("{} applied, {} pending\n", states->size() - pending,
                               pending);
      return;
    }
    auto applied = db::migrate(**conn, [](const db::migration& m) {
      std::cout << fmt::format("applied {:04} {}\n", m.version, m.name);
    });
    if (!applied) {
      std::cerr << "migrate: " << render(applied.error()) << "\n";
      ctx.exit = exit_failure;
      return;
    }
    std::cout << (*applied == 0 ? "schema is up to date\n"
                                : fmt::format("{} migration{} applied\n", *applied,
                                              *applied == 1 ? "" : "s"));
  });
}

} // namespace mailpipe::cli
