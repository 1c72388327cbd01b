// Push notifications: Gmail through a Pub/Sub push subscription, Microsoft
// Graph through change notifications. Each becomes a fetch_emails job whose id
// is its deduplication key, so a notification delivered twice (both services
// deliver at least once) adds one job.

#include <fmt/format.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>

#include "adapters/db/account_store.hpp"
#include "adapters/db/jobs.hpp"
#include "adapters/db/json_output.hpp"
#include "adapters/http/routes.hpp"
#include "adapters/sys/crypto.hpp"

namespace mailpipe::http {

namespace {

// Gmail's notification data: `{"emailAddress": ..., "historyId": ...}`, the
// historyId a number or a string.
struct gmail_change {
  std::string email;
  std::string history_id;
};

caf::expected<gmail_change> parse_gmail_push(const std::string& body) {
  auto bad = [](std::string_view what) {
    return caf::make_error(ec::invalid_argument, std::string{what});
  };
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  std::string_view data;
  if (parser.parse(body).get(doc) || doc["message"]["data"].get(data))
    return bad("message.data: not a Pub/Sub push message");
  auto decoded = crypto::base64_decode(data);
  if (!decoded)
    return bad("message.data: not base64");
  simdjson::dom::parser inner;
  simdjson::dom::element change;
  std::string_view email;
  if (inner.parse(*decoded).get(change) || change["emailAddress"].get(email))
    return bad("message.data: no emailAddress");
  gmail_change out{std::string{email}, {}};
  std::string_view id_text;
  uint64_t id_number = 0;
  if (!change["historyId"].get(id_text) && is_digits(id_text, 20))
    out.history_id = std::string{id_text};
  else if (!change["historyId"].get(id_number))
    out.history_id = std::to_string(id_number);
  else
    return bad("message.data: no historyId (a number)");
  return out;
}

reply accepted(int status) {
  reply r;
  r.status = status;
  return r;
}

} // namespace

reply gmail_push(route_env& env, const httplib::Request& req) {
  auto& configured = env.cfg.http.gmail_push_token;
  if (configured.empty())
    return error_reply(404, "Gmail push is off: set [http] gmail_push_token");
  if (!crypto::same_secret(req.get_param_value("token"), configured))
    return error_reply(403, "wrong or missing push token", "token");
  auto change = parse_gmail_push(req.body);
  if (!change)
    return error_reply(400, render(change.error()), "message.data");
  auto outcome = env.pool.with_connection(
      [&](pqxx::connection& conn) -> caf::expected<std::string> {
        auto account = db::find_active_account(conn, "gmail", change->email);
        if (!account)
          return account.error();
        auto added = db::enqueue_job(
            conn, db::fetch_emails_job(*account, "gmail", "gmail_push",
                                       "history_id", change->history_id));
        if (!added)
          return added.error();
        return added->added ? "added" : "already there";
      });
  if (!outcome && is(outcome.error(), ec::not_found)) {
    // Acknowledged: Pub/Sub would redeliver for days what no account takes.
    spdlog::warn("gmail push for {}: no active Gmail account, ignored",
                 change->email);
    return accepted(204);
  }
  if (!outcome)
    return error_reply(outcome.error());
  spdlog::info("gmail push for {} (historyId {}): fetch job {}", change->email,
               change->history_id, *outcome);
  return accepted(204);
}

reply graph_push(route_env& env, const httplib::Request& req) {
  auto& configured = env.cfg.http.graph_client_state;
  if (configured.empty())
    return error_reply(404, "Graph notifications are off: set [http] "
                            "graph_client_state");
  if (req.has_param("validationToken")) {
    reply r;
    r.body = req.get_param_value("validationToken");
    r.content_type = "text/plain";
    return r;
  }
  int64_t account = 0;
  try {
    account = std::stoll(req.matches[1].str());
  } catch (const std::exception&) {
    return error_reply(404, "no such account", "account");
  }
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  simdjson::dom::array value;
  if (parser.parse(req.body).get(doc) || doc["value"].get(value))
    return error_reply(400, "not a change notification collection", "value");
  std::vector<db::job_spec> jobs;
  size_t refused = 0;
  for (auto n : value) {
    std::string_view state, message;
    if (n["clientState"].get(state)
        || !crypto::same_secret(state, configured)) {
      ++refused;
      continue;
    }
    if (n["resourceData"]["id"].get(message) && n["resource"].get(message))
      continue;
    if (!is_key_text(message))
      continue; // not a message id Graph gives
    jobs.push_back(db::fetch_emails_job(
        account, "outlook", "graph_notification", "message", message));
  }
  if (refused > 0)
    spdlog::warn("graph notifications for account {}: {} with a wrong "
                 "clientState ignored",
                 account, refused);
  if (jobs.empty())
    return accepted(202);
  auto outcome = env.pool.with_connection(
      [&](pqxx::connection& conn) -> caf::expected<size_t> {
        auto info = db::show_account(conn, account);
        if (!info)
          return info.error();
        if (info->provider != "outlook" || !info->active)
          return caf::make_error(
              ec::not_found,
              fmt::format("no active outlook account {}", account));
        auto added = db::enqueue_jobs(conn, jobs);
        if (!added)
          return added.error();
        return added->size();
      });
  if (!outcome && is(outcome.error(), ec::not_found)) {
    spdlog::warn("graph notifications: {}, ignored", render(outcome.error()));
    return accepted(202);
  }
  if (!outcome)
    return error_reply(outcome.error());
  spdlog::info("graph notifications for account {}: {} fetch job(s) added",
               account, *outcome);
  return accepted(202);
}

} // namespace mailpipe::http
