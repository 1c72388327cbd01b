#pragma once

// Every SQL statement of a processing run (DESIGN.md, "Flow of one processing
// run"): claiming accounts with a lease, recording results once per test and
// account, failures, test expiry, metrics rows and alerts. Each function runs
// on its own connection in one transaction and turns libpqxx's exceptions into
// errors (`db::guarded`). Times come from SQL `now()` unless a caller must
// decide them.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <pqxx/connection>

#include "config/config.hpp"
#include "messages/clock.hpp"
#include "messages/error.hpp"
#include "messages/pipeline.hpp"
#include "messages/types.hpp"

namespace mailpipe {
struct message_analysis;
} // namespace mailpipe

namespace mailpipe::db {

// -- claiming -----------------------------------------------------------------

// The claim's types (lease_holder, claim_request, pending_test,
// claimed_account, claim_result) are in messages/pipeline.hpp: they travel
// between actors.
using mailpipe::claim_request;
using mailpipe::claim_result;
using mailpipe::claimed_account;
using mailpipe::lease_holder;
using mailpipe::pending_test;

/// Claims the eligible accounts: active, at least one pending result of a
/// pending test, no `retry_at` in the future, and no live lease of another
/// holder (an expired lease, or one of this same holder, is taken). `FOR UPDATE
/// SKIP LOCKED`, so two runs or two nodes never take the same account.
caf::expected<claim_result> claim_accounts(pqxx::connection& conn,
                                           const claim_request& req);

/// The accounts `claim_accounts` would take, without taking them (`process
/// --dry-run`).
caf::expected<claim_result> eligible_accounts(pqxx::connection& conn,
                                              const claim_request& req);

// -- IMAP push (migration 0006) -------------------------------------------------

/// Takes or keeps the watch (a row of `push_watches`) of the active IMAP
/// accounts with `push` on that no other node watches (its lease passed) or
/// that `owner` watches already, up to `limit`, each until now + `lease`;
/// gives back those of `owner` whose push is off or that are no longer active.
/// Locks no account row. Returns the
/// accounts `owner` watches now (no tests, no secret), by id.
caf::expected<std::vector<claimed_account>>
claim_push_accounts(pqxx::connection& conn, std::string_view owner,
                    duration lease, int64_t limit);

/// Gives back every watch of `owner` (a node that stops).
caf::expected<int64_t> release_push_accounts(pqxx::connection& conn,
                                             std::string_view owner);

/// Turns push on or off for an account. Errors: `not_found`; push on for a
/// Gmail or Outlook account is `invalid_argument` (they push through the
/// node's HTTP endpoint).
caf::error set_account_push(pqxx::connection& conn, int64_t account_id,
                            bool on);

/// One active account as a claim returns it (no tests, no secret). Errors:
/// `not_found` (no such account, or disabled).
caf::expected<claimed_account> load_active_account(pqxx::connection& conn,
                                                   int64_t account_id);

/// Sets one key of an account's `sync_state` to `json`, the others kept.
caf::error save_sync_key(pqxx::connection& conn, int64_t account_id,
                         std::string_view key, std::string_view json);

/// Gives a lease back if `holder` still holds it; true when it did.
caf::expected<bool> release_lease(pqxx::connection& conn, int64_t account_id,
                                  const lease_holder& holder);

/// Extends a lease by `lease_for` from now; false when the holder lost it (it
/// expired and another holder took the account).
caf::expected<bool> renew_lease(pqxx::connection& conn, int64_t account_id,
                                const lease_holder& holder, duration lease_for);

/// Extends every lease of the holder's run by `lease_for` from now; returns how
/// many.
caf::expected<int64_t> renew_run_leases(pqxx::connection& conn,
                                        const lease_holder& holder,
                                        duration lease_for);

/// Gives back every lease of the holder's run; returns how many.
caf::expected<int64_t> release_run_leases(pqxx::connection& conn,
                                          const lease_holder& holder);

/// Stores the provider's sync state (Gmail historyId, Graph delta links) as
/// JSON text.
caf::error save_sync_state(pqxx::connection& conn, int64_t account_id,
                           std::string_view json);

// -- results ------------------------------------------------------------------

using mailpipe::found_result;

/// Fills a `found_result` from an analysis, its JSON and the header block: one
/// rule for the columns, shared by the pipeline and tests.
found_result to_found_result(const message_analysis& a,
                             std::string analysis_json,
                             std::string header_block);

/// Records a found message once per test and account: only a result still
/// 'pending' is written. True when this call wrote it, false when it was
/// already recorded (a rerun).
caf::expected<bool> record_found(pqxx::connection& conn,
                                 std::string_view run_id, int64_t test_db_id,
                                 int64_t account_id, const found_result& found);

/// Records a successful pass in one transaction: each found message once per
/// test and account (`found_result::test_db_id`), then the success
/// (`record_success`), and `imap_hints` (JSON, "" to leave them) as
/// `sync_state.imap_hints`. Returns how many results this call wrote;
/// `ec::not_found` if no such account.
caf::expected<int32_t> record_pass(pqxx::connection& conn,
                                   std::string_view run_id, int64_t account_id,
                                   const std::vector<found_result>& found,
                                   const std::string& imap_hints = "");

/// What `expire_tests` changed.
struct expiry_summary {
  /// Tests now 'expired'.
  int64_t tests_expired = 0;
  /// Results now 'missing'.
  int64_t results_missing = 0;
};

/// Expires the pending tests whose `expires_at` passed: their pending results
/// become 'missing' (placement 'missing') and the test 'expired'.
caf::expected<expiry_summary> expire_tests(pqxx::connection& conn);

/// Marks 'complete' every pending test with no pending result left; returns how
/// many.
caf::expected<int64_t> complete_tests(pqxx::connection& conn);

// -- failures -----------------------------------------------------------------

/// One failure of an account, as the supervisor classified it.
struct failure_report {
  /// The account.
  int64_t account_id = 0;
  /// auth, timeout, network, ...
  failure_class kind = failure_class::other;
  /// The server's text, secrets already masked.
  std::string message;
  /// `retry_at = now() + retry_after` (`processing.retry_after`).
  duration retry_after = std::chrono::minutes{10};
  /// Consecutive failures that disable the account (`processing.max_failures`).
  int64_t max_failures = 3;
};

using mailpipe::failure_outcome;

/// Counts a failure (count + 1, class, message, `retry_at`); at `max_failures`
/// disables the account (`active = false`, `disabled_reason`, `disabled_at`).
/// One transaction.
caf::expected<failure_outcome> record_failure(pqxx::connection& conn,
                                              const failure_report& report);

/// A success: resets the failure count and clears `retry_at`; sets
/// `last_processed_at`.
caf::error record_success(pqxx::connection& conn, int64_t account_id);

/// Re-enables an account and deletes its failure record; `ec::not_found` if no
/// such id.
caf::error reactivate_account(pqxx::connection& conn, int64_t account_id);

// -- metrics ------------------------------------------------------------------

using mailpipe::metrics_row;

/// Inserts every row in one statement; returns how many.
caf::expected<int64_t> insert_metrics(pqxx::connection& conn,
                                      const std::vector<metrics_row>& rows);

/// Deletes metrics rows older than `days` days; returns how many.
caf::expected<int64_t> clean_metrics(pqxx::connection& conn, int64_t days);

// -- alerts -------------------------------------------------------------------

/// One row of `alerts`.
struct alert_row {
  /// `alerts.id` (0 before insertion).
  int64_t id = 0;
  /// The alert's kind (e.g. "account_disabled", "errors").
  std::string kind;
  /// "warning" or "critical".
  std::string severity = "warning";
  /// Short title and body (the embed's text).
  std::string title;
  std::string body;
  /// The node that raised it.
  std::string node;
  /// "pending", "delivered" or "failed".
  std::string state = "pending";
  /// Delivery attempts so far and the last delivery error.
  int32_t attempts = 0;
  std::string last_error;
  /// When it fired (an alert recorded late, after the database came back, keeps
  /// it).
  std::optional<wall_time> created_at;
};

/// Inserts an alert; returns its id.
caf::expected<int64_t> insert_alert(pqxx::connection& conn,
                                    const alert_row& alert);

/// Sets an alert's delivery state; 'delivered' also sets `delivered_at`.
caf::error mark_alert(pqxx::connection& conn, int64_t id,
                      std::string_view state, int32_t attempts,
                      std::string_view last_error);

/// The alerts still 'pending', oldest first (redelivery after a restart).
caf::expected<std::vector<alert_row>> pending_alerts(pqxx::connection& conn,
                                                     int64_t limit = 100);

} // namespace mailpipe::db
