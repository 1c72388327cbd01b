// `mailpipe process`: one processing run, as cron starts it every minute.

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "actors/alerter.hpp"
#include "actors/pipeline.hpp"
#include "adapters/sys/logging.hpp"
#include "messages/fwd.hpp"
#include "tools/mailpipe/db_cli.hpp"
#include "tools/mailpipe/signals.hpp"

namespace mailpipe::cli {

namespace {

struct process_options {
  int64_t parallel = 0;
  int64_t timeout_seconds = 0;
  std::vector<int64_t> accounts;
  bool dry_run = false;
  bool json = false;
};

class process_system_config : public caf::actor_system_config {
public:
  process_system_config() {
    register_message_types(*this);
    configure_scheduler(*this);
  }
};

run_request to_request(const config& cfg, const process_options& opts) {
  run_request req;
  req.parallel = opts.parallel > 0 ? opts.parallel : cfg.processing.parallel;
  req.account_timeout = opts.timeout_seconds > 0
                            ? std::chrono::seconds{opts.timeout_seconds}
                            : cfg.processing.account_timeout;
  req.accounts = opts.accounts;
  req.dry_run = opts.dry_run;
  return req;
}

// Prints `accounts N/M` over itself on a terminal.
caf::behavior progress_line(caf::event_based_actor*) {
  return {
      [](atom::progress, int64_t done, int64_t total) {
        std::fprintf(stderr, "\rprocess: %lld/%lld accounts",
                     static_cast<long long>(done),
                     static_cast<long long>(total));
        if (done == total)
          std::fputc('\n', stderr);
        std::fflush(stderr);
      },
  };
}

// -- the report ---------------------------------------------------------------

std::string found_text(const found_result& f) {
  return fmt::format(
      "{} in {}{}{}", f.token, f.placement,
      f.folder.empty() ? "" : " (folder " + f.folder + ")",
      f.spf_result.empty() && f.dkim_result.empty() && f.dmarc_result.empty()
          ? ""
          : fmt::format(", spf={} dkim={} dmarc={}", f.spf_result,
                        f.dkim_result, f.dmarc_result));
}

void print_text(const run_report& r, bool dry_run) {
  for (auto& out : r.outcomes) {
    if (out.status == pass_status::failure
        || out.status == pass_status::timeout)
      std::cout << fmt::format("{} {}: {} ({}): {}{}\n", out.account_id,
                               out.email, to_string(out.status),
                               to_string(out.kind), out.message,
                               out.disabled ? " -- account disabled" : "");
    if (dry_run)
      for (auto& f : out.found)
        std::cout << fmt::format("{} {}: would record {}\n", out.account_id,
                                 out.email, found_text(f));
  }
  std::cout << fmt::format(
      "run {}{}: {} accounts done, {} failed, {} skipped; {} messages "
      "found, {} recorded; {} tests completed, {} expired; {:.2f} s\n",
      r.run_id, dry_run ? " (dry run, nothing written)" : "", r.done, r.failed,
      r.skipped, r.emails_found, r.recorded, r.tests_completed, r.tests_expired,
      r.duration_seconds);
}

std::string json_strings(const std::vector<std::string>& xs) {
  std::string out = "[";
  for (auto& x : xs)
    out += (out.size() > 1 ? "," : "") + json_str(x);
  return out + "]";
}

std::string found_json(const found_result& f) {
  return fmt::format(
      "{{\"token\":{},\"placement\":{},\"folder\":{},\"labels\":{},"
      "\"spf\":{},\"dkim\":{},\"dmarc\":{},\"arc\":{}}}",
      json_str(f.token), json_str(f.placement), json_str(f.folder),
      json_strings(f.labels), json_str(f.spf_result), json_str(f.dkim_result),
      json_str(f.dmarc_result), json_str(f.arc_result));
}

std::string outcome_json(const pass_outcome& o) {
  std::string found = "[";
  for (auto& f : o.found)
    found += (found.size() > 1 ? "," : "") + found_json(f);
  found += "]";
  bool failed =
      o.status == pass_status::failure || o.status == pass_status::timeout;
  return fmt::format(
      "{{\"account_id\":{},\"email\":{},\"status\":{},\"emails_found\":{},"
      "\"recorded\":{},\"error_class\":{},\"message\":{},"
      "\"failure_count\":{},\"disabled\":{},\"duration_seconds\":{:.3f},"
      "\"found\":{}}}",
      o.account_id, json_str(o.email), json_str(to_string(o.status)),
      o.emails_found, o.recorded, failed ? json_str(to_string(o.kind)) : "null",
      json_str(o.message), o.failure_count, o.disabled ? "true" : "false",
      o.duration_seconds, found);
}

void print_json(const run_report& r, bool dry_run) {
  std::string accounts = "[";
  for (auto& o : r.outcomes)
    accounts += (accounts.size() > 1 ? "," : "") + outcome_json(o);
  accounts += "]";
  std::cout << fmt::format(
      "{{\"run_id\":{},\"dry_run\":{},\"done\":{},\"failed\":{},"
      "\"skipped\":{},\"emails_found\":{},\"recorded\":{},"
      "\"tests_completed\":{},\"tests_expired\":{},"
      "\"duration_seconds\":{:.3f},\"accounts\":{}}}\n",
      json_str(r.run_id), dry_run ? "true" : "false", r.done, r.failed,
      r.skipped, r.emails_found, r.recorded, r.tests_completed, r.tests_expired,
      r.duration_seconds, accounts);
}

// -- the run ------------------------------------------------------------------

// How long a run waits, after its last account, for its alerts to be
// delivered and recorded. What is still pending then stays a 'pending' row of
// `alerts`, delivered by the next process or node that starts.
constexpr auto alert_settle_time = std::chrono::seconds{10};

// True when every alert the alerter fired is delivered (or failed, or
// recorded only) and its row written.
bool alerts_settled(const status_dict& d) {
  auto n = [&](const char* key) { return caf::get_or(d, key, int64_t{0}); };
  return n("queued") >= n("fired") && n("pending") == 0 && n("unrecorded") == 0;
}

void settle_alerts(caf::scoped_actor& self, const alerter_actor& alerter) {
  auto deadline = std::chrono::steady_clock::now() + alert_settle_time;
  for (;;) {
    bool settled = true;
    self->request(alerter, std::chrono::seconds{1}, atom::status_v)
        .receive([&](const status_dict& d) { settled = alerts_settled(d); },
                 [&](const caf::error&) { settled = true; });
    if (settled)
      return;
    if (std::chrono::steady_clock::now() >= deadline) {
      spdlog::warn("process: alerts still pending after {} s; the next start "
                   "delivers them",
                   alert_settle_time.count());
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
}

// A stop signal during a run: no new account starts, the passes in flight
// finish (each within its time limit), the run's leases are released and its
// report printed, and process exits 128 + the signal. A second signal exits at
// once; the leases then expire by themselves (processing.lease).
class stop_watch {
public:
  explicit stop_watch(caf::actor scheduler)
      : scheduler_(std::move(scheduler)), thread_([this] { watch(); }) {}
  ~stop_watch() {
    done_ = true;
    thread_.join();
  }
  stop_watch(const stop_watch&) = delete;
  stop_watch& operator=(const stop_watch&) = delete;

  /// The signal that stopped the run; 0 when none did.
  int signal() const { return signal_; }

private:
  void watch() {
    auto set = stop_signals();
    timespec tick{0, 100'000'000};
    while (!done_) {
      int sig = sigtimedwait(&set, nullptr, &tick);
      if (sig <= 0)
        continue;
      if (signal_ != 0) {
        spdlog::warn("process: {} again: exiting now; the run's leases expire "
                     "by themselves",
                     signal_name(sig));
        shutdown_logging();
        std::fflush(nullptr);
        std::_Exit(exit_code_of(sig));
      }
      signal_ = sig;
      spdlog::warn("process: received {}: no new account starts; the passes "
                   "in flight finish, then the leases are released (again to "
                   "exit at once)",
                   signal_name(sig));
      caf::anon_send_exit(scheduler_, caf::exit_reason::user_shutdown);
    }
  }

  caf::actor scheduler_;
  std::atomic<bool> done_{false};
  std::atomic<int> signal_{0};
  std::thread thread_; // last: it reads the members above
};

void stop_all(caf::scoped_actor& self, const pipeline_handles& handles) {
  for (auto i = handles.actors.rbegin(); i != handles.actors.rend(); ++i)
    self->send_exit(i->handle, caf::exit_reason::user_shutdown);
}

void process(context& ctx, const process_options& opts) {
  // Blocked in every thread, before the logger's and CAF's start: the stop
  // watch takes them (a thread that did not block one would die of it).
  auto signals = stop_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  auto cfg = ctx.load_and_log();
  if (!cfg)
    return;
  process_system_config sys_cfg;
  caf::actor_system sys{sys_cfg};
  auto handles = start_pipeline(sys, *cfg, schedule{});
  if (!handles)
    return report(ctx, "process", handles.error());
  stop_watch watch{caf::actor_cast<caf::actor>(handles->scheduler)};
  auto req = to_request(*cfg, opts);
  if (isatty(STDERR_FILENO) && !opts.json)
    req.listener = sys.spawn(progress_line);
  caf::scoped_actor self{sys};
  self->request(handles->scheduler, caf::infinite, atom::run_v, std::move(req))
      .receive(
          [&](const run_report& r) {
            if (opts.json)
              print_json(r, opts.dry_run);
            else
              print_text(r, opts.dry_run);
          },
          [&](const caf::error& err) {
            if (is(err, ec::database_unavailable))
              self->send(
                  handles->context->alerter, atom::event_v,
                  database_down_alert(cfg->node.name,
                                      "A processing run could not start: "
                                          + render(err)));
            report(ctx, "process", err);
          });
  settle_alerts(self, handles->context->alerter);
  if (watch.signal() != 0 && ctx.exit == exit_ok)
    ctx.exit = exit_code_of(watch.signal());
  stop_all(self, *handles);
  if (req.listener)
    self->send_exit(req.listener, caf::exit_reason::user_shutdown);
}

} // namespace

void add_process_command(CLI::App& app, context& ctx) {
  auto opts = std::make_shared<process_options>();
  auto cmd = app.add_subcommand(
      "process",
      "one processing run: visit every active account with a pending test, "
      "record where each test message landed, then exit");
  cmd->add_option("--parallel", opts->parallel,
                  "accounts at once (default processing.parallel, 4)")
      ->check(CLI::Range(int64_t{1}, int64_t{10000}));
  cmd->add_option(
         "--timeout", opts->timeout_seconds,
         "seconds one account may take (default processing.account_timeout, "
         "300)")
      ->check(CLI::Range(int64_t{1}, int64_t{86400}));
  cmd->add_option("--account", opts->accounts,
                  "only this account id (repeatable)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag(
      "--dry-run", opts->dry_run,
      "connect and search, write nothing, print what would be recorded");
  cmd->add_flag("--json", opts->json, "the report as one JSON object");
  cmd->callback([&ctx, opts] { process(ctx, *opts); });
}

} // namespace mailpipe::cli
