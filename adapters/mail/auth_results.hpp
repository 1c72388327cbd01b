#pragma once

// Authentication-Results (RFC 8601), ARC-Authentication-Results (RFC 8617) and
// Received-SPF (RFC 7208 §9.1), parsed leniently: comments anywhere (nested,
// holding
// ';'), quoted values, versions, a missing authserv-id (Microsoft), several
// results per method, `reason=`, and non-RFC methods, results and properties
// kept verbatim.

#include <string>
#include <string_view>
#include <vector>

namespace mailpipe {

/// One `ptype.property=value` of a result; ptype is "" for Microsoft's bare
/// `action=`.
struct auth_property {
  /// The property type, lower case ("smtp", "header", "policy", ...).
  std::string ptype;
  /// The property name as written ("mailfrom", "d", "i", ...).
  std::string name;
  /// The value, quotes removed.
  std::string value;
};

/// One `method=result` clause (a "resinfo").
struct auth_result {
  /// The method, lower case ("spf", "dkim", "dmarc", "arc", "compauth",
  /// "x-...").
  std::string method;
  /// The method version after '/', "" when not given.
  std::string method_version;
  /// The result, lower case, kept verbatim when not in the RFC's set
  /// ("bestguesspass").
  std::string result;
  /// The `reason=` text, "" when absent.
  std::string reason;
  /// The comments after the result (unfolded, joined by "; "), e.g. "p=NONE
  /// sp=NONE dis=NONE".
  std::string comment;
  /// Every property, in order.
  std::vector<auth_property> properties;

  /// The value of `ptype.name` (ASCII case-insensitive), "" when absent.
  std::string_view property(std::string_view ptype,
                            std::string_view name) const noexcept;
};

/// One parsed Authentication-Results or ARC-Authentication-Results value.
struct auth_results_header {
  /// The authserv-id, "" when the header has none (Microsoft's form).
  std::string authserv_id;
  /// The version after the authserv-id (1 when not given).
  int version = 1;
  /// ARC instance `i=` (ARC-Authentication-Results only; 0 otherwise).
  int instance = 0;
  /// True for the no-result form (`; none`).
  bool none = false;
  /// The comment of the `none` form, if any.
  std::string none_comment;
  /// Every result, in order.
  std::vector<auth_result> results;
  /// What could not be read (the rest of that clause was skipped).
  std::vector<std::string> defects;
};

/// Parses an Authentication-Results value; `arc` expects the leading `i=N;` of
/// ARC-Authentication-Results. Never fails: unreadable parts become defects.
auth_results_header parse_auth_results(std::string_view value,
                                       bool arc = false);

/// The same into `out` (every member reset), reusing its storage.
void parse_auth_results(std::string_view value, bool arc,
                        auth_results_header& out);

/// One parsed Received-SPF value.
struct received_spf {
  /// The result, lower case ("pass", "fail", "softfail", ...).
  std::string result;
  /// The comment after the result, unfolded.
  std::string comment;
  /// The `key=value` pairs (receiver, client-ip, envelope-from, helo, identity,
  /// ...).
  std::vector<auth_property> properties;
  /// What could not be read.
  std::vector<std::string> defects;

  /// The value of `key` (ASCII case-insensitive), "" when absent.
  std::string_view property(std::string_view key) const noexcept;
};

/// Parses a Received-SPF value. Never fails.
received_spf parse_received_spf(std::string_view value);

/// The same into `out` (every member reset), reusing its storage.
void parse_received_spf(std::string_view value, received_spf& out);

} // namespace mailpipe
