#pragma once

#include <initializer_list>
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
/// built on: waits for the user's token bucket, sends with the account's bearer
/// token (refreshed once on 401), and retries 429 / 403 rate limits / 5xx /
/// timeouts as the retry policy says, obeying Retry-After. Blocking; one per
/// fetch of one account.
class api_session {
public:
  /// `limiter` may be null (no per-user limit); clock and sleeper are injected
  /// for tests.
  api_session(api_session_options opts, http::client& client,
              oauth2::token_cache& tokens, per_user_limiter* limiter,
              http::clock_fn clock = http::system_clock(),
              http::sleep_fn sleep = http::real_sleep());

  /// GETs the absolute `url` spending `cost` units of the user's budget.
  /// Returns 2xx responses and those whose status is in `pass` (for callers
  /// that give 404 or 410 a meaning); everything else becomes the error
  /// `http::classify_response` makes.
  caf::expected<http::response>
  get(const std::string& url, double cost,
      std::vector<http::header_field> headers = {},
      std::initializer_list<long> pass = {});

  /// The options this session runs with.
  const api_session_options& options() const { return opts_; }

  /// Total time spent waiting (rate limiter and retries), for status and tests.
  duration waited() const { return waited_; }

  /// How many requests were retried.
  size_t retries() const { return retries_; }

private:
  void wait(duration d);

  api_session_options opts_;
  std::string origin_;
  http::client& client_;
  oauth2::token_cache& tokens_;
  per_user_limiter* limiter_;
  http::clock_fn clock_;
  http::sleep_fn sleep_;
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
