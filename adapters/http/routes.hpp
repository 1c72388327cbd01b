#pragma once

// The handlers of the node's HTTP endpoint (docs/http.md), one function per
// route, on cpp-httplib's request type; `endpoint.cpp` routes to them, checks
// the API's bearer token and turns what they throw into a 500.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <httplib.h>

#include "adapters/db/pool.hpp"
#include "config/config.hpp"

namespace mailpipe::http {

/// What a handler answers.
struct reply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

/// A JSON reply.
reply json_reply(int status, std::string body);

/// `{"error": message, "field": field}` (no `field` when it is empty).
reply error_reply(int status, std::string_view message,
                  std::string_view field = {});

/// A project error as a reply: 503 for a database that cannot be reached, 404
/// for not found, 409 for already exists, 400 for invalid input, else 500.
reply error_reply(const caf::error& err);

/// True for a key a request gives (a test's token, a job's id, a provider's
/// message id): 1 to 512 bytes, none of them a control character, so that
/// PostgreSQL stores it (no NUL) and an index takes it.
bool is_key_text(std::string_view s);

/// True for a non-empty run of ASCII digits of at most `max_digits`.
bool is_digits(std::string_view s, size_t max_digits);

/// What every handler may use.
struct route_env {
  const config& cfg;
  db::connection_pool& pool;
};

// -- push notifications (push.cpp) --------------------------------------------

/// POST /push/gmail?token=T: a Gmail Pub/Sub push message, whose data names
/// the mailbox and its new historyId, becomes a fetch_emails job (one per
/// mailbox and historyId).
reply gmail_push(route_env& env, const httplib::Request& req);

/// POST /push/graph/{account id}: Microsoft Graph's validation handshake
/// (`validationToken` echoed), or change notifications whose `clientState`
/// matches, each a fetch_emails job (one per account and message).
reply graph_push(route_env& env, const httplib::Request& req);

// -- the REST API under /api/v1 (api.cpp) -------------------------------------

/// GET /api/v1/accounts: every account with its state.
reply api_list_accounts(route_env& env, const httplib::Request& req);

/// POST /api/v1/tests: `{"token", "name"?, "accounts"?: [id], "expires_in"?}`.
reply api_create_test(route_env& env, const httplib::Request& req);

/// GET /api/v1/tests/{token}: the report, as `mailpipe test show --json`.
reply api_show_test(route_env& env, const httplib::Request& req);

/// POST /api/v1/jobs: `{"queue", "id", "payload"?, "priority"?, "delay"?}`.
reply api_enqueue_job(route_env& env, const httplib::Request& req);

/// GET /api/v1/jobs/dead: the dead-letter queue (`?queue=Q` for one queue).
reply api_dead_jobs(route_env& env, const httplib::Request& req);

/// POST /api/v1/jobs/{id}/redrive: queues a dead job again.
reply api_redrive_job(route_env& env, const httplib::Request& req);

} // namespace mailpipe::http
