#pragma once

// Spam-filter detection driven by the signature table of config/policy.hpp:
// which filters handled a message, with verdict, score, threshold, rules and
// decoded fields.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/headers.hpp"
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

/// The signature table, indexed for fast lookup; build once, use from any
/// thread.
class filter_table {
public:
  /// Indexes `filters` (kept by value).
  explicit filter_table(std::vector<filter_signature> filters);

  /// Every filter that handled the message, in table order.
  std::vector<filter_report> scan(const header_block& headers) const;

private:
  struct entry {
    std::string name;  // lower-case header name or glob
    std::string value; // detect: glob on the value ("" = any)
    std::size_t filter;
    std::size_t read; // npos for a detect entry
  };
  // Open-addressing table over exact names: slot -> first index into exact_
  // (sorted by name, so equal names are adjacent), or npos.
  std::size_t lookup(std::string_view name) const noexcept;

  std::vector<filter_signature> filters_;
  std::vector<entry> exact_; // sorted by name
  std::vector<entry> globs_;
  std::vector<std::string> glob_prefixes_; // literal text before the first '*'
  // Quick reject: bit c set when some glob may match a name whose third byte
  // (lower case) is c; all bits set when a glob's prefix is shorter than three
  // bytes.
  std::uint64_t glob_third_[4] = {};
  std::vector<std::size_t> slots_;
  std::vector<std::uint64_t> slot_hashes_;
};

} // namespace mailpipe
