#pragma once

// The whole analysis of one message: header block, test ids, placement, SPF /
// DKIM / DMARC / ARC / compauth, spam filters. Pure: inputs in, values out.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "adapters/analysis/placement.hpp"
#include "adapters/analysis/spam_filters.hpp"
#include "adapters/mail/auth_results.hpp"
#include "adapters/mail/test_id.hpp"
#include "config/config.hpp"
#include "config/policy.hpp"

namespace mailpipe {

/// One authentication result as reported: which header, whose, trusted or not.
struct auth_entry {
  /// The header it came from, canonically spelled: "Authentication-Results",
  /// "ARC-Authentication-Results", "X-Original-Authentication-Results",
  /// "Authentication-Results-Original" or "Received-SPF" (static text, never
  /// dangles).
  std::string_view header;
  /// The authserv-id ("" when the header has none; Received-SPF: its receiver).
  std::string authserv_id;
  /// True when the authserv-id is one of the receiving side's (RFC 8601 §5).
  bool trusted = false;
  /// ARC instance (0 for other headers).
  int instance = 0;
  /// The result itself.
  auth_result result;
};

/// One DKIM signature's result.
struct dkim_summary {
  /// pass, fail, neutral, none, policy, temperror, permerror, ...
  std::string result;
  /// header.d (or the domain of header.i).
  std::string domain;
  /// header.s, "" when not reported.
  std::string selector;
};

/// The per-message summary of the trusted results.
struct auth_summary {
  /// SPF result and the domain it was checked for.
  std::optional<std::string> spf_result;
  std::optional<std::string> spf_domain;
  /// Every DKIM signature.
  std::vector<dkim_summary> dkim;
  /// DMARC result, published policy (p=) and header.from.
  std::optional<std::string> dmarc_result;
  std::optional<std::string> dmarc_policy;
  std::optional<std::string> dmarc_header_from;
  /// ARC chain result.
  std::optional<std::string> arc_result;
  /// Microsoft compauth result and reason code.
  std::optional<std::string> compauth_result;
  std::optional<std::string> compauth_reason;
  /// Every parsed result, trusted or not, in header order.
  std::vector<auth_entry> results;
};

/// Everything mailpipe learns from one message.
struct message_analysis {
  /// Test ids found (headers first, then subject, then body).
  std::vector<std::string> test_ids;
  /// Where it was found, as given.
  placement_input where;
  /// The placement (nullopt when nothing said where the message was).
  std::optional<placement_result> placement;
  /// Decoded Subject and From, Message-ID and Date as written ("" when absent).
  std::string subject;
  std::string from;
  std::string message_id;
  std::string date;
  /// Authentication results.
  auth_summary auth;
  /// Spam filters that handled it.
  std::vector<filter_report> filters;
  /// Everything that could not be read.
  std::vector<std::string> defects;
  /// Number of header fields parsed.
  std::size_t header_count = 0;
};

/// The parsed Authentication-Results and Received-SPF values `summarize_auth`
/// reuses from one header to the next (the results move out).
struct auth_scratch {
  received_spf spf;
  auth_results_header parsed;
};

/// Buffers an analysis reuses for the next: the header index, the parsed
/// authentication headers and the filter scan's marks. One per thread; the
/// analysis owns nothing in them once it returns.
struct analysis_scratch {
  header_block headers;
  auth_scratch auth;
  filter_scratch filters;
};

/// The analyzer: policy and settings compiled once; `analyze` is const and
/// thread-safe.
class analyzer {
public:
  /// Builds an analyzer from policy data and the `[analysis]` config; fails on
  /// a bad test_id_pattern.
  static caf::expected<analyzer> make(analysis_policy policy,
                                      const analysis_config& cfg);

  /// An analyzer with the built-in policy data and `cfg` (defaults when not
  /// given).
  static caf::expected<analyzer> builtin(const analysis_config& cfg = {});

  /// Analyses `message` (a header block alone or a whole message) found at
  /// `where`, in the buffers of `scratch` (keep one per thread that analyses
  /// many messages: a message then costs no allocation for them).
  message_analysis analyze(std::string_view message,
                           const placement_input& where,
                           analysis_scratch& scratch) const;

  /// The same with buffers of its own.
  message_analysis analyze(std::string_view message,
                           const placement_input& where) const;

  /// Bytes of a message the analysis can use: `max_header_bytes` of header and
  /// `max_body_bytes` of body. A reader may stop there.
  std::size_t max_input_bytes() const {
    return max_header_bytes_ + max_body_bytes;
  }

  /// Bytes of body after the header block that the search for a test id in the
  /// first body part looks at (its preamble and first part).
  static constexpr std::size_t max_body_bytes = std::size_t{1} << 20;

  /// The authserv-ids trusted for `provider` ("" = every configured
  /// provider's).
  const std::vector<std::string>& trusted_ids(std::string_view provider) const;

private:
  /// Use make() or builtin().
  analyzer(analysis_policy policy, const analysis_config& cfg,
           token_pattern pattern);

  /// Folder/label -> placement rules.
  placement_policy placement_;
  /// The indexed filter signatures.
  filter_table filters_;
  /// Test id headers and pattern.
  test_id_rules test_ids_;
  /// Trusted authserv-ids per provider, and all of them together.
  std::vector<std::string> trusted_gmail_;
  std::vector<std::string> trusted_outlook_;
  std::vector<std::string> trusted_imap_;
  std::vector<std::string> trusted_all_;
  /// `analysis.max_header_bytes`.
  std::size_t max_header_bytes_;
};

/// True when `authserv_id` fits one of `trusted` (globs; "" fits only a missing
/// id).
bool is_trusted(std::string_view authserv_id,
                const std::vector<std::string>& trusted);

/// Builds the summary and the result list from a parsed header block, parsing
/// into the buffers of `scratch`.
auth_summary summarize_auth(const header_block& headers,
                            const std::vector<std::string>& trusted,
                            std::vector<std::string>& defects,
                            auth_scratch& scratch);

} // namespace mailpipe
