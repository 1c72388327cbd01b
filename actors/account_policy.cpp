#include "actors/account_policy.hpp"

#include <caf/sec.hpp>

namespace mailpipe {

pass_gate gate(const account_health& health, wall_time now) {
  if (health.disabled)
    return pass_gate::disabled;
  if (health.retry_at && *health.retry_at > now)
    return pass_gate::retry_later;
  return pass_gate::open;
}

account_health after_failure(const failure_outcome& stored) {
  return {stored.failure_count, stored.retry_at, stored.disabled};
}

account_health after_success() {
  return {};
}

failure_class class_of(const caf::error& err) {
  if (err == caf::sec::request_timeout)
    return failure_class::timeout;
  return classify(err);
}

std::string message_of(const caf::error& err) {
  if (err == caf::sec::request_timeout)
    return "no answer within processing.account_timeout";
  if (err == caf::sec::request_receiver_down)
    return "the fetcher or analyzer ended without answering";
  return render(err);
}

} // namespace mailpipe
