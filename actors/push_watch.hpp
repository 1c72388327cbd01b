#pragma once

// IMAP push: the accounts with `push` on are watched through an IDLE
// connection each, by one node of the cluster at a time (a lease, a row of
// `push_watches`), and new mail in INBOX or the
// junk folder becomes a fetch_emails job at once (docs/pipeline.md, "IMAP
// push").

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include <pqxx/connection>

#include "actors/actors.hpp"
#include "actors/fetcher.hpp"
#include "adapters/imap/client.hpp"
#include "adapters/sys/crypto.hpp"
#include "config/config.hpp"

namespace mailpipe {

/// How long a node's watch of an account lasts unless renewed; it is renewed
/// (and new push accounts taken) every third of it.
constexpr auto push_lease = std::chrono::seconds{60};

/// At most this many accounts watched by one node (a thread and a connection
/// each); the others wait for another node.
constexpr int64_t max_push_watches = 1000;

/// Lets another thread end a watcher's blocking IDLE at once (the node
/// stops): the socket is shut down now, and every later one as it opens.
class idle_interrupt {
public:
  /// The watcher's socket from now on; -1 before the watcher closes it.
  void attach(int fd);
  /// Shuts the socket down, now and at every later `attach`.
  void fire();
  /// True once fired.
  bool fired() const;

private:
  mutable std::mutex mx_;
  int fd_ = -1;
  bool fired_ = false;
};

/// State of the watcher of one account.
struct idle_watcher_state {
  static inline const char* name = "idle_watcher";
  config cfg;
  claimed_account account;
  push_watch_actor parent;
  std::shared_ptr<idle_interrupt> interrupt;
  connection_knowledge know;
  std::optional<imap::session> session;
  std::string junk_folder;
  /// UIDNEXT of INBOX and the junk folder when last looked at (nullopt: not
  /// yet).
  std::optional<uint32_t> inbox_next;
  std::optional<uint32_t> junk_next;
  /// True after the first round (logged once).
  bool idling = false;
  int64_t reports = 0;
  /// Failed rounds in a row, and the last one's error.
  int64_t failures = 0;
  std::string last_error;

  /// The socket is detached from the interrupt before the session closes it.
  ~idle_watcher_state();
};

/// Holds one IDLE connection to `account`'s server (detached: it blocks on the
/// socket). Each round looks at UIDNEXT of the junk folder and INBOX and tells
/// `parent` when either moved since the last round (the first round too: mail
/// may have come while no node watched), then IDLEs on INBOX for at most
/// `imap.idle_interval` (new mail ends the IDLE at once). When the server fails
/// (a dropped connection, a refused login) it connects again after 1 s,
/// doubling to a minute, and reports what came meanwhile. `interrupt` ends
/// its IDLE when the node stops; it then quits.
idle_watcher_actor::behavior_type
idle_watcher(idle_watcher_actor::stateful_pointer<idle_watcher_state> self,
             config cfg, claimed_account account, push_watch_actor parent,
             std::shared_ptr<idle_interrupt> interrupt);

/// A watched account's watcher.
struct watched_account {
  idle_watcher_actor handle;
  std::shared_ptr<idle_interrupt> interrupt;
};

/// The watchers of a push watch, by account id.
using watcher_map = std::map<int64_t, watched_account>;

/// State of a node's push watch.
struct push_watch_state {
  static inline const char* name = "push_watch";
  config cfg;
  std::optional<crypto::secret_box> box;
  /// The watch lease holder: `<node name>/push`.
  std::string owner;
  std::unique_ptr<pqxx::connection> conn;
  /// Shared with the functor that interrupts them however the watch ends.
  std::shared_ptr<watcher_map> watchers = std::make_shared<watcher_map>();
  int64_t reports = 0;
  int64_t jobs_added = 0;
  /// Accounts whose report came while the database was away: queued at the
  /// next rescan that reaches it.
  std::set<int64_t> unqueued;
  /// Refresh tokens the watchers' providers rotated to while the database was
  /// away, by account: sealed at the next rescan that reaches it.
  std::map<int64_t, rotated_token> unsealed;
  std::string last_error;
  /// Set by the exit message: the watch ends once its watchers are down.
  bool stopping = false;
  caf::error stop_reason;
};

/// Takes (and keeps, every third of `push_lease`) the watch of the push
/// accounts no live node watches, runs an `idle_watcher` for each, stops those
/// whose push went off, and turns a watcher's report into a fetch_emails job
/// (`fetch_emails:imap:<account>:<unix ms>`; a report that comes while the
/// database is away is queued when it is back). Detached: it blocks on
/// PostgreSQL. When told to exit it interrupts its watchers' IDLE, waits for
/// them, gives its watches back, then quits (killed, it interrupts them and
/// its leases run out).
push_watch_actor::behavior_type
push_watch(push_watch_actor::stateful_pointer<push_watch_state> self,
           config cfg);

} // namespace mailpipe
