#include "adapters/imap/response_parser.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>

#include <caf/error.hpp>
#include <fmt/format.h>

#include "adapters/mail/text.hpp"
#include "messages/error.hpp"

namespace mailpipe::imap {

namespace {

// -- small helpers ------------------------------------------------------------

/// Shows at most 60 bytes of bad input, non-printable bytes escaped.
std::string excerpt(std::string_view x) {
  std::string out;
  for (auto c : x.substr(0, 60)) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f)
      out += c;
    else
      out += fmt::format("\\x{:02x}", u);
  }
  if (x.size() > 60)
    out += "...";
  return out;
}

caf::error syntax_error(std::string_view what, std::string_view near) {
  return caf::make_error(
      ec::parse_error,
      fmt::format("IMAP response: {} near \"{}\"", what, excerpt(near)));
}

/// If the line `[begin, eol)` ends in a literal marker `{n}`, `{n+}` or
/// `~{n}`, returns n.
std::optional<std::size_t> literal_at_end(std::string_view line) {
  if (line.empty() || line.back() != '}')
    return std::nullopt;
  auto open = line.rfind('{');
  if (open == std::string_view::npos)
    return std::nullopt;
  auto digits = line.substr(open + 1, line.size() - open - 2);
  if (!digits.empty() && digits.back() == '+')
    digits.remove_suffix(1);
  if (digits.empty() || digits.size() > 19)
    return std::nullopt;
  std::size_t n = 0;
  auto [ptr, err] =
      std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (err != std::errc{} || ptr != digits.data() + digits.size())
    return std::nullopt;
  return n;
}

// -- the tokenizer ------------------------------------------------------------

/// Recursive-descent reader over one framed response.
class reader {
public:
  reader(std::string_view in, const parser_limits& limits)
      : in_(in), limits_(limits) {}

  bool at_end() const { return pos_ >= in_.size() || at_eol(); }

  bool at_eol() const {
    return pos_ < in_.size() && (in_[pos_] == '\r' || in_[pos_] == '\n');
  }

  char peek() const { return pos_ < in_.size() ? in_[pos_] : '\0'; }

  std::string_view rest() const { return in_.substr(pos_); }

  void skip_spaces() {
    while (pos_ < in_.size() && in_[pos_] == ' ')
      ++pos_;
  }

  /// Reads up to the end of the line (the human-readable text) into `out`,
  /// whose buffer is reused.
  void text_to_eol(std::string& out) {
    auto rest = in_.substr(pos_);
    auto n = rest.size();
    if (auto lf = std::memchr(rest.data(), '\n', n))
      n = static_cast<std::size_t>(static_cast<const char*>(lf) - rest.data());
    if (auto cr = std::memchr(rest.data(), '\r', n))
      n = static_cast<std::size_t>(static_cast<const char*>(cr) - rest.data());
    out.assign(rest.data(), n);
    pos_ += n;
  }

  /// Reads a bare word up to a space (tags, keywords): a view into the input.
  std::string_view word() {
    static constexpr text::byte_set word_end{" \r\n"};
    auto start = pos_;
    while (pos_ < in_.size() && !word_end(in_[pos_]))
      ++pos_;
    return in_.substr(start, pos_ - start);
  }

  /// Reads tokens until the end of the line (or `stop`, when not '\0') into
  /// `out`. The values already there are overwritten, not freed: parsing in
  /// place into the last response's data reuses its strings and lists.
  caf::error tokens(std::vector<value>& out, std::size_t depth, char stop) {
    std::size_t n = 0;
    for (;;) {
      skip_spaces();
      if (pos_ >= in_.size() || at_eol()) {
        if (stop != '\0') {
          out.resize(n);
          return syntax_error("unterminated list", rest());
        }
        break;
      }
      if (in_[pos_] == stop) {
        ++pos_;
        break;
      }
      if (n == out.size())
        out.emplace_back();
      if (auto err = token(out[n], depth)) {
        out.resize(n);
        return err;
      }
      ++n;
    }
    out.resize(n);
    return {};
  }

  /// Reads one token into `v` (its buffers reused).
  caf::error token(value& v, std::size_t depth) {
    char c = in_[pos_];
    if (c == '(') {
      if (depth >= limits_.max_depth)
        return syntax_error("lists nested too deeply", rest());
      ++pos_;
      v.kind = value::type::list;
      v.text.clear();
      return tokens(v.items, depth + 1, ')');
    }
    v.items.clear();
    if (c == '"')
      return quoted(v);
    if (c == '{' || (c == '~' && pos_ + 1 < in_.size() && in_[pos_ + 1] == '{'))
      return literal(v);
    if (c == ')')
      return syntax_error("unbalanced ')'", rest());
    return atom(v);
  }

  caf::error quoted(value& v) {
    auto start = pos_++;
    v.kind = value::type::string;
    v.text.clear();
    while (pos_ < in_.size()) {
      char c = in_[pos_++];
      if (c == '"')
        return {};
      if (c == '\r' || c == '\n')
        break;
      if (c == '\\') {
        if (pos_ >= in_.size())
          break;
        c = in_[pos_++];
      }
      v.text += c;
    }
    return syntax_error("unterminated quoted string", in_.substr(start));
  }

  caf::error literal(value& v) {
    auto start = pos_;
    if (in_[pos_] == '~')
      ++pos_;
    ++pos_; // '{'
    std::size_t n = 0;
    auto first = in_.data() + pos_;
    auto last = in_.data() + in_.size();
    auto [ptr, err] = std::from_chars(first, last, n);
    if (err != std::errc{} || ptr == first)
      return syntax_error("bad literal length", in_.substr(start));
    pos_ = static_cast<std::size_t>(ptr - in_.data());
    if (peek() == '+')
      ++pos_;
    if (peek() != '}')
      return syntax_error("bad literal marker", in_.substr(start));
    ++pos_;
    if (peek() == '\r')
      ++pos_;
    if (peek() != '\n')
      return syntax_error("literal marker not at end of line",
                          in_.substr(start));
    ++pos_;
    if (n > limits_.max_literal)
      return syntax_error("literal too large", in_.substr(start));
    if (in_.size() - pos_ < n)
      return syntax_error("literal shorter than announced", in_.substr(start));
    v.kind = value::type::string;
    v.text.assign(in_.substr(pos_, n));
    pos_ += n;
    return {};
  }

  caf::error atom(value& v) {
    auto start = pos_;
    int brackets = 0;
    while (pos_ < in_.size()) {
      char c = in_[pos_];
      if (c == '\r' || c == '\n')
        break;
      if (brackets == 0 && (c == ' ' || c == '(' || c == ')' || c == '"'))
        break;
      if (c == '[')
        ++brackets;
      else if (c == ']' && brackets > 0)
        --brackets;
      else if (c == ']')
        break;
      // BODY[HEADER]<0> and BODY[...] carry spaces inside brackets only.
      ++pos_;
    }
    if (pos_ == start)
      return syntax_error("unexpected character", rest());
    if (brackets != 0)
      return syntax_error("unterminated '['", in_.substr(start));
    auto word = in_.substr(start, pos_ - start);
    if (iequals(word, "NIL")) {
      v.kind = value::type::nil;
      v.text.clear();
    } else {
      v.kind = value::type::atom;
      v.text.assign(word);
    }
    return {};
  }

  /// Reads `[CODE args] text` after a status word.
  caf::error resp_text(response& r) {
    skip_spaces();
    if (peek() == '[') {
      ++pos_;
      auto start = pos_;
      static constexpr text::byte_set code_end{" ]\r\n"};
      while (pos_ < in_.size() && !code_end(in_[pos_]))
        ++pos_;
      r.code = text::to_upper(in_.substr(start, pos_ - start));
      if (r.code.empty())
        return syntax_error("empty response code", in_.substr(start));
      skip_spaces();
      // Arguments run to the matching ']' (they may hold lists and quotes).
      auto args_start = pos_;
      int depth = 0;
      bool in_quote = false;
      // Only these bytes matter; a CAPABILITY code is hundreds of others.
      static constexpr text::byte_set args_stops{"\r\n\"\\[]()"};
      while (pos_ < in_.size()) {
        while (pos_ < in_.size() && !args_stops(in_[pos_]))
          ++pos_;
        if (pos_ >= in_.size()) // (an escape may step past the end)
          break;
        char c = in_[pos_];
        if (c == '\r' || c == '\n')
          break;
        if (in_quote) {
          if (c == '\\')
            ++pos_;
          else if (c == '"')
            in_quote = false;
        } else if (c == '"') {
          in_quote = true;
        } else if (c == '[' || c == '(') {
          ++depth;
        } else if (c == ')') {
          --depth;
        } else if (c == ']') {
          if (depth <= 0)
            break;
          --depth;
        }
        ++pos_;
      }
      if (peek() != ']')
        return syntax_error("unterminated response code", in_.substr(start));
      r.code_args.assign(in_.substr(args_start, pos_ - args_start));
      ++pos_;
      skip_spaces();
    }
    text_to_eol(r.text);
    return {};
  }

private:
  std::string_view in_;
  const parser_limits& limits_;
  std::size_t pos_ = 0;
};

std::optional<status> status_of(std::string_view word) {
  if (iequals(word, "OK"))
    return status::ok;
  if (iequals(word, "NO"))
    return status::no;
  if (iequals(word, "BAD"))
    return status::bad;
  if (iequals(word, "BYE"))
    return status::bye;
  if (iequals(word, "PREAUTH"))
    return status::preauth;
  return std::nullopt;
}

/// The number an atom spells (digits only, 32 bits), or nullopt.
std::optional<uint32_t> number_of(std::string_view x) {
  if (x.empty() || x.size() > 10)
    return std::nullopt;
  uint32_t n = 0;
  auto [ptr, err] = std::from_chars(x.data(), x.data() + x.size(), n);
  if (err != std::errc{} || ptr != x.data() + x.size())
    return std::nullopt;
  return n;
}

/// Keywords whose data we interpret: bad syntax there is an error; unknown
/// responses with odd syntax are kept as text.
bool strict_keyword(std::string_view k) {
  return k == "FETCH" || k == "LIST" || k == "SEARCH" || k == "ESEARCH"
         || k == "CAPABILITY" || k == "XLIST";
}

} // namespace

// -- value --------------------------------------------------------------------

bool value::is_atom(std::string_view name) const {
  return kind == type::atom && iequals(text, name);
}

std::optional<uint32_t> value::number() const {
  if (kind != type::atom)
    return std::nullopt;
  return number_of(text);
}

std::string_view to_string(status x) {
  switch (x) {
    case status::ok: return "OK";
    case status::no: return "NO";
    case status::bad: return "BAD";
    case status::bye: return "BYE";
    case status::preauth: return "PREAUTH";
    case status::none: break;
  }
  return "";
}

// -- one framed response ------------------------------------------------------

namespace {

/// `parse_response` into `r`; on an error `r.data` may hold values of an
/// earlier response (the caller clears it).
caf::error parse_into(std::string_view frame, const parser_limits& limits,
                      response& r) {
  reader rd{frame, limits};
  r.kind = response_kind::untagged;
  r.tag.clear();
  r.state = status::none;
  r.code.clear();
  r.code_args.clear();
  r.text.clear();
  r.number.reset();
  r.keyword.clear();
  // r.data is overwritten by the tokenizer, its values' buffers reused.
  auto tag = rd.word();
  if (tag.empty())
    return syntax_error("missing tag", frame);
  if (tag == "+") {
    r.kind = response_kind::continuation;
    r.data.clear();
    rd.skip_spaces();
    rd.text_to_eol(r.text);
    return {};
  }
  if (rd.peek() != ' ')
    return syntax_error("missing space after tag", frame);
  rd.skip_spaces();
  if (tag == "*") {
    r.kind = response_kind::untagged;
    auto word = rd.word();
    if (word.empty())
      return syntax_error("missing keyword", frame);
    if (auto st = status_of(word)) {
      r.state = *st;
      r.data.clear();
      if (auto err = rd.resp_text(r))
        return err;
      return {};
    }
    if (auto n = number_of(word)) {
      r.number = n;
      rd.skip_spaces();
      word = rd.word();
      if (word.empty())
        return syntax_error("missing keyword after number", frame);
    }
    r.keyword = text::to_upper(word);
    rd.skip_spaces();
    auto save = rd.rest();
    if (auto err = rd.tokens(r.data, 0, '\0')) {
      if (strict_keyword(r.keyword))
        return err;
      r.data.clear();
      // An unknown response we cannot tokenize: keep its words, go on.
      auto eol = save.find_first_of("\r\n");
      r.text.assign(save.substr(0, eol));
    }
    return {};
  }
  r.kind = response_kind::tagged;
  r.data.clear();
  r.tag.assign(tag);
  auto word = rd.word();
  auto st = status_of(word);
  if (!st || *st == status::preauth)
    return syntax_error("tagged response without OK/NO/BAD/BYE", frame);
  r.state = *st;
  if (auto err = rd.resp_text(r))
    return err;
  return {};
}

} // namespace

caf::error parse_response(std::string_view frame, const parser_limits& limits,
                          response& r) {
  auto err = parse_into(frame, limits, r);
  if (err)
    r.data.clear(); // nothing of an earlier response survives an error
  return err;
}

caf::expected<response> parse_response(std::string_view frame,
                                       const parser_limits& limits) {
  response r;
  if (auto err = parse_response(frame, limits, r))
    return err;
  return r;
}

// -- the incremental parser ---------------------------------------------------

void response_parser::feed(std::string_view bytes) {
  if (failed_)
    return;
  if (pos_ > 0 && pos_ >= buf_.size() / 2) {
    buf_.erase(0, pos_);
    scan_ -= pos_;
    pos_ = 0;
  }
  buf_.append(bytes);
}

caf::expected<std::size_t> response_parser::frame_end() {
  // `scan_` is where the search for the next line end resumes: after a
  // literal's bytes, or at the frame's start.
  if (scan_ < pos_)
    scan_ = pos_;
  for (;;) {
    auto nl = buf_.find('\n', scan_);
    if (nl == std::string::npos) {
      if (buf_.size() - scan_ > limits_.max_line)
        return syntax_error("line too long",
                            std::string_view{buf_}.substr(scan_));
      return std::size_t{0};
    }
    if (nl - scan_ > limits_.max_line)
      return syntax_error("line too long",
                          std::string_view{buf_}.substr(scan_));
    auto line_end = nl;
    if (line_end > scan_ && buf_[line_end - 1] == '\r')
      --line_end;
    auto line = std::string_view{buf_}.substr(scan_, line_end - scan_);
    if (auto n = literal_at_end(line)) {
      if (*n > limits_.max_literal)
        return syntax_error("literal too large", line);
      if (buf_.size() - (nl + 1) < *n) {
        return std::size_t{0}; // wait for the literal's bytes
      }
      scan_ = nl + 1 + *n;
      continue;
    }
    scan_ = nl + 1;
    return nl + 1;
  }
}

caf::expected<bool> response_parser::next(response& out) {
  if (failed_)
    return caf::make_error(ec::parse_error, "IMAP response stream is broken");
  auto end = frame_end();
  if (!end) {
    failed_ = true;
    return std::move(end.error());
  }
  if (*end == 0)
    return false;
  auto frame = std::string_view{buf_}.substr(pos_, *end - pos_);
  auto err = parse_response(frame, limits_, out);
  pos_ = *end;
  if (err) {
    failed_ = true;
    return err;
  }
  return true;
}

caf::expected<std::optional<response>> response_parser::next() {
  response r;
  auto got = next(r);
  if (!got)
    return std::move(got.error());
  if (!*got)
    return std::optional<response>{};
  return std::optional<response>{std::move(r)};
}

// -- helpers ------------------------------------------------------------------

const value* fetch_item(const response& r, std::string_view key) {
  if (r.keyword != "FETCH" || r.data.empty()
      || r.data[0].kind != value::type::list)
    return nullptr;
  const auto& items = r.data[0].items;
  for (std::size_t i = 0; i + 1 < items.size(); i += 2) {
    const auto& k = items[i];
    if (k.kind != value::type::atom)
      continue;
    if (iequals(k.text, key))
      return &items[i + 1];
    // BODY.PEEK[HEADER] is answered as BODY[HEADER]; ignore an origin <n>.
    auto lt = k.text.find('<');
    if (lt != std::string::npos && iequals(k.text.substr(0, lt), key))
      return &items[i + 1];
  }
  return nullptr;
}

std::string decode_mailbox_name(std::string_view name) {
  std::string out;
  std::size_t i = 0;
  while (i < name.size()) {
    char c = name[i];
    if (c != '&') {
      out += c;
      ++i;
      continue;
    }
    auto dash = name.find('-', i + 1);
    if (dash == std::string_view::npos)
      return std::string{name};
    if (dash == i + 1) {
      out += '&';
      i = dash + 1;
      continue;
    }
    // Modified base64 of UTF-16BE.
    uint32_t bits = 0;
    int nbits = 0;
    std::vector<uint16_t> units;
    for (auto j = i + 1; j < dash; ++j) {
      char b = name[j];
      int v;
      if (b >= 'A' && b <= 'Z')
        v = b - 'A';
      else if (b >= 'a' && b <= 'z')
        v = b - 'a' + 26;
      else if (b >= '0' && b <= '9')
        v = b - '0' + 52;
      else if (b == '+')
        v = 62;
      else if (b == ',')
        v = 63;
      else
        return std::string{name};
      bits = (bits << 6) | static_cast<uint32_t>(v);
      nbits += 6;
      if (nbits >= 16) {
        nbits -= 16;
        units.push_back(static_cast<uint16_t>((bits >> nbits) & 0xffff));
      }
    }
    for (std::size_t k = 0; k < units.size(); ++k) {
      uint32_t cp = units[k];
      if (cp >= 0xd800 && cp <= 0xdbff && k + 1 < units.size()
          && units[k + 1] >= 0xdc00 && units[k + 1] <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (units[k + 1] - 0xdc00);
        ++k;
      }
      if (cp < 0x80) {
        out += static_cast<char>(cp);
      } else if (cp < 0x800) {
        out += static_cast<char>(0xc0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3f));
      } else if (cp < 0x10000) {
        out += static_cast<char>(0xe0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
      } else {
        out += static_cast<char>(0xf0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
      }
    }
    i = dash + 1;
  }
  return out;
}

} // namespace mailpipe::imap
