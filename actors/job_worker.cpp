#include "actors/job_worker.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "actors/alerter.hpp"
#include "actors/last_error.hpp"
#include "actors/lease_keeper.hpp"
#include "adapters/db/connection.hpp"
#include "adapters/db/newsletters.hpp"

namespace mailpipe {

namespace {

using worker_ptr = job_worker_actor::stateful_pointer<job_worker_state>;

/// The most jobs one worker claims at once.
constexpr int64_t max_claim_batch = 64;

/// A worker claims the jobs it expects to run within this time, judging by
/// how long the queue's jobs took of late: quick jobs go 64 to a claim (one
/// round trip for many), slow ones one at a time, so that no job waits in one
/// worker's batch while another worker is idle.
constexpr auto claim_horizon = std::chrono::milliseconds{100};

/// The longest an idle worker blocks waiting for a notification: it serves
/// its mailbox (status, exit) in between.
constexpr auto listen_slice = std::chrono::seconds{1};

/// The longest a success waits to be recorded with the ones after it.
constexpr auto completion_delay = std::chrono::milliseconds{50};

/// How soon a worker looks again at a queue whose limits held jobs back.
constexpr auto limit_recheck = std::chrono::milliseconds{100};

/// How soon a worker that lost the database tries again.
constexpr auto reconnect_after = std::chrono::seconds{1};

using steady = std::chrono::steady_clock;

// Holds a slot of the node's store gate for its lifetime.
class gate_slot {
public:
  explicit gate_slot(store_gate& gate) : gate_(gate) { gate_.enter(); }
  ~gate_slot() { gate_.leave(); }
  gate_slot(const gate_slot&) = delete;
  gate_slot& operator=(const gate_slot&) = delete;

private:
  store_gate& gate_;
};

void note_error(worker_ptr self, const caf::error& err) {
  auto& st = self->state;
  if (keep_last_error(st.last_error, err))
    spdlog::error("job worker: {}", st.last_error);
}

// The worker's connection, opened when missing; null after saying why.
pqxx::connection* connection(worker_ptr self) {
  auto& st = self->state;
  if (!st.conn) {
    auto conn = db::connect(st.cfg.database);
    if (!conn) {
      note_error(self, conn.error());
      return nullptr;
    }
    st.conn = std::move(*conn);
  }
  return st.conn.get();
}

// Closes the connection (its listener first); the next tick opens a new one.
// What the worker held when its connection broke (the rest of a batch) is
// taken back at the next tick, not when its lease runs out.
void drop_connection(worker_ptr self) {
  auto& st = self->state;
  st.listener.reset();
  st.conn.reset();
  st.reconciled = false;
}

// A dead job is a critical alert (DESIGN.md, "Alerts").
void alert_dead(worker_ptr self, const db::claimed_job& job,
                const std::string& error) {
  auto alerter =
      self->home_system().registry().get<alerter_actor>(alerter_registry_key);
  if (!alerter)
    return;
  self->send(
      alerter, atom::event_v,
      alert_event{"job_dead", true, fmt::format("job {} is dead", job.id),
                  fmt::format("queue {}, attempt {} of {}: {}", job.queue,
                              job.attempt, job.max_attempts, error),
                  std::chrono::system_clock::now()});
}

// A dead job's newsletter, if its payload names one, is invalid.
void invalidate_newsletter(pqxx::connection& conn, const db::claimed_job& job,
                           const std::string& error) {
  auto marked = db::invalidate_newsletter_of(conn, job.payload_json, error);
  if (!marked)
    spdlog::error("job {}: cannot mark its newsletter invalid: {}", job.id,
                  render(marked.error()));
  else if (*marked)
    spdlog::warn("job {}: its newsletter is marked invalid", job.id);
}

// A dead job is also an email to `smtp.admin_to` when set: a job of its own,
// so it is retried and never lost (but a dead email job mails nobody).
void email_admins(worker_ptr self, pqxx::connection& conn,
                  const db::claimed_job& job, const std::string& error) {
  auto& cfg = self->state.cfg;
  if (cfg.smtp.url.empty() || cfg.smtp.admin_to.empty() || is_email_job(job))
    return;
  auto queued = db::enqueue_job(conn, admin_email_job(cfg, job, error));
  if (!queued)
    spdlog::error("job {}: cannot queue the admins' email: {}", job.id,
                  render(queued.error()));
}

// What follows a job's death, however it died (its last attempt failed, or
// its lease ended on its last attempt): the log line, the counters, its
// newsletter invalid, the alert and the admins' email.
void on_dead(worker_ptr self, pqxx::connection& conn,
             const db::claimed_job& job, const std::string& error) {
  auto& st = self->state;
  ++st.dead;
  ++st.metrics->of(job.queue).dead;
  spdlog::error("job {} ({}) is dead after attempt {}: {}", job.id, job.queue,
                job.attempt, error);
  invalidate_newsletter(conn, job, error);
  alert_dead(self, job, error);
  email_admins(self, conn, job, error);
}

// Records the jobs of `queue` that succeeded, in one statement, and empties
// `done`; false when the database did not take them (their leases then run
// out and they are run again).
bool complete(worker_ptr self, pqxx::connection& conn, std::string_view queue,
              std::vector<db::job_success>& done) {
  if (done.empty())
    return true;
  auto& st = self->state;
  auto completed = [&] {
    gate_slot slot{*st.gate};
    return db::complete_jobs(conn, st.owner, done);
  }();
  if (!completed)
    return note_error(self, completed.error()), false;
  st.succeeded += static_cast<int64_t>(completed->size());
  st.metrics->of(queue).succeeded += completed->size();
  if (completed->size() < done.size())
    spdlog::warn("job worker: {} job(s) of {} outlived their lease before they "
                 "ended; another worker has them",
                 done.size() - completed->size(), queue);
  done.clear();
  return true;
}

// Puts back a job its handler snoozed; false when the database did not take
// it (the lease then runs out and the job is taken again).
bool record_snooze(worker_ptr self, pqxx::connection& conn,
                   const db::claimed_job& job, const job_snooze& snooze) {
  auto& st = self->state;
  auto res =
      db::snooze_job(conn, job.id, st.owner, snooze.after, snooze.payload_json);
  if (!res)
    return note_error(self, res.error()), false;
  if (*res)
    st.next_retry = std::min(st.next_retry, steady::now() + snooze.after);
  return true;
}

// Records a failed attempt of one job; false when the database did not take
// it (the lease then runs out and the job is taken again).
bool record_failure(worker_ptr self, pqxx::connection& conn,
                    const db::claimed_job& job, const caf::error& failure) {
  auto& st = self->state;
  auto& counts = st.metrics->of(job.queue);
  auto error = render(failure);
  bool permanent = is(failure, ec::invalid_argument);
  auto unit = std::uniform_real_distribution<double>{0, 1}(st.random);
  auto retry_in = db::job_retry_delay(job.attempt, st.cfg.jobs.backoff, unit);
  auto res = db::fail_job(conn, job.id, st.owner, error, permanent, retry_in);
  if (!res)
    return note_error(self, res.error()), false;
  if (!res->held)
    return true;
  if (res->dead) {
    on_dead(self, conn, job, error);
  } else {
    ++st.retried;
    ++counts.retried;
    st.next_retry = std::min(st.next_retry, steady::now() + retry_in);
    spdlog::warn("job {} ({}) failed, attempt {} of {}, again in {}: {}",
                 job.id, job.queue, job.attempt, job.max_attempts,
                 format_duration(retry_in), error);
  }
  return true;
}

// LISTENs on the worker's connection (opened when missing) unless it does
// already; false when the database is not there. A worker listens before it
// claims, so that no job enqueued between its claim and its wait goes
// unnoticed until the poll backstop.
bool start_listening(worker_ptr self) {
  auto& st = self->state;
  if (st.listener)
    return true;
  auto conn = connection(self);
  if (!conn)
    return false;
  try {
    st.listener = std::make_unique<db::job_listener>(*conn);
  } catch (const std::exception& e) {
    note_error(self, db::to_error(e, "listen for jobs"));
    drop_connection(self);
    return false;
  }
  return true;
}

// Takes back what this worker held when it last ran (its owner name is its
// node's and its number), then, every third of a lease, any job whose lease
// ran out.
void recover(worker_ptr self, pqxx::connection& conn) {
  auto& st = self->state;
  auto now = std::chrono::steady_clock::now();
  if (st.reconciled && now - st.last_recovery < st.cfg.jobs.lease / 3)
    return;
  auto res = db::recover_jobs(conn, st.reconciled ? "" : st.owner);
  if (!res)
    return note_error(self, res.error());
  if (res->requeued + res->dead > 0)
    spdlog::warn("job worker: took back {} job(s) whose lease ended ({} of "
                 "them dead: no attempt left)",
                 res->requeued + res->dead, res->dead);
  for (auto& [job, error] : res->dead_jobs)
    on_dead(self, conn, job, error);
  st.reconciled = true;
  st.last_recovery = now;
}

// How many jobs to claim when they took `job_seconds` each of late (0 when
// none ran yet: one, until the queue's pace is known).
int64_t claim_size(double job_seconds) {
  if (job_seconds <= 0)
    return 1;
  auto horizon = std::chrono::duration<double>(claim_horizon).count();
  return std::clamp(static_cast<int64_t>(horizon / job_seconds), int64_t{1},
                    max_claim_batch);
}

// Runs the claimed jobs of `queue` one by one. Successes are recorded together
// when the batch ends, or before the next job once the oldest has waited
// `completion_delay`; a failure or a snooze at once. False when the database
// did not take an outcome: the connection is then dropped, and what the batch
// left is settled at the next one (`settle_last_batch`).
bool run_batch(worker_ptr self, pqxx::connection& conn, std::string_view queue,
               const job_handler& handler,
               const std::vector<db::claimed_job>& jobs) {
  auto& st = self->state;
  std::vector<db::job_success> done;
  // The database stopped answering: the successes not recorded and the jobs
  // from `first_unstarted` on are kept for the next connection.
  auto keep_unsettled = [&](size_t first_unstarted) {
    st.unsettled_queue = std::string{queue};
    st.unrecorded = std::move(done);
    for (auto k = first_unstarted; k < jobs.size(); ++k)
      st.unstarted.push_back(jobs[k].id);
    st.woken = true; // settled at the next tick, not the next poll
    return false;
  };
  // The queue's pace, a moving average that follows the last jobs.
  auto& pace = st.job_seconds[std::string{queue}];
  auto& queue_metrics = st.metrics->of(queue);
  auto oldest_done = steady::time_point{};
  for (size_t i = 0; i < jobs.size(); ++i) {
    auto& job = jobs[i];
    // A connection known to be broken (the last job's statements failed on
    // it) runs no more jobs: they are given back.
    if (!conn.is_open()
        || (!done.empty() && steady::now() - oldest_done >= completion_delay
            && !complete(self, conn, queue, done)))
      return keep_unsettled(i);
    auto started = steady::now();
    auto outcome = handler(st.cfg, conn, job);
    auto ended = steady::now();
    auto seconds = std::chrono::duration<double>(ended - started).count();
    queue_metrics.duration.observe(seconds);
    pace = pace <= 0 ? seconds : 0.8 * pace + 0.2 * seconds;
    if (!outcome) {
      auto snoozed = snooze_of(outcome.error());
      if (!(snoozed ? record_snooze(self, conn, job, *snoozed)
                    : record_failure(self, conn, job, outcome.error())))
        return keep_unsettled(i + 1);
      continue;
    }
    if (done.empty())
      oldest_done = ended;
    done.push_back({job.id, std::move(*outcome)});
  }
  return complete(self, conn, queue, done) || keep_unsettled(jobs.size());
}

// Settles what the last batch left when the database stopped answering: its
// successes recorded, the jobs it never started given back (their attempt
// not counted), before the worker takes back what it still holds. A job that
// failed or snoozed unrecorded is taken back as a lease that ended. False
// when the database does not answer yet.
bool settle_last_batch(worker_ptr self, pqxx::connection& conn) {
  auto& st = self->state;
  auto release_unstarted = [&] {
    if (st.unstarted.empty())
      return true;
    auto released = db::release_jobs(conn, st.owner, st.unstarted);
    if (!released)
      return note_error(self, released.error()), false;
    st.unstarted.clear();
    return true;
  };
  if (complete(self, conn, st.unsettled_queue, st.unrecorded)
      && release_unstarted())
    return true;
  if (!conn.is_open())
    return false; // the database went away again: at the next tick
  // Refused for good (not for want of a connection): what is left is taken
  // back as leases that ended, rather than holding the worker.
  spdlog::error("job worker: {} success(es) and {} job(s) of {} left to "
                "their leases: {}",
                st.unrecorded.size(), st.unstarted.size(), st.unsettled_queue,
                st.last_error);
  st.unrecorded.clear();
  st.unstarted.clear();
  return true;
}

// Tells the node's lease keeper (when there is one) that this worker now
// runs, or is done with, `jobs`.
template <class Atom>
void tell_keeper(worker_ptr self, Atom what,
                 const std::vector<db::claimed_job>& jobs) {
  auto keeper = self->home_system().registry().get<lease_keeper_actor>(
      lease_keeper_registry_key);
  if (!keeper || jobs.empty())
    return;
  std::vector<std::string> ids;
  for (auto& job : jobs)
    ids.push_back(job.id);
  self->send(keeper, what, self->state.owner, std::move(ids));
}

// Claims and runs one batch per queue; returns how many jobs it ran, or -1
// when the database is not there.
int64_t work_once(worker_ptr self) {
  auto& st = self->state;
  if (!start_listening(self))
    return -1;
  auto conn = connection(self);
  if (!conn)
    return -1;
  if (!settle_last_batch(self, *conn)) {
    drop_connection(self);
    return -1;
  }
  recover(self, *conn);
  int64_t ran = 0;
  st.held_back = false;
  for (auto& [queue, handler] : st.handlers) {
    bool held_back = false;
    auto jobs = [&] {
      gate_slot slot{*st.gate};
      return db::claim_jobs(*conn, queue, st.owner,
                            claim_size(st.job_seconds[queue]),
                            st.cfg.jobs.lease, &held_back);
    }();
    st.held_back = st.held_back || held_back;
    if (!jobs) {
      note_error(self, jobs.error());
      drop_connection(self);
      return -1;
    }
    tell_keeper(self, atom::lease_v, *jobs);
    auto recorded = run_batch(self, *conn, queue, handler, *jobs);
    tell_keeper(self, atom::done_v, *jobs);
    if (!recorded) {
      drop_connection(self);
      return -1;
    }
    ran += static_cast<int64_t>(jobs->size());
  }
  if (!st.last_error.empty()) {
    spdlog::info("job worker: the database answers again");
    st.last_error.clear();
  }
  return ran;
}

// Blocks at most `timeout` for an enqueue's notification (LISTEN on the
// worker's connection, opened when missing); false when the database is not
// there.
bool listen(worker_ptr self, duration timeout) {
  auto& st = self->state;
  if (!start_listening(self))
    return false;
  auto heard = st.listener->wait(timeout);
  if (!heard) {
    note_error(self, heard.error());
    drop_connection(self);
    return false;
  }
  st.woken = st.woken || *heard;
  return true;
}

// Claims when an enqueue notified, a retry is due or the poll backstop ran
// out; otherwise listens for a while. Either way, the next tick follows.
void tick(worker_ptr self) {
  auto& st = self->state;
  auto now = steady::now();
  if (st.woken || now >= st.next_look || now >= st.next_retry) {
    st.woken = false;
    if (now >= st.next_retry)
      st.next_retry = steady::time_point::max();
    auto ran = work_once(self);
    if (ran < 0) {
      self->delayed_send(self, reconnect_after, atom::tick_v);
      return;
    }
    if (ran > 0) {
      st.woken = true; // there may be more
      self->send(self, atom::tick_v);
      return;
    }
    // A queue's limits held jobs back: no notification says when they may
    // go, so look again soon.
    st.next_look =
        now
        + (st.held_back ? duration{limit_recheck} : st.cfg.jobs.poll_interval);
  }
  auto until = std::min(st.next_look, st.next_retry);
  auto wait = std::chrono::duration_cast<duration>(until - steady::now());
  if (listen(self, std::clamp(wait, duration{0}, duration{listen_slice})))
    self->send(self, atom::tick_v);
  else
    self->delayed_send(self, reconnect_after, atom::tick_v);
}

} // namespace

store_gate::store_gate(int64_t slots) : free_(std::max<int64_t>(slots, 1)) {}

void store_gate::enter() {
  std::unique_lock<std::mutex> lock{mtx_};
  freed_.wait(lock, [this] { return free_ > 0; });
  --free_;
}

void store_gate::leave() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    ++free_;
  }
  freed_.notify_one();
}

job_metrics::job_metrics() {
  for (auto queue : db::job_queues)
    queues.emplace(std::string{queue}, std::make_unique<queue_metrics>());
}

job_metrics::queue_metrics& job_metrics::of(std::string_view queue) {
  return *queues.find(queue)->second;
}

void job_metrics::write(http::prometheus_text& out) const {
  out.family("mailpipe_job_duration_seconds", "histogram",
             "How long this node's job handlers ran, by queue.");
  for (auto& [queue, m] : queues)
    out.sample("mailpipe_job_duration_seconds", {{"queue", queue}},
               m->duration.read());
  out.family("mailpipe_jobs_finished_total", "counter",
             "Jobs this node ran, by queue and outcome.");
  for (auto& [queue, m] : queues) {
    out.sample("mailpipe_jobs_finished_total",
               {{"queue", queue}, {"outcome", "succeeded"}},
               static_cast<double>(m->succeeded.load()));
    out.sample("mailpipe_jobs_finished_total",
               {{"queue", queue}, {"outcome", "retried"}},
               static_cast<double>(m->retried.load()));
    out.sample("mailpipe_jobs_finished_total",
               {{"queue", queue}, {"outcome", "dead"}},
               static_cast<double>(m->dead.load()));
  }
}

job_worker_actor::behavior_type job_worker(worker_ptr self, config cfg,
                                           job_handlers handlers,
                                           int64_t number,
                                           std::shared_ptr<job_metrics> metrics,
                                           std::shared_ptr<store_gate> gate) {
  auto& st = self->state;
  st.metrics = std::move(metrics);
  st.gate = std::move(gate);
  st.cfg = std::move(cfg);
  st.owner = fmt::format("{}/{}", st.cfg.node.name, number);
  st.handlers = std::move(handlers);
  self->send(self, atom::tick_v);
  return {
      [self](atom::status) {
        auto& st = self->state;
        status_dict d;
        d["name"] = std::string{job_worker_state::name};
        std::string queues;
        for (auto& [queue, handler] : st.handlers)
          queues += (queues.empty() ? "" : ",") + queue;
        d["queues"] = queues;
        d["owner"] = st.owner;
        d["succeeded"] = st.succeeded;
        d["retried"] = st.retried;
        d["dead"] = st.dead;
        d["last_error"] = st.last_error;
        return d;
      },
      [self](atom::tick) { tick(self); },
  };
}

std::vector<node_child_spec>
job_worker_children(const config& cfg, std::shared_ptr<job_metrics> metrics) {
  std::vector<node_child_spec> out;
  out.push_back({lease_keeper_state::name, [cfg](caf::actor_system& sys) {
                   auto keeper = sys.spawn<caf::detached>(lease_keeper, cfg);
                   // In the registry before any worker claims: the keeper
                   // puts itself there too, but on its own thread, later.
                   sys.registry().put(lease_keeper_registry_key, keeper);
                   return caf::actor_cast<caf::actor>(keeper);
                 }});
  auto gate = std::make_shared<store_gate>(cfg.jobs.store_slots);
  for (int64_t i = 1; i <= cfg.jobs.workers; ++i)
    out.push_back({job_worker_state::name,
                   [cfg, i, metrics, gate](caf::actor_system& sys) {
                     return caf::actor_cast<caf::actor>(
                         sys.spawn<caf::detached>(
                             job_worker, cfg, standard_job_handlers(cfg, sys),
                             i, metrics, gate));
                   }});
  return out;
}

} // namespace mailpipe
