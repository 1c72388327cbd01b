#pragma once

#include <memory>
#include <vector>

#include "adapters/http/client.hpp"

namespace mailpipe::test {

/// A settable clock for the injected `clock_fn` of the HTTP adapters, and the
/// driver that tries a never-sleeping read again when it says so.
struct fake_clock {
  /// Shared so copies of `clock()` see every change.
  std::shared_ptr<http::time_point> now = std::make_shared<http::time_point>(
      std::chrono::sys_days{std::chrono::year{2026} / 1 / 1});
  /// Every wait a driven read asked for, in order.
  std::shared_ptr<std::vector<duration>> waits =
      std::make_shared<std::vector<duration>>();

  /// Reads the current fake time.
  http::clock_fn clock() const {
    return [now = now] { return *now; };
  }

  /// Moves the clock forward.
  void advance(duration d) { *now += d; }

  /// Calls `read()` until its answer is not `ec::retry_later`, recording each
  /// `session.retry_in()` and moving the clock by it in between — what the
  /// fetcher does with delayed messages. Gives up after 1,000 tries.
  template <class Read, class Session>
  auto drive(Read read, const Session& session) const {
    auto res = read();
    for (int i = 0; i < 1000 && !res && is(res.error(), ec::retry_later); ++i) {
      waits->push_back(session.retry_in());
      *now += session.retry_in();
      res = read();
    }
    return res;
  }
};

} // namespace mailpipe::test
