#include "config/policy.hpp"

#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>

#include "messages/error.hpp"

using namespace mailpipe;

TEST(policy, builtin_loads) {
  auto p = builtin_policy();
  ASSERT_TRUE(p) << render(p.error());
  EXPECT_GT(p->filters.size(), 25u);
  EXPECT_GT(p->placement.gmail_labels.size(), 8u);
  EXPECT_GT(p->placement.imap_folders.size(), 10u);
  EXPECT_EQ(p->placement.fallback, "other");
}

TEST(policy, mistakes_name_file_line_and_key) {
  analysis_policy p;
  auto err =
      merge_placement_toml(p,
                           "[gmail]\nlabels = [ { match = \"X\", placement = "
                           "\"nowhere\" } ]\n",
                           "mine.toml");
  ASSERT_TRUE(err);
  EXPECT_TRUE(is(err, ec::invalid_config));
  auto text = render(err);
  EXPECT_NE(text.find("mine.toml:2"), std::string::npos) << text;
  EXPECT_NE(text.find("nowhere"), std::string::npos) << text;

  err = merge_signatures_toml(
      p,
      "[[filter]]\nname = \"A\"\n[[filter.read]]\nheader = "
      "\"X\"\nformat = \"magic\"\n",
      "sig.toml");
  ASSERT_TRUE(err);
  EXPECT_NE(render(err).find("sig.toml:3"), std::string::npos) << render(err);
  EXPECT_NE(render(err).find("magic"), std::string::npos);

  err = merge_signatures_toml(p, "[[filter]\n", "broken.toml");
  ASSERT_TRUE(err);
  EXPECT_NE(render(err).find("broken.toml:1"), std::string::npos)
      << render(err);

  err = merge_signatures_toml(p, "[[filter]]\nname = \"A\"\n", "empty.toml");
  ASSERT_TRUE(err);
  EXPECT_TRUE(p.filters.empty()); // nothing merged from a file with a mistake
}

TEST(policy, load_policy_merges_operator_files) {
  auto path = ::testing::TempDir() + "mailpipe_placement_extra.toml";
  {
    std::ofstream out{path};
    out << "[imap]\nfolders = [ { match = \"Reklame\", placement = "
           "\"promotions\" } ]\n";
  }
  analysis_config cfg;
  cfg.placement_file = path;
  auto p = load_policy(cfg);
  ASSERT_TRUE(p) << render(p.error());
  ASSERT_FALSE(p->placement.imap_folders.empty());
  EXPECT_EQ(p->placement.imap_folders.front().match, "Reklame");
  std::remove(path.c_str());

  cfg.placement_file = "/nonexistent/placement.toml";
  auto missing = load_policy(cfg);
  ASSERT_FALSE(missing);
  EXPECT_NE(render(missing.error()).find("/nonexistent/placement.toml"),
            std::string::npos);
}
