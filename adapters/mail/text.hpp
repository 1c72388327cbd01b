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

/// ASCII upper case of one byte; other bytes unchanged.
constexpr char upper(char c) noexcept {
  return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

/// True for the folding white space bytes of RFC 5322 (SP, HT, CR, LF).
constexpr bool is_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

namespace detail {

/// True when the 8 bytes `x` and `y` are equal ignoring ASCII case: where they
/// differ, they differ only in the 0x20 bit and the byte is a letter (SWAR).
inline bool iequals8(std::uint64_t x, std::uint64_t y) noexcept {
  if (x == y)
    return true;
  constexpr std::uint64_t ones = ~std::uint64_t{0} / 255;
  constexpr std::uint64_t high = ones * 0x80;
  auto lx = x | (ones * 0x20);
  if (lx != (y | (ones * 0x20)))
    return false;
  // Per byte of lx: 'a' <= c <= 'z' (and c < 0x80); no borrow crosses bytes.
  auto ge_a = ((lx | high) - ones * 0x61) & high;
  auto le_z = ((ones * 0xFA) - (lx & ~high)) & high;
  auto letter = ge_a & le_z & ~lx;
  auto differs = ((x ^ y) << 2) & high; // 0x20 -> 0x80, within each byte
  return (differs & ~letter) == 0;
}

/// Equality ignoring ASCII case of `n` bytes at `a` and `b`, eight at a time.
inline bool iequals_n(const char* a, const char* b, std::size_t n) noexcept {
  if (n >= 8) {
    std::uint64_t x, y;
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      __builtin_memcpy(&x, a + i, 8);
      __builtin_memcpy(&y, b + i, 8);
      if (!iequals8(x, y))
        return false;
    }
    if (i == n)
      return true;
    // The last 8 bytes, overlapping what was compared.
    __builtin_memcpy(&x, a + n - 8, 8);
    __builtin_memcpy(&y, b + n - 8, 8);
    return iequals8(x, y);
  }
  for (std::size_t i = 0; i < n; ++i)
    if (lower(a[i]) != lower(b[i]))
      return false;
  return true;
}

} // namespace detail

/// ASCII case-insensitive equality (header names, tokens). On every hot path:
/// the length test is always inlined, so most mismatches cost two
/// instructions.
[[gnu::always_inline]] inline bool iequals(std::string_view a,
                                           std::string_view b) noexcept {
  return a.size() == b.size()
         && detail::iequals_n(a.data(), b.data(), a.size());
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

/// A set of byte values as a table: one load per byte in the scanning loops
/// of the parsers. `byte_set{" \t", ";"}` holds the bytes of both strings.
struct byte_set {
  bool on[256] = {};
  constexpr explicit byte_set(std::string_view bytes,
                              std::string_view more = {}) {
    for (char c : bytes)
      on[static_cast<unsigned char>(c)] = true;
    for (char c : more)
      on[static_cast<unsigned char>(c)] = true;
  }
  constexpr bool operator()(char c) const noexcept {
    return on[static_cast<unsigned char>(c)];
  }
};

namespace detail {

/// Hex digit values, -1 for any other byte.
struct hex_digits {
  signed char v[256] = {};
  constexpr hex_digits() {
    for (auto& x : v)
      x = -1;
    for (int c = 0; c < 10; ++c)
      v['0' + c] = static_cast<signed char>(c);
    for (int c = 0; c < 6; ++c) {
      v['a' + c] = static_cast<signed char>(10 + c);
      v['A' + c] = static_cast<signed char>(10 + c);
    }
  }
};
inline constexpr hex_digits hex_table{};

} // namespace detail

/// The value of a hex digit (either case): 0-15, or -1 for any other byte.
constexpr int hex_value(char c) noexcept {
  return detail::hex_table.v[static_cast<unsigned char>(c)];
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

/// A copy of `s` in ASCII upper case.
inline std::string to_upper(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    c = upper(c);
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
