// libFuzzer target: every parser of Gmail, Graph and OAuth2 JSON and of HTTP header
// values must answer any bytes with a value or an error, never crash or leak.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "adapters/http/client.hpp"
#include "adapters/http/oauth2.hpp"
#include "adapters/providers/gmail.hpp"
#include "adapters/providers/graph.hpp"
#include "adapters/providers/mail_json.hpp"
#include "adapters/sys/crypto.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in{reinterpret_cast<const char*>(data), size};
  using namespace mailpipe;
  (void)gmail::parse_message_list(in);
  if (auto meta = gmail::parse_message_metadata(in)) {
    (void)mail_json::header_block(meta->headers);
    static const auto rules =
        *make_test_id_rules({"X-Test-ID"}, "mp-[a-z]{1,8}");
    (void)mail_json::carried_test_ids(meta->headers, rules, {"mp-a"});
  }
  (void)gmail::parse_history(in);
  (void)graph::parse_message_page(in);
  (void)graph::parse_mail_folder(in);
  (void)oauth2::parse_token_response(in, {});
  (void)http::parse_api_error(in);
  (void)http::parse_retry_after(in, {});
  (void)http::mask_secrets(in);
  (void)crypto::base64_decode(in);
  return 0;
}
