#include "adapters/http/mistral.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <simdjson.h>

#include "adapters/analysis/analysis_json.hpp"

namespace mailpipe::mistral {

namespace {

std::string json_text(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

// `text` cut to at most `limit` bytes, never inside a UTF-8 sequence.
std::string_view cut_utf8(std::string_view text, size_t limit) {
  if (text.size() <= limit)
    return text;
  auto end = limit;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80)
    --end;
  return text.substr(0, end);
}

caf::error bad_reply(std::string_view field, std::string_view why) {
  return caf::make_error(ec::parse_error,
                         fmt::format("Mistral reply: {} {}", field, why));
}

bool is_category(std::string_view c) {
  return std::find(std::begin(categories), std::end(categories), c)
         != std::end(categories);
}

} // namespace

std::string_view system_prompt() {
  return "You analyse one email newsletter. Answer with one JSON object and "
         "nothing else, with exactly these fields: \"summary\" (string, two "
         "or three sentences in the newsletter's language), \"topics\" (array "
         "of at most 10 short strings), \"language\" (ISO 639-1 code, e.g. "
         "\"en\"), \"category\" (one of \"news\", \"marketing\", \"product\", "
         "\"finance\", \"technology\", \"events\", \"community\", \"other\"), "
         "\"is_newsletter\" (boolean: false for receipts, notices and "
         "personal mail).";
}

std::string request_body(std::string_view model, std::string_view subject,
                         std::string_view sender, std::string_view body_text) {
  auto user = fmt::format("Subject: {}\nFrom: {}\n\n{}", subject, sender,
                          cut_utf8(body_text, max_body_bytes));
  return fmt::format("{{\"model\":{},\"temperature\":0,"
                     "\"response_format\":{{\"type\":\"json_object\"}},"
                     "\"messages\":[{{\"role\":\"system\",\"content\":{}}},"
                     "{{\"role\":\"user\",\"content\":{}}}]}}",
                     json_text(model), json_text(system_prompt()),
                     json_text(user));
}

caf::expected<content_analysis> parse_reply(std::string_view reply_json) {
  simdjson::dom::parser outer;
  simdjson::dom::element reply;
  std::string_view content;
  if (outer.parse(reply_json.data(), reply_json.size()).get(reply))
    return bad_reply("body", "is not JSON");
  if (reply["choices"].at(0)["message"]["content"].get(content))
    return bad_reply("choices[0].message.content", "is missing");
  simdjson::dom::parser inner;
  simdjson::dom::object doc;
  if (inner.parse(content.data(), content.size()).get(doc))
    return bad_reply("content", "is not a JSON object");
  content_analysis a;
  std::string_view text;
  if (doc["summary"].get(text) || text.empty())
    return bad_reply("summary", "must be a non-empty string");
  a.summary = std::string{text};
  simdjson::dom::array topics;
  if (doc["topics"].get(topics) || topics.size() > 10)
    return bad_reply("topics", "must be an array of at most 10 strings");
  for (auto t : topics) {
    if (t.get(text))
      return bad_reply("topics", "must be an array of at most 10 strings");
    a.topics.emplace_back(text);
  }
  if (doc["language"].get(text) || text.size() != 2)
    return bad_reply("language", "must be a two-letter ISO 639-1 code");
  a.language = std::string{text};
  if (doc["category"].get(text) || !is_category(text))
    return bad_reply("category", "must be one of the offered categories");
  a.category = std::string{text};
  if (doc["is_newsletter"].get(a.is_newsletter))
    return bad_reply("is_newsletter", "must be a boolean");
  return a;
}

std::string to_json(const content_analysis& a) {
  std::string topics = "[";
  for (size_t i = 0; i < a.topics.size(); ++i)
    topics += (i ? "," : "") + json_text(a.topics[i]);
  return fmt::format("{{\"summary\":{},\"topics\":{}],\"language\":{},"
                     "\"category\":{},\"is_newsletter\":{}}}",
                     json_text(a.summary), topics, json_text(a.language),
                     json_text(a.category), a.is_newsletter);
}

caf::expected<content_analysis> analyse(http::client& client,
                                        const mistral_config& cfg,
                                        std::string_view subject,
                                        std::string_view sender,
                                        std::string_view body_text) {
  http::request req;
  req.method = "POST";
  req.url = cfg.api_url + "/v1/chat/completions";
  req.timeout = cfg.timeout;
  req.headers = {{"Content-Type", "application/json"},
                 {"Accept", "application/json"},
                 {"Authorization", "Bearer " + cfg.api_key}};
  req.body = request_body(cfg.model, subject, sender, body_text);
  auto resp = client.perform(req);
  if (!resp)
    return std::move(resp.error());
  if (!resp->ok()) {
    auto what = fmt::format("Mistral POST {}", http::origin_of(req.url));
    if (auto err = http::classify_response(*resp, what,
                                           std::chrono::system_clock::now()))
      return err;
    return caf::make_error(ec::protocol_error,
                           fmt::format("{}: HTTP {}", what, resp->status));
  }
  return parse_reply(resp->body);
}

} // namespace mailpipe::mistral
