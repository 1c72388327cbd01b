#include "adapters/http/oauth2.hpp"

#include <fmt/format.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>

namespace mailpipe::oauth2 {

caf::expected<token> parse_token_response(std::string_view body,
                                          http::time_point now) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(body.data(), body.size()).get(doc) != simdjson::SUCCESS)
    return caf::make_error(ec::parse_error, "token response is not JSON");
  token out;
  std::string_view text;
  if (doc["access_token"].get(text) != simdjson::SUCCESS || text.empty())
    return caf::make_error(ec::parse_error,
                           "token response has no access_token");
  out.access_token = text;
  if (doc["refresh_token"].get(text) == simdjson::SUCCESS)
    out.refresh_token = text;
  int64_t expires_in = 3600;
  if (auto field = doc["expires_in"]; field.error() == simdjson::SUCCESS) {
    // Some servers send the number as a string.
    if (field.get(expires_in) != simdjson::SUCCESS) {
      if (field.get(text) != simdjson::SUCCESS)
        return caf::make_error(ec::parse_error,
                               "token response: expires_in is not a number");
      try {
        expires_in = std::stoll(std::string{text});
      } catch (...) {
        return caf::make_error(ec::parse_error,
                               "token response: expires_in is not a number");
      }
    }
  }
  if (expires_in < 0)
    expires_in = 0;
  out.expires_at = now + std::chrono::seconds{expires_in};
  return out;
}

caf::expected<token> refresh(http::client& client, const endpoint& ep,
                             std::string_view refresh_token,
                             http::time_point now) {
  if (refresh_token.empty())
    return caf::make_error(ec::auth_failed, "no refresh token stored");
  std::vector<std::pair<std::string, std::string>> form{
      {"grant_type", "refresh_token"},
      {"client_id", ep.client_id},
      {"client_secret", ep.client_secret},
      {"refresh_token", std::string{refresh_token}},
  };
  if (!ep.scope.empty())
    form.emplace_back("scope", ep.scope);
  http::request req;
  req.method = "POST";
  req.url = ep.token_url;
  req.timeout = ep.timeout;
  req.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                 {"Accept", "application/json"}};
  req.body = http::form_encode(form);
  auto resp = client.perform(req);
  if (!resp)
    return std::move(resp.error());
  auto what = fmt::format("token refresh at {}", http::origin_of(ep.token_url));
  if (auto err = http::classify_response(*resp, what, now))
    return err;
  auto tok = parse_token_response(resp->body, now);
  if (!tok)
    return caf::make_error(ec::parse_error,
                           fmt::format("{}: {}", what, render(tok.error())));
  return tok;
}

// -- token_cache --------------------------------------------------------------

token_cache::token_cache(endpoint ep, std::string refresh_token,
                         duration margin)
    : ep_(std::move(ep)), granted_(refresh_token),
      refresh_token_(std::move(refresh_token)), margin_(margin) {}

caf::expected<std::string> token_cache::access_token(http::client& client,
                                                     http::time_point now) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!access_token_.empty() && now + margin_ < expires_at_)
    return access_token_;
  auto from = refresh_token();
  auto tok = refresh(client, ep_, from, now);
  if (!tok) {
    access_token_.clear();
    return std::move(tok.error());
  }
  ++refreshes_;
  access_token_ = std::move(tok->access_token);
  expires_at_ = tok->expires_at;
  if (!tok->refresh_token.empty() && tok->refresh_token != from) {
    {
      std::lock_guard<std::mutex> rt_guard{refresh_token_mtx_};
      refresh_token_ = tok->refresh_token;
    }
    spdlog::info("oauth2: {} rotated the refresh token",
                 http::origin_of(ep_.token_url));
    if (on_rotate)
      on_rotate(from, tok->refresh_token);
  }
  return access_token_;
}

void token_cache::invalidate() {
  std::lock_guard<std::mutex> guard{mtx_};
  access_token_.clear();
}

std::string token_cache::refresh_token() const {
  std::lock_guard<std::mutex> guard{refresh_token_mtx_};
  return refresh_token_;
}

size_t token_cache::refreshes() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return refreshes_;
}

// -- call_with_auth -----------------------------------------------------------

caf::expected<http::response> call_with_auth(http::client& client,
                                             token_cache& tokens,
                                             http::request req,
                                             const http::clock_fn& clock) {
  auto base_headers = req.headers;
  for (int attempt = 1;; ++attempt) {
    auto tok = tokens.access_token(client, clock());
    if (!tok)
      return std::move(tok.error());
    req.headers = base_headers;
    req.headers.push_back({"Authorization", "Bearer " + *tok});
    auto resp = client.perform(req);
    if (!resp || resp->status != 401)
      return resp;
    tokens.invalidate();
    if (attempt == 2)
      return http::classify_response(
          *resp,
          fmt::format("{} {} (after a token refresh)", req.method,
                      http::origin_of(req.url)),
          clock());
    spdlog::debug("oauth2: 401 from {}, refreshing the access token",
                  http::origin_of(req.url));
  }
}

} // namespace mailpipe::oauth2
