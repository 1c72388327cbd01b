#include "actors/supervisor.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "actors/analyzer.hpp"

namespace mailpipe {

namespace {

using supervisor_ptr = supervisor_actor::stateful_pointer<supervisor_state>;
using outcome_promise = caf::typed_response_promise<pass_outcome>;

// Time the analyzer and the store may take after the fetch (they do not block
// on a mail server; the store's own calls are bounded by the database
// timeouts).
constexpr auto after_fetch = std::chrono::seconds{120};

// -- one pass, step by step ---------------------------------------------------

/// What a pass carries from step to step.
struct pass {
  pass_request req;
  outcome_promise promise;
  pass_outcome outcome;
  std::chrono::steady_clock::time_point started;
};

using pass_ptr = std::shared_ptr<pass>;

void finish(supervisor_ptr self, const pass_ptr& p, pass_status status) {
  auto& st = self->state;
  p->outcome.status = status;
  p->outcome.duration_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now()
                                    - p->started)
          .count();
  st.busy = false;
  st.last = status;
  ++st.passes;
  p->promise.deliver(std::move(p->outcome));
}

void raise(supervisor_ptr self, std::string kind, bool critical,
           std::string title, std::string body) {
  auto& alerter = self->state.context->alerter;
  if (alerter)
    self->send(alerter, atom::event_v,
               alert_event{std::move(kind), critical, std::move(title),
                           std::move(body), self->state.context->now()});
}

// What the store writes for a pass, before its outcome is known.
pass_record record_of(const pass& p) {
  pass_record rec;
  rec.run_id = p.req.run_id;
  rec.account_id = p.outcome.account_id;
  return rec;
}

// Records the failure (count, retry time, disabling), then answers.
void fail(supervisor_ptr self, const pass_ptr& p, pass_status status,
          failure_class kind, std::string message) {
  auto& out = p->outcome;
  out.kind = kind;
  out.message = std::move(message);
  if (p->req.dry_run) {
    finish(self, p, status);
    return;
  }
  auto rec = record_of(*p);
  rec.failed = true;
  rec.kind = kind;
  rec.message = out.message;
  self->request(self->state.context->store_for(out.account_id), after_fetch,
                atom::store_v, std::move(rec))
      .then(
          [self, p, status](const pass_ack& ack) {
            auto& out = p->outcome;
            self->state.health = after_failure(ack.failure);
            out.failure_count = ack.failure.failure_count;
            out.disabled = ack.failure.disabled;
            auto what = fmt::format("{}: {}: {}", out.email,
                                    to_string(out.kind), out.message);
            if (out.disabled)
              raise(self, "account_disabled", true, "Seed account disabled",
                    fmt::format("{} (after {} consecutive failures)", what,
                                out.failure_count));
            else
              raise(self, "account_error", false, "Seed account errors", what);
            finish(self, p, status);
          },
          [self, p, status](const caf::error& err) {
            // The failure could not be written (database down): the next run
            // sees the account as it was and tries again.
            p->outcome.message += "; not recorded: " + message_of(err);
            finish(self, p, status);
          });
}

// Matches each result to its pending test by token (a message whose token no
// test is waiting for is dropped) and keeps the first message of each test.
std::vector<found_result> match_tests(const claimed_account& acc,
                                      std::vector<found_result> results) {
  std::vector<found_result> out;
  for (auto& r : results)
    for (auto& t : acc.tests)
      if (t.token == r.token) {
        bool seen = false;
        for (auto& o : out)
          seen = seen || o.test_db_id == t.test_db_id;
        if (!seen) {
          r.test_db_id = t.test_db_id;
          out.push_back(std::move(r));
        }
        break;
      }
  return out;
}

void store_results(supervisor_ptr self, const pass_ptr& p) {
  auto& out = p->outcome;
  if (p->req.dry_run) {
    finish(self, p, pass_status::success);
    return;
  }
  auto rec = record_of(*p);
  rec.found = out.found;
  if (p->req.account.kind == provider::imap)
    rec.imap_hints =
        hints_to_keep(p->req.account.sync_state, self->state.knowledge->hints);
  self->request(self->state.context->store_for(out.account_id), after_fetch,
                atom::store_v, std::move(rec))
      .then(
          [self, p](const pass_ack& ack) {
            self->state.health = after_success();
            p->outcome.recorded = ack.recorded;
            finish(self, p, pass_status::success);
          },
          [self, p](const caf::error& err) {
            // Nothing was recorded and the account is not counted as failing:
            // the results stay pending and the next run finds them again.
            p->outcome.kind = failure_class::other;
            p->outcome.message = "results not recorded: " + message_of(err);
            finish(self, p, pass_status::failure);
          });
}

void analyze(supervisor_ptr self, const pass_ptr& p,
             std::vector<found_message> found) {
  auto worker = self->spawn(analyze_pass, self->state.context->analysis);
  self->request(worker, after_fetch, atom::analyze_v, p->req.account.kind,
                std::move(found))
      .then(
          [self, p](std::vector<found_result>& results) {
            p->outcome.found = match_tests(p->req.account, std::move(results));
            p->outcome.emails_found =
                static_cast<int32_t>(p->outcome.found.size());
            store_results(self, p);
          },
          [self, p](const caf::error& err) {
            fail(self, p, pass_status::failure, failure_class::parse,
                 message_of(err));
          });
}

// Hands a refresh token the provider rotated to the account's store (a token
// cache calls it on the fetcher's thread, as soon as the provider answers).
keep_token_fn keep_in_store(const pipeline_ptr& context) {
  return [context](rotated_token token) {
    if (!context->stores.empty())
      caf::anon_send(context->store_for(token.account_id), atom::store_v,
                     std::move(token));
  };
}

void fetch(supervisor_ptr self, const pass_ptr& p) {
  auto& st = self->state;
  prepare_tokens(*st.knowledge, st.context->cfg, p->req.account,
                 keep_in_store(st.context));
  auto know = std::make_shared<connection_knowledge>(*st.knowledge);
  auto& ctx = *st.context;
  auto worker =
      ctx.blocking_fetch
          ? self->spawn<caf::detached>(fetcher, ctx.cfg, ctx.fetch, know)
          : self->spawn(fetcher, ctx.cfg, ctx.fetch, know);
  self->request(worker, p->req.timeout, atom::fetch_v, p->req)
      .then(
          [self, p, know](std::vector<found_message>& found) {
            self->state.knowledge = know;
            analyze(self, p, std::move(found));
          },
          [self, p, worker](const caf::error& err) {
            auto kind = class_of(err);
            if (kind == failure_class::timeout)
              self->send_exit(worker, caf::exit_reason::kill);
            fail(self, p,
                 kind == failure_class::timeout ? pass_status::timeout
                                                : pass_status::failure,
                 kind, message_of(err));
          });
}

caf::result<pass_outcome> start_pass(supervisor_ptr self, pass_request& req) {
  auto& st = self->state;
  auto p = std::make_shared<pass>();
  p->outcome.account_id = st.account_id;
  p->outcome.email = req.account.email;
  p->outcome.started_at = st.context->now();
  p->outcome.failure_count = st.health.failures;
  p->started = std::chrono::steady_clock::now();
  if (st.busy || gate(st.health, p->outcome.started_at) != pass_gate::open) {
    p->outcome.status = pass_status::skipped;
    p->outcome.disabled = st.health.disabled;
    p->outcome.message =
        st.busy ? "a pass is in progress" : "inside its retry time";
    return p->outcome;
  }
  st.busy = true;
  p->req = std::move(req);
  p->promise = self->make_response_promise<pass_outcome>();
  fetch(self, p);
  return p->promise;
}

status_dict supervisor_status(const supervisor_state& st) {
  status_dict d;
  d["name"] = std::string{supervisor_state::name};
  d["account_id"] = st.account_id;
  d["failures"] = int64_t{st.health.failures};
  d["disabled"] = st.health.disabled;
  d["busy"] = st.busy;
  d["passes"] = int64_t{st.passes};
  d["last"] = to_string(st.last);
  d["hints"] = st.knowledge->hints.complete();
  return d;
}

} // namespace

supervisor_actor::behavior_type
supervisor(supervisor_actor::stateful_pointer<supervisor_state> self,
           int64_t account_id, pipeline_ptr context) {
  auto& st = self->state;
  st.account_id = account_id;
  st.context = std::move(context);
  st.knowledge = std::make_shared<connection_knowledge>();
  return {
      [self](atom::status) { return supervisor_status(self->state); },
      [self](atom::run, pass_request& req) { return start_pass(self, req); },
  };
}

} // namespace mailpipe
