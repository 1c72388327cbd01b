#pragma once

// Policy data of the analyzer: folder/label -> placement rules and spam-filter
// signatures. Built-in TOML (config/data/placement.toml, spam_signatures.toml,
// compiled in) merged with an operator's own files, so both can be extended
// without rebuilding.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "config/config.hpp"

namespace mailpipe {

// -- placement ----------------------------------------------------------------

/// One rule: a case-insensitive glob (`*` wildcards) and the placement it
/// means.
struct placement_rule {
  /// The glob, e.g. "CATEGORY_PROMOTIONS", "Junk*", "[Gmail]/Spam".
  std::string match;
  /// inbox, spam, promotions, social, updates, forums or other.
  std::string placement;
};

/// Placement rules per surface, each list in priority order (first match wins).
struct placement_policy {
  /// Gmail label ids (API) or Takeout label names.
  std::vector<placement_rule> gmail_labels;
  /// IMAP special-use attributes of the mailbox (RFC 6154), e.g. "\\Junk".
  std::vector<placement_rule> imap_attributes;
  /// IMAP mailbox names: matched against the full name and its last segment.
  std::vector<placement_rule> imap_folders;
  /// Microsoft Graph well-known folder names and display names.
  std::vector<placement_rule> outlook_folders;
  /// Placement of a message found in a folder no rule matches.
  std::string fallback = "other";
};

// -- spam-filter signatures ---------------------------------------------------

/// How one field of a header maps to a verdict.
struct verdict_rule {
  /// The field: "" for the first token of the value, else a key of the header.
  std::string key;
  /// Globs of values meaning spam.
  std::vector<std::string> spam;
  /// Globs of values meaning not spam (checked first).
  std::vector<std::string> not_spam;
};

/// How to read one header of a filter.
/// How a filter's header is read (see docs/analysis.md).
enum class read_format : uint8_t {
  /// The first token is the score.
  token,
  /// key/value pairs (`pairs`, `assign`).
  kv,
  /// '-'-separated fields named by `layout`.
  dashed,
  /// Rspamd's `X-Spamd-Result`.
  rspamd,
};

struct signature_read {
  /// The header name (case-insensitive glob).
  std::string header;
  /// token | kv | dashed | rspamd in the TOML.
  read_format format = read_format::token;
  /// kv: separator between pairs (" " means any white space or ',').
  std::string pairs = ";";
  /// kv: separator between key and value.
  std::string assign = ":";
  /// dashed: the names of the '-'-separated fields.
  std::vector<std::string> layout;
  /// Keys whose number is the score ("" = first token).
  std::vector<std::string> score;
  /// Keys whose number is the threshold.
  std::vector<std::string> threshold;
  /// A fixed threshold when the header carries none.
  std::optional<double> fixed_threshold;
  /// When set, score >= this is spam and below is not spam.
  std::optional<double> spam_at_or_above;
  /// When true, score >= threshold is spam and below is not spam.
  bool score_verdict = false;
  /// Keys whose value is a list of rule names (SpamAssassin `tests=`).
  std::vector<std::string> rule_lists;
  /// Keys reported as rules "KEY:value" (Microsoft SFV, CAT, ...).
  std::vector<std::string> rule_keys;
  /// Verdict rules, any spam match wins over a not-spam match.
  std::vector<verdict_rule> verdicts;
  /// Meanings of field values, for people: key -> value (or value glob) ->
  /// text.
  std::map<std::string, std::map<std::string, std::string, std::less<>>,
           std::less<>>
      meanings;
};

/// One filter or gateway.
struct filter_signature {
  /// The product name reported, e.g. "SpamAssassin".
  std::string name;
  /// Headers whose presence identifies it: "Name" or "Name: value-glob".
  std::vector<std::string> detect;
  /// Headers read for verdict, score, threshold and rules.
  std::vector<signature_read> reads;
  /// Reported only when no identified filter reads the same headers (shared
  /// headers such as X-Spam-Flag without companion headers).
  bool fallback = false;
};

/// All policy data of the analyzer.
struct analysis_policy {
  /// Folder/label -> placement.
  placement_policy placement;
  /// Spam-filter signatures, in report order.
  std::vector<filter_signature> filters;
};

// -- loading ------------------------------------------------------------------

/// Merges placement rules from TOML `text` (named `source` in errors) over
/// `into`: the file's rules come first (they win), its `fallback` replaces the
/// old one.
caf::error merge_placement_toml(analysis_policy& into, std::string_view text,
                                std::string_view source);

/// Merges filter signatures from TOML `text` over `into`: a filter with the
/// name of an existing one replaces it, others are appended.
caf::error merge_signatures_toml(analysis_policy& into, std::string_view text,
                                 std::string_view source);

/// The built-in policy compiled into the binary.
caf::expected<analysis_policy> builtin_policy();

/// The built-in policy plus the operator's `analysis.placement_file` and
/// `analysis.signatures_file` (read from disk).
caf::expected<analysis_policy> load_policy(const analysis_config& cfg);

} // namespace mailpipe
