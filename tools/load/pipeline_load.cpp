// mailpipe-pipeline-load: the whole pipeline under load. On a scratch database of the
// dev PostgreSQL it imports N seed accounts of the local Dovecot, adds one test whose
// token every account's test message carries, then times, in the same run, the bare
// find-and-fetch pass of mailpipe's IMAP client over those accounts (`client`: first
// contact; `client-warm`: server hints kept) and one `mailpipe process --parallel P
// --json` as a child process (wall clock, peak RSS), and checks what it wrote.

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <mutex>
#include <numeric>
#include <sstream>
#include <thread>
#include <tuple>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pqxx/pqxx>
#include <simdjson.h>

#include "adapters/imap/client.hpp"
#include "adapters/imap/connection.hpp"
#include "messages/error.hpp"
#include "tools/load/seed_accounts.hpp"

extern char** environ;

namespace fs = std::filesystem;
using namespace mailpipe;
using mailpipe::load::load_account;

namespace {

using steady = std::chrono::steady_clock;

// -- options ------------------------------------------------------------------

/// What to run against.
struct options {
  std::size_t accounts = 1000;
  std::size_t messages = 36;
  std::size_t parallel = 16;
  int rounds = 1;
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string users_file;
  std::string mail_dir;
  std::string prefix = "pipe";
  std::string database_url;
  std::string mailpipe = MAILPIPE_BINARY;
  std::string work_dir;
  bool keep = false;
};

std::string env_or(const char* name, std::string fallback = {}) {
  auto v = std::getenv(name);
  return v ? std::string{v} : fallback;
}

/// The test id every account's test message carries (fixed per prefix, so that the
/// accounts of an earlier run can be reused).
std::string shared_token(const options& opt) {
  return "mp-" + opt.prefix + "loadtest";
}

double seconds_of(const timeval& t) {
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
}

/// User + system CPU time of this process so far.
double self_cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return seconds_of(u.ru_utime) + seconds_of(u.ru_stime);
}

/// Busy CPU time of the whole machine so far (every core, every process: mailpipe,
/// Dovecot and PostgreSQL share it), from /proc/stat.
double machine_busy_seconds() {
  std::ifstream in{"/proc/stat"};
  std::string cpu;
  double user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0,
         softirq = 0, steal = 0;
  in >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq
      >> steal;
  return (user + nice + system + irq + softirq + steal)
         / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

/// CPU seconds of the server processes so far, PostgreSQL's and Dovecot's (told apart
/// by their executable's path), with the exited children their parents reaped (the
/// postmaster's backends, Dovecot's imap processes).
struct server_cpu {
  double postgres = 0;
  double dovecot = 0;
};

server_cpu server_cpu_seconds() {
  server_cpu out;
  auto tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
  std::error_code ec;
  for (auto& e : fs::directory_iterator{"/proc", ec}) {
    auto exe = fs::read_symlink(e.path() / "exe", ec).string();
    if (ec)
      continue;
    double* group = exe.find("postgres") != std::string::npos  ? &out.postgres
                    : exe.find("dovecot") != std::string::npos ? &out.dovecot
                                                               : nullptr;
    if (!group)
      continue;
    std::ifstream in{e.path() / "stat"};
    std::string stat{std::istreambuf_iterator<char>{in},
                     std::istreambuf_iterator<char>{}};
    // Fields after the command's closing parenthesis: utime is the 14th field of the
    // line, i.e. the 12th after it; then stime, cutime, cstime.
    std::istringstream rest{stat.substr(stat.rfind(')') + 2)};
    std::string field;
    for (int i = 0; i < 11; ++i)
      rest >> field;
    double utime = 0, stime = 0, cutime = 0, cstime = 0;
    rest >> utime >> stime >> cutime >> cstime;
    *group += (utime + stime + cutime + cstime) / tick;
  }
  return out;
}

// -- child processes ----------------------------------------------------------

/// How a child process ended.
struct child_result {
  /// Exit code (128 + signal when killed).
  int status = -1;
  /// Wall clock from fork to exit.
  double seconds = 0;
  /// Peak resident set (wait4's ru_maxrss), KiB.
  long max_rss_kib = 0;
  /// User + system CPU.
  double cpu_seconds = 0;
  /// What it wrote.
  std::string out, err;
};

std::string slurp(const fs::path& path) {
  std::ifstream in{path, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

/// Runs `argv` with `extra` environment entries (before the inherited ones, so they
/// win); stdout and stderr go to DIR/NAME.out and DIR/NAME.err.
child_result run_child(const std::vector<std::string>& argv,
                       const std::vector<std::string>& extra,
                       const fs::path& dir, const std::string& name) {
  auto out_path = dir / (name + ".out");
  auto err_path = dir / (name + ".err");
  std::vector<char*> args, envp;
  for (auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (auto& e : extra)
    envp.push_back(const_cast<char*>(e.c_str()));
  for (char** e = environ; *e; ++e)
    envp.push_back(*e);
  envp.push_back(nullptr);
  auto t0 = steady::now();
  pid_t pid = ::fork();
  if (pid == 0) {
    int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(err, STDERR_FILENO);
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  if (pid < 0)
    throw std::runtime_error("fork failed");
  int status = 0;
  rusage ru{};
  ::wait4(pid, &status, 0, &ru);
  child_result r;
  r.seconds = std::chrono::duration<double>(steady::now() - t0).count();
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.max_rss_kib = ru.ru_maxrss;
  r.cpu_seconds = seconds_of(ru.ru_utime) + seconds_of(ru.ru_stime);
  r.out = slurp(out_path);
  r.err = slurp(err_path);
  return r;
}

// -- the scratch database and the mailpipe it runs ----------------------------

/// `url` with its database name replaced by `name`.
std::string with_database(const std::string& url, const std::string& name) {
  auto query = url.find('?');
  auto path = url.rfind('/', query == std::string::npos ? url.size() : query);
  if (path == std::string::npos || path < url.find("://") + 3)
    throw std::runtime_error(
        "cannot find the database name in the database url");
  return url.substr(0, path + 1) + name
         + (query == std::string::npos ? "" : url.substr(query));
}

/// A base64 256-bit key from the system's random source (never printed).
std::string random_key_b64() {
  unsigned char key[32];
  if (RAND_bytes(key, sizeof key) != 1)
    throw std::runtime_error("no random bytes for the secrets key");
  unsigned char b64[48];
  EVP_EncodeBlock(b64, key, sizeof key);
  return reinterpret_cast<char*>(b64);
}

/// One scratch database (`mp_load_<pid>_<round>`) and a config file, with the
/// `mailpipe` commands run against them. Drops the database when destroyed.
class scratch_pipeline {
public:
  scratch_pipeline(const options& opt, int round)
      : opt_(opt), name_(fmt::format("mp_load_{}_{}", ::getpid(), round)),
        admin_url_(opt.database_url),
        url_(with_database(opt.database_url, name_)),
        dir_(fs::path{opt.work_dir} / name_), key_(random_key_b64()) {
    fs::create_directories(dir_);
    pqxx::connection admin{admin_url_};
    pqxx::nontransaction{admin}.exec0("CREATE DATABASE " + name_);
    std::ofstream{dir_ / "mailpipe.toml"}
        << fmt::format("[node]\nname = \"load\"\n[imap]\nallow_plaintext = "
                       "true\n[log]\ndir = \"{}\"\n",
                       (dir_ / "logs").string());
  }

  ~scratch_pipeline() {
    if (opt_.keep) {
      // What a later `mailpipe --config DIR/mailpipe.toml ...` needs (the
      // key is random per round): `source DIR/env`.
      auto env = dir_ / "env";
      std::ofstream{env}.close(); // created empty, closed to others, filled
      fs::permissions(env, fs::perms::owner_read | fs::perms::owner_write);
      std::ofstream{env} << fmt::format("export MAILPIPE_DATABASE_URL='{}'\n"
                                        "export MAILPIPE_SECRET_KEY='{}'\n",
                                        url_, key_);
      fmt::print("kept database {} and {} (its environment: {})\n", name_,
                 dir_.string(), (dir_ / "env").string());
      return;
    }
    try {
      pqxx::connection admin{admin_url_};
      pqxx::nontransaction{admin}.exec0("DROP DATABASE IF EXISTS " + name_
                                        + " WITH (FORCE)");
      fs::remove_all(dir_);
    } catch (const std::exception& e) {
      fmt::print(stderr, "could not drop {}: {}\n", name_, e.what());
    }
  }

  scratch_pipeline(const scratch_pipeline&) = delete;
  scratch_pipeline& operator=(const scratch_pipeline&) = delete;

  /// Runs `mailpipe --config ... ARGS`; throws (with its stderr) unless it exits 0.
  child_result mailpipe(std::vector<std::string> args,
                        std::vector<std::string> env = {},
                        const std::string& name = "mailpipe") {
    args.insert(args.begin(),
                {opt_.mailpipe, "--config", (dir_ / "mailpipe.toml").string()});
    env.push_back("MAILPIPE_DATABASE_URL=" + url_);
    env.push_back("MAILPIPE_SECRET_KEY=" + key_);
    auto r = run_child(args, env, dir_, name);
    if (r.status != 0)
      throw std::runtime_error(fmt::format("mailpipe {} exited {}: {}", args[3],
                                           r.status, r.err.substr(0, 2000)));
    return r;
  }

  /// `migrate`, `account import` of `accts` (passwords through the environment), and
  /// `test add` of `token` for all of them.
  void prepare(const std::vector<load_account>& accts,
               const std::string& token) {
    mailpipe({"migrate"});
    std::string csv = "email,provider,host,port,tls,username,password_env,"
                      "oauth_refresh_token_env\n";
    std::vector<std::string> env;
    for (std::size_t i = 0; i < accts.size(); ++i) {
      csv += fmt::format("{},imap,{},{},none,,LOAD_PW_{},\n", accts[i].user,
                         opt_.host, opt_.port, i);
      env.push_back(fmt::format("LOAD_PW_{}={}", i, accts[i].password));
    }
    std::ofstream{dir_ / "accounts.csv"} << csv;
    mailpipe({"account", "import", (dir_ / "accounts.csv").string()}, env);
    mailpipe({"test", "add", "--token", token});
  }

  /// One count from the scratch database.
  int64_t count(const std::string& sql) {
    pqxx::connection conn{url_};
    return pqxx::nontransaction{conn}.exec1(sql)[0].as<int64_t>();
  }

private:
  const options& opt_;
  std::string name_;
  std::string admin_url_;
  std::string url_;
  fs::path dir_;
  std::string key_;
};

/// The servers' CPU since `before`.
server_cpu since(const server_cpu& before) {
  auto now = server_cpu_seconds();
  return {now.postgres - before.postgres, now.dovecot - before.dovecot};
}

// -- the bare pass ------------------------------------------------------------

/// One timed pass over the accounts.
struct pass_result {
  std::string mode;
  double seconds = 0;
  /// This process's (bare) or the child's (process) user + system CPU.
  double cpu_seconds = 0;
  /// The machine's busy CPU during the pass.
  double machine_cpu_seconds = 0;
  /// PostgreSQL's and Dovecot's CPU during the pass.
  server_cpu servers;
  long max_rss_kib = 0; // 0: not a process of its own
  /// Seconds over the same round's `client` pass.
  double to_client = 0;
  std::size_t ok = 0;
  /// Each account's time (the process's: its report's per-account duration).
  std::vector<double> latencies;
  std::string problem;
};

/// Searches one account for `token` as the fetcher does (the same client, headers and
/// settings); true when exactly its test message was found where it lies.
bool find_one(const options& opt, const load_account& a,
              const std::string& token, imap::session_hints* hints,
              std::string& problem) {
  imap_config section;
  section.allow_plaintext = true;
  imap::endpoint ep{opt.host, opt.port, imap::security::plain, "", ""};
  imap::find_options o;
  o.headers = analysis_config{}.test_id_headers;
  o.hints = hints;
  auto r = imap::find_test_messages(ep, {a.user, a.password}, {token}, o,
                                    imap::make_settings(section));
  if (!r) {
    problem = a.user + ": " + render(r.error());
    return false;
  }
  if (r->size() == 1 && r->front().folder == a.folder)
    return true;
  problem = fmt::format("{}: {} found, expected one in {}", a.user, r->size(),
                        a.folder);
  return false;
}

/// `client` (no hints: every account a first contact) or `client-warm` (what one
/// earlier pass learned of the server, shared by every account) at `parallel`.
pass_result bare_pass(const options& opt,
                      const std::vector<load_account>& accts,
                      const std::string& token, const std::string& mode) {
  bool warm = mode == "client-warm";
  imap::session_hints shared;
  std::string problem;
  if (warm && !find_one(opt, accts.front(), token, &shared, problem))
    throw std::runtime_error("warm-up: " + problem);
  pass_result res;
  res.mode = mode;
  res.latencies.resize(accts.size());
  std::atomic<std::size_t> next{0}, ok{0};
  std::mutex mtx;
  auto worker = [&] {
    auto hints = shared;
    for (std::size_t i; (i = next++) < accts.size();) {
      std::string why;
      auto start = steady::now();
      bool found = find_one(opt, accts[i], token, warm ? &hints : nullptr, why);
      res.latencies[i] =
          std::chrono::duration<double>(steady::now() - start).count();
      if (found) {
        ++ok;
        continue;
      }
      std::lock_guard guard{mtx};
      if (res.problem.empty())
        res.problem = why;
    }
  };
  auto cpu0 = self_cpu_seconds();
  auto machine0 = machine_busy_seconds();
  auto servers0 = server_cpu_seconds();
  auto t0 = steady::now();
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < opt.parallel; ++t)
    threads.emplace_back(worker);
  for (auto& t : threads)
    t.join();
  res.seconds = std::chrono::duration<double>(steady::now() - t0).count();
  res.cpu_seconds = self_cpu_seconds() - cpu0;
  res.machine_cpu_seconds = machine_busy_seconds() - machine0;
  res.servers = since(servers0);
  res.ok = ok;
  return res;
}

// -- the pipeline pass --------------------------------------------------------

int64_t json_int(simdjson::dom::element doc, const char* key) {
  auto v = doc[key].get_int64();
  return v.error() ? -1 : v.value_unsafe();
}

/// The per-account durations of a `process --json` report.
std::vector<double> outcome_durations(simdjson::dom::element report) {
  std::vector<double> out;
  simdjson::dom::array accounts;
  if (report["accounts"].get(accounts))
    return out;
  for (auto a : accounts) {
    double d = 0;
    if (!a["duration_seconds"].get(d))
      out.push_back(d);
  }
  return out;
}

/// Counts what the scratch database holds: (found results, found in Junk as spam,
/// success metrics rows).
std::tuple<int64_t, int64_t, int64_t> written(scratch_pipeline& db) {
  return {
      db.count("SELECT count(*) FROM test_results WHERE status = 'found'"),
      db.count("SELECT count(*) FROM test_results WHERE status = 'found' AND "
               "placement = 'spam' AND folder = 'Junk'"),
      db.count("SELECT count(*) FROM email_processing_metrics WHERE status = "
               "'success'")};
}

/// `mailpipe process --parallel P --json` (with `dry`, `--dry-run` too) as a child;
/// checks its report and what it wrote: after a real pass, a found result per account
/// (spam in Junk where it lies there) and a success metrics row per account; after a
/// dry run, nothing.
pass_result process_pass(const options& opt, scratch_pipeline& db,
                         const std::vector<load_account>& accts, bool dry) {
  std::vector<std::string> args{"process", "--parallel",
                                std::to_string(opt.parallel), "--json"};
  if (dry)
    args.push_back("--dry-run");
  auto machine0 = machine_busy_seconds();
  auto servers0 = server_cpu_seconds();
  auto r = db.mailpipe(args, {}, dry ? "process-dry" : "process");
  pass_result res;
  res.mode = dry ? "process-dry" : "process";
  res.seconds = r.seconds;
  res.cpu_seconds = r.cpu_seconds;
  res.machine_cpu_seconds = machine_busy_seconds() - machine0;
  res.servers = since(servers0);
  res.max_rss_kib = r.max_rss_kib;
  simdjson::dom::parser parser;
  auto doc = parser.parse(r.out);
  if (doc.error())
    throw std::runtime_error("process printed no JSON report: "
                             + r.err.substr(0, 2000));
  auto report = doc.value_unsafe();
  res.latencies = outcome_durations(report);
  auto n = static_cast<int64_t>(accts.size());
  int64_t in_junk = 0;
  for (auto& a : accts)
    in_junk += a.folder == "Junk";
  auto [found, found_junk, metrics] = written(db);
  double run_seconds = 0;
  if (report["duration_seconds"].get(run_seconds))
    run_seconds = -1;
  fmt::print(
      "{} report: done {}, failed {}, skipped {}, emails_found {}, recorded "
      "{}, "
      "run {:.2f} s of {:.2f} s wall; written: {} found ({} spam in Junk of {} "
      "there), {} success metrics rows\n",
      res.mode, json_int(report, "done"), json_int(report, "failed"),
      json_int(report, "skipped"), json_int(report, "emails_found"),
      json_int(report, "recorded"), run_seconds, r.seconds, found, found_junk,
      in_junk, metrics);
  bool right =
      json_int(report, "done") == n && json_int(report, "emails_found") == n;
  if (dry)
    right = right && found == 0 && metrics == 0;
  else
    right = right && json_int(report, "recorded") == n && found == n
            && found_junk == in_junk && metrics == n;
  res.ok = right ? accts.size() : 0;
  if (!right)
    res.problem = "the report or the rows written are not what was delivered";
  return res;
}

// -- the run ------------------------------------------------------------------

double median(std::vector<double> xs) {
  if (xs.empty())
    return 0;
  std::sort(xs.begin(), xs.end());
  return xs[xs.size() / 2];
}

/// One line of the table.
void print_row(const pass_result& r, std::size_t n) {
  auto rss = r.max_rss_kib ? fmt::format("{:.1f} MiB", r.max_rss_kib / 1024.0)
                           : std::string{"-"};
  // Accounts in flight on average: the accounts' summed time over the wall clock.
  double busy =
      std::accumulate(r.latencies.begin(), r.latencies.end(), 0.0) / r.seconds;
  fmt::print("{:<12} {:>8} {:>8.2f} {:>10.0f} {:>8.3f} {:>8.2f} {:>8.2f} "
             "{:>8.2f} {:>8.2f} "
             "{:>11} {:>8.2f} {:>9.1f}\n",
             r.mode, n, r.seconds, static_cast<double>(n) / r.seconds,
             r.to_client, r.cpu_seconds, r.servers.postgres, r.servers.dovecot,
             r.machine_cpu_seconds, rss, median(r.latencies) * 1e3, busy);
  if (!r.problem.empty())
    fmt::print("  problem: {} ({} of {} right)\n", r.problem, r.ok, n);
}

void print_header() {
  // cpu s: the client's (this process's) or the mailpipe child's CPU; pg, dovecot: the
  // servers' CPU; host: the whole machine's busy CPU (all cores), seconds.
  fmt::print("{:<12} {:>8} {:>8} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8} {:>11} "
             "{:>8} {:>9}\n",
             "mode", "accounts", "seconds", "accounts/s", "/client", "cpu s",
             "pg s", "dovecot s", "host s", "peak RSS", "p50 ms", "in flight");
}

/// One round on a fresh scratch database: the bare passes, a dry run and the process
/// pass (reversed on odd rounds), printed; its passes are appended to `all`. Returns
/// false when something came out wrong.
bool run_round(const options& opt, const std::vector<load_account>& accts,
               int round, std::vector<pass_result>& all) {
  auto token = shared_token(opt);
  scratch_pipeline db{opt, round};
  db.prepare(accts, token);
  std::vector<std::function<pass_result()>> steps{
      [&] { return bare_pass(opt, accts, token, "client"); },
      [&] { return bare_pass(opt, accts, token, "client-warm"); },
      // A dry run writes nothing: the process pass after it still finds all pending.
      [&] { return process_pass(opt, db, accts, true); },
      [&] { return process_pass(opt, db, accts, false); },
  };
  // Odd rounds: the pipeline first (the dry run still before the real pass).
  if (round % 2 == 1)
    steps = {steps[2], steps[3], steps[1], steps[0]};
  std::vector<pass_result> results;
  for (auto& step : steps)
    results.push_back(step());
  double reference = 0;
  for (auto& r : results)
    if (r.mode == "client")
      reference = r.seconds;
  print_header();
  bool good = true;
  for (auto& r : results) {
    r.to_client = r.seconds / reference;
    print_row(r, accts.size());
    good = good && r.problem.empty() && r.ok == accts.size();
    all.push_back(std::move(r));
  }
  std::fflush(stdout);
  return good;
}

// -- the summary over rounds --------------------------------------------------

/// "median [min-max]" of `xs` with `digits` decimals.
std::string median_range(std::vector<double> xs, int digits) {
  std::sort(xs.begin(), xs.end());
  return fmt::format("{:.{}f} [{:.{}f}-{:.{}f}]", median(xs), digits,
                     xs.front(), digits, xs.back(), digits);
}

/// Per mode, over the rounds: seconds, accounts/s and the ratio to the same round's
/// `client` pass (median and range), and the peak RSS of the process passes.
void print_summary(const std::vector<pass_result>& all, std::size_t n,
                   int rounds) {
  fmt::print("\nover {} rounds (median [min-max]):\n{:<12} {:>20} {:>11} "
             "{:>20} {:>24}\n",
             rounds, "mode", "seconds", "accounts/s", "/client",
             "peak RSS MiB");
  for (const char* mode : {"client", "client-warm", "process-dry", "process"}) {
    std::vector<double> seconds, ratios, rss;
    for (auto& r : all)
      if (r.mode == mode) {
        seconds.push_back(r.seconds);
        ratios.push_back(r.to_client);
        rss.push_back(r.max_rss_kib / 1024.0);
      }
    if (seconds.empty())
      continue;
    fmt::print("{:<12} {:>20} {:>11.0f} {:>20} {:>24}\n", mode,
               median_range(seconds, 2),
               static_cast<double>(n) / median(seconds),
               median_range(ratios, 2),
               rss.front() > 0 ? median_range(rss, 1) : std::string{"-"});
  }
}

} // namespace

int main(int argc, char** argv) {
  options opt;
  opt.port = static_cast<uint16_t>(
      std::stoi(env_or("MAILPIPE_TEST_IMAP_PORT", "143")));
  opt.host = env_or("MAILPIPE_TEST_IMAP_HOST", "127.0.0.1");
  opt.users_file = env_or("MAILPIPE_TEST_IMAP_USERS");
  opt.mail_dir = env_or("MAILPIPE_TEST_IMAP_MAIL_DIR");
  opt.database_url = env_or("MAILPIPE_TEST_DATABASE_URL");
  opt.work_dir = fmt::format("/tmp/mailpipe-pipeline-load-{}", ::getpid());
  CLI::App app{
      "mailpipe-pipeline-load: one `mailpipe process` pass against the bare "
      "find-and-fetch pass over the same accounts (defaults from the "
      "tools/dev-services env file)"};
  app.add_option("-n,--accounts", opt.accounts, "seed accounts");
  app.add_option("--messages", opt.messages, "ordinary messages per account");
  app.add_option("-p,--parallel", opt.parallel,
                 "accounts at once (both passes)");
  app.add_option("--rounds", opt.rounds,
                 "rounds, each on a fresh scratch database");
  app.add_option("--host", opt.host);
  app.add_option("--port", opt.port, "plain IMAP port");
  app.add_option("--users-file", opt.users_file, "Dovecot passwd-file");
  app.add_option("--mail-dir", opt.mail_dir, "parent of the accounts' homes");
  app.add_option("--prefix", opt.prefix, "account name prefix (alphanumeric)");
  app.add_option("--database-url", opt.database_url,
                 "PostgreSQL where the scratch databases are created");
  app.add_option("--mailpipe", opt.mailpipe, "the mailpipe binary");
  app.add_option("--work-dir", opt.work_dir,
                 "config, CSV and logs of the runs");
  app.add_flag("--keep", opt.keep,
               "keep the scratch databases and their files");
  CLI11_PARSE(app, argc, argv);
  if (opt.users_file.empty() || opt.mail_dir.empty()
      || opt.database_url.empty()) {
    fmt::print(
        stderr,
        "need --users-file, --mail-dir and --database-url (or source the "
        "dev-services env file)\n");
    return 2;
  }
  try {
    auto t0 = steady::now();
    load::seed_spec spec{opt.accounts, opt.messages, opt.users_file,
                         opt.mail_dir, opt.prefix,   shared_token(opt)};
    auto accts = load::seed_accounts(spec);
    fmt::print("accounts: {} ({} messages each), setup {:.1f} s, parallel {}\n",
               accts.size(), opt.messages + 1,
               std::chrono::duration<double>(steady::now() - t0).count(),
               opt.parallel);
    // Dovecot builds its indexes on first contact: once, untimed, for no mode to pay.
    auto warm = bare_pass(opt, accts, shared_token(opt), "client");
    fmt::print("index warm-up: {:.1f} s, {} ok\n", warm.seconds, warm.ok);
    int status = 0;
    std::vector<pass_result> all;
    for (int round = 0; round < opt.rounds; ++round) {
      fmt::print("\nround {}\n", round + 1);
      if (!run_round(opt, accts, round, all))
        status = 1;
    }
    if (opt.rounds > 1)
      print_summary(all, accts.size(), opt.rounds);
    std::error_code ec;
    if (!opt.keep)
      fs::remove(opt.work_dir, ec);
    return status;
  } catch (const std::exception& e) {
    fmt::print(stderr, "mailpipe-pipeline-load: {}\n", e.what());
    return 1;
  }
}
