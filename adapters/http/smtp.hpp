#pragma once

// Email over SMTP with libcurl (RFC 5321): the `email` channel of the
// send_notifications queue and the admin's copy of a dead job's alert. The
// message is plain UTF-8 text (RFC 5322 headers, the subject an RFC 2047
// encoded word when it is not ASCII); the server's answer decides what a
// failure is: a 5xx refusal is for good, anything else (4xx, no answer, a
// connection that drops) is tried again.

#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "config/config.hpp"
#include "messages/clock.hpp"

namespace mailpipe::smtp {

/// One email to send.
struct email {
  /// Recipients (addr-spec, e.g. ops@example.com).
  std::vector<std::string> to;
  std::string subject;
  /// The body, plain text.
  std::string text;
};

/// A send_notifications job's email payload, `{"channel":"email","to":
/// ["a@b", ...] or "a@b","subject":...,"text":...}`; `ec::invalid_argument`
/// naming the field that is missing or wrong (such a job can never succeed).
caf::expected<email> parse_job_payload(std::string_view payload_json);

/// The recipients of `smtp.admin_to` ("a@b, c@d").
std::vector<std::string> admin_recipients(const smtp_config& cfg);

/// The RFC 5322 message sent: From `cfg.from`, To, Subject, Date (`now`),
/// Message-ID `<message_id@mailpipe>`, MIME headers and the text with CRLF
/// line ends.
std::string message(const smtp_config& cfg, const email& e, wall_time now,
                    std::string_view message_id);

/// Sends `e` through `cfg.url` (smtp://host:port, STARTTLS required unless
/// `cfg.require_tls` is false; smtps:// for implicit TLS), within
/// `cfg.timeout`. No error when the server took it; `ec::invalid_argument`
/// when it refused it for good (5xx); `ec::service_unavailable` when it may
/// take it later (4xx, network). The password never appears in an error.
caf::error send(const smtp_config& cfg, const email& e, wall_time now,
                std::string_view message_id);

} // namespace mailpipe::smtp
