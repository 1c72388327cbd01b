#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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
/// database or a log. A duplicate address is `ec::invalid_argument` naming it.
caf::expected<int64_t> add_account(pqxx::connection& conn,
                                   const account_spec& spec,
                                   const std::string& secret,
                                   const crypto::secret_box& box);

/// Replaces an account's secret with `to`, a refresh token its provider
/// rotated, only while the stored one is one of `from` (the tokens its reader
/// started from): a token the operator stored meanwhile, or a newer rotation,
/// is never overwritten by an older chain. True when it replaced it.
caf::expected<bool> replace_secret(pqxx::connection& conn, int64_t account_id,
                                   const std::vector<std::string>& from,
                                   const std::string& to,
                                   const crypto::secret_box& box);

/// Opens an account's secret; `ec::not_found` when the account or its secret is missing,
/// `ec::auth_failed` when the key is wrong or the stored bytes were altered or moved.
caf::expected<std::string> load_secret(pqxx::connection& conn,
                                       int64_t account_id,
                                       const crypto::secret_box& box);

/// One account of an import, with the line of the file it came from.
struct account_import {
  /// The line that defined it (for the error message).
  int64_t line = 0;
  /// The account.
  account_spec spec;
  /// Its secret, already read from the environment.
  std::string secret;
};

/// Inserts every account in one transaction: on the first bad one nothing is added and
/// the error names its line. Returns the new ids in order.
caf::expected<std::vector<int64_t>>
import_accounts(pqxx::connection& conn, const std::vector<account_import>& rows,
                const crypto::secret_box& box);

/// An account as `account list` and `account show` print it (never its secret).
struct account_info {
  /// Columns of `email_accounts`; times as ISO 8601 text ("" for NULL).
  int64_t id = 0;
  std::string email;
  std::string provider;
  bool active = true;
  std::string disabled_reason;
  std::string disabled_at;
  std::string imap_host;
  int imap_port = 0;
  std::string imap_security;
  std::string username;
  std::string auth_method;
  bool has_secret = false;
  /// New mail is watched for with IMAP IDLE (`account push ID on`).
  bool push = false;
  /// The node whose watch is live ("" when none).
  std::string push_watched_by;
  std::string last_processed_at;
  std::string created_at;
  /// Pending test results of the account.
  int64_t pending_tests = 0;
  /// Its `email_account_failures` record (count 0 and "" when none).
  int32_t failure_count = 0;
  std::string failure_class;
  std::string last_error;
  std::string last_failure_at;
  std::string retry_at;
  /// "disabled", "retrying" (its `retry_at` has not passed) or "active".
  std::string state;
};

/// The SQL expression of an account's state over `email_accounts a LEFT JOIN
/// email_account_failures f` (the one rule of `account_info::state`).
std::string_view account_state_sql();

/// Every account, by id.
caf::expected<std::vector<account_info>> list_accounts(pqxx::connection& conn);

/// One account with its failure record; `ec::not_found` for an unknown id.
caf::expected<account_info> show_account(pqxx::connection& conn,
                                         int64_t account_id);

/// The id of the active account of `provider` with address `email` (case
/// ignored); `ec::not_found` when there is none.
caf::expected<int64_t> find_active_account(pqxx::connection& conn,
                                           std::string_view provider,
                                           std::string_view email);

/// Deletes an account with its results, failures and secret; `ec::not_found` if unknown.
caf::error remove_account(pqxx::connection& conn, int64_t account_id);

} // namespace mailpipe::db
