#pragma once

#include <functional>
#include <memory>
#include <vector>

#include <caf/actor_clock.hpp>
#include <caf/expected.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/actors.hpp"
#include "adapters/http/api_session.hpp"
#include "adapters/http/oauth2.hpp"
#include "adapters/imap/client.hpp"
#include "config/config.hpp"

namespace mailpipe {

/// What an account's supervisor knows of its server between passes: the IMAP
/// session hints (a repeated pass is one round trip) and the OAuth2 token
/// cache.
struct connection_knowledge {
  /// Capabilities and junk folder learned by the last IMAP pass.
  imap::session_hints hints;
  /// Access tokens of an OAuth2 account (null until its first pass).
  std::shared_ptr<oauth2::token_cache> tokens;
};

/// Where a token cache hands the refresh tokens its provider rotates to (on
/// the thread that refreshed).
using keep_token_fn = std::function<void(rotated_token)>;

/// Hands each refresh token `cache`'s provider rotates to (`account_id`'s)
/// to `keep`.
void report_rotations(oauth2::token_cache& cache, int64_t account_id,
                      keep_token_fn keep);

/// Makes the token cache of `acc` (an OAuth2 account with its secret open) in
/// `know`, its rotations handed to `keep`, unless the one there still holds
/// the stored secret (made with it, or rotated to it). A cache whose chain
/// the stored secret left (the operator replaced it, or another reader
/// rotated it and stored the new one) is replaced. Other accounts: nothing.
void prepare_tokens(connection_knowledge& know, const config& cfg,
                    const claimed_account& acc, keep_token_fn keep);

/// What the fetch of one pass keeps between its tries: the REST session, whose
/// replayed answers, attempt counts and limiter reservation let a try go on
/// where the last one stopped, and what the last try asked for.
struct fetch_progress {
  std::unique_ptr<http::client> client;
  std::unique_ptr<api_session> session;
  /// After `ec::retry_later`: how long to wait before the next try.
  duration retry_in{0};
  /// After `ec::retry_later`: the failure the wait is for, the pass's answer
  /// when its time runs out first.
  caf::error cause;
};

/// Finds the messages carrying the pending tests of `req.account` with the
/// adapter of its provider: IMAP (`find_test_messages`), Gmail or Microsoft
/// Graph. Blocks on I/O but never sleeps: a REST read that must wait answers
/// `ec::retry_later` with `progress.retry_in` set, and the next call with the
/// same `progress` goes on. Updates `know` (hints, tokens) as it learns.
caf::expected<std::vector<found_message>>
fetch_test_messages(const config& cfg, const pass_request& req,
                    connection_knowledge& know, fetch_progress& progress);

/// The IMAP server of an account.
imap::endpoint imap_endpoint_of(const claimed_account& acc);

/// The login of an IMAP account: its password, or an OAuth2 access token
/// (refreshed through `know.tokens`) for XOAUTH2. Blocks on the token
/// endpoint when the cached token is stale.
caf::expected<imap::credentials>
imap_credentials_of(const config& cfg, const claimed_account& acc,
                    connection_knowledge& know);

/// The IMAP session hints as an account's `sync_state.imap_hints` keeps them
/// (`{"greeting": ..., "capabilities": ..., "junk": ...}`), so that a process
/// started by cron also makes one-round-trip passes; "" when incomplete.
std::string hints_json(const imap::session_hints& hints);

/// The hints kept in `sync_state` (an account's JSON); empty hints when it
/// holds none or they do not parse (the pass then learns them again).
imap::session_hints hints_of(std::string_view sync_state);

/// What to keep after a pass: `hints_json(hints)` when it differs from what
/// `sync_state` holds, else "".
std::string hints_to_keep(std::string_view sync_state,
                          const imap::session_hints& hints);

/// The signature of `fetch_test_messages`.
using fetch_fn = std::function<caf::expected<std::vector<found_message>>(
    const config&, const pass_request&, connection_knowledge&,
    fetch_progress&)>;

/// State of a fetcher: its one pass, and the tries it makes of it.
struct fetcher_state {
  static inline const char* name = "fetcher";
  config cfg;
  fetch_fn fetch;
  /// Its own copy of the supervisor's knowledge (adopted after the answer).
  std::shared_ptr<connection_knowledge> know;
  pass_request req;
  fetch_progress progress;
  /// The pass's time limit ends here; no try is scheduled past it.
  caf::actor_clock::time_point deadline;
  size_t tries = 0;
  bool waiting = false;
  caf::typed_response_promise<std::vector<found_message>> answer;
};

/// Answers one `fetch` with `fetch(cfg, req, *know, progress)`, tried again
/// after each `ec::retry_later` while the pass's time allows (the answer is then
/// the failure behind the wait), and quits. Spawn it detached when `fetch`
/// blocks.
fetcher_actor::behavior_type
fetcher(fetcher_actor::stateful_pointer<fetcher_state> self, config cfg,
        fetch_fn fetch, std::shared_ptr<connection_knowledge> know);

} // namespace mailpipe
