#include "adapters/http/webhook.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <fmt/format.h>
#include <simdjson.h>

#include "adapters/analysis/analysis_json.hpp"
#include "messages/error.hpp"

namespace mailpipe::webhook {

namespace {

caf::error bad_field(std::string_view field, std::string_view why) {
  return caf::make_error(ec::invalid_argument,
                         fmt::format("webhook payload: {} {}", field, why));
}

std::string hex(const unsigned char* bytes, unsigned len) {
  std::string out;
  out.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i)
    out += fmt::format("{:02x}", bytes[i]);
  return out;
}

} // namespace

std::string signature(std::string_view secret, int64_t unix_seconds,
                      std::string_view body) {
  auto signed_text = fmt::format("{}.{}", unix_seconds, body);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signed_text.data()),
       signed_text.size(), mac, &len);
  return fmt::format("t={},v1={}", unix_seconds, hex(mac, len));
}

caf::expected<delivery> parse_payload(std::string_view payload_json) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(payload_json.data(), payload_json.size()).get(doc))
    return bad_field("", "is not JSON");
  std::string_view channel, url, event;
  if (doc["channel"].get(channel) || channel != "webhook")
    return bad_field("channel", "must be \"webhook\"");
  if (doc["url"].get(url)
      || (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0))
    return bad_field("url", "must be an http:// or https:// URL");
  if (doc["event"].get(event) || event.empty())
    return bad_field("event", "must be a non-empty string");
  simdjson::dom::object data;
  if (doc["data"].get(data))
    return bad_field("data", "must be an object");
  return delivery{std::string{url}, std::string{event}, simdjson::minify(data)};
}

std::string body_of(std::string_view job_id, const delivery& d) {
  std::string out = "{\"id\":";
  append_json_string(out, job_id);
  out += ",\"event\":";
  append_json_string(out, d.event);
  return out + ",\"data\":" + d.data_json + "}";
}

caf::error deliver(http::client& client, std::string_view job_id,
                   const delivery& d, std::string_view secret, duration timeout,
                   wall_time now) {
  auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch())
          .count();
  http::request req;
  req.method = "POST";
  req.url = d.url;
  req.body = body_of(job_id, d);
  req.timeout = timeout;
  req.connect_timeout = std::min(req.connect_timeout, timeout);
  req.headers = {
      {"Content-Type", "application/json"},
      {std::string{signature_header}, signature(secret, seconds, req.body)}};
  auto resp = client.perform(req);
  if (!resp)
    return std::move(resp.error());
  if (resp->status >= 200 && resp->status < 300)
    return {};
  auto what = fmt::format("POST {}", http::origin_of(d.url));
  if (auto err = http::classify_response(*resp, what, now))
    return err;
  // A redirect or another non-2xx the client does not call an error.
  return caf::make_error(ec::protocol_error,
                         fmt::format("{}: HTTP {}", what, resp->status));
}

} // namespace mailpipe::webhook
