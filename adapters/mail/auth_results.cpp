#include "adapters/mail/auth_results.hpp"

#include <fmt/format.h>

#include "adapters/mail/text.hpp"

namespace mailpipe {

namespace {

// -- lexer --------------------------------------------------------------------

// The bytes that end a token: white space, '(', ';', '"', and per call site
// the extra stops.
constexpr std::string_view token_end = " \t\r\n(;\"";
constexpr text::byte_set stops_none{token_end};
constexpr text::byte_set stops_eq{token_end, "="};
constexpr text::byte_set stops_eq_semi{token_end, "=;"};
constexpr text::byte_set stops_eq_slash{token_end, "=/"};
constexpr text::byte_set stops_key{token_end, "=.;/"};

// The bytes a comment's scan stops at: its delimiters and the quoting
// backslash.
constexpr text::byte_set comment_bytes{"()\\"};

// Reads RFC 8601 tokens, skipping CFWS (folding white space and nested
// comments).
class lexer {
public:
  explicit lexer(std::string_view s) : s_(s) {}

  bool at_end() const noexcept { return i_ >= s_.size(); }

  char peek() const noexcept { return at_end() ? '\0' : s_[i_]; }

  std::size_t pos() const noexcept { return i_; }

  void seek(std::size_t p) noexcept { i_ = p; }

  void advance() noexcept {
    if (!at_end())
      ++i_;
  }

  /// Skips white space and comments; appends comment text to `comments` when
  /// given. Inline for the common case of nothing to skip.
  [[gnu::always_inline]] void skip_cfws(std::string* comments = nullptr) {
    if (i_ < s_.size() && !text::is_space(s_[i_]) && s_[i_] != '(')
      return;
    skip_cfws_slow(comments);
  }

  /// Copies a value (see value()) into `out`.
  void value_into(std::string& out, const text::byte_set& stops = stops_none) {
    if (peek() != '"') {
      out.assign(token(stops));
      return;
    }
    out = value(stops);
  }

private:
  [[gnu::noinline]] void skip_cfws_slow(std::string* comments) {
    for (;;) {
      while (!at_end() && text::is_space(s_[i_]))
        ++i_;
      if (at_end() || s_[i_] != '(')
        return;
      auto body = text::trim(comment());
      if (comments && !body.empty()) {
        if (!comments->empty())
          comments->append("; ");
        text::append_collapsed(*comments, body);
      }
    }
  }

public:
  /// A run of bytes up to white space, '(', ';', '"' or one of `stops`.
  std::string_view token(const text::byte_set& stops) noexcept {
    auto start = i_;
    auto n = s_.size();
    while (i_ < n && !stops(s_[i_]))
      ++i_;
    return s_.substr(start, i_ - start);
  }

  /// A value: a quoted-string (unquoted, unescaped, unfolded) or a token.
  std::string value(const text::byte_set& stops = stops_none) {
    if (peek() != '"')
      return std::string{token(stops)};
    ++i_;
    std::string out;
    while (!at_end() && s_[i_] != '"') {
      char c = s_[i_];
      if (c == '\\' && i_ + 1 < s_.size()) {
        out.push_back(s_[i_ + 1]);
        i_ += 2;
        continue;
      }
      if (c == '\r' || c == '\n') {
        ++i_;
        continue;
      }
      out.push_back(c);
      ++i_;
    }
    if (!at_end())
      ++i_; // closing quote
    else
      unterminated_ = true;
    return out;
  }

  /// Skips to just after the next ';' outside comments and quoted strings.
  void skip_clause() {
    while (!at_end()) {
      char c = s_[i_];
      if (c == '(') {
        comment();
      } else if (c == '"') {
        value();
      } else {
        ++i_;
        if (c == ';')
          return;
      }
    }
  }

  /// True once an unterminated comment or quoted string was met.
  bool unterminated() const noexcept { return unterminated_; }

private:
  // Consumes a comment at '(' (nested, with quoted-pairs); returns its inner
  // text.
  std::string_view comment() {
    auto start = ++i_;
    int depth = 1;
    auto n = s_.size();
    while (i_ < n) {
      while (i_ < n && !comment_bytes(s_[i_]))
        ++i_;
      if (i_ >= n)
        break;
      char c = s_[i_];
      if (c == '\\') {
        i_ += 2;
        continue;
      }
      if (c == '(') {
        ++depth;
      } else if (c == ')' && --depth == 0) {
        ++i_;
        return s_.substr(start, i_ - 1 - start);
      }
      ++i_;
    }
    i_ = s_.size();
    unterminated_ = true;
    return s_.substr(start);
  }

  std::string_view s_;
  std::size_t i_ = 0;
  bool unterminated_ = false;
};

// Methods of the IANA registry and common vendor ones: a `name=` after a result
// that names one of these starts a new clause whose ';' the writer forgot.
bool known_method(std::string_view m) noexcept {
  static constexpr std::string_view methods[] = {
      "auth",  "dkim",      "dkim-adsp", "dkim-atps",  "dmarc", "arc",
      "iprev", "sender-id", "spf",       "bimi",       "rrvs",  "smime",
      "vbr",   "dnswl",     "compauth",  "domainkeys",
  };
  for (auto k : methods)
    if (text::iequals(k, m))
      return true;
  return text::istarts_with(m, "x-");
}

// `out` = the ASCII lower case of `s`, in place (no temporary string).
void assign_lower(std::string& out, std::string_view s) {
  out.assign(s);
  for (auto& c : out)
    c = text::lower(c);
}

bool all_digits(std::string_view s) noexcept {
  if (s.empty())
    return false;
  for (char c : s)
    if (c < '0' || c > '9')
      return false;
  return true;
}

int to_int(std::string_view s) noexcept {
  int v = 0;
  for (char c : s) {
    if (v > 100000)
      break;
    v = v * 10 + (c - '0');
  }
  return v;
}

// -- resinfo ------------------------------------------------------------------

// Reads properties and `reason=` until ';' or the end. Returns false when it
// stopped at the start of a new clause that lacked its ';'.
void read_properties(lexer& lx, auth_result& r,
                     std::vector<std::string>& defects) {
  if (!lx.at_end() && lx.peek() != ';' && r.properties.capacity() == 0)
    r.properties.reserve(4); // one allocation for the usual one to four
  while (!lx.at_end() && lx.peek() != ';') {
    auto start = lx.pos();
    auto key = lx.token(stops_key);
    if (key.empty()) {
      defects.push_back(
          fmt::format("unexpected '{}' in {} result", lx.peek(), r.method));
      lx.advance();
      lx.skip_cfws(&r.comment);
      continue;
    }
    lx.skip_cfws();
    if (lx.peek() == '.') {
      lx.advance();
      lx.skip_cfws();
      auto name = lx.token(stops_eq_semi);
      lx.skip_cfws();
      if (lx.peek() != '=') {
        defects.push_back(fmt::format("property {}.{} without '='", key, name));
        lx.skip_cfws(&r.comment);
        continue;
      }
      lx.advance();
      lx.skip_cfws();
      auto& p = r.properties.emplace_back();
      assign_lower(p.ptype, key);
      p.name.assign(name);
      lx.value_into(p.value);
    } else if (lx.peek() == '=') {
      if (known_method(key) && !text::iequals(key, "reason")) {
        lx.seek(start); // a new clause without its ';'
        return;
      }
      lx.advance();
      lx.skip_cfws();
      if (text::iequals(key, "reason")) {
        lx.value_into(r.reason);
      } else {
        auto& p = r.properties.emplace_back();
        p.name.assign(key);
        lx.value_into(p.value);
      }
    } else {
      defects.push_back(
          fmt::format("stray word '{}' in {} result", key, r.method));
    }
    lx.skip_cfws(&r.comment);
  }
}

} // namespace

std::string_view auth_result::property(std::string_view ptype,
                                       std::string_view name) const noexcept {
  for (auto& p : properties)
    if (text::iequals(p.ptype, ptype) && text::iequals(p.name, name))
      return p.value;
  return {};
}

std::string_view received_spf::property(std::string_view key) const noexcept {
  for (auto& p : properties)
    if (text::iequals(p.name, key))
      return p.value;
  return {};
}

auth_results_header parse_auth_results(std::string_view value, bool arc) {
  auth_results_header out;
  parse_auth_results(value, arc, out);
  return out;
}

void parse_auth_results(std::string_view value, bool arc,
                        auth_results_header& out) {
  out.authserv_id.clear();
  out.version = 1;
  out.instance = 0;
  out.none = false;
  out.none_comment.clear();
  out.results.clear();
  out.defects.clear();
  lexer lx{value};
  lx.skip_cfws();
  if (arc) {
    auto start = lx.pos();
    auto key = lx.token(stops_eq);
    lx.skip_cfws();
    if (text::iequals(key, "i") && lx.peek() == '=') {
      lx.advance();
      lx.skip_cfws();
      auto n = lx.token(stops_none);
      if (all_digits(n))
        out.instance = to_int(n);
      else
        out.defects.push_back("ARC instance i= is not a number");
      lx.skip_cfws();
      if (lx.peek() == ';')
        lx.advance();
      lx.skip_cfws();
    } else {
      out.defects.push_back("ARC-Authentication-Results without i=");
      lx.seek(start);
    }
  }
  // authserv-id, unless the header starts right away with `method=`
  // (Microsoft).
  auto start = lx.pos();
  if (lx.peek() == '"') {
    out.authserv_id = lx.value();
  } else {
    auto id = lx.token(stops_eq_slash);
    lx.skip_cfws();
    if (lx.peek() == '=' || lx.peek() == '/')
      lx.seek(start);
    else
      out.authserv_id = std::string{id};
  }
  lx.skip_cfws();
  if (lx.pos() != start && !lx.at_end() && lx.peek() != ';') {
    auto before = lx.pos();
    auto v = lx.token(stops_eq);
    if (all_digits(v)) {
      out.version = to_int(v);
    } else {
      // "id spf=pass": the ';' after the authserv-id is missing; read on from
      // here.
      out.defects.push_back("missing ';' after the authserv-id");
      lx.seek(before);
      if (v.empty())
        lx.skip_clause();
    }
    lx.skip_cfws();
  }
  while (!lx.at_end()) {
    if (lx.peek() == ';') {
      lx.advance();
      lx.skip_cfws();
      continue;
    }
    auto method = lx.token(stops_eq_slash);
    if (method.empty()) {
      out.defects.push_back(fmt::format(
          "unexpected '{}' where a method was expected", lx.peek()));
      lx.skip_clause();
      lx.skip_cfws();
      continue;
    }
    // Built in place; dropped again when the clause has no result.
    auto& r = out.results.emplace_back();
    assign_lower(r.method, method);
    std::string after_method; // the comment of the `none` form
    lx.skip_cfws(&after_method);
    if (lx.peek() == '/') {
      lx.advance();
      lx.skip_cfws();
      r.method_version = std::string{lx.token(stops_eq)};
      lx.skip_cfws();
    }
    if (lx.peek() != '=') {
      if (r.method == "none") {
        out.none = true;
        out.none_comment = std::move(after_method);
        lx.skip_cfws(&out.none_comment);
        if (!lx.at_end() && lx.peek() != ';')
          lx.skip_clause();
      } else {
        out.defects.push_back(
            fmt::format("method {} without a result", r.method));
        lx.skip_clause();
      }
      out.results.pop_back();
      lx.skip_cfws();
      continue;
    }
    lx.advance();
    lx.skip_cfws();
    assign_lower(r.result, lx.token(stops_eq));
    if (r.result.empty())
      out.defects.push_back(
          fmt::format("method {} with an empty result", r.method));
    lx.skip_cfws(&r.comment);
    read_properties(lx, r, out.defects);
  }
  if (lx.unterminated())
    out.defects.push_back("unterminated comment or quoted string");
}

received_spf parse_received_spf(std::string_view value) {
  received_spf out;
  parse_received_spf(value, out);
  return out;
}

void parse_received_spf(std::string_view value, received_spf& out) {
  out.result.clear();
  out.comment.clear();
  out.properties.clear();
  out.defects.clear();
  out.properties.reserve(6);
  lexer lx{value};
  lx.skip_cfws();
  assign_lower(out.result, lx.token(stops_eq_semi));
  if (out.result.empty())
    out.defects.push_back("Received-SPF without a result");
  lx.skip_cfws(&out.comment);
  while (!lx.at_end()) {
    if (lx.peek() == ';') {
      lx.advance();
      lx.skip_cfws();
      continue;
    }
    auto key = lx.token(stops_eq);
    lx.skip_cfws();
    if (key.empty() || lx.peek() != '=') {
      out.defects.push_back(
          fmt::format("stray word '{}' in Received-SPF", key));
      if (key.empty())
        lx.advance();
      lx.skip_cfws();
      continue;
    }
    lx.advance();
    lx.skip_cfws();
    auto& p = out.properties.emplace_back();
    assign_lower(p.name, key);
    lx.value_into(p.value);
    lx.skip_cfws();
  }
  if (lx.unterminated())
    out.defects.push_back("unterminated comment or quoted string");
}

} // namespace mailpipe
