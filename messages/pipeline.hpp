#pragma once

// The data of a processing run that travels between actors (DESIGN.md, "Flow of
// one processing run"): what a run claims, what a pass of one account finds and
// records, and what the run reports. Plain structs; the SQL that reads and
// writes them is in adapters/db/pipeline.hpp.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

#include "messages/clock.hpp"
#include "messages/error.hpp"
#include "messages/types.hpp"

namespace mailpipe {

/// A span of time in the pipeline (as `config::duration`).
using pipeline_duration = std::chrono::milliseconds;

// -- claiming -----------------------------------------------------------------

/// Who holds a lease: the node's name and the run's UUID (two runs on one node
/// name, e.g. cron's `process` beside `run`, never share an account).
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
  pipeline_duration lease_for = std::chrono::minutes{5};
  /// At most this many accounts (`<= 0`: no limit).
  int64_t limit = 0;
  /// Only these account ids (`--account`); empty for every eligible account.
  std::vector<int64_t> accounts;
  /// Look without taking (`process --dry-run`): no lease is written.
  bool dry_run = false;
};

/// A pending test of an account: its token and its `tests.id`.
struct pending_test {
  /// `tests.id`, the key `record_found` takes.
  int64_t test_db_id = 0;
  /// `tests.test_id`, the token the fetcher searches for.
  std::string token;
};

/// A claimed account with what the fetcher needs.
struct claimed_account {
  /// `email_accounts.id`.
  int64_t id = 0;
  /// The mailbox address.
  std::string email;
  /// Which adapter reads it.
  provider kind = provider::imap;
  /// IMAP only ("" / 0 for API providers): host, port, "tls" | "starttls" |
  /// "plain".
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
  /// The opened password or refresh token ("" until the store loads it). Left
  /// out of `inspect`, so no rendering of a message ever shows it.
  std::string secret;
};

/// What a claim found.
struct claim_result {
  /// The accounts now leased to the holder.
  std::vector<claimed_account> accounts;
  /// Active accounts with a pending test left out because their `retry_at` is
  /// ahead.
  int64_t skipped_retry = 0;
  /// Active accounts with a pending test left out because another holder's
  /// lease is live (or its row was locked by a concurrent claim).
  int64_t skipped_leased = 0;
};

// -- one pass of one account --------------------------------------------------

/// What is recorded for one test message found in one account.
struct found_result {
  /// `tests.id` of the test it answers (0 until matched).
  int64_t test_db_id = 0;
  /// The test id the message carried.
  std::string token;
  /// inbox, spam, promotions, social, updates, forums or other.
  std::string placement = "other";
  /// The IMAP mailbox or Graph folder ("" for Gmail).
  std::string folder;
  /// Gmail labels or the folder's special-use flags.
  std::vector<std::string> labels;
  /// Trusted SPF result and the domain it was checked for ("" for none: NULL in
  /// the table, as for every text below).
  std::string spf_result;
  std::string spf_domain;
  /// DKIM: "pass" when any signature passed, else the first signature's result.
  std::string dkim_result;
  /// header.d of every signature, in order.
  std::vector<std::string> dkim_domains;
  /// DMARC result and published policy (p=).
  std::string dmarc_result;
  std::string dmarc_policy;
  /// ARC chain result.
  std::string arc_result;
  /// The filters as a JSON array; "" takes the `filters` member of
  /// `analysis_json`.
  std::string filters_json;
  /// The whole `mailpipe analyze` document (`to_json` of analysis_json.hpp); ""
  /// for none.
  std::string analysis_json;
  /// The raw header block.
  std::string header_block;
};

/// The account's failure state after a failure.
struct failure_outcome {
  /// Consecutive failures, this one included.
  int32_t failure_count = 0;
  /// True when this failure disabled the account (alert!).
  bool disabled = false;
  /// When it may be tried again.
  wall_time retry_at;
};

/// What a supervisor asks the store to write after a pass: the results found,
/// or the failure. Written in one transaction before the pass is acknowledged.
struct pass_record {
  /// The run (UUID text).
  std::string run_id;
  /// The account.
  int64_t account_id = 0;
  /// The results found (empty after a failure).
  std::vector<found_result> found;
  /// True when the pass failed.
  bool failed = false;
  /// Its class and the server's words, secrets masked (failures only).
  failure_class kind = failure_class::other;
  std::string message;
  /// The IMAP session hints to keep in `sync_state.imap_hints` as JSON, ""
  /// when they did not change (successes only).
  std::string imap_hints;
};

/// A refresh token an account's provider rotated to, to seal in place of the
/// stored one while that is still one its reader started from. Only the
/// account is in `inspect`, so no rendering of a message ever shows a token.
struct rotated_token {
  int64_t account_id = 0;
  /// The token it replaces, and the one the reader's cache was made with.
  std::vector<std::string> from;
  /// The new refresh token.
  std::string to;
};

/// What the store answers to a `pass_record`.
struct pass_ack {
  /// Results this write recorded (a rerun records none twice).
  int32_t recorded = 0;
  /// The failure state (failures only).
  failure_outcome failure;
};

/// How a pass of one account ended.
enum class pass_status : uint8_t {
  /// Searched; `found` holds what was there.
  success,
  /// The provider or the store refused; see `kind` and `message`.
  failure,
  /// Cut at `processing.account_timeout`.
  timeout,
  /// Not tried: disabled, or inside its retry time.
  skipped,
};

/// Returns "success", "failure", "timeout" or "skipped".
std::string to_string(pass_status x);

/// What a supervisor tells the orchestrator about one pass.
struct pass_outcome {
  /// The account and its address.
  int64_t account_id = 0;
  std::string email;
  /// How it ended.
  pass_status status = pass_status::success;
  /// Test messages found, and how many of them this pass recorded.
  int32_t emails_found = 0;
  int32_t recorded = 0;
  /// Failure class and masked message (failure, timeout).
  failure_class kind = failure_class::other;
  std::string message;
  /// Consecutive failures after this pass; true when this pass disabled the
  /// account.
  int32_t failure_count = 0;
  bool disabled = false;
  /// When the pass started and how long it took.
  wall_time started_at;
  double duration_seconds = 0;
  /// What was found (kept for `--dry-run` and `--json`).
  std::vector<found_result> found;
};

/// Asks a supervisor for one pass of its account.
struct pass_request {
  /// The run (UUID text).
  std::string run_id;
  /// The account as claimed, with its pending tests and secret.
  claimed_account account;
  /// Cut the fetch after this long.
  pipeline_duration timeout = std::chrono::seconds{300};
  /// Search but write nothing.
  bool dry_run = false;
};

// -- the run ------------------------------------------------------------------

/// What starts a run (`mailpipe process` options or a scheduler tick).
struct run_request {
  /// Accounts busy at once.
  int64_t parallel = 4;
  /// Time limit per account.
  pipeline_duration account_timeout = std::chrono::seconds{300};
  /// Only these accounts (empty: every eligible one).
  std::vector<int64_t> accounts;
  /// Search but write nothing.
  bool dry_run = false;
  /// Receives `(progress, done, total)` after each account (may be null).
  caf::actor listener;
};

/// What a run did.
struct run_report {
  /// The run's UUID text.
  std::string run_id;
  /// Accounts passed successfully, failed (timeouts included) and skipped
  /// (retry time, another holder's lease, or disabled).
  int32_t done = 0;
  int32_t failed = 0;
  int32_t skipped = 0;
  /// Test messages found, and recorded by this run.
  int32_t emails_found = 0;
  int32_t recorded = 0;
  /// Tests expired and completed at the end of the run.
  int64_t tests_expired = 0;
  int64_t tests_completed = 0;
  /// When it started and how long it took.
  wall_time started_at;
  double duration_seconds = 0;
  /// One outcome per account passed, in completion order.
  std::vector<pass_outcome> outcomes;
};

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

/// Something that may deserve an alert.
struct alert_event {
  /// The kind of event: "account_error", "account_disabled", "database_down",
  /// ... (one alert window per kind).
  std::string kind;
  /// Critical events are sent at once; others count toward their window.
  bool critical = false;
  /// Short title and body (the embed's text), secrets already masked.
  std::string title;
  std::string body;
  /// When it happened.
  wall_time at;
};

// -- inspection ---------------------------------------------------------------

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, lease_holder& x) {
  return f(caf::meta::type_name("lease_holder"), x.node, x.run_id);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, claim_request& x) {
  return f(caf::meta::type_name("claim_request"), x.holder, x.lease_for,
           x.limit, x.accounts, x.dry_run);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pending_test& x) {
  return f(caf::meta::type_name("pending_test"), x.test_db_id, x.token);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, claimed_account& x) {
  return f(caf::meta::type_name("claimed_account"), x.id, x.email, x.kind,
           x.imap_host, x.imap_port, x.imap_security, x.username, x.auth_method,
           x.sync_state, x.tests);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, claim_result& x) {
  return f(caf::meta::type_name("claim_result"), x.accounts, x.skipped_retry,
           x.skipped_leased);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, found_result& x) {
  return f(caf::meta::type_name("found_result"), x.test_db_id, x.token,
           x.placement, x.folder, x.labels, x.spf_result, x.spf_domain,
           x.dkim_result, x.dkim_domains, x.dmarc_result, x.dmarc_policy,
           x.arc_result, x.filters_json, x.analysis_json, x.header_block);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, failure_outcome& x) {
  return f(caf::meta::type_name("failure_outcome"), x.failure_count, x.disabled,
           x.retry_at);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pass_record& x) {
  return f(caf::meta::type_name("pass_record"), x.run_id, x.account_id, x.found,
           x.failed, x.kind, x.message, x.imap_hints);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, rotated_token& x) {
  return f(caf::meta::type_name("rotated_token"), x.account_id);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pass_ack& x) {
  return f(caf::meta::type_name("pass_ack"), x.recorded, x.failure);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pass_outcome& x) {
  return f(caf::meta::type_name("pass_outcome"), x.account_id, x.email,
           x.status, x.emails_found, x.recorded, x.kind, x.message,
           x.failure_count, x.disabled, x.started_at, x.duration_seconds,
           x.found);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pass_request& x) {
  return f(caf::meta::type_name("pass_request"), x.run_id, x.account, x.timeout,
           x.dry_run);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, run_request& x) {
  return f(caf::meta::type_name("run_request"), x.parallel, x.account_timeout,
           x.accounts, x.dry_run, x.listener);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, run_report& x) {
  return f(caf::meta::type_name("run_report"), x.run_id, x.done, x.failed,
           x.skipped, x.emails_found, x.recorded, x.tests_expired,
           x.tests_completed, x.started_at, x.duration_seconds, x.outcomes);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, metrics_row& x) {
  return f(caf::meta::type_name("metrics_row"), x.run_id, x.account_id, x.node,
           x.started_at, x.duration_seconds, x.emails_found, x.errors_count,
           x.status, x.error_class, x.error_message);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, alert_event& x) {
  return f(caf::meta::type_name("alert_event"), x.kind, x.critical, x.title,
           x.body, x.at);
}

} // namespace mailpipe
