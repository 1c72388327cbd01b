#include "actors/job_handlers.hpp"

#include <caf/scoped_actor.hpp>
#include <fmt/format.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>

#include "actors/actors.hpp"
#include "actors/newsletter_scan.hpp"
#include "adapters/db/json_output.hpp"
#include "adapters/db/newsletters.hpp"
#include "adapters/http/discord.hpp"
#include "adapters/http/meilisearch.hpp"
#include "adapters/http/mistral.hpp"
#include "adapters/http/smtp.hpp"
#include "adapters/http/webhook.hpp"
#include "adapters/mail/newsletter.hpp"
#include "adapters/sys/crypto.hpp"

namespace mailpipe {

namespace {

/// How long index_news waits for MeiliSearch's task (it takes milliseconds
/// for one document; a queue of tasks ahead of it can take longer).
constexpr auto search_task_timeout = std::chrono::seconds{60};

// The positive number `field` of a job's payload; `ec::invalid_argument`
// (dead at once) without one.
caf::expected<int64_t> positive_id_of(const db::claimed_job& job,
                                      const char* field) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  int64_t id = 0;
  if (parser.parse(job.payload_json).get(doc) || doc[field].get(id) || id <= 0)
    return caf::make_error(ec::invalid_argument,
                           fmt::format("{} payload: {} must be a positive "
                                       "number",
                                       job.queue, field));
  return id;
}

// The newsletter a job names; a newsletter that is gone is a job that can
// never succeed.
caf::expected<db::newsletter_row> newsletter_of(pqxx::connection& conn,
                                                const db::claimed_job& job) {
  auto id = positive_id_of(job, "newsletter_id");
  if (!id)
    return id.error();
  auto row = db::find_newsletter(conn, *id);
  if (!row && is(row.error(), ec::not_found))
    return caf::make_error(ec::invalid_argument, render(row.error()));
  return row;
}

// The MeiliSearch document of a newsletter.
std::string search_document(const db::newsletter_row& n) {
  return fmt::format("[{{\"id\":{},\"subject\":{},\"sender\":{},\"sent_at\":{},"
                     "\"body\":{},\"analysis\":{}}}]",
                     n.id, db::json_str(n.subject), db::json_str(n.sender),
                     db::json_str(n.sent_at), db::json_str(n.body_text),
                     n.analysis_json.empty() ? "null" : n.analysis_json);
}

// The MeiliSearch task an index_news job waits for, kept in its payload while
// the attempt that added the document snoozes
// (`"snoozed": {"meilisearch_task", "since", "polls"}`, dropped when the
// attempt fails).
struct search_task {
  int64_t uid = 0;
  /// When the document was added, in Unix milliseconds.
  int64_t since_ms = 0;
  /// Reads of the task so far.
  int64_t polls = 0;
};

int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The task this attempt of the job added, if it did.
std::optional<search_task> search_task_of(const db::claimed_job& job) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  simdjson::dom::object task;
  search_task out;
  if (parser.parse(job.payload_json).get(doc) || doc["snoozed"].get(task)
      || task["meilisearch_task"].get(out.uid)
      || task["since"].get(out.since_ms) || task["polls"].get(out.polls))
    return std::nullopt;
  return out;
}

std::string payload_with(int64_t newsletter_id, const search_task& t) {
  return fmt::format("{{\"newsletter_id\":{},\"snoozed\":{{"
                     "\"meilisearch_task\":{},\"since\":{},\"polls\":{}}}}}",
                     newsletter_id, t.uid, t.since_ms, t.polls);
}

// 50 ms after the document was added, then twice as long each time, at most
// a second.
duration task_poll_wait(int64_t polls) {
  return std::min<duration>(duration{50}
                                * (int64_t{1} << std::min<int64_t>(polls, 5)),
                            std::chrono::seconds{1});
}

// One step of indexing `n` in MeiliSearch: add it (first step of an
// attempt) or read its task, then snooze while the task is pending.
caf::expected<std::string> index_in_meilisearch(const config& cfg,
                                                pqxx::connection& conn,
                                                const db::claimed_job& job,
                                                const db::newsletter_row& n) {
  http::client client;
  auto task = search_task_of(job);
  if (!task) {
    auto uid = meilisearch::add_documents(
        client, cfg.search, meilisearch::newsletters_index, search_document(n));
    if (!uid)
      return uid.error();
    task = search_task{*uid, unix_ms_now(), 0};
  } else {
    auto status = meilisearch::read_task(client, cfg.search, task->uid);
    if (!status)
      return status.error();
    if (status->state == meilisearch::task_state::failed)
      return caf::make_error(ec::service_unavailable,
                             fmt::format("MeiliSearch task {} failed: {}",
                                         task->uid, status->error));
    if (status->state == meilisearch::task_state::succeeded) {
      if (auto err = db::mark_newsletter_indexed(conn, n.id))
        return err;
      return fmt::format("{{\"engine\":\"meilisearch\",\"task\":{}}}",
                         task->uid);
    }
    ++task->polls;
  }
  auto waited = duration{unix_ms_now() - task->since_ms};
  if (waited + task_poll_wait(task->polls) > search_task_timeout)
    return caf::make_error(ec::timeout,
                           fmt::format("MeiliSearch task {} still pending "
                                       "after {}",
                                       task->uid, format_duration(waited)));
  return snooze(task_poll_wait(task->polls), payload_with(n.id, *task));
}

// The `channel` of a notification payload ("" when it has none).
std::string channel_of(std::string_view payload_json) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  std::string_view channel;
  if (parser.parse(payload_json.data(), payload_json.size()).get(doc)
      || doc["channel"].get(channel))
    return {};
  return std::string{channel};
}

// A webhook, signed with `notifications.webhook_secret`.
caf::expected<std::string> send_webhook(const config& cfg,
                                        const db::claimed_job& job) {
  auto d = webhook::parse_payload(job.payload_json);
  if (!d)
    return d.error();
  if (cfg.notifications.webhook_secret.empty())
    return caf::make_error(ec::invalid_argument,
                           "notifications.webhook_secret is not set: webhooks "
                           "are never sent unsigned");
  http::client client;
  if (auto err = webhook::deliver(
          client, job.id, *d, cfg.notifications.webhook_secret,
          cfg.notifications.timeout, std::chrono::system_clock::now()))
    return err;
  return std::string{};
}

// A message to the Discord webhook of `alerts.discord_webhook_url` (a secret:
// never in a job's payload). A 429 snoozes the job for the wait Discord names
// (no attempt spent); a 5xx or no answer is retried; a refusal for good (a 4xx:
// a deleted webhook) makes the job dead at once.
caf::expected<std::string> send_discord(const config& cfg,
                                        const db::claimed_job& job) {
  clock_fn now = [] { return std::chrono::system_clock::now(); };
  auto msg = discord::parse_job_payload(job.payload_json, now());
  if (!msg)
    return msg.error();
  auto& url = cfg.alerts.discord_webhook_url;
  if (url.empty())
    return caf::make_error(ec::invalid_argument,
                           "alerts.discord_webhook_url is not set: there is "
                           "no Discord webhook to send to");
  msg->footer = cfg.node.name;
  http::client client;
  auto sent = discord::post(client, url, *msg, now, cfg.notifications.timeout);
  switch (sent.status) {
    case discord::delivery_status::delivered:
      return fmt::format("{{\"http_status\":{}}}", sent.http_status);
    case discord::delivery_status::retry:
      if (sent.http_status == 429 && sent.wait > duration{0}) {
        spdlog::warn("job {}: Discord asks to wait {} (429): snoozed", job.id,
                     format_duration(sent.wait));
        return snooze(sent.wait, job.payload_json);
      }
      return caf::make_error(ec::service_unavailable,
                             "Discord: " + sent.reason);
    case discord::delivery_status::failed: break;
  }
  return caf::make_error(ec::invalid_argument,
                         "Discord refused the message: " + sent.reason);
}

// An email through `smtp.url`; the job's id is the message's id, so a
// receiver can tell a re-sent copy.
caf::expected<std::string> send_email(const config& cfg,
                                      const db::claimed_job& job) {
  auto mail = smtp::parse_job_payload(job.payload_json);
  if (!mail)
    return mail.error();
  if (auto err =
          smtp::send(cfg.smtp, *mail, std::chrono::system_clock::now(), job.id))
    return err;
  return fmt::format("{{\"recipients\":{}}}", mail->to.size());
}

} // namespace

caf::error snooze(duration after, std::string payload_json) {
  return caf::make_error(ec::retry_later, static_cast<int64_t>(after.count()),
                         std::move(payload_json));
}

std::optional<job_snooze> snooze_of(const caf::error& err) {
  if (!is(err, ec::retry_later)
      || !err.context().match_elements<int64_t, std::string>())
    return std::nullopt;
  return job_snooze{duration{err.context().get_as<int64_t>(0)},
                    err.context().get_as<std::string>(1)};
}

db::job_spec admin_email_job(const config& cfg, const db::claimed_job& dead,
                             std::string_view error) {
  db::job_spec spec;
  spec.queue = "send_notifications";
  // One email per death: a redriven job that dies again at the same attempt
  // gets its own.
  spec.id = fmt::format("admin-email:{}:{}", dead.id, unix_ms_now());
  std::string to = "[";
  for (auto& a : smtp::admin_recipients(cfg.smtp))
    to += (to.size() > 1 ? "," : "") + db::json_str(a);
  spec.payload_json = fmt::format(
      "{{\"channel\":\"email\",\"to\":{}],\"subject\":{},\"text\":{}}}", to,
      db::json_str(fmt::format("[mailpipe] job {} is dead", dead.id)),
      db::json_str(fmt::format(
          "Job {} of queue {} is dead after attempt {} of {} on node {}.\n\n"
          "Last error: {}\n\nRedrive it with: mailpipe jobs redrive {}\n",
          dead.id, dead.queue, dead.attempt, dead.max_attempts, cfg.node.name,
          error, dead.id)));
  spec.max_attempts = static_cast<int32_t>(cfg.jobs.max_attempts);
  return spec;
}

bool is_email_job(const db::claimed_job& job) {
  return job.queue == "send_notifications"
         && channel_of(job.payload_json) == "email";
}

caf::expected<db::newsletter_added>
add_newsletter_message(pqxx::connection& conn, const config& cfg,
                       std::string_view message,
                       std::optional<int64_t> account) {
  auto text = read_newsletter(message, cfg.analysis.max_header_bytes);
  db::newsletter_spec spec{text.message_id.empty()
                               ? "sha256:" + crypto::sha256_hex(message)
                               : text.message_id,
                           account,
                           text.sender,
                           text.subject,
                           text.date,
                           text.body};
  auto added = db::add_newsletter(conn, spec);
  if (!added || added->status != "new")
    return added;
  auto job = db::enqueue_job(
      conn, newsletter_job("process_mails", added->id,
                           static_cast<int32_t>(cfg.jobs.max_attempts)));
  if (!job)
    return job.error();
  return added;
}

db::job_spec newsletter_job(std::string_view queue, int64_t newsletter_id,
                            int32_t max_attempts) {
  db::job_spec spec;
  spec.queue = std::string{queue};
  spec.id = fmt::format("{}:{}", queue, newsletter_id);
  spec.payload_json = fmt::format("{{\"newsletter_id\":{}}}", newsletter_id);
  spec.max_attempts = max_attempts;
  return spec;
}

caf::expected<std::string> send_notification(const config& cfg,
                                             pqxx::connection&,
                                             const db::claimed_job& job) {
  auto channel = channel_of(job.payload_json);
  if (channel == "webhook")
    return send_webhook(cfg, job);
  if (channel == "discord")
    return send_discord(cfg, job);
  if (channel == "email")
    return send_email(cfg, job);
  return caf::make_error(ec::invalid_argument,
                         "notification payload: channel must be \"webhook\", "
                         "\"discord\" or \"email\"");
}

caf::expected<std::string> process_mail(const config& cfg,
                                        pqxx::connection& conn,
                                        const db::claimed_job& job) {
  auto n = newsletter_of(conn, job);
  if (!n)
    return n.error();
  http::client client;
  auto analysis = mistral::analyse(client, cfg.mistral, n->subject, n->sender,
                                   n->body_text);
  if (!analysis)
    return analysis.error();
  auto json = mistral::to_json(*analysis);
  if (auto err = db::record_newsletter_analysis(conn, n->id, json))
    return err;
  auto next = db::enqueue_job(
      conn, newsletter_job("index_news", n->id,
                           static_cast<int32_t>(cfg.jobs.max_attempts)));
  if (!next)
    return next.error();
  return json;
}

caf::expected<std::string> index_news(const config& cfg, pqxx::connection& conn,
                                      const db::claimed_job& job) {
  auto n = newsletter_of(conn, job);
  if (!n)
    return n.error();
  if (cfg.search.meilisearch_url.empty()) {
    if (auto err = db::index_newsletter_in_postgres(conn, n->id))
      return err;
    return std::string{"{\"engine\":\"postgresql\"}"};
  }
  return index_in_meilisearch(cfg, conn, job, *n);
}

caf::expected<std::string> fetch_emails(caf::actor_system& sys,
                                        const config& cfg,
                                        pqxx::connection& conn,
                                        const db::claimed_job& job) {
  auto account = positive_id_of(job, "account_id");
  if (!account)
    return account.error();
  auto scheduler = sys.registry().get<scheduler_actor>(scheduler_registry_key);
  if (!scheduler)
    return caf::make_error(ec::service_unavailable,
                           "the node's pipeline is not running");
  run_request req;
  req.parallel = 1;
  req.account_timeout = cfg.processing.account_timeout;
  req.accounts = {*account};
  caf::expected<run_report> report = caf::make_error(ec::timeout);
  caf::scoped_actor self{sys};
  self->request(scheduler,
                cfg.processing.account_timeout + std::chrono::minutes{1},
                atom::run_v, std::move(req))
      .receive([&](const run_report& r) { report = r; },
               [&](const caf::error& err) { report = err; });
  if (!report)
    return report.error();
  auto& r = *report;
  // A pass that failed recorded why, and an account skipped (inside its retry
  // time, or passed by another run) is not read now either: its retry time
  // or the other run decides when it is.
  auto scan = r.failed > 0 || r.skipped > 0
                  ? newsletter_scan{}
                  : scan_newsletters(cfg, conn, *account);
  if (!scan)
    return scan.error();
  // Gmail or Graph asked the scan to wait: the job comes back after the wait
  // (its pass then runs again, which records nothing twice).
  if (scan->retry_in > duration{0})
    return snooze(scan->retry_in, job.payload_json);
  return fmt::format("{{\"run_id\":{},\"done\":{},\"failed\":{},"
                     "\"skipped\":{},\"emails_found\":{},\"recorded\":{},"
                     "\"newsletters\":{}}}",
                     db::json_str(r.run_id), r.done, r.failed, r.skipped,
                     r.emails_found, r.recorded,
                     scan->scanned ? std::to_string(scan->added) : "null");
}

job_handlers standard_job_handlers(const config& cfg, caf::actor_system& sys) {
  job_handlers out{
      {"send_notifications", send_notification},
      {"index_news", index_news},
      {"fetch_emails", [&sys](const config& c, pqxx::connection& conn,
                              const db::claimed_job& job) {
         return fetch_emails(sys, c, conn, job);
       }}};
  if (!cfg.mistral.api_key.empty())
    out.emplace("process_mails", process_mail);
  return out;
}

} // namespace mailpipe
