// `mailpipe jobs enqueue | list | show | dead | redrive | purge` and
// `mailpipe queue list | pause | resume | limit`: the durable queues from the shell.

#include <iostream>
#include <unistd.h>

#include <fmt/format.h>
#include <simdjson.h>

#include "adapters/db/jobs.hpp"
#include "messages/error.hpp"
#include "tools/mailpipe/db_cli.hpp"

namespace mailpipe::cli {

namespace {

std::vector<std::string> queue_names() {
  return {db::job_queues.begin(), db::job_queues.end()};
}

std::string dash(const std::string& s) {
  return s.empty() ? "-" : s;
}

void print_jobs(const std::vector<db::job_row>& jobs, bool json) {
  if (json) {
    std::cout << "[";
    for (size_t i = 0; i < jobs.size(); ++i)
      std::cout << (i ? ",\n " : "") << db::to_json(jobs[i]);
    std::cout << "]\n";
    return;
  }
  constexpr auto line = "{:<32} {:<18} {:<8} {:<9} {:<8} {:<20} {}\n";
  std::cout << fmt::format(line, "ID", "QUEUE", "PRIORITY", "STATE", "ATTEMPTS",
                           "RUN_AT", "LAST_ERROR");
  for (auto& j : jobs)
    std::cout << fmt::format(line, j.id, j.queue, j.priority, j.state,
                             fmt::format("{}/{}", j.attempts, j.max_attempts),
                             dash(j.run_at), dash(j.last_error));
}

// The duration an option gives, or nullopt after saying why (exit 2).
std::optional<duration> duration_option(context& ctx, std::string_view what,
                                        const std::string& text) {
  auto d = parse_duration(text);
  if (!d) {
    std::cerr << what << " '" << text
              << "' is not a duration like 30s, 5m, 24h or 7d\n";
    ctx.exit = exit_usage;
  }
  return d;
}

// Who paused a queue: the operator's user and host.
std::string operator_name() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  auto user = getenv("USER");
  return fmt::format("{}@{}", user ? user : "?", host);
}

void add_enqueue(CLI::App& parent, context& ctx) {
  auto cmd = parent.add_subcommand(
      "enqueue", "add a job unless its id is already queued, running or "
                 "succeeded (exit 0 either way)");
  auto spec = std::make_shared<db::job_spec>();
  auto priority = std::make_shared<std::string>();
  auto delay = std::make_shared<std::string>("0s");
  auto json = std::make_shared<bool>(false);
  cmd->add_option("QUEUE", spec->queue, "the queue")
      ->required()
      ->check(CLI::IsMember(queue_names()));
  cmd->add_option("--id", spec->id, "the job's id (its idempotency key)")
      ->required();
  cmd->add_option("--payload", spec->payload_json, "a JSON document")
      ->required();
  cmd->add_option("--priority", *priority,
                  "high or medium (default: the queue's)")
      ->check(CLI::IsMember({"high", "medium"}));
  cmd->add_option("--delay", *delay, "not before this long, e.g. 30s, 5m");
  cmd->add_flag("--json", *json, "the outcome as JSON");
  cmd->callback([&ctx, spec, priority, delay, json] {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(spec->payload_json).get(doc)) {
      std::cerr << "jobs enqueue: --payload is not a JSON document\n";
      ctx.exit = exit_usage;
      return;
    }
    auto d = duration_option(ctx, "jobs enqueue: --delay", *delay);
    if (!d)
      return;
    spec->delay = *d;
    if (!priority->empty())
      spec->priority = db::parse_job_priority(*priority);
    config cfg;
    auto conn = open_database(ctx, "jobs enqueue", &cfg);
    if (!conn)
      return;
    spec->max_attempts = static_cast<int32_t>(cfg.jobs.max_attempts);
    auto res = db::enqueue_job(*conn, *spec);
    if (!res)
      return report(ctx, "jobs enqueue", res.error());
    if (*json)
      std::cout << fmt::format("{{\"id\":{},\"added\":{},\"state\":{}}}\n",
                               json_str(spec->id), res->added,
                               json_str(res->state));
    else if (res->added)
      std::cout << fmt::format("added job {} to {}\n", spec->id, spec->queue);
    else
      std::cout << fmt::format("job {} is already there ({}): nothing added\n",
                               spec->id, res->state);
  });
}

// `jobs list` (any state, --state to choose) or `jobs dead` (state fixed).
void add_listing(CLI::App& parent, context& ctx, const std::string& name,
                 const std::string& help, const std::string& fixed_state) {
  auto cmd = parent.add_subcommand(name, help);
  auto filter = std::make_shared<db::job_filter>();
  filter->state = fixed_state;
  auto json = std::make_shared<bool>(false);
  cmd->add_option("--queue", filter->queue, "only this queue")
      ->check(CLI::IsMember(queue_names()));
  if (fixed_state.empty())
    cmd->add_option("--state", filter->state, "only this state")
        ->check(CLI::IsMember({"queued", "running", "succeeded", "dead"}));
  cmd->add_option("--limit", filter->limit, "at most this many (default 100)")
      ->check(CLI::Range(int64_t{1}, int64_t{100000}));
  cmd->add_flag("--json", *json, "one JSON array");
  cmd->callback([&ctx, filter, json, what = "jobs " + name] {
    auto conn = open_database(ctx, what);
    if (!conn)
      return;
    auto jobs = db::list_jobs(*conn, *filter);
    if (!jobs)
      return report(ctx, what, jobs.error());
    print_jobs(*jobs, *json);
  });
}

void add_show(CLI::App& parent, context& ctx) {
  auto cmd = parent.add_subcommand("show", "one job, payload and last error");
  auto id = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("ID", *id, "the job's id")->required();
  cmd->add_flag("--json", *json, "as JSON");
  cmd->callback([&ctx, id, json] {
    auto conn = open_database(ctx, "jobs show");
    if (!conn)
      return;
    auto j = db::find_job(*conn, *id);
    if (!j)
      return report(ctx, "jobs show", j.error());
    if (*json) {
      std::cout << db::to_json(*j) << "\n";
      return;
    }
    std::cout << fmt::format(
        "job {}\n  queue       {} ({} priority)\n  state       {}\n"
        "  attempts    {} of {}\n  run at      {}\n  lease       {} until {}\n"
        "  created     {}\n  finished    {}\n  last error  {}\n"
        "  payload     {}\n  result      {}\n",
        j->id, j->queue, j->priority, j->state, j->attempts, j->max_attempts,
        dash(j->run_at), dash(j->lease_owner), dash(j->lease_until),
        dash(j->created_at), dash(j->finished_at), dash(j->last_error),
        j->payload_json, dash(j->result_json));
  });
}

void add_redrive(CLI::App& parent, context& ctx) {
  auto cmd = parent.add_subcommand(
      "redrive", "queue a dead job again, its attempts reset");
  auto id = std::make_shared<std::string>();
  cmd->add_option("ID", *id, "the dead job's id")->required();
  cmd->callback([&ctx, id] {
    auto conn = open_database(ctx, "jobs redrive");
    if (!conn)
      return;
    if (auto err = db::redrive_job(*conn, *id))
      return report(ctx, "jobs redrive", err);
    std::cout << fmt::format("job {} is queued again\n", *id);
  });
}

void add_purge(CLI::App& parent, context& ctx) {
  auto cmd = parent.add_subcommand(
      "purge", "delete succeeded (or dead) jobs finished long ago");
  auto state = std::make_shared<std::string>();
  auto older = std::make_shared<std::string>();
  cmd->add_option("--state", *state, "succeeded or dead")
      ->required()
      ->check(CLI::IsMember({"succeeded", "dead"}));
  cmd->add_option("--older-than", *older, "e.g. 7d, 24h")->required();
  cmd->callback([&ctx, state, older] {
    auto d = duration_option(ctx, "jobs purge: --older-than", *older);
    if (!d)
      return;
    auto conn = open_database(ctx, "jobs purge");
    if (!conn)
      return;
    auto n = db::purge_jobs(*conn, *state, *d);
    if (!n)
      return report(ctx, "jobs purge", n.error());
    std::cout << fmt::format("deleted {} {} job{} finished more than {} ago\n",
                             *n, *state, *n == 1 ? "" : "s", *older);
  });
}

void add_pause(CLI::App& parent, context& ctx, bool paused) {
  auto name = paused ? "pause" : "resume";
  auto cmd = parent.add_subcommand(
      name, paused ? "stop claiming the queue's jobs (running ones finish)"
                   : "claim the queue's jobs again");
  auto queue = std::make_shared<std::string>();
  cmd->add_option("QUEUE", *queue, "the queue")
      ->required()
      ->check(CLI::IsMember(queue_names()));
  cmd->callback([&ctx, queue, paused, name] {
    auto what = fmt::format("queue {}", name);
    auto conn = open_database(ctx, what);
    if (!conn)
      return;
    auto changed = db::set_queue_paused(*conn, *queue, paused, operator_name());
    if (!changed)
      return report(ctx, what, changed.error());
    std::cout << fmt::format(
        "queue {} {}\n", *queue,
        *changed ? (paused ? "paused" : "resumed")
                 : (paused ? "was already paused" : "was not paused"));
  });
}

// "none", or the limit.
std::string limit_text(double x) {
  return x > 0 ? fmt::format("{:g}", x) : "none";
}

void add_limit(CLI::App& parent, context& ctx) {
  auto cmd = parent.add_subcommand(
      "limit", "set a queue's limits for the whole cluster: jobs running at "
               "once, jobs started per second (a limit not given is none)");
  auto queue = std::make_shared<std::string>();
  auto limits = std::make_shared<db::queue_limits>();
  cmd->add_option("QUEUE", *queue, "the queue")
      ->required()
      ->check(CLI::IsMember(queue_names()));
  cmd->add_option("--concurrency", limits->concurrency,
                  "jobs of the queue running at once, on every node together "
                  "(default 0: no limit)")
      ->check(CLI::Range(int64_t{0}, int64_t{1'000'000}));
  cmd->add_option("--rate", limits->rate_per_second,
                  "jobs started per second, on every node together (0: no "
                  "limit; default 0: no limit)")
      ->check(CLI::Range(0.0, 1e6));
  cmd->callback([&ctx, queue, limits] {
    auto conn = open_database(ctx, "queue limit");
    if (!conn)
      return;
    if (auto err = db::set_queue_limits(*conn, *queue, *limits))
      return report(ctx, "queue limit", err);
    std::cout << fmt::format(
        "queue {}: concurrency {}, rate {} per second\n", *queue,
        limit_text(static_cast<double>(limits->concurrency)),
        limit_text(limits->rate_per_second));
  });
}

void add_queue_list(CLI::App& parent, context& ctx) {
  auto cmd = parent.add_subcommand("list", "every queue, paused or not, with "
                                           "its jobs by state");
  auto json = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json, "one JSON array");
  cmd->callback([&ctx, json] {
    auto conn = open_database(ctx, "queue list");
    if (!conn)
      return;
    auto queues = db::list_queues(*conn);
    if (!queues)
      return report(ctx, "queue list", queues.error());
    constexpr auto line =
        "{:<20} {:<7} {:>8} {:>8} {:>10} {:>8} {:>12} {:>8}\n";
    if (!*json)
      std::cout << fmt::format(line, "QUEUE", "PAUSED", "QUEUED", "RUNNING",
                               "SUCCEEDED", "DEAD", "CONCURRENCY", "RATE/S");
    else
      std::cout << "[";
    for (size_t i = 0; i < queues->size(); ++i) {
      auto& q = (*queues)[i];
      if (*json)
        std::cout << fmt::format(
            "{}{{\"queue\":{},\"paused\":{},\"queued\":{},\"running\":{},"
            "\"succeeded\":{},\"dead\":{},\"concurrency\":{},"
            "\"rate_per_second\":{}}}",
            i ? ",\n " : "", json_str(q.queue), q.paused, q.queued, q.running,
            q.succeeded, q.dead, q.limits.concurrency,
            q.limits.rate_per_second);
      else
        std::cout << fmt::format(
            line, q.queue, q.paused ? "yes" : "no", q.queued, q.running,
            q.succeeded, q.dead,
            limit_text(static_cast<double>(q.limits.concurrency)),
            limit_text(q.limits.rate_per_second));
    }
    if (*json)
      std::cout << "]\n";
  });
}

} // namespace

void add_jobs_commands(CLI::App& app, context& ctx) {
  auto jobs = app.add_subcommand("jobs", "the durable job queues");
  jobs->require_subcommand(1);
  add_enqueue(*jobs, ctx);
  add_listing(*jobs, ctx, "list", "the newest jobs first", "");
  add_show(*jobs, ctx);
  add_listing(*jobs, ctx, "dead",
              "the dead-letter queue: jobs whose attempts are spent", "dead");
  add_redrive(*jobs, ctx);
  add_purge(*jobs, ctx);
  auto queue =
      app.add_subcommand("queue", "pause, resume, limit and count queues");
  queue->require_subcommand(1);
  add_queue_list(*queue, ctx);
  add_pause(*queue, ctx, true);
  add_pause(*queue, ctx, false);
  add_limit(*queue, ctx);
}

} // namespace mailpipe::cli
