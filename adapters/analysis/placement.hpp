#pragma once

// Placement of a found message from its provider, folder and labels, by the
// rules of config/data/placement.toml (plus the operator's own file).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/policy.hpp"

namespace mailpipe {

/// Where a message was found.
struct placement_input {
  /// "gmail", "outlook" or "imap" (anything else is read as IMAP).
  std::string provider;
  /// IMAP mailbox or Graph folder (well-known name or display name); "" for
  /// Gmail API.
  std::string folder;
  /// Gmail label ids, IMAP special-use attributes of the folder ("\\Junk"), or
  /// for Outlook the inferenceClassification ("focused" / "other").
  std::vector<std::string> labels;
};

/// The placement and why.
struct placement_result {
  /// inbox, spam, promotions, social, updates, forums or other.
  std::string placement;
  /// The label, attribute or folder that decided it ("" for the fallback).
  std::string matched;
  /// Outlook's inferenceClassification ("focused"/"other"), recorded as given.
  std::optional<std::string> focused;
};

/// Applies the rules; nullopt when nothing says where the message was (no
/// folder, no labels).
std::optional<placement_result>
classify_placement(const placement_policy& policy, const placement_input& in);

} // namespace mailpipe
