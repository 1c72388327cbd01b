#include "config/config.hpp"

#include <gtest/gtest.h>

using namespace mailpipe;
using namespace std::chrono_literals;

namespace {

env_lookup no_env() {
  return [](std::string_view) -> std::optional<std::string> {
    return std::nullopt;
  };
}

bool has_error(const config_result& r, std::string_view key) {
  for (auto& e : r.errors)
    if (e.key == key)
      return true;
  return false;
}

} // namespace

TEST(provider_keys, defaults_follow_the_services_limits) {
  auto r = default_config(no_env());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.cfg.gmail.user_quota_per_second, 250);
  EXPECT_EQ(r.cfg.outlook.user_requests_per_second, 16);
  EXPECT_EQ(r.cfg.gmail.max_attempts, 3);
  EXPECT_EQ(r.cfg.outlook.max_retry_wait, duration{60s});
  EXPECT_EQ(r.cfg.gmail.scope, "");
  EXPECT_NE(r.cfg.outlook.scope.find("offline_access"), std::string::npos);
}

TEST(provider_keys, are_read_from_the_file) {
  auto r = load_config_string(R"(
[gmail]
request_timeout = "5s"
user_quota_per_second = 100
max_attempts = 2
max_retry_wait = "2m"
scope = "https://www.googleapis.com/auth/gmail.readonly"
[outlook]
user_requests_per_second = 4
scope = "offline_access Mail.Read"
)",
                              "t.toml", no_env());
  ASSERT_TRUE(r.ok()) << to_string(r.errors.front());
  EXPECT_EQ(r.cfg.gmail.request_timeout, duration{5s});
  EXPECT_EQ(r.cfg.gmail.user_quota_per_second, 100);
  EXPECT_EQ(r.cfg.gmail.max_attempts, 2);
  EXPECT_EQ(r.cfg.gmail.max_retry_wait, duration{120s});
  EXPECT_EQ(r.cfg.gmail.scope,
            "https://www.googleapis.com/auth/gmail.readonly");
  EXPECT_EQ(r.cfg.outlook.user_requests_per_second, 4);
  EXPECT_EQ(r.cfg.outlook.scope, "offline_access Mail.Read");
}

TEST(provider_keys, bad_values_are_named) {
  auto r = load_config_string(R"(
[gmail]
user_quota_per_second = 2
max_attempts = 0
[outlook]
user_requests_per_second = 0
request_timeout = "0s"
)",
                              "t.toml", no_env());
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(has_error(r, "gmail.user_quota_per_second"));
  EXPECT_TRUE(has_error(r, "gmail.max_attempts"));
  EXPECT_TRUE(has_error(r, "outlook.user_requests_per_second"));
  EXPECT_TRUE(has_error(r, "outlook.request_timeout"));
}

TEST(provider_keys, client_secrets_are_masked_when_shown) {
  auto r = load_config_string(R"(
[gmail]
client_secret = "GOCSPX-very-secret"
[outlook]
client_secret = "ms~secret~value"
)",
                              "t.toml", no_env());
  ASSERT_TRUE(r.ok());
  auto shown = render_config(r.cfg);
  EXPECT_EQ(shown.find("GOCSPX-very-secret"), std::string::npos);
  EXPECT_EQ(shown.find("ms~secret~value"), std::string::npos);
  EXPECT_NE(shown.find("user_quota_per_second"), std::string::npos);
}
