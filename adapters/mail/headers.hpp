#pragma once

// RFC 5322 header block parser: unfolding, every field in order (duplicates
// kept), CRLF or bare LF, 8-bit bytes tolerated, malformed lines recorded as
// defects.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace mailpipe {

/// One header field; both views point into the parsed text (keep it alive).
struct header_field {
  /// The field name as written (compare with text::iequals).
  std::string_view name;
  /// The raw value: leading white space removed, folds (CRLF + WSP) still
  /// inside.
  std::string_view value;
  /// 1-based line number of the field's first line.
  std::size_t line = 0;
};

/// A header field that owns its text: an HTTP header, or a mail header that a provider's
/// API hands over as JSON.
struct owned_header_field {
  /// Field name as written (lookup is case-insensitive).
  std::string name;
  /// Field value without surrounding white space.
  std::string value;
};

/// Something in the input that is not a well-formed header line; it was
/// skipped.
struct header_defect {
  /// 1-based line number (0 for the block as a whole).
  std::size_t line = 0;
  /// What was wrong, for people.
  std::string message;
};

/// The parsed header block of one message.
struct header_block {
  /// Every field, in order of appearance, duplicates included.
  std::vector<header_field> fields;
  /// Lines that were skipped, and the size limit if it cut the block.
  std::vector<header_defect> defects;
  /// What follows the empty line that ends the header block ("" when absent).
  std::string_view body;
  /// True when the block was longer than the size limit and its tail was
  /// ignored.
  bool truncated = false;

  /// The first field named `name` (ASCII case-insensitive), or nullptr.
  const header_field* find(std::string_view name) const noexcept;

  /// The value of the first field named `name`, or "" when absent.
  std::string_view value_of(std::string_view name) const noexcept;
};

/// Parses the header block at the start of `text` (a header block alone, or a
/// whole message), looking at no more than `max_bytes` bytes of header. Never
/// fails: lines it cannot read become defects.
header_block parse_header_block(std::string_view text, std::size_t max_bytes);

/// The same into `out`, reusing its storage (for a caller that parses many
/// messages in turn).
void parse_header_block(std::string_view text, std::size_t max_bytes,
                        header_block& out);

/// The value with folds removed and runs of white space collapsed to one space.
std::string unfold(std::string_view value);

} // namespace mailpipe
