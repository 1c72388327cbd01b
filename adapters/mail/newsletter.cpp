#include "adapters/mail/newsletter.hpp"

#include <algorithm>

#include "adapters/mail/headers.hpp"
#include "adapters/mail/rfc2047.hpp"
#include "adapters/mail/test_id.hpp"
#include "adapters/mail/text.hpp"

namespace mailpipe {

namespace {

// `s` as text a database takes: valid UTF-8 kept, any other byte read as
// Windows-1252 (a Latin-1 body decoded from quoted-printable), no NUL.
std::string as_text(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  text::append_lenient_utf8(out, s);
  out.erase(std::remove(out.begin(), out.end(), '\0'), out.end());
  return out;
}

} // namespace

newsletter_text read_newsletter(std::string_view message,
                                std::size_t max_header_bytes,
                                std::size_t max_body_bytes) {
  auto headers = parse_header_block(message, max_header_bytes);
  newsletter_text out;
  auto id = unfold(headers.value_of("Message-ID"));
  if (id.size() >= 2 && id.front() == '<' && id.back() == '>')
    id = id.substr(1, id.size() - 2);
  out.message_id = as_text(id);
  out.sender = as_text(decode_rfc2047(unfold(headers.value_of("From"))));
  out.subject = as_text(decode_rfc2047(unfold(headers.value_of("Subject"))));
  out.date = as_text(unfold(headers.value_of("Date")));
  out.body = as_text(first_body_part(headers, max_body_bytes));
  return out;
}

bool is_list_header(std::string_view name) {
  return text::iequals(name, "List-Unsubscribe")
         || text::iequals(name, "List-Id");
}

bool is_list_message(std::string_view message, std::size_t max_header_bytes) {
  auto headers = parse_header_block(message, max_header_bytes);
  return std::any_of(
      headers.fields.begin(), headers.fields.end(),
      [](const header_field& f) { return is_list_header(f.name); });
}

} // namespace mailpipe
