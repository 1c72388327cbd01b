// libFuzzer target: the whole analysis (built-in policy) and its JSON, on
// arbitrary bytes.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "adapters/analysis/analysis.hpp"
#include "adapters/analysis/analysis_json.hpp"
#include "adapters/mail/text.hpp"

namespace {

const mailpipe::analyzer& the_analyzer() {
  static const auto an = mailpipe::analyzer::builtin();
  if (!an)
    std::abort();
  return *an;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in{reinterpret_cast<const char*>(data), size};
  auto a = the_analyzer().analyze(in, {"imap", "Junk", {"\\Junk"}});
  auto json = mailpipe::to_json(a, 0);
  for (std::string_view rest{json}; !rest.empty();) {
    auto len = mailpipe::text::utf8_sequence_length(rest);
    if (len == 0)
      std::abort(); // the JSON must be valid UTF-8
    rest.remove_prefix(len);
  }
  return 0;
}
