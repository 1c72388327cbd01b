// libFuzzer target: the RFC 5322 header block parser on arbitrary bytes.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "adapters/mail/headers.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in{reinterpret_cast<const char*>(data), size};
  // A limit that cuts most inputs somewhere, and one that never does.
  for (std::size_t limit : {std::size_t{97}, in.size() + 1}) {
    auto hb = mailpipe::parse_header_block(in, limit);
    for (auto& f : hb.fields) {
      // Every view must lie inside the input.
      if (f.name.data() < in.data()
          || f.name.data() + f.name.size() > in.data() + in.size()
          || f.value.data() < in.data()
          || f.value.data() + f.value.size() > in.data() + in.size())
        std::abort();
      (void)mailpipe::unfold(f.value);
    }
    (void)hb.find("authentication-results");
  }
  return 0;
}
