#include "actors/newsletter_scan.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>

#include "actors/fetcher.hpp"
#include "actors/job_handlers.hpp"
#include "adapters/db/account_store.hpp"
#include "adapters/db/json_output.hpp"
#include "adapters/db/pipeline.hpp"
#include "adapters/http/client.hpp"
#include "adapters/mail/newsletter.hpp"
#include "adapters/providers/gmail.hpp"
#include "adapters/providers/graph.hpp"
#include "adapters/sys/crypto.hpp"

namespace mailpipe {

namespace {

// -- what every provider's scan shares ----------------------------------------

// The account's secret (a password or a refresh token), unsealed.
caf::expected<std::string>
unseal_secret(const config& cfg, pqxx::connection& conn, int64_t account_id) {
  auto box = crypto::secret_box::load(cfg.crypto);
  if (!box)
    return box.error();
  return db::load_secret(conn, account_id, *box);
}

// Seals each refresh token the provider rotates the account's grant to at
// once, on the scan's connection (a token cache calls it on this thread), so
// that every later reader of the account starts from it. A failure is logged,
// not the scan's.
keep_token_fn seal_on(const config& cfg, pqxx::connection& conn) {
  return [&cfg, &conn](rotated_token token) {
    auto box = crypto::secret_box::load(cfg.crypto);
    auto kept = box ? db::replace_secret(conn, token.account_id, token.from,
                                         token.to, *box)
                    : caf::expected<bool>{box.error()};
    if (!kept)
      spdlog::warn("account {}: the rotated refresh token was not stored: {}",
                   token.account_id, render(kept.error()));
  };
}

// The scan's cursor, `sync_state.newsletters`, as a JSON element (an error
// when there is none).
simdjson::simdjson_result<simdjson::dom::element>
cursor_of(simdjson::dom::parser& parser, std::string_view sync_state) {
  auto doc = parser.parse(sync_state.data(), sync_state.size());
  if (doc.error())
    return doc.error();
  return doc.value()["newsletters"];
}

// The string member `key` of the cursor, "" when absent.
std::string cursor_text(std::string_view sync_state, const char* key) {
  simdjson::dom::parser parser;
  std::string_view text;
  if (cursor_of(parser, sync_state)[key].get(text))
    return "";
  return std::string{text};
}

caf::error save_cursor(pqxx::connection& conn, int64_t account_id,
                       const std::string& json) {
  return db::save_sync_key(conn, account_id, "newsletters", json);
}

// True for a message the database refuses for what it holds (SQLSTATE class
// 22, a data exception): skipping it loses that message only.
bool refused_for_its_data(const caf::error& err) {
  return is(err, ec::database_error)
         && render(err).find("(SQLSTATE 22") != std::string::npos;
}

// Adds `message` (a whole RFC 5322 message, `what` names it in a log line) as
// a newsletter of `account_id`. A message the database refuses for its data is
// skipped with a warning, so one bad message never stops the account's scans;
// a database that is away ends the scan (the job is retried).
caf::error add_message(const config& cfg, pqxx::connection& conn,
                       int64_t account_id, std::string_view message,
                       std::string_view what, newsletter_scan& out) {
  auto added = add_newsletter_message(conn, cfg, message, account_id);
  if (!added && refused_for_its_data(added.error())) {
    spdlog::warn("account {}: {} skipped as a newsletter: {}", account_id, what,
                 render(added.error()));
    return {};
  }
  if (!added)
    return added.error();
  ++out.read;
  out.added += added->added ? 1 : 0;
  return {};
}

// -- IMAP ---------------------------------------------------------------------

/// Messages fetched in one `UID FETCH` (a command's answer must come within
/// `imap.command_timeout`), the cursor saved after each.
constexpr size_t fetch_chunk = 20;

/// Where a scan of INBOX stopped.
struct uid_cursor {
  uint32_t uid_validity = 0;
  uint32_t next_uid = 1;
};

// The cursor kept in `sync_state`; the start of the mailbox when there is
// none or its UIDVALIDITY changed (the UIDs were renumbered).
uid_cursor uid_cursor_of(std::string_view sync_state, uint32_t uid_validity) {
  simdjson::dom::parser parser;
  auto cursor = cursor_of(parser, sync_state);
  uint64_t validity = 0;
  uint64_t next = 0;
  if (cursor["uid_validity"].get(validity) || cursor["next_uid"].get(next)
      || validity != uid_validity || next == 0)
    return {uid_validity, 1};
  return {uid_validity, static_cast<uint32_t>(next)};
}

std::string uid_cursor_json(const uid_cursor& c) {
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

// Adds the messages `uids` of INBOX as newsletters of `acc`.
caf::error add_chunk(const config& cfg, pqxx::connection& conn,
                     imap::session& session, const claimed_account& acc,
                     const std::vector<uint32_t>& uids, newsletter_scan& out) {
  auto messages = session.fetch_messages(uids);
  if (!messages)
    return messages.error();
  for (auto& m : *messages)
    if (auto err = add_message(cfg, conn, acc.id, m.raw,
                               fmt::format("INBOX message {}", m.uid), out))
      return err;
  return {};
}

caf::expected<imap::session> log_in(const config& cfg, pqxx::connection& conn,
                                    claimed_account& acc) {
  auto secret = unseal_secret(cfg, conn, acc.id);
  if (!secret)
    return secret.error();
  acc.secret = std::move(*secret);
  connection_knowledge know;
  know.hints = hints_of(acc.sync_state);
  prepare_tokens(know, cfg, acc, seal_on(cfg, conn));
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

caf::error scan_imap(const config& cfg, pqxx::connection& conn,
                     claimed_account& acc, newsletter_scan& out) {
  auto session = log_in(cfg, conn, acc);
  if (!session)
    return session.error();
  auto inbox = session->examine("INBOX");
  if (!inbox)
    return inbox.error();
  auto cursor = uid_cursor_of(acc.sync_state, inbox->uid_validity);
  auto uids = list_messages(*session, cursor.next_uid);
  if (!uids)
    return uids.error();
  for (size_t i = 0; i < uids->size(); i += fetch_chunk) {
    std::vector<uint32_t> chunk(uids->begin() + static_cast<std::ptrdiff_t>(i),
                                uids->begin()
                                    + static_cast<std::ptrdiff_t>(std::min(
                                        uids->size(), i + fetch_chunk)));
    if (auto err = add_chunk(cfg, conn, *session, acc, chunk, out))
      return err;
    cursor.next_uid = chunk.back() + 1;
    if (auto err = save_cursor(conn, acc.id, uid_cursor_json(cursor)))
      return err;
  }
  if (uids->size() < static_cast<size_t>(max_newsletters_per_scan)) {
    cursor.next_uid = std::max(cursor.next_uid, inbox->uid_next);
    if (auto err = save_cursor(conn, acc.id, uid_cursor_json(cursor)))
      return err;
  }
  (void)session->logout();
  return {};
}

// -- Gmail and Outlook --------------------------------------------------------

// What a REST scan talks through: the account's token cache (its refresh
// token unsealed) and an API session.
struct rest_channel {
  http::client client;
  oauth2::token_cache tokens;
  api_session session;

  template <class ProviderConfig>
  rest_channel(const ProviderConfig& section, const claimed_account& acc,
               std::string refresh_token)
      : tokens(token_endpoint(section), std::move(refresh_token)),
        session(session_options(section, acc.email), client, tokens, nullptr) {}
};

// A REST call's error: the scan stops. When the provider's rate limit asks
// to wait, that wait is the scan's `retry_in` (the job snoozes, no attempt
// spent); any other error to retry later (a 5xx, a timeout) is the scan's
// error, so the job's attempts count it and a provider that stays down ends
// in a dead job rather than in a job snoozed for ever.
caf::error stop(const caf::error& err, const api_session& session,
                newsletter_scan& out) {
  auto snooze = [&](duration wait) {
    out.retry_in = std::max(wait, duration{1});
    return caf::error{};
  };
  // A Retry-After longer than the session waits for comes back as it is.
  if (auto wait = http::retry_after(err); wait && is(err, ec::rate_limited))
    return snooze(*wait);
  if (!is(err, ec::retry_later))
    return err;
  if (!is(session.cause(), ec::rate_limited))
    return session.cause() ? session.cause() : err;
  return snooze(session.retry_in());
}

// True for a message the scan cannot read whatever it tries (larger than a
// response may be, or a malformed answer): skipped with a warning, so that
// it never holds the account's cursor back.
bool unreadable(const caf::error& err) {
  return is(err, ec::protocol_error) || is(err, ec::parse_error);
}

// Adds a message the provider read whole (`whole`, the answer of that read;
// `what` names it). A message deleted since is passed over, one the provider
// cannot give whole is skipped with a warning, and any other error stops the
// scan.
caf::error add_read_message(const config& cfg, pqxx::connection& conn,
                            int64_t account_id,
                            caf::expected<std::string> whole,
                            std::string_view what, const api_session& session,
                            newsletter_scan& out) {
  if (!whole && is(whole.error(), ec::not_found))
    return {};
  if (!whole && unreadable(whole.error())) {
    spdlog::warn("account {}: {} skipped: {}", account_id, what,
                 render(whole.error()));
    return {};
  }
  if (!whole)
    return stop(whole.error(), session, out);
  return add_message(cfg, conn, account_id, *whole, what, out);
}

bool in_inbox(const std::vector<std::string>& labels) {
  return std::find(labels.begin(), labels.end(), "INBOX") != labels.end();
}

template <class Headers>
bool has_list_header(const Headers& headers) {
  return std::any_of(headers.begin(), headers.end(),
                     [](auto& h) { return is_list_header(h.name); });
}

// The cursor of a Gmail account: the history id its next scan starts after.
std::string history_cursor(std::string_view history_id) {
  return fmt::format("{{\"history_id\":{}}}", db::json_str(history_id));
}

// Starts the cursor of a Gmail account at the mailbox's current history.
caf::error start_history(pqxx::connection& conn, int64_t account_id,
                         gmail::mailbox& box, newsletter_scan& out,
                         const api_session& session) {
  auto id = box.current_history_id();
  if (!id)
    return stop(id.error(), session, out);
  return save_cursor(conn, account_id, history_cursor(*id));
}

// Reads the Gmail message `id` and adds it when it is a newsletter in INBOX:
// its labels and list headers first (format=metadata with those headers
// only), the whole message (format=raw) only then.
caf::error add_gmail_message(const config& cfg, pqxx::connection& conn,
                             int64_t account_id, gmail::mailbox& box,
                             const std::string& id, api_session& session,
                             newsletter_scan& out) {
  auto meta = box.metadata(id, {"List-Unsubscribe", "List-Id"});
  if (!meta && is(meta.error(), ec::not_found))
    return {}; // deleted since
  if (!meta)
    return stop(meta.error(), session, out);
  if (!in_inbox(meta->label_ids) || !has_list_header(meta->headers))
    return {};
  auto msg = box.raw(id);
  auto whole = msg ? caf::expected<std::string>{std::move(msg->raw)}
                   : caf::expected<std::string>{std::move(msg.error())};
  return add_read_message(cfg, conn, account_id, std::move(whole),
                          fmt::format("Gmail message {}", id), session, out);
}

// The later of two history ids (decimal numbers), "" counting as none.
std::string later_history_id(const std::string& a, const std::string& b) {
  if (a.size() != b.size())
    return a.size() > b.size() ? a : b;
  return a > b ? a : b;
}

// Reads the account's history page by page. Once a page's messages are in,
// the cursor moves past the page (to its last record): a scan stopped by a
// rate limit or an error goes on from there, never from the start of a long
// history again. After the last page it moves to the mailbox's history as the
// first page saw it, or past the last record read if that is later (pages
// read minutes apart may not list what came in between). A history Gmail no
// longer has restarts the cursor only when the first page says so; on a
// later page the next scan goes on from the last whole page.
caf::error scan_gmail(const config& cfg, pqxx::connection& conn,
                      const claimed_account& acc, api_session& session,
                      newsletter_scan& out) {
  gmail::mailbox box{gmail::options{}, session};
  auto start = cursor_text(acc.sync_state, "history_id");
  if (start.empty())
    return start_history(conn, acc.id, box, out, session);
  std::string page_token, first_seen;
  do {
    auto page = box.history(start, page_token);
    if (!page)
      return stop(page.error(), session, out);
    if (!*page)
      return page_token.empty() ? start_history(conn, acc.id, box, out, session)
                                : caf::error{};
    if (first_seen.empty())
      first_seen = (*page)->history_id;
    for (auto& id : (*page)->added_ids) {
      if (auto err =
              add_gmail_message(cfg, conn, acc.id, box, id, session, out))
        return err;
      if (out.retry_in > duration{0})
        return {};
    }
    page_token = (*page)->next_page_token;
    auto passed = page_token.empty()
                      ? later_history_id(first_seen, (*page)->last_record_id)
                      : (*page)->last_record_id;
    if (!passed.empty()) {
      if (auto err = save_cursor(conn, acc.id, history_cursor(passed)))
        return err;
    }
  } while (!page_token.empty());
  return {};
}

caf::error scan_outlook(const config& cfg, pqxx::connection& conn,
                        const claimed_account& acc, api_session& session,
                        newsletter_scan& out) {
  graph::mailbox box{graph::options{}, session};
  auto link = cursor_text(acc.sync_state, "delta_link");
  // New messages only: a message read or flagged since is not news.
  auto round = box.delta("inbox", link, "created");
  bool refused = round && round->resync_needed;
  if (refused)
    round = box.delta("inbox", {}, "created");
  if (!round)
    return stop(round.error(), session, out);
  // A round from scratch lists the whole inbox: it only sets the cursor.
  if (!link.empty() && !refused)
    for (auto& m : round->changed) {
      if (!has_list_header(m.headers))
        continue;
      if (auto err = add_read_message(cfg, conn, acc.id, box.mime(m.id),
                                      fmt::format("Outlook message {}", m.id),
                                      session, out))
        return err;
      if (out.retry_in > duration{0})
        return {};
    }
  return save_cursor(
      conn, acc.id,
      fmt::format("{{\"delta_link\":{}}}", db::json_str(round->delta_link)));
}

template <class ProviderConfig, class Scan>
caf::error scan_rest(const config& cfg, const ProviderConfig& section,
                     pqxx::connection& conn, const claimed_account& acc,
                     Scan scan, newsletter_scan& out) {
  auto refresh_token = unseal_secret(cfg, conn, acc.id);
  if (!refresh_token)
    return refresh_token.error();
  rest_channel channel{section, acc, std::move(*refresh_token)};
  report_rotations(channel.tokens, acc.id, seal_on(cfg, conn));
  return scan(cfg, conn, acc, channel.session, out);
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
  out.scanned = true;
  caf::error err;
  switch (acc->kind) {
    case provider::imap: err = scan_imap(cfg, conn, *acc, out); break;
    case provider::gmail:
      err = scan_rest(cfg, cfg.gmail, conn, *acc, scan_gmail, out);
      break;
    case provider::outlook:
      err = scan_rest(cfg, cfg.outlook, conn, *acc, scan_outlook, out);
      break;
  }
  if (err)
    return err;
  return out;
}

} // namespace mailpipe
