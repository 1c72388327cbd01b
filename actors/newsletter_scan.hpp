#pragma once

// Newsletters in a seed account's new mail (docs/jobs.md, "fetch_emails"):
// the messages that carry List-Unsubscribe or List-Id (RFC 2369, RFC 2919),
// added as newsletters with their process_mails jobs. IMAP accounts are read
// in INBOX by UID, Gmail accounts through their history, Outlook accounts
// through delta rounds of their inbox.

#include <cstdint>

#include <caf/expected.hpp>
#include <pqxx/connection>

#include "config/config.hpp"

namespace mailpipe {

/// At most this many messages of an IMAP INBOX are read per scan; the next
/// scan goes on.
constexpr int64_t max_newsletters_per_scan = 200;

/// What one scan did.
struct newsletter_scan {
  /// False for an account that is not scanned: disabled or removed.
  bool scanned = false;
  /// List messages read, and newsletters added among them.
  int64_t read = 0;
  int64_t added = 0;
  /// Above zero when Gmail's or Graph's rate limit asked to wait: the scan
  /// stopped there, its cursor where it was, and the next scan after that
  /// wait goes on. (Any other error to retry later is the scan's error.)
  duration retry_in{0};
};

/// Scans account `account_id`'s new mail from where its last scan stopped
/// (`sync_state.newsletters`), adds each list message as a newsletter of the
/// account and queues its analysis. A message the database refuses for its
/// data, or that Gmail or Graph cannot give whole (larger than a response may
/// be, or malformed), is skipped with a warning. Blocks on the server and the
/// database.
/// - IMAP: INBOX from the cursor (UIDVALIDITY and the next UID; a first scan
///   reads the whole INBOX, oldest first), at most
///   `max_newsletters_per_scan` messages, 20 per fetch, the cursor saved
///   after each fetch.
/// - Gmail: the messages the history adds after the cursor's `history_id`;
///   their labels and list headers read first (format=metadata), the
///   newsletters labelled INBOX then whole (format=raw); the cursor then
///   moves to the history's end. A first scan, or one whose history Gmail no longer has,
///   only sets the cursor (the mailbox's current historyId).
/// - Outlook: the inbox's new messages (`changeType=created`) a delta round
///   from the cursor's `delta_link` reports, those with a list header read as
///   MIME; the cursor then takes the round's new link. A first scan, or one whose link Graph refused, only makes a
///   round from scratch to set the cursor.
caf::expected<newsletter_scan>
scan_newsletters(const config& cfg, pqxx::connection& conn, int64_t account_id);

} // namespace mailpipe
