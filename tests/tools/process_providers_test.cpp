// `mailpipe process` end to end for the REST providers: Gmail and Microsoft
// Graph seed accounts, added with `account add`, fetched through local
// stand-ins of the two APIs and of their OAuth2 token endpoints (answering in
// the documented JSON), the report read back with `test show --json` and SQL.

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <thread>
#include <tuple>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <pqxx/pqxx>
#include <simdjson.h>

#include "adapters/db/account_store.hpp"
#include "adapters/db/connection.hpp"
#include "adapters/db/migrate.hpp"
#include "adapters/sys/crypto.hpp"
#include "tests/support/child.hpp"
#include "tests/support/dovecot.hpp"
#include "tests/support/env.hpp"
#include "tests/support/http_stub.hpp"

using namespace mailpipe;
using namespace std::chrono_literals;
using test::http_stub;
using test::stub_reply;
using test::stub_request;

namespace {

// A base64 256-bit key (32 bytes of 'k').
const std::string key_b64 = "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s=";

bool contains(const std::vector<std::string>& xs, const std::string& x) {
  return std::find(xs.begin(), xs.end(), x) != xs.end();
}

// -- the OAuth2 side of a stand-in --------------------------------------------

/// A token endpoint at `/token` (RFC 6749 section 6): a refresh token it knows
/// gets a fresh access token for its mailbox (section 5.1); any other one
/// `invalid_grant` (section 5.2), as Google and Microsoft answer a revoked
/// grant.
class fake_oauth {
public:
  void serve(http_stub& stub) {
    stub.on("POST", "/token",
            [this](const stub_request& r) { return token(r); });
  }

  /// Makes `refresh_token` a grant of `mailbox`.
  void grant(const std::string& refresh_token, const std::string& mailbox) {
    std::lock_guard<std::mutex> guard{mtx_};
    grants_[refresh_token] = mailbox;
  }

  /// Answers every refresh with a new refresh token ("rotated-N") and revokes
  /// the one it was given, as a provider that rotates them and detects reuse.
  void rotate_refresh_tokens() {
    std::lock_guard<std::mutex> guard{mtx_};
    rotate_ = true;
  }

  /// The mailbox whose issued access token `req` carries, "" when none.
  std::string mailbox_of(const stub_request& req) const {
    std::lock_guard<std::mutex> guard{mtx_};
    auto auth = req.header("Authorization");
    if (!auth.starts_with("Bearer "))
      return "";
    auto i = issued_.find(auth.substr(7));
    return i == issued_.end() ? "" : i->second;
  }

private:
  stub_reply token(const stub_request& r) {
    if (r.param("grant_type") != "refresh_token")
      return stub_reply::json(400, R"({"error": "unsupported_grant_type"})");
    std::lock_guard<std::mutex> guard{mtx_};
    auto grant = grants_.find(r.param("refresh_token"));
    if (grant == grants_.end())
      return stub_reply::json(
          400,
          R"({"error": "invalid_grant",)"
          R"( "error_description": "Token has been expired or revoked."})");
    auto access = fmt::format("at-{}", issued_.size() + 1);
    issued_[access] = grant->second;
    std::string rotated;
    if (rotate_) {
      auto next = fmt::format("rotated-{}", ++rotations_);
      grants_[next] = grant->second;
      grants_.erase(grant);
      rotated = fmt::format(R"(, "refresh_token": "{}")", next);
    }
    return stub_reply::json(
        200, fmt::format(R"({{"access_token": "{}", "expires_in": 3599,)"
                         R"( "token_type": "Bearer"{}}})",
                         access, rotated));
  }

  bool rotate_ = false;
  int rotations_ = 0;
  mutable std::mutex mtx_;
  std::map<std::string, std::string> grants_; // refresh token -> mailbox
  std::map<std::string, std::string> issued_; // access token -> mailbox
};

/// Decides, per API call (counted from 1, with the mailbox of its token),
/// whether the service is in trouble: a reply to send instead of the real
/// answer, or nullopt.
using trouble_fn = std::function<std::optional<stub_reply>(
    int call, const std::string& mailbox)>;

/// What the API stand-ins share: the token endpoint, the bearer check and the
/// trouble a test injects.
struct fake_api {
  http_stub stub;
  fake_oauth oauth;
  std::mutex mtx;
  trouble_fn trouble;
  int calls = 0;
  stub_reply (*unauthorized)();

  explicit fake_api(stub_reply (*unauthorized_reply)())
      : unauthorized(unauthorized_reply) {
    oauth.serve(stub);
  }

  /// Answers `method path_regex` with `answer(request, mailbox)` for requests
  /// with a valid bearer token, after the injected trouble.
  template <class F>
  void route(std::string path_regex, F answer) {
    stub.on("GET", std::move(path_regex),
            [this, answer](const stub_request& r) {
              auto mailbox = oauth.mailbox_of(r);
              if (mailbox.empty())
                return unauthorized();
              std::lock_guard<std::mutex> guard{mtx};
              if (trouble)
                if (auto reply = trouble(++calls, mailbox))
                  return std::move(*reply);
              return answer(r, mailbox);
            });
  }

  /// The API requests (everything but the token endpoint).
  std::vector<stub_request> api_requests() const {
    std::vector<stub_request> out;
    for (auto& r : stub.requests())
      if (r.path != "/token")
        out.push_back(r);
    return out;
  }
};

// -- a stand-in for the Gmail API ---------------------------------------------

// Google's error body (https://cloud.google.com/apis/design/errors, the v1
// shape Gmail sends).
stub_reply google_error(int code, std::string reason, std::string status,
                        std::string message) {
  return stub_reply::json(
      code,
      fmt::format(
          R"({{"error": {{"code": {}, "message": {}, "errors": [{{"message": {},)"
          R"( "domain": "global", "reason": "{}"}}], "status": "{}"}}}})",
          code, test::json_quote(message), test::json_quote(message), reason,
          status));
}

stub_reply google_unauthenticated() {
  return google_error(401, "authError", "UNAUTHENTICATED",
                      "Request had invalid authentication credentials.");
}

stub_reply google_rate_limited(std::string retry_after) {
  return google_error(429, "rateLimitExceeded", "RESOURCE_EXHAUSTED",
                      "Too many concurrent requests for user.")
      .with_header("Retry-After", std::move(retry_after));
}

struct gmail_message {
  std::string id, mailbox, subject, test_id;
  std::vector<std::string> labels;
  /// A newsletter's: List-Unsubscribe in its headers.
  bool list = false;
  /// Its format=raw answer is malformed.
  bool unreadable = false;
};

/// The headers every stand-in message has, as `(name, value)`, the list header
/// `list_header` added to a newsletter.
std::vector<std::pair<std::string, std::string>>
standin_headers(const std::string& mailbox, const std::string& subject,
                const std::string& test_id, const std::string& id,
                const char* list_header) {
  std::vector<std::pair<std::string, std::string>> out = {
      {"Delivered-To", mailbox},
      {"Message-ID", "<" + id + "@sender.example>"},
      {"Authentication-Results",
       "mx.google.com; spf=pass smtp.mailfrom=sender.example"},
      {"From", "News <news@sender.example>"},
      {"Subject", subject},
      {"X-Mailpipe-Test-Id", test_id}};
  if (list_header && list_header == std::string_view{"List-Id"})
    out.emplace_back(list_header, "<news.sender.example>");
  else if (list_header)
    out.emplace_back(list_header, "<https://sender.example/u/" + id + ">");
  return out;
}

/// The message as RFC 5322 text: `headers`, an empty line, a short body.
std::string
standin_mime(const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string out;
  for (auto& [name, value] : headers)
    out += name + ": " + value + "\r\n";
  return out + "\r\nThis week at the sender.\r\n";
}

const std::string gmail_prefix = "/gmail/v1/users/me/";

/// messages.list (`q` with quoted terms matched in the subject; SPAM and TRASH
/// only with includeSpamTrash) and messages.get (format=metadata), per mailbox
/// of the bearer token.
struct fake_gmail : fake_api {
  std::vector<gmail_message> messages;

  fake_gmail() : fake_api(google_unauthenticated) {
    route(gmail_prefix + "messages",
          [this](auto& r, auto& mailbox) { return list(r, mailbox); });
    route(gmail_prefix + "messages/[^/]+", [this](auto& r, auto& mailbox) {
      auto id = r.path.substr(r.path.rfind('/') + 1);
      return r.param("format") == "raw" ? get_raw(id, mailbox)
                                        : get(r, id, mailbox);
    });
    route(gmail_prefix + "history",
          [this](auto& r, auto& mailbox) { return history(r, mailbox); });
    route(gmail_prefix + "profile", [this](auto&, auto& mailbox) {
      return stub_reply::json(
          200, fmt::format(R"({{"emailAddress": {}, "messagesTotal": {},)"
                           R"( "threadsTotal": {}, "historyId": "{}"}})",
                           test::json_quote(mailbox), messages.size(),
                           messages.size(), current_history()));
    });
  }

  /// Each message added is one step of the history, from 101 on.
  size_t current_history() const { return 100 + messages.size(); }

  /// History before this is gone.
  size_t oldest_history = 100;
  /// This many history calls are answered 429 with `Retry-After:
  /// history_retry_after` first.
  int history_rate_limits = 0;
  std::string history_retry_after = "1";
  /// History records per page (0: all on one page).
  size_t history_page_size = 0;
  /// This many calls for a page after the first are answered 429 first.
  int next_page_rate_limits = 0;

  /// users.history.list from startHistoryId: the messages added after it
  /// (one history record each, `history_page_size` a page, the page token
  /// the index of the page's first record); a start before `oldest_history`
  /// is gone (404).
  stub_reply history(const stub_request& r, const std::string& mailbox) {
    auto token = r.param("pageToken");
    if (history_rate_limits > 0
        || (!token.empty() && next_page_rate_limits > 0)) {
      --(token.empty() ? history_rate_limits : next_page_rate_limits);
      return google_rate_limited(history_retry_after);
    }
    auto start = std::stoul(r.param("startHistoryId"));
    if (start < oldest_history)
      return google_error(404, "notFound", "NOT_FOUND",
                          "Requested entity was not found.");
    std::string records, next;
    size_t on_page = 0;
    for (size_t i = token.empty() ? start - 100 : std::stoul(token);
         i < messages.size(); ++i) {
      if (messages[i].mailbox != mailbox)
        continue;
      if (history_page_size > 0 && on_page == history_page_size) {
        next = fmt::format(R"(, "nextPageToken": "{}")", i);
        break;
      }
      ++on_page;
      records += fmt::format(
          R"({}{{"id": "{}", "messages": [{{"id": "{}"}}],)"
          R"( "messagesAdded": [{{"message": {{"id": "{}", "threadId": "{}"}}}}]}})",
          records.empty() ? "" : ", ", 101 + i, messages[i].id, messages[i].id,
          messages[i].id);
    }
    return stub_reply::json(
        200, fmt::format(R"({{"history": [{}], "historyId": "{}"{}}})", records,
                         current_history(), next));
  }

  /// users.messages.get?format=raw: the whole message in base64url.
  stub_reply get_raw(const std::string& id, const std::string& mailbox) {
    for (auto& m : messages) {
      if (m.id != id || m.mailbox != mailbox)
        continue;
      auto b64 = crypto::base64_encode(standin_mime(headers_of(m)));
      for (auto& c : b64)
        c = c == '+' ? '-' : c == '/' ? '_' : c;
      if (m.unreadable)
        b64 = "%%not base64url%%";
      std::string labels;
      for (auto& l : m.labels)
        labels += (labels.empty() ? "" : ", ") + test::json_quote(l);
      return stub_reply::json(
          200, fmt::format(R"({{"id": "{0}", "threadId": "{0}",)"
                           R"( "labelIds": [{1}], "raw": "{2}"}})",
                           m.id, labels, b64));
    }
    return google_error(404, "notFound", "NOT_FOUND",
                        "Requested entity was not found.");
  }

  void add(std::string mailbox, std::string test_id,
           std::vector<std::string> labels, bool list = false) {
    auto id = fmt::format("18c{}", messages.size() + 1);
    messages.push_back({id, std::move(mailbox), "Weekly news " + test_id,
                        test_id, std::move(labels), list});
  }

  static bool hidden(const gmail_message& m) {
    for (auto& l : m.labels)
      if (l == "SPAM" || l == "TRASH")
        return true;
    return false;
  }

  bool matches(const gmail_message& m, const std::string& q) const {
    std::regex quoted{"\"([^\"]+)\""};
    for (std::sregex_iterator i{q.begin(), q.end(), quoted}, e; i != e; ++i)
      if (m.subject.find((*i)[1]) != std::string::npos)
        return true;
    return false;
  }

  stub_reply list(const stub_request& r, const std::string& mailbox) {
    bool spam_trash = r.param("includeSpamTrash") == "true";
    std::string items;
    size_t n = 0;
    for (auto& m : messages) {
      if (m.mailbox != mailbox || (hidden(m) && !spam_trash)
          || !matches(m, r.param("q")))
        continue;
      items += fmt::format(R"({}{{"id": "{}", "threadId": "{}"}})",
                           n++ ? ", " : "", m.id, m.id);
    }
    if (n == 0)
      return stub_reply::json(200, R"({"resultSizeEstimate": 0})");
    return stub_reply::json(
        200, fmt::format(R"({{"messages": [{}], "resultSizeEstimate": {}}})",
                         items, n));
  }

  /// users.messages.get?format=metadata: every header, or only those named
  /// by `metadataHeaders`.
  stub_reply get(const stub_request& r, const std::string& id,
                 const std::string& mailbox) {
    std::vector<std::string> only;
    for (auto [i, end] = r.params.equal_range("metadataHeaders"); i != end; ++i)
      only.push_back(i->second);
    for (auto& m : messages)
      if (m.id == id && m.mailbox == mailbox)
        return stub_reply::json(200, metadata_json(m, only));
    return google_error(404, "notFound", "NOT_FOUND",
                        "Requested entity was not found.");
  }

  static std::string metadata_json(const gmail_message& m,
                                   const std::vector<std::string>& only) {
    std::string labels, headers;
    for (auto& l : m.labels)
      labels += (labels.empty() ? "" : ", ") + test::json_quote(l);
    for (auto& [name, value] : headers_of(m))
      if (only.empty() || contains(only, name))
        headers += fmt::format(R"({}{{"name": {}, "value": {}}})",
                               headers.empty() ? "" : ", ",
                               test::json_quote(name), test::json_quote(value));
    return fmt::format(
        R"({{"id": "{0}", "threadId": "{0}", "labelIds": [{1}], "snippet": "",)"
        R"( "historyId": "4242", "internalDate": "1763790000000",)"
        R"( "payload": {{"partId": "", "mimeType": "text/plain", "filename": "",)"
        R"( "headers": [{2}]}}, "sizeEstimate": 2048}})",
        m.id, labels, headers);
  }

  static std::vector<std::pair<std::string, std::string>>
  headers_of(const gmail_message& m) {
    return standin_headers(m.mailbox, m.subject, m.test_id, m.id,
                           m.list ? "List-Unsubscribe" : nullptr);
  }
};

// -- a stand-in for Microsoft Graph -------------------------------------------

// Graph's error body: {"error": {"code", "message", "innerError"}}.
stub_reply graph_error(int status, std::string code, std::string message) {
  return stub_reply::json(
      status,
      fmt::format(
          R"({{"error": {{"code": {}, "message": {}, "innerError": {{)"
          R"("date": "2026-11-22T03:00:00",)"
          R"( "request-id": "5c1c7a2e-0000-0000-0000-000000000000"}}}}}})",
          test::json_quote(code), test::json_quote(message)));
}

stub_reply graph_unauthenticated() {
  return graph_error(401, "InvalidAuthenticationToken",
                     "Access token has expired or is not yet valid.");
}

stub_reply graph_unavailable() {
  return graph_error(503, "ServiceNotAvailable",
                     "The service is temporarily unavailable.");
}

struct graph_message {
  std::string id, mailbox, folder_id, subject, test_id;
  /// A newsletter's: List-Id in its headers.
  bool list = false;
};

const std::string graph_me = "/v1.0/me";

/// Well-known folder name -> (id, display name); this mailbox has no archive.
const std::map<std::string, std::pair<std::string, std::string>> well_known = {
    {"inbox", {"AAMkInbox==", "Inbox"}},
    {"junkemail", {"AAMkJunk==", "Junk Email"}},
    {"deleteditems", {"AAMkDeleted==", "Deleted Items"}},
};

/// messages with `$search` (a quoted phrase matched in the subject) and
/// mailFolders by well-known name or id, per mailbox of the bearer token.
struct fake_graph : fake_api {
  std::vector<graph_message> messages;

  fake_graph() : fake_api(graph_unauthenticated) {
    route(graph_me + "/messages",
          [this](auto& r, auto& mailbox) { return search(r, mailbox); });
    route(graph_me + "/mailFolders/[^/]+", [](auto& r, auto&) {
      return folder(r.path.substr(r.path.rfind('/') + 1));
    });
    route(graph_me + "/mailFolders/inbox/messages/delta",
          [this](auto& r, auto& mailbox) { return delta(r, mailbox); });
    route(graph_me + "/messages/[^/]+/\\$value",
          [this](auto& r, auto& mailbox) { return mime(r, mailbox); });
  }

  void add(std::string mailbox, std::string test_id, std::string folder,
           bool list = false) {
    messages.push_back({fmt::format("AAMkMsg{}==", messages.size() + 1),
                        std::move(mailbox), well_known.at(folder).first,
                        "Weekly news " + test_id, test_id, list});
  }

  /// A delta token Graph no longer knows (410).
  std::string refused_token;

  /// A delta round of the inbox: from scratch every message there, from
  /// `$deltatoken=N` the messages added after the first N; the deltaLink's
  /// token is the count of messages now.
  stub_reply delta(const stub_request& r, const std::string& mailbox) {
    auto token = r.param("$deltatoken");
    if (!token.empty() && token == refused_token)
      return graph_error(410, "SyncStateNotFound",
                         "The sync state generation is not found.");
    size_t from = token.empty() ? 0 : std::stoul(token);
    std::string value;
    for (size_t i = from; i < messages.size(); ++i)
      if (messages[i].mailbox == mailbox
          && messages[i].folder_id == well_known.at("inbox").first)
        value += (value.empty() ? "" : ", ") + message_json(messages[i]);
    return stub_reply::json(
        200, fmt::format(R"({{"@odata.context": "https://graph.microsoft.com/)"
                         R"(v1.0/$metadata#messages", "value": [{}],)"
                         R"( "@odata.deltaLink": "{}{}/mailFolders/inbox/)"
                         R"(messages/delta?$deltatoken={}"}})",
                         value, stub.url(), graph_me, messages.size()));
  }

  /// GET messages/{id}/$value: the message's MIME content.
  stub_reply mime(const stub_request& r, const std::string& mailbox) {
    auto id = r.path.substr(graph_me.size() + 10);
    id = id.substr(0, id.find('/'));
    for (auto& m : messages)
      if (m.id == id && m.mailbox == mailbox) {
        stub_reply out;
        out.content_type = "text/plain";
        out.body =
            standin_mime(standin_headers(m.mailbox, m.subject, m.test_id, m.id,
                                         m.list ? "List-Id" : nullptr));
        return out;
      }
    return graph_error(404, "ErrorItemNotFound",
                       "The specified object was not found in the store.");
  }

  stub_reply search(const stub_request& r, const std::string& mailbox) {
    auto term = r.param("$search");
    if (term.size() < 2 || term.front() != '"' || term.back() != '"')
      return graph_error(400, "BadRequest", "Syntax error in $search");
    term = term.substr(1, term.size() - 2);
    std::string value;
    for (auto& m : messages)
      if (m.mailbox == mailbox && m.subject.find(term) != std::string::npos)
        value += (value.empty() ? "" : ", ") + message_json(m);
    return stub_reply::json(
        200, fmt::format(R"({{"@odata.context": "https://graph.microsoft.com/)"
                         R"(v1.0/$metadata#users('me')/messages",)"
                         R"( "value": [{}]}})",
                         value));
  }

  static std::string message_json(const graph_message& m) {
    return fmt::format(
        R"({{"@odata.etag": "W/\"CQAAABYAAAA\"", "id": {}, "subject": {},)"
        R"( "parentFolderId": {}, "inferenceClassification": "focused",)"
        R"( "internetMessageHeaders": [)"
        R"({{"name": "Authentication-Results", "value": "spf=pass)"
        R"( (sender IP is 192.0.2.1) smtp.mailfrom=sender.example"}},)"
        R"( {{"name": "From", "value": "News <news@sender.example>"}},{})"
        R"( {{"name": "X-Mailpipe-Test-Id", "value": {}}}]}})",
        test::json_quote(m.id), test::json_quote(m.subject),
        test::json_quote(m.folder_id),
        m.list ? R"( {"name": "List-Id", "value": "<news.sender.example>"},)"
               : "",
        test::json_quote(m.test_id));
  }

  static stub_reply folder(const std::string& key) {
    for (auto& [name, f] : well_known)
      if (key == name || key == f.first)
        return stub_reply::json(
            200,
            fmt::format(R"({{"id": {}, "displayName": {},)"
                        R"( "parentFolderId": "AAMkRoot==",)"
                        R"( "childFolderCount": 0, "isHidden": false}})",
                        test::json_quote(f.first), test::json_quote(f.second)));
    return graph_error(404, "ErrorItemNotFound",
                       "The specified object was not found in the store.");
  }
};

// -- fixture ------------------------------------------------------------------

/// A scratch database, the two stand-ins and a config pointing at them.
class process_providers : public ::testing::Test {
protected:
  void SetUp() override {
    ASSERT_FALSE(db_.url().empty())
        << "no PostgreSQL: run the tests with tools/test";
    conn_ = std::move(*db::connect(db_.url()));
    ASSERT_TRUE(db::migrate(*conn_));
    dir_ = fmt::format("{}/process-providers-{}-{}", testing::TempDir(),
                       getpid(), test::random_hex(6));
    std::filesystem::create_directories(dir_);
    write_config("");
  }

  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  /// The two provider sections on the stand-ins (`provider_extra` added to
  /// each), a one-second retry time, logs in dir_.
  void write_config(const std::string& provider_extra) {
    std::ofstream{dir_ + "/mailpipe.toml"} << fmt::format(
        "[node]\nname = \"e2e-rest\"\n"
        "[processing]\nretry_after = \"1s\"\nmax_failures = 3\n"
        "[gmail]\napi_url = \"{0}\"\ntoken_url = \"{0}/token\"\n"
        "client_id = \"gmail-client\"\nclient_secret = \"gmail-cs\"\n"
        "request_timeout = \"5s\"\n{2}\n"
        "[outlook]\napi_url = \"{1}/v1.0\"\ntoken_url = \"{1}/token\"\n"
        "client_id = \"graph-client\"\nclient_secret = \"graph-cs\"\n"
        "request_timeout = \"5s\"\n{2}\n"
        "[log]\ndir = \"{3}/logs\"\n",
        gmail_.stub.url(), graph_.stub.url(), provider_extra, dir_);
  }

  test::run_result mailpipe(std::vector<std::string> args,
                            std::vector<std::string> env = {}) {
    args.insert(args.begin(),
                {test::mailpipe_binary(), "--config", dir_ + "/mailpipe.toml"});
    env.push_back("MAILPIPE_DATABASE_URL=" + db_.url());
    env.push_back("MAILPIPE_SECRET_KEY=" + key_b64);
    return test::run_process(args, env);
  }

  int64_t scalar(const std::string& sql) {
    pqxx::nontransaction tx{*conn_};
    return tx.exec1(sql)[0].as<int64_t>();
  }

  /// `account add --provider <provider> --oauth-refresh-token-env`; returns
  /// the new account's id.
  int64_t add_account(const std::string& email, const std::string& provider,
                      const std::string& refresh_token) {
    auto r = mailpipe({"account", "add", "--email", email, "--provider",
                       provider, "--oauth-refresh-token-env", "SEED_RT"},
                      {"SEED_RT=" + refresh_token});
    EXPECT_EQ(r.status, 0) << r.err;
    return scalar(
        fmt::format("SELECT id FROM email_accounts WHERE email = '{}'", email));
  }

  /// Adds a test for every active account; returns its token.
  std::string add_test() {
    auto token = "mp-rest" + test::random_hex(16);
    auto r = mailpipe({"test", "add", "--token", token});
    EXPECT_EQ(r.status, 0) << r.err;
    return token;
  }

  /// Runs `process --json` with `args`; keeps its output in `last_run_`.
  simdjson::dom::element process(simdjson::dom::parser& parser,
                                 std::vector<std::string> args = {}) {
    args.insert(args.begin(), {"process", "--json"});
    last_run_ = mailpipe(args);
    EXPECT_EQ(last_run_.status, 0) << last_run_.err;
    auto doc = parser.parse(last_run_.out);
    EXPECT_FALSE(doc.error()) << last_run_.out << last_run_.err;
    return doc.value_unsafe();
  }

  /// `test show <token> --json`.
  simdjson::dom::element show(simdjson::dom::parser& parser,
                              const std::string& token) {
    auto r = mailpipe({"test", "show", token, "--json"});
    EXPECT_EQ(r.status, 0) << r.err;
    auto doc = parser.parse(r.out);
    EXPECT_FALSE(doc.error()) << r.out << r.err;
    return doc.value_unsafe();
  }

  /// Every file the program wrote under its log folder, concatenated.
  std::string all_logs() {
    std::string out;
    for (auto& entry :
         std::filesystem::recursive_directory_iterator{dir_ + "/logs"})
      if (entry.is_regular_file()) {
        std::ifstream in{entry.path()};
        out.append(std::istreambuf_iterator<char>{in}, {});
      }
    return out;
  }

  fake_gmail gmail_;
  fake_graph graph_;
  test::scratch_database db_;
  std::unique_ptr<pqxx::connection> conn_;
  std::string dir_;
  test::run_result last_run_;
};

int64_t num(simdjson::dom::element doc, const char* key) {
  return doc[key].get_int64().value_unsafe();
}

std::string str(simdjson::dom::element doc, const char* key) {
  if (doc[key].is_null())
    return "null";
  return std::string{doc[key].get_string().value_unsafe()};
}

/// The element of the array `doc[list]` whose "email" is `email`.
simdjson::dom::element by_email(simdjson::dom::element doc, const char* list,
                                const std::string& email) {
  simdjson::dom::array items; // a named value: the loop outlives temporaries
  if (doc[list].get(items) != simdjson::SUCCESS) {
    ADD_FAILURE() << "no array " << list;
    return doc;
  }
  for (auto item : items)
    if (str(item, "email") == email)
      return item;
  ADD_FAILURE() << "no " << email << " in " << list;
  return doc;
}

std::vector<std::string> strings(simdjson::dom::element array) {
  std::vector<std::string> out;
  simdjson::dom::array items;
  if (array.get(items) != simdjson::SUCCESS)
    return out;
  for (auto item : items)
    out.emplace_back(std::string_view{item});
  return out;
}

} // namespace

// -- found where it landed ----------------------------------------------------

TEST_F(process_providers,
       gmail_labels_and_graph_folders_give_the_placement_with_bearer_tokens) {
  gmail_.oauth.grant("rt-gmail-inbox", "inbox@gmail.test");
  gmail_.oauth.grant("rt-gmail-spam", "spam@gmail.test");
  graph_.oauth.grant("rt-graph-inbox", "inbox@outlook.test");
  graph_.oauth.grant("rt-graph-junk", "junk@outlook.test");
  add_account("inbox@gmail.test", "gmail", "rt-gmail-inbox");
  add_account("spam@gmail.test", "gmail", "rt-gmail-spam");
  add_account("inbox@outlook.test", "outlook", "rt-graph-inbox");
  add_account("junk@outlook.test", "outlook", "rt-graph-junk");
  auto token = add_test();
  gmail_.add("inbox@gmail.test", token, {"INBOX", "UNREAD"});
  gmail_.add("spam@gmail.test", token, {"SPAM", "UNREAD"});
  graph_.add("inbox@outlook.test", token, "inbox");
  graph_.add("junk@outlook.test", token, "junkemail");

  simdjson::dom::parser p;
  auto run = process(p);
  EXPECT_EQ(num(run, "done"), 4) << last_run_.out;
  EXPECT_EQ(num(run, "failed"), 0) << last_run_.out;
  EXPECT_EQ(num(run, "recorded"), 4) << last_run_.out;

  simdjson::dom::parser ps;
  auto report = show(ps, token);
  struct expected {
    std::string email, placement, folder, label;
  };
  for (auto& want : {
           expected{"inbox@gmail.test", "inbox", "null", "INBOX"},
           expected{"spam@gmail.test", "spam", "null", "SPAM"},
           expected{"inbox@outlook.test", "inbox", "inbox",
                    "inferenceClassification:focused"},
           expected{"junk@outlook.test", "spam", "junkemail",
                    "inferenceClassification:focused"},
       }) {
    auto result = by_email(report, "results", want.email);
    EXPECT_EQ(str(result, "status"), "found") << want.email;
    EXPECT_EQ(str(result, "placement"), want.placement) << want.email;
    EXPECT_EQ(str(result, "folder"), want.folder) << want.email;
    EXPECT_TRUE(contains(strings(result["labels"]), want.label))
        << want.email << ": " << simdjson::to_string(result["labels"]);
  }

  // Each account refreshed its own grant once, with the configured client.
  for (auto [api, client, rts] :
       {std::tuple{&gmail_.stub, "gmail-client",
                   std::vector<std::string>{"rt-gmail-inbox", "rt-gmail-spam"}},
        std::tuple{
            &graph_.stub, "graph-client",
            std::vector<std::string>{"rt-graph-inbox", "rt-graph-junk"}}}) {
    auto grants = api->requests("/token");
    ASSERT_EQ(grants.size(), 2u);
    std::vector<std::string> sent;
    for (auto& g : grants) {
      EXPECT_EQ(g.param("grant_type"), "refresh_token");
      EXPECT_EQ(g.param("client_id"), client);
      sent.push_back(g.param("refresh_token"));
    }
    std::sort(sent.begin(), sent.end());
    EXPECT_EQ(sent, rts);
  }
  // Microsoft wants the scopes on every refresh.
  EXPECT_NE(graph_.stub.requests("/token")[0].param("scope").find("Mail.Read"),
            std::string::npos);
  // Every API call carried an access token the endpoint issued.
  for (auto* api :
       {static_cast<fake_api*>(&gmail_), static_cast<fake_api*>(&graph_)}) {
    auto calls = api->api_requests();
    EXPECT_FALSE(calls.empty());
    for (auto& c : calls)
      EXPECT_FALSE(api->oauth.mailbox_of(c).empty())
          << c.path
          << " without a valid bearer token: " << c.header("Authorization");
  }
}

// -- a revoked grant ----------------------------------------------------------

TEST_F(process_providers,
       a_revoked_refresh_token_is_an_auth_failure_and_never_shown) {
  const std::string revoked = "1//0revoked-refresh-token-SECRET";
  gmail_.oauth.grant("rt-gmail-ok", "ok@gmail.test");
  auto ok = add_account("ok@gmail.test", "gmail", "rt-gmail-ok");
  auto bad = add_account("revoked@gmail.test", "gmail", revoked);
  auto bad_graph = add_account("revoked@outlook.test", "outlook", revoked);
  auto token = add_test();
  gmail_.add("ok@gmail.test", token, {"INBOX"});

  simdjson::dom::parser p;
  auto run = process(p);
  EXPECT_EQ(num(run, "done"), 1) << last_run_.out;
  EXPECT_EQ(num(run, "failed"), 2) << last_run_.out;
  for (auto email : {"revoked@gmail.test", "revoked@outlook.test"}) {
    auto outcome = by_email(run, "accounts", email);
    EXPECT_EQ(str(outcome, "error_class"), "auth") << email;
    EXPECT_NE(str(outcome, "message").find("invalid_grant"), std::string::npos)
        << str(outcome, "message");
  }
  // The refusal is the token endpoint's: no API call was made for them.
  EXPECT_EQ(graph_.api_requests().size(), 0u);
  EXPECT_EQ(gmail_.stub.count("/token"), 2u);

  EXPECT_EQ(scalar(fmt::format("SELECT count(*) FROM email_account_failures "
                               "WHERE email_account_id IN ({}, {}) AND "
                               "failure_class = 'auth' AND failure_count = 1",
                               bad, bad_graph)),
            2);
  EXPECT_EQ(scalar(fmt::format("SELECT count(*) FROM email_account_failures "
                               "WHERE email_account_id = {}",
                               ok)),
            0);
  auto shown = mailpipe({"account", "show", std::to_string(bad), "--json"});
  ASSERT_EQ(shown.status, 0) << shown.err;
  simdjson::dom::parser pa;
  auto account = pa.parse(shown.out).value_unsafe();
  EXPECT_EQ(str(account["failure"], "class"), "auth") << shown.out;
  EXPECT_EQ(num(account["failure"], "count"), 1) << shown.out;

  simdjson::dom::parser ps;
  auto report = show(ps, token);
  EXPECT_EQ(str(by_email(report, "results", "ok@gmail.test"), "status"),
            "found");
  auto failed = by_email(report, "results", "revoked@gmail.test");
  EXPECT_EQ(str(failed, "status"), "error");
  EXPECT_EQ(str(failed, "error"), "auth");

  // The token went to the endpoint and nowhere else.
  size_t sent = 0;
  for (auto& grant : gmail_.stub.requests("/token"))
    sent += grant.param("refresh_token") == revoked ? 1 : 0;
  EXPECT_EQ(sent, 1u);
  for (auto& text : {last_run_.out, last_run_.err, shown.out, all_logs()})
    EXPECT_EQ(text.find(revoked), std::string::npos) << text;
  EXPECT_FALSE(all_logs().empty());
}

// -- rotated refresh tokens ---------------------------------------------------

TEST_F(process_providers,
       a_refresh_token_the_provider_rotates_is_kept_for_every_later_reader) {
  graph_.oauth.rotate_refresh_tokens();
  graph_.oauth.grant("rt-rot", "rot@outlook.test");
  auto account = add_account("rot@outlook.test", "outlook", "rt-rot");
  simdjson::dom::parser p;
  // A pass of one `process`, then of the next (a fresh process, as cron
  // starts it): each refreshes with the token the one before stored, since
  // the provider revoked the older one.
  auto pass = [&] {
    auto token = add_test();
    graph_.add("rot@outlook.test", token, "inbox");
    auto run = process(p);
    EXPECT_EQ(num(run, "done"), 1) << last_run_.out << last_run_.err;
  };
  pass();
  pass();
  // In a node: its supervisor keeps the tokens across passes, so its second
  // pass refreshes nothing; a fetch_emails job's newsletter scan rotates the
  // token the supervisor holds away, and the supervisor's next pass starts
  // from the one the scan stored.
  {
    // A run every second.
    std::ifstream in{dir_ + "/mailpipe.toml"};
    std::string toml{std::istreambuf_iterator<char>{in}, {}};
    toml = std::regex_replace(toml, std::regex{"\\[processing\\]\n"},
                              "[processing]\ninterval = \"1s\"\n");
    std::ofstream{dir_ + "/mailpipe.toml"}
        << toml << "[jobs]\nworkers = 1\npoll_interval = \"1h\"\n"
        << "[http]\nlisten = \"\"\n";
  }
  {
    test::child_process node{
        {test::mailpipe_binary(), "--config", dir_ + "/mailpipe.toml", "run"},
        {"MAILPIPE_DATABASE_URL=" + db_.url(),
         "MAILPIPE_SECRET_KEY=" + key_b64},
        "e2e-rest-rotate"};
    auto node_pass = [&] {
      auto token = add_test();
      graph_.add("rot@outlook.test", token, "inbox");
      EXPECT_TRUE(test::eventually(
          db_.url(),
          fmt::format("SELECT count(*) = 1 FROM test_results r JOIN tests t "
                      "ON t.id = r.test_id WHERE t.test_id = '{}' AND "
                      "r.status = 'found'",
                      token),
          20s))
          << node.output();
    };
    node_pass();
    node_pass();
    auto job =
        mailpipe({"jobs", "enqueue", "fetch_emails", "--id", "rot-1",
                  "--payload", fmt::format(R"({{"account_id":{}}})", account)});
    ASSERT_EQ(job.status, 0) << job.err;
    EXPECT_TRUE(test::eventually(
        db_.url(), "SELECT state = 'succeeded' FROM jobs WHERE id = 'rot-1'",
        20s))
        << node.output();
    node_pass();
    node.signal(SIGTERM);
    EXPECT_EQ(node.wait_exit(15s), 0) << node.output();
  }
  pass();
  std::vector<std::string> sent;
  for (auto& grant : graph_.stub.requests("/token"))
    sent.push_back(grant.param("refresh_token"));
  EXPECT_EQ(sent,
            (std::vector<std::string>{"rt-rot", "rotated-1", "rotated-2",
                                      "rotated-3", "rotated-4", "rotated-5"}));
  EXPECT_EQ(scalar("SELECT count(*) FROM email_account_failures"), 0);
  for (auto& text : {last_run_.out, last_run_.err, all_logs()})
    for (auto& secret : {"rt-rot", "rotated-"})
      EXPECT_EQ(text.find(secret), std::string::npos) << text;
}

TEST_F(process_providers,
       an_idle_watcher_stores_the_refresh_token_its_provider_rotates) {
  graph_.oauth.rotate_refresh_tokens();
  graph_.oauth.grant("rt-idle", "idle@outlook.test");
  // An IMAP account on XOAUTH2 (Microsoft's token endpoint) whose server
  // refuses connections: its watcher refreshes, then fails to connect.
  auto added =
      mailpipe({"account", "add", "--email", "idle@outlook.test", "--provider",
                "imap", "--host", "127.0.0.1", "--port", "1", "--tls", "none",
                "--oauth-refresh-token-env", "SEED_RT"},
               {"SEED_RT=rt-idle"});
  ASSERT_EQ(added.status, 0) << added.err;
  auto id = scalar("SELECT id FROM email_accounts");
  auto push = mailpipe({"account", "push", std::to_string(id), "on"});
  ASSERT_EQ(push.status, 0) << push.err;
  std::ofstream{dir_ + "/mailpipe.toml", std::ios::app}
      << "[imap]\nallow_plaintext = true\n[http]\nlisten = \"\"\n";
  test::child_process node{
      {test::mailpipe_binary(), "--config", dir_ + "/mailpipe.toml", "run"},
      {"MAILPIPE_DATABASE_URL=" + db_.url(), "MAILPIPE_SECRET_KEY=" + key_b64},
      "e2e-rest-idle"};
  auto box = crypto::secret_box::from_key(std::string(crypto::key_size, 'k'));
  ASSERT_TRUE(box);
  std::string stored;
  for (int i = 0; i < 200 && stored != "rotated-1"; ++i) {
    std::this_thread::sleep_for(100ms);
    auto secret = db::load_secret(*conn_, id, *box);
    stored = secret ? *secret : "";
  }
  EXPECT_EQ(stored, "rotated-1") << node.output();
  node.signal(SIGTERM);
  EXPECT_EQ(node.wait_exit(15s), 0) << node.output();
  for (auto& text : {node.output(), all_logs()})
    for (auto& secret : {"rt-idle", "rotated-"})
      EXPECT_EQ(text.find(secret), std::string::npos) << text;
}

// -- rate limits and outages --------------------------------------------------

TEST_F(process_providers,
       a_429_with_retry_after_and_a_503_are_retried_and_the_message_found) {
  gmail_.oauth.grant("rt-gmail", "seed@gmail.test");
  graph_.oauth.grant("rt-graph", "seed@outlook.test");
  add_account("seed@gmail.test", "gmail", "rt-gmail");
  add_account("seed@outlook.test", "outlook", "rt-graph");
  auto token = add_test();
  gmail_.add("seed@gmail.test", token, {"SPAM"});
  graph_.add("seed@outlook.test", token, "junkemail");
  gmail_.trouble = [](int call, auto&) -> std::optional<stub_reply> {
    if (call == 1)
      return google_rate_limited("1");
    return std::nullopt;
  };
  graph_.trouble = [](int call, auto&) -> std::optional<stub_reply> {
    if (call == 1)
      return graph_unavailable(); // no Retry-After: the client's backoff
    return std::nullopt;
  };

  simdjson::dom::parser p;
  auto run = process(p);
  EXPECT_EQ(num(run, "done"), 2) << last_run_.out;
  EXPECT_EQ(num(run, "failed"), 0) << last_run_.out;
  EXPECT_EQ(num(run, "recorded"), 2) << last_run_.out;
  // The refused call was sent again, once.
  EXPECT_EQ(gmail_.stub.count(gmail_prefix + "messages"), 2u);
  EXPECT_EQ(graph_.stub.count(graph_me + "/messages"), 2u);
  EXPECT_EQ(scalar("SELECT count(*) FROM test_results WHERE status = 'found' "
                   "AND placement = 'spam'"),
            2);
  EXPECT_EQ(scalar("SELECT count(*) FROM email_account_failures"), 0);
}

TEST_F(
    process_providers,
    a_service_that_stays_down_fails_after_its_attempts_and_is_retried_later) {
  write_config("max_attempts = 2");
  graph_.oauth.grant("rt-graph", "seed@outlook.test");
  auto id = add_account("seed@outlook.test", "outlook", "rt-graph");
  add_test();
  graph_.trouble = [](int, auto&) -> std::optional<stub_reply> {
    return graph_unavailable();
  };

  simdjson::dom::parser p;
  auto run = process(p);
  EXPECT_EQ(num(run, "failed"), 1) << last_run_.out;
  EXPECT_EQ(graph_.stub.count(graph_me + "/.*"), 2u); // max_attempts
  auto outcome = by_email(run, "accounts", "seed@outlook.test");
  EXPECT_EQ(str(outcome, "error_class"), "network") << last_run_.out;
  EXPECT_NE(str(outcome, "message").find("HTTP 503"), std::string::npos)
      << last_run_.out;
  EXPECT_EQ(scalar(fmt::format("SELECT count(*) FROM email_account_failures "
                               "WHERE email_account_id = {} AND failure_class "
                               "= 'network' AND retry_at IS NOT NULL",
                               id)),
            1);
}

TEST_F(process_providers,
       a_retry_after_beyond_the_limits_is_not_waited_for_but_rate_limited) {
  gmail_.oauth.grant("rt-far", "far@gmail.test");
  gmail_.oauth.grant("rt-near", "near@gmail.test");
  add_account("far@gmail.test", "gmail", "rt-far");
  add_account("near@gmail.test", "gmail", "rt-near");
  add_test();
  // An hour is past gmail.max_retry_wait (1m); 40 s is inside it but past the
  // account's time limit of this run (--timeout 3).
  gmail_.trouble = [](int,
                      const std::string& mailbox) -> std::optional<stub_reply> {
    return google_rate_limited(mailbox == "far@gmail.test" ? "3600" : "40");
  };

  simdjson::dom::parser p;
  auto start = std::chrono::steady_clock::now();
  auto run = process(p, {"--timeout", "3"});
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, 15s) << "the run waited for a Retry-After";
  EXPECT_EQ(num(run, "failed"), 2) << last_run_.out;
  for (auto email : {"far@gmail.test", "near@gmail.test"})
    EXPECT_EQ(str(by_email(run, "accounts", email), "error_class"),
              "rate_limited")
        << last_run_.out;
  EXPECT_EQ(gmail_.stub.count(gmail_prefix + ".*"), 2u); // one call each
  EXPECT_EQ(scalar("SELECT count(*) FROM email_account_failures WHERE "
                   "failure_class = 'rate_limited'"),
            2);
}

// -- newsletters in new mail --------------------------------------------------

TEST_F(process_providers,
       fetch_emails_jobs_read_the_new_newsletters_of_gmail_and_outlook) {
  write_config("max_retry_wait = \"1s\"");
  gmail_.oauth.grant("rt-news-g", "news@gmail.test");
  graph_.oauth.grant("rt-news-o", "news@outlook.test");
  auto g = add_account("news@gmail.test", "gmail", "rt-news-g");
  auto o = add_account("news@outlook.test", "outlook", "rt-news-o");
  // Mail from before the first scan is not read: that scan sets the cursor.
  gmail_.add("news@gmail.test", "mp-old", {"INBOX"}, true);
  graph_.add("news@outlook.test", "mp-old", "inbox", true);
  std::ofstream{dir_ + "/mailpipe.toml", std::ios::app}
      << "[jobs]\nworkers = 1\npoll_interval = \"1h\"\n"
         "[http]\nlisten = \"\"\n";
  test::child_process node{
      {test::mailpipe_binary(), "--config", dir_ + "/mailpipe.toml", "run"},
      {"MAILPIPE_DATABASE_URL=" + db_.url(), "MAILPIPE_SECRET_KEY=" + key_b64},
      "e2e-rest-news"};
  // Runs a fetch_emails job of `account`; the newsletters it added.
  auto fetch = [&](const std::string& id, int64_t account) -> int64_t {
    auto job =
        mailpipe({"jobs", "enqueue", "fetch_emails", "--id", id, "--payload",
                  fmt::format(R"({{"account_id":{}}})", account)});
    EXPECT_EQ(job.status, 0) << job.err;
    EXPECT_TRUE(test::eventually(
        db_.url(),
        fmt::format("SELECT state = 'succeeded' FROM jobs WHERE id = '{}'", id),
        20s))
        << node.output();
    return scalar(fmt::format(
        "SELECT coalesce((result->>'newsletters')::int, -1) FROM jobs "
        "WHERE id = '{}'",
        id));
  };
  // The Gmail account's cursor: the history id its next scan starts after.
  auto gmail_cursor = [&] {
    return scalar(fmt::format("SELECT (sync_state->'newsletters'->>"
                              "'history_id')::int FROM email_accounts "
                              "WHERE id = {}",
                              g));
  };
  EXPECT_EQ(fetch("g-1", g), 0);
  EXPECT_EQ(fetch("o-1", o), 0);
  EXPECT_EQ(gmail_cursor(), 101);
  EXPECT_EQ(scalar(fmt::format("SELECT count(*) FROM email_accounts WHERE id "
                               "= {} AND sync_state->'newsletters'->>"
                               "'delta_link' LIKE '%$deltatoken=1'",
                               o)),
            1);
  // Outlook's first round asked for new messages only.
  auto rounds =
      graph_.stub.requests(graph_me + "/mailFolders/inbox/messages/delta");
  ASSERT_EQ(rounds.size(), 1u);
  EXPECT_EQ(rounds[0].param("changeType"), "created");
  // New mail: a newsletter in each inbox, one in Gmail's spam, one Gmail
  // cannot give whole, and ordinary messages; only the two inbox newsletters
  // are read.
  {
    std::lock_guard<std::mutex> guard{gmail_.mtx};
    gmail_.add("news@gmail.test", "mp-new", {"INBOX", "CATEGORY_PROMOTIONS"},
               true);
    gmail_.add("news@gmail.test", "mp-spam", {"SPAM"}, true);
    gmail_.add("news@gmail.test", "mp-plain", {"INBOX"});
    gmail_.add("news@gmail.test", "mp-broken", {"INBOX"}, true);
    gmail_.messages.back().unreadable = true;
  }
  {
    std::lock_guard<std::mutex> guard{graph_.mtx};
    graph_.add("news@outlook.test", "mp-new", "inbox", true);
    graph_.add("news@outlook.test", "mp-plain", "inbox");
  }
  EXPECT_EQ(fetch("g-2", g), 1);
  // Gmail: labels and list headers first, the whole message only for the
  // inbox's newsletters (the broken one skipped, not a scan stuck on it).
  size_t raw_reads = 0, header_reads = 0;
  for (auto& r : gmail_.stub.requests(gmail_prefix + "messages/[^/]+")) {
    raw_reads += r.param("format") == "raw";
    header_reads += r.param("metadataHeaders") == "List-Unsubscribe";
  }
  EXPECT_EQ(raw_reads, 2u);
  EXPECT_EQ(header_reads, 4u);
  EXPECT_NE(node.output().find("Gmail message 18c5 skipped"), std::string::npos)
      << node.output();
  EXPECT_EQ(fetch("o-2", o), 1);
  EXPECT_EQ(scalar(fmt::format(
                "SELECT count(*) FROM newsletters WHERE email_account_id = {} "
                "AND subject = 'Weekly news mp-new' AND body_text LIKE "
                "'%This week at the sender.%'",
                g)),
            1);
  EXPECT_EQ(scalar(fmt::format(
                "SELECT count(*) FROM newsletters WHERE email_account_id = {} "
                "AND subject = 'Weekly news mp-new'",
                o)),
            1);
  EXPECT_EQ(scalar("SELECT count(*) FROM newsletters"), 2);
  EXPECT_EQ(scalar("SELECT count(*) FROM jobs WHERE queue = 'process_mails'"),
            2);
  // Only the new list message of Outlook was read whole.
  EXPECT_EQ(graph_.stub.count(graph_me + "/messages/.*/\\$value"), 1u);
  // Nothing new: nothing read.
  EXPECT_EQ(fetch("g-3", g), 0);
  EXPECT_EQ(fetch("o-3", o), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM newsletters"), 2);
  // Gmail's rate limit: the job snoozes for its Retry-After (no attempt
  // spent) and then reads the new newsletter.
  {
    std::lock_guard<std::mutex> guard{gmail_.mtx};
    gmail_.history_rate_limits = 1;
    gmail_.add("news@gmail.test", "mp-late", {"INBOX"}, true);
  }
  auto history_calls = gmail_.stub.count(gmail_prefix + "history");
  EXPECT_EQ(fetch("g-4", g), 1);
  EXPECT_EQ(scalar("SELECT attempts FROM jobs WHERE id = 'g-4'"), 1);
  EXPECT_EQ(gmail_.stub.count(gmail_prefix + "history"), history_calls + 2);
  // A Retry-After longer than gmail.max_retry_wait (1 s in this test): the
  // session does not wait for it, and the job snoozes for it all the same.
  {
    std::lock_guard<std::mutex> guard{gmail_.mtx};
    gmail_.history_rate_limits = 1;
    gmail_.history_retry_after = "2";
    gmail_.add("news@gmail.test", "mp-later", {"INBOX"}, true);
  }
  EXPECT_EQ(fetch("g-4b", g), 1);
  EXPECT_EQ(scalar("SELECT attempts FROM jobs WHERE id = 'g-4b'"), 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM jobs WHERE id = 'g-4b' AND "
                   "last_error IS NULL"),
            1);
  {
    std::lock_guard<std::mutex> guard{gmail_.mtx};
    gmail_.history_retry_after = "1";
  }
  // A history Gmail no longer has, and a delta link Graph refuses: the scan
  // starts the cursor again and reads nothing (not the whole mailbox).
  {
    std::lock_guard<std::mutex> guard{gmail_.mtx};
    gmail_.oldest_history = 1000;
    gmail_.add("news@gmail.test", "mp-lost", {"INBOX"}, true);
  }
  EXPECT_EQ(fetch("g-5", g), 0);
  EXPECT_EQ(gmail_cursor(), 100 + static_cast<int64_t>(gmail_.messages.size()));
  {
    std::lock_guard<std::mutex> guard{graph_.mtx};
    graph_.refused_token = std::to_string(graph_.messages.size());
    graph_.add("news@outlook.test", "mp-lost", "inbox", true);
  }
  EXPECT_EQ(fetch("o-4", o), 0);
  EXPECT_EQ(scalar(fmt::format("SELECT count(*) FROM email_accounts WHERE id "
                               "= {} AND sync_state->'newsletters'->>"
                               "'delta_link' LIKE '%$deltatoken={}'",
                               o, graph_.messages.size())),
            1);
  EXPECT_EQ(graph_.stub.count(graph_me + "/messages/.*/\\$value"), 1u);
  EXPECT_EQ(scalar("SELECT count(*) FROM newsletters"), 4);
  // A long history read page by page, rate-limited before its second page:
  // the job snoozes, and its next try goes on after the first page, which it
  // does not read again.
  std::string first_id;
  size_t first_record = 0;
  {
    std::lock_guard<std::mutex> guard{gmail_.mtx};
    gmail_.oldest_history = 100;
    gmail_.history_page_size = 1;
    gmail_.next_page_rate_limits = 1;
    gmail_.add("news@gmail.test", "mp-page1", {"INBOX"}, true);
    first_id = gmail_.messages.back().id;
    first_record = 100 + gmail_.messages.size();
    gmail_.add("news@gmail.test", "mp-page2", {"INBOX"}, true);
  }
  EXPECT_EQ(fetch("g-6", g), 1); // the try after the snooze added page 2
  EXPECT_EQ(scalar("SELECT attempts FROM jobs WHERE id = 'g-6'"), 1);
  EXPECT_EQ(gmail_.stub.count(gmail_prefix + "messages/" + first_id), 2u)
      << "page 1 read once (its labels, then whole)";
  auto calls = gmail_.stub.requests(gmail_prefix + "history");
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls.back().param("startHistoryId"), std::to_string(first_record));
  EXPECT_EQ(scalar(fmt::format("SELECT count(*) FROM newsletters WHERE "
                               "email_account_id = {} AND subject LIKE "
                               "'%mp-page_'",
                               g)),
            2);
  EXPECT_EQ(gmail_cursor(), 100 + static_cast<int64_t>(gmail_.messages.size()));
  node.signal(SIGTERM);
  EXPECT_EQ(node.wait_exit(15s), 0) << node.output();
}
