#include "adapters/http/discord.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <simdjson.h>

#include "adapters/analysis/analysis_json.hpp"
#include "adapters/mail/text.hpp"
#include "messages/error.hpp"

namespace mailpipe::discord {

// -- limits -------------------------------------------------------------------

namespace {

constexpr std::string_view ellipsis = "\xE2\x80\xA6"; // U+2026, one character

bool continuation(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

} // namespace

size_t char_count(std::string_view utf8) {
  return static_cast<size_t>(std::count_if(
      utf8.begin(), utf8.end(), [](char c) { return !continuation(c); }));
}

std::string truncate(std::string_view text, size_t max_chars) {
  std::string valid;
  text::append_lenient_utf8(valid, text);
  if (char_count(valid) <= max_chars)
    return valid;
  if (max_chars == 0)
    return {};
  // Keep max_chars - 1 code points: the end of the last one kept is the start
  // of the next one.
  size_t kept = 0;
  size_t end = 0;
  for (; end < valid.size(); ++end) {
    if (!continuation(valid[end]) && kept++ == max_chars - 1)
      break;
  }
  valid.resize(end);
  valid += ellipsis;
  return valid;
}

// -- the payload --------------------------------------------------------------

std::string iso8601(wall_time t) {
  using namespace std::chrono;
  auto ms = floor<milliseconds>(t);
  auto day = floor<days>(ms);
  year_month_day ymd{day};
  hh_mm_ss hms{ms - day};
  return fmt::format(
      "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
      static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
      static_cast<unsigned>(ymd.day()), hms.hours().count(),
      hms.minutes().count(), hms.seconds().count(), hms.subseconds().count());
}

namespace {

void add_field(std::string& out, std::string_view name,
               std::string_view value) {
  out += fmt::format(",\"{}\":", name);
  append_json_string(out, value);
}

std::string embed(const message& msg) {
  auto title = truncate(msg.title, max_title);
  auto footer = truncate(msg.footer, max_footer);
  auto room = max_embed_total - char_count(title) - char_count(footer);
  auto description = truncate(msg.description, std::min(max_description, room));
  auto out = fmt::format("{{\"color\":{}",
                         msg.critical ? critical_color : warning_color);
  if (!title.empty())
    add_field(out, "title", title);
  if (!description.empty())
    add_field(out, "description", description);
  add_field(out, "timestamp", iso8601(msg.timestamp));
  if (!footer.empty()) {
    out += ",\"footer\":{\"text\":";
    append_json_string(out, footer);
    out += '}';
  }
  return out + "}";
}

} // namespace

caf::expected<message> parse_job_payload(std::string_view payload_json,
                                         wall_time now) {
  auto bad = [](std::string_view field, std::string_view why) {
    return caf::make_error(
        ec::invalid_argument,
        fmt::format("discord notification payload: {} {}", field, why));
  };
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(payload_json.data(), payload_json.size()).get(doc))
    return bad("the payload", "is not JSON");
  std::string_view channel, title, description, content;
  if (doc["channel"].get(channel) || channel != "discord")
    return bad("channel", "must be \"discord\"");
  if (doc["title"].get(title) || title.empty())
    return bad("title", "must be a non-empty string");
  auto optional_text = [&](const char* field, std::string_view& out) {
    auto v = doc[field];
    return v.error() == simdjson::NO_SUCH_FIELD || !v.get(out);
  };
  if (!optional_text("description", description))
    return bad("description", "must be a string");
  if (!optional_text("content", content))
    return bad("content", "must be a string");
  bool critical = false;
  if (auto v = doc["critical"];
      v.error() != simdjson::NO_SUCH_FIELD && v.get(critical))
    return bad("critical", "must be true or false");
  message msg;
  msg.title = std::string{title};
  msg.description = std::string{description};
  msg.content = std::string{content};
  msg.critical = critical;
  msg.timestamp = now;
  return msg;
}

std::string payload(const message& msg) {
  std::string out = "{\"allowed_mentions\":{\"parse\":[]}";
  if (auto content = truncate(msg.content, max_content); !content.empty())
    add_field(out, "content", content);
  out += ",\"embeds\":[" + embed(msg) + "]}";
  return out;
}

// -- reading the answer -------------------------------------------------------

std::string to_string(delivery_status x) {
  switch (x) {
    case delivery_status::delivered: return "delivered";
    case delivery_status::retry: return "retry";
    case delivery_status::failed: return "failed";
  }
  return "failed";
}

namespace {

// Seconds as Discord sends them (a float), as a duration; nullopt for nonsense.
std::optional<duration> from_seconds(double secs) {
  if (!std::isfinite(secs) || secs < 0 || secs > 1e7)
    return std::nullopt;
  return std::chrono::ceil<duration>(std::chrono::duration<double>{secs});
}

std::optional<duration> seconds_header(const http::response& resp,
                                       std::string_view name) {
  auto value = resp.header(name);
  if (!value)
    return std::nullopt;
  auto secs = text::parse_number(text::trim(*value));
  return secs ? from_seconds(*secs) : std::nullopt;
}

// The wait the rate-limit bucket asks for before the next request, even after a
// success: its remaining count is 0 until `X-RateLimit-Reset-After` has passed.
duration bucket_wait(const http::response& resp) {
  auto remaining = resp.header("X-RateLimit-Remaining");
  if (!remaining || text::trim(*remaining) != "0")
    return duration{0};
  return seconds_header(resp, "X-RateLimit-Reset-After").value_or(duration{0});
}

// The error body `{"message": "...", "code": 50035, "retry_after": 1.5,
// "global": false}`.
struct error_body {
  std::string message;
  int64_t code = 0;
  std::optional<duration> retry_after;
  bool global = false;
};

error_body parse_error_body(std::string_view body) {
  error_body out;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(body.data(), body.size()).get(doc) != simdjson::SUCCESS)
    return out;
  std::string_view text;
  if (doc["message"].get(text) == simdjson::SUCCESS)
    out.message = text;
  int64_t code = 0;
  if (doc["code"].get(code) == simdjson::SUCCESS)
    out.code = code;
  double secs = 0;
  if (doc["retry_after"].get(secs) == simdjson::SUCCESS)
    out.retry_after = from_seconds(secs);
  bool global = false;
  if (doc["global"].get(global) == simdjson::SUCCESS)
    out.global = global;
  return out;
}

std::string reason_of(long status, const error_body& err) {
  auto text = fmt::format("HTTP {}", status);
  if (!err.message.empty())
    text += ": " + mask_secrets(err.message);
  if (err.code != 0)
    text += fmt::format(" (code {})", err.code);
  if (err.global)
    text += " (global rate limit)";
  return text;
}

// 429: `retry_after` of the body, else Retry-After, else the bucket's reset,
// else 1 s.
duration rate_limit_wait(const http::response& resp, const error_body& err,
                         wall_time now) {
  if (err.retry_after)
    return *err.retry_after;
  if (auto header = resp.header("Retry-After"))
    if (auto wait = http::parse_retry_after(*header, now))
      return *wait;
  if (auto reset = seconds_header(resp, "X-RateLimit-Reset-After"))
    return *reset;
  return std::chrono::seconds{1};
}

} // namespace

delivery classify(const http::response& resp, wall_time now) {
  delivery out;
  out.http_status = resp.status;
  out.wait = bucket_wait(resp);
  if (resp.ok()) {
    out.status = delivery_status::delivered;
    return out;
  }
  auto err = parse_error_body(resp.body);
  out.reason = reason_of(resp.status, err);
  if (resp.status == 429) {
    out.status = delivery_status::retry;
    out.wait = std::max(out.wait, rate_limit_wait(resp, err, now));
  } else if (resp.status >= 500) {
    out.status = delivery_status::retry;
    if (auto header = resp.header("Retry-After"))
      out.wait =
          std::max(out.wait,
                   http::parse_retry_after(*header, now).value_or(duration{0}));
  } else {
    out.status = delivery_status::failed;
  }
  return out;
}

delivery classify(const caf::error& transport) {
  delivery out;
  out.reason = render(transport);
  out.status = is(transport, ec::invalid_argument) ? delivery_status::failed
                                                   : delivery_status::retry;
  return out;
}

// -- posting ------------------------------------------------------------------

std::string mask_webhook(std::string_view url) {
  auto origin = http::origin_of(url);
  return (origin.empty() ? std::string{"(not a URL)"} : origin) + "/***";
}

std::string execute_url(std::string_view webhook_url) {
  auto sep = webhook_url.find('?') == std::string_view::npos ? '?' : '&';
  return fmt::format("{}{}wait=true", webhook_url, sep);
}

delivery post(http::client& client, std::string_view webhook_url,
              const message& msg, const clock_fn& now, duration timeout) {
  http::request req;
  req.method = "POST";
  req.url = execute_url(webhook_url);
  req.headers.push_back({"Content-Type", "application/json"});
  req.body = payload(msg);
  req.timeout = timeout;
  req.connect_timeout = std::min<duration>(timeout, std::chrono::seconds{5});
  auto resp = client.perform(req);
  if (!resp)
    return classify(resp.error());
  return classify(*resp, now());
}

} // namespace mailpipe::discord
