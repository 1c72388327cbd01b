#pragma once

// The JSON form of a message analysis (schema in docs/analysis.md; field names
// stable).

#include <string>
#include <string_view>

#include "adapters/analysis/analysis.hpp"

namespace mailpipe {

/// Renders `a` as one JSON object; `indent` > 0 pretty-prints with that many
/// spaces.
std::string to_json(const message_analysis& a, int indent = 2);

/// Appends `s` as a JSON string literal (quoted, escaped; invalid UTF-8 read
/// leniently).
void append_json_string(std::string& out, std::string_view s);

} // namespace mailpipe
