#pragma once

// The handlers of the durable queues (docs/jobs.md), run by the job workers:
// plain functions of the config, the worker's connection and the job.

#include <functional>
#include <map>
#include <optional>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>
#include <pqxx/connection>

#include "adapters/db/jobs.hpp"
#include "adapters/db/newsletters.hpp"
#include "config/config.hpp"

namespace mailpipe {

/// Runs one job: its result as JSON ("" for none), or why it failed. An
/// `ec::invalid_argument` error means the job can never succeed (a payload
/// that fails validation): it is dead at once; any other error is retried.
using job_handler = std::function<caf::expected<std::string>(
    const config&, pqxx::connection&, const db::claimed_job&)>;

/// What a handler asks of a job that cannot finish yet because it waits for
/// something (River's snooze): run it again after `after`, with
/// `payload_json` (what it did so far) as its payload, no attempt spent.
struct job_snooze {
  duration after{0};
  std::string payload_json;
};

/// The error a handler returns to snooze its job (`ec::retry_later` carrying
/// the wait and the payload).
caf::error snooze(duration after, std::string payload_json);

/// The snooze `err` asks for; nullopt for any other error.
std::optional<job_snooze> snooze_of(const caf::error& err);

/// The handler of each queue a worker works.
using job_handlers = std::map<std::string, job_handler, std::less<>>;

/// `send_notifications`, by the payload's `channel`: "webhook", POSTed signed
/// with `notifications.webhook_secret` (adapters/http/webhook.hpp);
/// "discord", a message to `alerts.discord_webhook_url`
/// (adapters/http/discord.hpp); "email", through `smtp.url`
/// (adapters/http/smtp.hpp). Any other channel fails validation: the job is
/// dead at once.
caf::expected<std::string> send_notification(const config& cfg,
                                             pqxx::connection& conn,
                                             const db::claimed_job& job);

/// `process_mails` (`{"newsletter_id": N}`): the newsletter's content analysed
/// by Mistral and stored, then its `index_news` job enqueued. A reply that is
/// not the JSON asked for is retried.
caf::expected<std::string> process_mail(const config& cfg,
                                        pqxx::connection& conn,
                                        const db::claimed_job& job);

/// `index_news` (`{"newsletter_id": N}`): the newsletter in MeiliSearch (its
/// task read until it succeeded) when `search.meilisearch_url` is set, else in
/// PostgreSQL's full-text index. MeiliSearch indexes in a task of its own:
/// the job snoozes while the task is pending (its uid kept in the payload, the
/// wait doubling from 50 ms to a second), and fails when the task failed or
/// is still pending after a minute (the next attempt adds the document
/// again).
caf::expected<std::string> index_news(const config& cfg, pqxx::connection& conn,
                                      const db::claimed_job& job);

/// The email job that tells `smtp.admin_to` a job is dead (id
/// `admin-email:<job id>:<unix ms of its death>`).
db::job_spec admin_email_job(const config& cfg, const db::claimed_job& dead,
                             std::string_view error);

/// True for a send_notifications job of the email channel (whose death mails
/// nobody: it could not be sent either).
bool is_email_job(const db::claimed_job& job);

/// The job of a newsletter in `queue`: id `<queue>:<newsletter id>`, payload
/// `{"newsletter_id": N}`.
db::job_spec newsletter_job(std::string_view queue, int64_t newsletter_id,
                            int32_t max_attempts);

/// Adds `message` (a whole RFC 5322 message) as a newsletter of `account` (its
/// key the Message-ID, else a digest of the message) and, while it is new,
/// queues its `process_mails` job (once: the job id is the newsletter's).
caf::expected<db::newsletter_added>
add_newsletter_message(pqxx::connection& conn, const config& cfg,
                       std::string_view message,
                       std::optional<int64_t> account);

/// `fetch_emails` (`{"account_id": N, ...}`, as push notifications enqueue
/// it): a processing run of that one account now, through the node's
/// scheduler (found in `sys`'s registry), waited for at most
/// `processing.account_timeout` and a minute. Its result is the run's report;
/// what the pass did to the account (a failure, its retry time) is the
/// pipeline's to record, as in any run, so a pass that failed is still a job
/// that succeeded. A node without a scheduler yet is a failure, retried.
/// Then, unless the pass failed or the account was skipped (its retry time, or
/// another run's lease), the account's new list messages become
/// newsletters with their process_mails jobs (`scan_newsletters`); the result
/// says how many (`"newsletters"`, null when the account is not scanned).
/// A scan that Gmail or Graph asked to wait snoozes the job for that wait.
caf::expected<std::string> fetch_emails(caf::actor_system& sys,
                                        const config& cfg,
                                        pqxx::connection& conn,
                                        const db::claimed_job& job);

/// The handlers of a production node: every queue that has one, except
/// `process_mails` while `mistral.api_key` is unset (its jobs wait).
job_handlers standard_job_handlers(const config& cfg, caf::actor_system& sys);

} // namespace mailpipe
