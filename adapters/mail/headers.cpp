#include "adapters/mail/headers.hpp"

#include <cstdint>
#include <cstring>

#include <fmt/format.h>

#include "adapters/mail/text.hpp"

namespace mailpipe {

namespace {

// The length of the field name at the start of `line` when it is followed by
// optional white space (obsolete syntax, RFC 5322 §4.5.8) and ':'; `colon` is
// set to the colon's offset. npos when the line does not start with a valid
// name (printable US-ASCII except ':', §2.2). Eight bytes at a time (SWAR): the
// name ends at the first byte below 33, above 126 or equal to ':' (the lowest
// flagged byte of each test is exact).
std::size_t field_name(std::string_view line, std::size_t& colon) noexcept {
  constexpr std::uint64_t ones = ~std::uint64_t{0} / 255;
  constexpr std::uint64_t high = ones * 128;
  auto n = line.size();
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t x;
    std::memcpy(&x, line.data() + i, 8);
    auto below_33 = (x - ones * 33) & ~x & high;
    auto above_126 = ((x + ones) | x) & high;
    auto c = x ^ (ones * ':');
    auto is_colon = (c - ones) & ~c & high;
    if (auto stop = below_33 | above_126 | is_colon) {
      i += static_cast<std::size_t>(__builtin_ctzll(stop)) / 8;
      goto found;
    }
  }
  for (; i < n; ++i) {
    auto u = static_cast<unsigned char>(line[i]);
    if (u < 33 || u > 126 || u == ':')
      break;
  }
found:
  auto len = i;
  while (i < n && (line[i] == ' ' || line[i] == '\t'))
    ++i;
  if (len == 0 || i == n || line[i] != ':')
    return std::string_view::npos;
  colon = i;
  return len;
}

} // namespace

const header_field* header_block::find(std::string_view name) const noexcept {
  for (auto& f : fields)
    if (text::iequals(f.name, name))
      return &f;
  return nullptr;
}

std::string_view header_block::value_of(std::string_view name) const noexcept {
  auto f = find(name);
  return f ? f->value : std::string_view{};
}

header_block parse_header_block(std::string_view text, std::size_t max_bytes) {
  header_block out;
  out.fields.reserve(64);
  parse_header_block(text, max_bytes, out);
  return out;
}

void parse_header_block(std::string_view text, std::size_t max_bytes,
                        header_block& out) {
  out.fields.clear();
  out.defects.clear();
  out.body = {};
  out.truncated = false;
  std::string_view limited = text;
  if (text.size() > max_bytes) {
    // Only a cut inside the header block matters; find where the header block
    // ends.
    auto blank = text.substr(0, max_bytes + 1).find("\n\n");
    auto blank_crlf = text.substr(0, max_bytes + 2).find("\n\r\n");
    if (blank == std::string_view::npos
        && blank_crlf == std::string_view::npos) {
      limited = text.substr(0, max_bytes);
      out.truncated = true;
      out.defects.push_back(
          {0,
           fmt::format("header block longer than {} bytes; the rest is ignored",
                       max_bytes)});
    }
  }
  // Pointers rather than offsets: the loop runs once per line of every
  // message.
  const char* const first = limited.data();
  const char* const stop = first + limited.size();
  const char* p = first;
  std::size_t line_no = 0;
  bool skipping = false; // inside the continuation lines of a skipped line
  while (p < stop) {
    auto nl = static_cast<const char*>(
        std::memchr(p, '\n', static_cast<std::size_t>(stop - p)));
    const char* end = nl ? nl : stop;
    const char* next = nl ? nl + 1 : stop;
    if (end > p && end[-1] == '\r')
      --end;
    ++line_no;
    if (end == p) {
      out.body = text.substr(static_cast<std::size_t>(next - text.data()));
      return;
    }
    if (!nl && end == stop && out.truncated)
      break; // a line cut by the limit is not read at all
    if (*p == ' ' || *p == '\t') {
      if (!skipping && !out.fields.empty()) {
        // A fold: the field's value runs on to the end of this line.
        auto& f = out.fields.back();
        const char* v = f.value.data();
        while (v < end && text::is_space(*v))
          ++v;
        f.value = {v, static_cast<std::size_t>(end - v)};
      } else if (!skipping) {
        out.defects.push_back(
            {line_no, "continuation line without a header field before it"});
        skipping = true;
      }
      p = next;
      continue;
    }
    skipping = false;
    std::string_view line{p, static_cast<std::size_t>(end - p)};
    // The name: printable US-ASCII up to ':' (RFC 5322 §2.2), white space
    // before the colon allowed (obsolete syntax, §4.5.8).
    std::size_t colon = 0;
    auto name_len = field_name(line, colon);
    if (name_len == std::string_view::npos) {
      if (!(line_no == 1 && line.substr(0, 5) == "From "))
        out.defects.push_back(
            {line_no,
             line.find(':') == std::string_view::npos
                 ? fmt::format("line is not a header field (no ':'): {:.60}",
                               line)
                 : fmt::format("invalid header field name: {:.60}", line)});
      skipping = true;
      p = next;
      continue;
    }
    const char* v = p + colon + 1;
    while (v < end && (*v == ' ' || *v == '\t'))
      ++v;
    out.fields.push_back(
        {{p, name_len}, {v, static_cast<std::size_t>(end - v)}, line_no});
    p = next;
  }
  out.body = {};
}

std::string unfold(std::string_view value) {
  return text::collapse_space(value);
}

} // namespace mailpipe
