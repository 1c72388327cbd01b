#include "adapters/http/rate_limit.hpp"

#include <algorithm>
#include <cmath>

namespace mailpipe {

token_bucket::token_bucket(double rate, double burst)
    : rate_(std::max(rate, 1e-6)), burst_(std::max(burst, 1.0)),
      tokens_(burst_) {}

duration token_bucket::reserve(double cost, wall_time now) {
  if (started_ && now > last_) {
    std::chrono::duration<double> elapsed = now - last_;
    tokens_ = std::min(burst_, tokens_ + elapsed.count() * rate_);
  }
  if (!started_ || now > last_)
    last_ = now;
  started_ = true;
  tokens_ -= cost;
  if (tokens_ >= 0)
    return duration{0};
  return duration{static_cast<int64_t>(std::ceil(-tokens_ / rate_ * 1000.0))};
}

per_user_limiter::per_user_limiter(double rate, double burst)
    : rate_(rate), burst_(burst) {}

duration per_user_limiter::reserve(const std::string& user, double cost,
                                   wall_time now) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = buckets_.try_emplace(user, rate_, burst_).first;
  return i->second.reserve(cost, now);
}

} // namespace mailpipe
