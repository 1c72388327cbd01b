// libFuzzer target: the IMAP response parser must survive any bytes a server
// can send, fed in arbitrary chunks, within its limits.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "adapters/imap/client.hpp"
#include "adapters/imap/response_parser.hpp"

using namespace mailpipe::imap;

namespace {

bool same(const value& a, const value& b) {
  if (a.kind != b.kind || a.text != b.text || a.items.size() != b.items.size())
    return false;
  for (std::size_t i = 0; i < a.items.size(); ++i)
    if (!same(a.items[i], b.items[i]))
      return false;
  return true;
}

/// A response parsed in place over the previous one equals a fresh parse.
bool same(const response& a, const response& b) {
  if (a.kind != b.kind || a.tag != b.tag || a.state != b.state
      || a.code != b.code || a.code_args != b.code_args || a.text != b.text
      || a.number != b.number || a.keyword != b.keyword
      || a.data.size() != b.data.size())
    return false;
  for (std::size_t i = 0; i < a.data.size(); ++i)
    if (!same(a.data[i], b.data[i]))
      return false;
  return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in{reinterpret_cast<const char*>(data), size};
  // Small limits so that the limit paths are reached too.
  parser_limits limits{4096, 4096, 16};
  // The first byte picks the chunk size: framing must not depend on it.
  std::size_t chunk = size > 0 ? (data[0] % 17) + 1 : 1;
  response_parser p{limits};
  response_parser in_place{limits}; // the same bytes, parsed in place
  response reused;
  std::size_t count = 0;
  for (std::size_t pos = 0; pos < in.size(); pos += chunk) {
    p.feed(in.substr(pos, chunk));
    in_place.feed(in.substr(pos, chunk));
    for (;;) {
      auto r = p.next();
      auto got = in_place.next(reused);
      if (static_cast<bool>(r) != static_cast<bool>(got)
          || (r && static_cast<bool>(*r) != *got)
          || (r && *r && !same(**r, reused)))
        std::abort();
      if (!r || !*r)
        break;
      ++count;
      // Exercise the helpers the client runs on every response.
      (void)fetch_item(**r, "BODY[HEADER]");
      (void)fetch_item(**r, "UID");
      (void)parse_list({**r});
      (void)decode_mailbox_name((*r)->text);
      (void)error_from(**r, mailpipe::ec::protocol_error, "fuzz", {"secret"});
    }
  }
  // One-shot parsing of the whole input as a single frame.
  (void)parse_response(in, limits);
  (void)header_values(in, "X-Mailpipe-Test-Id");
  return 0;
}
