#include "adapters/mail/text.hpp"

#include <charconv>
#include <cmath>

namespace mailpipe::text {

std::size_t ifind(std::string_view haystack, std::string_view needle) noexcept {
  if (needle.empty())
    return 0;
  if (needle.size() > haystack.size())
    return std::string_view::npos;
  auto first = lower(needle[0]);
  for (std::size_t i = 0; i + needle.size() <= haystack.size(); ++i)
    if (lower(haystack[i]) == first
        && iequals(haystack.substr(i, needle.size()), needle))
      return i;
  return std::string_view::npos;
}

namespace {

// Folding white space as a table, for the unfolding loop.
constexpr byte_set space{" \t\r\n"};

} // namespace

void append_collapsed(std::string& out, std::string_view s) {
  s = trim(s);
  out.reserve(out.size() + s.size()); // at most one allocation
  // Most values hold single spaces only: find the first byte that needs
  // rewriting (any white space but a lone ' '), copy up to it at once.
  auto n = s.size();
  std::size_t i = 0;
  for (; i < n; ++i) {
    char c = s[i];
    if (space(c) && (c != ' ' || space(s[i + 1])))
      break; // s is trimmed, so a space is never last: s[i + 1] exists
  }
  out.append(s.data(), i);
  if (i == n)
    return;
  // Collapse the rest: every run of white space becomes one space.
  auto base = out.size();
  out.resize(base + (n - i));
  char* p = out.data() + base;
  std::size_t w = 0;
  while (i < n) {
    if (space(s[i])) {
      while (space(s[i])) // trimmed: the run ends before the end
        ++i;
      p[w++] = ' ';
      continue;
    }
    p[w++] = s[i++];
  }
  out.resize(base + w);
}

std::string collapse_space(std::string_view s) {
  std::string out;
  append_collapsed(out, s);
  return out;
}

std::optional<double> parse_number(std::string_view s) noexcept {
  if (!s.empty() && s.front() == '+')
    s.remove_prefix(1);
  if (s.empty())
    return std::nullopt;
  double value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || ptr != s.data() + s.size() || !std::isfinite(value))
    return std::nullopt;
  return value;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    cp = 0xFFFD;
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::size_t utf8_sequence_length(std::string_view s) noexcept {
  if (s.empty())
    return 0;
  auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  auto c0 = b(0);
  if (c0 < 0x80)
    return 1;
  std::size_t len = 0;
  char32_t min = 0;
  if ((c0 & 0xE0) == 0xC0) {
    len = 2;
    min = 0x80;
  } else if ((c0 & 0xF0) == 0xE0) {
    len = 3;
    min = 0x800;
  } else if ((c0 & 0xF8) == 0xF0) {
    len = 4;
    min = 0x10000;
  } else {
    return 0;
  }
  if (s.size() < len)
    return 0;
  char32_t cp = c0 & (0x7F >> len);
  for (std::size_t i = 1; i < len; ++i) {
    if ((b(i) & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (b(i) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return len;
}

namespace {

// Windows-1252 0x80-0x9F; the rest of the upper half is Latin-1.
constexpr char16_t cp1252_c1[32] = {
    0x20AC, 0xFFFD, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0xFFFD, 0x017D, 0xFFFD,
    0xFFFD, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0xFFFD, 0x017E, 0x0178,
};

} // namespace

void append_lenient_utf8(std::string& out, std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      auto start = i;
      while (i < s.size() && static_cast<unsigned char>(s[i]) < 0x80)
        ++i;
      out.append(s.substr(start, i - start));
      continue;
    }
    if (auto len = utf8_sequence_length(s.substr(i)); len > 0) {
      out.append(s.substr(i, len));
      i += len;
      continue;
    }
    append_utf8(out, c < 0xA0 ? cp1252_c1[c - 0x80] : char32_t{c});
    ++i;
  }
}

bool iglob(std::string_view pattern, std::string_view s) noexcept {
  // Iterative glob with single-star backtracking: linear in practice, never
  // recursive.
  std::size_t p = 0, i = 0, star = std::string_view::npos, mark = 0;
  while (i < s.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = i;
    } else if (p < pattern.size() && lower(pattern[p]) == lower(s[i])) {
      ++p;
      ++i;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      i = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*')
    ++p;
  return p == pattern.size();
}

} // namespace mailpipe::text
