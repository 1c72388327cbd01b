// `mailpipe config check [FILE]` and `mailpipe config show`.

#include <iostream>

#include "adapters/analysis/analysis.hpp"
#include "config/policy.hpp"
#include "messages/error.hpp"
#include "tools/mailpipe/cli.hpp"

namespace mailpipe::cli {

void add_config_commands(CLI::App& app, context& ctx) {
  auto cmd = app.add_subcommand("config", "check or show the configuration");
  cmd->require_subcommand(1);

  auto check =
      cmd->add_subcommand("check", "validate a config file; exit 2 naming "
                                   "file, line and key of each mistake");
  auto file = std::make_shared<std::string>();
  check->add_option("FILE", *file, "the file (default: --config)");
  check->callback([&ctx, file] {
    auto path = file->empty() ? ctx.config_path : *file;
    if (path.empty()) {
      std::cerr << "config check: no file given (pass FILE or --config FILE)\n";
      ctx.exit = exit_usage;
      return;
    }
    auto result = load_config_file(path);
    if (!result.ok()) {
      for (auto& err : result.errors)
        std::cerr << to_string(err) << "\n";
      std::cerr << path << ": " << result.errors.size()
                << (result.errors.size() == 1 ? " error\n" : " errors\n");
      ctx.exit = exit_usage;
      return;
    }
    // The [analysis] section names more files and a pattern: compile them
    // as `analyze` and the node will, so that a mistake shows here first.
    auto policy = load_policy(result.cfg.analysis);
    if (!policy) {
      std::cerr << path << ": [analysis] " << render(policy.error()) << "\n";
      ctx.exit = exit_usage;
      return;
    }
    if (auto an = analyzer::make(std::move(*policy), result.cfg.analysis);
        !an) {
      std::cerr << path << ": [analysis] " << render(an.error()) << "\n";
      ctx.exit = exit_usage;
      return;
    }
    std::cout << path << ": ok\n";
  });

  auto show = cmd->add_subcommand(
      "show", "print the effective configuration (defaults, file, "
              "environment), secrets masked");
  auto reveal = std::make_shared<bool>(false);
  show->add_flag("--show-secrets", *reveal, "print secrets unmasked");
  show->callback([&ctx, reveal] {
    auto cfg = ctx.load();
    if (!cfg) {
      ctx.exit = exit_usage;
      return;
    }
    std::cout << "# effective configuration"
              << (cfg->source.empty() ? " (built-in defaults)"
                                      : " from " + cfg->source)
              << "\n"
              << render_config(*cfg, !*reveal);
  });
}

} // namespace mailpipe::cli
