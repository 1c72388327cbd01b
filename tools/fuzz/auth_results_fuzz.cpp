// libFuzzer target: Authentication-Results, ARC-Authentication-Results,
// Received-SPF.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "adapters/mail/auth_results.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in{reinterpret_cast<const char*>(data), size};
  auto ar = mailpipe::parse_auth_results(in, false);
  for (auto& r : ar.results)
    (void)r.property("header", "d");
  (void)mailpipe::parse_auth_results(in, true);
  auto spf = mailpipe::parse_received_spf(in);
  (void)spf.property("client-ip");
  return 0;
}
