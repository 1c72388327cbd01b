#pragma once

#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "adapters/http/client.hpp"
#include "adapters/http/oauth2.hpp"
#include "adapters/http/rate_limit.hpp"

namespace mailpipe {

/// How an `api_session` talks to one REST API on behalf of one mailbox.
struct api_session_options {
  /// Base URL of the API; every request must stay on its origin (the token goes
  /// nowhere else).
  std::string api_url;
  /// Key of the mailbox in the per-user limiter (e.g. the address).
  std::string user_key;
  /// Time limit of one request.
  duration timeout = std::chrono::seconds{30};
  /// When failed calls are tried again.
  http::retry_policy retry;
};

/// The authorized, rate-limited, retrying GET the Gmail and Graph adapters are
/// built on, for the fetch of one account in one pass. It never sleeps: when
/// the user's token bucket is empty, or a 429 / 403 rate limit / 5xx / timeout
/// is to be tried again (as the retry policy says, obeying Retry-After), `get`
/// returns `ec::retry_later` and `retry_in()` says when to call again. The
/// caller then re-runs its whole read (the adapters' reads are idempotent):
/// until the re-run reaches the call that waited, the answers this session
/// already has are replayed, not asked again, and that call goes out on its
/// reservation and its attempt count, so a re-run costs no budget and goes on
/// where it stopped.
class api_session {
public:
  /// `limiter` may be null (no per-user limit); the clock is injected for
  /// tests.
  api_session(api_session_options opts, http::client& client,
              oauth2::token_cache& tokens, per_user_limiter* limiter,
              http::clock_fn clock = http::system_clock());

  /// GETs the absolute `url` spending `cost` units of the user's budget, with
  /// `headers` (and `Accept: application/json` unless they name an Accept).
  /// Returns 2xx responses and those whose status is in `pass` (for callers
  /// that give 404 or 410 a meaning), `ec::retry_later` when the call must
  /// wait, and otherwise the error `http::classify_response` makes.
  caf::expected<http::response>
  get(const std::string& url, double cost,
      std::vector<http::header_field> headers = {},
      std::initializer_list<long> pass = {});

  /// After `ec::retry_later`: how long to wait before calling again.
  duration retry_in() const { return retry_in_; }

  /// After `ec::retry_later`: the failure the wait is for (a rate-limit wait
  /// or the error to be retried), which is the answer when the caller cannot
  /// wait that long.
  const caf::error& cause() const { return cause_; }

  /// The options this session runs with.
  const api_session_options& options() const { return opts_; }

  /// Total time asked to wait (rate limiter and retries), for status and
  /// tests.
  duration waited() const { return waited_; }

  /// How many requests were retried.
  size_t retries() const { return retries_; }

private:
  caf::error later(const std::string& url, duration d, caf::error cause);

  caf::expected<http::response> send(const std::string& url,
                                     std::vector<http::header_field> headers,
                                     std::initializer_list<long> pass);

  api_session_options opts_;
  std::string origin_;
  http::client& client_;
  oauth2::token_cache& tokens_;
  per_user_limiter* limiter_;
  http::clock_fn clock_;
  /// The answers of this session's calls, by URL (replayed on a re-run).
  std::map<std::string, http::response> answered_;
  /// The call that was told to wait ("" when none is).
  std::string waiting_;
  /// Failed attempts so far of each URL still to be answered.
  std::map<std::string, int> attempts_;
  /// The URL whose limiter reservation is taken and waited for.
  std::string reserved_;
  /// No call goes out before this time.
  wall_time next_try_{};
  duration retry_in_{0};
  caf::error cause_;
  duration waited_{0};
  size_t retries_ = 0;
};

// -- from the config ----------------------------------------------------------

/// The token endpoint of a provider section (`gmail_config` or
/// `outlook_config`, which share these key names).
template <class ProviderConfig>
oauth2::endpoint token_endpoint(const ProviderConfig& cfg) {
  return {cfg.token_url, cfg.client_id, cfg.client_secret, cfg.scope,
          cfg.request_timeout};
}

/// Session options for the mailbox `user_key` under a provider section.
template <class ProviderConfig>
api_session_options session_options(const ProviderConfig& cfg,
                                    std::string user_key) {
  api_session_options out;
  out.api_url = cfg.api_url;
  out.user_key = std::move(user_key);
  out.timeout = cfg.request_timeout;
  out.retry.max_attempts = static_cast<int>(cfg.max_attempts);
  out.retry.max_wait = cfg.max_retry_wait;
  return out;
}

} // namespace mailpipe
