// The one test-id rule, seen from every provider: the same messages go into a
// Dovecot mailbox (IMAP), a Gmail stand-in and a Graph stand-in, and the three
// adapters must find the same test ids.

#include <algorithm>
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "adapters/imap/client.hpp"
#include "adapters/providers/gmail.hpp"
#include "adapters/providers/graph.hpp"
#include "tests/support/dovecot.hpp"
#include "tests/support/env.hpp"
#include "tests/support/fake_clock.hpp"
#include "tests/support/http_stub.hpp"

using namespace mailpipe;
using namespace std::chrono_literals;
using test::http_stub;
using test::stub_reply;
using test::stub_request;

namespace {

// -- the messages -------------------------------------------------------------

/// One message as a sender wrote it.
struct message {
  std::string id; // the provider's message id
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  /// RFC 5322 text, for Dovecot.
  std::string rfc5322() const {
    std::string out;
    for (auto& [name, value] : headers)
      out += fmt::format("{}: {}\r\n", name, value);
    return out + "\r\n" + body;
  }

  /// Everything a search engine could match.
  std::string searchable() const { return rfc5322(); }

  /// `[{"name", "value"}, ...]`, as Gmail and Graph hand headers over.
  std::string headers_json() const {
    std::string out;
    for (auto& [name, value] : headers)
      out += fmt::format(R"({}{{"name": {}, "value": {}}})",
                         out.empty() ? "" : ", ", test::json_quote(name),
                         test::json_quote(value));
    return "[" + out + "]";
  }
};

/// The pending ids and the messages that do or do not carry them.
struct corpus {
  std::string in_header = "mp-" + test::random_hex(16);
  std::string in_subject = "mp-" + test::random_hex(16);
  std::string in_both = "mp-" + test::random_hex(16);
  std::string in_neither = "mp-" + test::random_hex(16);
  std::string near_miss = "mp-" + test::random_hex(16);
  std::string cased_header = "mp-" + test::random_hex(16);
  std::vector<message> messages;

  corpus() {
    auto add = [this](std::vector<std::pair<std::string, std::string>> extra,
                      std::string subject, std::string body) {
      message m;
      m.id = fmt::format("m{}", messages.size() + 1);
      m.headers = {{"From", "Sender <news@sender.example>"},
                   {"To", "seed@mailpipe.test"},
                   {"Message-ID",
                    fmt::format("<{}@sender.example>", test::random_hex(16))},
                   {"Subject", std::move(subject)}};
      m.headers.insert(m.headers.end(), extra.begin(), extra.end());
      m.body = std::move(body);
      messages.push_back(std::move(m));
    };
    add({{"X-Mailpipe-Test-Id", in_header}}, "Weekly deals", "Hello.\r\n");
    add({}, fmt::format("Your offer [{}]", in_subject), "Hello.\r\n");
    add({{"X-Test-ID", in_both}}, fmt::format("Re: {} inside", in_both),
        "Hello.\r\n");
    // The id only in the body: a search engine finds it, the rule does not.
    add({}, "Nothing here", fmt::format("ref {}\r\n", in_neither));
    // Longer tokens that start with the pending id, in a header and the
    // subject: substring searches match, the rule does not.
    add({{"X-Mailpipe-Test-Id", near_miss + "0"}},
        fmt::format("Hello {}9", near_miss), "Hello.\r\n");
    add({{"x-MAILPIPE-test-ID", cased_header}}, "Cased header", "Hello.\r\n");
  }

  std::vector<std::string> pending() const {
    return {in_header,  in_subject, in_both,
            in_neither, near_miss,  cased_header};
  }

  /// What the rule says (docs/analysis.md, "Test ids"), sorted.
  std::vector<std::string> expected() const {
    std::vector<std::string> ids{in_header, in_subject, in_both, cased_header};
    std::sort(ids.begin(), ids.end());
    return ids;
  }

  /// The messages a loose search for `term` returns (any substring).
  std::vector<const message*>
  search(const std::vector<std::string>& terms) const {
    std::vector<const message*> hits;
    for (auto& m : messages)
      for (auto& t : terms)
        if (m.searchable().find(t) != std::string::npos) {
          hits.push_back(&m);
          break;
        }
    return hits;
  }

  const message* by_id(std::string_view id) const {
    for (auto& m : messages)
      if (m.id == id)
        return &m;
    return nullptr;
  }
};

/// The test ids of what a provider found, sorted.
std::vector<std::string> ids_of(const std::vector<found_message>& found) {
  std::vector<std::string> ids;
  for (auto& f : found)
    ids.push_back(f.test_id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

/// The terms of a Gmail query: every quoted phrase.
std::vector<std::string> quoted_terms(std::string_view q) {
  std::vector<std::string> out;
  for (auto open = q.find('"'); open != std::string_view::npos;) {
    auto close = q.find('"', open + 1);
    if (close == std::string_view::npos)
      break;
    out.emplace_back(q.substr(open + 1, close - open - 1));
    open = q.find('"', close + 1);
  }
  return out;
}

// -- the three paths ----------------------------------------------------------

caf::expected<std::vector<found_message>> through_imap(const corpus& c) {
  test::dovecot dovecot;
  EXPECT_TRUE(dovecot.ok());
  auto users = dovecot.add_users(1);
  EXPECT_EQ(users.size(), 1u);
  if (!dovecot.ok() || users.empty())
    return caf::make_error(ec::invalid_config, "no Dovecot");
  for (auto& m : c.messages)
    EXPECT_TRUE(dovecot.deliver(users[0], "INBOX", m.rfc5322()));
  imap::settings cfg;
  cfg.allow_plaintext = true;
  cfg.connect_timeout = 5s;
  cfg.command_timeout = 10s;
  imap::endpoint ep{test::env("MAILPIPE_TEST_IMAP_HOST"), dovecot.port(),
                    imap::security::plain, "", ""};
  imap::credentials cred{users[0].email, users[0].password,
                         imap::credentials::method::automatic};
  return imap::find_test_messages(ep, cred, c.pending(), {}, cfg);
}

/// An authorized API session against `stub` (its `/token` endpoint).
struct api_fixture {
  explicit api_fixture(http_stub& stub, std::string base)
      : auth{stub}, tokens{{stub.url() + "/token", "cid", "cs", "", 2s}, "rt"},
        session{{std::move(base), "seed@mailpipe.test", 2s, {3, 10s, 1s}},
                client,
                tokens,
                &limiter,
                fc.clock()} {}

  test::bearer_api auth;
  test::fake_clock fc;
  http::client client;
  oauth2::token_cache tokens;
  per_user_limiter limiter{250, 250};
  api_session session;
};

caf::expected<std::vector<found_message>> through_gmail(const corpus& c) {
  http_stub stub;
  api_fixture api{stub, stub.url()};
  const std::string prefix = "/gmail/v1/users/me/";
  stub.on("GET", prefix + "messages", [&](const stub_request& r) {
    std::string items;
    for (auto* m : c.search(quoted_terms(r.param("q"))))
      items += fmt::format(R"({}{{"id": "{}", "threadId": "t{}"}})",
                           items.empty() ? "" : ", ", m->id, m->id);
    if (items.empty())
      return stub_reply::json(200, R"({"resultSizeEstimate": 0})");
    return stub_reply::json(200, fmt::format(R"({{"messages": [{}]}})", items));
  });
  stub.on("GET", prefix + "messages/[^/]+", [&](const stub_request& r) {
    auto* m = c.by_id(r.path.substr(r.path.rfind('/') + 1));
    if (!m)
      return stub_reply::api_error(404, "notFound",
                                   "Requested entity was not found.");
    return stub_reply::json(
        200,
        fmt::format(
            R"({{"id": "{}", "threadId": "t{}", "labelIds": ["INBOX"],)"
            R"( "historyId": "150", "payload": {{"mimeType": "text/plain",)"
            R"( "headers": {}}}}})",
            m->id, m->id, m->headers_json()));
  });
  return gmail::mailbox{gmail::options{}, api.session}.find(c.pending());
}

caf::expected<std::vector<found_message>> through_graph(const corpus& c) {
  http_stub stub;
  api_fixture api{stub, stub.url() + "/v1.0"};
  stub.on("GET", "/v1.0/me/messages", [&](const stub_request& r) {
    auto term = r.param("$search");
    term = term.substr(1, term.size() - 2); // "..." as a phrase
    std::string value;
    for (auto* m : c.search({term}))
      value += fmt::format(
          R"({}{{"id": "{}", "subject": "", "parentFolderId": "AAMkInbox==",)"
          R"( "inferenceClassification": "focused",)"
          R"( "internetMessageHeaders": {}}})",
          value.empty() ? "" : ", ", m->id, m->headers_json());
    return stub_reply::json(200, fmt::format(R"({{"value": [{}]}})", value));
  });
  stub.on("GET", "/v1.0/me/mailFolders/inbox", [](const stub_request&) {
    return stub_reply::json(200,
                            R"({"id": "AAMkInbox==", "displayName": "Inbox"})");
  });
  return graph::mailbox{graph::options{}, api.session}.find(c.pending());
}

} // namespace

TEST(test_id_agreement, imap_gmail_and_graph_find_the_same_ids) {
  corpus c;
  auto imap = through_imap(c);
  ASSERT_TRUE(imap) << render(imap.error());
  auto gmail = through_gmail(c);
  ASSERT_TRUE(gmail) << render(gmail.error());
  auto graph = through_graph(c);
  ASSERT_TRUE(graph) << render(graph.error());
  EXPECT_EQ(ids_of(*imap), c.expected());
  EXPECT_EQ(ids_of(*gmail), ids_of(*imap));
  EXPECT_EQ(ids_of(*graph), ids_of(*imap));
}

TEST(test_id_agreement, the_stand_ins_return_what_the_rule_drops) {
  // The agreement above means something only if the searches were loose:
  // the body-only and near-miss messages must reach the adapters.
  corpus c;
  EXPECT_EQ(c.search({c.in_neither}).size(), 1u);
  EXPECT_EQ(c.search({c.near_miss}).size(), 1u);
}
