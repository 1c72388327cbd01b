#include "adapters/sys/crypto.hpp"

#include <cstdio>
#include <fstream>
#include <map>

#include <unistd.h>

#include <gtest/gtest.h>

using namespace mailpipe;
using namespace mailpipe::crypto;

namespace {

secret_box make_box() {
  auto key = generate_key();
  EXPECT_TRUE(key);
  auto box = secret_box::from_base64(*key);
  EXPECT_TRUE(box) << render(box.error());
  return *box;
}

env_lookup fake_env(std::map<std::string, std::string> vars) {
  return [vars](std::string_view name) -> std::optional<std::string> {
    auto i = vars.find(std::string{name});
    if (i == vars.end())
      return std::nullopt;
    return i->second;
  };
}

} // namespace

TEST(crypto, base64_round_trip_and_rfc4648_vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(*base64_decode("Zm9vYg=="), "foob");
  EXPECT_EQ(*base64_decode("Zm9vYg\n"), "foob");
  EXPECT_EQ(*base64_decode("-_8"), "\xfb\xff");
  std::string all;
  for (int i = 0; i < 256; ++i)
    all += static_cast<char>(i);
  EXPECT_EQ(*base64_decode(base64_encode(all)), all);
  EXPECT_FALSE(base64_decode("Zm9v!"));
  EXPECT_FALSE(base64_decode("Z"));
}

TEST(crypto, generated_keys_are_32_random_bytes) {
  auto a = generate_key();
  auto b = generate_key();
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
  EXPECT_EQ(base64_decode(*a)->size(), key_size);
}

TEST(crypto, round_trip) {
  auto box = make_box();
  for (std::string secret : {std::string{}, std::string{"1//0refresh-token"},
                             std::string(10000, 'z')}) {
    auto sealed = box.seal(secret);
    ASSERT_TRUE(sealed);
    EXPECT_EQ(sealed->size(), nonce_size + secret.size() + tag_size);
    if (!secret.empty())
      EXPECT_EQ(sealed->find(secret), std::string::npos);
    auto opened = box.open(*sealed);
    ASSERT_TRUE(opened) << render(opened.error());
    EXPECT_EQ(*opened, secret);
  }
}

TEST(crypto, nonces_differ_between_seals) {
  auto box = make_box();
  auto a = box.seal("same");
  auto b = box.seal("same");
  EXPECT_NE(a->substr(0, nonce_size), b->substr(0, nonce_size));
  EXPECT_NE(*a, *b);
}

TEST(crypto, tampering_is_detected) {
  auto box = make_box();
  auto sealed = *box.seal("access-token-value");
  for (size_t i = 0; i < sealed.size(); ++i) {
    auto bad = sealed;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    auto opened = box.open(bad);
    ASSERT_FALSE(opened) << "byte " << i;
    EXPECT_TRUE(is(opened.error(), ec::auth_failed));
  }
  auto truncated = box.open(sealed.substr(0, sealed.size() - 1));
  EXPECT_FALSE(truncated);
  auto tiny = box.open("short");
  ASSERT_FALSE(tiny);
  EXPECT_TRUE(is(tiny.error(), ec::parse_error));
}

TEST(crypto, wrong_key_is_refused_without_leaking) {
  auto box = make_box();
  auto other = make_box();
  auto sealed = *box.seal("secret-value");
  auto opened = other.open(sealed);
  ASSERT_FALSE(opened);
  EXPECT_TRUE(is(opened.error(), ec::auth_failed));
  EXPECT_EQ(render(opened.error()).find("secret-value"), std::string::npos);
}

TEST(crypto, associated_data_binds_the_value_to_its_row) {
  auto box = make_box();
  auto sealed = *box.seal("tok", "email_accounts:1:refresh_token");
  EXPECT_EQ(*box.open(sealed, "email_accounts:1:refresh_token"), "tok");
  auto moved = box.open(sealed, "email_accounts:2:refresh_token");
  ASSERT_FALSE(moved);
  EXPECT_TRUE(is(moved.error(), ec::auth_failed));
}

TEST(crypto, bad_keys_are_config_errors) {
  EXPECT_FALSE(secret_box::from_base64("not base64!"));
  auto short_key = secret_box::from_base64(base64_encode("only sixteen byt"));
  ASSERT_FALSE(short_key);
  EXPECT_TRUE(is(short_key.error(), ec::invalid_config));
}

TEST(crypto, loads_key_from_environment_then_file) {
  auto key = *generate_key();
  crypto_config cfg;
  auto sealed = *secret_box::from_base64(key)->seal("x");
  auto from_env =
      secret_box::load(cfg, fake_env({{"MAILPIPE_SECRET_KEY", key}}));
  ASSERT_TRUE(from_env) << render(from_env.error());
  EXPECT_EQ(*from_env->open(sealed), "x");

  auto missing = secret_box::load(cfg, fake_env({}));
  ASSERT_FALSE(missing);
  EXPECT_TRUE(is(missing.error(), ec::invalid_config));
  EXPECT_NE(render(missing.error()).find("MAILPIPE_SECRET_KEY"),
            std::string::npos);

  auto bad_env =
      secret_box::load(cfg, fake_env({{"MAILPIPE_SECRET_KEY", "abc"}}));
  ASSERT_FALSE(bad_env);
  EXPECT_NE(render(bad_env.error()).find("MAILPIPE_SECRET_KEY"),
            std::string::npos);
  EXPECT_EQ(render(bad_env.error()).find("abc"), std::string::npos);

  char path[] = "/tmp/mailpipe-key-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ::close(fd);
  { std::ofstream{path} << key << "\n"; }
  cfg.key_file = path;
  auto from_file = secret_box::load(cfg, fake_env({}));
  ASSERT_TRUE(from_file) << render(from_file.error());
  EXPECT_EQ(*from_file->open(sealed), "x");
  { std::ofstream{path} << "garbage"; }
  auto bad_file = secret_box::load(cfg, fake_env({}));
  ASSERT_FALSE(bad_file);
  EXPECT_NE(render(bad_file.error()).find(path), std::string::npos);
  std::remove(path);
  auto gone = secret_box::load(cfg, fake_env({}));
  EXPECT_FALSE(gone);
}
