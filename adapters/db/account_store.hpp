#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <caf/expected.hpp>
#include <pqxx/connection>

#include "adapters/sys/crypto.hpp"
#include "messages/types.hpp"

namespace mailpipe::db {

/// What `mailpipe account add` (and imports) know of a new seed account.
struct account_spec {
  /// The mailbox address (unique).
  std::string email;
  /// Which adapter reads it.
  provider kind = provider::imap;
  /// IMAP only: server, port, and "tls", "starttls" or "plain".
  std::string imap_host;
  int imap_port = 993;
  std::string imap_security = "tls";
  /// Login name; "" means the address.
  std::string username;
  /// "password", "xoauth2" (IMAP with an OAuth2 token) or "oauth2" (Gmail API, Graph).
  std::string auth_method = "password";
};

/// Inserts an account and its secret (password or OAuth2 refresh token), sealed with
/// AES-256-GCM and bound to the row; returns the new id. The plaintext never reaches the
/// database or a log.
caf::expected<int64_t> add_account(pqxx::connection& conn, const account_spec& spec,
                                   const std::string& secret,
                                   const crypto::secret_box& box);

/// Replaces an account's secret (e.g. a refresh token the provider rotated).
caf::error store_secret(pqxx::connection& conn, int64_t account_id,
                        const std::string& secret, const crypto::secret_box& box);

/// Opens an account's secret; `ec::not_found` when the account or its secret is missing,
/// `ec::auth_failed` when the key is wrong or the stored bytes were altered or moved.
caf::expected<std::string> load_secret(pqxx::connection& conn, int64_t account_id,
                                       const crypto::secret_box& box);

} // namespace mailpipe::db
