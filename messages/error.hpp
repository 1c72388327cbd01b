#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <caf/error.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

namespace mailpipe {

/// The project's error codes; every adapter turns its exceptions into one of
/// these.
enum class ec : uint8_t {
  /// Not an error.
  none = 0,
  /// Something went wrong that has no better code.
  unspecified,
  /// The config file or a command-line value is invalid.
  invalid_config,
  /// An argument or an input value is invalid.
  invalid_argument,
  /// PostgreSQL cannot be reached.
  database_unavailable,
  /// PostgreSQL answered with an error.
  database_error,
  /// A migration failed; it was rolled back.
  migration_failed,
  /// The server refused the credentials (IMAP NO on LOGIN, OAuth2
  /// invalid_grant, HTTP 401).
  auth_failed,
  /// A command or a connection did not complete in time.
  timeout,
  /// DNS, TCP or TLS failure, or a connection closed by the peer.
  network,
  /// The TLS handshake failed or the certificate was refused.
  tls_failed,
  /// A folder or mailbox does not exist or cannot be selected.
  mailbox_not_found,
  /// The account is over its storage or bandwidth quota.
  quota_exceeded,
  /// The service asked us to slow down (HTTP 429, IMAP [LIMIT] / THROTTLED).
  rate_limited,
  /// Input could not be parsed (a server response, a message, JSON).
  parse_error,
  /// The peer broke the protocol (unexpected response).
  protocol_error,
  /// A remote service failed on its side (HTTP 5xx, IMAP BYE / [UNAVAILABLE]).
  service_unavailable,
  /// A looked-up object does not exist.
  not_found,
  /// The node is shutting down.
  shutting_down,
  /// The work asked for is already in progress (a run while another one runs).
  busy,
  /// Not a failure: the call cannot go on yet (a rate-limit wait, a retry
  /// after a failure); the caller tries again after the delay the adapter
  /// names (`api_session::retry_in`).
  retry_later,
  /// What was to be created exists already (a test token in use).
  already_exists,
};

/// The failure classes of an account (DESIGN.md), as stored in
/// `email_account_failures`.
enum class failure_class : uint8_t {
  auth,
  timeout,
  network,
  mailbox,
  quota,
  rate_limited,
  parse,
  other,
};

/// Returns the stable name of an error code, e.g. `"auth_failed"`.
std::string to_string(ec x);

/// Returns the stable name of a failure class, e.g. `"rate_limited"`.
std::string to_string(failure_class x);

/// Maps an error code to the failure class an account supervisor records.
failure_class classify(ec x);

/// Maps any error to a failure class; errors of other categories are `other`.
failure_class classify(const caf::error& err);

/// Renders an error as one human-readable line without needing an actor system:
/// `"auth_failed: LOGIN refused: [AUTHENTICATIONFAILED] ..."`.
std::string render(const caf::error& err);

/// Returns true if `err` carries the given project error code.
bool is(const caf::error& err, ec code);

} // namespace mailpipe

CAF_ERROR_CODE_ENUM(mailpipe::ec, "mailpipe")
