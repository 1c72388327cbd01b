#include "adapters/http/rate_limit.hpp"

#include <gtest/gtest.h>

#include "tests/support/fake_clock.hpp"

using namespace mailpipe;
using namespace std::chrono_literals;

TEST(rate_limit, bucket_allows_burst_then_paces) {
  test::fake_clock fc;
  token_bucket b{250, 250}; // Gmail: 250 quota units per user and second
  for (int i = 0; i < 50; ++i)
    EXPECT_EQ(b.reserve(5, *fc.now), duration{0}) << i;
  // Bucket empty: the next 5 units arrive after 20 ms, the one after that 40
  // ms.
  EXPECT_EQ(b.reserve(5, *fc.now), duration{20ms});
  EXPECT_EQ(b.reserve(5, *fc.now), duration{40ms});
  fc.advance(1s);
  EXPECT_EQ(b.reserve(5, *fc.now), duration{0});
}

TEST(rate_limit, bucket_refills_only_up_to_burst) {
  test::fake_clock fc;
  token_bucket b{10, 20};
  EXPECT_EQ(b.reserve(20, *fc.now), duration{0});
  fc.advance(1h);
  EXPECT_EQ(b.reserve(20, *fc.now), duration{0});
  EXPECT_EQ(b.reserve(10, *fc.now), duration{1s});
}

TEST(rate_limit, users_have_separate_buckets) {
  test::fake_clock fc;
  per_user_limiter lim{1, 1};
  EXPECT_EQ(lim.reserve("a@x", 1, *fc.now), duration{0});
  EXPECT_EQ(lim.reserve("b@x", 1, *fc.now), duration{0});
  EXPECT_EQ(lim.reserve("a@x", 1, *fc.now), duration{1s});
}
