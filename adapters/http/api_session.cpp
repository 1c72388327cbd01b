#include "adapters/http/api_session.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace mailpipe {

namespace {

// "GET https://host/path" without the query, which may be long.
std::string describe(const std::string& url) {
  auto end = url.find('?');
  return "GET " + url.substr(0, end);
}

} // namespace

api_session::api_session(api_session_options opts, http::client& client,
                         oauth2::token_cache& tokens, per_user_limiter* limiter,
                         http::clock_fn clock, http::sleep_fn sleep)
    : opts_(std::move(opts)), origin_(http::origin_of(opts_.api_url)),
      client_(client), tokens_(tokens), limiter_(limiter),
      clock_(std::move(clock)), sleep_(std::move(sleep)) {}

void api_session::wait(duration d) {
  if (d.count() <= 0)
    return;
  waited_ += d;
  sleep_(d);
}

caf::expected<http::response>
api_session::get(const std::string& url, double cost,
                 std::vector<http::header_field> headers,
                 std::initializer_list<long> pass) {
  if (origin_.empty() || http::origin_of(url) != origin_)
    return caf::make_error(ec::protocol_error,
                           fmt::format("refusing to send the token to {}: "
                                       "not the API's origin {}",
                                       http::origin_of(url), origin_));
  http::request req;
  req.url = url;
  req.timeout = opts_.timeout;
  req.headers = std::move(headers);
  req.headers.push_back({"Accept", "application/json"});
  for (int attempt = 1;; ++attempt) {
    if (limiter_)
      wait(limiter_->reserve(opts_.user_key, cost, clock_()));
    auto resp = oauth2::call_with_auth(client_, tokens_, req, clock_);
    caf::error err;
    if (!resp) {
      err = std::move(resp.error());
    } else if (resp->ok()
               || std::find(pass.begin(), pass.end(), resp->status)
                      != pass.end()) {
      return resp;
    } else {
      err = http::classify_response(*resp, describe(url), clock_());
    }
    auto delay = http::retry_delay(err, attempt, opts_.retry);
    if (!delay)
      return err;
    ++retries_;
    spdlog::warn("{}: {}; attempt {} in {}ms", opts_.user_key, render(err),
                 attempt + 1, delay->count());
    wait(*delay);
  }
}

} // namespace mailpipe
