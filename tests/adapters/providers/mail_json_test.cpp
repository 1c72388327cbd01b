#include "adapters/providers/mail_json.hpp"

#include <random>

#include <gtest/gtest.h>

#include "adapters/sys/crypto.hpp"
#include "adapters/providers/gmail.hpp"
#include "adapters/providers/graph.hpp"
#include "adapters/http/oauth2.hpp"

using namespace mailpipe;

TEST(mail_json, header_block_is_rfc5322_lines_in_order) {
  std::vector<http::header_field> h{
      {"Received", "a;\r\n b"}, {"Subject", "x\ny"}, {"Bad Name", "dropped"},
      {"Bad:Name", "dropped"},  {"", "dropped"},     {"X-Test-ID", "mp-1"}};
  EXPECT_EQ(mail_json::header_block(h),
            "Received: a;\r\n b\r\nSubject: x\r\ny\r\nX-Test-ID: mp-1\r\n");
}

TEST(mail_json, test_id_from_header_first_then_any_value) {
  std::vector<std::string> ids{"mp-a", "mp-b"};
  std::vector<std::string> names{"X-Mailpipe-Test-Id", "X-Test-ID"};
  std::vector<http::header_field> h{{"Subject", "about mp-a"},
                                    {"x-test-id", " mp-b "}};
  EXPECT_EQ(mail_json::match_test_id(h, ids, names), "mp-b");
  h.pop_back();
  EXPECT_EQ(mail_json::match_test_id(h, ids, names), "mp-a");
  EXPECT_FALSE(mail_json::match_test_id({{"Subject", "none"}}, ids, names));
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
