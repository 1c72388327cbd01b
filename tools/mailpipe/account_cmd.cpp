// `mailpipe account add | list | show | reactivate | remove | push | import`. Secrets come from
// the environment or stdin, never from the command line, and are sealed with [crypto]'s key.

#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "adapters/db/account_store.hpp"
#include "adapters/db/pipeline.hpp"
#include "adapters/mail/text.hpp"
#include "adapters/sys/crypto.hpp"
#include "messages/error.hpp"
#include "tools/mailpipe/db_cli.hpp"

namespace mailpipe::cli {

namespace {

// -- one account's fields, as options or as an import row ---------------------

/// The fields of an account as given (strings, so options and files share the checks).
struct account_fields {
  std::string email, provider = "imap", host, port, tls = "implicit", username;
  /// Names of the variables holding the secret.
  std::string password_env, oauth_env;
};

caf::error bad(std::string text) {
  return caf::make_error(ec::invalid_argument, std::move(text));
}

// --tls implicit|starttls|none -> the schema's tls|starttls|plain.
std::optional<std::string> security_of(const std::string& tls) {
  if (tls == "implicit" || tls == "tls")
    return "tls";
  if (tls == "starttls")
    return "starttls";
  if (tls == "none" || tls == "plain")
    return "plain";
  return std::nullopt;
}

// The one set of rules for a new account; `secret` is set when it came from stdin.
caf::expected<db::account_import>
make_account(const account_fields& f, std::optional<std::string> secret) {
  db::account_import out;
  auto& spec = out.spec;
  spec.email = f.email;
  if (f.email.find('@') == std::string::npos)
    return bad(fmt::format("email '{}' is not an address", f.email));
  if (!from_string(f.provider, spec.kind))
    return bad(
        fmt::format("provider '{}' is not imap, gmail or outlook", f.provider));
  if (spec.kind == provider::imap) {
    if (f.host.empty())
      return bad("an imap account needs a host");
    auto sec = security_of(f.tls);
    if (!sec)
      return bad(
          fmt::format("tls '{}' is not implicit, starttls or none", f.tls));
    spec.imap_security = *sec;
    spec.imap_host = f.host;
    spec.imap_port = *sec == "tls" ? 993 : 143;
    if (!f.port.empty()) {
      auto port = text::parse_number(f.port);
      if (!port || *port < 1 || *port > 65535
          || *port != static_cast<int>(*port))
        return bad(fmt::format("port '{}' is not 1 to 65535", f.port));
      spec.imap_port = static_cast<int>(*port);
    }
  }
  spec.username = f.username;
  auto sources = (f.password_env.empty() ? 0 : 1)
                 + (f.oauth_env.empty() ? 0 : 1) + (secret ? 1 : 0);
  if (sources != 1)
    return bad("give exactly one of --password-env VAR, --password-stdin, "
               "--oauth-refresh-token-env VAR (password_env or "
               "oauth_refresh_token_env in a file)");
  if (!f.oauth_env.empty())
    spec.auth_method = spec.kind == provider::imap ? "xoauth2" : "oauth2";
  else if (spec.kind != provider::imap)
    return bad(
        fmt::format("a {} account needs an OAuth2 refresh token", f.provider));
  if (!secret) {
    auto& var = f.password_env.empty() ? f.oauth_env : f.password_env;
    auto value = process_env()(var);
    if (!value || value->empty())
      return bad(fmt::format("environment variable {} is not set", var));
    secret = *value;
  }
  out.secret = std::move(*secret);
  return out;
}

caf::expected<crypto::secret_box> load_box(const config& cfg) {
  auto box = crypto::secret_box::load(cfg.crypto);
  if (!box)
    return caf::make_error(
        ec::invalid_config,
        fmt::format(
            "no key to seal account secrets ({}): set crypto.key_file, or the "
            "environment variable named by crypto.key_env ({}), to a base64 "
            "256-bit key, e.g. from `openssl rand -base64 32`",
            render(box.error()), cfg.crypto.key_env));
  return box;
}

// -- import files -------------------------------------------------------------

using numbered_fields = std::vector<std::pair<int64_t, account_fields>>;

void assign(account_fields& f, const std::string& key, std::string value) {
  static const std::map<std::string, std::string account_fields::*> fields{
      {"email", &account_fields::email},
      {"provider", &account_fields::provider},
      {"host", &account_fields::host},
      {"port", &account_fields::port},
      {"tls", &account_fields::tls},
      {"username", &account_fields::username},
      {"password_env", &account_fields::password_env},
      {"oauth_refresh_token_env", &account_fields::oauth_env}};
  auto i = fields.find(key);
  if (i == fields.end())
    throw std::invalid_argument(fmt::format("unknown column '{}'", key));
  f.*(i->second) = std::move(value);
}

std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream in{line};
  for (std::string cell; std::getline(in, cell, ',');)
    out.emplace_back(text::trim(cell));
  if (!line.empty() && line.back() == ',')
    out.emplace_back();
  return out;
}

// CSV with a header line naming the columns; blank lines and `#` lines are skipped.
caf::expected<numbered_fields> read_csv(std::istream& in) {
  numbered_fields out;
  std::vector<std::string> header;
  int64_t n = 0;
  for (std::string line; std::getline(in, line);) {
    ++n;
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    if (text::trim(line).empty() || text::trim(line)[0] == '#')
      continue;
    auto cells = split_csv(line);
    if (header.empty()) {
      header = cells;
      continue;
    }
    if (cells.size() != header.size())
      return bad(fmt::format("line {}: {} columns, the header has {}", n,
                             cells.size(), header.size()));
    account_fields f;
    try {
      for (size_t i = 0; i < cells.size(); ++i)
        assign(f, header[i], cells[i]);
    } catch (const std::invalid_argument& e) {
      return bad(fmt::format("line {}: {}", n, e.what()));
    }
    out.emplace_back(n, std::move(f));
  }
  return out;
}

// TOML: one `[[account]]` table per account.
caf::expected<numbered_fields> read_toml(const std::string& path) {
  numbered_fields out;
  try {
    auto doc = toml::parse_file(path);
    auto* list = doc["account"].as_array();
    if (!list)
      return bad("no [[account]] tables");
    for (auto& node : *list) {
      auto line = static_cast<int64_t>(node.source().begin.line);
      auto* tbl = node.as_table();
      if (!tbl)
        return bad(fmt::format("line {}: account is not a table", line));
      account_fields f;
      for (auto& [key, value] : *tbl) {
        auto text = value.is_integer() ? std::to_string(*value.value<int64_t>())
                                       : value.value<std::string>();
        if (!text)
          return bad(
              fmt::format("line {}: {} is not a string", line, key.str()));
        try {
          assign(f, std::string{key.str()}, *text);
        } catch (const std::invalid_argument& e) {
          return bad(fmt::format("line {}: {}", line, e.what()));
        }
      }
      out.emplace_back(line, std::move(f));
    }
  } catch (const toml::parse_error& e) {
    return bad(
        fmt::format("line {}: {}", e.source().begin.line, e.description()));
  }
  return out;
}

caf::expected<std::vector<db::account_import>>
read_import(const std::string& path) {
  std::ifstream in{path};
  if (!in)
    return bad(fmt::format("cannot read {}", path));
  auto rows = path.size() > 5 && path.substr(path.size() - 5) == ".toml"
                  ? read_toml(path)
                  : read_csv(in);
  if (!rows)
    return rows.error();
  std::vector<db::account_import> out;
  for (auto& [line, fields] : *rows) {
    auto acc = make_account(fields, std::nullopt);
    if (!acc)
      return bad(fmt::format("line {}: {}", line, render(acc.error())));
    acc->line = line;
    out.push_back(std::move(*acc));
  }
  return out;
}

// -- output -------------------------------------------------------------------

void print_table(const std::vector<db::account_info>& list) {
  std::cout << fmt::format("{:<6} {:<32} {:<8} {:<9} {:<8} {}\n", "ID", "EMAIL",
                           "PROVIDER", "STATE", "PENDING", "FAILURES");
  for (auto& a : list)
    std::cout << fmt::format(
        "{:<6} {:<32} {:<8} {:<9} {:<8} {}\n", a.id, a.email, a.provider,
        a.active ? "active" : "disabled", a.pending_tests, a.failure_count);
}

void print_details(const db::account_info& a) {
  auto line = [](std::string_view k, const std::string& v) {
    if (!v.empty())
      std::cout << fmt::format("{:<18} {}\n", k, v);
  };
  line("id", std::to_string(a.id));
  line("email", a.email);
  line("provider", a.provider);
  line("state", a.active ? "active" : "disabled");
  line("disabled reason", a.disabled_reason);
  line("disabled at", a.disabled_at);
  if (!a.imap_host.empty())
    line("imap",
         fmt::format("{}:{} ({})", a.imap_host, a.imap_port, a.imap_security));
  line("username", a.username);
  line("auth",
       fmt::format("{} ({})", a.auth_method,
                   a.has_secret ? "secret stored, sealed" : "no secret"));
  if (a.push)
    line("push", a.push_watched_by.empty()
                     ? std::string{"on (not watched yet)"}
                     : "on, watched by " + a.push_watched_by);
  line("pending tests", std::to_string(a.pending_tests));
  line("last processed", a.last_processed_at);
  line("failures", std::to_string(a.failure_count));
  line("failure class", a.failure_class);
  line("last error", a.last_error);
  line("last failure at", a.last_failure_at);
  line("retry at", a.retry_at);
  line("created", a.created_at);
}

// -- subcommands --------------------------------------------------------------

void add_add(CLI::App& parent, context& ctx) {
  auto cmd = parent.add_subcommand(
      "add", "add a seed account; its secret is read from "
             "the environment or stdin and stored sealed");
  auto f = std::make_shared<account_fields>();
  auto from_stdin = std::make_shared<bool>(false);
  cmd->add_option("--email", f->email, "the mailbox address")->required();
  cmd->add_option("--provider", f->provider,
                  "imap (default), gmail or outlook");
  cmd->add_option("--host", f->host, "IMAP server");
  cmd->add_option("--port", f->port,
                  "IMAP port (default 993, or 143 without TLS)");
  cmd->add_option("--tls", f->tls, "implicit (default), starttls or none");
  cmd->add_option("--username", f->username,
                  "login name (default: the address)");
  cmd->add_option("--password-env", f->password_env,
                  "variable holding the password");
  cmd->add_flag("--password-stdin", *from_stdin,
                "read the password from stdin's first line");
  cmd->add_option("--oauth-refresh-token-env", f->oauth_env,
                  "variable holding the OAuth2 refresh token");
  cmd->callback([&ctx, f, from_stdin] {
    std::optional<std::string> secret;
    if (*from_stdin) {
      secret.emplace();
      std::getline(std::cin, *secret);
      if (!secret->empty() && secret->back() == '\r')
        secret->pop_back();
    }
    auto acc = make_account(*f, std::move(secret));
    if (!acc) {
      std::cerr << "account add: " << render(acc.error()) << "\n";
      ctx.exit = exit_usage;
      return;
    }
    config cfg;
    auto conn = open_database(ctx, "account add", &cfg);
    if (!conn)
      return;
    auto box = load_box(cfg);
    if (!box)
      return report(ctx, "account add", box.error());
    auto id = db::add_account(*conn, acc->spec, acc->secret, *box);
    if (!id)
      return report(ctx, "account add", id.error());
    std::cout << fmt::format("added account {} ({})\n", *id, acc->spec.email);
  });
}

void add_list_show(CLI::App& parent, context& ctx) {
  auto list = parent.add_subcommand("list", "list the seed accounts");
  auto json = std::make_shared<bool>(false);
  list->add_flag("--json", *json, "one JSON array");
  list->callback([&ctx, json] {
    auto conn = open_database(ctx, "account list");
    if (!conn)
      return;
    auto all = db::list_accounts(*conn);
    if (!all)
      return report(ctx, "account list", all.error());
    if (!*json)
      return print_table(*all);
    std::cout << "[";
    for (size_t i = 0; i < all->size(); ++i)
      std::cout << (i ? ",\n " : "") << to_json((*all)[i]);
    std::cout << "]\n";
  });
  auto show =
      parent.add_subcommand("show", "one account with its failure record");
  auto id = std::make_shared<int64_t>(0);
  auto show_json = std::make_shared<bool>(false);
  show->add_option("ID", *id, "the account id")->required();
  show->add_flag("--json", *show_json, "as JSON");
  show->callback([&ctx, id, show_json] {
    auto conn = open_database(ctx, "account show");
    if (!conn)
      return;
    auto a = db::show_account(*conn, *id);
    if (!a)
      return report(ctx, "account show", a.error());
    if (*show_json)
      std::cout << to_json(*a) << "\n";
    else
      print_details(*a);
  });
}

// `account reactivate ID` and `account remove ID`.
void add_by_id(CLI::App& parent, context& ctx, const char* name,
               const char* help,
               caf::error (*action)(pqxx::connection&, int64_t),
               const char* done) {
  auto cmd = parent.add_subcommand(name, help);
  auto id = std::make_shared<int64_t>(0);
  cmd->add_option("ID", *id, "the account id")->required();
  auto what = fmt::format("account {}", name);
  cmd->callback([&ctx, id, action, done, what] {
    auto conn = open_database(ctx, what);
    if (!conn)
      return;
    if (auto err = action(*conn, *id))
      return report(ctx, what, err);
    std::cout << fmt::format("account {} {}\n", *id, done);
  });
}

// `account push ID on|off`.
void add_push(CLI::App& parent, context& ctx) {
  auto cmd = parent.add_subcommand(
      "push", "watch an IMAP account for new mail with IDLE (on) or not (off)");
  auto id = std::make_shared<int64_t>(0);
  auto state = std::make_shared<std::string>();
  cmd->add_option("ID", *id, "the account id")->required();
  cmd->add_option("STATE", *state, "on or off")
      ->required()
      ->check(CLI::IsMember({"on", "off"}));
  cmd->callback([&ctx, id, state] {
    auto conn = open_database(ctx, "account push");
    if (!conn)
      return;
    if (auto err = db::set_account_push(*conn, *id, *state == "on"))
      return report(ctx, "account push", err);
    std::cout << fmt::format("account {}: push {}\n", *id, *state);
  });
}

void add_import(CLI::App& parent, context& ctx) {
  auto cmd = parent.add_subcommand(
      "import",
      "add the accounts of a TOML ([[account]] tables) or CSV (header line) "
      "file, all or none");
  auto path = std::make_shared<std::string>();
  cmd->add_option("FILE", *path, "the file (*.toml, else CSV)")->required();
  cmd->callback([&ctx, path] {
    auto rows = read_import(*path);
    if (!rows) {
      std::cerr << "account import: " << *path << ": " << render(rows.error())
                << "\n";
      ctx.exit = exit_failure;
      return;
    }
    config cfg;
    auto conn = open_database(ctx, "account import", &cfg);
    if (!conn)
      return;
    auto box = load_box(cfg);
    if (!box)
      return report(ctx, "account import", box.error());
    auto ids = db::import_accounts(*conn, *rows, *box);
    if (!ids)
      return report(ctx, "account import", ids.error());
    std::cout << fmt::format("imported {} account{}\n", ids->size(),
                             ids->size() == 1 ? "" : "s");
  });
}

} // namespace

void add_account_commands(CLI::App& app, context& ctx) {
  auto cmd = app.add_subcommand("account", "the seed accounts");
  cmd->require_subcommand(1);
  add_add(*cmd, ctx);
  add_list_show(*cmd, ctx);
  add_by_id(*cmd, ctx, "reactivate",
            "re-enable an account and clear its failures",
            &db::reactivate_account, "reactivated");
  add_by_id(*cmd, ctx, "remove",
            "delete an account with its results and secret",
            &db::remove_account, "removed");
  add_push(*cmd, ctx);
  add_import(*cmd, ctx);
}

} // namespace mailpipe::cli
