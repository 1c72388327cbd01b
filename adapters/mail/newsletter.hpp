#pragma once

// What a newsletter's content analysis reads of a message: its Message-ID,
// sender, subject and date (RFC 2047 decoded, unfolded) and its first body
// part as text; and the rule that makes a message a newsletter.

#include <cstddef>
#include <string>
#include <string_view>

namespace mailpipe {

/// The readable parts of one message.
struct newsletter_text {
  /// The Message-ID without its angle brackets ("" when absent).
  std::string message_id;
  std::string sender;
  std::string subject;
  /// The Date header as written.
  std::string date;
  /// The first body part, decoded, at most `max_body_bytes`.
  std::string body;
};

/// Reads `message` (header block of at most `max_header_bytes`). Every field
/// is valid UTF-8 without NUL (stray 8-bit bytes read as Windows-1252), so a
/// database takes it whatever the message's charset.
newsletter_text read_newsletter(std::string_view message,
                                std::size_t max_header_bytes,
                                std::size_t max_body_bytes = 1 << 20);

/// True for a header field that marks a message a mailing list sent:
/// List-Unsubscribe (RFC 2369) or List-Id (RFC 2919). The rule of every
/// provider's newsletter scan (the IMAP scan asks the server the same with
/// `SEARCH HEADER`).
bool is_list_header(std::string_view name);

/// True for a message (header block of at most `max_header_bytes`) that
/// carries a list header.
bool is_list_message(std::string_view message, std::size_t max_header_bytes);

} // namespace mailpipe
