#include "actors/scheduler.hpp"

#include <algorithm>

#include <caf/actor_system.hpp>
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

bool runs_in_progress(const scheduler_state& st) {
  return st.current || !st.targeted.empty();
}

// Forgets a run that ended; the last one of a stopping scheduler quits it.
void run_ended(scheduler_ptr self, const orchestrator_actor& run) {
  auto& st = self->state;
  if (run == st.current)
    st.current = nullptr;
  else
    st.targeted.erase(std::remove(st.targeted.begin(), st.targeted.end(), run),
                      st.targeted.end());
  if (st.stopping && !runs_in_progress(st))
    quit_with_supervisors(self);
}

caf::result<run_report> start_run(scheduler_ptr self, run_request req) {
  auto& st = self->state;
  bool every_account = req.accounts.empty();
  if (every_account && st.current)
    return caf::make_error(ec::busy, "a run is in progress");
  if (st.stopping)
    return caf::make_error(ec::shutting_down, "the node is stopping");
  auto rp = self->make_response_promise<run_report>();
  auto run = self->spawn(orchestrator, st.context,
                         caf::actor_cast<scheduler_actor>(self));
  if (every_account)
    st.current = run;
  else
    st.targeted.push_back(run);
  ++st.runs;
  self->request(run, caf::infinite, atom::run_v, std::move(req))
      .then(
          [self, rp, run](run_report& report) mutable {
            rp.deliver(std::move(report));
            run_ended(self, run);
          },
          [self, rp, run](const caf::error& err) mutable {
            ++self->state.failed_runs;
            rp.deliver(err);
            run_ended(self, run);
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
  if (!runs_in_progress(st)) {
    quit_with_supervisors(self);
    return;
  }
  spdlog::info("scheduler: stopping; the passes in flight finish first");
  if (st.current)
    self->send(st.current, atom::shutdown_v);
  for (auto& run : st.targeted)
    self->send(run, atom::shutdown_v);
}

status_dict scheduler_status(const scheduler_state& st) {
  status_dict d;
  d["name"] = std::string{scheduler_state::name};
  d["runs"] = st.runs;
  d["failed_runs"] = st.failed_runs;
  d["running"] = st.current != nullptr;
  d["targeted_runs"] = static_cast<int64_t>(st.targeted.size());
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
  if (interval.count() > 0) {
    auto& registry = self->home_system().registry();
    registry.put(scheduler_registry_key, self);
    self->attach_functor(
        [&registry] { registry.erase(scheduler_registry_key); });
    self->send(self, atom::tick_v);
  }
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
