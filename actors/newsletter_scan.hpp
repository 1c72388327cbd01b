#pragma once

// Newsletters in a seed account's new mail (docs/jobs.md, "fetch_emails"):
// the messages of INBOX that carry List-Unsubscribe or List-Id (RFC 2369,
// RFC 2919), added as newsletters with their process_mails jobs.

#include <cstdint>

#include <caf/expected.hpp>
#include <pqxx/connection>

#include "config/config.hpp"

namespace mailpipe {

/// At most this many messages are read per scan; the next scan goes on.
constexpr int64_t max_newsletters_per_scan = 200;

/// What one scan did.
struct newsletter_scan {
  /// False for an account that is not scanned: Gmail and Outlook (not built
  /// yet), a disabled or removed account.
  bool scanned = false;
  /// List messages read, and newsletters added among them.
  int64_t read = 0;
  int64_t added = 0;
};

/// Scans the INBOX of IMAP account `account_id` from where the last scan
/// stopped (`sync_state.newsletters`: UIDVALIDITY and the next UID; a first
/// scan reads the whole INBOX, oldest first), adds each list message as a
/// newsletter of the account and queues its analysis, 20 messages per fetch,
/// the cursor saved after each fetch. A message the database refuses for its
/// data is skipped with a warning. Blocks on the server and the database.
caf::expected<newsletter_scan>
scan_newsletters(const config& cfg, pqxx::connection& conn, int64_t account_id);

} // namespace mailpipe
