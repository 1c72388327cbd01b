#pragma once

// Spam-filter detection driven by the signature table of config/policy.hpp:
// which filters handled a message, with verdict, score, threshold, rules and
// decoded fields.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/mail/headers.hpp"
#include "config/policy.hpp"

namespace mailpipe {

/// A filter's verdict; "scanned" (the filter saw the message, no verdict
/// readable) is never reported as spam.
enum class filter_verdict { spam, not_spam, scanned, unknown };

/// The stable name: "spam", "not_spam", "scanned", "unknown".
std::string_view to_string(filter_verdict v) noexcept;

/// One decoded field of a filter header, e.g. {"SFV", "NSPM", "not spam"}.
struct filter_detail {
  /// The field name as the signature names it.
  std::string field;
  /// The value as written.
  std::string value;
  /// Its meaning from the signature table ("" when unknown).
  std::string meaning;
};

/// One filter found in a message.
struct filter_report {
  /// The product name, e.g. "Microsoft EOP".
  std::string name;
  /// The verdict.
  filter_verdict verdict = filter_verdict::scanned;
  /// The score, when a header carries one.
  std::optional<double> score;
  /// The threshold the score is compared with, when known.
  std::optional<double> threshold;
  /// Rule names (SpamAssassin tests, Rspamd symbols, Microsoft "SFV:NSPM",
  /// ...).
  std::vector<std::string> rules;
  /// Decoded fields.
  std::vector<filter_detail> details;
};

/// Buffers a scan reuses for the next one, so a message costs no allocation
/// for them; one per thread (`analysis_scratch` holds one).
struct filter_scratch {
  /// A header some filter reads: filter, read and field index.
  struct hit {
    std::size_t filter;
    std::size_t read;
    std::size_t field;
  };
  /// One key and value of a filter header (views into it).
  struct kv {
    std::string_view key;
    std::string_view value;
  };
  /// A filter header split into pairs, and rule names for the formats that
  /// carry them themselves.
  struct fields {
    std::vector<kv> pairs;
    std::vector<std::string_view> rules;
  };
  /// Per filter: detected or not.
  std::vector<char> detected;
  /// Per read: the headers it applies to, topmost first.
  std::vector<hit> hits;
  /// Per field: read by an identified filter (a fallback one skips it).
  std::vector<char> claimed;
  /// The header being decoded.
  fields split;
};

/// The signature table, indexed for fast lookup; build once, use from any
/// thread.
class filter_table {
public:
  /// Indexes `filters` (kept by value).
  explicit filter_table(std::vector<filter_signature> filters);

  /// Every filter that handled the message, in table order.
  std::vector<filter_report> scan(const header_block& headers,
                                  filter_scratch& scratch) const;

  /// The same with buffers of its own.
  std::vector<filter_report> scan(const header_block& headers) const {
    filter_scratch scratch;
    return scan(headers, scratch);
  }

private:
  /// One header name (or glob) of the table and what it stands for.
  struct entry {
    /// Lower-case header name or glob.
    std::string name;
    /// Detect entries: glob on the value ("" = any value).
    std::string value;
    /// Index of the filter.
    std::size_t filter;
    /// Index of the read, npos for a detect entry.
    std::size_t read;
  };

  /// First index into exact_ of entries named `name` (ASCII case-insensitive),
  /// or npos; an open-addressing table (slots_) over the distinct names.
  std::size_t lookup(std::string_view name) const noexcept;

  /// The signatures, in report order.
  std::vector<filter_signature> filters_;
  /// Entries with exact names, sorted by name (equal names adjacent).
  std::vector<entry> exact_;
  /// Entries whose name is a glob.
  std::vector<entry> globs_;
  /// Per glob: the literal text before its first '*'.
  std::vector<std::string> glob_prefixes_;
  /// Quick reject: bit c set when some glob may match a name whose third byte
  /// (lower case) is c; all bits set when a glob's prefix is shorter than
  /// three.
  std::uint64_t glob_third_[4] = {};
  /// Bit n set when some exact name is n bytes long (bit 63: 63 or more); a
  /// field whose length is not there is not looked up.
  std::uint64_t exact_lengths_ = 0;
  /// Hash slots: index into exact_, or npos for an empty slot.
  std::vector<std::size_t> slots_;
  /// The hash of each slot's name.
  std::vector<std::uint64_t> slot_hashes_;
};

} // namespace mailpipe
