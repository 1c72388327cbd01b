#include "messages/types.hpp"

#include "messages/pipeline.hpp"

#include <tuple>

namespace mailpipe {

std::string to_string(provider x) {
  switch (x) {
    case provider::imap: return "imap";
    case provider::gmail: return "gmail";
    case provider::outlook: return "outlook";
  }
  return "imap";
}

std::string to_string(pass_status x) {
  switch (x) {
    case pass_status::success: return "success";
    case pass_status::failure: return "failure";
    case pass_status::timeout: return "timeout";
    case pass_status::skipped: return "skipped";
  }
  return "failure";
}

bool from_string(std::string_view str, provider& out) {
  if (str == "imap")
    out = provider::imap;
  else if (str == "gmail")
    out = provider::gmail;
  else if (str == "outlook" || str == "microsoft" || str == "graph")
    out = provider::outlook;
  else
    return false;
  return true;
}

bool operator==(const account& x, const account& y) {
  return std::tie(x.id, x.email, x.kind, x.active)
         == std::tie(y.id, y.email, y.kind, y.active);
}

bool operator==(const fetch_request& x, const fetch_request& y) {
  return std::tie(x.run_id, x.account_id, x.test_ids)
         == std::tie(y.run_id, y.account_id, y.test_ids);
}

bool operator==(const found_message& x, const found_message& y) {
  return std::tie(x.test_id, x.folder, x.labels, x.header_block, x.provider_id)
         == std::tie(y.test_id, y.folder, y.labels, y.header_block,
                     y.provider_id);
}

bool operator==(const fetch_result& x, const fetch_result& y) {
  return std::tie(x.run_id, x.account_id, x.messages)
         == std::tie(y.run_id, y.account_id, y.messages);
}

bool operator==(const account_failure& x, const account_failure& y) {
  return std::tie(x.account_id, x.kind, x.message, x.failure_count, x.retry_at)
         == std::tie(y.account_id, y.kind, y.message, y.failure_count,
                     y.retry_at);
}

bool operator==(const run_summary& x, const run_summary& y) {
  return std::tie(x.run_id, x.accounts, x.emails_found, x.errors, x.started_at,
                  x.finished_at)
         == std::tie(y.run_id, y.accounts, y.emails_found, y.errors,
                     y.started_at, y.finished_at);
}

} // namespace mailpipe
