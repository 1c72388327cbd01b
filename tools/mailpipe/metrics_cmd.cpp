// `mailpipe metrics clean [--days N]`, and what the database commands share.

#include <iostream>

#include <fmt/format.h>

#include "adapters/db/connection.hpp"
#include "adapters/db/pipeline.hpp"
#include "messages/error.hpp"
#include "tools/mailpipe/db_cli.hpp"

namespace mailpipe::cli {

std::unique_ptr<pqxx::connection>
open_database(context& ctx, std::string_view cmd, config* cfg_out) {
  auto cfg = ctx.load_and_log(false);
  if (!cfg)
    return nullptr;
  auto conn = db::connect(cfg->database);
  if (!conn) {
    report(ctx, cmd, conn.error());
    return nullptr;
  }
  if (cfg_out)
    *cfg_out = std::move(*cfg);
  return std::move(*conn);
}

void report(context& ctx, std::string_view cmd, const caf::error& err) {
  std::cerr << cmd << ": " << render(err) << "\n";
  ctx.exit = is(err, ec::invalid_config) ? exit_usage : exit_failure;
}

void add_metrics_commands(CLI::App& app, context& ctx) {
  auto cmd =
      app.add_subcommand("metrics", "the email_processing_metrics table");
  cmd->require_subcommand(1);
  auto clean = cmd->add_subcommand(
      "clean", "delete metrics rows older than --days days");
  auto days = std::make_shared<int64_t>(30);
  clean->add_option("--days", *days, "keep this many days (default 30)")
      ->check(CLI::Range(int64_t{0}, int64_t{36500}));
  clean->callback([&ctx, days] {
    auto conn = open_database(ctx, "metrics clean");
    if (!conn)
      return;
    auto n = db::clean_metrics(*conn, *days);
    if (!n)
      return report(ctx, "metrics clean", n.error());
    std::cout << fmt::format("deleted {} metrics row{} older than {} day{}\n",
                             *n, *n == 1 ? "" : "s", *days,
                             *days == 1 ? "" : "s");
  });
}

} // namespace mailpipe::cli
