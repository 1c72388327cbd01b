#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/timestamp.hpp>

#include "messages/error.hpp"

namespace mailpipe {

/// The providers mailpipe reads seed accounts from.
enum class provider : uint8_t { imap, gmail, outlook };

/// Returns `"imap"`, `"gmail"` or `"outlook"`.
std::string to_string(provider x);

/// Parses a provider name; false if unknown.
bool from_string(std::string_view str, provider& out);

/// A seed account as the pipeline sees it (secrets stay in the database).
struct account {
  /// Primary key of `email_accounts`.
  int64_t id = 0;
  /// The mailbox address.
  std::string email;
  /// Which adapter reads it.
  provider kind = provider::imap;
  /// False once disabled after repeated failures.
  bool active = true;

  bool operator==(const account&) const = default;
};

/// Asks a fetcher to find the messages carrying any of `test_ids` in one account.
struct fetch_request {
  /// The processing run this belongs to (UUID text).
  std::string run_id;
  /// The account to visit.
  int64_t account_id = 0;
  /// The unique test ids still pending for this account.
  std::vector<std::string> test_ids;

  bool operator==(const fetch_request&) const = default;
};

/// One message found in a seed account.
struct found_message {
  /// The test id that matched.
  std::string test_id;
  /// The IMAP mailbox or Graph folder where it was found ("" for Gmail).
  std::string folder;
  /// Gmail label ids or IMAP special-use flags of the folder.
  std::vector<std::string> labels;
  /// The raw RFC 5322 header block.
  std::string header_block;
  /// The provider's id of the message (IMAP UID, Gmail/Graph message id).
  std::string provider_id;

  bool operator==(const found_message&) const = default;
};

/// What a fetcher hands back for one account.
struct fetch_result {
  /// The processing run this belongs to.
  std::string run_id;
  /// The account that was visited.
  int64_t account_id = 0;
  /// Every message found; tests not listed are still missing.
  std::vector<found_message> messages;

  bool operator==(const fetch_result&) const = default;
};

/// A failure of one account, as written to `email_account_failures`.
struct account_failure {
  /// The account that failed.
  int64_t account_id = 0;
  /// Its class (auth, timeout, ...).
  failure_class kind = failure_class::other;
  /// The server's words, secrets masked.
  std::string message;
  /// Consecutive failures so far, this one included.
  int32_t failure_count = 0;
  /// When the account may be tried again.
  caf::timestamp retry_at;

  bool operator==(const account_failure&) const = default;
};

/// The outcome of one processing run.
struct run_summary {
  /// The run's UUID text.
  std::string run_id;
  /// Accounts visited.
  int32_t accounts = 0;
  /// Test messages found.
  int32_t emails_found = 0;
  /// Accounts that failed.
  int32_t errors = 0;
  /// When the run started and ended.
  caf::timestamp started_at;
  caf::timestamp finished_at;

  bool operator==(const run_summary&) const = default;
};

/// One actor a terminator stops, with the name the logs give it (never leaves the process).
struct terminator_target {
  /// What the actor is ("registrar", "scheduler", ...).
  std::string name;
  /// Its handle.
  caf::actor handle;
};

// -- inspection ---------------------------------------------------------------

// Enums (provider, failure_class) are serialized by CAF as their underlying integer.

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, account& x) {
  return f(caf::meta::type_name("account"), x.id, x.email, x.kind, x.active);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, fetch_request& x) {
  return f(caf::meta::type_name("fetch_request"), x.run_id, x.account_id,
           x.test_ids);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, found_message& x) {
  return f(caf::meta::type_name("found_message"), x.test_id, x.folder, x.labels,
           x.header_block, x.provider_id);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, fetch_result& x) {
  return f(caf::meta::type_name("fetch_result"), x.run_id, x.account_id,
           x.messages);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, account_failure& x) {
  return f(caf::meta::type_name("account_failure"), x.account_id, x.kind,
           x.message, x.failure_count, x.retry_at);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, run_summary& x) {
  return f(caf::meta::type_name("run_summary"), x.run_id, x.accounts,
           x.emails_found, x.errors, x.started_at, x.finished_at);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, terminator_target& x) {
  return f(caf::meta::type_name("terminator_target"), x.name, x.handle);
}

} // namespace mailpipe
