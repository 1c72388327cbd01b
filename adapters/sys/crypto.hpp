#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include <caf/expected.hpp>

#include "config/config.hpp"
#include "messages/error.hpp"

namespace mailpipe::crypto {

/// Bytes of an AES-256 key.
inline constexpr size_t key_size = 32;

/// Bytes of the random GCM nonce that starts every sealed value.
inline constexpr size_t nonce_size = 12;

/// Bytes of the GCM tag that ends every sealed value.
inline constexpr size_t tag_size = 16;

/// Standard base64 (RFC 4648 section 4) with padding.
std::string base64_encode(std::string_view bytes);

/// Decodes standard or URL-safe base64, padding optional, surrounding
/// whitespace ignored; ec::invalid_argument for anything else.
caf::expected<std::string> base64_decode(std::string_view text);

/// The SHA-256 digest of `bytes` in lower-case hex.
std::string sha256_hex(std::string_view bytes);

/// Whether a presented secret (a bearer token, a push token) equals the
/// configured one, in time that does not depend on where they differ; false
/// when the configured one is empty.
bool same_secret(std::string_view presented, std::string_view configured);

/// A fresh random 256-bit key from OpenSSL's CSPRNG, base64-encoded (for
/// `mailpipe` to print).
caf::expected<std::string> generate_key();

/// Encrypts and decrypts stored secrets (OAuth tokens, passwords) with
/// AES-256-GCM. A sealed value is `nonce (12 bytes) || ciphertext || tag (16
/// bytes)`; the optional associated data (e.g.
/// "email_accounts:42:refresh_token") binds it to its place, so a value copied
/// into another row does not open.
class secret_box {
public:
  /// Takes a key of exactly `key_size` bytes; ec::invalid_config otherwise.
  static caf::expected<secret_box> from_key(std::string_view key);

  /// Decodes a base64 key; ec::invalid_config if it is not 32 bytes of base64.
  static caf::expected<secret_box> from_base64(std::string_view key_b64);

  /// Loads the key from the variable `cfg.key_env` or, when unset, the file
  /// `cfg.key_file`; ec::invalid_config names where it looked (never the key).
  static caf::expected<secret_box> load(const crypto_config& cfg,
                                        const env_lookup& env = process_env());

  /// Encrypts `plaintext` under a fresh random nonce.
  caf::expected<std::string> seal(std::string_view plaintext,
                                  std::string_view associated_data = {}) const;

  /// Decrypts a sealed value; ec::parse_error when it is too short,
  /// ec::auth_failed when the key is wrong or the data (or associated data) was
  /// altered.
  caf::expected<std::string> open(std::string_view sealed,
                                  std::string_view associated_data = {}) const;

  /// Wipes the key from memory.
  ~secret_box();
  secret_box(const secret_box&) = default;
  secret_box& operator=(const secret_box&) = default;

private:
  secret_box() = default;
  std::array<unsigned char, key_size> key_{};
};

} // namespace mailpipe::crypto
