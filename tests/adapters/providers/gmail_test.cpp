#include "adapters/providers/gmail.hpp"

#include <map>
#include <mutex>
#include <regex>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "adapters/sys/crypto.hpp"
#include "tests/support/fake_clock.hpp"
#include "tests/support/http_stub.hpp"

using namespace mailpipe;
using namespace std::chrono_literals;
using test::http_stub;
using test::stub_reply;
using test::stub_request;

namespace {

// -- a stand-in for the Gmail API, answering in its documented JSON -----------

struct fake_message {
  std::string id;
  std::vector<std::string> labels;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body; // searched, never returned by format=metadata
  uint64_t history_id = 0;
};

// Google's error body (https://cloud.google.com/apis/design/errors, v1 shape as
// Gmail sends it).
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

const std::string prefix = "/gmail/v1/users/me/";

struct fake_gmail {
  http_stub stub;
  test::bearer_api auth{stub};
  std::mutex mtx;
  std::vector<fake_message> messages;
  uint64_t oldest_history = 100; // history before this is gone (404)
  uint64_t current_history = 200;

  fake_gmail() {
    stub.on("GET", prefix + "messages", [this](const stub_request& r) {
      return guarded(r, [&] { return list(r); });
    });
    stub.on("GET", prefix + "messages/[^/]+", [this](const stub_request& r) {
      return guarded(r, [&] { return get(r); });
    });
    stub.on("GET", prefix + "history", [this](const stub_request& r) {
      return guarded(r, [&] { return history(r); });
    });
    stub.on("GET", prefix + "profile", [this](const stub_request& r) {
      return guarded(r, [&] {
        return stub_reply::json(
            200,
            fmt::format(
                R"({{"emailAddress": "seed1@gmail.com", "messagesTotal": {},)"
                R"( "threadsTotal": {}, "historyId": "{}"}})",
                messages.size(), messages.size(), current_history));
      });
    });
  }

  template <class F>
  stub_reply guarded(const stub_request& r, F f) {
    std::lock_guard<std::mutex> guard{mtx};
    if (!auth.authorized(r))
      return google_error(401, "authError", "UNAUTHENTICATED",
                          "Request had invalid authentication credentials. "
                          "Expected OAuth 2 access token.");
    return f();
  }

  stub_reply list(const stub_request& r) {
    std::vector<std::string> terms;
    std::regex quoted{"\"([^\"]+)\""};
    auto q = r.param("q");
    for (std::sregex_iterator i{q.begin(), q.end(), quoted}, e; i != e; ++i)
      terms.push_back((*i)[1]);
    bool spam_trash = r.param("includeSpamTrash") == "true";
    std::vector<const fake_message*> hits;
    for (auto& m : messages) {
      bool hidden = std::count(m.labels.begin(), m.labels.end(), "SPAM")
                    || std::count(m.labels.begin(), m.labels.end(), "TRASH");
      if (hidden && !spam_trash)
        continue;
      std::string text = m.body;
      for (auto& [k, v] : m.headers)
        if (k == "Subject")
          text += " " + v;
      for (auto& t : terms)
        if (text.find(t) != std::string::npos) {
          hits.push_back(&m);
          break;
        }
    }
    size_t page =
        r.param("maxResults").empty() ? 100 : std::stoul(r.param("maxResults"));
    size_t start =
        r.param("pageToken").empty() ? 0 : std::stoul(r.param("pageToken"));
    if (hits.empty())
      return stub_reply::json(200, R"({"resultSizeEstimate": 0})");
    std::string items;
    for (size_t i = start; i < std::min(hits.size(), start + page); ++i)
      items += fmt::format(R"({}{{"id": "{}", "threadId": "t{}"}})",
                           items.empty() ? "" : ", ", hits[i]->id, hits[i]->id);
    std::string next;
    if (start + page < hits.size())
      next = fmt::format(R"(, "nextPageToken": "{}")", start + page);
    return stub_reply::json(
        200, fmt::format(R"({{"messages": [{}]{}, "resultSizeEstimate": {}}})",
                         items, next, hits.size()));
  }

  stub_reply get(const stub_request& r) {
    auto id = r.path.substr(r.path.rfind('/') + 1);
    for (auto& m : messages) {
      if (m.id != id)
        continue;
      std::string labels, headers;
      for (auto& l : m.labels)
        labels += (labels.empty() ? "" : ", ") + test::json_quote(l);
      if (r.param("format") == "raw")
        return stub_reply::json(
            200, fmt::format(R"({{"id": "{}", "threadId": "t{}",)"
                             R"( "labelIds": [{}], "historyId": "{}",)"
                             R"( "sizeEstimate": 4321, "raw": "{}"}})",
                             m.id, m.id, labels, m.history_id, raw_of(m)));
      for (auto& [k, v] : m.headers)
        headers += fmt::format(R"({}{{"name": {}, "value": {}}})",
                               headers.empty() ? "" : ", ", test::json_quote(k),
                               test::json_quote(v));
      return stub_reply::json(
          200,
          fmt::format(
              R"({{"id": "{}", "threadId": "t{}", "labelIds": [{}], "snippet": "",)"
              R"( "historyId": "{}", "internalDate": "1763790000000",)"
              R"( "payload": {{"partId": "", "mimeType": "multipart/alternative",)"
              R"( "filename": "", "headers": [{}]}}, "sizeEstimate": 4321}})",
              m.id, m.id, labels, m.history_id, headers));
    }
    return google_error(404, "notFound", "NOT_FOUND",
                        "Requested entity was not found.");
  }

  stub_reply history(const stub_request& r) {
    auto start = std::stoull(r.param("startHistoryId"));
    if (start < oldest_history)
      return google_error(404, "notFound", "NOT_FOUND",
                          "Requested entity was not found.");
    size_t page = std::stoul(r.param("maxResults"));
    size_t skip =
        r.param("pageToken").empty() ? 0 : std::stoul(r.param("pageToken"));
    std::vector<const fake_message*> added;
    for (auto& m : messages)
      if (m.history_id > start)
        added.push_back(&m);
    std::string items;
    for (size_t i = skip; i < std::min(added.size(), skip + page); ++i) {
      auto* m = added[i];
      items += fmt::format(
          R"({}{{"id": "{}", "messages": [{{"id": "{}", "threadId": "t{}"}}],)"
          R"( "messagesAdded": [{{"message": {{"id": "{}", "threadId": "t{}",)"
          R"( "labelIds": ["INBOX"]}}}}]}})",
          items.empty() ? "" : ", ", m->history_id, m->id, m->id, m->id, m->id);
    }
    std::string next;
    if (skip + page < added.size())
      next = fmt::format(R"(, "nextPageToken": "{}")", skip + page);
    return stub_reply::json(
        200, fmt::format(R"({{"history": [{}]{}, "historyId": "{}"}})", items,
                         next, current_history));
  }

  // The message as format=raw sends it: RFC 5322 text in base64url without
  // padding.
  static std::string raw_of(const fake_message& m) {
    std::string text;
    for (auto& [k, v] : m.headers)
      text += k + ": " + v + "\r\n";
    auto b64 = crypto::base64_encode(text + "\r\n" + m.body);
    for (auto& c : b64)
      c = c == '+' ? '-' : c == '/' ? '_' : c;
    return b64.substr(0, b64.find('='));
  }

  void add(std::string id, std::vector<std::string> labels,
           std::string test_id_header, std::string subject, std::string body,
           uint64_t history) {
    fake_message m;
    m.id = std::move(id);
    m.labels = std::move(labels);
    m.headers = {{"Delivered-To", "seed1@gmail.com"},
                 {"Received", "by 2002:a05:6a10:1234 with SMTP id x;\r\n       "
                              " Sat, 22 Nov 2026 03:00:00 -0800 (PST)"},
                 {"Authentication-Results",
                  "mx.google.com; spf=pass smtp.mailfrom=sender.example"},
                 {"Subject", std::move(subject)},
                 {"From", "Sender <news@sender.example>"}};
    if (!test_id_header.empty())
      m.headers.emplace_back("X-Mailpipe-Test-Id", test_id_header);
    m.body = std::move(body);
    m.history_id = history;
    messages.push_back(std::move(m));
  }
};

// The adapter wired to the fake, with a fake clock.
struct fixture {
  fake_gmail gmail;
  test::fake_clock fc;
  http::client client;
  oauth2::token_cache tokens{{gmail.stub.url() + "/token", "cid", "cs", "", 2s},
                             "rt"};
  per_user_limiter limiter{250, 250};
  api_session session{{gmail.stub.url(), "seed1@gmail.com", 2s, {3, 10s, 1s}},
                      client,
                      tokens,
                      &limiter,
                      fc.clock()};
  gmail::options opts;

  gmail::mailbox mailbox() { return gmail::mailbox{opts, session}; }

  // A search tried until it is answered, as the fetcher tries it.
  caf::expected<std::vector<found_message>>
  find(api_session& s, const std::vector<std::string>& ids) {
    gmail::mailbox mb{opts, s};
    return fc.drive([&] { return mb.find(ids); }, s);
  }

  void seed() {
    gmail.add("m1", {"INBOX", "CATEGORY_PROMOTIONS", "UNREAD"}, "mp-aaaaaaaa01",
              "Weekly deals", "hello mp-aaaaaaaa01", 150);
    gmail.add("m2", {"SPAM", "UNREAD"}, "mp-bbbbbbbb02", "You won",
              "body mp-bbbbbbbb02", 160);
    gmail.add("m3", {"INBOX"}, "", "Unrelated", "nothing here", 170);
  }
};

const found_message* by_id(const std::vector<found_message>& v,
                           std::string_view id) {
  for (auto& m : v)
    if (m.provider_id == id)
      return &m;
  return nullptr;
}

} // namespace

// -- parsers ------------------------------------------------------------------

TEST(gmail_parse, documented_shapes) {
  auto page = gmail::parse_message_list(
      R"({"messages": [{"id": "a", "threadId": "t"}, {"id": "b", "threadId": "t"}],
        "nextPageToken": "n1", "resultSizeEstimate": 2})");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->ids, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(page->next_page_token, "n1");
  auto empty = gmail::parse_message_list(R"({"resultSizeEstimate": 0})");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->ids.empty());
  auto hist = gmail::parse_history(
      R"({"history": [{"id": "5", "messagesAdded": [{"message": {"id": "x"}}]},
                    {"id": "6", "labelsAdded": [{"message": {"id": "y"}}]},
                    {"id": "7", "messagesAdded": [{"message": {"id": "x"}}, {"message": {"id": "z"}}]}],
        "historyId": "9"})");
  ASSERT_TRUE(hist);
  EXPECT_EQ(hist->added_ids, (std::vector<std::string>{"x", "z"}));
  EXPECT_EQ(hist->history_id, "9");
  EXPECT_EQ(hist->last_record_id, "7");
  auto none = gmail::parse_history(R"({"historyId": "9"})");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->last_record_id, "");
  EXPECT_EQ(gmail::search_query({"mp-a"}), "\"mp-a\"");
  EXPECT_EQ(gmail::search_query({"mp-a", "mp-b"}), "{\"mp-a\" \"mp-b\"}");
}

TEST(gmail_parse, malformed_json_is_a_parse_error) {
  for (auto bad :
       {"", "{", "[]", R"({"messages": 5})", R"({"messages": [{"x": 1}]})"}) {
    auto r = gmail::parse_message_list(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_TRUE(is(r.error(), ec::parse_error));
  }
  EXPECT_FALSE(gmail::parse_message_metadata(R"({"labelIds": []})"));
  EXPECT_FALSE(gmail::parse_history(R"({"history": []})"));
  for (auto bad : {R"({"id": "m"})", R"({"raw": "U3ViamVjdA"})",
                   R"({"id": "m", "raw": "not base64!"})"}) {
    auto r = gmail::parse_raw_message(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_TRUE(is(r.error(), ec::parse_error)) << bad;
  }
}

TEST(gmail_parse, raw_is_base64url_with_or_without_padding) {
  // "Subject: ??>~" CRLF CRLF and three 8-bit bytes: '-' and '_' in the text.
  for (auto raw :
       {"U3ViamVjdDogPz8-fg0KDQr7_78=", "U3ViamVjdDogPz8-fg0KDQr7_78"}) {
    auto m = gmail::parse_raw_message(fmt::format(
        R"({{"id": "m9", "labelIds": ["INBOX"], "raw": "{}"}})", raw));
    ASSERT_TRUE(m) << render(m.error());
    EXPECT_EQ(m->id, "m9");
    EXPECT_EQ(m->label_ids, (std::vector<std::string>{"INBOX"}));
    EXPECT_EQ(m->raw, "Subject: ??>~\r\n\r\n\xfb\xff\xbf");
  }
}

// -- find ---------------------------------------------------------------------

TEST(gmail, finds_test_messages_in_inbox_and_spam) {
  fixture f;
  f.seed();
  auto mb = f.mailbox();
  auto found = mb.find({"mp-aaaaaaaa01", "mp-bbbbbbbb02", "mp-cccccccc03"});
  ASSERT_TRUE(found) << render(found.error());
  ASSERT_EQ(found->size(), 2u);
  auto* m1 = by_id(*found, "m1");
  auto* m2 = by_id(*found, "m2");
  ASSERT_TRUE(m1 && m2);
  EXPECT_EQ(m1->test_id, "mp-aaaaaaaa01");
  EXPECT_EQ(m1->folder, "");
  EXPECT_EQ(m1->labels, (std::vector<std::string>{
                            "INBOX", "CATEGORY_PROMOTIONS", "UNREAD"}));
  EXPECT_EQ(m2->test_id, "mp-bbbbbbbb02");
  EXPECT_EQ(m2->labels, (std::vector<std::string>{"SPAM", "UNREAD"}));
  EXPECT_EQ(m1->header_block,
            "Delivered-To: seed1@gmail.com\r\n"
            "Received: by 2002:a05:6a10:1234 with SMTP id x;\r\n"
            "        Sat, 22 Nov 2026 03:00:00 -0800 (PST)\r\n"
            "Authentication-Results: mx.google.com; spf=pass "
            "smtp.mailfrom=sender.example\r\n"
            "Subject: Weekly deals\r\n"
            "From: Sender <news@sender.example>\r\n"
            "X-Mailpipe-Test-Id: mp-aaaaaaaa01\r\n");
  // One OR-query for all three ids, spam included; metadata of each hit.
  auto lists = f.gmail.stub.requests(prefix + "messages");
  ASSERT_EQ(lists.size(), 1u);
  EXPECT_EQ(lists[0].param("q"),
            R"({"mp-aaaaaaaa01" "mp-bbbbbbbb02" "mp-cccccccc03"})");
  EXPECT_EQ(lists[0].param("includeSpamTrash"), "true");
  auto gets = f.gmail.stub.requests(prefix + "messages/.+");
  ASSERT_EQ(gets.size(), 2u);
  EXPECT_EQ(gets[0].param("format"), "metadata");
}

TEST(gmail, pages_through_search_results) {
  fixture f;
  for (int i = 0; i < 5; ++i)
    f.gmail.add("p" + std::to_string(i), {"INBOX"}, "mp-pppppppp00", "s",
                "x mp-pppppppp00", 150 + i);
  f.opts.page_size = 2;
  auto mb = f.mailbox();
  auto found = mb.find({"mp-pppppppp00"});
  ASSERT_TRUE(found) << render(found.error());
  EXPECT_EQ(found->size(), 5u);
  auto lists = f.gmail.stub.requests(prefix + "messages");
  ASSERT_EQ(lists.size(), 3u);
  EXPECT_EQ(lists[0].param("pageToken"), "");
  EXPECT_EQ(lists[1].param("pageToken"), "2");
  EXPECT_EQ(lists[2].param("pageToken"), "4");
}

TEST(gmail, hits_that_do_not_carry_the_id_by_the_rule_are_dropped) {
  fixture f;
  f.gmail.add("b1", {"INBOX"}, "", "Plain subject", "text mp-dddddddd04 text",
              150);
  f.gmail.add("b2", {"SPAM"}, "", "Offer mp-eeeeeeee05", "", 151);
  f.gmail.add("b3", {"INBOX"}, "", "Re: mp-eeeeeeee05x", "", 152);
  auto mb = f.mailbox();
  auto found = mb.find({"mp-dddddddd04", "mp-eeeeeeee05"});
  ASSERT_TRUE(found) << render(found.error());
  // b1 carries the id only in its body, b3 a longer token: Gmail's search
  // returns both, the test-id rule (header or subject token) keeps neither.
  EXPECT_EQ(f.gmail.stub.count(prefix + "messages/.+"), 3u);
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ(by_id(*found, "b2")->test_id, "mp-eeeeeeee05");
}

TEST(gmail, bad_test_id_pattern_is_invalid_config) {
  fixture f;
  f.opts.test_id_pattern = "mp-[a-z";
  auto found = f.mailbox().find({"mp-aaaaaaaa01"});
  ASSERT_FALSE(found);
  EXPECT_TRUE(is(found.error(), ec::invalid_config));
  EXPECT_EQ(f.gmail.stub.count(prefix + ".*"), 0u);
}

TEST(gmail, invalid_test_ids_are_refused_before_any_request) {
  fixture f;
  auto mb = f.mailbox();
  auto found = mb.find({"mp-ok", "bad\" OR in:anywhere"});
  ASSERT_FALSE(found);
  EXPECT_TRUE(is(found.error(), ec::invalid_argument));
  EXPECT_EQ(f.gmail.stub.count(".*"), 0u);
}

// -- errors -------------------------------------------------------------------

TEST(gmail, expired_token_is_refreshed_and_the_search_succeeds) {
  fixture f;
  f.seed();
  auto mb = f.mailbox();
  ASSERT_TRUE(mb.find({"mp-aaaaaaaa01"}));
  // The server revokes at-1 (expired early); the next call gets 401, refreshes,
  // retries.
  f.gmail.auth.accept("at-2");
  auto found = mb.find({"mp-bbbbbbbb02"});
  ASSERT_TRUE(found) << render(found.error());
  EXPECT_EQ(found->size(), 1u);
  EXPECT_EQ(f.tokens.refreshes(), 2u);
}

TEST(gmail, token_refused_twice_is_auth_failed) {
  fixture f;
  f.seed();
  f.gmail.auth.accept("never");
  auto found = f.mailbox().find({"mp-aaaaaaaa01"});
  ASSERT_FALSE(found);
  EXPECT_TRUE(is(found.error(), ec::auth_failed));
  EXPECT_EQ(classify(found.error()), failure_class::auth);
  EXPECT_NE(render(found.error()).find("invalid authentication credentials"),
            std::string::npos);
}

TEST(gmail, too_many_requests_waits_for_retry_after) {
  fixture f;
  f.seed();
  f.gmail.stub.script(
      "GET", prefix + "messages",
      {google_error(429, "rateLimitExceeded", "RESOURCE_EXHAUSTED",
                    "Too many concurrent requests for user")
           .with_header("Retry-After", "1"),
       stub_reply::json(200,
                        R"({"messages": [{"id": "m1", "threadId": "t"}]})")});
  auto found = f.find(f.session, {"mp-aaaaaaaa01"});
  ASSERT_TRUE(found) << render(found.error());
  EXPECT_EQ(found->size(), 1u);
  EXPECT_EQ(*f.fc.waits, (std::vector<duration>{1s}));
}

namespace {

// The error a search ends with when messages.list always answers `reply`.
caf::error search_error(fixture& f, stub_reply reply) {
  f.gmail.stub.script("GET", prefix + "messages", {std::move(reply)});
  auto found = f.find(f.session, {"mp-aaaaaaaa01"});
  EXPECT_FALSE(found);
  return found ? caf::error{} : found.error();
}

} // namespace

TEST(gmail, user_rate_limit_403_is_retried_then_rate_limited) {
  fixture f;
  auto err = search_error(f, google_error(403, "userRateLimitExceeded",
                                          "PERMISSION_DENIED",
                                          "User-rate limit exceeded."));
  EXPECT_TRUE(is(err, ec::rate_limited)) << render(err);
  EXPECT_EQ(f.gmail.stub.count(prefix + "messages"), 3u);
  EXPECT_EQ(*f.fc.waits, (std::vector<duration>{1s, 2s}));
}

TEST(gmail, server_errors_are_service_unavailable) {
  fixture f;
  auto err =
      search_error(f, google_error(503, "backendError", "UNAVAILABLE",
                                   "The service is currently unavailable."));
  EXPECT_TRUE(is(err, ec::service_unavailable));
  EXPECT_NE(render(err).find("currently unavailable"), std::string::npos);
}

TEST(gmail, malformed_json_from_the_server_is_a_parse_error) {
  fixture f;
  auto err =
      search_error(f, stub_reply::json(200, R"({"messages": [{"id": "m1", )"));
  EXPECT_TRUE(is(err, ec::parse_error)) << render(err);
}

TEST(gmail, slow_server_is_a_timeout) {
  fixture f;
  api_session s{{f.gmail.stub.url(), "seed1@gmail.com", 200ms, {1, 10s, 1s}},
                f.client,
                f.tokens,
                &f.limiter,
                f.fc.clock()};
  f.gmail.stub.script(
      "GET", prefix + "messages",
      {stub_reply::json(200, R"({"resultSizeEstimate": 0})").after(700ms)});
  auto found = f.find(s, {"mp-aaaaaaaa01"});
  ASSERT_FALSE(found);
  EXPECT_TRUE(is(found.error(), ec::timeout)) << render(found.error());
}

TEST(gmail, per_user_quota_is_respected) {
  fixture f;
  f.seed();
  per_user_limiter tight{10,
                         10}; // 10 units/s: two 5-unit calls, then 500 ms each
  api_session s{{f.gmail.stub.url(), "seed1@gmail.com", 2s, {}},
                f.client,
                f.tokens,
                &tight,
                f.fc.clock()};
  ASSERT_TRUE(f.find(s, {"mp-aaaaaaaa01", "mp-bbbbbbbb02"})); // 1 list + 2 gets
  EXPECT_EQ(*f.fc.waits, (std::vector<duration>{500ms}));
  // The re-run after the wait replayed the list and the first get.
  EXPECT_EQ(f.gmail.stub.count(prefix + "messages"), 1u);
  EXPECT_EQ(s.waited(), duration{500ms});
}

// -- history ------------------------------------------------------------------

TEST(gmail, history_lists_added_messages_across_pages) {
  fixture f;
  f.seed();
  for (int i = 0; i < 600; ++i)
    f.gmail.add("h" + std::to_string(i), {"INBOX"}, "", "s", "", 1000 + i);
  f.gmail.add("hx", {"SPAM"}, "mp-ffffffff06", "s", "", 5000);
  auto mb = f.mailbox();
  std::vector<std::string> added;
  std::string token;
  int pages = 0;
  do {
    auto page = mb.history("155", token);
    ASSERT_TRUE(page) << render(page.error());
    ASSERT_TRUE(*page) << "history gone";
    EXPECT_EQ((*page)->history_id, "200");
    EXPECT_FALSE((*page)->last_record_id.empty());
    added.insert(added.end(), (*page)->added_ids.begin(),
                 (*page)->added_ids.end());
    token = (*page)->next_page_token;
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(pages, 2);
  ASSERT_EQ(added.size(), 603u); // m2, m3, h0..h599, hx
  EXPECT_EQ(added.front(), "m2");
  EXPECT_EQ(added.back(), "hx");
  auto reqs = f.gmail.stub.requests(prefix + "history");
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].param("historyTypes"), "messageAdded");
  EXPECT_EQ(reqs[1].param("pageToken"), "500");
  // The new messages are then read and matched against the pending ids.
  auto found = mb.fetch({"m2", "m3", "hx", "deleted-meanwhile"},
                        {"mp-bbbbbbbb02", "mp-ffffffff06"});
  ASSERT_TRUE(found) << render(found.error());
  ASSERT_EQ(found->size(), 2u);
  EXPECT_EQ(by_id(*found, "hx")->test_id, "mp-ffffffff06");
  EXPECT_EQ(by_id(*found, "hx")->labels, (std::vector<std::string>{"SPAM"}));
}

TEST(gmail, raw_reads_the_whole_message) {
  fixture f;
  f.seed();
  auto mb = f.mailbox();
  auto m = mb.raw("m1");
  ASSERT_TRUE(m) << render(m.error());
  EXPECT_EQ(m->label_ids, (std::vector<std::string>{
                              "INBOX", "CATEGORY_PROMOTIONS", "UNREAD"}));
  EXPECT_NE(m->raw.find("\r\nSubject: Weekly deals\r\n"), std::string::npos);
  EXPECT_TRUE(m->raw.ends_with("\r\n\r\nhello mp-aaaaaaaa01")) << m->raw;
  EXPECT_EQ(f.gmail.stub.requests(prefix + "messages/m1")[0].param("format"),
            "raw");
  auto gone = mb.raw("deleted-meanwhile");
  ASSERT_FALSE(gone);
  EXPECT_TRUE(is(gone.error(), ec::not_found)) << render(gone.error());
}

TEST(gmail, expired_history_asks_for_a_full_resync) {
  fixture f;
  f.seed();
  auto mb = f.mailbox();
  auto gone = mb.history("42", "");
  ASSERT_TRUE(gone) << render(gone.error());
  EXPECT_FALSE(*gone); // Gmail no longer has it: 404
  auto now = mb.current_history_id();
  ASSERT_TRUE(now) << render(now.error());
  EXPECT_EQ(*now, "200");
}
