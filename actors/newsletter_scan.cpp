#include "actors/newsletter_scan.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>

#include "actors/fetcher.hpp"
#include "actors/job_handlers.hpp"
#include "adapters/db/account_store.hpp"
#include "adapters/db/pipeline.hpp"
#include "adapters/sys/crypto.hpp"

namespace mailpipe {

namespace {

/// Messages fetched in one `UID FETCH` (a command's answer must come within
/// `imap.command_timeout`), the cursor saved after each.
constexpr size_t fetch_chunk = 20;

/// Where a scan of INBOX stopped.
struct scan_cursor {
  uint32_t uid_validity = 0;
  uint32_t next_uid = 1;
};

// The cursor kept in `sync_state.newsletters`; the start of the mailbox when
// there is none or its UIDVALIDITY changed (the UIDs were renumbered).
scan_cursor cursor_of(std::string_view sync_state, uint32_t uid_validity) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  uint64_t validity = 0;
  uint64_t next = 0;
  if (parser.parse(sync_state.data(), sync_state.size()).get(doc)
      || doc["newsletters"]["uid_validity"].get(validity)
      || doc["newsletters"]["next_uid"].get(next) || validity != uid_validity
      || next == 0)
    return {uid_validity, 1};
  return {uid_validity, static_cast<uint32_t>(next)};
}

std::string cursor_json(const scan_cursor& c) {
  return fmt::format("{{\"uid_validity\":{},\"next_uid\":{}}}", c.uid_validity,
                     c.next_uid);
}

// The list messages of INBOX from `from` on, oldest first, at most the scan's
// share. ("UID n:*" also names the last message when n is past it: dropped.)
caf::expected<std::vector<uint32_t>> list_messages(imap::session& session,
                                                   uint32_t from) {
  auto uids = session.uid_search(fmt::format(
      "UID {}:* OR HEADER List-Unsubscribe \"\" HEADER List-Id \"\"", from));
  if (!uids)
    return uids;
  std::vector<uint32_t> out;
  for (auto uid : *uids)
    if (uid >= from)
      out.push_back(uid);
  std::sort(out.begin(), out.end());
  if (out.size() > static_cast<size_t>(max_newsletters_per_scan))
    out.resize(max_newsletters_per_scan);
  return out;
}

// True for a message the database refuses for what it holds (SQLSTATE class
// 22, a data exception): skipping it loses that message only.
bool refused_for_its_data(const caf::error& err) {
  return is(err, ec::database_error)
         && render(err).find("(SQLSTATE 22") != std::string::npos;
}

// Adds the messages `uids` of INBOX as newsletters of `acc`. A message the
// database refuses for its data is skipped with a warning, so one bad message
// never stops the account's scans; a database that is away or a server that
// fails ends the scan (the job is retried).
caf::error add_chunk(const config& cfg, pqxx::connection& conn,
                     imap::session& session, const claimed_account& acc,
                     const std::vector<uint32_t>& uids, newsletter_scan& out) {
  auto messages = session.fetch_messages(uids);
  if (!messages)
    return messages.error();
  for (auto& m : *messages) {
    auto added = add_newsletter_message(conn, cfg, m.raw, acc.id);
    if (!added && refused_for_its_data(added.error())) {
      spdlog::warn("account {}: INBOX message {} skipped as a newsletter: {}",
                   acc.id, m.uid, render(added.error()));
      continue;
    }
    if (!added)
      return added.error();
    ++out.read;
    out.added += added->added ? 1 : 0;
  }
  return {};
}

caf::expected<imap::session> log_in(const config& cfg, pqxx::connection& conn,
                                    claimed_account& acc) {
  auto box = crypto::secret_box::load(cfg.crypto);
  if (!box)
    return box.error();
  auto secret = db::load_secret(conn, acc.id, *box);
  if (!secret)
    return secret.error();
  acc.secret = std::move(*secret);
  connection_knowledge know;
  know.hints = hints_of(acc.sync_state);
  auto cred = imap_credentials_of(cfg, acc, know);
  if (!cred)
    return cred.error();
  auto session = imap::session::open(
      imap_endpoint_of(acc), imap::make_settings(cfg.imap), &know.hints);
  if (!session)
    return session;
  if (auto err = session->authenticate(*cred))
    return err;
  return session;
}

} // namespace

caf::expected<newsletter_scan> scan_newsletters(const config& cfg,
                                                pqxx::connection& conn,
                                                int64_t account_id) {
  newsletter_scan out;
  auto acc = db::load_active_account(conn, account_id);
  if (!acc && is(acc.error(), ec::not_found))
    return out; // removed or disabled since the job was queued
  if (!acc)
    return acc.error();
  if (acc->kind != provider::imap)
    return out;
  out.scanned = true;
  auto session = log_in(cfg, conn, *acc);
  if (!session)
    return session.error();
  auto inbox = session->examine("INBOX");
  if (!inbox)
    return inbox.error();
  auto cursor = cursor_of(acc->sync_state, inbox->uid_validity);
  auto uids = list_messages(*session, cursor.next_uid);
  if (!uids)
    return uids.error();
  for (size_t i = 0; i < uids->size(); i += fetch_chunk) {
    std::vector<uint32_t> chunk(uids->begin() + static_cast<std::ptrdiff_t>(i),
                                uids->begin()
                                    + static_cast<std::ptrdiff_t>(std::min(
                                        uids->size(), i + fetch_chunk)));
    if (auto err = add_chunk(cfg, conn, *session, *acc, chunk, out))
      return err;
    cursor.next_uid = chunk.back() + 1;
    if (auto err = db::save_sync_key(conn, account_id, "newsletters",
                                     cursor_json(cursor)))
      return err;
  }
  if (uids->size() < static_cast<size_t>(max_newsletters_per_scan)) {
    cursor.next_uid = std::max(cursor.next_uid, inbox->uid_next);
    if (auto err = db::save_sync_key(conn, account_id, "newsletters",
                                     cursor_json(cursor)))
      return err;
  }
  (void)session->logout();
  return out;
}

} // namespace mailpipe
