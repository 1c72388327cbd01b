// `mailpipe test add | list | show`: placement tests and where their messages
// landed.

#include <iostream>

#include <fmt/format.h>

#include "adapters/db/test_store.hpp"
#include "messages/error.hpp"
#include "tools/mailpipe/db_cli.hpp"

namespace mailpipe::cli {

namespace {

std::string dash(const std::string& s) {
  return s.empty() ? "-" : s;
}

void print_report(const db::test_report& rep) {
  auto& t = rep.test;
  std::cout << fmt::format(
      "test {} ({}), {} accounts: {} found, {} pending, {} missing, "
      "{} error\n",
      t.token, t.status, t.total, t.found, t.pending, t.missing, t.error);
  std::cout << fmt::format(
      "inbox {:.1f}%  spam {:.1f}%  tabs {:.1f}%  missing {:.1f}%\n\n",
      100 * rep.rates.inbox, 100 * rep.rates.spam, 100 * rep.rates.tabs,
      100 * rep.rates.missing);
  std::cout << fmt::format(
      "{:<6} {:<30} {:<8} {:<8} {:<11} {:<16} {:<6} {:<6} {:<6} {:<6} {}\n",
      "ID", "EMAIL", "PROVIDER", "STATUS", "PLACEMENT", "FOLDER", "SPF", "DKIM",
      "DMARC", "ARC", "FILTERS");
  for (auto& r : rep.results)
    std::cout << fmt::format(
        "{:<6} {:<30} {:<8} {:<8} {:<11} {:<16} {:<6} {:<6} {:<6} "
        "{:<6} {}\n",
        r.account_id, r.email, r.provider, r.status,
        r.error_class.empty() ? dash(r.placement) : r.error_class,
        dash(r.folder), dash(r.spf), dash(r.dkim), dash(r.dmarc), dash(r.arc),
        dash(r.filters_text));
}

void add_add(CLI::App& parent, context& ctx) {
  auto cmd =
      parent.add_subcommand("add", "start a placement test: one pending result "
                                   "per seed account");
  auto spec = std::make_shared<db::test_spec>();
  auto expires = std::make_shared<std::string>("24h");
  cmd->add_option("--token", spec->token,
                  "the unique test id the messages carry")
      ->required();
  cmd->add_option("--account", spec->accounts,
                  "an account id (repeat; default: every "
                  "active account)");
  cmd->add_option("--expires-in", *expires,
                  "after this, pending accounts count as "
                  "missing (default 24h; 0 for never)");
  cmd->add_option("--name", spec->name, "a name for people");
  cmd->callback([&ctx, spec, expires] {
    auto d = parse_duration(*expires);
    if (!d || d->count() < 0) {
      std::cerr << "test add: --expires-in '" << *expires
                << "' is not a duration like 30m, 24h or 7d\n";
      ctx.exit = exit_usage;
      return;
    }
    spec->expires_in = d->count() == 0 ? std::nullopt : d;
    auto conn = open_database(ctx, "test add");
    if (!conn)
      return;
    auto n = db::add_test(*conn, *spec);
    if (!n)
      return report(ctx, "test add", n.error());
    std::cout << fmt::format("test {} added for {} account{}\n", spec->token,
                             *n, *n == 1 ? "" : "s");
  });
}

void add_list(CLI::App& parent, context& ctx) {
  auto cmd = parent.add_subcommand("list", "list the tests, newest first");
  auto json = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json, "one JSON array");
  cmd->callback([&ctx, json] {
    auto conn = open_database(ctx, "test list");
    if (!conn)
      return;
    auto all = db::list_tests(*conn);
    if (!all)
      return report(ctx, "test list", all.error());
    if (*json) {
      std::cout << "[";
      for (size_t i = 0; i < all->size(); ++i)
        std::cout << (i ? ",\n " : "") << "{" << db::summary_members((*all)[i])
                  << "}";
      std::cout << "]\n";
      return;
    }
    std::cout << fmt::format("{:<28} {:<9} {:<7} {:<7} {:<7} {:<7} {}\n",
                             "TOKEN", "STATUS", "TOTAL", "FOUND", "PENDING",
                             "MISSING", "EXPIRES");
    for (auto& t : *all)
      std::cout << fmt::format("{:<28} {:<9} {:<7} {:<7} {:<7} {:<7} {}\n",
                               t.token, t.status, t.total, t.found, t.pending,
                               t.missing, dash(t.expires_at));
  });
}

void add_show(CLI::App& parent, context& ctx) {
  auto cmd = parent.add_subcommand(
      "show", "where a test's messages landed, per account, "
              "with the inbox/spam/tabs/missing rates");
  auto token = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("TOKEN", *token, "the test id")->required();
  cmd->add_flag("--json", *json, "as JSON (rates as fractions 0..1)");
  cmd->callback([&ctx, token, json] {
    auto conn = open_database(ctx, "test show");
    if (!conn)
      return;
    auto rep = db::show_test(*conn, *token);
    if (!rep)
      return report(ctx, "test show", rep.error());
    if (*json)
      std::cout << db::to_json(*rep);
    else
      print_report(*rep);
  });
}

} // namespace

void add_test_commands(CLI::App& app, context& ctx) {
  auto cmd = app.add_subcommand("test", "placement tests");
  cmd->require_subcommand(1);
  add_add(*cmd, ctx);
  add_list(*cmd, ctx);
  add_show(*cmd, ctx);
}

} // namespace mailpipe::cli
