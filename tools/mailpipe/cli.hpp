#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "config/config.hpp"

namespace mailpipe::cli {

/// Exit codes of every command.
enum exit_code : int {
  exit_ok = 0,
  exit_failure =
      1, // runtime failure (database down, server error, bad input data)
  exit_usage = 2, // usage or config error
};

/// What the global options say; filled by CLI11 before a command's callback
/// runs.
struct context {
  /// `--config FILE` ("" for the built-in defaults).
  std::string config_path;
  /// `--log-level LEVEL` ("" keeps the config's).
  std::string log_level;
  /// The exit code the command chose.
  int exit = exit_ok;

  /// Loads the config (file or defaults); prints every mistake to stderr and
  /// returns nullopt on error.
  std::optional<config> load() const;

  /// Loads the config and sets up logging; nullopt (and `exit` set) on error.
  std::optional<config> load_and_log(bool log_to_files = true);
};

// Each command file adds its subcommands; main.cpp calls every one of these.

/// `config check [FILE]`, `config show`.
void add_config_commands(CLI::App& app, context& ctx);

/// `migrate [--status]`.
void add_migrate_command(CLI::App& app, context& ctx);

/// `run`: the node.
void add_run_command(CLI::App& app, context& ctx);

/// `analyze FILE|-`: one message's analysis as JSON.
void add_analyze_command(CLI::App& app, context& ctx);

/// `account add | list | show | reactivate | remove | import`: the seed
/// accounts.
void add_account_commands(CLI::App& app, context& ctx);

/// `test add | list | show`: placement tests and their reports.
void add_test_commands(CLI::App& app, context& ctx);

/// `process [--parallel N] [--timeout S] [--account ID ...] [--dry-run]
/// [--json]`.
void add_process_command(CLI::App& app, context& ctx);

/// `metrics clean [--days N]`.
void add_metrics_commands(CLI::App& app, context& ctx);

/// `jobs enqueue | list | show | dead | redrive | purge`, `queue list | pause |
/// resume`: the durable queues.
void add_jobs_commands(CLI::App& app, context& ctx);

/// `news add | list | show | search`: newsletters, their analysis and search.
void add_news_commands(CLI::App& app, context& ctx);

} // namespace mailpipe::cli
