#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "adapters/mail/headers.hpp"
#include "adapters/mail/test_id.hpp"
#include "messages/error.hpp"

// Helpers shared by the Gmail and Graph adapters: both hand headers over as
// JSON arrays of {"name", "value"} objects, and both must tell which test id a
// message carries.

namespace mailpipe::mail_json {

/// ec::parse_error "`what`: malformed JSON".
caf::error malformed(std::string_view what);

/// Reads a JSON array of `{"name": ..., "value": ...}` objects (Gmail
/// `payload.headers`, Graph `internetMessageHeaders`); entries without a string
/// name are skipped.
std::vector<owned_header_field> parse_headers(simdjson::dom::array arr);

/// Rebuilds an RFC 5322 header block: `Name: value\r\n` per field in order.
/// Names with characters a field name may not hold are dropped; bare LF in
/// values becomes CRLF.
std::string header_block(const std::vector<owned_header_field>& headers);

/// The ids of `pending` a message carries by the one test-id rule
/// (`carried_test_ids` of adapters/mail/test_id.hpp), read from the header
/// block `header_block` rebuilds: the block the message is recorded with, so
/// its analysis later finds the same ids.
std::vector<std::string>
carried_test_ids(const std::vector<owned_header_field>& headers,
                 const test_id_rules& rules,
                 const std::vector<std::string>& pending);

/// Parses `body` as a JSON object and hands it to `f`, which returns
/// `caf::expected<T>`; ec::parse_error "`what`: malformed JSON" when the body
/// is not an object.
template <class T, class F>
caf::expected<T> with_object(std::string_view body, std::string_view what,
                             F f) {
  simdjson::dom::parser parser;
  simdjson::dom::object doc;
  if (parser.parse(body.data(), body.size()).get(doc) != simdjson::SUCCESS)
    return malformed(what);
  return f(doc);
}

/// Reads `field` of `obj` as a string; "" when absent or not a string.
std::string string_field(simdjson::dom::element obj, std::string_view field);

/// Reads `field` of `obj` as a string; "" when absent or not a string.
std::string string_field(simdjson::dom::object obj, std::string_view field);

/// ec::invalid_argument unless every test id is non-empty and holds only
/// letters, digits,
/// '-', '_' or '.' (they go into search queries).
caf::error check_test_ids(const std::vector<std::string>& test_ids);

} // namespace mailpipe::mail_json
