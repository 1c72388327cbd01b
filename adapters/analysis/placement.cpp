#include "adapters/analysis/placement.hpp"

#include "adapters/mail/text.hpp"

namespace mailpipe {

namespace {

const placement_rule* first_match(const std::vector<placement_rule>& rules,
                                  std::string_view value) {
  for (auto& r : rules)
    if (text::iglob(r.match, value))
      return &r;
  return nullptr;
}

// The rule list is the priority order: the first rule any label fits wins.
std::optional<placement_result>
by_labels(const std::vector<placement_rule>& rules,
          const std::vector<std::string>& labels) {
  for (auto& r : rules)
    for (auto& l : labels)
      if (text::iglob(r.match, text::trim(l)))
        return placement_result{r.placement, l, std::nullopt};
  return std::nullopt;
}

// Full name first, then its last hierarchy segment ("INBOX.Junk",
// "Archive/Spam").
std::optional<placement_result>
by_folder(const std::vector<placement_rule>& rules, std::string_view folder) {
  if (auto r = first_match(rules, folder))
    return placement_result{r->placement, std::string{folder}, std::nullopt};
  auto cut = folder.find_last_of("/.");
  if (cut != std::string_view::npos && cut + 1 < folder.size())
    if (auto r = first_match(rules, folder.substr(cut + 1)))
      return placement_result{r->placement, std::string{folder}, std::nullopt};
  return std::nullopt;
}

} // namespace

std::optional<placement_result>
classify_placement(const placement_policy& policy, const placement_input& in) {
  auto folder = text::trim(in.folder);
  if (folder.empty() && in.labels.empty())
    return std::nullopt;
  std::optional<placement_result> out;
  if (text::iequals(in.provider, "gmail")) {
    if (!in.labels.empty())
      out = by_labels(policy.gmail_labels, in.labels);
    if (!out && !folder.empty())
      out = by_folder(policy.imap_folders, folder);
  } else if (text::iequals(in.provider, "outlook")) {
    if (!folder.empty())
      out = by_folder(policy.outlook_folders, folder);
    if (!out && !folder.empty())
      out = by_folder(policy.imap_folders, folder);
  } else {
    out = by_labels(policy.imap_attributes, in.labels);
    if (!out && !folder.empty())
      out = by_folder(policy.imap_folders, folder);
  }
  if (!out)
    out = placement_result{policy.fallback, {}, std::nullopt};
  if (text::iequals(in.provider, "outlook"))
    for (auto& l : in.labels)
      if (text::iequals(l, "focused") || text::iequals(l, "other"))
        out->focused = text::to_lower(l);
  return out;
}

} // namespace mailpipe
