#pragma once

#include <memory>
#include <vector>

#include "adapters/http/client.hpp"

namespace mailpipe::test {

/// A settable clock and a sleeper that advances it instead of sleeping, for the
/// injected `clock_fn` / `sleep_fn` of the HTTP adapters.
struct fake_clock {
  /// Shared so copies of `clock()` and `sleeper()` see every change.
  std::shared_ptr<http::time_point> now = std::make_shared<http::time_point>(
      std::chrono::sys_days{std::chrono::year{2026} / 1 / 1});
  /// Every sleep requested, in order.
  std::shared_ptr<std::vector<duration>> sleeps =
      std::make_shared<std::vector<duration>>();

  /// Reads the current fake time.
  http::clock_fn clock() const {
    return [now = now] { return *now; };
  }

  /// Records a sleep and moves the clock forward by it.
  http::sleep_fn sleeper() const {
    return [now = now, sleeps = sleeps](duration d) {
      sleeps->push_back(d);
      *now += d;
    };
  }

  /// Moves the clock forward.
  void advance(duration d) { *now += d; }
};

} // namespace mailpipe::test
