#pragma once

// The durable job queues (DESIGN.md, "Durable jobs"): every statement the
// workers and `mailpipe jobs` / `mailpipe queue` need, on the `jobs` and
// `queue_settings` tables. A job's id is its idempotency key; workers claim in
// batches with `FOR UPDATE SKIP LOCKED` under a lease named after their node;
// a job whose lease ran out is taken again; none is completed twice (only the
// lease holder completes it).

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <caf/expected.hpp>
#include <pqxx/connection>

#include "config/config.hpp"

namespace mailpipe::db {

// -- queues -------------------------------------------------------------------

/// The queues, as the `jobs.queue` check constraint names them.
constexpr std::array<std::string_view, 4> job_queues = {
    "fetch_emails", "process_mails", "index_news", "send_notifications"};

/// The states of a job, as the `jobs.state` check constraint names them.
constexpr std::array<std::string_view, 4> job_states = {"queued", "running",
                                                        "succeeded", "dead"};

/// True for one of `job_queues`.
bool is_job_queue(std::string_view name);

/// The order jobs are claimed in: high before medium (`jobs.priority`).
enum class job_priority : int16_t { high = 0, medium = 1 };

/// "high" or "medium".
std::string_view to_string(job_priority p);

/// Parses "high" / "medium"; nullopt for anything else.
std::optional<job_priority> parse_job_priority(std::string_view text);

/// The priority of a queue's jobs unless the caller says otherwise: high for
/// `fetch_emails` and `process_mails`, medium for the others.
job_priority default_priority(std::string_view queue);

// -- retries (pure) -----------------------------------------------------------

/// How long a failed job waits before its next attempt: `backoff` doubled per
/// attempt made so far (1: backoff, 2: 2 x backoff, ...), capped at one day,
/// with "equal jitter" (half fixed, half spread by `unit`, a number in [0, 1)),
/// so jobs that failed together do not come back together.
duration job_retry_delay(int attempts_made, duration backoff, double unit);

// -- enqueueing ---------------------------------------------------------------

/// A job to add.
struct job_spec {
  /// The idempotency key.
  std::string id;
  /// One of `job_queues`.
  std::string queue;
  /// A JSON document (checked by the database: `jsonb`).
  std::string payload_json = "{}";
  /// The queue's default when not given.
  std::optional<job_priority> priority;
  /// Not claimed before this much time has passed.
  duration delay{0};
  /// Attempts before the job is dead.
  int32_t max_attempts = 3;
};

/// The fetch_emails job of `account` for the change `key` that `trigger`
/// reported (a Gmail historyId, a Graph message id, an IMAP IDLE wake-up): id
/// `fetch_emails:<provider>:<account>:<key>`, payload `{"account_id", "provider",
/// "trigger", <key_name>: key}`.
job_spec fetch_emails_job(int64_t account, std::string_view provider,
                          std::string_view trigger, std::string_view key_name,
                          std::string_view key);

/// What became of one enqueue.
struct enqueue_result {
  /// True when this call added the job (or re-queued a dead one with its id).
  bool added = false;
  /// The job's state after the call: queued, running or succeeded (never
  /// dead: a dead job with that id is queued again).
  std::string state;
};

/// Adds one job unless its id is already queued, running or succeeded (from
/// any node at once: the primary key decides); a dead job with that id is
/// queued again with its attempts reset; workers listening on `jobs_channel`
/// are notified. `ec::invalid_argument` for an unknown queue or a payload
/// that is not JSON.
caf::expected<enqueue_result> enqueue_job(pqxx::connection& conn,
                                          const job_spec& spec);

/// Adds many jobs in one statement, with the rule of `enqueue_job` (an id
/// given twice counts once); returns the ids it added.
caf::expected<std::vector<std::string>>
enqueue_jobs(pqxx::connection& conn, const std::vector<job_spec>& specs);

// -- waking workers -----------------------------------------------------------

/// The channel every enqueue notifies (the payload is the queue's name).
constexpr std::string_view jobs_channel = "mailpipe_jobs";

/// LISTENs on `jobs_channel` on a connection of its own (the worker's) and
/// says when an enqueue has notified it.
class job_listener {
public:
  /// Issues LISTEN on `conn`, which must outlive the listener.
  explicit job_listener(pqxx::connection& conn);
  ~job_listener();
  job_listener(const job_listener&) = delete;
  job_listener& operator=(const job_listener&) = delete;

  /// Blocks at most `timeout` for a notification; true when one came during
  /// the wait or since the last call (several count once).
  caf::expected<bool> wait(duration timeout);

private:
  struct receiver;
  pqxx::connection& conn_;
  std::unique_ptr<receiver> receiver_;
};

// -- working ------------------------------------------------------------------

/// A job a worker holds.
struct claimed_job {
  std::string id;
  std::string queue;
  job_priority priority = job_priority::medium;
  std::string payload_json;
  /// Attempts made, this one included.
  int32_t attempt = 0;
  int32_t max_attempts = 3;
};

/// Takes up to `limit` ready jobs of `queue` (queued, `run_at` passed, the
/// queue not paused), highest priority then oldest first, skipping rows other
/// workers lock, and no more than the queue's limits allow (`queue_limits`);
/// each becomes running under `owner` until now + `lease`, its attempt
/// counted. One round trip (the function `mailpipe_claim_jobs`). When
/// `held_back` is given, it says whether the queue's limits took fewer than
/// `limit` (look again soon: a notification will not come).
caf::expected<std::vector<claimed_job>>
claim_jobs(pqxx::connection& conn, std::string_view queue,
           std::string_view owner, int64_t limit, duration lease,
           bool* held_back = nullptr);

/// Gives back the jobs of `ids` that `owner` claimed and never started (its
/// connection broke first): queued again, their attempt not counted; returns
/// how many it still held.
caf::expected<int64_t> release_jobs(pqxx::connection& conn,
                                    std::string_view owner,
                                    const std::vector<std::string>& ids);

/// Extends the leases `owner` holds on `ids` to now + `lease`; returns how
/// many it still held.
caf::expected<int64_t> renew_job_leases(pqxx::connection& conn,
                                        std::string_view owner,
                                        const std::vector<std::string>& ids,
                                        duration lease);

/// A job its handler ran to success.
struct job_success {
  std::string id;
  /// The handler's result as JSON, "" for none.
  std::string result_json;
};

/// Marks the jobs succeeded, in one statement, that `owner` still holds;
/// returns their ids (a job missing from them had its lease run out and
/// another worker took it).
caf::expected<std::vector<std::string>>
complete_jobs(pqxx::connection& conn, std::string_view owner,
              const std::vector<job_success>& done);

/// Marks the job succeeded with `result_json` ("" for none) if `owner` still
/// holds it; false when it does not (its lease ran out and another took it).
caf::expected<bool> complete_job(pqxx::connection& conn, std::string_view id,
                                 std::string_view owner,
                                 std::string_view result_json = "");

/// What a failure did to a job.
struct failure_result {
  /// False when `owner` no longer held the job (nothing was changed).
  bool held = false;
  /// True when the job is now dead; else it is queued again.
  bool dead = false;
  /// Attempts made.
  int32_t attempts = 0;
};

/// Records a failed attempt of a job `owner` holds: `error` kept as
/// `last_error`; dead when `permanent` (it can never succeed) or its attempts
/// are spent, else queued again to run after `retry_in`.
caf::expected<failure_result>
fail_job(pqxx::connection& conn, std::string_view id, std::string_view owner,
         std::string_view error, bool permanent, duration retry_in);

/// Puts back a job `owner` holds that is not finished but waits for something
/// (River's snooze): queued again to run after `after`, its payload replaced
/// by `payload_json`, the attempt not counted. False when `owner` no longer
/// held it. What the attempt did so far goes under the payload's key
/// `"snoozed"`, which a failure, a lease that ends and a redrive drop: the
/// next attempt starts afresh.
caf::expected<bool> snooze_job(pqxx::connection& conn, std::string_view id,
                               std::string_view owner, duration after,
                               std::string_view payload_json);

/// What recovery did.
struct recovery_result {
  /// Jobs queued again.
  int64_t requeued = 0;
  /// Jobs whose attempts were spent, now dead.
  int64_t dead = 0;
  /// Those dead jobs and their last error, for what follows a death (the
  /// alert, the newsletter, the admins' email).
  std::vector<std::pair<claimed_job, std::string>> dead_jobs;
};

/// Takes back running jobs whose lease has run out (their node died or hung):
/// queued again, or dead when that attempt was their last. With `owner` set,
/// also every job leased to `owner` whatever its lease (a node reconciling
/// what it held when it starts).
caf::expected<recovery_result> recover_jobs(pqxx::connection& conn,
                                            std::string_view owner = "");

// -- inspecting and operating -------------------------------------------------

/// A job as `jobs list` / `jobs show` print it.
struct job_row {
  std::string id;
  std::string queue;
  std::string priority;
  std::string state;
  int32_t attempts = 0;
  int32_t max_attempts = 0;
  std::string payload_json;
  std::string result_json; // "" when none
  std::string last_error;
  std::string lease_owner;
  /// ISO 8601 text ("" when none).
  std::string run_at;
  std::string lease_until;
  std::string created_at;
  std::string updated_at;
  std::string finished_at;
};

/// Which jobs to list.
struct job_filter {
  std::string queue; // "" for every queue
  std::string state; // "" for every state
  int64_t limit = 100;
};

/// The newest jobs first. `ec::invalid_argument` for an unknown queue or state.
caf::expected<std::vector<job_row>> list_jobs(pqxx::connection& conn,
                                              const job_filter& filter);

/// One job; `ec::not_found` when there is none.
caf::expected<job_row> find_job(pqxx::connection& conn, std::string_view id);

/// Queues a dead job again, attempts reset; `ec::not_found` when there is no
/// job with that id, `ec::invalid_argument` when it is not dead.
caf::error redrive_job(pqxx::connection& conn, std::string_view id);

/// Deletes the jobs in `state` (succeeded or dead) finished longer than
/// `older_than` ago; returns how many.
caf::expected<int64_t> purge_jobs(pqxx::connection& conn,
                                  std::string_view state, duration older_than);

/// A queue's limits for the whole cluster; 0 for none.
struct queue_limits {
  /// Jobs of the queue running at once.
  int64_t concurrency = 0;
  /// Jobs claimed per second (bursts of at most one second's worth).
  double rate_per_second = 0;
};

/// Sets (or, with zeros, lifts) a queue's limits.
caf::error set_queue_limits(pqxx::connection& conn, std::string_view queue,
                            const queue_limits& limits);

/// A queue as `queue list` prints it.
struct queue_row {
  std::string queue;
  bool paused = false;
  int64_t queued = 0;
  int64_t running = 0;
  int64_t succeeded = 0;
  int64_t dead = 0;
  queue_limits limits;
};

/// Every queue with its job counts.
caf::expected<std::vector<queue_row>> list_queues(pqxx::connection& conn);

/// Pauses (no job of it is claimed) or resumes a queue; `by` is who did it.
/// Returns false when it already was in that state.
caf::expected<bool> set_queue_paused(pqxx::connection& conn,
                                     std::string_view queue, bool paused,
                                     std::string_view by);

} // namespace mailpipe::db
