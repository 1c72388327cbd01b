#pragma once

// Outgoing webhooks of the `send_notifications` queue: the job's payload read
// and checked field by field, the POST signed with HMAC-SHA256 the way Stripe
// signs its events (a header with the timestamp and the signature of
// "<timestamp>.<body>", so a receiver can refuse replays), and the answer read:
// a 2xx is success, anything else or no answer in time is a failure.

#include <cstdint>
#include <string>
#include <string_view>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "adapters/http/client.hpp"
#include "messages/clock.hpp"

namespace mailpipe::webhook {

/// The request header that carries the signature.
constexpr std::string_view signature_header = "Mailpipe-Signature";

/// `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<unix seconds>.<body>" keyed
/// with secret>`.
std::string signature(std::string_view secret, int64_t unix_seconds,
                      std::string_view body);

/// A webhook job's payload:
/// `{"channel":"webhook","url":...,"event":...,"data":{...}}`.
struct delivery {
  /// http:// or https:// URL of the receiver.
  std::string url;
  /// What happened, e.g. "test.completed".
  std::string event;
  /// The event's data, a JSON object as written in the payload.
  std::string data_json;
};

/// Reads a payload; `ec::invalid_argument` naming the field that is missing or
/// wrong (such a job can never succeed).
caf::expected<delivery> parse_payload(std::string_view payload_json);

/// The body POSTed: `{"id":<job id>,"event":...,"data":{...}}`.
std::string body_of(std::string_view job_id, const delivery& d);

/// POSTs `body_of(job_id, d)` signed with `secret` at `now`, within `timeout`;
/// no error for a 2xx, else the error of the status (or of the transport).
caf::error deliver(http::client& client, std::string_view job_id,
                   const delivery& d, std::string_view secret, duration timeout,
                   wall_time now);

} // namespace mailpipe::webhook
