#include "adapters/sys/crypto.hpp"
#include "adapters/mail/text.hpp"

#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <sstream>

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

namespace mailpipe::crypto {

namespace {

using ctx_ptr = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

ctx_ptr make_ctx() {
  return ctx_ptr{EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free};
}

const unsigned char* bytes(std::string_view x) {
  return reinterpret_cast<const unsigned char*>(x.data());
}

unsigned char* bytes(std::string& x) {
  return reinterpret_cast<unsigned char*>(x.data());
}

} // namespace

// -- base64 -------------------------------------------------------------------

std::string base64_encode(std::string_view in) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    uint32_t v =
        (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += alphabet[v >> 18];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  if (auto rest = in.size() - i; rest > 0) {
    uint32_t v = uint8_t(in[i]) << 16;
    if (rest == 2)
      v |= uint8_t(in[i + 1]) << 8;
    out += alphabet[v >> 18];
    out += alphabet[(v >> 12) & 63];
    out += rest == 2 ? alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

caf::expected<std::string> base64_decode(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
    text.remove_suffix(1);
  while (!text.empty()
         && std::isspace(static_cast<unsigned char>(text.front())))
    text.remove_prefix(1);
  while (!text.empty() && text.back() == '=')
    text.remove_suffix(1);
  if (text.size() % 4 == 1)
    return caf::make_error(ec::invalid_argument, "base64: bad length");
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    auto v = text::base64_value(c, true);
    if (v < 0)
      return caf::make_error(ec::invalid_argument, "base64: invalid character");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

caf::expected<std::string> generate_key() {
  std::string key(key_size, '\0');
  if (RAND_bytes(bytes(key), static_cast<int>(key.size())) != 1)
    return caf::make_error(ec::unspecified, "RAND_bytes failed");
  auto out = base64_encode(key);
  OPENSSL_cleanse(key.data(), key.size());
  return out;
}

// -- secret_box ---------------------------------------------------------------

secret_box::~secret_box() {
  OPENSSL_cleanse(key_.data(), key_.size());
}

caf::expected<secret_box> secret_box::from_key(std::string_view key) {
  if (key.size() != key_size)
    return caf::make_error(ec::invalid_config,
                           fmt::format("secret key must be {} bytes, got {}",
                                       key_size, key.size()));
  secret_box box;
  std::copy(key.begin(), key.end(), box.key_.begin());
  return box;
}

caf::expected<secret_box> secret_box::from_base64(std::string_view key_b64) {
  auto raw = base64_decode(key_b64);
  if (!raw)
    return caf::make_error(ec::invalid_config,
                           "secret key is not valid base64");
  auto box = from_key(*raw);
  OPENSSL_cleanse(raw->data(), raw->size());
  return box;
}

caf::expected<secret_box> secret_box::load(const crypto_config& cfg,
                                           const env_lookup& env) {
  if (!cfg.key_env.empty())
    if (auto value = env(cfg.key_env); value && !value->empty()) {
      auto box = from_base64(*value);
      if (!box)
        return caf::make_error(ec::invalid_config,
                               fmt::format("environment variable {}: {}",
                                           cfg.key_env, render(box.error())));
      return box;
    }
  if (cfg.key_file.empty())
    return caf::make_error(
        ec::invalid_config,
        fmt::format("no secret key: set the environment variable {} or "
                    "crypto.key_file (make one with `openssl rand -base64 32`)",
                    cfg.key_env.empty() ? "(crypto.key_env is empty)"
                                        : cfg.key_env));
  std::ifstream in{cfg.key_file, std::ios::binary};
  if (!in)
    return caf::make_error(
        ec::invalid_config,
        fmt::format("crypto.key_file {}: cannot read", cfg.key_file));
  struct stat st;
  if (::stat(cfg.key_file.c_str(), &st) == 0 && (st.st_mode & 077) != 0)
    spdlog::warn(
        "crypto.key_file {} is readable by group or others; chmod 600 it",
        cfg.key_file);
  std::stringstream buf;
  buf << in.rdbuf();
  auto text = buf.str();
  auto box = from_base64(text);
  OPENSSL_cleanse(text.data(), text.size());
  if (!box)
    return caf::make_error(ec::invalid_config,
                           fmt::format("crypto.key_file {}: {}", cfg.key_file,
                                       render(box.error())));
  return box;
}

caf::expected<std::string> secret_box::seal(std::string_view plaintext,
                                            std::string_view aad) const {
  std::string out(nonce_size + plaintext.size() + tag_size, '\0');
  auto* nonce = bytes(out);
  if (RAND_bytes(nonce, nonce_size) != 1)
    return caf::make_error(ec::unspecified, "RAND_bytes failed");
  auto ctx = make_ctx();
  int len = 0;
  if (!ctx
      || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr,
                            nullptr)
             != 1
      || EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, nonce_size,
                             nullptr)
             != 1
      || EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, key_.data(), nonce)
             != 1
      || (!aad.empty()
          && EVP_EncryptUpdate(ctx.get(), nullptr, &len, bytes(aad),
                               static_cast<int>(aad.size()))
                 != 1)
      || EVP_EncryptUpdate(ctx.get(), nonce + nonce_size, &len,
                           bytes(plaintext), static_cast<int>(plaintext.size()))
             != 1
      || EVP_EncryptFinal_ex(ctx.get(), nonce + nonce_size + len, &len) != 1
      || EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, tag_size,
                             nonce + nonce_size + plaintext.size())
             != 1)
    return caf::make_error(ec::unspecified, "AES-256-GCM encryption failed");
  return out;
}

caf::expected<std::string> secret_box::open(std::string_view sealed,
                                            std::string_view aad) const {
  if (sealed.size() < nonce_size + tag_size)
    return caf::make_error(
        ec::parse_error,
        fmt::format("sealed secret too short ({} bytes)", sealed.size()));
  auto nonce = sealed.substr(0, nonce_size);
  auto body = sealed.substr(nonce_size, sealed.size() - nonce_size - tag_size);
  std::string tag{sealed.substr(sealed.size() - tag_size)};
  std::string out(body.size(), '\0');
  auto ctx = make_ctx();
  int len = 0;
  if (!ctx
      || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr,
                            nullptr)
             != 1
      || EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, nonce_size,
                             nullptr)
             != 1
      || EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, key_.data(),
                            bytes(nonce))
             != 1
      || (!aad.empty()
          && EVP_DecryptUpdate(ctx.get(), nullptr, &len, bytes(aad),
                               static_cast<int>(aad.size()))
                 != 1)
      || EVP_DecryptUpdate(ctx.get(), bytes(out), &len, bytes(body),
                           static_cast<int>(body.size()))
             != 1
      || EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, tag_size,
                             tag.data())
             != 1)
    return caf::make_error(ec::unspecified, "AES-256-GCM setup failed");
  int final_len = 0;
  if (EVP_DecryptFinal_ex(ctx.get(), bytes(out) + len, &final_len) != 1) {
    OPENSSL_cleanse(out.data(), out.size());
    return caf::make_error(ec::auth_failed,
                           "sealed secret does not open: wrong key, or the "
                           "data was altered");
  }
  return out;
}

std::string sha256_hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &len, EVP_sha256(), nullptr);
  std::string out;
  for (unsigned i = 0; i < len; ++i)
    out += fmt::format("{:02x}", digest[i]);
  return out;
}

bool same_secret(std::string_view presented, std::string_view configured) {
  if (configured.empty() || presented.size() != configured.size())
    return false;
  return CRYPTO_memcmp(presented.data(), configured.data(), configured.size())
         == 0;
}

} // namespace mailpipe::crypto
