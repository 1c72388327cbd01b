#pragma once

// Placement tests as `mailpipe test add | list | show` sees them: a `tests` row
// with one `test_results` row per seed account, and the report of where the
// messages landed.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <pqxx/connection>

#include "config/config.hpp"

namespace mailpipe::db {

/// What `test add` asks for.
struct test_spec {
  /// The unique token the messages carry (`tests.test_id`).
  std::string token;
  /// A name for people ("" for none).
  std::string name;
  /// The seed accounts; empty for every active account.
  std::vector<int64_t> accounts;
  /// How long the test waits before pending accounts count as missing; nullopt:
  /// forever.
  std::optional<duration> expires_in;
};

/// Creates the test and one pending result per account, in one transaction;
/// returns the number of accounts. `ec::already_exists` for a token in use,
/// `ec::invalid_argument` for no account at all, `ec::not_found` for an unknown
/// or inactive account id.
caf::expected<int64_t> add_test(pqxx::connection& conn, const test_spec& spec);

/// A test and how many of its results are in each state.
struct test_summary {
  /// `tests.id`, the token, its name, and 'pending' | 'complete' | 'expired'.
  int64_t id = 0;
  std::string token;
  std::string name;
  std::string status;
  /// ISO 8601 text ("" for none).
  std::string created_at;
  std::string expires_at;
  /// Results per state, and all of them.
  int64_t pending = 0;
  int64_t found = 0;
  int64_t missing = 0;
  int64_t error = 0;
  int64_t total = 0;
};

/// Shares of a test's accounts, as fractions of all its accounts (0 to 1).
struct placement_rates {
  double inbox = 0;
  double spam = 0;
  /// promotions + social + updates + forums.
  double tabs = 0;
  /// Status 'missing' (expired while pending).
  double missing = 0;
};

/// One account's result in a report.
struct test_result_row {
  /// The account.
  int64_t account_id = 0;
  std::string email;
  std::string provider;
  /// pending | found | missing | error; placement and folder ("" when none).
  std::string status;
  std::string placement;
  std::string folder;
  /// JSON: the labels array, and `auth` / `filters` as `mailpipe analyze`
  /// writes them (from the stored analysis; built from the columns when there
  /// is none).
  std::string labels_json = "[]";
  std::string auth_json = "{}";
  std::string filters_json = "[]";
  /// The trusted results, for the table ("" when none).
  std::string spf;
  std::string dkim;
  std::string dmarc;
  std::string arc;
  /// When it was found (ISO 8601, "" when not).
  std::string found_at;
  /// The failure class of an 'error' result (the account's last pass failed),
  /// else "".
  std::string error_class;
  /// The filters in brief, e.g. "SpamAssassin:spam Microsoft EOP:not_spam".
  std::string filters_text;
};

/// A test's report.
struct test_report {
  /// The test and its counts.
  test_summary test;
  /// Over its accounts.
  placement_rates rates;
  /// One per account, by account id.
  std::vector<test_result_row> results;
};

/// Every test, newest first.
caf::expected<std::vector<test_summary>> list_tests(pqxx::connection& conn);

/// The report of the test with `token`; `ec::not_found` when there is none.
caf::expected<test_report> show_test(pqxx::connection& conn,
                                     const std::string& token);

/// The rates of a set of results (the one rule; a test with no account has all
/// zero).
placement_rates rates_of(const std::vector<test_result_row>& results);

} // namespace mailpipe::db
