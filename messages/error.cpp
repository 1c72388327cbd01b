#include "messages/error.hpp"

#include <caf/atom.hpp>
#include <caf/message.hpp>

namespace mailpipe {

std::string to_string(ec x) {
  switch (x) {
    case ec::none: return "none";
    case ec::unspecified: return "unspecified";
    case ec::invalid_config: return "invalid_config";
    case ec::invalid_argument: return "invalid_argument";
    case ec::database_unavailable: return "database_unavailable";
    case ec::database_error: return "database_error";
    case ec::migration_failed: return "migration_failed";
    case ec::auth_failed: return "auth_failed";
    case ec::timeout: return "timeout";
    case ec::network: return "network";
    case ec::tls_failed: return "tls_failed";
    case ec::mailbox_not_found: return "mailbox_not_found";
    case ec::quota_exceeded: return "quota_exceeded";
    case ec::rate_limited: return "rate_limited";
    case ec::parse_error: return "parse_error";
    case ec::protocol_error: return "protocol_error";
    case ec::service_unavailable: return "service_unavailable";
    case ec::not_found: return "not_found";
    case ec::shutting_down: return "shutting_down";
    case ec::busy: return "busy";
    case ec::retry_later: return "retry_later";
    case ec::already_exists: return "already_exists";
  }
  return "ec(" + std::to_string(static_cast<int>(x)) + ")";
}

std::string to_string(failure_class x) {
  switch (x) {
    case failure_class::auth: return "auth";
    case failure_class::timeout: return "timeout";
    case failure_class::network: return "network";
    case failure_class::mailbox: return "mailbox";
    case failure_class::quota: return "quota";
    case failure_class::rate_limited: return "rate_limited";
    case failure_class::parse: return "parse";
    case failure_class::other: return "other";
  }
  return "other";
}

failure_class classify(ec x) {
  switch (x) {
    case ec::auth_failed: return failure_class::auth;
    case ec::timeout: return failure_class::timeout;
    case ec::network:
    case ec::tls_failed:
    case ec::service_unavailable: return failure_class::network;
    case ec::mailbox_not_found: return failure_class::mailbox;
    case ec::quota_exceeded: return failure_class::quota;
    case ec::rate_limited: return failure_class::rate_limited;
    case ec::parse_error:
    case ec::protocol_error: return failure_class::parse;
    default: return failure_class::other;
  }
}

failure_class classify(const caf::error& err) {
  if (!err || err.category() != caf::atom("mailpipe"))
    return failure_class::other;
  return classify(static_cast<ec>(err.code()));
}

bool is(const caf::error& err, ec code) {
  return err && err.category() == caf::atom("mailpipe")
         && err.code() == static_cast<uint8_t>(code);
}

std::string render(const caf::error& err) {
  if (!err)
    return "none";
  std::string out;
  if (err.category() == caf::atom("mailpipe"))
    out = to_string(static_cast<ec>(err.code()));
  else
    out = to_string(err.category()) + "(" + std::to_string(err.code()) + ")";
  const auto& ctx = err.context();
  for (size_t i = 0; i < ctx.size(); ++i) {
    out += i == 0 ? ": " : " ";
    if (ctx.match_element<std::string>(i))
      out += ctx.get_as<std::string>(i);
    else
      out += ctx.stringify(i);
  }
  return out;
}

} // namespace mailpipe
