#include "actors/orchestrator.hpp"

#include <random>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "adapters/sys/logging.hpp"

namespace mailpipe {

namespace {

using orchestrator_ptr =
    orchestrator_actor::stateful_pointer<orchestrator_state>;

// Time a pass may take beyond its account timeout before the run gives up on it
// (the supervisor cuts the fetch at the timeout; this bounds the analysis and
// the store).
constexpr auto pass_margin = std::chrono::seconds{150};

// Time a run-wide store call may take (claim, metrics, end of run).
constexpr auto store_bound = std::chrono::seconds{120};

// -- the outcomes -------------------------------------------------------------

metrics_row to_metrics_row(const orchestrator_state& st,
                           const pass_outcome& out) {
  metrics_row row;
  row.run_id = st.holder.run_id;
  row.account_id = out.account_id;
  row.node = st.holder.node;
  row.started_at = out.started_at;
  row.duration_seconds = out.duration_seconds;
  row.emails_found = out.emails_found;
  bool failed =
      out.status == pass_status::failure || out.status == pass_status::timeout;
  row.errors_count = failed ? 1 : 0;
  row.status = to_string(out.status);
  if (failed) {
    row.error_class = to_string(out.kind);
    row.error_message = out.message;
  }
  return row;
}

void log_outcome(const orchestrator_state& st, const pass_outcome& out) {
  auto line = fmt::format(
      "run={} account={} email={} outcome={} found={} recorded={} "
      "duration={:.3f}s",
      st.holder.run_id, out.account_id, out.email, to_string(out.status),
      out.emails_found, out.recorded, out.duration_seconds);
  if (out.status == pass_status::failure || out.status == pass_status::timeout)
    line += fmt::format(" error={} failures={}{} message=\"{}\"",
                        to_string(out.kind), out.failure_count,
                        out.disabled ? " disabled" : "", out.message);
  job_log("email-processing", line);
}

void count(run_report& report, const pass_outcome& out) {
  switch (out.status) {
    case pass_status::success: ++report.done; break;
    case pass_status::failure:
    case pass_status::timeout: ++report.failed; break;
    case pass_status::skipped: ++report.skipped; break;
  }
  report.emails_found += out.emails_found;
  report.recorded += out.recorded;
}

void dispatch(orchestrator_ptr self);

void on_outcome(orchestrator_ptr self, pass_outcome out) {
  auto& st = self->state;
  --st.in_flight;
  log_outcome(st, out);
  count(st.report, out);
  if (!st.request.dry_run)
    st.rows.push_back(to_metrics_row(st, out));
  if (!st.request.dry_run)
    out.found.clear(); // the tables hold them; the report stays small
  st.report.outcomes.push_back(std::move(out));
  if (st.request.listener)
    caf::anon_send(st.request.listener, atom::progress_v,
                   static_cast<int64_t>(st.report.outcomes.size()), st.claimed);
  dispatch(self);
}

// A pass that did not answer in time (the supervisor itself was stuck or gone).
pass_outcome lost_pass(const claimed_account& acc, const caf::error& err) {
  pass_outcome out;
  out.account_id = acc.id;
  out.email = acc.email;
  out.status = pass_status::timeout;
  out.kind = failure_class::timeout;
  out.message = "the account's pass did not answer: " + render(err);
  out.started_at = std::chrono::system_clock::now();
  return out;
}

// -- the run ------------------------------------------------------------------

void answer(orchestrator_ptr self) {
  auto& st = self->state;
  st.report.duration_seconds =
      std::chrono::duration<double>(std::chrono::system_clock::now()
                                    - st.report.started_at)
          .count();
  st.promise.deliver(std::move(st.report));
  self->quit();
}

// Releases the leases and expires and completes tests.
void end_run(orchestrator_ptr self) {
  auto& st = self->state;
  self->request(st.context->stores.front(), store_bound, atom::done_v,
                st.holder)
      .then(
          [self](int64_t expired, int64_t completed) {
            self->state.report.tests_expired = expired;
            self->state.report.tests_completed = completed;
            answer(self);
          },
          [self](const caf::error& err) {
            spdlog::error("run {}: could not end the run (leases expire by "
                          "themselves): {}",
                          self->state.holder.run_id, render(err));
            answer(self);
          });
}

void finish(orchestrator_ptr self) {
  auto& st = self->state;
  if (st.finishing)
    return;
  st.finishing = true;
  if (st.request.dry_run) {
    answer(self);
    return;
  }
  self->request(st.context->metrics, store_bound, atom::store_v,
                std::move(st.rows))
      .then([self](int64_t) { end_run(self); },
            [self](const caf::error& err) {
              spdlog::error("run {}: metrics rows not written: {}",
                            self->state.holder.run_id, render(err));
              end_run(self);
            });
}

void dispatch(orchestrator_ptr self) {
  auto& st = self->state;
  while (!st.stopping && st.in_flight < st.request.parallel
         && !st.waiting.empty()) {
    auto acc = std::move(st.waiting.front());
    st.waiting.pop_front();
    ++st.in_flight;
    pass_request req{st.holder.run_id, acc, st.request.account_timeout,
                     st.request.dry_run};
    acc.secret.clear();
    self->request(st.router, st.request.account_timeout + pass_margin,
                  atom::run_v, std::move(req))
        .then([self](pass_outcome& out) { on_outcome(self, std::move(out)); },
              [self, acc](const caf::error& err) {
                on_outcome(self, lost_pass(acc, err));
              });
  }
  if (st.in_flight == 0 && (st.waiting.empty() || st.stopping))
    finish(self);
}

void start(orchestrator_ptr self, claim_result claim) {
  auto& st = self->state;
  st.started = true;
  st.claimed = static_cast<int64_t>(claim.accounts.size());
  st.report.skipped =
      static_cast<int32_t>(claim.skipped_retry + claim.skipped_leased);
  for (auto& acc : claim.accounts)
    st.waiting.push_back(std::move(acc));
  spdlog::info("run {}: {} accounts claimed, {} skipped (retry time or leased "
               "elsewhere)",
               st.holder.run_id, st.claimed, st.report.skipped);
  if (!st.request.dry_run)
    self->delayed_send(self, st.context->cfg.processing.lease / 3,
                       atom::lease_v);
  dispatch(self);
}

caf::result<run_report> run(orchestrator_ptr self, run_request req) {
  auto& st = self->state;
  st.request = std::move(req);
  st.request.parallel = std::max<int64_t>(1, st.request.parallel);
  st.holder = {st.context->cfg.node.name, new_run_id()};
  st.report.run_id = st.holder.run_id;
  st.report.started_at = std::chrono::system_clock::now();
  st.promise = self->make_response_promise<run_report>();
  claim_request claim{st.holder, st.context->cfg.processing.lease, 0,
                      st.request.accounts, st.request.dry_run};
  self->request(st.context->stores.front(), store_bound, atom::run_v,
                std::move(claim))
      .then([self](claim_result& res) { start(self, std::move(res)); },
            [self](const caf::error& err) {
              self->state.promise.deliver(err);
              self->quit();
            });
  return st.promise;
}

void renew_leases(orchestrator_ptr self) {
  auto& st = self->state;
  auto lease = st.context->cfg.processing.lease;
  self->request(st.context->stores.front(), store_bound, atom::lease_v,
                st.holder, lease)
      .then([](int64_t) {},
            [self](const caf::error& err) {
              spdlog::warn("run {}: leases not renewed: {}",
                           self->state.holder.run_id, render(err));
            });
  self->delayed_send(self, lease / 3, atom::lease_v);
}

status_dict orchestrator_status(const orchestrator_state& st) {
  status_dict d;
  d["name"] = std::string{orchestrator_state::name};
  d["run_id"] = st.holder.run_id;
  d["claimed"] = st.claimed;
  d["in_flight"] = st.in_flight;
  d["waiting"] = static_cast<int64_t>(st.waiting.size());
  d["done"] = static_cast<int64_t>(st.report.outcomes.size());
  d["stopping"] = st.stopping;
  return d;
}

} // namespace

std::string new_run_id() {
  std::random_device rd;
  std::mt19937_64 gen{(static_cast<uint64_t>(rd()) << 32) ^ rd()};
  uint64_t hi = gen();
  uint64_t lo = gen();
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL; // version 4
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL; // variant 1
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", hi >> 32,
                     (hi >> 16) & 0xffff, hi & 0xffff, lo >> 48,
                     lo & 0xffffffffffffULL);
}

orchestrator_actor::behavior_type
orchestrator(orchestrator_actor::stateful_pointer<orchestrator_state> self,
             pipeline_ptr context, scheduler_actor router) {
  self->state.context = std::move(context);
  self->state.router = std::move(router);
  return {
      [self](atom::status) { return orchestrator_status(self->state); },
      [self](atom::run, run_request& req) { return run(self, std::move(req)); },
      [self](atom::shutdown) {
        self->state.stopping = true;
        if (self->state.started && self->state.in_flight == 0)
          finish(self);
      },
      [self](atom::lease) {
        if (!self->state.stopping || self->state.in_flight > 0)
          renew_leases(self);
      },
  };
}

} // namespace mailpipe
