#include "adapters/mail/test_id.hpp"

#include <algorithm>
#include <array>

#include <fmt/format.h>

#include "adapters/mail/rfc2047.hpp"
#include "adapters/mail/text.hpp"
#include "messages/error.hpp"

namespace mailpipe {

// -- token_pattern ------------------------------------------------------------

caf::expected<token_pattern> token_pattern::compile(std::string_view p) {
  token_pattern out;
  auto fail = [&](std::size_t at, std::string_view what) {
    return caf::make_error(
        ec::invalid_config,
        fmt::format("test_id_pattern '{}' at {}: {}", p, at, what));
  };
  auto set = [](atom& a, unsigned char c) { a.bits[c >> 3] |= 1u << (c & 7); };
  std::size_t i = 0;
  while (i < p.size()) {
    atom a;
    char c = p[i];
    if (c == '(' || c == ')' || c == '|' || c == '^' || c == '$')
      return fail(
          i,
          fmt::format(
              "'{}' is not supported (no groups, alternatives or anchors)", c));
    if (c == '?' || c == '*' || c == '+' || c == '{')
      return fail(i, "quantifier without anything before it");
    if (c == '.') {
      a.any = true;
      ++i;
    } else if (c == '\\') {
      if (i + 1 >= p.size())
        return fail(i, "trailing backslash");
      char e = p[i + 1];
      auto range = [&](char lo, char hi) {
        for (int x = lo; x <= hi; ++x)
          set(a, static_cast<unsigned char>(x));
      };
      if (e == 'd')
        range('0', '9');
      else if (e == 'w')
        range('a', 'z'), range('A', 'Z'), range('0', '9'), set(a, '_');
      else
        set(a, static_cast<unsigned char>(e));
      i += 2;
    } else if (c == '[') {
      ++i;
      if (i < p.size() && p[i] == '^')
        a.negated = true, ++i;
      bool first = true;
      while (i < p.size() && (p[i] != ']' || first)) {
        first = false;
        unsigned char lo = static_cast<unsigned char>(p[i]);
        if (p[i] == '\\' && i + 1 < p.size())
          lo = static_cast<unsigned char>(p[++i]);
        if (i + 2 < p.size() && p[i + 1] == '-' && p[i + 2] != ']') {
          unsigned char hi = static_cast<unsigned char>(p[i + 2]);
          if (hi < lo)
            return fail(i, "class range out of order");
          for (int x = lo; x <= hi; ++x)
            set(a, static_cast<unsigned char>(x));
          i += 3;
        } else {
          set(a, lo);
          ++i;
        }
      }
      if (i >= p.size())
        return fail(i, "unterminated '['");
      ++i; // ']'
    } else {
      set(a, static_cast<unsigned char>(c));
      ++i;
    }
    if (i < p.size()) {
      char q = p[i];
      if (q == '?')
        a.min = 0, a.max = 1, ++i;
      else if (q == '*')
        a.min = 0, a.max = 1 << 20, ++i;
      else if (q == '+')
        a.min = 1, a.max = 1 << 20, ++i;
      else if (q == '{') {
        auto close = p.find('}', i);
        if (close == std::string_view::npos)
          return fail(i, "unterminated '{'");
        auto body = p.substr(i + 1, close - i - 1);
        auto comma = body.find(',');
        auto lo = text::parse_number(body.substr(0, comma));
        std::optional<double> hi = lo;
        if (comma != std::string_view::npos)
          hi = comma + 1 == body.size()
                   ? std::optional<double>{1 << 20}
                   : text::parse_number(body.substr(comma + 1));
        if (!lo || !hi || *lo < 0 || *hi < *lo || *hi > (1 << 20))
          return fail(i, "bad {n,m} quantifier");
        a.min = static_cast<int>(*lo);
        a.max = static_cast<int>(*hi);
        i = close + 1;
      }
    }
    out.atoms_.push_back(a);
  }
  if (out.atoms_.empty())
    return fail(0, "empty pattern");
  if (out.atoms_.size() > max_atoms)
    return fail(0, fmt::format("more than {} elements", max_atoms));
  return out;
}

long token_pattern::match_at(std::string_view s, std::size_t i,
                             std::size_t k) const {
  // Greedy with backtracking over the count of each atom; atoms are single
  // bytes, so an explicit stack of counts replaces recursion.
  std::array<int, max_atoms> counts{};
  std::array<std::size_t, max_atoms> starts{};
  std::size_t a = k;
  std::size_t pos = i;
  // Forward: take as many as possible for atom a.
  auto take = [&](std::size_t idx, std::size_t from) {
    auto& at = atoms_[idx];
    int n = 0;
    while (n < at.max && from + n < s.size()
           && at.accepts(static_cast<unsigned char>(s[from + n])))
      ++n;
    return n;
  };
  for (;;) {
    if (a == atoms_.size())
      return static_cast<long>(pos - i);
    int n = take(a, pos);
    if (n >= atoms_[a].min) {
      starts[a] = pos;
      counts[a] = n;
      pos += n;
      ++a;
      continue;
    }
    // Backtrack: shorten the most recent atom that can give one up.
    for (;;) {
      if (a == k)
        return -1;
      --a;
      if (counts[a] > atoms_[a].min) {
        --counts[a];
        pos = starts[a] + counts[a];
        ++a;
        break;
      }
    }
  }
}

std::string_view token_pattern::find(std::string_view s) const {
  if (atoms_.empty()) // a default-constructed pattern matches nothing
    return {};
  for (std::size_t i = 0; i < s.size(); ++i) {
    // Quick reject on the first atom when it must match at least once.
    if (atoms_[0].min > 0
        && !atoms_[0].accepts(static_cast<unsigned char>(s[i])))
      continue;
    auto n = match_at(s, i, 0);
    if (n > 0)
      return s.substr(i, static_cast<std::size_t>(n));
  }
  return {};
}

bool token_pattern::matches(std::string_view s) const {
  return match_at(s, 0, 0) == static_cast<long>(s.size());
}

// -- first body part ----------------------------------------------------------

namespace {

// The value of parameter `name` of a Content-Type value ("" when absent).
std::string_view content_param(std::string_view ct, std::string_view name) {
  std::size_t i = 0;
  while ((i = ct.find(';', i)) != std::string_view::npos) {
    ++i;
    auto rest = text::trim(ct.substr(i));
    if (text::istarts_with(rest, name) && rest.size() > name.size()) {
      auto after = text::trim(rest.substr(name.size()));
      if (!after.empty() && after.front() == '=') {
        after = text::trim(after.substr(1));
        if (!after.empty() && after.front() == '"') {
          auto close = after.find('"', 1);
          return after.substr(1, close == std::string_view::npos
                                     ? after.size() - 1
                                     : close - 1);
        }
        return after.substr(0, after.find_first_of("; \t\r\n"));
      }
    }
  }
  return {};
}

std::string decode_base64_body(std::string_view in, std::size_t limit) {
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = -1;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+')
      v = 62;
    else if (c == '/')
      v = 63;
    else if (c == '=')
      break;
    if (v < 0)
      continue;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
      if (out.size() >= limit)
        break;
    }
  }
  return out;
}

std::string decode_qp_body(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '=') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 1 < in.size() && (in[i + 1] == '\n' || in[i + 1] == '\r')) {
      i +=
          (in[i + 1] == '\r' && i + 2 < in.size() && in[i + 2] == '\n') ? 2 : 1;
      continue; // soft line break
    }
    if (i + 2 < in.size() && text::hex_value(in[i + 1]) >= 0
        && text::hex_value(in[i + 2]) >= 0) {
      out.push_back(static_cast<char>(text::hex_value(in[i + 1]) * 16
                                      + text::hex_value(in[i + 2])));
      i += 2;
      continue;
    }
    out.push_back('=');
  }
  return out;
}

} // namespace

std::string first_body_part(const header_block& headers, std::size_t limit) {
  const header_block* hb = &headers;
  header_block nested;
  for (int depth = 0; depth < 8; ++depth) {
    auto ct = hb->value_of("Content-Type");
    auto body = hb->body;
    if (text::istarts_with(text::trim(ct), "multipart/")) {
      auto boundary = content_param(ct, "boundary");
      if (boundary.empty())
        return {};
      auto delim = fmt::format("--{}", boundary);
      auto start = body.find(delim);
      if (start == std::string_view::npos)
        return {};
      auto part_start = body.find('\n', start);
      if (part_start == std::string_view::npos)
        return {};
      auto rest = body.substr(part_start + 1);
      auto end = rest.find(delim);
      auto part = rest.substr(0, end);
      // The part's own header block, then its body.
      nested = parse_header_block(part, part.size());
      if (nested.body.data() == nullptr
          || (nested.fields.empty() && nested.body.empty()))
        nested.body = part;
      hb = &nested;
      continue;
    }
    body = body.substr(0, std::min(body.size(), limit * 2));
    auto cte = text::trim(hb->value_of("Content-Transfer-Encoding"));
    std::string out;
    if (text::iequals(cte, "base64"))
      out = decode_base64_body(body, limit);
    else if (text::iequals(cte, "quoted-printable"))
      out = decode_qp_body(body);
    else
      out.assign(body);
    if (out.size() > limit)
      out.resize(limit);
    return out;
  }
  return {};
}

// -- finding test ids ---------------------------------------------------------

caf::expected<test_id_rules>
make_test_id_rules(std::vector<std::string> headers, std::string_view pattern) {
  auto compiled = token_pattern::compile(pattern);
  if (!compiled)
    return std::move(compiled.error());
  return test_id_rules{std::move(headers), std::move(*compiled)};
}

std::vector<std::string> find_test_ids(const header_block& headers,
                                       const test_id_rules& rules) {
  auto subject = headers.find("Subject");
  return find_test_ids(
      headers, rules, subject ? decode_rfc2047(subject->value) : std::string{});
}

std::vector<std::string> find_test_ids(const header_block& headers,
                                       const test_id_rules& rules,
                                       std::string_view decoded_subject) {
  std::vector<std::string> ids;
  auto add = [&](std::string_view id) {
    id = text::trim(id);
    if (id.empty())
      return;
    for (auto& known : ids)
      if (known == id)
        return;
    ids.emplace_back(id);
  };
  for (auto& name : rules.headers)
    for (auto& f : headers.fields)
      if (text::iequals(f.name, name))
        add(unfold(f.value));
  add(rules.pattern.find(decoded_subject));
  if (!headers.body.empty()) {
    auto text = first_body_part(headers);
    add(rules.pattern.find(text));
  }
  return ids;
}

std::vector<std::string>
carried_test_ids(const header_block& headers, const test_id_rules& rules,
                 const std::vector<std::string>& pending) {
  auto ids = find_test_ids(headers, rules);
  std::erase_if(ids, [&](const std::string& id) {
    return std::find(pending.begin(), pending.end(), id) == pending.end();
  });
  return ids;
}

} // namespace mailpipe
