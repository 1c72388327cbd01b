#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "adapters/mail/text.hpp"

namespace mailpipe::imap {

// -- values -------------------------------------------------------------------

/// One token of IMAP response data (RFC 9051 section 4): an atom (numbers and
/// flags included), a string (quoted or literal), NIL, or a parenthesized list.
struct value {
  /// What the token is.
  enum class type : uint8_t { atom, string, nil, list };
  /// The token's kind.
  type kind = type::atom;
  /// The atom's or the string's bytes (unquoted, literal content verbatim).
  std::string text;
  /// The elements of a list.
  std::vector<value> items;

  /// True for an atom that equals `name` ignoring ASCII case.
  bool is_atom(std::string_view name) const;
  /// The atom as a 32-bit number, if it is one.
  std::optional<uint32_t> number() const;
  /// True for an atom or a string (things with text).
  bool has_text() const { return kind == type::atom || kind == type::string; }

  /// Same kind, text and items (tests, and the fuzz target's in-place check).
  bool operator==(const value&) const = default;
};

// -- responses ----------------------------------------------------------------

/// What kind of line a response is.
enum class response_kind : uint8_t { untagged, tagged, continuation };

/// The condition of a status response (`OK`, `NO`, `BAD`, `BYE`, `PREAUTH`).
enum class status : uint8_t { none, ok, no, bad, bye, preauth };

/// One complete server response, literals included.
struct response {
  /// Untagged (`*`), tagged, or a continuation request (`+`).
  response_kind kind = response_kind::untagged;
  /// The tag of a tagged response.
  std::string tag;
  /// The condition of a status response; `none` for data responses.
  status state = status::none;
  /// The response code in brackets, upper-cased (e.g. `AUTHENTICATIONFAILED`).
  std::string code;
  /// The raw text after the code's name inside the brackets.
  std::string code_args;
  /// Human-readable text of a status response, or a continuation's text.
  std::string text;
  /// The leading number of `* 3 EXISTS` or `* 7 FETCH (...)`.
  std::optional<uint32_t> number;
  /// The data keyword, upper-cased (`EXISTS`, `FETCH`, `LIST`, `SEARCH`, ...).
  std::string keyword;
  /// The tokens after the keyword.
  std::vector<value> data;

  /// Every field equal.
  bool operator==(const response&) const = default;
};

/// Returns `"OK"`, `"NO"`, ... for a status.
std::string_view to_string(status x);

// -- parsing ------------------------------------------------------------------

/// Bounds that keep a hostile server from exhausting memory or the stack.
struct parser_limits {
  /// Longest line (without literals) accepted.
  std::size_t max_line = 1 << 20;
  /// Largest literal accepted.
  std::size_t max_literal = 64 << 20;
  /// Deepest list nesting accepted.
  std::size_t max_depth = 32;
};

/// Parses exactly one framed response (the bytes up to and including the final
/// CRLF, literals included). Pure: returns `ec::parse_error` on bad syntax.
caf::expected<response> parse_response(std::string_view frame,
                                       const parser_limits& limits = {});

/// The same, into `out` (its buffers reused; every field is set): the client
/// parses each response in place instead of moving it from call to call.
caf::error parse_response(std::string_view frame, const parser_limits& limits,
                          response& out);

/// Incremental parser: feed it bytes as they arrive and take complete
/// responses out. Survives any input; after an error it stays failed.
class response_parser {
public:
  /// Creates a parser with the given limits.
  explicit response_parser(parser_limits limits = {}) : limits_(limits) {}

  /// Appends received bytes.
  void feed(std::string_view bytes);

  /// Returns the next complete response, `std::nullopt` when more bytes are
  /// needed, or `ec::parse_error` for input that can never become a response.
  caf::expected<std::optional<response>> next();

  /// The same, into `out`: true when a response was parsed into it, false
  /// when more bytes are needed (`out` then holds nothing of use).
  caf::expected<bool> next(response& out);

  /// Bytes received but not yet returned as a response.
  std::size_t buffered() const { return buf_.size() - pos_; }

private:
  /// Finds the end of the response starting at `pos_`; 0 if incomplete.
  caf::expected<std::size_t> frame_end();

  /// The bounds in force.
  parser_limits limits_;
  /// Received bytes; `[0, pos_)` is consumed.
  std::string buf_;
  /// Start of the next response in `buf_`.
  std::size_t pos_ = 0;
  /// Where the search for the next line end resumes (after literals).
  std::size_t scan_ = 0;
  /// Set once the stream is broken.
  bool failed_ = false;
};

// -- helpers for response data ------------------------------------------------

/// Looks up `key` (case-insensitive, e.g. `UID` or `BODY[HEADER]`) in the
/// key-value list of a FETCH response; nullptr if missing.
const value* fetch_item(const response& r, std::string_view key);

/// Decodes a modified UTF-7 mailbox name (RFC 3501 5.1.3) to UTF-8; names that
/// are not valid modified UTF-7 come back unchanged.
std::string decode_mailbox_name(std::string_view name);

/// ASCII case-insensitive equality (atoms, keywords).
using text::iequals;

} // namespace mailpipe::imap
