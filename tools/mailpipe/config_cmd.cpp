// `mailpipe config check [FILE]` and `mailpipe config show`.

#include <iostream>

#include "tools/mailpipe/cli.hpp"

namespace mailpipe::cli {

void add_config_commands(CLI::App& app, context& ctx) {
  auto cmd = app.add_subcommand("config", "check or show the configuration");
  cmd->require_subcommand(1);

  auto check = cmd->add_subcommand(
    "check", "validate a config file; exit 2 naming file, line and key of each mistake");
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
    std::cout << path << ": ok\n";
  });

  auto show = cmd->add_subcommand(
    "show", "print the effective configuration (defaults, file, environment), secrets masked");
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
