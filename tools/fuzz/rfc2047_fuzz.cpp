// libFuzzer target: RFC 2047 decoding; the result must always be valid UTF-8.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "adapters/mail/rfc2047.hpp"
#include "adapters/mail/text.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in{reinterpret_cast<const char*>(data), size};
  auto out = mailpipe::decode_rfc2047(in);
  std::string_view rest{out};
  while (!rest.empty()) {
    auto len = mailpipe::text::utf8_sequence_length(rest);
    if (len == 0)
      std::abort(); // invalid UTF-8 escaped the decoder
    rest.remove_prefix(len);
  }
  return 0;
}
