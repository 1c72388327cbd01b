#include "adapters/headers.hpp"

#include <cstdint>
#include <cstring>

#include <fmt/format.h>

#include "adapters/text.hpp"

namespace mailpipe {

namespace {

// A field name: printable US-ASCII except ':' (RFC 5322 §2.2), optionally
// followed by white space (obsolete syntax). Eight bytes at a time (SWAR): a
// byte is bad when it is below 33 or above 126.
bool valid_name(std::string_view name) noexcept {
  while (!name.empty() && (name.back() == ' ' || name.back() == '\t'))
    name.remove_suffix(1);
  if (name.empty())
    return false;
  constexpr std::uint64_t ones = ~std::uint64_t{0} / 255;
  constexpr std::uint64_t high = ones * 128;
  std::size_t i = 0;
  for (; i + 8 <= name.size(); i += 8) {
    std::uint64_t x;
    std::memcpy(&x, name.data() + i, 8);
    auto below_33 = (x - ones * 33) & ~x & high;
    auto above_126 = ((x + ones * (127 - 126)) | x) & high;
    if (below_33 | above_126)
      return false;
  }
  for (; i < name.size(); ++i) {
    auto u = static_cast<unsigned char>(name[i]);
    if (u < 33 || u > 126)
      return false;
  }
  return true;
}

// The line starting at `pos`: [pos, end) without its line break; `next` is the
// start of the following line.
struct line_span {
  std::size_t begin;
  std::size_t end;
  std::size_t next;
};

line_span line_at(std::string_view text, std::size_t pos) noexcept {
  auto p = static_cast<const char*>(
      std::memchr(text.data() + pos, '\n', text.size() - pos));
  std::size_t nl = p ? static_cast<std::size_t>(p - text.data()) : text.size();
  std::size_t end = nl;
  if (end > pos && text[end - 1] == '\r')
    --end;
  return {pos, end, p ? nl + 1 : text.size()};
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
  std::size_t pos = 0;
  std::size_t line_no = 0;
  bool skipping = false; // inside the continuation lines of a skipped line
  while (pos < limited.size()) {
    auto ln = line_at(limited, pos);
    ++line_no;
    auto line = limited.substr(ln.begin, ln.end - ln.begin);
    if (line.empty()) {
      out.body = text.substr(ln.next);
      return out;
    }
    if (out.truncated && ln.next == limited.size()
        && ln.end == limited.size()) {
      // A line cut by the limit is not read at all.
      break;
    }
    if (line.front() == ' ' || line.front() == '\t') {
      if (!out.fields.empty() && !skipping) {
        auto& f = out.fields.back();
        f.value = limited.substr(f.value.data() - limited.data(),
                                 ln.end - (f.value.data() - limited.data()));
        while (!f.value.empty() && text::is_space(f.value.front()))
          f.value.remove_prefix(1);
      } else if (!skipping) {
        out.defects.push_back(
            {line_no, "continuation line without a header field before it"});
        skipping = true;
      }
      pos = ln.next;
      continue;
    }
    skipping = false;
    // The name: printable US-ASCII up to ':' (RFC 5322 §2.2), white space
    // before the colon allowed (obsolete syntax, §4.5.8).
    auto colon = line.find(':');
    if (colon == std::string_view::npos || !valid_name(line.substr(0, colon))) {
      if (!(line_no == 1 && line.substr(0, 5) == "From "))
        out.defects.push_back(
            {line_no,
             colon == std::string_view::npos
                 ? fmt::format("line is not a header field (no ':'): {:.60}",
                               line)
                 : fmt::format("invalid header field name: {:.60}", line)});
      skipping = true;
      pos = ln.next;
      continue;
    }
    auto name = line.substr(0, colon);
    while (name.back() == ' ' || name.back() == '\t')
      name.remove_suffix(1);
    std::size_t vstart = ln.begin + colon + 1;
    while (vstart < ln.end
           && (limited[vstart] == ' ' || limited[vstart] == '\t'))
      ++vstart;
    out.fields.push_back(
        {name, limited.substr(vstart, ln.end - vstart), line_no});
    pos = ln.next;
  }
  out.body = {};
  return out;
}

std::string unfold(std::string_view value) {
  return text::collapse_space(value);
}

} // namespace mailpipe
