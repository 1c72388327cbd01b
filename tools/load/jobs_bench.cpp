// mailpipe-jobs-bench: the durable job queues under load (docs/jobs.md, "Benchmark").
// On a scratch database of the given PostgreSQL it times, for N no-op jobs with unique
// ids: enqueueing them one by one, enqueueing them in bulk (one statement), enqueueing
// the same ids again (every one must be refused as a duplicate), and working them with
// C of mailpipe's own job workers (the actors `mailpipe run` starts, a no-op handler),
// for each C asked. It checks that every job ran exactly once, and prints one JSON line
// per measurement, in the form of tools/load/queues/bench.mjs.

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <fmt/format.h>
#include <pqxx/pqxx>

#include "actors/job_worker.hpp"
#include "actors/pipeline.hpp"
#include "adapters/db/connection.hpp"
#include "adapters/db/jobs.hpp"
#include "adapters/db/migrate.hpp"
#include "adapters/sys/logging.hpp"
#include "messages/fwd.hpp"

using namespace mailpipe;

namespace {

using steady = std::chrono::steady_clock;

/// The queue the benchmark uses (its handler is replaced by a no-op).
constexpr std::string_view bench_queue = "send_notifications";

struct options {
  int64_t jobs = 20000;
  std::vector<int64_t> concurrency{8, 32};
  std::string database_url;
  bool keep = false;
  /// `jobs.store_slots` of the workers.
  int64_t store_slots = config{}.jobs.store_slots;
};

/// `url` with its database name replaced by `name`.
std::string with_database(const std::string& url, const std::string& name) {
  auto query = url.find('?');
  auto path = url.rfind('/', query == std::string::npos ? url.size() : query);
  if (path == std::string::npos || path < url.find("://") + 3)
    throw std::runtime_error("cannot find the database name in the url");
  return url.substr(0, path + 1) + name
         + (query == std::string::npos ? "" : url.substr(query));
}

/// A scratch database, migrated; dropped when destroyed unless kept.
class scratch_database {
public:
  explicit scratch_database(const options& opt)
      : admin_url_(opt.database_url),
        name_(fmt::format("mp_jobs_bench_{}", ::getpid())),
        url_(with_database(opt.database_url, name_)), keep_(opt.keep) {
    pqxx::connection admin{admin_url_};
    pqxx::nontransaction{admin}.exec0("CREATE DATABASE " + name_);
    pqxx::connection conn{url_};
    if (auto applied = db::migrate(conn); !applied)
      throw std::runtime_error("migrate: " + render(applied.error()));
  }
  ~scratch_database() {
    if (keep_) {
      fmt::print(stderr, "kept database {}\n", name_);
      return;
    }
    try {
      pqxx::connection admin{admin_url_};
      pqxx::nontransaction{admin}.exec0("DROP DATABASE IF EXISTS " + name_
                                        + " WITH (FORCE)");
    } catch (const std::exception& e) {
      fmt::print(stderr, "could not drop {}: {}\n", name_, e.what());
    }
  }
  scratch_database(const scratch_database&) = delete;
  scratch_database& operator=(const scratch_database&) = delete;

  const std::string& url() const { return url_; }

private:
  std::string admin_url_;
  std::string name_;
  std::string url_;
  bool keep_;
};

std::vector<db::job_spec> specs(int64_t n, std::string_view prefix) {
  std::vector<db::job_spec> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    auto& s = out[static_cast<size_t>(i)];
    s.id = fmt::format("{}-{}", prefix, i);
    s.queue = std::string{bench_queue};
    s.payload_json = fmt::format("{{\"n\":{}}}", i);
  }
  return out;
}

void empty_jobs(pqxx::connection& conn) {
  pqxx::nontransaction{conn}.exec0("TRUNCATE jobs");
}

void print(std::string_view phase, int64_t jobs, double seconds,
           std::string_view extra = "") {
  fmt::print("{{\"system\":\"mailpipe\",\"phase\":\"{}\",\"jobs\":{},"
             "\"seconds\":{:.3f},\"per_second\":{:.0f}{}}}\n",
             phase, jobs, seconds, static_cast<double>(jobs) / seconds, extra);
  std::fflush(stdout);
}

double seconds_since(steady::time_point start) {
  return std::chrono::duration<double>(steady::now() - start).count();
}

template <class T>
T value_or_throw(caf::expected<T> x, std::string_view what) {
  if (!x)
    throw std::runtime_error(fmt::format("{}: {}", what, render(x.error())));
  return std::move(*x);
}

void enqueue_one_by_one(pqxx::connection& conn, const options& opt) {
  empty_jobs(conn);
  auto jobs = specs(opt.jobs, "one");
  auto start = steady::now();
  for (auto& spec : jobs)
    if (!value_or_throw(db::enqueue_job(conn, spec), "enqueue").added)
      throw std::runtime_error("a unique id was not added: " + spec.id);
  print("enqueue_one", opt.jobs, seconds_since(start));
}

void enqueue_in_bulk(pqxx::connection& conn, const options& opt) {
  empty_jobs(conn);
  auto jobs = specs(opt.jobs, "bulk");
  auto start = steady::now();
  auto added = value_or_throw(db::enqueue_jobs(conn, jobs), "bulk enqueue");
  auto seconds = seconds_since(start);
  if (static_cast<int64_t>(added.size()) != opt.jobs)
    throw std::runtime_error(
        fmt::format("bulk enqueue added {} of {}", added.size(), opt.jobs));
  print("enqueue_bulk", opt.jobs, seconds);
  // The same ids again: every one is refused.
  start = steady::now();
  auto again = value_or_throw(db::enqueue_jobs(conn, jobs), "bulk again");
  seconds = seconds_since(start);
  print("duplicates", opt.jobs, seconds,
        fmt::format(",\"rejected\":{}",
                    opt.jobs - static_cast<int64_t>(again.size())));
}

/// A node's actor system for the workers.
struct bench_system_config : caf::actor_system_config {
  bench_system_config() {
    register_message_types(*this);
    configure_scheduler(*this);
  }
};

// Works N queued jobs with `workers` job workers and a no-op handler; returns the
// seconds until the last one succeeded.
double work(const options& opt, const std::string& url, int64_t workers) {
  config cfg;
  cfg.database.url = url;
  cfg.node.name = "bench";
  cfg.jobs.poll_interval = std::chrono::seconds{1};
  job_handlers noop{{std::string{bench_queue},
                     [](const config&, pqxx::connection&,
                        const db::claimed_job&) -> caf::expected<std::string> {
                       return std::string{};
                     }}};
  auto metrics = std::make_shared<job_metrics>();
  auto& done = metrics->of(bench_queue).succeeded;
  cfg.jobs.store_slots = opt.store_slots;
  auto gate = std::make_shared<store_gate>(cfg.jobs.store_slots);
  bench_system_config sys_cfg;
  caf::actor_system sys{sys_cfg};
  std::vector<job_worker_actor> spawned;
  auto start = steady::now();
  for (int64_t i = 1; i <= workers; ++i)
    spawned.push_back(
        sys.spawn<caf::detached>(job_worker, cfg, noop, i, metrics, gate));
  auto limit = start + std::chrono::minutes{10};
  while (static_cast<int64_t>(done.load()) < opt.jobs && steady::now() < limit)
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  auto seconds = seconds_since(start);
  for (auto& w : spawned)
    caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
  if (static_cast<int64_t>(done.load()) < opt.jobs)
    throw std::runtime_error(fmt::format(
        "only {} of {} jobs done in 10 minutes", done.load(), opt.jobs));
  return seconds;
}

void work_at(pqxx::connection& conn, const options& opt, const std::string& url,
             int64_t workers) {
  empty_jobs(conn);
  value_or_throw(db::enqueue_jobs(conn, specs(opt.jobs, "work")), "enqueue");
  auto seconds = work(opt, url, workers);
  // Every job ran exactly once: succeeded at its first attempt.
  auto row = pqxx::nontransaction{conn}.exec1(
      "SELECT count(*) FILTER (WHERE state = 'succeeded' AND attempts = 1), "
      "count(*) FROM jobs");
  if (row[0].as<int64_t>() != opt.jobs || row[1].as<int64_t>() != opt.jobs)
    throw std::runtime_error(fmt::format("{} of {} jobs succeeded once",
                                         row[0].as<int64_t>(), opt.jobs));
  print("process", opt.jobs, seconds,
        fmt::format(",\"concurrency\":{}", workers));
}

} // namespace

int main(int argc, char** argv) {
  options opt;
  if (auto url = std::getenv("MAILPIPE_TEST_DATABASE_URL"))
    opt.database_url = url;
  CLI::App app{"mailpipe-jobs-bench: enqueue and work N no-op jobs"};
  app.add_option("--jobs", opt.jobs, "jobs per phase (default 20000)")
      ->check(CLI::Range(1, 10'000'000));
  app.add_option("--concurrency", opt.concurrency,
                 "job workers, one measurement each (default 8,32)")
      ->delimiter(',')
      ->check(CLI::Range(1, 256));
  app.add_option("--database", opt.database_url,
                 "PostgreSQL where the scratch database is created (default "
                 "$MAILPIPE_TEST_DATABASE_URL)");
  app.add_option("--store-slots", opt.store_slots,
                 "jobs.store_slots of the workers (default: the config's)")
      ->check(CLI::Range(1, 1024));
  app.add_flag("--keep", opt.keep, "keep the scratch database");
  CLI11_PARSE(app, argc, argv);
  if (opt.database_url.empty()) {
    fmt::print(stderr, "mailpipe-jobs-bench: no database: give --database or "
                       "set MAILPIPE_TEST_DATABASE_URL\n");
    return 2;
  }
  log_config quiet;
  quiet.dir = "";
  setup_logging(quiet, "warn");
  try {
    scratch_database db{opt};
    pqxx::connection conn{db.url()};
    enqueue_one_by_one(conn, opt);
    enqueue_in_bulk(conn, opt);
    for (auto c : opt.concurrency)
      work_at(conn, opt, db.url(), c);
  } catch (const std::exception& e) {
    fmt::print(stderr, "mailpipe-jobs-bench: {}\n", e.what());
    shutdown_logging();
    return 1;
  }
  shutdown_logging();
  return 0;
}
