#include "adapters/providers/graph.hpp"

#include <map>
#include <mutex>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/support/fake_clock.hpp"
#include "tests/support/http_stub.hpp"

using namespace mailpipe;
using namespace std::chrono_literals;
using test::http_stub;
using test::stub_reply;
using test::stub_request;

namespace {

// -- a stand-in for Microsoft Graph, answering in its documented JSON ---------

// Graph's error body: {"error": {"code", "message", "innerError": {...}}}.
stub_reply graph_error(int status, std::string code, std::string message) {
  return stub_reply::json(
      status,
      fmt::format(
          R"({{"error": {{"code": {}, "message": {}, "innerError": {{"date": "2026-11-22T03:00:00",)"
          R"( "request-id": "5c1c7a2e-0000-0000-0000-000000000000",)"
          R"( "client-request-id": "5c1c7a2e-0000-0000-0000-000000000000"}}}}}})",
          test::json_quote(code), test::json_quote(message)));
}

struct fake_graph_message {
  std::string id;
  std::string folder_id;
  std::string inference; // focused / other
  std::string subject;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

const std::string me = "/v1.0/me";

struct fake_graph {
  http_stub stub;
  test::bearer_api auth{stub};
  std::mutex mtx;
  std::vector<fake_graph_message> messages;
  // Well-known name -> (id, localized display name); "archive" missing in this
  // mailbox.
  std::map<std::string, std::pair<std::string, std::string>> well_known = {
      {"inbox", {"AAMkInbox==", "Inbox"}},
      {"junkemail", {"AAMkJunk==", "Junk Email"}},
      {"deleteditems", {"AAMkDeleted==", "Deleted Items"}},
  };
  std::map<std::string, std::string> other_folders = {
      {"AAMkNews==", "Newsletters"}};
  std::string valid_delta_token = "d1";

  fake_graph() {
    stub.on("GET", me + "/messages", [this](const stub_request& r) {
      return guarded(r, [&] { return search(r); });
    });
    stub.on("GET", me + "/mailFolders/[^/]+", [this](const stub_request& r) {
      return guarded(
          r, [&] { return folder(r.path.substr(r.path.rfind('/') + 1)); });
    });
    stub.on("GET", me + "/mailFolders/[^/]+/messages/delta",
            [this](const stub_request& r) {
              return guarded(r, [&] { return delta(r); });
            });
    stub.on("GET", me + "/messages/[^/]+/\\$value",
            [this](const stub_request& r) {
              return guarded(r, [&] { return mime(r); });
            });
  }

  // GET messages/{id}/$value: the message's MIME content as text/plain.
  stub_reply mime(const stub_request& r) {
    auto id = r.path.substr(me.size() + 10);
    id = id.substr(0, id.find('/'));
    for (auto& m : messages) {
      if (m.id != id)
        continue;
      stub_reply out;
      for (auto& [k, v] : m.headers)
        out.body += k + ": " + v + "\r\n";
      out.body += "\r\n" + m.body;
      out.content_type = "text/plain";
      return out;
    }
    return graph_error(404, "ErrorItemNotFound",
                       "The specified object was not found in the store.");
  }

  template <class F>
  stub_reply guarded(const stub_request& r, F f) {
    std::lock_guard<std::mutex> guard{mtx};
    if (!auth.authorized(r))
      return graph_error(401, "InvalidAuthenticationToken",
                         "Access token has expired or is not yet valid.");
    return f();
  }

  std::string message_json(const fake_graph_message& m) {
    std::string headers;
    for (auto& [k, v] : m.headers)
      headers += fmt::format(R"({}{{"name": {}, "value": {}}})",
                             headers.empty() ? "" : ", ", test::json_quote(k),
                             test::json_quote(v));
    return fmt::format(
        R"({{"@odata.etag": "W/\"CQAAABYAAAA\"", "id": {}, "subject": {},)"
        R"( "parentFolderId": {}, "inferenceClassification": "{}",)"
        R"( "internetMessageHeaders": [{}]}})",
        test::json_quote(m.id), test::json_quote(m.subject),
        test::json_quote(m.folder_id), m.inference, headers);
  }

  // A page of `items` from `skip`, with an @odata.nextLink to the rest.
  std::string page(const std::vector<const fake_graph_message*>& items,
                   size_t skip, size_t top, const std::string& next_base,
                   std::string tail) {
    std::string value;
    for (size_t i = skip; i < std::min(items.size(), skip + top); ++i)
      value += (value.empty() ? "" : ", ") + message_json(*items[i]);
    std::string link;
    if (skip + top < items.size())
      link =
          fmt::format(R"(, "@odata.nextLink": "{}{}")", next_base, skip + top);
    else
      link = tail;
    return fmt::format(
        R"({{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users('me')/messages",)"
        R"( "value": [{}]{}}})",
        value, link);
  }

  stub_reply search(const stub_request& r) {
    auto term = r.param("$search");
    if (term.size() < 2 || term.front() != '"' || term.back() != '"')
      return graph_error(400, "BadRequest", "Syntax error in $search");
    term = term.substr(1, term.size() - 2);
    if (r.param("$select").find("internetMessageHeaders") == std::string::npos)
      return graph_error(400, "BadRequest",
                         "test expects internetMessageHeaders selected");
    std::vector<const fake_graph_message*> hits;
    for (auto& m : messages)
      if ((m.subject + " " + m.body).find(term) != std::string::npos)
        hits.push_back(&m);
    size_t top = std::stoul(r.param("$top"));
    size_t skip = r.param("$skip").empty() ? 0 : std::stoul(r.param("$skip"));
    auto next = fmt::format(
        "{}{}/messages?$search=%22{}%22&$select={}&$top={}&$skip=", stub.url(),
        me, term, r.param("$select"), top);
    return stub_reply::json(200, page(hits, skip, top, next, ""));
  }

  stub_reply folder(const std::string& key) {
    for (auto& [name, f] : well_known)
      if (key == name || key == f.first)
        return stub_reply::json(
            200,
            fmt::format(
                R"({{"id": {}, "displayName": {}, "parentFolderId": "AAMkRoot==",)"
                R"( "childFolderCount": 0, "unreadItemCount": 1, "totalItemCount": 2,)"
                R"( "isHidden": false}})",
                test::json_quote(f.first), test::json_quote(f.second)));
    if (auto i = other_folders.find(key); i != other_folders.end())
      return stub_reply::json(200,
                              fmt::format(R"({{"id": {}, "displayName": {}}})",
                                          test::json_quote(i->first),
                                          test::json_quote(i->second)));
    return graph_error(404, "ErrorItemNotFound",
                       "The specified object was not found in the store.");
  }

  stub_reply delta(const stub_request& r) {
    auto folder_key = r.path.substr(me.size() + 13);
    folder_key = folder_key.substr(0, folder_key.find('/'));
    std::string folder_id = folder_key;
    if (auto i = well_known.find(folder_key); i != well_known.end())
      folder_id = i->second.first;
    auto token = r.param("$deltatoken");
    if (!token.empty() && token != valid_delta_token)
      return graph_error(410, "SyncStateNotFound",
                         "The sync state generation is not found.");
    std::vector<const fake_graph_message*> items;
    for (auto& m : messages)
      if (m.folder_id == folder_id
          && (token.empty() || m.id.starts_with("new")))
        items.push_back(&m);
    auto pref = r.header("Prefer");
    size_t top = pref.starts_with("odata.maxpagesize=")
                     ? std::stoul(pref.substr(18))
                     : 10;
    size_t skip =
        r.param("$skiptoken").empty() ? 0 : std::stoul(r.param("$skiptoken"));
    auto base = fmt::format("{}{}/mailFolders/{}/messages/delta?", stub.url(),
                            me, folder_key);
    auto body = page(items, skip, top, base + "$skiptoken=",
                     fmt::format(R"(, "@odata.deltaLink": "{}$deltatoken={}")",
                                 base, valid_delta_token));
    if (!token.empty()) // a removal since the last round
      body.insert(body.find("\"value\": [") + 10,
                  R"({"id": "gone-1", "@removed": {"reason": "deleted"}}, )");
    return stub_reply::json(200, body);
  }

  void add(std::string id, std::string folder_id, std::string inference,
           std::string subject, std::string test_id_header, std::string body) {
    fake_graph_message m{std::move(id),
                         std::move(folder_id),
                         std::move(inference),
                         std::move(subject),
                         {},
                         std::move(body)};
    m.headers = {
        {"Received",
         "from EUR05.prod.outlook.com (2603:10a6::1) by AM0PR.outlook.com"},
        {"Authentication-Results", "spf=pass (sender IP is 192.0.2.1) "
                                   "smtp.mailfrom=sender.example; dkim=pass"},
        {"X-Forefront-Antispam-Report", "CIP:192.0.2.1;CTRY:;LANG:en;SCL:1;"},
        {"Subject", m.subject}};
    if (!test_id_header.empty())
      m.headers.emplace_back("X-Mailpipe-Test-Id", test_id_header);
    messages.push_back(std::move(m));
  }

  void seed() {
    add("g1", "AAMkInbox==", "focused", "Hello mp-aaaaaaaa01", "mp-aaaaaaaa01",
        "");
    add("g2", "AAMkJunk==", "other", "Win big", "mp-bbbbbbbb02",
        "mp-bbbbbbbb02 in body");
    add("g3", "AAMkNews==", "other", "Digest mp-cccccccc03", "", "");
    add("g4", "AAMkInbox==", "focused", "Unrelated", "", "no id");
  }
};

struct fixture {
  fake_graph graph;
  test::fake_clock fc;
  http::client client;
  oauth2::token_cache tokens{{graph.stub.url() + "/token", "cid", "cs", "", 2s},
                             "rt"};
  per_user_limiter limiter{16, 16};
  api_session session{
      {graph.stub.url() + "/v1.0", "seed@contoso.com", 2s, {3, 10s, 1s}},
      client,
      tokens,
      &limiter,
      fc.clock()};
  graph::options opts;

  // A search tried until it is answered, as the fetcher tries it.
  caf::expected<std::vector<found_message>>
  find(api_session& s, const std::vector<std::string>& ids) {
    graph::mailbox mb{opts, s};
    return fc.drive([&] { return mb.find(ids); }, s);
  }
};

const found_message* by_id(const std::vector<found_message>& v,
                           std::string_view id) {
  for (auto& m : v)
    if (m.provider_id == id)
      return &m;
  return nullptr;
}

// The error a search ends with when /messages always answers `reply`.
caf::error search_error(fixture& f, stub_reply reply) {
  f.graph.stub.script("GET", me + "/messages", {std::move(reply)});
  auto found = f.find(f.session, {"mp-aaaaaaaa01"});
  EXPECT_FALSE(found);
  return found ? caf::error{} : found.error();
}

} // namespace

// -- parsers ------------------------------------------------------------------

TEST(graph_parse, documented_shapes) {
  auto page = graph::parse_message_page(
      R"({"@odata.context": "x", "value": [
         {"id": "a", "parentFolderId": "f", "inferenceClassification": "focused",
          "subject": "s", "internetMessageHeaders": [{"name": "X", "value": "1"}]},
         {"id": "b", "@removed": {"reason": "deleted"}}],
        "@odata.nextLink": "https://graph.microsoft.com/v1.0/me/messages?$skip=10"})");
  ASSERT_TRUE(page);
  ASSERT_EQ(page->messages.size(), 2u);
  EXPECT_EQ(page->messages[0].inference_classification, "focused");
  EXPECT_EQ(page->messages[0].headers.size(), 1u);
  EXPECT_FALSE(page->messages[0].removed);
  EXPECT_TRUE(page->messages[1].removed);
  EXPECT_NE(page->next_link.find("$skip=10"), std::string::npos);
  EXPECT_TRUE(page->delta_link.empty());
  for (auto bad :
       {"", "{}", R"({"value": {}})", R"({"value": [{"subject": "no id"}]})"}) {
    auto r = graph::parse_message_page(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_TRUE(is(r.error(), ec::parse_error));
  }
  auto folder =
      graph::parse_mail_folder(R"({"id": "AQ==", "displayName": "Inbox"})");
  ASSERT_TRUE(folder);
  EXPECT_EQ(folder->display_name, "Inbox");
  EXPECT_FALSE(graph::parse_mail_folder(R"({"displayName": "x"})"));
}

// -- find ---------------------------------------------------------------------

TEST(graph, finds_messages_and_resolves_folders) {
  fixture f;
  f.graph.seed();
  f.graph.add("g5", "AAMkInbox==", "focused", "Body only", "",
              "see mp-dddddddd04");
  graph::mailbox mb{f.opts, f.session};
  auto found = mb.find(
      {"mp-aaaaaaaa01", "mp-bbbbbbbb02", "mp-cccccccc03", "mp-dddddddd04"});
  ASSERT_TRUE(found) << render(found.error());
  // g5 carries mp-dddddddd04 only in its body: $search finds it, the test-id
  // rule (header or subject token) does not count it.
  ASSERT_EQ(found->size(), 3u);
  EXPECT_FALSE(by_id(*found, "g5"));
  auto* g1 = by_id(*found, "g1");
  auto* g2 = by_id(*found, "g2");
  auto* g3 = by_id(*found, "g3");
  ASSERT_TRUE(g1 && g2 && g3);
  EXPECT_EQ(g1->folder, "inbox");
  EXPECT_EQ(g1->test_id, "mp-aaaaaaaa01");
  EXPECT_EQ(g1->labels,
            (std::vector<std::string>{"inferenceClassification:focused"}));
  EXPECT_EQ(g2->folder, "junkemail");
  EXPECT_EQ(g2->labels,
            (std::vector<std::string>{"inferenceClassification:other"}));
  EXPECT_EQ(g3->folder, "Newsletters"); // not well-known: its display name
  EXPECT_EQ(g3->test_id, "mp-cccccccc03");
  EXPECT_EQ(
      g2->header_block,
      "Received: from EUR05.prod.outlook.com (2603:10a6::1) by "
      "AM0PR.outlook.com\r\n"
      "Authentication-Results: spf=pass (sender IP is 192.0.2.1) "
      "smtp.mailfrom=sender.example; dkim=pass\r\n"
      "X-Forefront-Antispam-Report: CIP:192.0.2.1;CTRY:;LANG:en;SCL:1;\r\n"
      "Subject: Win big\r\n"
      "X-Mailpipe-Test-Id: mp-bbbbbbbb02\r\n");
  auto searches = f.graph.stub.requests(me + "/messages");
  ASSERT_EQ(searches.size(), 4u);
  EXPECT_EQ(searches[0].param("$search"), "\"mp-aaaaaaaa01\"");
  EXPECT_EQ(searches[0].param("$select"),
            "id,parentFolderId,inferenceClassification,internetMessageHeaders,"
            "subject");
  // The folder map is built once: four well-known lookups (archive is 404) +
  // one by id.
  EXPECT_EQ(f.graph.stub.count(me + "/mailFolders/[^/]+"), 5u);
  ASSERT_TRUE(mb.find({"mp-bbbbbbbb02"}));
  EXPECT_EQ(f.graph.stub.count(me + "/mailFolders/[^/]+"), 5u);
}

TEST(graph, pages_through_search_results) {
  fixture f;
  for (int i = 0; i < 7; ++i)
    f.graph.add("p" + std::to_string(i), "AAMkInbox==", "focused",
                "mp-pppppppp00 #" + std::to_string(i), "mp-pppppppp00", "");
  f.opts.page_size = 3;
  graph::mailbox mb{f.opts, f.session};
  auto found = mb.find({"mp-pppppppp00"});
  ASSERT_TRUE(found) << render(found.error());
  EXPECT_EQ(found->size(), 7u);
  auto searches = f.graph.stub.requests(me + "/messages");
  ASSERT_EQ(searches.size(), 3u);
  EXPECT_EQ(searches[1].param("$skip"), "3");
  EXPECT_EQ(searches[2].param("$skip"), "6");
}

// -- errors -------------------------------------------------------------------

TEST(graph, expired_token_is_refreshed_then_auth_failed_when_refused_again) {
  fixture f;
  f.graph.seed();
  graph::mailbox mb{f.opts, f.session};
  ASSERT_TRUE(mb.find({"mp-aaaaaaaa01"}));
  f.graph.auth.accept("at-2");
  auto again = mb.find({"mp-aaaaaaaa01"});
  ASSERT_TRUE(again) << render(again.error());
  EXPECT_EQ(f.tokens.refreshes(), 2u);
  f.graph.auth.accept("revoked");
  auto refused = mb.find({"mp-aaaaaaaa01"});
  ASSERT_FALSE(refused);
  EXPECT_TRUE(is(refused.error(), ec::auth_failed));
  EXPECT_NE(render(refused.error()).find("InvalidAuthenticationToken"),
            std::string::npos);
}

TEST(graph, throttling_429_obeys_retry_after) {
  fixture f;
  f.graph.seed();
  f.graph.stub.script(
      "GET", me + "/messages",
      {graph_error(429, "ApplicationThrottled",
                   "Application is over its MailboxConcurrency limit.")
           .with_header("Retry-After", "1"),
       stub_reply::json(200, R"({"value": []})")});
  auto found = f.find(f.session, {"mp-aaaaaaaa01"});
  ASSERT_TRUE(found) << render(found.error());
  EXPECT_EQ(*f.fc.waits, (std::vector<duration>{1s}));
}

TEST(graph, persistent_throttling_is_rate_limited_with_the_delay) {
  fixture f;
  auto err =
      search_error(f, graph_error(429, "TooManyRequests", "Too many requests")
                          .with_header("Retry-After", "120"));
  EXPECT_TRUE(is(err, ec::rate_limited));
  EXPECT_EQ(http::retry_after(err), duration{120s});
  // 120 s exceeds max_retry_wait: reported, not waited for.
  EXPECT_TRUE(f.fc.waits->empty());
}

TEST(graph, server_errors_and_garbage_are_classified) {
  fixture f;
  auto down = search_error(
      f, graph_error(503, "ServiceNotAvailable", "Service Unavailable"));
  EXPECT_TRUE(is(down, ec::service_unavailable));
  EXPECT_EQ(f.graph.stub.count(me + "/messages"), 3u);
  auto garbage =
      search_error(f, stub_reply::json(200, R"({"value": [{"id": )"));
  EXPECT_TRUE(is(garbage, ec::parse_error));
}

TEST(graph, next_link_to_another_host_is_refused) {
  fixture f;
  auto err = search_error(
      f, stub_reply::json(
             200,
             R"({"value": [], "@odata.nextLink": "https://evil.example/x"})"));
  EXPECT_TRUE(is(err, ec::protocol_error)) << render(err);
}

// -- delta --------------------------------------------------------------------

TEST(graph, delta_rounds_follow_next_links_and_keep_the_delta_link) {
  fixture f;
  f.graph.seed();
  for (int i = 0; i < 4; ++i)
    f.graph.add("j" + std::to_string(i), "AAMkJunk==", "other", "s", "", "");
  f.opts.page_size = 2;
  graph::mailbox mb{f.opts, f.session};
  auto first = mb.delta("junkemail");
  ASSERT_TRUE(first) << render(first.error());
  EXPECT_FALSE(first->resync_needed);
  EXPECT_EQ(first->changed.size(), 5u); // g2 + j0..j3
  EXPECT_NE(first->delta_link.find("$deltatoken=d1"), std::string::npos);
  auto reqs =
      f.graph.stub.requests(me + "/mailFolders/junkemail/messages/delta");
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].header("Prefer"), "odata.maxpagesize=2");
  EXPECT_NE(reqs[0].param("$select").find("internetMessageHeaders"),
            std::string::npos);

  f.graph.add("new-1", "AAMkJunk==", "other", "mp-eeeeeeee05", "mp-eeeeeeee05",
              "");
  auto next = mb.delta("junkemail", first->delta_link);
  ASSERT_TRUE(next) << render(next.error());
  ASSERT_EQ(next->changed.size(), 1u);
  EXPECT_EQ(next->changed[0].id, "new-1");
  EXPECT_EQ(next->removed, (std::vector<std::string>{"gone-1"}));
  auto found = mb.to_found(next->changed[0], "mp-eeeeeeee05");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->folder, "junkemail");
}

TEST(graph, mime_is_the_whole_message) {
  fixture f;
  f.graph.seed();
  graph::mailbox mb{f.opts, f.session};
  auto mime = mb.mime("g2");
  ASSERT_TRUE(mime) << render(mime.error());
  EXPECT_TRUE(mime->starts_with("Received: from EUR05")) << *mime;
  EXPECT_NE(mime->find("\r\nSubject: Win big\r\n"), std::string::npos);
  EXPECT_TRUE(mime->ends_with("\r\n\r\nmp-bbbbbbbb02 in body")) << *mime;
  // MIME text, not JSON, is what it accepts (one Accept header).
  auto reqs = f.graph.stub.requests(me + "/messages/g2/\\$value");
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].headers.count("Accept"), 1u);
  EXPECT_EQ(reqs[0].header("Accept"), "*/*");
  auto gone = mb.mime("gone-1");
  ASSERT_FALSE(gone);
  EXPECT_TRUE(is(gone.error(), ec::not_found)) << render(gone.error());
}

TEST(graph, expired_delta_link_asks_for_a_resync) {
  fixture f;
  f.graph.seed();
  graph::mailbox mb{f.opts, f.session};
  auto first = mb.delta("inbox");
  ASSERT_TRUE(first) << render(first.error());
  f.graph.valid_delta_token = "d2"; // the server dropped d1
  auto stale = mb.delta("inbox", first->delta_link);
  ASSERT_TRUE(stale) << render(stale.error());
  EXPECT_TRUE(stale->resync_needed);
  EXPECT_TRUE(stale->changed.empty());
  auto fresh = mb.delta("inbox");
  ASSERT_TRUE(fresh);
  EXPECT_EQ(fresh->changed.size(), 2u);
  EXPECT_NE(fresh->delta_link.find("$deltatoken=d2"), std::string::npos);
}

TEST(graph, users_path_for_application_tokens) {
  fixture f;
  f.graph.stub.on("GET", "/v1.0/users/seed@contoso.com/messages",
                  [](const stub_request&) {
                    return stub_reply::json(200, R"({"value": []})");
                  });
  f.opts.user = "seed@contoso.com";
  graph::mailbox mb{f.opts, f.session};
  auto found = mb.find({"mp-aaaaaaaa01"});
  ASSERT_TRUE(found) << render(found.error());
  EXPECT_TRUE(found->empty());
}

TEST(graph, slow_server_is_a_timeout) {
  fixture f;
  f.graph.stub.script("GET", me + "/messages",
                      {stub_reply::json(200, R"({"value": []})").after(700ms)});
  api_session s{
      {f.graph.stub.url() + "/v1.0", "seed@contoso.com", 200ms, {1, 10s, 1s}},
      f.client,
      f.tokens,
      &f.limiter,
      f.fc.clock()};
  auto found = f.find(s, {"mp-aaaaaaaa01"});
  ASSERT_FALSE(found);
  EXPECT_TRUE(is(found.error(), ec::timeout)) << render(found.error());
  EXPECT_EQ(classify(found.error()), failure_class::timeout);
}

TEST(graph, delta_round_without_delta_link_is_a_protocol_error) {
  fixture f;
  f.graph.stub.script("GET", me + "/mailFolders/inbox/messages/delta",
                      {stub_reply::json(200, R"({"value": []})")});
  graph::mailbox mb{f.opts, f.session};
  auto d = mb.delta("inbox");
  ASSERT_FALSE(d);
  EXPECT_TRUE(is(d.error(), ec::protocol_error));
}
