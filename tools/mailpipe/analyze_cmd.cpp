// `mailpipe analyze FILE|-`: the analysis of one message as JSON.

#include <iostream>

#include "adapters/analysis/analysis.hpp"
#include "adapters/analysis/analysis_json.hpp"
#include "config/bounded_file.hpp"
#include "config/policy.hpp"
#include "messages/error.hpp"
#include "tools/mailpipe/cli.hpp"

namespace mailpipe::cli {

namespace {

struct analyze_options {
  std::string file;
  std::string provider;
  std::string folder;
  std::vector<std::string> labels;
  bool compact = false;
};

} // namespace

void add_analyze_command(CLI::App& app, context& ctx) {
  auto opts = std::make_shared<analyze_options>();
  auto cmd = app.add_subcommand(
      "analyze",
      "print the analysis of one message (placement, SPF/DKIM/DMARC/ARC, "
      "spam filters, test ids) as JSON");
  cmd->add_option("FILE", opts->file,
                  "the message or its header block; - for stdin")
      ->required();
  cmd->add_option("--provider", opts->provider,
                  "where it was found: gmail, outlook or imap")
      ->check(CLI::IsMember({"gmail", "outlook", "imap"}));
  cmd->add_option("--folder", opts->folder,
                  "IMAP mailbox or Graph folder it was found in");
  // One value per occurrence, so that `--labels SPAM msg.eml` leaves the file alone.
  cmd->add_option("--labels", opts->labels,
                  "Gmail label ids, IMAP special-use flags (\\Junk) or Outlook "
                  "inferenceClassification; comma-separated or repeated")
      ->delimiter(',')
      ->allow_extra_args(false);
  cmd->add_flag("--compact", opts->compact, "one line of JSON");
  cmd->callback([&ctx, opts] {
    auto cfg = ctx.load();
    if (!cfg) {
      ctx.exit = exit_usage;
      return;
    }
    auto policy = load_policy(cfg->analysis);
    if (!policy) {
      std::cerr << "analyze: " << render(policy.error()) << "\n";
      ctx.exit = exit_usage;
      return;
    }
    auto an = analyzer::make(std::move(*policy), cfg->analysis);
    if (!an) {
      std::cerr << "analyze: " << render(an.error()) << "\n";
      ctx.exit = exit_usage;
      return;
    }
    // Only what the analysis uses is read: /dev/zero or a huge file cost no more.
    auto input = read_file_prefix(opts->file, an->max_input_bytes());
    if (!input) {
      std::cerr << "analyze: " << render(input.error()) << "\n";
      ctx.exit = exit_failure;
      return;
    }
    if (input->empty()) {
      std::cerr << "analyze: "
                << (opts->file == "-" ? "standard input" : opts->file)
                << " is empty\n";
      ctx.exit = exit_failure;
      return;
    }
    placement_input where{opts->provider, opts->folder, opts->labels};
    auto result = an->analyze(*input, where);
    std::cout << to_json(result, opts->compact ? 0 : 2);
    if (opts->compact)
      std::cout << "\n";
  });
}

} // namespace mailpipe::cli
