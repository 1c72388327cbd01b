#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "adapters/mail/headers.hpp"
#include "adapters/mail/text.hpp"
#include "config/config.hpp"
#include "config/mask.hpp"
#include "messages/clock.hpp"
#include "messages/error.hpp"

namespace mailpipe::http {

/// Wall-clock time as every HTTP adapter sees it (injected, so tests need no
/// sleeps).
using time_point = wall_time;

/// Returns the current time; `system_clock::now` in production, a fake in
/// tests.
using clock_fn = mailpipe::clock_fn;

/// The real clock.
clock_fn system_clock();

// -- requests and responses ---------------------------------------------------

/// One HTTP header as sent or received.
using header_field = owned_header_field;

/// An HTTP request for `client::perform`.
struct request {
  /// GET, POST, PATCH, PUT or DELETE.
  std::string method = "GET";
  /// Absolute http:// or https:// URL, query included.
  std::string url;
  /// Extra request headers.
  std::vector<header_field> headers;
  /// Request body; sent for every method but GET when non-empty or method is
  /// POST.
  std::string body;
  /// Time limit of the whole exchange (CURLOPT_TIMEOUT_MS).
  duration timeout = std::chrono::seconds{30};
  /// Time limit of TCP + TLS connect (CURLOPT_CONNECTTIMEOUT_MS).
  duration connect_timeout = std::chrono::seconds{10};
};

/// An HTTP response, whatever its status.
struct response {
  /// The status code of the final response.
  long status = 0;
  /// Response headers in arrival order (of the final response only).
  std::vector<header_field> headers;
  /// The body as received.
  std::string body;

  /// Returns the first header named `name` (case-insensitive), or nullopt.
  std::optional<std::string_view> header(std::string_view name) const;

  /// True for a 2xx status.
  bool ok() const { return status >= 200 && status < 300; }
};

/// A blocking HTTP client on one libcurl easy handle (connections are kept
/// alive between calls). Not thread-safe: one per detached actor or worker.
class client {
public:
  /// Creates the handle; `max_body_bytes` bounds what a response may hold.
  explicit client(size_t max_body_bytes = 64 * 1024 * 1024);
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  /// Sends `req` and waits for the response. Transport failures become
  /// ec::timeout, ec::network or ec::tls_failed; any HTTP status is a response.
  caf::expected<response> perform(const request& req);

private:
  void* handle_;
  size_t max_body_bytes_;
};

// -- error classification -----------------------------------------------------

/// What an error body of Google, Microsoft or an OAuth2 server says.
struct api_error {
  /// `error.code` (Google: the number as text; Graph: e.g. "TooManyRequests")
  /// or the OAuth2 `error`.
  std::string code;
  /// `error.message` or the OAuth2 `error_description`.
  std::string message;
  /// Google's `error.errors[].reason` values, e.g. "rateLimitExceeded".
  std::vector<std::string> reasons;
};

/// Parses an error body; empty fields when the body is not one of the known
/// shapes.
api_error parse_api_error(std::string_view body);

/// Parses a Retry-After value (delay-seconds or an HTTP-date) relative to
/// `now`; nullopt when malformed, zero for a date in the past.
std::optional<duration> parse_retry_after(std::string_view value,
                                          time_point now);

/// Maps a response to a project error; a default (no) error for 1xx-3xx.
/// 401 -> auth_failed, 403 by reason -> rate_limited / quota_exceeded /
/// auth_failed, 404 and 410 -> not_found, 408 -> timeout, 429 -> rate_limited,
/// 507 -> quota_exceeded, other 5xx -> service_unavailable, other 4xx ->
/// protocol_error. The context holds `what`, the status and the server's
/// message (secrets masked) and, when the server sent Retry-After, a second
/// element: the delay as `caf::timespan`.
caf::error classify_response(const response& resp, std::string_view what,
                             time_point now);

/// The Retry-After delay an error from `classify_response` carries, if any.
std::optional<duration> retry_after(const caf::error& err);

using mailpipe::mask_secrets;

// -- retrying -----------------------------------------------------------------

/// When a failed call is tried again.
struct retry_policy {
  /// Attempts in all, the first included.
  int max_attempts = 3;
  /// A Retry-After longer than this is not waited for: the error goes to the
  /// caller.
  duration max_wait = std::chrono::seconds{60};
  /// Delay before the second attempt when the server named none; doubles after.
  duration backoff = std::chrono::seconds{1};
};

/// The delay before attempt `attempt + 1` after `err` (attempts count from 1),
/// or nullopt when the error is final: only rate_limited, service_unavailable,
/// timeout and network are retried; Retry-After is obeyed when the server sent
/// it.
std::optional<duration> retry_delay(const caf::error& err, int attempt,
                                    const retry_policy& policy);

/// ASCII case-insensitive equality (header names).
using text::iequals;

// -- URLs ---------------------------------------------------------------------

/// Percent-encodes everything but RFC 3986 unreserved characters.
std::string url_encode(std::string_view text);

/// Builds `a=1&b=2` with both sides percent-encoded.
std::string
form_encode(const std::vector<std::pair<std::string, std::string>>& fields);

/// Returns `scheme://host[:port]` of a URL (lower-cased), "" when it is not
/// absolute.
std::string origin_of(std::string_view url);

} // namespace mailpipe::http
