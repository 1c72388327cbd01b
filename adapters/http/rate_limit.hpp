#pragma once

#include <map>
#include <mutex>
#include <string>

#include "config/config.hpp"
#include "messages/clock.hpp"

namespace mailpipe {

/// A token bucket: `rate` units per second flow in, up to `burst` are kept.
/// Reservations may drive it negative, so callers that come later wait longer
/// (first come, first served). Pure: the clock is an argument.
class token_bucket {
public:
  /// A full bucket.
  token_bucket(double rate, double burst);

  /// Takes `cost` units at `now` and returns how long the caller must wait
  /// before spending them (zero when they were there).
  duration reserve(double cost, wall_time now);

private:
  double rate_;
  double burst_;
  double tokens_;
  wall_time last_{};
  bool started_ = false;
};

/// One token bucket per user (mailbox), created on first use; thread-safe, so
/// the fetchers of all accounts on a node share one instance per provider.
class per_user_limiter {
public:
  /// Every user gets `rate` units per second and a burst of `burst`.
  per_user_limiter(double rate, double burst);

  /// `token_bucket::reserve` on the bucket of `user`.
  duration reserve(const std::string& user, double cost, wall_time now);

private:
  std::mutex mtx_;
  double rate_;
  double burst_;
  std::map<std::string, token_bucket> buckets_;
};

} // namespace mailpipe
