#include "adapters/providers/mail_json.hpp"

#include <random>

#include <gtest/gtest.h>

#include "adapters/http/oauth2.hpp"
#include "adapters/providers/gmail.hpp"
#include "adapters/providers/graph.hpp"
#include "adapters/sys/crypto.hpp"

using namespace mailpipe;

TEST(mail_json, header_block_is_rfc5322_lines_in_order) {
  std::vector<http::header_field> h{
      {"Received", "a;\r\n b"}, {"Subject", "x\ny"}, {"Bad Name", "dropped"},
      {"Bad:Name", "dropped"},  {"", "dropped"},     {"X-Test-ID", "mp-1"}};
  EXPECT_EQ(mail_json::header_block(h),
            "Received: a;\r\n b\r\nSubject: x\r\ny\r\nX-Test-ID: mp-1\r\n");
}

TEST(mail_json, test_ids_by_the_rule_header_then_subject_token) {
  auto rules = make_test_id_rules({"X-Mailpipe-Test-Id", "X-Test-ID"},
                                  "mp-[A-Za-z0-9]{8,64}");
  ASSERT_TRUE(rules);
  std::vector<std::string> pending{"mp-aaaaaaaa", "mp-bbbbbbbb"};
  std::vector<http::header_field> h{{"Subject", "about mp-aaaaaaaa"},
                                    {"x-test-id", " mp-bbbbbbbb "}};
  EXPECT_EQ(mail_json::carried_test_ids(h, *rules, pending),
            (std::vector<std::string>{"mp-bbbbbbbb", "mp-aaaaaaaa"}));
  h.pop_back();
  EXPECT_EQ(mail_json::carried_test_ids(h, *rules, pending),
            (std::vector<std::string>{"mp-aaaaaaaa"}));
  // A substring of a longer token, or of another header, is not the id.
  EXPECT_TRUE(mail_json::carried_test_ids({{"Subject", "re mp-aaaaaaaa1"},
                                           {"References", "<mp-bbbbbbbb@x>"}},
                                          *rules, pending)
                  .empty());
}

TEST(mail_json, test_ids_that_could_change_a_query_are_refused) {
  EXPECT_FALSE(mail_json::check_test_ids({"mp-abc_1.2"}));
  for (auto bad : {"", "a b", "a\"b", "{x}", "a)OR(b", "x\r\n"})
    EXPECT_TRUE(
        is(mail_json::check_test_ids({"ok", bad}), ec::invalid_argument))
        << bad;
}

// Every parser of outside data, fed mutations of valid documents and random
// bytes: it must answer with a value or an error, never crash (run under ASan
// in CI).
TEST(mail_json, parsers_survive_mutated_and_random_input) {
  const std::string seeds[] = {
      R"({"messages": [{"id": "a", "threadId": "t"}], "nextPageToken": "n"})",
      R"({"id": "m", "labelIds": ["INBOX"], "historyId": "5",
        "payload": {"headers": [{"name": "Subject", "value": "x"}]}})",
      R"({"history": [{"messagesAdded": [{"message": {"id": "x"}}]}], "historyId": "9"})",
      R"({"value": [{"id": "a", "internetMessageHeaders": [{"name": "A", "value": "b"}],
        "@removed": {"reason": "deleted"}}], "@odata.deltaLink": "https://x/d"})",
      R"({"id": "f", "displayName": "Inbox"})",
      R"({"access_token": "t", "expires_in": 3599, "refresh_token": "r"})",
      R"({"error": {"code": 403, "message": "m", "errors": [{"reason": "rateLimitExceeded"}]}})",
  };
  std::mt19937 rng{12345};
  auto run_all = [](const std::string& in) {
    (void)gmail::parse_message_list(in);
    (void)gmail::parse_message_metadata(in);
    (void)gmail::parse_history(in);
    (void)graph::parse_message_page(in);
    (void)graph::parse_mail_folder(in);
    (void)oauth2::parse_token_response(in, {});
    (void)http::parse_api_error(in);
    (void)http::parse_retry_after(in, {});
    (void)crypto::base64_decode(in);
  };
  size_t parsed_ok = 0;
  for (auto& seed : seeds) {
    run_all(seed);
    for (int i = 0; i < 3000; ++i) {
      auto s = seed;
      for (int k = 0, n = 1 + static_cast<int>(rng() % 4); k < n; ++k) {
        auto pos = rng() % (s.size() + 1);
        switch (rng() % 3) {
          case 0: s.insert(pos, 1, static_cast<char>(rng())); break;
          case 1:
            if (pos < s.size())
              s.erase(pos, 1 + rng() % 8);
            break;
          default:
            if (pos < s.size())
              s[pos] = static_cast<char>(rng());
        }
      }
      run_all(s);
      parsed_ok += static_cast<bool>(graph::parse_message_page(s));
    }
  }
  for (int i = 0; i < 2000; ++i) {
    std::string s(rng() % 200, '\0');
    for (auto& c : s)
      c = static_cast<char>(rng());
    run_all(s);
  }
  // Some mutations stay valid documents; most must not.
  EXPECT_GT(parsed_ok, 0u);
  EXPECT_LT(parsed_ok, 3000u * std::size(seeds));
}
