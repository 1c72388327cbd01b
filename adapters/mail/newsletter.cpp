#include "adapters/mail/newsletter.hpp"

#include "adapters/mail/headers.hpp"
#include "adapters/mail/rfc2047.hpp"
#include "adapters/mail/test_id.hpp"

namespace mailpipe {

newsletter_text read_newsletter(std::string_view message,
                                std::size_t max_header_bytes,
                                std::size_t max_body_bytes) {
  auto headers = parse_header_block(message, max_header_bytes);
  newsletter_text out;
  auto id = unfold(headers.value_of("Message-ID"));
  if (id.size() >= 2 && id.front() == '<' && id.back() == '>')
    id = id.substr(1, id.size() - 2);
  out.message_id = id;
  out.sender = decode_rfc2047(unfold(headers.value_of("From")));
  out.subject = decode_rfc2047(unfold(headers.value_of("Subject")));
  out.date = unfold(headers.value_of("Date"));
  out.body = first_body_part(headers, max_body_bytes);
  return out;
}

} // namespace mailpipe
