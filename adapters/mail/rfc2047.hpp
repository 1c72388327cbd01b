#pragma once

// RFC 2047 encoded words ("=?charset?B|Q?text?=") decoded to UTF-8.

#include <string>
#include <string_view>

namespace mailpipe {

/// Appends the bytes of `bytes` in `charset` to `out` as UTF-8. Knows UTF-8,
/// US-ASCII, ISO-8859-1..16, Windows-1250..1258 and KOI8-R/U; returns false
/// (appending nothing) for any other charset.
bool append_charset_as_utf8(std::string& out, std::string_view charset,
                            std::string_view bytes);

/// Decodes a header value: unfolds it, decodes every encoded word (B and Q),
/// drops the white space between adjacent encoded words, and reads stray 8-bit
/// bytes leniently, so the result is always valid UTF-8. Encoded words in an
/// unknown charset or with broken encoding are kept as written.
std::string decode_rfc2047(std::string_view value);

} // namespace mailpipe
