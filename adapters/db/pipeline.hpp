#pragma once

// Every SQL statement of a processing run (DESIGN.md, "Flow of one processing run"):
// claiming accounts with a lease, recording results once per test and account, failures,
// test expiry, metrics rows and alerts. Each function runs on its own connection in one
// transaction and turns libpqxx's exceptions into errors (`db::guarded`). Times come from
// SQL `now()` unless a caller must decide them.

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
#include "messages/types.hpp"

namespace mailpipe {
struct message_analysis;
} // namespace mailpipe

namespace mailpipe::db {

// -- claiming -----------------------------------------------------------------

/// Who holds a lease: the node's name and the run's UUID (two runs on one node name,
/// e.g. cron's `process` beside `run`, never share an account).
struct lease_holder {
  /// `node.name`.
  std::string node;
  /// The run's UUID text.
  std::string run_id;
};

/// What a run asks for.
struct claim_request {
  /// The lease to take.
  lease_holder holder;
  /// How long the lease lasts (renew with `renew_lease`).
  duration lease_for = std::chrono::minutes{5};
  /// At most this many accounts (`<= 0`: no limit).
  int64_t limit = 0;
  /// Only these account ids (`--account`); empty for every eligible account.
  std::vector<int64_t> accounts;
};

/// A pending test of an account: its token and its `tests.id`.
struct pending_test {
  /// `tests.id`, the key `record_found` takes.
  int64_t test_db_id = 0;
  /// `tests.test_id`, the token the fetcher searches for.
  std::string token;
};

/// A claimed account with what the fetcher needs (its secret stays in the database:
/// `load_secret` in account_store.hpp).
struct claimed_account {
  /// `email_accounts.id`.
  int64_t id = 0;
  /// The mailbox address.
  std::string email;
  /// Which adapter reads it.
  provider kind = provider::imap;
  /// IMAP only ("" / 0 for API providers): host, port, "tls" | "starttls" | "plain".
  std::string imap_host;
  int imap_port = 0;
  std::string imap_security;
  /// Login name.
  std::string username;
  /// "password", "xoauth2" or "oauth2".
  std::string auth_method;
  /// `sync_state` as JSON text ("{}" when none).
  std::string sync_state = "{}";
  /// Pending tests, oldest first; never empty for a claimed account.
  std::vector<pending_test> tests;
};

/// What `claim_accounts` found.
struct claim_result {
  /// The accounts now leased to the holder.
  std::vector<claimed_account> accounts;
  /// Active accounts with a pending test left out because their `retry_at` is ahead.
  int64_t skipped_retry = 0;
  /// Active accounts with a pending test left out because another holder's lease is live
  /// (or its row was locked by a concurrent claim).
  int64_t skipped_leased = 0;
};

/// Claims the eligible accounts: active, at least one pending result of a pending test, no
/// `retry_at` in the future, and no live lease of another holder (an expired lease, or one
/// of this same holder, is taken). `FOR UPDATE SKIP LOCKED`, so two runs or two nodes never
/// take the same account.
caf::expected<claim_result> claim_accounts(pqxx::connection& conn,
                                           const claim_request& req);

/// The accounts `claim_accounts` would take, without taking them (`process --dry-run`).
caf::expected<claim_result> eligible_accounts(pqxx::connection& conn,
                                              const claim_request& req);

/// Gives a lease back if `holder` still holds it; true when it did.
caf::expected<bool> release_lease(pqxx::connection& conn, int64_t account_id,
                                  const lease_holder& holder);

/// Extends a lease by `lease_for` from now; false when the holder lost it (it expired and
/// another holder took the account).
caf::expected<bool> renew_lease(pqxx::connection& conn, int64_t account_id,
                                const lease_holder& holder, duration lease_for);

/// Stores the provider's sync state (Gmail historyId, Graph delta links) as JSON text.
caf::error save_sync_state(pqxx::connection& conn, int64_t account_id,
                           std::string_view json);

// -- results ------------------------------------------------------------------

/// What is recorded for one test message found in one account.
struct found_result {
  /// inbox, spam, promotions, social, updates, forums or other.
  std::string placement = "other";
  /// The IMAP mailbox or Graph folder ("" for Gmail).
  std::string folder;
  /// Gmail labels or the folder's special-use flags.
  std::vector<std::string> labels;
  /// Trusted SPF result and the domain it was checked for.
  std::optional<std::string> spf_result;
  std::optional<std::string> spf_domain;
  /// DKIM: "pass" when any signature passed, else the first signature's result.
  std::optional<std::string> dkim_result;
  /// header.d of every signature, in order.
  std::vector<std::string> dkim_domains;
  /// DMARC result and published policy (p=).
  std::optional<std::string> dmarc_result;
  std::optional<std::string> dmarc_policy;
  /// ARC chain result.
  std::optional<std::string> arc_result;
  /// The filters as a JSON array; "" takes the `filters` member of `analysis_json`.
  std::string filters_json;
  /// The whole `mailpipe analyze` document (`to_json` of analysis_json.hpp); "" for none.
  std::string analysis_json;
  /// The raw header block.
  std::string header_block;
};

/// Fills a `found_result` from an analysis, its JSON and the header block: one rule for
/// the columns, shared by the pipeline and tests.
found_result to_found_result(const message_analysis& a, std::string analysis_json,
                             std::string header_block);

/// Records a found message once per test and account: only a result still 'pending' is
/// written. True when this call wrote it, false when it was already recorded (a rerun).
caf::expected<bool> record_found(pqxx::connection& conn, std::string_view run_id,
                                 int64_t test_db_id, int64_t account_id,
                                 const found_result& found);

/// What `expire_tests` changed.
struct expiry_summary {
  /// Tests now 'expired'.
  int64_t tests_expired = 0;
  /// Results now 'missing'.
  int64_t results_missing = 0;
};

/// Expires the pending tests whose `expires_at` passed: their pending results become
/// 'missing' (placement 'missing') and the test 'expired'.
caf::expected<expiry_summary> expire_tests(pqxx::connection& conn);

/// Marks 'complete' every pending test with no pending result left; returns how many.
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

/// The account's state after a failure.
struct failure_outcome {
  /// Consecutive failures, this one included.
  int32_t failure_count = 0;
  /// True when this failure disabled the account (alert!).
  bool disabled = false;
  /// When it may be tried again.
  wall_time retry_at;
};

/// Counts a failure (count + 1, class, message, `retry_at`); at `max_failures` disables the
/// account (`active = false`, `disabled_reason`, `disabled_at`). One transaction.
caf::expected<failure_outcome> record_failure(pqxx::connection& conn,
                                              const failure_report& report);

/// A success: resets the failure count and clears `retry_at`; sets `last_processed_at`.
caf::error record_success(pqxx::connection& conn, int64_t account_id);

/// Re-enables an account and deletes its failure record; `ec::not_found` if no such id.
caf::error reactivate_account(pqxx::connection& conn, int64_t account_id);

// -- metrics ------------------------------------------------------------------

/// One `email_processing_metrics` row: one account in one run.
struct metrics_row {
  /// The run's UUID text.
  std::string run_id;
  /// The account (0 for none).
  int64_t account_id = 0;
  /// `node.name`.
  std::string node;
  /// When the account's pass started.
  wall_time started_at;
  /// How long it took.
  double duration_seconds = 0;
  /// Test messages found.
  int32_t emails_found = 0;
  /// Errors met.
  int32_t errors_count = 0;
  /// "success", "failure", "timeout" or "skipped".
  std::string status = "success";
  /// The failure class ("" for none) and the masked message.
  std::string error_class;
  std::string error_message;
};

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
  /// When it fired (an alert recorded late, after the database came back, keeps it).
  std::optional<wall_time> created_at;
};

/// Inserts an alert; returns its id.
caf::expected<int64_t> insert_alert(pqxx::connection& conn, const alert_row& alert);

/// Sets an alert's delivery state; 'delivered' also sets `delivered_at`.
caf::error mark_alert(pqxx::connection& conn, int64_t id, std::string_view state,
                      int32_t attempts, std::string_view last_error);

/// The alerts still 'pending', oldest first (redelivery after a restart).
caf::expected<std::vector<alert_row>> pending_alerts(pqxx::connection& conn,
                                                     int64_t limit = 100);

} // namespace mailpipe::db
