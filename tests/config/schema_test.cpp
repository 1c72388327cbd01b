// The schema's ranges and forms, and masking of secrets in every
// URL form (part 2).

#include <fstream>

#include <gtest/gtest.h>

#include "config/bounded_file.hpp"
#include "config/config.hpp"
#include "config/mask.hpp"

using namespace mailpipe;

namespace {

config_result load(std::string_view text) {
  return load_config_string(text, "t.toml",
                            [](std::string_view) { return std::nullopt; });
}

// The one error of `text`; fails when there is not exactly one.
config_error only_error(std::string_view text) {
  auto r = load(text);
  EXPECT_EQ(r.errors.size(), 1u) << text;
  return r.errors.empty() ? config_error{} : r.errors[0];
}

} // namespace

TEST(config_schema,
     values_the_program_would_reject_are_errors_with_their_place) {
  struct bad {
    const char* text;
    const char* key;
  };
  for (auto [text, key] : std::vector<bad>{
           {"[analysis]\nmax_header_bytes = 0\n", "analysis.max_header_bytes"},
           {"[analysis]\nmax_header_bytes = -1\n", "analysis.max_header_bytes"},
           {"[jobs]\nworkers = 0\n", "jobs.workers"},
           {"[jobs]\nworkers = 99999999999999\n", "jobs.workers"},
           {"[http]\nlisten = \"not-an-address\"\n", "http.listen"},
           {"[http]\nlisten = \"127.0.0.1:99999\"\n", "http.listen"},
           {"[node]\ninspect_listen = \"127.0.0.1\"\n", "node.inspect_listen"},
           {"[database]\nurl = \"mysql://u@h/db\"\n", "database.url"},
           {"[database]\nurl = \"postgresql://u:PCT%ZZ3@h/db\"\n",
            "database.url"},
           {"[database]\nurl = \"postgresql://u:p@ss@h/db\"\n", "database.url"},
           {"[gmail]\napi_url = \"ftp://x\"\n", "gmail.api_url"},
           {"[outlook]\ntoken_url = \"http://login.example/token\"\n",
            "outlook.token_url"},
           {"[node]\nshutdown_grace = \"53375d\"\n", "node.shutdown_grace"},
           {"[node]\nname = \"a\\nb\"\n", "node.name"},
           {"[node]\nname = \"a\\u0000b\"\n", "node.name"},
           {"[log]\ndir = \"/etc/hostname/logs\"\n", "log.dir"},
           {"[imap]\nca_file = \"/nonexistent/ca.pem\"\n", "imap.ca_file"},
           {"[crypto]\nkey_file = \"/nonexistent/key\"\n", "crypto.key_file"},
       }) {
    auto e = only_error(text);
    EXPECT_EQ(e.key, key) << text;
    EXPECT_EQ(e.line, 2) << text << to_string(e);
    EXPECT_GT(e.column, 0) << text;
  }
}

TEST(config_schema, the_password_of_a_bad_url_is_not_echoed) {
  for (auto text : {"[database]\nurl = \"postgresql://u:PCT%ZZ3@h/db\"\n",
                    "[database]\nurl = \"postgresql://u:p@ss@h/db\"\n"}) {
    auto e = only_error(text);
    EXPECT_EQ(to_string(e).find("PCT"), std::string::npos) << to_string(e);
    EXPECT_EQ(to_string(e).find("ss@"), std::string::npos) << to_string(e);
  }
}

TEST(config_schema, good_forms_pass) {
  auto r =
      load("[http]\nlisten = \"\"\n[node]\ninspect_listen = \"[::1]:4270\"\n"
           "[database]\nurl = \"host=127.0.0.1 port=5432 dbname=x\"\n"
           "[gmail]\napi_url = \"http://127.0.0.1:8080\"\n"
           "[log]\ndir = \"/tmp/mailpipe-schema-test/logs\"\n");
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : to_string(r.errors[0]));
}

TEST(config_schema, errors_come_in_file_order) {
  auto r = load("[node]\ndead_after = \"1s\"\nheartbeat_interval = \"2s\"\n"
                "[jobs]\nworkers = 0\n[processing]\nparallel = 0\n");
  ASSERT_EQ(r.errors.size(), 3u);
  EXPECT_EQ(r.errors[0].key, "node.dead_after");
  EXPECT_EQ(r.errors[0].line, 2);
  EXPECT_EQ(r.errors[1].line, 5);
  EXPECT_EQ(r.errors[2].line, 7);
}

TEST(config_schema, an_overflowing_duration_is_malformed) {
  EXPECT_FALSE(parse_duration("999999999d999999999d999999999d"));
  EXPECT_EQ(parse_duration("53375d"), std::chrono::hours{53375 * 24});
}

TEST(config_schema, mask_url_covers_every_form) {
  EXPECT_EQ(mask_url("host=h user=u password=KVSECRET1 dbname=x"),
            "host=h user=u password=*** dbname=x");
  EXPECT_EQ(mask_url("host=h password = 'a b\\' c' dbname=x"),
            "host=h password = *** dbname=x");
  EXPECT_EQ(mask_url("postgresql://u:p@ss@h/db"), "postgresql://u:***@h/db");
  EXPECT_EQ(mask_url("postgresql://u:PCT%ZZ3@h/db"), "postgresql://u:***@h/db");
  EXPECT_EQ(mask_url("https://admin:MEILI@search.local:7700"),
            "https://admin:***@search.local:7700");
  EXPECT_EQ(
      mask_url("https://x/token?client_id=a&client_secret=CS1&api_key=K2"),
      "https://x/token?client_id=a&client_secret=***&api_key=***");
}

TEST(config_schema, config_show_masks_credentials_in_any_url) {
  auto r = load(
      "[search]\nmeilisearch_url = \"https://admin:MEILI9@search.local\"\n"
      "[gmail]\ntoken_url = \"https://t.example/token?client_secret=CS9\"\n");
  ASSERT_TRUE(r.ok());
  auto text = render_config(r.cfg);
  EXPECT_EQ(text.find("MEILI9"), std::string::npos) << text;
  EXPECT_EQ(text.find("CS9"), std::string::npos) << text;
  EXPECT_NE(render_config(r.cfg, false).find("MEILI9"), std::string::npos);
}

TEST(bounded_file, refuses_what_is_not_a_small_regular_file) {
  EXPECT_FALSE(read_regular_file("/tmp", max_config_file_bytes));
  EXPECT_FALSE(read_regular_file("/dev/zero", max_config_file_bytes));
  auto big = ::testing::TempDir() + "big.toml";
  std::ofstream{big} << std::string(max_config_file_bytes + 1, '#');
  auto r = read_regular_file(big, max_config_file_bytes);
  ASSERT_FALSE(r);
  auto prefix = read_file_prefix("/dev/zero", 4096);
  ASSERT_TRUE(prefix);
  EXPECT_EQ(prefix->size(), 4096u);
  EXPECT_FALSE(read_file_prefix("/tmp", 4096));
}
