#pragma once

#include <functional>
#include <memory>
#include <vector>

#include <caf/expected.hpp>

#include "actors/actors.hpp"
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

/// Finds the messages carrying the pending tests of `req.account` with the
/// adapter of its provider: IMAP (`find_test_messages`), Gmail or Microsoft
/// Graph. Blocking; updates `know` (hints, tokens) as it learns.
caf::expected<std::vector<found_message>>
fetch_test_messages(const config& cfg, const pass_request& req,
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
    const config&, const pass_request&, connection_knowledge&)>;

/// Answers one `fetch` with `fetch(cfg, req, *know)` on its own copy of the
/// knowledge (which the supervisor adopts after the answer) and quits. Spawn it
/// detached when `fetch` blocks.
fetcher_actor::behavior_type
fetcher(fetcher_actor::pointer self, config cfg, fetch_fn fetch,
        std::shared_ptr<connection_knowledge> know);

} // namespace mailpipe
