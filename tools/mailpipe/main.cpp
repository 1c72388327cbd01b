// mailpipe: the node and its command line. `mailpipe [--config FILE] <command>
// [options]`.

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string_view>

#include <fmt/format.h>

#include <spdlog/spdlog.h>

#include "adapters/sys/logging.hpp"
#include "config/value_checks.hpp"
#include "messages/error.hpp"
#include "tools/mailpipe/cli.hpp"

namespace mailpipe::cli {

std::optional<config> context::load() const {
  auto result =
      config_path.empty() ? default_config() : load_config_file(config_path);
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

namespace {

// The names of `app`'s subcommands, comma-separated.
std::string command_names(const CLI::App& app) {
  std::string out;
  for (auto* sub : app.get_subcommands([](const CLI::App*) { return true; }))
    out += (out.empty() ? "" : ", ") + sub->get_name();
  return out;
}

// After a failed parse: the first word that is not a command where one is
// expected, e.g. "unknown command 'bogus' (commands: config, migrate, run,
// analyze)"; "" if none.
std::string unknown_command(const CLI::App& app, int argc, char** argv) {
  const CLI::App* level = &app;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg{argv[i]};
    if (arg == "--")
      return "";
    if (!arg.empty() && arg[0] == '-') {
      // Options of the top level that take a value in the next word.
      if (level == &app
          && (arg == "-c" || arg == "--config" || arg == "--log-level"))
        ++i;
      continue;
    }
    auto subs = level->get_subcommands([](const CLI::App*) { return true; });
    if (subs.empty())
      return "";
    const CLI::App* next = nullptr;
    for (auto* sub : subs)
      if (sub->check_name(std::string{arg}))
        next = sub;
    if (!next) {
      auto where = level == &app ? std::string{"command"}
                                 : level->get_name() + " command";
      return fmt::format("unknown {} '{}' (commands: {})", where, arg,
                         command_names(*level));
    }
    level = next;
  }
  return "";
}

// Output that did not reach stdout (a full disk, a closed pipe) is a failure.
bool flush_stdout() {
  errno = 0;
  std::cout.flush();
  if (std::fflush(stdout) == 0 && !std::ferror(stdout) && std::cout)
    return true;
  std::cerr << "mailpipe: cannot write to standard output"
            << (errno ? std::string{": "} + std::strerror(errno) : "") << "\n";
  return false;
}

} // namespace

} // namespace mailpipe::cli

int main(int argc, char** argv) {
  using namespace mailpipe::cli;
  CLI::App app{
      "mailpipe: where test emails land (inbox, spam, tabs), with their "
      "SPF/DKIM/DMARC/ARC results and spam-filter verdicts"};
  app.set_version_flag("--version",
                       std::string{"mailpipe "} + MAILPIPE_VERSION);
  app.require_subcommand(1);
  context ctx;
  app.add_option("-c,--config", ctx.config_path,
                 "config file (TOML); default: built-in defaults")
      ->envname("MAILPIPE_CONFIG");
  app.add_option("--log-level", ctx.log_level,
                 "trace, debug, info, warn, error, critical or off")
      ->check([](const std::string& level) {
        return mailpipe::checks::log_level(level);
      });
  add_config_commands(app, ctx);
  add_migrate_command(app, ctx);
  add_run_command(app, ctx);
  add_analyze_command(app, ctx);
  add_account_commands(app, ctx);
  add_test_commands(app, ctx);
  add_process_command(app, ctx);
  add_metrics_commands(app, ctx);
  add_jobs_commands(app, ctx);
  add_news_commands(app, ctx);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (auto unknown = unknown_command(app, argc, argv); !unknown.empty()) {
      std::cerr << "mailpipe: " << unknown
                << "\nRun with --help for more information.\n";
      return exit_usage;
    }
    auto code = app.exit(e);
    if (code == 0 && !flush_stdout()) // --help or --version written nowhere
      return exit_failure;
    return code == 0 ? exit_ok : exit_usage;
  }
  mailpipe::shutdown_logging();
  if (!flush_stdout() && ctx.exit == exit_ok)
    return exit_failure;
  return ctx.exit;
}
