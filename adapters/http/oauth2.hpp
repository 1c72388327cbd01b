#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include <caf/expected.hpp>

#include "adapters/http/client.hpp"

namespace mailpipe::oauth2 {

/// Where and as whom the refresh-token grant is made.
struct endpoint {
  /// The token endpoint, e.g. https://oauth2.googleapis.com/token.
  std::string token_url;
  /// OAuth2 client id.
  std::string client_id;
  /// OAuth2 client secret (never logged).
  std::string client_secret;
  /// Space-separated scopes to ask for; "" to keep the grant's (Microsoft
  /// accepts both).
  std::string scope;
  /// Time limit of the token request.
  duration timeout = std::chrono::seconds{30};
};

/// An access token as the token endpoint hands it out.
struct token {
  /// The bearer token.
  std::string access_token;
  /// A new refresh token when the server rotated it, else "".
  std::string refresh_token;
  /// When the access token stops working.
  http::time_point expires_at;
};

/// Parses a token response (RFC 6749 section 5.1) received at `now`;
/// ec::parse_error when it is not JSON or lacks `access_token`. A missing
/// `expires_in` counts as one hour.
caf::expected<token> parse_token_response(std::string_view body,
                                          http::time_point now);

/// Makes the refresh-token grant (RFC 6749 section 6): POSTs grant_type,
/// client_id, client_secret and refresh_token as a form. `invalid_grant`
/// (revoked or expired grant) and `invalid_client` are ec::auth_failed; other
/// failures as `classify_response` says.
caf::expected<token> refresh(http::client& client, const endpoint& ep,
                             std::string_view refresh_token,
                             http::time_point now);

/// The access token of one account: handed out from memory until `margin`
/// before it expires, then refreshed. Thread-safe.
class token_cache {
public:
  /// A cache for the grant `refresh_token` (decrypted) at `ep`.
  token_cache(endpoint ep, std::string refresh_token,
              duration margin = std::chrono::seconds{60});

  /// The cached access token, or a fresh one when none is cached or it expires
  /// within the margin at `now`.
  caf::expected<std::string> access_token(http::client& client,
                                          http::time_point now);

  /// Forgets the access token (after the server refused it with 401).
  void invalidate();

  /// The current refresh token (rotated ones replace the original); never
  /// waits for a refresh in progress.
  std::string refresh_token() const;

  /// The refresh token the cache was made with.
  const std::string& granted() const { return granted_; }

  /// How many refresh grants were made so far.
  size_t refreshes() const;

  /// Called with the refresh token it replaces and the new one when the
  /// server rotates it, so the caller can store the new one (encrypted); may
  /// be empty. Runs on the thread that asked for the access token.
  std::function<void(const std::string& from, const std::string& to)> on_rotate;

private:
  mutable std::mutex mtx_; // held through a refresh
  endpoint ep_;
  const std::string granted_;
  mutable std::mutex refresh_token_mtx_; // held only to copy or replace it
  std::string refresh_token_;
  duration margin_;
  std::string access_token_;
  http::time_point expires_at_;
  size_t refreshes_ = 0;
};

/// Sends `req` with `Authorization: Bearer <token>`. On a 401 it refreshes the
/// token once and sends again; a second 401 is ec::auth_failed. Any other
/// response, whatever its status, is handed back as it is.
caf::expected<http::response> call_with_auth(http::client& client,
                                             token_cache& tokens,
                                             http::request req,
                                             const http::clock_fn& clock);

} // namespace mailpipe::oauth2
