#pragma once

// Small ASCII string helpers shared by the pure mail parsers (no allocation, no
// locale).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mailpipe::text {

/// ASCII lower case of one byte; other bytes unchanged.
constexpr char lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

/// True for the folding white space bytes of RFC 5322 (SP, HT, CR, LF).
constexpr bool is_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/// ASCII case-insensitive equality (header names, tokens); inline, it is on
/// every hot path.
inline bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i]))
      return false;
  return true;
}

/// ASCII case-insensitive prefix test.
inline bool istarts_with(std::string_view s, std::string_view prefix) noexcept {
  return s.size() >= prefix.size()
         && iequals(s.substr(0, prefix.size()), prefix);
}

/// The value of a base64 digit (RFC 4648): 0-63, or -1 for any other byte.
/// `url_safe` also accepts the URL alphabet's '-' and '_'.
inline int base64_value(char c, bool url_safe = false) noexcept {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+' || (url_safe && c == '-'))
    return 62;
  if (c == '/' || (url_safe && c == '_'))
    return 63;
  return -1;
}

/// ASCII case-insensitive substring search; npos when absent.
std::size_t ifind(std::string_view haystack, std::string_view needle) noexcept;

/// `s` without leading and trailing folding white space (inline: the parsers
/// call it on every token).
inline std::string_view trim(std::string_view s) noexcept {
  std::size_t b = 0, e = s.size();
  while (b < e && is_space(s[b]))
    ++b;
  while (e > b && is_space(s[e - 1]))
    --e;
  return {s.data() + b, e - b};
}

/// A copy of `s` in ASCII lower case.
inline std::string to_lower(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    c = lower(c);
  return out;
}

/// Appends `s` trimmed, with every run of folding white space as one space.
void append_collapsed(std::string& out, std::string_view s);

/// Collapses every run of folding white space to one space and trims
/// (unfolding).
std::string collapse_space(std::string_view s);

/// Parses a decimal number ("-2.5", "+3", "1e2") that fills all of `s`; nullopt
/// otherwise.
std::optional<double> parse_number(std::string_view s) noexcept;

/// Appends the UTF-8 encoding of `cp` (U+FFFD for invalid code points).
void append_utf8(std::string& out, char32_t cp);

/// Appends `s` as UTF-8: valid UTF-8 sequences are kept, any other byte is read
/// as Windows-1252 (the usual meaning of stray 8-bit bytes in headers).
void append_lenient_utf8(std::string& out, std::string_view s);

/// Length of the valid UTF-8 sequence at the start of `s` (0 when invalid or
/// empty).
std::size_t utf8_sequence_length(std::string_view s) noexcept;

/// Matches `s` against a glob of ASCII case-insensitive text with `*`
/// wildcards.
bool iglob(std::string_view pattern, std::string_view s) noexcept;

} // namespace mailpipe::text
