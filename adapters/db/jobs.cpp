#include "adapters/db/jobs.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <pqxx/pqxx>

#include "adapters/analysis/analysis_json.hpp"
#include "adapters/db/connection.hpp"
#include "adapters/db/json_output.hpp"
#include "adapters/db/sql_values.hpp"
#include "messages/error.hpp"

namespace mailpipe::db {

namespace {

int64_t millis(duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

caf::error unknown_queue(std::string_view queue) {
  return caf::make_error(ec::invalid_argument,
                         fmt::format("unknown queue '{}' (one of {})", queue,
                                     fmt::join(job_queues, ", ")));
}

caf::error check_spec(const job_spec& spec) {
  if (!is_job_queue(spec.queue))
    return unknown_queue(spec.queue);
  if (spec.id.empty())
    return caf::make_error(ec::invalid_argument, "a job needs an id");
  if (spec.max_attempts < 1)
    return caf::make_error(ec::invalid_argument,
                           "max_attempts must be at least 1");
  return {};
}

// A spec as one element of the JSON array `enqueue_sql` reads.
void append_spec(std::string& out, const job_spec& spec) {
  out += "{\"id\":";
  append_json_string(out, spec.id);
  out += ",\"queue\":";
  append_json_string(out, spec.queue);
  out += fmt::format(
      ",\"priority\":{},\"delay_ms\":{},\"max_attempts\":{},\"payload\":",
      static_cast<int>(spec.priority.value_or(default_priority(spec.queue))),
      millis(spec.delay), spec.max_attempts);
  // The payload goes in as text and is cast by the statement, so a payload
  // that is not JSON is the database's invalid_text_representation, not a
  // broken array.
  append_json_string(out, spec.payload_json);
  out += "}";
}

// Inserts the jobs of a JSON array of specs; a dead job with the same id is
// queued again; each queue that got a job is notified on jobs_channel (sent at
// commit). Returns the ids added.
constexpr const char* enqueue_sql = R"(
WITH added AS (
  INSERT INTO jobs AS j (id, queue, priority, payload, run_at, max_attempts)
  SELECT DISTINCT ON (s.id) s.id, s.queue, s.priority, s.payload::jsonb,
         now() + s.delay_ms * interval '1 millisecond', s.max_attempts
  FROM jsonb_to_recordset($1::jsonb)
    AS s(id text, queue text, priority smallint, payload text, delay_ms bigint,
         max_attempts integer)
  ORDER BY s.id
  ON CONFLICT (id) DO UPDATE SET
    queue = EXCLUDED.queue, priority = EXCLUDED.priority,
    payload = EXCLUDED.payload, run_at = EXCLUDED.run_at,
    max_attempts = EXCLUDED.max_attempts, state = 'queued', attempts = 0,
    lease_owner = NULL, lease_until = NULL, last_error = NULL, result = NULL,
    finished_at = NULL, updated_at = now()
  WHERE j.state = 'dead'
  RETURNING j.id, j.queue),
notified AS (
  SELECT count(pg_notify($2, q.queue)) AS n
  FROM (SELECT DISTINCT queue FROM added) q)
SELECT added.id FROM added, notified)";

// Maps the database's refusal of a payload to the caller's mistake.
caf::error payload_error(const caf::error& err) {
  auto text = render(err);
  if (text.find("invalid input syntax for type json") == std::string::npos
      && text.find("22P02") == std::string::npos)
    return err;
  return caf::make_error(ec::invalid_argument,
                         "the payload is not a JSON document");
}

template <class Result>
caf::expected<Result> or_payload_error(caf::expected<Result> res) {
  if (!res)
    return payload_error(res.error());
  return res;
}

std::string job_columns() {
  return fmt::format(
      "id, queue, CASE priority WHEN 0 THEN 'high' ELSE 'medium' END, state, "
      "attempts, max_attempts, payload::text, COALESCE(result::text, ''), "
      "COALESCE(last_error, ''), COALESCE(lease_owner, ''), {}, {}, {}, {}, {}",
      iso_text("run_at"), iso_text("lease_until"), iso_text("created_at"),
      iso_text("updated_at"), iso_text("finished_at"));
}

job_row read_job(const pqxx::row& r) {
  job_row out;
  out.id = r[0].as<std::string>();
  out.queue = r[1].as<std::string>();
  out.priority = r[2].as<std::string>();
  out.state = r[3].as<std::string>();
  out.attempts = r[4].as<int32_t>();
  out.max_attempts = r[5].as<int32_t>();
  out.payload_json = r[6].as<std::string>();
  out.result_json = r[7].as<std::string>();
  out.last_error = r[8].as<std::string>();
  out.lease_owner = r[9].as<std::string>();
  out.run_at = r[10].as<std::string>();
  out.lease_until = r[11].as<std::string>();
  out.created_at = r[12].as<std::string>();
  out.updated_at = r[13].as<std::string>();
  out.finished_at = r[14].as<std::string>();
  return out;
}

} // namespace

// -- queues -------------------------------------------------------------------

bool is_job_queue(std::string_view name) {
  return std::find(job_queues.begin(), job_queues.end(), name)
         != job_queues.end();
}

std::string_view to_string(job_priority p) {
  return p == job_priority::high ? "high" : "medium";
}

std::optional<job_priority> parse_job_priority(std::string_view text) {
  if (text == "high")
    return job_priority::high;
  if (text == "medium")
    return job_priority::medium;
  return std::nullopt;
}

job_priority default_priority(std::string_view queue) {
  return queue == "fetch_emails" || queue == "process_mails"
             ? job_priority::high
             : job_priority::medium;
}

job_spec fetch_emails_job(int64_t account, std::string_view provider,
                          std::string_view trigger, std::string_view key_name,
                          std::string_view key) {
  job_spec spec;
  spec.queue = "fetch_emails";
  spec.id = fmt::format("fetch_emails:{}:{}:{}", provider, account, key);
  spec.payload_json = fmt::format(
      "{{\"account_id\":{},\"provider\":{},\"trigger\":{},{}:{}}}", account,
      json_str(provider), json_str(trigger), json_str(key_name), json_str(key));
  return spec;
}

// -- retries ------------------------------------------------------------------

duration job_retry_delay(int attempts_made, duration backoff, double unit) {
  constexpr auto cap = std::chrono::hours{24};
  auto doublings = std::clamp(attempts_made - 1, 0, 30);
  auto full = std::min<double>(
      std::ldexp(static_cast<double>(millis(backoff)), doublings),
      static_cast<double>(millis(cap)));
  auto spread = std::clamp(unit, 0.0, 1.0) * full / 2;
  return duration{static_cast<int64_t>(full / 2 + spread)};
}

// -- enqueueing ---------------------------------------------------------------

caf::expected<enqueue_result> enqueue_job(pqxx::connection& conn,
                                          const job_spec& spec) {
  if (auto err = check_spec(spec))
    return err;
  std::string batch = "[";
  append_spec(batch, spec);
  batch += "]";
  return or_payload_error(guarded("enqueue job", [&] {
    pqxx::nontransaction tx{conn};
    // The state is read in a statement of its own: a job that died or was
    // purged in between is one the insert now re-queues or adds, so it is
    // tried again (a few times: each retry needs another such change).
    for (int tries = 1;; ++tries) {
      if (!tx.exec_params(enqueue_sql, batch, std::string{jobs_channel})
               .empty())
        return enqueue_result{true, "queued"};
      auto row =
          tx.exec_params("SELECT state FROM jobs WHERE id = $1", spec.id);
      auto state = row.empty() ? "" : row[0][0].as<std::string>();
      if ((state.empty() || state == "dead") && tries < 3)
        continue;
      if (state.empty())
        throw std::runtime_error("the job went away while it was enqueued");
      return enqueue_result{false, state};
    }
  }));
}

caf::expected<std::vector<std::string>>
enqueue_jobs(pqxx::connection& conn, const std::vector<job_spec>& specs) {
  std::string batch = "[";
  for (auto& spec : specs) {
    if (auto err = check_spec(spec))
      return caf::make_error(ec::invalid_argument,
                             fmt::format("job '{}': {}", spec.id, render(err)));
    if (batch.size() > 1)
      batch += ",";
    append_spec(batch, spec);
  }
  batch += "]";
  return or_payload_error(guarded("enqueue jobs", [&] {
    pqxx::nontransaction tx{conn};
    std::vector<std::string> out;
    for (auto row :
         tx.exec_params(enqueue_sql, batch, std::string{jobs_channel}))
      out.push_back(row[0].as<std::string>());
    return out;
  }));
}

// -- waking workers -----------------------------------------------------------

struct job_listener::receiver : pqxx::notification_receiver {
  explicit receiver(pqxx::connection& conn)
      : pqxx::notification_receiver(conn, std::string{jobs_channel}) {}

  void operator()(const std::string&, int) override { heard = true; }

  bool heard = false;
};

job_listener::job_listener(pqxx::connection& conn)
    : conn_(conn), receiver_(std::make_unique<receiver>(conn)) {}

job_listener::~job_listener() = default;

caf::expected<bool> job_listener::wait(duration timeout) {
  return guarded("wait for jobs", [&] {
    receiver_->heard = false;
    if (conn_.get_notifs() == 0) {
      auto ms = std::max<int64_t>(millis(timeout), 0);
      conn_.await_notification(ms / 1000, (ms % 1000) * 1000);
    }
    return receiver_->heard;
  });
}

// -- working ------------------------------------------------------------------

caf::expected<std::vector<claimed_job>>
claim_jobs(pqxx::connection& conn, std::string_view queue,
           std::string_view owner, int64_t limit, duration lease,
           bool* held_back) {
  if (!is_job_queue(queue))
    return unknown_queue(queue);
  return guarded("claim jobs", [&] {
    pqxx::nontransaction tx{conn};
    auto rows = tx.exec_params(
        "SELECT * FROM mailpipe_claim_jobs($1, $2, $3, $4)", std::string{queue},
        std::string{owner}, static_cast<int32_t>(limit), millis(lease));
    std::vector<claimed_job> out;
    bool limited = false;
    for (auto r : rows) {
      if (r[0].is_null()) { // the queue's limits held the claim back
        limited = true;
        continue;
      }
      claimed_job job;
      job.id = r[0].as<std::string>();
      job.queue = std::string{queue};
      job.priority = static_cast<job_priority>(r[1].as<int16_t>());
      job.payload_json = r[2].as<std::string>();
      job.attempt = r[3].as<int32_t>();
      job.max_attempts = r[4].as<int32_t>();
      out.push_back(std::move(job));
    }
    if (held_back)
      *held_back = limited;
    // The claim order (priority, then age), which UPDATE ... RETURNING does
    // not keep.
    std::stable_sort(out.begin(), out.end(),
                     [](auto& a, auto& b) { return a.priority < b.priority; });
    return out;
  });
}

caf::expected<int64_t> release_jobs(pqxx::connection& conn,
                                    std::string_view owner,
                                    const std::vector<std::string>& ids) {
  return guarded("release jobs", [&]() -> int64_t {
    pqxx::nontransaction tx{conn};
    return tx
        .exec_params(
            "UPDATE jobs SET state = 'queued', attempts = attempts - 1, "
            "lease_owner = NULL, lease_until = NULL, updated_at = now() "
            "WHERE state = 'running' AND lease_owner = $1 "
            "AND id IN (SELECT jsonb_array_elements_text($2::jsonb))",
            std::string{owner}, json_string_array(ids))
        .affected_rows();
  });
}

caf::expected<int64_t> renew_job_leases(pqxx::connection& conn,
                                        std::string_view owner,
                                        const std::vector<std::string>& ids,
                                        duration lease) {
  return guarded("renew job leases", [&]() -> int64_t {
    pqxx::nontransaction tx{conn};
    return tx
        .exec_params(
            "UPDATE jobs SET lease_until = now() + $3 * interval "
            "'1 millisecond' WHERE state = 'running' AND lease_owner = $1 "
            "AND id IN (SELECT jsonb_array_elements_text($2::jsonb))",
            std::string{owner}, json_string_array(ids), millis(lease))
        .affected_rows();
  });
}

caf::expected<std::vector<std::string>>
complete_jobs(pqxx::connection& conn, std::string_view owner,
              const std::vector<job_success>& done) {
  if (done.empty())
    return std::vector<std::string>{};
  // One JSON array of {"id", "result"}: the result goes in as text, "" for
  // none, and is cast by the statement.
  std::string batch = "[";
  for (auto& d : done) {
    batch += batch.size() > 1 ? ",{\"id\":" : "{\"id\":";
    append_json_string(batch, d.id);
    batch += ",\"result\":";
    append_json_string(batch, d.result_json);
    batch += "}";
  }
  batch += "]";
  return guarded("complete jobs", [&] {
    pqxx::nontransaction tx{conn};
    std::vector<std::string> out;
    for (auto row : tx.exec_params(
             "UPDATE jobs j SET state = 'succeeded', result = "
             "NULLIF(d.result, '')::jsonb, lease_owner = NULL, lease_until = "
             "NULL, finished_at = now(), updated_at = now() "
             "FROM jsonb_to_recordset($1::jsonb) AS d(id text, result text) "
             "WHERE j.id = d.id AND j.state = 'running' AND j.lease_owner = $2 "
             "RETURNING j.id",
             batch, std::string{owner}))
      out.push_back(row[0].as<std::string>());
    return out;
  });
}

caf::expected<bool> complete_job(pqxx::connection& conn, std::string_view id,
                                 std::string_view owner,
                                 std::string_view result_json) {
  auto done =
      complete_jobs(conn, owner, {{std::string{id}, std::string{result_json}}});
  if (!done)
    return std::move(done.error());
  return done->size() == 1;
}

caf::expected<failure_result>
fail_job(pqxx::connection& conn, std::string_view id, std::string_view owner,
         std::string_view error, bool permanent, duration retry_in) {
  return guarded("fail job", [&] {
    pqxx::nontransaction tx{conn};
    auto rows = tx.exec_params(
        R"(
UPDATE jobs SET last_error = $3, lease_owner = NULL, lease_until = NULL,
  updated_at = now(), payload = payload - 'snoozed',
  state = CASE WHEN $4 OR attempts >= max_attempts THEN 'dead' ELSE 'queued' END,
  finished_at = CASE WHEN $4 OR attempts >= max_attempts THEN now() END,
  run_at = CASE WHEN $4 OR attempts >= max_attempts THEN run_at
           ELSE now() + $5 * interval '1 millisecond' END
WHERE id = $1 AND state = 'running' AND lease_owner = $2
RETURNING state = 'dead', attempts)",
        std::string{id}, std::string{owner}, std::string{error}, permanent,
        millis(retry_in));
    failure_result out;
    if (rows.empty())
      return out;
    out.held = true;
    out.dead = rows[0][0].as<bool>();
    out.attempts = rows[0][1].as<int32_t>();
    return out;
  });
}

caf::expected<bool> snooze_job(pqxx::connection& conn, std::string_view id,
                               std::string_view owner, duration after,
                               std::string_view payload_json) {
  return guarded("snooze job", [&] {
    pqxx::nontransaction tx{conn};
    auto rows = tx.exec_params(
        R"(
UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_until = NULL,
  attempts = attempts - 1, payload = $3::jsonb, updated_at = now(),
  run_at = now() + $4 * interval '1 millisecond'
WHERE id = $1 AND state = 'running' AND lease_owner = $2
RETURNING 1)",
        std::string{id}, std::string{owner}, std::string{payload_json},
        millis(after));
    return !rows.empty();
  });
}

caf::expected<recovery_result> recover_jobs(pqxx::connection& conn,
                                            std::string_view owner) {
  return guarded("recover jobs", [&] {
    pqxx::nontransaction tx{conn};
    auto rows = tx.exec_params(
        R"(
WITH old AS (
  SELECT id, lease_owner FROM jobs
  WHERE state = 'running'
    AND (lease_until < now() OR ($1 <> '' AND lease_owner = $1))
  FOR UPDATE SKIP LOCKED)
UPDATE jobs j SET lease_owner = NULL, lease_until = NULL, updated_at = now(),
  payload = j.payload - 'snoozed',
  last_error = 'lease of ' || COALESCE(old.lease_owner, '?')
               || ' ended while running',
  state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END,
  finished_at = CASE WHEN attempts >= max_attempts THEN now() END
FROM old WHERE j.id = old.id
RETURNING j.state = 'dead', j.id, j.queue, j.priority, j.payload::text,
  j.attempts, j.max_attempts, j.last_error)",
        std::string{owner});
    recovery_result out;
    for (auto r : rows) {
      if (!r[0].as<bool>()) {
        ++out.requeued;
        continue;
      }
      ++out.dead;
      claimed_job job;
      job.id = r[1].as<std::string>();
      job.queue = r[2].as<std::string>();
      job.priority = static_cast<job_priority>(r[3].as<int16_t>());
      job.payload_json = r[4].as<std::string>();
      job.attempt = r[5].as<int32_t>();
      job.max_attempts = r[6].as<int32_t>();
      out.dead_jobs.push_back({std::move(job), r[7].as<std::string>()});
    }
    return out;
  });
}

// -- inspecting and operating -------------------------------------------------

caf::expected<std::vector<job_row>> list_jobs(pqxx::connection& conn,
                                              const job_filter& filter) {
  if (!filter.queue.empty() && !is_job_queue(filter.queue))
    return unknown_queue(filter.queue);
  if (!filter.state.empty()
      && std::find(job_states.begin(), job_states.end(), filter.state)
             == job_states.end())
    return caf::make_error(ec::invalid_argument,
                           fmt::format("unknown state '{}' (one of {})",
                                       filter.state,
                                       fmt::join(job_states, ", ")));
  return guarded("list jobs", [&] {
    pqxx::nontransaction tx{conn};
    auto rows = tx.exec_params(
        fmt::format("SELECT {} FROM jobs WHERE ($1 = '' OR queue = $1) "
                    "AND ($2 = '' OR state = $2) "
                    "ORDER BY created_at DESC, id LIMIT $3",
                    job_columns()),
        filter.queue, filter.state, filter.limit);
    std::vector<job_row> out;
    for (auto r : rows)
      out.push_back(read_job(r));
    return out;
  });
}

caf::expected<job_row> find_job(pqxx::connection& conn, std::string_view id) {
  auto found = guarded("find job", [&]() -> std::optional<job_row> {
    pqxx::nontransaction tx{conn};
    auto rows = tx.exec_params(
        fmt::format("SELECT {} FROM jobs WHERE id = $1", job_columns()),
        std::string{id});
    if (rows.empty())
      return std::nullopt;
    return read_job(rows[0]);
  });
  if (!found)
    return found.error();
  if (!*found)
    return caf::make_error(ec::not_found, fmt::format("no job '{}'", id));
  return std::move(**found);
}

caf::error redrive_job(pqxx::connection& conn, std::string_view id) {
  auto state = guarded("redrive job", [&]() -> std::string {
    pqxx::nontransaction tx{conn};
    auto rows = tx.exec_params(
        R"(
WITH before AS (SELECT state FROM jobs WHERE id = $1),
redriven AS (
  UPDATE jobs SET state = 'queued', attempts = 0, run_at = now(),
    finished_at = NULL, updated_at = now(), payload = payload - 'snoozed'
  WHERE id = $1 AND state = 'dead' RETURNING 1)
SELECT state FROM before)",
        std::string{id});
    return rows.empty() ? "" : rows[0][0].as<std::string>();
  });
  if (!state)
    return state.error();
  if (state->empty())
    return caf::make_error(ec::not_found, fmt::format("no job '{}'", id));
  if (*state != "dead")
    return caf::make_error(ec::invalid_argument,
                           fmt::format("job '{}' is {}, not dead", id, *state));
  return {};
}

caf::expected<int64_t> purge_jobs(pqxx::connection& conn,
                                  std::string_view state, duration older_than) {
  if (state != "succeeded" && state != "dead")
    return caf::make_error(ec::invalid_argument,
                           fmt::format("only succeeded or dead jobs are "
                                       "purged, not '{}'",
                                       state));
  return guarded("purge jobs", [&]() -> int64_t {
    pqxx::nontransaction tx{conn};
    return tx
        .exec_params("DELETE FROM jobs WHERE state = $1 AND finished_at < "
                     "now() - $2 * interval '1 millisecond'",
                     std::string{state}, millis(older_than))
        .affected_rows();
  });
}

caf::expected<std::vector<queue_row>> list_queues(pqxx::connection& conn) {
  return guarded("list queues", [&] {
    pqxx::nontransaction tx{conn};
    auto rows = tx.exec(R"(
SELECT s.queue, s.paused,
  count(j.id) FILTER (WHERE j.state = 'queued'),
  count(j.id) FILTER (WHERE j.state = 'running'),
  count(j.id) FILTER (WHERE j.state = 'succeeded'),
  count(j.id) FILTER (WHERE j.state = 'dead'),
  COALESCE(s.concurrency, 0), COALESCE(s.rate_limit, 0)
FROM queue_settings s LEFT JOIN jobs j ON j.queue = s.queue
GROUP BY s.queue, s.paused, s.concurrency, s.rate_limit ORDER BY s.queue)");
    std::vector<queue_row> out;
    for (auto r : rows)
      out.push_back({r[0].as<std::string>(),
                     r[1].as<bool>(),
                     r[2].as<int64_t>(),
                     r[3].as<int64_t>(),
                     r[4].as<int64_t>(),
                     r[5].as<int64_t>(),
                     {r[6].as<int64_t>(), r[7].as<double>()}});
    return out;
  });
}

caf::error set_queue_limits(pqxx::connection& conn, std::string_view queue,
                            const queue_limits& limits) {
  if (!is_job_queue(queue))
    return unknown_queue(queue);
  if (limits.concurrency < 0 || limits.rate_per_second < 0
      || !std::isfinite(limits.rate_per_second))
    return caf::make_error(ec::invalid_argument,
                           "a queue limit is a positive number, or 0 for none");
  auto done = guarded("limit queue", [&] {
    pqxx::nontransaction tx{conn};
    tx.exec_params(
        "UPDATE queue_settings SET concurrency = NULLIF($2::int, 0), "
        "rate_limit = NULLIF($3::float8, 0), rate_tokens = "
        "GREATEST($3::float8, 1), "
        "rate_refilled_at = clock_timestamp() WHERE queue = $1",
        std::string{queue}, static_cast<int32_t>(limits.concurrency),
        limits.rate_per_second);
    return true;
  });
  if (!done)
    return done.error();
  return {};
}

caf::expected<bool> set_queue_paused(pqxx::connection& conn,
                                     std::string_view queue, bool paused,
                                     std::string_view by) {
  if (!is_job_queue(queue))
    return unknown_queue(queue);
  return guarded("pause queue", [&] {
    pqxx::nontransaction tx{conn};
    return tx.exec_params(
                 "UPDATE queue_settings SET paused = $2, paused_at = CASE "
                 "WHEN $2 THEN now() END, paused_by = CASE WHEN $2 THEN $3 "
                 "END WHERE queue = $1 AND paused <> $2",
                 std::string{queue}, paused, std::string{by})
               .affected_rows()
           == 1;
  });
}

} // namespace mailpipe::db
