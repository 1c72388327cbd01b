#pragma once

// Discord webhook delivery
// (https://discord.com/developers/docs/resources/webhook#execute-webhook): the
// execute payload within Discord's limits, one POST with the libcurl client,
// and the answer read as Discord documents it (rate limits in
// https://discord.com/developers/docs/topics/rate-limits). It never sleeps:
// what to wait comes back as a value and the caller schedules the next attempt.

#include <cstddef>
#include <string>
#include <string_view>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "adapters/http/client.hpp"
#include "config/config.hpp"
#include "messages/clock.hpp"

namespace mailpipe::discord {

// -- limits (characters, i.e. Unicode code points) ----------------------------

/// Longest embed title.
constexpr size_t max_title = 256;
/// Longest embed description.
constexpr size_t max_description = 4096;
/// Longest embed footer text.
constexpr size_t max_footer = 2048;
/// Longest total of an embed's texts (title, description, footer, ...).
constexpr size_t max_embed_total = 6000;
/// Longest message content.
constexpr size_t max_content = 2000;

/// Number of Unicode code points of UTF-8 text.
size_t char_count(std::string_view utf8);

/// `text` as valid UTF-8 (stray bytes read as Windows-1252) of at most
/// `max_chars` code points: longer text is cut on a code point boundary and
/// ends with "…".
std::string truncate(std::string_view text, size_t max_chars);

// -- the payload --------------------------------------------------------------

/// What one webhook message shows: one embed, and optional plain content.
struct message {
  /// Plain text above the embed ("" for none).
  std::string content;
  /// The embed's title and description.
  std::string title;
  std::string description;
  /// Red for critical, orange for warnings.
  bool critical = false;
  /// Shown as the embed's time.
  wall_time timestamp;
  /// Small text under the embed, e.g. the node's name ("" for none).
  std::string footer;
};

/// Embed color of a critical alert (red).
constexpr int critical_color = 0xE74C3C;
/// Embed color of a warning (orange).
constexpr int warning_color = 0xF39C12;

/// The JSON body of an execute-webhook request, every text truncated to
/// Discord's limits (the description gives way first when the embed total is
/// over). Mentions in the text ping nobody (`allowed_mentions` is empty).
std::string payload(const message& msg);

/// `2026-01-01T12:00:00.000Z`: ISO 8601 in UTC, as the embed timestamp wants.
std::string iso8601(wall_time t);

/// A `send_notifications` job's Discord payload, `{"channel":"discord",
/// "title":..., "description":..., "critical":false, "content":...}` (title
/// required; description and content optional, critical false unless said),
/// shown at `now`; `ec::invalid_argument` naming the field that is missing or
/// wrong (such a job can never succeed).
caf::expected<message> parse_job_payload(std::string_view payload_json,
                                         wall_time now);

// -- delivery -----------------------------------------------------------------

/// How a delivery ended.
enum class delivery_status : uint8_t {
  /// Discord accepted the message (2xx).
  delivered,
  /// Try again after `wait`: 429, 5xx, a timeout or a network failure.
  retry,
  /// Discord refused it for good (4xx other than 429, a bad URL): do not retry.
  failed,
};

/// Returns "delivered", "retry" or "failed".
std::string to_string(delivery_status x);

/// The outcome of one POST.
struct delivery {
  /// Delivered, retry or failed.
  delivery_status status = delivery_status::failed;
  /// How long from now before the next request to this webhook may go: the
  /// 429's `retry_after`, or the bucket's `X-RateLimit-Reset-After` when
  /// `X-RateLimit-Remaining` is 0 (also after a success); 0 when nothing says
  /// so (the caller chooses the backoff of a retry).
  duration wait{0};
  /// The HTTP status (0 when no answer came).
  long http_status = 0;
  /// Why it was not delivered, secrets masked ("" when delivered).
  std::string reason;
};

/// Reads Discord's answer at `now` (pure).
delivery classify(const http::response& resp, wall_time now);

/// Reads a transport failure of the client: timeouts and network failures are
/// retried, anything else (a malformed URL) is permanent.
delivery classify(const caf::error& transport);

/// The webhook URL with its token hidden (`https://discord.com/***`): the only
/// form that may be logged.
std::string mask_webhook(std::string_view url);

/// The URL that is posted to: the webhook's, with `wait=true` (Discord then
/// answers 200 with the message instead of 204).
std::string execute_url(std::string_view webhook_url);

/// POSTs `msg` to the webhook with `client` (blocks for at most `timeout`) and
/// classifies the answer; `now` is the time the answer is read at.
delivery post(http::client& client, std::string_view webhook_url,
              const message& msg, const clock_fn& now,
              duration timeout = std::chrono::seconds{10});

} // namespace mailpipe::discord
