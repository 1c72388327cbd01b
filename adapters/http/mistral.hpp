#pragma once

// Content analysis of a newsletter by the Mistral chat-completions API in
// JSON mode (`response_format: json_object`): the request, and the reply read
// with simdjson and checked field by field. A reply that is not the JSON asked
// for is an `ec::parse_error`, which the process_mails queue retries.

#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "adapters/http/client.hpp"
#include "config/config.hpp"

namespace mailpipe::mistral {

/// What the model says about one newsletter.
struct content_analysis {
  /// Two or three sentences.
  std::string summary;
  /// Up to 10 short topics.
  std::vector<std::string> topics;
  /// ISO 639-1 code of the text's language, e.g. "en".
  std::string language;
  /// One of `categories`.
  std::string category;
  /// Whether the text is a newsletter at all (not a receipt or a notice).
  bool is_newsletter = true;
};

/// The categories the prompt offers.
constexpr std::string_view categories[] = {"news",      "marketing",  "product",
                                           "finance",   "technology", "events",
                                           "community", "other"};

/// What the model reads: subject and sender, and the body cut to this many
/// bytes (on a UTF-8 boundary).
constexpr size_t max_body_bytes = 16 * 1024;

/// The system prompt: the JSON object to answer with, field by field.
std::string_view system_prompt();

/// The JSON body of POST /v1/chat/completions for one newsletter.
std::string request_body(std::string_view model, std::string_view subject,
                         std::string_view sender, std::string_view body_text);

/// Reads a chat-completions reply: `choices[0].message.content` parsed as JSON
/// and checked. `ec::parse_error` naming the field for anything else.
caf::expected<content_analysis> parse_reply(std::string_view reply_json);

/// The analysis as stored in `newsletters.analysis`.
std::string to_json(const content_analysis& a);

/// Asks the API at `cfg.api_url`: errors of the transport and of the HTTP
/// status as `http::classify_response` names them (429 rate-limited, 5xx
/// unavailable, ...), then those of `parse_reply`.
caf::expected<content_analysis> analyse(http::client& client,
                                        const mistral_config& cfg,
                                        std::string_view subject,
                                        std::string_view sender,
                                        std::string_view body_text);

} // namespace mailpipe::mistral
