#pragma once

// The JSON of the rows the commands print with --json and the REST API
// returns (docs/http.md): one writer per row kind, so both say the same.

#include <string>
#include <string_view>

#include "adapters/db/account_store.hpp"
#include "adapters/db/jobs.hpp"
#include "adapters/db/test_store.hpp"

namespace mailpipe::db {

/// `s` as a JSON string literal.
std::string json_str(std::string_view s);

/// `s` as a JSON string literal, or `null` when it is empty.
std::string json_str_or_null(std::string_view s);

/// An account's state: "disabled", "retrying" (a failure record whose
/// `retry_at` has not passed) or "active".
std::string account_state(const account_info& a);

/// An account with its state and failure record (never its secret).
std::string to_json(const account_info& a);

/// A job with its payload, result, lease and last error.
std::string to_json(const job_row& j);

/// A test and its counts, as the members of an object (no braces).
std::string summary_members(const test_summary& t);

/// A test's report: its summary, the rates (fractions 0 to 1) and one result
/// per account, ending with a newline.
std::string to_json(const test_report& rep);

} // namespace mailpipe::db
