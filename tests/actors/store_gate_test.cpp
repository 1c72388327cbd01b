// The gate that lets a few of a node's job workers talk to the job store at
// once: never more inside than its slots, and everyone gets through.

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "actors/job_worker.hpp"

namespace mailpipe {
namespace {

// The most threads inside a gate of `slots` at once, when `threads` threads
// each pass `rounds` times, staying a little inside.
int most_inside(int64_t slots, int threads, int rounds, int& passes) {
  store_gate gate{slots};
  std::atomic<int> inside{0};
  std::atomic<int> most{0};
  std::atomic<int> done{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      for (int r = 0; r < rounds; ++r) {
        gate.enter();
        auto now = ++inside;
        auto seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        std::this_thread::sleep_for(std::chrono::microseconds{200});
        --inside;
        gate.leave();
        ++done;
      }
    });
  for (auto& t : pool)
    t.join();
  passes = done.load();
  return most.load();
}

TEST(store_gate, never_lets_more_in_than_its_slots_and_lets_everyone_through) {
  int passes = 0;
  EXPECT_LE(most_inside(2, 8, 50, passes), 2);
  EXPECT_EQ(passes, 8 * 50);
  EXPECT_EQ(most_inside(1, 4, 50, passes), 1);
  EXPECT_EQ(passes, 4 * 50);
  // With slots enough for everyone, they are inside together.
  EXPECT_GT(most_inside(8, 8, 50, passes), 1);
}

TEST(store_gate, a_gate_of_no_slots_has_one) {
  int passes = 0;
  EXPECT_EQ(most_inside(0, 3, 20, passes), 1);
  EXPECT_EQ(passes, 3 * 20);
}

} // namespace
} // namespace mailpipe
