// mailpipe: the node and its command line. `mailpipe [--config FILE] <command> [options]`.

#include <cstdio>
#include <iostream>

#include <spdlog/spdlog.h>

#include "adapters/sys/logging.hpp"
#include "messages/error.hpp"
#include "tools/mailpipe/cli.hpp"

namespace mailpipe::cli {

std::optional<config> context::load() const {
  auto result = config_path.empty() ? default_config()
                                    : load_config_file(config_path);
  if (!result.ok()) {
    for (auto& err : result.errors)
      std::cerr << to_string(err) << "\n";
    return std::nullopt;
  }
  return std::move(result.cfg);
}

std::optional<config> context::load_and_log(bool log_to_files) {
  auto cfg = load();
  if (!cfg) {
    exit = exit_usage;
    return std::nullopt;
  }
  auto log_cfg = cfg->log;
  if (!log_to_files)
    log_cfg.dir.clear();
  if (auto err = setup_logging(log_cfg, log_level)) {
    std::cerr << "mailpipe: " << render(err) << "\n";
    exit = exit_usage;
    return std::nullopt;
  }
  return cfg;
}

} // namespace mailpipe::cli

int main(int argc, char** argv) {
  using namespace mailpipe::cli;
  CLI::App app{"mailpipe: where test emails land (inbox, spam, tabs), with their "
               "SPF/DKIM/DMARC/ARC results and spam-filter verdicts"};
  app.set_version_flag("--version", std::string{"mailpipe "} + MAILPIPE_VERSION);
  app.require_subcommand(1);
  context ctx;
  app.add_option("-c,--config", ctx.config_path,
                 "config file (TOML); default: built-in defaults")
    ->envname("MAILPIPE_CONFIG");
  app.add_option("--log-level", ctx.log_level,
                 "trace, debug, info, warn, error, critical or off");
  add_config_commands(app, ctx);
  add_migrate_command(app, ctx);
  add_run_command(app, ctx);
  add_analyze_command(app, ctx);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    auto code = app.exit(e);
    return code == 0 ? exit_ok : exit_usage;
  }
  mailpipe::shutdown_logging();
  return ctx.exit;
}
