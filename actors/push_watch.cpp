#include "actors/push_watch.hpp"

#include <sys/socket.h>

#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "actors/last_error.hpp"
#include "adapters/db/account_store.hpp"
#include "adapters/db/connection.hpp"
#include "adapters/db/jobs.hpp"
#include "adapters/db/pipeline.hpp"

namespace mailpipe {

// -- the interrupt ------------------------------------------------------------

void idle_interrupt::attach(int fd) {
  std::lock_guard<std::mutex> guard{mx_};
  fd_ = fd;
  if (fired_ && fd_ >= 0)
    ::shutdown(fd_, SHUT_RDWR);
}

void idle_interrupt::fire() {
  std::lock_guard<std::mutex> guard{mx_};
  fired_ = true;
  if (fd_ >= 0)
    ::shutdown(fd_, SHUT_RDWR);
}

bool idle_interrupt::fired() const {
  std::lock_guard<std::mutex> guard{mx_};
  return fired_;
}

idle_watcher_state::~idle_watcher_state() {
  if (interrupt)
    interrupt->attach(-1);
}

namespace {

// -- the watcher of one account -----------------------------------------------

using watcher_ptr = idle_watcher_actor::stateful_pointer<idle_watcher_state>;

// Connects, logs in and finds the junk folder (from the hints the account's
// passes keep, else from LIST).
caf::error connect(watcher_ptr self) {
  auto& st = self->state;
  prepare_tokens(st.know, st.cfg, st.account,
                 [parent = st.parent](rotated_token token) {
                   caf::anon_send(parent, atom::store_v, std::move(token));
                 });
  auto cred = imap_credentials_of(st.cfg, st.account, st.know);
  if (!cred) {
    // A refused refresh token may be one another reader rotated away: the
    // watcher ends, and the next rescan starts one with the stored secret.
    if (is(cred.error(), ec::auth_failed))
      self->quit(cred.error());
    return cred.error();
  }
  auto opened =
      imap::session::open(imap_endpoint_of(st.account),
                          imap::make_settings(st.cfg.imap), &st.know.hints);
  if (!opened)
    return opened.error();
  // Kept in the state at once, so that a failed login closes its socket only
  // after `disconnect` detached it from the interrupt (never a number the
  // system may give to another connection meanwhile).
  st.session.emplace(std::move(*opened));
  st.interrupt->attach(st.session->native_handle());
  if (auto err = st.session->authenticate(*cred))
    return err;
  st.junk_folder = st.know.hints.junk_folder;
  if (st.junk_folder.empty()) {
    auto boxes = st.session->list();
    if (!boxes)
      return boxes.error();
    if (auto junk = imap::find_junk(*boxes))
      st.junk_folder = junk->name;
  }
  return {};
}

// Drops the session (its socket detached from the interrupt first).
void disconnect(watcher_ptr self) {
  auto& st = self->state;
  st.interrupt->attach(-1);
  st.session.reset();
}

// Reads `mailbox`'s status and says whether its UIDNEXT moved since `last`
// (or was not known yet), keeping the new one in `last`.
caf::expected<bool> moved(imap::session& session, const std::string& mailbox,
                          std::optional<uint32_t>& last,
                          uint32_t* exists = nullptr) {
  auto status = session.examine(mailbox);
  if (!status)
    return status.error();
  bool out = !last || *last != status->uid_next;
  last = status->uid_next;
  if (exists)
    *exists = status->exists;
  return out;
}

void log_first_round(watcher_ptr self) {
  auto& st = self->state;
  if (st.idling)
    return;
  spdlog::info("push watch: account {}: idle on INBOX, {} looked at every {}",
               st.account.id,
               st.junk_folder.empty() ? "no junk folder" : st.junk_folder,
               format_duration(st.cfg.imap.idle_interval));
  st.idling = true;
}

// One round: the junk folder and INBOX looked at (a report when either
// moved), then IDLE on INBOX until new mail or `imap.idle_interval`. INBOX is
// examined last so that IDLE watches it.
caf::error watch_round(watcher_ptr self) {
  auto& st = self->state;
  if (!st.session)
    if (auto err = connect(self))
      return err;
  bool news = false;
  if (!st.junk_folder.empty()) {
    auto junk = moved(*st.session, st.junk_folder, st.junk_next);
    if (!junk)
      return junk.error();
    news = *junk;
  }
  uint32_t exists = 0;
  auto inbox = moved(*st.session, "INBOX", st.inbox_next, &exists);
  if (inbox && *inbox)
    news = true;
  if (news) {
    ++st.reports;
    self->send(st.parent, atom::fetch_v, st.account.id);
  }
  // The junk folder's new UIDNEXT is kept: its news went out even when INBOX
  // could not be examined.
  if (!inbox)
    return inbox.error();
  log_first_round(self);
  // New mail ends the IDLE early; the next round's look reports it.
  auto idle = st.session->idle(st.cfg.imap.idle_interval, exists);
  return idle ? caf::error{} : idle.error();
}

// After `failures` failed rounds in a row: 1 s, doubling, at most a minute.
duration reconnect_wait(int64_t failures) {
  return std::min<duration>(
      std::chrono::seconds{1}
          * (int64_t{1} << std::min<int64_t>(failures - 1, 6)),
      std::chrono::minutes{1});
}

// A failed round: the session dropped, the next round (a new connection) after
// a wait that grows while the server keeps failing. The folders' UIDNEXT are
// kept, so mail that came meanwhile is reported by the first round back. An
// interrupted watcher (its node stops) quits instead.
void after_failure(watcher_ptr self, const caf::error& err) {
  auto& st = self->state;
  disconnect(self);
  if (st.interrupt->fired())
    return self->quit(caf::exit_reason::user_shutdown);
  ++st.failures;
  auto wait = reconnect_wait(st.failures);
  if (keep_last_error(st.last_error, err))
    spdlog::warn("push watch: account {}: {} (connecting again in {})",
                 st.account.id, st.last_error, format_duration(wait));
  self->delayed_send(self, wait, atom::run_v);
}

void after_success(watcher_ptr self) {
  auto& st = self->state;
  if (st.failures > 0)
    spdlog::info("push watch: account {}: connected again", st.account.id);
  st.failures = 0;
  st.last_error.clear();
  self->send(self, atom::run_v);
}

// -- the push watch of a node -------------------------------------------------

using watch_ptr = push_watch_actor::stateful_pointer<push_watch_state>;

void note_error(watch_ptr self, const caf::error& err) {
  auto& st = self->state;
  if (keep_last_error(st.last_error, err))
    spdlog::error("push watch: {}", st.last_error);
}

// The watcher of `acc`, monitored; nullopt when its secret cannot be opened.
std::optional<watched_account> start_watcher(watch_ptr self,
                                             claimed_account acc) {
  auto& st = self->state;
  if (!st.conn)
    return std::nullopt; // lost during this rescan: the next one starts it
  auto secret = db::load_secret(*st.conn, acc.id, *st.box);
  if (!secret) {
    spdlog::warn("push watch: account {}: {}", acc.id, render(secret.error()));
    return std::nullopt;
  }
  acc.secret = std::move(*secret);
  spdlog::info("push watch: watching account {} ({}) with IDLE", acc.id,
               acc.email);
  auto interrupt = std::make_shared<idle_interrupt>();
  auto watcher = self->spawn<caf::detached>(
      idle_watcher, st.cfg, std::move(acc), push_watch_actor{self}, interrupt);
  self->monitor(watcher);
  return watched_account{watcher, interrupt};
}

void stop_watcher(watch_ptr self, const watched_account& w) {
  w.interrupt->fire();
  self->send_exit(w.handle, caf::exit_reason::user_shutdown);
}

// A report of new mail: the account's fetch_emails job, keyed by the time.
// False when the database did not take it.
bool add_fetch_job(watch_ptr self, int64_t account) {
  auto& st = self->state;
  if (!st.conn)
    return false;
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  auto job = db::fetch_emails_job(account, "imap", "imap_idle", "seen_at",
                                  std::to_string(now.count()));
  auto added = db::enqueue_job(*st.conn, job);
  if (!added) {
    st.conn.reset();
    note_error(self, added.error());
    return false;
  }
  ++st.jobs_added;
  spdlog::info("push watch: new mail in account {}: job {}", account, job.id);
  return true;
}

// Seals a refresh token a watcher's provider rotated to, so that the
// account's passes start from it; one the database did not take is kept and
// sealed at the next rescan that reaches it (the watcher goes on with the
// token it holds meanwhile).
bool keep_rotated_token(watch_ptr self, const rotated_token& token) {
  auto& st = self->state;
  if (!st.box)
    return true; // nothing can be sealed without the key
  if (!st.conn)
    return false;
  auto kept = db::replace_secret(*st.conn, token.account_id, token.from,
                                 token.to, *st.box);
  if (!kept) {
    st.conn.reset();
    note_error(self, kept.error());
    return false;
  }
  return true;
}

// Seals the rotated tokens not sealed yet.
void keep_unsealed_tokens(watch_ptr self) {
  auto& unsealed = self->state.unsealed;
  for (auto i = unsealed.begin(); i != unsealed.end();)
    i = keep_rotated_token(self, i->second) ? unsealed.erase(i) : std::next(i);
}

// Queues the reports not queued yet (the database was away when they came).
void add_unqueued_jobs(watch_ptr self) {
  auto& unqueued = self->state.unqueued;
  for (auto i = unqueued.begin(); i != unqueued.end();)
    i = add_fetch_job(self, *i) ? unqueued.erase(i) : std::next(i);
}

// Renews the watches and takes new ones; starts a watcher for each account
// newly held (or whose watcher ended), stops those no longer held.
void rescan(watch_ptr self) {
  auto& st = self->state;
  if (!st.conn) {
    auto conn = db::connect(st.cfg.database);
    if (!conn)
      return note_error(self, conn.error());
    st.conn = std::move(*conn);
  }
  auto held =
      db::claim_push_accounts(*st.conn, st.owner, push_lease, max_push_watches);
  if (!held) {
    st.conn.reset();
    return note_error(self, held.error());
  }
  st.last_error.clear();
  add_unqueued_jobs(self);
  keep_unsealed_tokens(self);
  watcher_map next;
  for (auto& acc : *held) {
    auto i = st.watchers->find(acc.id);
    if (i != st.watchers->end()) {
      next.insert(st.watchers->extract(i));
      continue;
    }
    auto id = acc.id;
    if (auto watcher = start_watcher(self, std::move(acc)))
      next.emplace(id, *watcher);
  }
  for (auto& [id, w] : *st.watchers) {
    spdlog::info("push watch: account {} is no longer watched", id);
    stop_watcher(self, w);
  }
  *st.watchers = std::move(next);
}

// Once stopping and every watcher is down: the watches given back, the end.
void finish_if_stopped(watch_ptr self) {
  auto& st = self->state;
  if (!st.stopping || !st.watchers->empty())
    return;
  if (st.conn)
    if (auto released = db::release_push_accounts(*st.conn, st.owner);
        !released)
      note_error(self, released.error());
  self->quit(st.stop_reason);
}

// A watcher that ended: forgotten (the next rescan starts it again unless the
// watch stops).
void on_watcher_down(watch_ptr self, const caf::down_msg& msg) {
  auto& watchers = *self->state.watchers;
  for (auto i = watchers.begin(); i != watchers.end(); ++i) {
    if (i->second.handle.address() != msg.source)
      continue;
    if (msg.reason && msg.reason != caf::exit_reason::user_shutdown)
      spdlog::warn("push watch: account {}: the watcher ended: {}", i->first,
                   render(msg.reason));
    watchers.erase(i);
    break;
  }
  finish_if_stopped(self);
}

// The exit message: every watcher interrupted and told to stop; the watch
// ends when they are down.
void start_stopping(watch_ptr self, const caf::exit_msg& msg) {
  auto& st = self->state;
  if (msg.reason == caf::exit_reason::kill)
    return self->quit(msg.reason);
  st.stopping = true;
  st.stop_reason = msg.reason;
  for (auto& [id, w] : *st.watchers)
    stop_watcher(self, w);
  finish_if_stopped(self);
}

status_dict watch_status(const push_watch_state& st) {
  status_dict d;
  d["name"] = std::string{push_watch_state::name};
  d["accounts"] = static_cast<int64_t>(st.watchers->size());
  d["reports"] = st.reports;
  d["jobs_added"] = st.jobs_added;
  d["unqueued"] = static_cast<int64_t>(st.unqueued.size());
  d["last_error"] = st.last_error;
  return d;
}

} // namespace

idle_watcher_actor::behavior_type
idle_watcher(watcher_ptr self, config cfg, claimed_account account,
             push_watch_actor parent,
             std::shared_ptr<idle_interrupt> interrupt) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.account = std::move(account);
  st.parent = std::move(parent);
  st.interrupt = std::move(interrupt);
  st.know.hints = hints_of(st.account.sync_state);
  self->send(self, atom::run_v);
  return {
      [self](atom::run) {
        if (auto err = watch_round(self))
          return after_failure(self, err);
        after_success(self);
      },
      [self](atom::status) {
        auto& st = self->state;
        status_dict d;
        d["name"] = std::string{idle_watcher_state::name};
        d["account"] = st.account.id;
        d["connected"] = st.session.has_value();
        d["reports"] = st.reports;
        d["failures"] = st.failures;
        d["last_error"] = st.last_error;
        return d;
      },
  };
}

push_watch_actor::behavior_type push_watch(watch_ptr self, config cfg) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.owner = st.cfg.node.name + "/push";
  if (auto box = crypto::secret_box::load(st.cfg.crypto))
    st.box = std::move(*box);
  else
    spdlog::warn("push watch: {}; no account is watched", render(box.error()));
  // However the watch ends (a kill too), no watcher stays in its IDLE.
  self->attach_functor([watchers = st.watchers] {
    for (auto& [id, w] : *watchers)
      w.interrupt->fire();
  });
  self->set_down_handler(
      [self](const caf::down_msg& msg) { on_watcher_down(self, msg); });
  self->set_exit_handler(
      [self](const caf::exit_msg& msg) { start_stopping(self, msg); });
  if (st.box)
    self->send(self, atom::tick_v);
  return {
      [self](atom::tick) {
        if (self->state.stopping)
          return;
        rescan(self);
        self->delayed_send(self, push_lease / 3, atom::tick_v);
      },
      [self](atom::fetch, int64_t account) {
        ++self->state.reports;
        if (!add_fetch_job(self, account))
          self->state.unqueued.insert(account);
      },
      [self](atom::store, rotated_token& token) {
        if (!keep_rotated_token(self, token))
          self->state.unsealed[token.account_id] = std::move(token);
      },
      [self](atom::status) { return watch_status(self->state); },
  };
}

} // namespace mailpipe
