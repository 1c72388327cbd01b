#pragma once

// Finding the test id of a message: configured headers, then a token in the
// subject or the first body part (so a test sent through any ESP is still
// found).

#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "adapters/mail/headers.hpp"

namespace mailpipe {

/// A compiled token pattern: a small regular-expression subset (literals, '.',
/// `\` escapes, classes `[a-z0-9_-]` / `[^...]`, quantifiers `? * + {n} {n,}
/// {n,m}`), run without std::regex and without recursion.
class token_pattern {
public:
  /// Compiles `pattern`; an error names what is unsupported or malformed.
  static caf::expected<token_pattern> compile(std::string_view pattern);

  /// The leftmost-longest match in `s`, or "" when none.
  std::string_view find(std::string_view s) const;

  /// True when all of `s` matches.
  bool matches(std::string_view s) const;

private:
  /// One element: a byte set (or any byte) with its repetition bounds.
  struct atom {
    /// Matches any byte ('.').
    bool any = false;
    /// The class is negated ([^...]).
    bool negated = false;
    /// The byte set, one bit per byte value.
    unsigned char bits[32] = {};
    /// Fewest repetitions.
    int min = 1;
    /// Most repetitions.
    int max = 1;

    /// True when `c` is in the set.
    bool accepts(unsigned char c) const noexcept {
      bool in = any || (bits[c >> 3] >> (c & 7)) & 1;
      return negated ? !in : in;
    }
  };

  /// Most elements a pattern may have (keeps matching free of allocation).
  static constexpr std::size_t max_atoms = 64;

  /// Length of the longest match of atoms [k..] at s[i..], or -1.
  long match_at(std::string_view s, std::size_t i, std::size_t k) const;

  /// The compiled elements, in order.
  std::vector<atom> atoms_;
};

/// Where to look for test ids (`[analysis]` test_id_headers and
/// test_id_pattern).
struct test_id_rules {
  /// Header names whose (trimmed) value is a test id.
  std::vector<std::string> headers;
  /// The token looked for in the subject and the first body part.
  token_pattern pattern;
};

/// The rules from the two `[analysis]` settings; ec::invalid_config when the
/// pattern does not compile.
caf::expected<test_id_rules>
make_test_id_rules(std::vector<std::string> headers, std::string_view pattern);

/// THE test-id rule, for the analyzer and every provider. Every distinct test
/// id: the unfolded, trimmed value of each configured header (names matched
/// case-insensitively), then the pattern's first token in the decoded subject,
/// then the pattern's first token in the first text part of the body (transfer
/// encoding undone), in that order. A header block alone has no body: what the
/// providers fetch is decided by the headers and the subject only.
std::vector<std::string> find_test_ids(const header_block& headers,
                                       const test_id_rules& rules);

/// The same with the subject already decoded (saves decoding it twice).
std::vector<std::string> find_test_ids(const header_block& headers,
                                       const test_id_rules& rules,
                                       std::string_view decoded_subject);

/// The ids of `pending` that the message carries by `find_test_ids`, in its
/// order: what a provider's search returned is a test message for exactly
/// these ids (a search engine matches loosely; the rule decides).
std::vector<std::string>
carried_test_ids(const header_block& headers, const test_id_rules& rules,
                 const std::vector<std::string>& pending);

/// The first body part as text: multipart walked to its first leaf, base64 or
/// quoted-printable decoded; at most `limit` bytes. "" when there is no body.
std::string first_body_part(const header_block& headers,
                            std::size_t limit = 65536);

} // namespace mailpipe
