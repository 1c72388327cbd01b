#include "actors/scheduler.hpp"

#include <spdlog/spdlog.h>

#include "actors/orchestrator.hpp"
#include "actors/supervisor.hpp"

namespace mailpipe {

namespace {

using scheduler_ptr = scheduler_actor::stateful_pointer<scheduler_state>;

// The run as `processing` configures it.
run_request scheduled_run(const config& cfg) {
  run_request req;
  req.parallel = cfg.processing.parallel;
  req.account_timeout = cfg.processing.account_timeout;
  return req;
}

void quit_with_supervisors(scheduler_ptr self) {
  for (auto& [id, sup] : self->state.supervisors)
    self->send_exit(sup, caf::exit_reason::user_shutdown);
  self->quit(caf::exit_reason::user_shutdown);
}

caf::result<run_report> start_run(scheduler_ptr self, run_request req) {
  auto& st = self->state;
  if (st.current)
    return caf::make_error(ec::busy, "a run is in progress");
  if (st.stopping)
    return caf::make_error(ec::shutting_down, "the node is stopping");
  auto rp = self->make_response_promise<run_report>();
  st.current = self->spawn(orchestrator, st.context,
                           caf::actor_cast<scheduler_actor>(self));
  ++st.runs;
  self->request(st.current, caf::infinite, atom::run_v, std::move(req))
      .then(
          [self, rp](run_report& report) mutable {
            self->state.current = nullptr;
            rp.deliver(std::move(report));
            if (self->state.stopping)
              quit_with_supervisors(self);
          },
          [self, rp](const caf::error& err) mutable {
            self->state.current = nullptr;
            ++self->state.failed_runs;
            rp.deliver(err);
            if (self->state.stopping)
              quit_with_supervisors(self);
          });
  return rp;
}

const supervisor_actor& supervisor_of(scheduler_ptr self, int64_t account_id) {
  auto& sups = self->state.supervisors;
  auto i = sups.find(account_id);
  if (i == sups.end())
    i = sups.emplace(account_id,
                     self->spawn<caf::linked>(supervisor, account_id,
                                              self->state.context))
            .first;
  return i->second;
}

void tick(scheduler_ptr self) {
  auto& st = self->state;
  if (st.stopping)
    return;
  self->delayed_send(self, st.interval, atom::tick_v);
  if (st.current) {
    spdlog::info(
        "scheduler: the previous run is still going; this tick is skipped");
    return;
  }
  auto req = scheduled_run(st.context->cfg);
  self->request(caf::actor_cast<scheduler_actor>(self), caf::infinite,
                atom::run_v, std::move(req))
      .then(
          [](const run_report& r) {
            spdlog::info("run {}: {} done, {} failed, {} skipped, {} messages "
                         "found in {:.1f} s",
                         r.run_id, r.done, r.failed, r.skipped, r.emails_found,
                         r.duration_seconds);
          },
          [](const caf::error& err) {
            spdlog::error("run failed: {}", render(err));
          });
}

// True when `source` was one of the supervisors (linked to the scheduler): it
// is forgotten, and the account's next pass starts a new one.
bool forget_supervisor(scheduler_ptr self, const caf::actor_addr& source) {
  auto& sups = self->state.supervisors;
  for (auto i = sups.begin(); i != sups.end(); ++i)
    if (i->second.address() == source) {
      spdlog::warn(
          "scheduler: the supervisor of account {} ended; a new one takes over",
          i->first);
      sups.erase(i);
      return true;
    }
  return false;
}

void on_exit_request(scheduler_ptr self, const caf::exit_msg& msg) {
  auto& st = self->state;
  if (forget_supervisor(self, msg.source))
    return;
  if (msg.reason == caf::exit_reason::kill) {
    self->quit(msg.reason);
    return;
  }
  st.stopping = true;
  if (!st.current) {
    quit_with_supervisors(self);
    return;
  }
  spdlog::info("scheduler: stopping; the run's passes in flight finish first");
  self->send(st.current, atom::shutdown_v);
}

status_dict scheduler_status(const scheduler_state& st) {
  status_dict d;
  d["name"] = std::string{scheduler_state::name};
  d["runs"] = st.runs;
  d["failed_runs"] = st.failed_runs;
  d["running"] = st.current != nullptr;
  d["supervisors"] = static_cast<int64_t>(st.supervisors.size());
  d["stopping"] = st.stopping;
  return d;
}

} // namespace

scheduler_actor::behavior_type
scheduler(scheduler_actor::stateful_pointer<scheduler_state> self,
          pipeline_ptr context, duration interval) {
  self->state.context = std::move(context);
  self->state.interval = interval;
  self->set_exit_handler(
      [self](caf::exit_msg& msg) { on_exit_request(self, msg); });
  if (interval.count() > 0)
    self->send(self, atom::tick_v);
  return {
      [self](atom::status) { return scheduler_status(self->state); },
      [self](atom::run, run_request& req) {
        return start_run(self, std::move(req));
      },
      [self](atom::run, pass_request& req) {
        auto id = req.account.id;
        return self->delegate(supervisor_of(self, id), atom::run_v,
                              std::move(req));
      },
      [self](atom::tick) { tick(self); },
  };
}

} // namespace mailpipe
