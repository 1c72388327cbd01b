#include "adapters/http/smtp.hpp"

#include <algorithm>
#include <mutex>

#include <curl/curl.h>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <simdjson.h>

#include "adapters/mail/text.hpp"
#include "adapters/sys/crypto.hpp"
#include "messages/error.hpp"

namespace mailpipe::smtp {

namespace {

caf::error bad_field(std::string_view field, std::string_view why) {
  return caf::make_error(ec::invalid_argument,
                         fmt::format("email payload: {} {}", field, why));
}

// A plausible addr-spec: something@something, no white space or brackets (the
// server has the last word).
bool is_address(std::string_view a) {
  auto at = a.find('@');
  return at != std::string_view::npos && at > 0 && at + 1 < a.size()
         && a.find_first_of(" \t\r\n<>,;") == std::string_view::npos;
}

bool is_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return static_cast<unsigned char>(c) < 128;
  });
}

// A header value without line breaks (a subject cannot inject headers).
std::string one_line(std::string_view s) {
  std::string out{s};
  std::replace_if(
      out.begin(), out.end(), [](char c) { return c == '\r' || c == '\n'; },
      ' ');
  return out;
}

// The subject as it goes in the header: as is when ASCII, else one RFC 2047
// B-encoded word.
std::string encoded_subject(std::string_view subject) {
  auto line = one_line(subject);
  if (is_ascii(line))
    return line;
  return "=?UTF-8?B?" + crypto::base64_encode(line) + "?=";
}

// The longest line RFC 5322 allows, without its CRLF.
constexpr size_t max_line = 998;

// The text with every line break (CRLF, a lone LF or a lone CR) as CRLF, so no
// bare CR reaches the server (a receiver that takes "\r.\r" as the end of the
// data could be fed a second message), and lines cut at `max_line` bytes on a
// UTF-8 boundary.
std::string crlf_lines(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 32);
  size_t line = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    auto c = text[i];
    if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n')
        ++i;
      out += "\r\n";
      line = 0;
      continue;
    }
    bool continuation = (static_cast<unsigned char>(c) & 0xC0) == 0x80;
    if (line >= max_line && !continuation) {
      out += "\r\n";
      line = 0;
    }
    out += c;
    ++line;
  }
  return out;
}

// Feeds the message to libcurl.
struct upload {
  std::string_view rest;
};

size_t on_read(char* buf, size_t size, size_t n, void* user) {
  auto* u = static_cast<upload*>(user);
  auto len = std::min(size * n, u->rest.size());
  std::copy_n(u->rest.data(), len, buf);
  u->rest.remove_prefix(len);
  return len;
}

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// What a failed transfer means: the server's last reply code decides (5xx for
// good, else later).
caf::error failure(CURLcode rc, long reply, const char* detail) {
  auto text = fmt::format("SMTP: {}{}{}", curl_easy_strerror(rc),
                          *detail ? ": " : "", detail);
  if (reply >= 500 && reply < 600)
    return caf::make_error(ec::invalid_argument,
                           fmt::format("{} (reply {})", text, reply));
  if (reply >= 400)
    text += fmt::format(" (reply {})", reply);
  return caf::make_error(ec::service_unavailable, text);
}

} // namespace

caf::expected<email> parse_job_payload(std::string_view payload_json) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(payload_json.data(), payload_json.size()).get(doc))
    return bad_field("the payload", "is not JSON");
  std::string_view channel, subject, text, one;
  if (doc["channel"].get(channel) || channel != "email")
    return bad_field("channel", "must be \"email\"");
  email out;
  simdjson::dom::array list;
  if (!doc["to"].get(one)) {
    out.to.emplace_back(one);
  } else if (!doc["to"].get(list)) {
    for (auto item : list) {
      if (item.get(one))
        return bad_field("to", "must list addresses as strings");
      out.to.emplace_back(one);
    }
  }
  if (out.to.empty() || !std::all_of(out.to.begin(), out.to.end(), [](auto& a) {
        return is_address(a);
      }))
    return bad_field("to", "must be one or more addresses (name@domain)");
  if (doc["subject"].get(subject) || subject.empty())
    return bad_field("subject", "must be a non-empty string");
  if (doc["text"].get(text))
    return bad_field("text", "must be a string");
  out.subject = std::string{subject};
  out.text = std::string{text};
  return out;
}

std::vector<std::string> admin_recipients(const smtp_config& cfg) {
  std::vector<std::string> out;
  std::string_view rest = cfg.admin_to;
  while (!rest.empty()) {
    auto comma = rest.find(',');
    auto one = text::trim(rest.substr(0, comma));
    if (!one.empty())
      out.emplace_back(one);
    rest = comma == std::string_view::npos ? "" : rest.substr(comma + 1);
  }
  return out;
}

std::string message(const smtp_config& cfg, const email& e, wall_time now,
                    std::string_view message_id) {
  std::string to;
  for (auto& a : e.to)
    to += (to.empty() ? "" : ", ") + a;
  auto at = std::chrono::system_clock::to_time_t(now);
  return fmt::format("From: {}\r\nTo: {}\r\nSubject: {}\r\n"
                     "Date: {:%a, %d %b %Y %H:%M:%S +0000}\r\n"
                     "Message-ID: <{}@mailpipe>\r\nMIME-Version: 1.0\r\n"
                     "Content-Type: text/plain; charset=utf-8\r\n"
                     "Content-Transfer-Encoding: 8bit\r\n"
                     "Auto-Submitted: auto-generated\r\n\r\n{}\r\n",
                     cfg.from, to, encoded_subject(e.subject), fmt::gmtime(at),
                     one_line(message_id), crlf_lines(e.text));
}

caf::error send(const smtp_config& cfg, const email& e, wall_time now,
                std::string_view message_id) {
  if (cfg.url.empty())
    return caf::make_error(ec::invalid_argument,
                           "smtp.url is not set: there is no server to send "
                           "email through");
  global_init();
  auto text = message(cfg, e, now, message_id);
  upload body{text};
  CURL* h = curl_easy_init();
  if (!h)
    return caf::make_error(ec::service_unavailable,
                           "SMTP: cannot create a transfer");
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_slist* rcpts = nullptr;
  for (auto& a : e.to)
    rcpts = curl_slist_append(rcpts, ("<" + a + ">").c_str());
  auto from = "<" + cfg.from + ">";
  curl_easy_setopt(h, CURLOPT_URL, cfg.url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(cfg.timeout.count()));
  curl_easy_setopt(
      h, CURLOPT_USE_SSL,
      static_cast<long>(cfg.require_tls ? CURLUSESSL_ALL : CURLUSESSL_TRY));
  if (!cfg.username.empty()) {
    curl_easy_setopt(h, CURLOPT_USERNAME, cfg.username.c_str());
    curl_easy_setopt(h, CURLOPT_PASSWORD, cfg.password.c_str());
  }
  curl_easy_setopt(h, CURLOPT_MAIL_FROM, from.c_str());
  curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpts);
  curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
  curl_easy_setopt(h, CURLOPT_READDATA, &body);
  curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE,
                   static_cast<curl_off_t>(text.size()));
  auto rc = curl_easy_perform(h);
  long reply = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &reply);
  curl_slist_free_all(rcpts);
  curl_easy_cleanup(h);
  if (rc == CURLE_OK)
    return {};
  return failure(rc, reply, errbuf);
}

} // namespace mailpipe::smtp
