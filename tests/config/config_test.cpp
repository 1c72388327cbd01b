#include <fstream>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "config/config.hpp"
#include "config/mask.hpp"
#include "tests/support/env.hpp"

using namespace mailpipe;
using namespace std::chrono_literals;

namespace {

env_lookup fake_env(std::map<std::string, std::string> vars) {
  return [vars](std::string_view name) -> std::optional<std::string> {
    auto i = vars.find(std::string{name});
    if (i == vars.end())
      return std::nullopt;
    return i->second;
  };
}

config_result load(std::string_view text,
                   std::map<std::string, std::string> vars = {}) {
  return load_config_string(text, "test.toml", fake_env(std::move(vars)));
}

std::string errors_of(const config_result& r) {
  std::string out;
  for (auto& e : r.errors)
    out += to_string(e) + "\n";
  return out;
}

} // namespace

TEST(config, empty_file_gives_defaults) {
  auto r = load("");
  ASSERT_TRUE(r.ok()) << errors_of(r);
  EXPECT_EQ(r.cfg.processing.parallel, 4);
  EXPECT_EQ(r.cfg.processing.retry_after, 10min);
  EXPECT_EQ(r.cfg.processing.max_failures, 3);
  EXPECT_EQ(r.cfg.jobs.max_attempts, 3);
  EXPECT_EQ(r.cfg.alerts.threshold, 10);
  EXPECT_EQ(r.cfg.alerts.window, 5min);
  EXPECT_EQ(r.cfg.log.retention_days, 7);
  EXPECT_EQ(r.cfg.http.listen.rfind("127.0.0.1:", 0), 0u);
  EXPECT_EQ(r.cfg.node.inspect_listen.rfind("127.0.0.1:", 0), 0u);
  EXPECT_FALSE(r.cfg.node.name.empty());
}

TEST(config, good_file_sets_every_kind_of_value) {
  auto r = load(R"(
[node]
name = "node-a"
[database]
url = "postgresql://mp:${DB_PASSWORD}@db.internal:5433/mailpipe"
pool_size = 8
[processing]
interval = "1h30m"
parallel = 16
account_timeout = "90s"
[imap]
allow_plaintext = true
[analysis]
test_id_headers = ["X-Seed-Id"]
)",
                {{"DB_PASSWORD", "s3cr3t"}});
  ASSERT_TRUE(r.ok()) << errors_of(r);
  EXPECT_EQ(r.cfg.node.name, "node-a");
  EXPECT_EQ(r.cfg.database.url,
            "postgresql://mp:s3cr3t@db.internal:5433/mailpipe");
  EXPECT_EQ(r.cfg.database.pool_size, 8);
  EXPECT_EQ(r.cfg.processing.interval, 90min);
  EXPECT_EQ(r.cfg.processing.parallel, 16);
  EXPECT_EQ(r.cfg.processing.account_timeout, 90s);
  EXPECT_TRUE(r.cfg.imap.allow_plaintext);
  EXPECT_EQ(r.cfg.analysis.test_id_headers,
            std::vector<std::string>{"X-Seed-Id"});
}

TEST(config, unknown_key_is_named_with_line_and_a_suggestion) {
  auto r = load("[processing]\nparalel = 4\n");
  ASSERT_EQ(r.errors.size(), 1u) << errors_of(r);
  auto& e = r.errors[0];
  EXPECT_EQ(e.file, "test.toml");
  EXPECT_EQ(e.line, 2);
  EXPECT_EQ(e.key, "processing.paralel");
  EXPECT_NE(e.message.find("unknown key"), std::string::npos);
  EXPECT_NE(e.message.find("processing.parallel"), std::string::npos);
  EXPECT_EQ(to_string(e).rfind("test.toml:2:", 0), 0u) << to_string(e);
}

TEST(config, unknown_section_is_an_error) {
  auto r = load("[redis]\nhost = \"x\"\n");
  ASSERT_EQ(r.errors.size(), 1u) << errors_of(r);
  EXPECT_EQ(r.errors[0].key, "redis");
  EXPECT_EQ(r.errors[0].line, 1); // the section header
}

TEST(config, wrong_type_says_what_was_expected) {
  auto r = load("[processing]\n\nparallel = \"four\"\n");
  ASSERT_EQ(r.errors.size(), 1u) << errors_of(r);
  EXPECT_EQ(r.errors[0].line, 3);
  EXPECT_EQ(r.errors[0].key, "processing.parallel");
  EXPECT_NE(r.errors[0].message.find("expected an integer"), std::string::npos);
  EXPECT_NE(r.errors[0].message.find("string"), std::string::npos);
}

TEST(config, bad_duration_is_explained) {
  auto r = load("[processing]\nretry_after = \"10 minutes\"\n");
  ASSERT_EQ(r.errors.size(), 1u) << errors_of(r);
  EXPECT_EQ(r.errors[0].key, "processing.retry_after");
  EXPECT_EQ(r.errors[0].line, 2);
  EXPECT_NE(r.errors[0].message.find("bad duration \"10 minutes\""),
            std::string::npos);
  EXPECT_NE(r.errors[0].message.find("10m"), std::string::npos);
}

TEST(config, duration_as_number_is_rejected) {
  auto r = load("[processing]\ninterval = 60\n");
  ASSERT_EQ(r.errors.size(), 1u) << errors_of(r);
  EXPECT_NE(r.errors[0].message.find("duration"), std::string::npos);
}

TEST(config, missing_env_var_is_named) {
  auto r = load("[mistral]\napi_key = \"${MISTRAL_KEY}\"\n");
  ASSERT_EQ(r.errors.size(), 1u) << errors_of(r);
  EXPECT_EQ(r.errors[0].key, "mistral.api_key");
  EXPECT_EQ(r.errors[0].line, 2);
  EXPECT_NE(r.errors[0].message.find("MISTRAL_KEY is not set"),
            std::string::npos);
}

TEST(config, dollar_dollar_is_a_literal_dollar) {
  auto r = load("[mistral]\napi_key = \"a$$b\"\n");
  ASSERT_TRUE(r.ok()) << errors_of(r);
  EXPECT_EQ(r.cfg.mistral.api_key, "a$b");
}

TEST(config, invalid_toml_names_the_line) {
  auto r = load("[processing]\nparallel = = 3\n");
  ASSERT_EQ(r.errors.size(), 1u) << errors_of(r);
  EXPECT_EQ(r.errors[0].line, 2);
  EXPECT_NE(r.errors[0].message.find("invalid TOML"), std::string::npos);
}

TEST(config, every_mistake_is_reported_not_only_the_first) {
  auto r =
      load("[processing]\nparallel = \"x\"\ninterval = \"soon\"\n[nope]\n");
  EXPECT_EQ(r.errors.size(), 3u) << errors_of(r);
}

TEST(config, out_of_range_values_are_rejected) {
  auto r = load("[processing]\nparallel = 0\n[log]\nlevel = \"loud\"\n");
  EXPECT_EQ(r.errors.size(), 2u) << errors_of(r);
}

TEST(config, database_url_env_overrides_the_file) {
  auto r = load("[database]\nurl = \"postgresql://file/db\"\n",
                {{"MAILPIPE_DATABASE_URL", "postgresql://env/db"}});
  ASSERT_TRUE(r.ok()) << errors_of(r);
  EXPECT_EQ(r.cfg.database.url, "postgresql://env/db");
}

TEST(config, render_masks_secrets) {
  auto r = load(R"(
[database]
url = "postgresql://mp:hunter2@db/mailpipe?sslmode=require"
[alerts]
discord_webhook_url = "https://discord.example/api/webhooks/1/TOKEN123"
[mistral]
api_key = "sk-SECRET"
)");
  ASSERT_TRUE(r.ok()) << errors_of(r);
  auto text = render_config(r.cfg);
  EXPECT_EQ(text.find("hunter2"), std::string::npos) << text;
  EXPECT_EQ(text.find("TOKEN123"), std::string::npos) << text;
  EXPECT_EQ(text.find("sk-SECRET"), std::string::npos) << text;
  EXPECT_NE(text.find("postgresql://mp:***@db/mailpipe"), std::string::npos)
      << text;
  // The rendered config is itself a valid config file with the same values.
  auto again = load(render_config(r.cfg, false));
  ASSERT_TRUE(again.ok()) << errors_of(again);
  EXPECT_EQ(render_config(again.cfg, false), render_config(r.cfg, false));
}

TEST(config, durations_parse_and_format) {
  EXPECT_EQ(parse_duration("500ms"), 500ms);
  EXPECT_EQ(parse_duration("30s"), 30s);
  EXPECT_EQ(parse_duration("1h30m"), 90min);
  EXPECT_EQ(parse_duration("7d"), std::chrono::hours{168});
  EXPECT_FALSE(parse_duration(""));
  EXPECT_EQ(parse_duration("0"), 0ms); // zero alone needs no unit
  EXPECT_FALSE(parse_duration("10"));
  EXPECT_FALSE(parse_duration("10 m"));
  EXPECT_FALSE(parse_duration("m"));
  EXPECT_FALSE(parse_duration("-5s"));
  EXPECT_EQ(format_duration(90s), "1m30s");
  EXPECT_EQ(format_duration(1500ms), "1500ms");
  EXPECT_EQ(format_duration(std::chrono::hours{48}), "2d");
}

TEST(config, mask_url_hides_passwords_only) {
  EXPECT_EQ(mask_url("postgresql://u:p@h/d"), "postgresql://u:***@h/d");
  EXPECT_EQ(mask_url("postgresql://u@h/d"), "postgresql://u@h/d");
  EXPECT_EQ(mask_url("postgresql://h/d?user=u&password=p&x=1"),
            "postgresql://h/d?user=u&password=***&x=1");
}

// The example file documents every key, with its default, and loads without error.
TEST(config, example_file_is_complete_and_valid) {
  auto path = test::source_path("config/mailpipe.example.toml");
  auto r = load_config_file(path, fake_env({}));
  ASSERT_TRUE(r.ok()) << errors_of(r);
  auto defaults = load("", {});
  r.cfg.node.name = defaults.cfg.node.name;
  r.cfg.source = defaults.cfg.source;
  EXPECT_EQ(render_config(r.cfg, false), render_config(defaults.cfg, false))
      << "the example's values must be the defaults";
  // Every key of the schema appears in the example.
  std::ifstream in{path};
  std::string text{std::istreambuf_iterator<char>{in}, {}};
  std::string section;
  std::istringstream rendered{render_config(defaults.cfg, false)};
  for (std::string line; std::getline(rendered, line);) {
    if (line.empty())
      continue;
    if (line[0] == '[') {
      section = line;
      EXPECT_NE(text.find(line), std::string::npos) << line;
      continue;
    }
    auto key = line.substr(0, line.find(' '));
    EXPECT_NE(text.find("\n" + key + " = "), std::string::npos)
        << section << " " << key << " is not documented in the example";
  }
}
