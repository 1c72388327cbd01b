#include "adapters/http/api_session.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "adapters/mail/text.hpp"

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
                         http::clock_fn clock)
    : opts_(std::move(opts)), origin_(http::origin_of(opts_.api_url)),
      client_(client), tokens_(tokens), limiter_(limiter),
      clock_(std::move(clock)) {}

caf::error api_session::later(const std::string& url, duration d,
                              caf::error cause) {
  waiting_ = url;
  next_try_ = clock_() + d;
  retry_in_ = d;
  waited_ += d;
  cause_ = std::move(cause);
  return caf::make_error(
      ec::retry_later,
      fmt::format("{}: try again in {}ms", render(cause_), d.count()));
}

caf::expected<http::response>
api_session::send(const std::string& url,
                  std::vector<http::header_field> headers,
                  std::initializer_list<long> pass) {
  http::request req;
  req.url = url;
  req.timeout = opts_.timeout;
  req.headers = std::move(headers);
  bool accepts =
      std::any_of(req.headers.begin(), req.headers.end(),
                  [](auto& h) { return text::iequals(h.name, "Accept"); });
  if (!accepts)
    req.headers.push_back({"Accept", "application/json"});
  auto resp = oauth2::call_with_auth(client_, tokens_, req, clock_);
  if (!resp)
    return std::move(resp.error());
  if (resp->ok()
      || std::find(pass.begin(), pass.end(), resp->status) != pass.end())
    return resp;
  return http::classify_response(*resp, describe(url), clock_());
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
  if (auto known = answered_.find(url);
      !waiting_.empty() && url != waiting_ && known != answered_.end())
    return known->second; // a re-run catching up to the call that waited
  auto now = clock_();
  if (now < next_try_) {
    retry_in_ = std::chrono::duration_cast<duration>(next_try_ - now);
    return caf::make_error(ec::retry_later, "called before its retry time");
  }
  if (limiter_ && reserved_ != url) {
    reserved_ = url;
    auto wait = limiter_->reserve(opts_.user_key, cost, now);
    if (wait.count() > 0)
      return later(url, wait,
                   caf::make_error(ec::rate_limited,
                                   "the per-user request budget "
                                   "is spent"));
  }
  reserved_.clear();
  waiting_.clear();
  auto resp = send(url, std::move(headers), pass);
  if (resp) {
    attempts_.erase(url);
    answered_.insert_or_assign(url, *resp);
    return resp;
  }
  auto attempt = ++attempts_[url];
  auto delay = http::retry_delay(resp.error(), attempt, opts_.retry);
  if (!delay) {
    attempts_.erase(url);
    return std::move(resp.error());
  }
  ++retries_;
  spdlog::warn("{}: {}; attempt {} in {}ms", opts_.user_key,
               render(resp.error()), attempt + 1, delay->count());
  return later(url, *delay, std::move(resp.error()));
}

} // namespace mailpipe
