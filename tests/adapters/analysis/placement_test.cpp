#include "adapters/analysis/placement.hpp"

#include <gtest/gtest.h>

#include "messages/error.hpp"

using namespace mailpipe;

namespace {

placement_policy builtin() {
  auto p = builtin_policy();
  EXPECT_TRUE(p) << render(p.error());
  return p->placement;
}

std::string place(const placement_input& in) {
  auto r = classify_placement(builtin(), in);
  return r ? r->placement : "(none)";
}

} // namespace

TEST(placement, gmail_labels_in_priority_order) {
  EXPECT_EQ(place({"gmail", "", {"INBOX"}}), "inbox");
  EXPECT_EQ(place({"gmail", "", {"INBOX", "CATEGORY_PERSONAL"}}), "inbox");
  EXPECT_EQ(place({"gmail", "", {"INBOX", "CATEGORY_PROMOTIONS"}}),
            "promotions");
  EXPECT_EQ(place({"gmail", "", {"CATEGORY_SOCIAL", "INBOX"}}), "social");
  EXPECT_EQ(place({"gmail", "", {"INBOX", "CATEGORY_UPDATES", "IMPORTANT"}}),
            "updates");
  EXPECT_EQ(place({"gmail", "", {"CATEGORY_FORUMS"}}), "forums");
  EXPECT_EQ(place({"gmail", "", {"SPAM", "CATEGORY_PROMOTIONS"}}), "spam");
  EXPECT_EQ(place({"gmail", "", {"Label_123", "UNREAD"}}), "other");
  // Takeout names, any case.
  EXPECT_EQ(place({"gmail", "", {"Inbox", "Category updates", "Unread"}}),
            "updates");
  // Gmail over IMAP.
  EXPECT_EQ(place({"gmail", "[Gmail]/Spam", {}}), "spam");
}

TEST(placement, imap_special_use_and_names_in_several_languages) {
  EXPECT_EQ(place({"imap", "INBOX", {}}), "inbox");
  EXPECT_EQ(place({"imap", "Whatever", {"\\HasNoChildren", "\\Junk"}}), "spam");
  for (auto name :
       {"Junk", "Spam", "Bulk", "Junk Email", "Junk E-mail", "INBOX.Junk",
        "INBOX/Spam", "Spamverdacht", "Courrier ind\xC3\xA9sirable",
        "Courrier ind&AOk-sirable", "Posta indesiderata", "Correo no deseado",
        "[Gmail]/Spam", "junk"})
    EXPECT_EQ(place({"imap", name, {}}), "spam") << name;
  EXPECT_EQ(place({"imap", "Archive/2023", {}}), "other");
  EXPECT_EQ(place({"imap", "Trash", {"\\Trash"}}), "other");
  EXPECT_EQ(place({"", "", {}}), "(none)");
}

TEST(placement, outlook_well_known_folders_and_focused) {
  auto r = classify_placement(builtin(), {"outlook", "junkemail", {}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->placement, "spam");
  EXPECT_FALSE(r->focused);
  r = classify_placement(builtin(), {"outlook", "inbox", {"Other"}});
  EXPECT_EQ(r->placement, "inbox");
  EXPECT_EQ(r->focused, "other");
  EXPECT_EQ(place({"outlook", "Junk Email", {}}), "spam");
  EXPECT_EQ(place({"outlook", "Receipts", {}}), "other");
}

TEST(placement, operator_rules_come_first) {
  analysis_policy p;
  p.placement = builtin();
  ASSERT_FALSE(merge_placement_toml(p, R"(
fallback = "inbox"
[imap]
folders = [ { match = "Werbung", placement = "promotions" },
            { match = "Junk", placement = "other" } ]
)",
                                    "extra.toml"));
  EXPECT_EQ(classify_placement(p.placement, {"imap", "Werbung", {}})->placement,
            "promotions");
  EXPECT_EQ(classify_placement(p.placement, {"imap", "Junk", {}})->placement,
            "other");
  EXPECT_EQ(classify_placement(p.placement, {"imap", "Unknown", {}})->placement,
            "inbox");
  EXPECT_EQ(classify_placement(p.placement, {"imap", "Spam", {}})->placement,
            "spam");
}
