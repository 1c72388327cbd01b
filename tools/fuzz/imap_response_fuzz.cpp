// libFuzzer target: the IMAP response parser must survive any bytes a server
// can send, fed in arbitrary chunks, within its limits.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "adapters/imap/client.hpp"
#include "adapters/imap/response_parser.hpp"

using namespace mailpipe::imap;

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
      auto got = in_place.next(reused); // must agree with a fresh parse
      if (static_cast<bool>(r) != static_cast<bool>(got)
          || (r && static_cast<bool>(*r) != *got)
          || (r && *r && !(**r == reused)))
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
