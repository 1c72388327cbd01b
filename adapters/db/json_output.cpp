#include "adapters/db/json_output.hpp"

#include <fmt/format.h>

#include "adapters/analysis/analysis_json.hpp"

namespace mailpipe::db {

std::string json_str(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

std::string json_str_or_null(std::string_view s) {
  return s.empty() ? "null" : json_str(s);
}

std::string to_json(const account_info& a) {
  return fmt::format(
      "{{\"id\":{},\"email\":{},\"provider\":{},\"state\":{},\"active\":{},"
      "\"disabled_reason\":{},\"disabled_at\":{},\"imap_host\":{},"
      "\"imap_port\":{},\"imap_security\":{},\"username\":{},"
      "\"auth_method\":{},\"has_secret\":{},\"push\":{},"
      "\"push_watched_by\":{},\"last_processed_at\":{},"
      "\"created_at\":{},\"pending_tests\":{},\"failure\":{{\"count\":{},"
      "\"class\":{},\"last_error\":{},\"last_failure_at\":{},"
      "\"retry_at\":{}}}}}",
      a.id, json_str(a.email), json_str(a.provider), json_str(a.state),
      a.active, json_str(a.disabled_reason), json_str(a.disabled_at),
      json_str(a.imap_host), a.imap_port, json_str(a.imap_security),
      json_str(a.username), json_str(a.auth_method), a.has_secret, a.push,
      json_str(a.push_watched_by), json_str(a.last_processed_at),
      json_str(a.created_at), a.pending_tests, a.failure_count,
      json_str(a.failure_class), json_str(a.last_error),
      json_str(a.last_failure_at), json_str(a.retry_at));
}

std::string to_json(const job_row& j) {
  return fmt::format(
      "{{\"id\":{},\"queue\":{},\"priority\":{},\"state\":{},\"attempts\":{},"
      "\"max_attempts\":{},\"payload\":{},\"result\":{},\"last_error\":{},"
      "\"lease_owner\":{},\"run_at\":{},\"lease_until\":{},\"created_at\":{},"
      "\"updated_at\":{},\"finished_at\":{}}}",
      json_str(j.id), json_str(j.queue), json_str(j.priority),
      json_str(j.state), j.attempts, j.max_attempts, j.payload_json,
      j.result_json.empty() ? "null" : j.result_json,
      json_str_or_null(j.last_error), json_str_or_null(j.lease_owner),
      json_str_or_null(j.run_at), json_str_or_null(j.lease_until),
      json_str_or_null(j.created_at), json_str_or_null(j.updated_at),
      json_str_or_null(j.finished_at));
}

std::string summary_members(const test_summary& t) {
  return fmt::format(
      "\"token\":{},\"name\":{},\"status\":{},\"created_at\":{},"
      "\"expires_at\":{},\"counts\":{{\"pending\":{},\"found\":{},"
      "\"missing\":{},\"error\":{},\"total\":{}}}",
      json_str(t.token), json_str(t.name), json_str(t.status),
      json_str(t.created_at), json_str(t.expires_at), t.pending, t.found,
      t.missing, t.error, t.total);
}

namespace {

std::string result_json(const test_result_row& r) {
  return fmt::format(
      "{{\"account_id\":{},\"email\":{},\"provider\":{},\"status\":{},"
      "\"placement\":{},\"folder\":{},\"labels\":{},\"auth\":{},"
      "\"filters\":{},\"found_at\":{},\"error\":{}}}",
      r.account_id, json_str(r.email), json_str(r.provider), json_str(r.status),
      json_str_or_null(r.placement), json_str_or_null(r.folder), r.labels_json,
      r.auth_json, r.filters_json, json_str_or_null(r.found_at),
      json_str_or_null(r.error_class));
}

} // namespace

std::string to_json(const test_report& rep) {
  auto out = fmt::format("{{{},\"rates\":{{\"inbox\":{:.4f},\"spam\":{:.4f},"
                         "\"tabs\":{:.4f},\"missing\":{:.4f}}},\"results\":[",
                         summary_members(rep.test), rep.rates.inbox,
                         rep.rates.spam, rep.rates.tabs, rep.rates.missing);
  for (size_t i = 0; i < rep.results.size(); ++i)
    out += (i ? ",\n  " : "\n  ") + result_json(rep.results[i]);
  return out + "]}\n";
}

} // namespace mailpipe::db
