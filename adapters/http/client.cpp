#include "adapters/http/client.hpp"
#include "adapters/mail/text.hpp"

#include <algorithm>
#include <cctype>
#include <mutex>

#include <caf/timespan.hpp>
#include <curl/curl.h>
#include <fmt/format.h>
#include <simdjson.h>

namespace mailpipe::http {

using text::iequals;

namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// State the libcurl callbacks write into.
struct transfer {
  response* resp;
  size_t max_body;
  bool too_large = false;
};

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<transfer*>(user);
  auto len = size * n;
  if (t->resp->body.size() + len > t->max_body) {
    t->too_large = true;
    return 0; // aborts the transfer
  }
  t->resp->body.append(data, len);
  return len;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<transfer*>(user);
  auto len = size * n;
  std::string_view line{data, len};
  // A new status line (after 100 Continue or a redirect) starts a new header
  // set.
  if (line.starts_with("HTTP/")) {
    t->resp->headers.clear();
    return len;
  }
  auto colon = line.find(':');
  if (colon != std::string_view::npos)
    t->resp->headers.push_back(
        {std::string{text::trim(line.substr(0, colon))},
         std::string{text::trim(line.substr(colon + 1))}});
  return len;
}

caf::error transport_error(CURLcode rc, const char* detail,
                           const request& req) {
  auto what = fmt::format("{} {}: {}", req.method, origin_of(req.url),
                          *detail ? detail : curl_easy_strerror(rc));
  switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
      return caf::make_error(ec::timeout, std::move(what));
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
      return caf::make_error(ec::tls_failed, std::move(what));
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return caf::make_error(ec::invalid_argument, std::move(what));
    default: return caf::make_error(ec::network, std::move(what));
  }
}

} // namespace

clock_fn system_clock() {
  return [] { return std::chrono::system_clock::now(); };
}

// -- response -----------------------------------------------------------------

std::optional<std::string_view> response::header(std::string_view name) const {
  for (auto& h : headers)
    if (iequals(h.name, name))
      return std::string_view{h.value};
  return std::nullopt;
}

// -- client -------------------------------------------------------------------

client::client(size_t max_body_bytes) : max_body_bytes_(max_body_bytes) {
  global_init();
  handle_ = curl_easy_init();
}

client::~client() {
  if (handle_)
    curl_easy_cleanup(static_cast<CURL*>(handle_));
}

caf::expected<response> client::perform(const request& req) {
  auto* h = static_cast<CURL*>(handle_);
  if (!h)
    return caf::make_error(ec::network, "libcurl could not create a handle");
  if (!req.url.starts_with("http://") && !req.url.starts_with("https://"))
    return caf::make_error(ec::invalid_argument,
                           "not an http(s) URL: " + origin_of(req.url));
  curl_easy_reset(h);
  response resp;
  transfer t{&resp, max_body_bytes_};
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(req.timeout.count()));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(req.connect_timeout.count()));
  curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING,
                   ""); // any encoding curl can decode
  curl_easy_setopt(h, CURLOPT_USERAGENT, "mailpipe/" MAILPIPE_VERSION);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
  if (req.method == "GET") {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else {
    if (req.method != "POST")
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    if (req.method == "POST" || !req.body.empty()) {
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, req.body.data());
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(req.body.size()));
    }
  }
  curl_slist* hdrs = nullptr;
  for (auto& x : req.headers)
    hdrs =
        curl_slist_append(hdrs, fmt::format("{}: {}", x.name, x.value).c_str());
  hdrs = curl_slist_append(hdrs, "Expect:"); // no 100-continue round trip
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
  auto rc = curl_easy_perform(h);
  curl_slist_free_all(hdrs);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
  if (t.too_large)
    return caf::make_error(ec::protocol_error,
                           fmt::format("{} {}: response larger than {} bytes",
                                       req.method, origin_of(req.url),
                                       max_body_bytes_));
  if (rc != CURLE_OK)
    return transport_error(rc, errbuf, req);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp.status);
  return resp;
}

// -- error classification -----------------------------------------------------

api_error parse_api_error(std::string_view body) {
  api_error out;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(body.data(), body.size()).get(doc) != simdjson::SUCCESS)
    return out;
  simdjson::dom::element err;
  if (doc["error"].get(err) != simdjson::SUCCESS)
    return out;
  std::string_view text;
  if (err.get(text) == simdjson::SUCCESS) {
    // OAuth2 (RFC 6749 section 5.2): {"error": "invalid_grant",
    // "error_description": "..."}
    out.code = text;
    if (doc["error_description"].get(text) == simdjson::SUCCESS)
      out.message = text;
    return out;
  }
  // Google: {"error": {"code": 403, "message", "errors": [{"reason"}],
  // "status"}}; Graph: {"error": {"code": "TooManyRequests", "message",
  // "innerError"}}.
  int64_t num = 0;
  if (err["code"].get(text) == simdjson::SUCCESS)
    out.code = text;
  else if (err["code"].get(num) == simdjson::SUCCESS)
    out.code = std::to_string(num);
  if (err["message"].get(text) == simdjson::SUCCESS)
    out.message = text;
  simdjson::dom::array errors;
  if (err["errors"].get(errors) == simdjson::SUCCESS)
    for (auto e : errors)
      if (e["reason"].get(text) == simdjson::SUCCESS)
        out.reasons.emplace_back(text);
  if (err["status"].get(text) == simdjson::SUCCESS)
    out.reasons.emplace_back(text);
  // Google's newer shape: "details": [{"@type": "...ErrorInfo", "reason":
  // "RATE_LIMIT_EXCEEDED"}].
  simdjson::dom::array details;
  if (err["details"].get(details) == simdjson::SUCCESS)
    for (auto d : details)
      if (d["reason"].get(text) == simdjson::SUCCESS)
        out.reasons.emplace_back(text);
  return out;
}

std::optional<duration> parse_retry_after(std::string_view value,
                                          time_point now) {
  value = text::trim(value);
  if (value.empty())
    return std::nullopt;
  if (std::all_of(value.begin(), value.end(),
                  [](char c) { return c >= '0' && c <= '9'; })) {
    if (value.size() > 9) // more than 30 years: nonsense
      return std::nullopt;
    return std::chrono::seconds{std::stoll(std::string{value})};
  }
  std::string date{value};
  auto when = curl_getdate(date.c_str(), nullptr);
  if (when < 0)
    return std::nullopt;
  // Compare in whole seconds first: a far-future date (year 2823, say) would overflow
  // the nanosecond clock.
  auto now_s = std::chrono::system_clock::to_time_t(now);
  if (when <= now_s)
    return duration{0};
  if (when - now_s > 999'999'999) // more than 30 years: nonsense, as above
    return std::nullopt;
  auto delta = std::chrono::system_clock::from_time_t(when) - now;
  if (delta < delta.zero())
    return duration{0};
  return std::chrono::ceil<duration>(delta);
}

caf::error classify_response(const response& resp, std::string_view what,
                             time_point now) {
  if (resp.status >= 100 && resp.status < 400)
    return caf::error{};
  auto err = parse_api_error(resp.body);
  auto has_reason = [&](std::initializer_list<std::string_view> names) {
    for (auto& r : err.reasons)
      for (auto n : names)
        if (r == n)
          return true;
    return false;
  };
  ec code;
  auto s = resp.status;
  if (s == 401)
    code = ec::auth_failed;
  else if (s == 403
           && has_reason({"rateLimitExceeded", "userRateLimitExceeded",
                          "RESOURCE_EXHAUSTED", "RATE_LIMIT_EXCEEDED"}))
    code = ec::rate_limited;
  else if (s == 403 && has_reason({"quotaExceeded", "dailyLimitExceeded"}))
    code = ec::quota_exceeded;
  else if (s == 403)
    code = ec::auth_failed; // missing scope or consent: the grant must be fixed
  else if (s == 404 || s == 410)
    code = ec::not_found;
  else if (s == 408)
    code = ec::timeout;
  else if (s == 429)
    code = ec::rate_limited;
  else if (s == 507)
    code = ec::quota_exceeded;
  else if (s >= 500)
    code = ec::service_unavailable;
  else if (s == 400
           && (err.code == "invalid_grant" || err.code == "invalid_client"
               || err.code == "unauthorized_client"))
    code = ec::auth_failed;
  else
    code = ec::protocol_error;
  auto text = fmt::format("{}: HTTP {}", what, s);
  // Google's code is the status again ("HTTP 429 429"): only a name adds to it.
  if (!err.code.empty() && err.code != std::to_string(s))
    text += fmt::format(" {}", mask_secrets(err.code, 80));
  if (!err.message.empty())
    text += fmt::format(": {}", mask_secrets(err.message));
  std::optional<duration> delay;
  if (auto ra = resp.header("Retry-After"))
    delay = parse_retry_after(*ra, now);
  if (delay) {
    text += fmt::format(" (retry after {}ms)", delay->count());
    return caf::make_error(
        code, std::move(text),
        caf::timespan{std::chrono::duration_cast<caf::timespan>(*delay)});
  }
  return caf::make_error(code, std::move(text));
}

std::optional<duration> retry_after(const caf::error& err) {
  if (!err)
    return std::nullopt;
  auto& ctx = err.context();
  for (size_t i = 0; i < ctx.size(); ++i)
    if (ctx.match_element<caf::timespan>(i))
      return std::chrono::duration_cast<duration>(ctx.get_as<caf::timespan>(i));
  return std::nullopt;
}

// -- retrying -----------------------------------------------------------------

std::optional<duration> retry_delay(const caf::error& err, int attempt,
                                    const retry_policy& policy) {
  if (attempt >= policy.max_attempts)
    return std::nullopt;
  if (!is(err, ec::rate_limited) && !is(err, ec::service_unavailable)
      && !is(err, ec::timeout) && !is(err, ec::network))
    return std::nullopt;
  if (auto ra = retry_after(err))
    return *ra <= policy.max_wait ? std::optional{*ra} : std::nullopt;
  auto delay = policy.backoff * (1 << std::min(attempt - 1, 16));
  return std::min(delay, policy.max_wait);
}

// -- URLs ---------------------------------------------------------------------

std::string url_encode(std::string_view text) {
  std::string out;
  out.reserve(text.size() * 3);
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
      out += static_cast<char>(c);
    else
      out += fmt::format("%{:02X}", c);
  }
  return out;
}

std::string
form_encode(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (auto& [k, v] : fields) {
    if (!out.empty())
      out += '&';
    out += url_encode(k);
    out += '=';
    out += url_encode(v);
  }
  return out;
}

std::string origin_of(std::string_view url) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos || scheme_end == 0)
    return {};
  auto host_end = url.find_first_of("/?#", scheme_end + 3);
  std::string out{url.substr(0, host_end)};
  // Drop user info so a URL with credentials never reaches an error message.
  auto at = out.find('@', scheme_end + 3);
  if (at != std::string::npos)
    out.erase(scheme_end + 3, at - scheme_end - 2);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return out;
}

} // namespace mailpipe::http
