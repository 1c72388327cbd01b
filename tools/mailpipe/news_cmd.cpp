// `mailpipe news add | list | show | search`: newsletters, their content
// analysis (the process_mails queue, Mistral) and the search index
// (index_news: PostgreSQL full-text search, or MeiliSearch when configured).

#include <iostream>

#include <fmt/format.h>

#include "actors/job_handlers.hpp"
#include "adapters/db/newsletters.hpp"
#include "adapters/http/meilisearch.hpp"
#include "adapters/mail/newsletter.hpp"
#include "adapters/sys/crypto.hpp"
#include "config/bounded_file.hpp"
#include "messages/error.hpp"
#include "tools/mailpipe/db_cli.hpp"

namespace mailpipe::cli {

namespace {

/// The most of one message `news add` reads.
constexpr size_t max_message_bytes = 16 << 20;

std::string row_json(const db::newsletter_row& n, bool with_body) {
  auto out = fmt::format(
      "{{\"id\":{},\"message_key\":{},\"account_id\":{},\"sender\":{},"
      "\"subject\":{},\"sent_at\":{},\"status\":{},\"invalid_reason\":{},"
      "\"analysis\":{},\"created_at\":{}",
      n.id, json_str(n.message_key),
      n.account ? std::to_string(n.account) : "null", json_str(n.sender),
      json_str(n.subject), json_str(n.sent_at), json_str(n.status),
      db::json_str_or_null(n.invalid_reason),
      n.analysis_json.empty() ? "null" : n.analysis_json,
      json_str(n.created_at));
  if (with_body)
    out += ",\"body\":" + json_str(n.body_text);
  return out + "}";
}

// Adds one message file as a newsletter and queues its analysis; false when
// it could not (said on stderr).
bool add_one(pqxx::connection& conn, const config& cfg, const std::string& file,
             std::optional<int64_t> account) {
  auto text = read_file_prefix(file, max_message_bytes);
  if (!text) {
    std::cerr << "news add: " << render(text.error()) << "\n";
    return false;
  }
  auto added = add_newsletter_message(conn, cfg, *text, account);
  if (!added) {
    std::cerr << "news add: " << file << ": " << render(added.error()) << "\n";
    return false;
  }
  if (added->added)
    std::cout << fmt::format(
        "newsletter {} added from {}: \"{}\"; its "
        "analysis is queued (process_mails:{})\n",
        added->id, file,
        read_newsletter(*text, cfg.analysis.max_header_bytes).subject,
        added->id);
  else
    std::cout << fmt::format("newsletter {} is already there ({}): {}\n",
                             added->id, added->status, file);
  return true;
}

void add_add(CLI::App& parent, context& ctx) {
  auto cmd = parent.add_subcommand(
      "add", "add messages as newsletters and queue their content analysis");
  auto files = std::make_shared<std::vector<std::string>>();
  auto account = std::make_shared<int64_t>(0);
  cmd->add_option("FILE", *files, "message files (.eml)")->required();
  cmd->add_option("--account", *account,
                  "the seed account they came from (an id)");
  cmd->callback([&ctx, files, account] {
    config cfg;
    auto conn = open_database(ctx, "news add", &cfg);
    if (!conn)
      return;
    std::optional<int64_t> from;
    if (*account > 0)
      from = *account;
    for (auto& file : *files)
      if (!add_one(*conn, cfg, file, from))
        ctx.exit = exit_failure;
  });
}

void add_list(CLI::App& parent, context& ctx) {
  auto cmd = parent.add_subcommand("list", "the newest newsletters first");
  auto json = std::make_shared<bool>(false);
  auto limit = std::make_shared<int64_t>(100);
  cmd->add_flag("--json", *json, "one JSON array");
  cmd->add_option("--limit", *limit, "at most this many (default 100)")
      ->check(CLI::Range(int64_t{1}, int64_t{100000}));
  cmd->callback([&ctx, json, limit] {
    auto conn = open_database(ctx, "news list");
    if (!conn)
      return;
    auto all = db::list_newsletters(*conn, *limit);
    if (!all)
      return report(ctx, "news list", all.error());
    if (*json) {
      std::cout << "[";
      for (size_t i = 0; i < all->size(); ++i)
        std::cout << (i ? ",\n " : "") << row_json((*all)[i], false);
      std::cout << "]\n";
      return;
    }
    std::cout << fmt::format("{:<6} {:<9} {:<30} {}\n", "ID", "STATUS",
                             "SENDER", "SUBJECT");
    for (auto& n : *all)
      std::cout << fmt::format("{:<6} {:<9} {:<30} {}\n", n.id, n.status,
                               n.sender, n.subject);
  });
}

void add_show(CLI::App& parent, context& ctx) {
  auto cmd = parent.add_subcommand("show", "one newsletter with its analysis");
  auto id = std::make_shared<int64_t>(0);
  auto json = std::make_shared<bool>(false);
  cmd->add_option("ID", *id, "the newsletter id")->required();
  cmd->add_flag("--json", *json, "as JSON, with the body");
  cmd->callback([&ctx, id, json] {
    auto conn = open_database(ctx, "news show");
    if (!conn)
      return;
    auto n = db::find_newsletter(*conn, *id);
    if (!n)
      return report(ctx, "news show", n.error());
    if (*json) {
      std::cout << row_json(*n, true) << "\n";
      return;
    }
    std::cout << fmt::format(
        "newsletter {} ({})\nfrom:     {}\nsubject:  {}\ndate:     {}\n"
        "key:      {}\nanalysis: {}\n",
        n->id, n->status, n->sender, n->subject, n->sent_at, n->message_key,
        n->analysis_json.empty() ? "-" : n->analysis_json);
    if (!n->invalid_reason.empty())
      std::cout << "invalid:  " << n->invalid_reason << "\n";
  });
}

void print_hits(const std::vector<db::newsletter_hit>& hits, bool json) {
  if (json) {
    std::cout << "[";
    for (size_t i = 0; i < hits.size(); ++i) {
      auto& h = hits[i];
      std::cout << (i ? ",\n " : "")
                << fmt::format("{{\"id\":{},\"subject\":{},\"sender\":{},"
                               "\"sent_at\":{},\"rank\":{:.6f},"
                               "\"summary\":{}}}",
                               h.id, json_str(h.subject), json_str(h.sender),
                               json_str(h.sent_at), h.rank,
                               json_str(h.summary));
    }
    std::cout << "]\n";
    return;
  }
  for (auto& h : hits)
    std::cout << fmt::format("{:<6} {:<30} {}\n", h.id, h.sender, h.subject);
  std::cout << fmt::format("{} newsletter{}\n", hits.size(),
                           hits.size() == 1 ? "" : "s");
}

void add_search(CLI::App& parent, context& ctx) {
  auto cmd = parent.add_subcommand(
      "search", "search the indexed newsletters (MeiliSearch when "
                "search.meilisearch_url is set, else PostgreSQL)");
  auto query = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto limit = std::make_shared<int64_t>(20);
  cmd->add_option("QUERY", *query,
                  "words; \"a phrase\", or, -word (PostgreSQL's "
                  "websearch syntax)")
      ->required();
  cmd->add_option("--limit", *limit, "at most this many (default 20)")
      ->check(CLI::Range(int64_t{1}, int64_t{1000}));
  cmd->add_flag("--json", *json, "one JSON array");
  cmd->callback([&ctx, query, json, limit] {
    auto cfg = ctx.load();
    if (!cfg) {
      ctx.exit = exit_usage;
      return;
    }
    if (!cfg->search.meilisearch_url.empty()) {
      http::client client;
      auto hits = meilisearch::search(
          client, cfg->search, meilisearch::newsletters_index, *query, *limit);
      if (!hits)
        return report(ctx, "news search", hits.error());
      std::cout << "[";
      for (size_t i = 0; i < hits->size(); ++i)
        std::cout << (i ? ",\n " : "") << (*hits)[i];
      std::cout << "]\n";
      return;
    }
    auto conn = open_database(ctx, "news search");
    if (!conn)
      return;
    auto hits = db::search_newsletters(*conn, *query, *limit);
    if (!hits)
      return report(ctx, "news search", hits.error());
    print_hits(*hits, *json);
  });
}

} // namespace

void add_news_commands(CLI::App& app, context& ctx) {
  auto cmd = app.add_subcommand(
      "news", "newsletters: content analysis (Mistral) and search");
  cmd->require_subcommand(1);
  add_add(*cmd, ctx);
  add_list(*cmd, ctx);
  add_show(*cmd, ctx);
  add_search(*cmd, ctx);
}

} // namespace mailpipe::cli
