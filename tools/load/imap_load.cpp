// mailpipe-imap-load: creates N seed accounts on the local Dovecot and measures
// accounts per second for one find-and-fetch pass (connect, log in, find the
// junk folder, search INBOX and Junk for the test id, fetch the header block,
// log out) with mailpipe's IMAP client and with a hand-pipelined raw client.

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <condition_variable>
#include <deque>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "adapters/imap/client.hpp"
#include "adapters/imap/connection.hpp"
#include "messages/error.hpp"
#include "tools/load/seed_accounts.hpp"
#ifdef MAILPIPE_HAVE_LIBETPAN
#include "tools/load/libetpan_pass.hpp"
#endif

using namespace mailpipe;
using namespace mailpipe::imap;
using mailpipe::load::load_account;

namespace {

// -- accounts -----------------------------------------------------------------

struct options {
  std::size_t accounts = 1000;
  std::size_t messages = 36;
  std::vector<std::size_t> parallel = {4, 16};
  std::vector<std::string> modes = {"client", "client-warm", "raw"};
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  uint16_t tls_port = 0;
  bool tls = false;
  std::string ca_file;
  std::string users_file;
  std::string mail_dir;
  std::string prefix = "load";
  int rounds = 1;
  double rtt_ms = 0;
  credentials::method mechanism = credentials::method::automatic;
  bool serve_proxy = false;
  bool tls_resume = true;
};

std::string env_or(const char* name, std::string fallback = {}) {
  auto v = std::getenv(name);
  return v ? std::string{v} : fallback;
}

/// The seed accounts of the run (created, or reused from the manifest).
std::vector<load_account> setup(const options& opt) {
  load::seed_spec spec;
  spec.accounts = opt.accounts;
  spec.messages = opt.messages;
  spec.users_file = opt.users_file;
  spec.mail_dir = opt.mail_dir;
  spec.prefix = opt.prefix;
  return load::seed_accounts(spec);
}

// -- a latency-adding TCP proxy -----------------------------------------------

/// Forwards 127.0.0.1:port() to the server, holding every chunk `one_way`
/// in each direction: loopback with the round trip of a real network.
class delay_proxy {
public:
  delay_proxy(const std::string& host, uint16_t port,
              std::chrono::microseconds one_way)
      : one_way_(one_way) {
    upstream_.sin_family = AF_INET;
    upstream_.sin_port = htons(port);
    ::inet_pton(AF_INET, host.c_str(), &upstream_.sin_addr);
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0
        || ::listen(fd_, 512) != 0)
      throw std::runtime_error("proxy: cannot listen");
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    std::thread{[this] { accept_loop(); }}.detach();
  }

  uint16_t port() const { return port_; }

private:
  struct direction {
    std::mutex mtx;
    std::condition_variable cv;
    std::deque<std::pair<clock::time_point, std::string>> queue;
    bool eof = false;
  };

  void accept_loop() {
    for (;;) {
      int down = ::accept(fd_, nullptr, nullptr);
      if (down < 0)
        return;
      std::thread{[this, down] { serve(down); }}.detach();
    }
  }

  void pump(int from, int to) {
    direction d;
    std::thread writer{[&] {
      for (;;) {
        std::unique_lock lock{d.mtx};
        d.cv.wait(lock, [&] { return d.eof || !d.queue.empty(); });
        if (d.queue.empty())
          break;
        auto [at, data] = std::move(d.queue.front());
        d.queue.pop_front();
        lock.unlock();
        std::this_thread::sleep_until(at + one_way_);
        ::send(to, data.data(), data.size(), MSG_NOSIGNAL);
      }
      ::shutdown(to, SHUT_WR);
    }};
    char buf[65536];
    for (;;) {
      auto n = ::recv(from, buf, sizeof(buf), 0);
      std::lock_guard guard{d.mtx};
      if (n <= 0) {
        d.eof = true;
        d.cv.notify_one();
        break;
      }
      d.queue.emplace_back(clock::now(),
                           std::string{buf, static_cast<std::size_t>(n)});
      d.cv.notify_one();
    }
    writer.join();
  }

  void serve(int down) {
    int up = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(up, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    ::setsockopt(down, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (::connect(up, reinterpret_cast<sockaddr*>(&upstream_),
                  sizeof(upstream_))
        == 0) {
      std::thread back{[this, up, down] { pump(up, down); }};
      pump(down, up);
      back.join();
    }
    ::close(up);
    ::close(down);
  }

  std::chrono::microseconds one_way_;
  sockaddr_in upstream_{};
  int fd_ = -1;
  uint16_t port_ = 0;
};

// -- the raw, hand-pipelined client -------------------------------------------

/// Sends the whole session in one write right after connecting (without
/// waiting for the greeting) and scans the answer for the header and the
/// folder it came from. Returns the folder ("" when not found) or an error.
caf::expected<std::string> raw_pass(const options& opt, const load_account& a) {
  auto deadline = clock::now() + std::chrono::seconds{30};
  auto conn =
      connection::open(opt.host, opt.tls ? opt.tls_port : opt.port, deadline);
  if (!conn)
    return std::move(conn.error());
  if (opt.tls)
    if (auto err = conn->start_tls(
            opt.host, {opt.ca_file, "", false, opt.tls_resume}, deadline))
      return err;
  auto crit = fmt::format("OR HEADER X-Mailpipe-Test-Id {0} HEADER X-Test-ID "
                          "{0}",
                          a.test_id);
  auto script = fmt::format("a LOGIN \"{}\" \"{}\"\r\n"
                            "b LIST \"\" \"*\" RETURN (SPECIAL-USE)\r\n"
                            "c EXAMINE INBOX\r\n"
                            "d UID SEARCH RETURN (SAVE) {}\r\n"
                            "e UID FETCH $ (UID BODY.PEEK[HEADER])\r\n"
                            "f EXAMINE Junk\r\n"
                            "g UID SEARCH RETURN (SAVE) {}\r\n"
                            "h UID FETCH $ (UID BODY.PEEK[HEADER])\r\n"
                            "i LOGOUT\r\n",
                            a.user, a.password, crit, crit);
  if (auto err = conn->write(script, deadline))
    return err;
  std::string in;
  char buf[16384];
  while (in.find("\r\ni OK") == std::string::npos) {
    auto n = conn->read_some(buf, sizeof(buf), deadline);
    if (!n)
      break; // the server closes after LOGOUT
    in.append(buf, *n);
  }
  if (in.find("\r\na OK") == std::string::npos)
    return caf::make_error(ec::auth_failed, "raw LOGIN refused");
  auto hit = in.find(a.test_id + "\r\n");
  if (hit == std::string::npos)
    return std::string{};
  auto junk_done = in.find("\r\nf OK");
  return std::string{
      junk_done != std::string::npos && hit > junk_done ? "Junk" : "INBOX"};
}

caf::expected<std::string> etpan_pass(const options& opt,
                                      const load_account& a) {
#ifdef MAILPIPE_HAVE_LIBETPAN
  return load::libetpan_pass(opt.host, opt.tls ? opt.tls_port : opt.port,
                             opt.tls, a.user, a.password, a.test_id);
#else
  return caf::make_error(ec::invalid_argument,
                         "built without libetpan (install libetpan-dev)");
#endif
}

// -- running a pass -----------------------------------------------------------

struct pass_result {
  double seconds = 0;
  std::size_t ok = 0;
  std::size_t wrong = 0;
  std::size_t failed = 0;
  std::vector<double> latencies_ms;
  std::string first_error;
  tls_counters tls;       // handshakes of the timed pass
  double cpu_seconds = 0; // this process's user + system CPU in the pass
};

/// User + system CPU time of this process so far.
double process_cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto sec = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return sec(u.ru_utime) + sec(u.ru_stime);
}

pass_result run_pass(const options& all, const std::vector<load_account>& accts,
                     const std::string& mode_name, std::size_t parallel) {
  // MODE:full is MODE with full TLS handshakes (no session resumption).
  auto opt = all;
  auto mode = mode_name;
  if (mode.size() > 5 && mode.ends_with(":full")) {
    mode.resize(mode.size() - 5);
    opt.tls_resume = false;
  }
  settings cfg;
  cfg.allow_plaintext = true;
  cfg.ca_file = opt.ca_file;
  cfg.connect_timeout = std::chrono::seconds{30};
  cfg.command_timeout = std::chrono::seconds{30};
  cfg.tls_session_resumption = opt.tls_resume;
  // Every pass starts without kept TLS sessions, whatever ran before it.
  connection::clear_tls_sessions();
  endpoint ep{opt.host, opt.tls ? opt.tls_port : opt.port,
              opt.tls ? security::implicit_tls : security::plain, "", ""};
  // Warm mode: what one earlier pass learned about this server is shared by
  // every account on it (capabilities, the junk folder's name).
  session_hints shared;
  if (mode == "client-warm") {
    find_options o;
    o.hints = &shared;
    const auto& a = accts.front();
    auto r = find_test_messages(ep, {a.user, a.password, opt.mechanism},
                                {a.test_id}, o, cfg);
    if (!r)
      throw std::runtime_error("warm-up: " + render(r.error()));
  }
  pass_result res;
  res.latencies_ms.resize(accts.size());
  std::atomic<std::size_t> next{0};
  std::atomic<std::size_t> ok{0}, wrong{0}, failed{0};
  std::mutex mtx;
  auto worker = [&] {
    session_hints hints = shared;
    for (;;) {
      auto i = next++;
      if (i >= accts.size())
        return;
      const auto& a = accts[i];
      auto t0 = clock::now();
      std::string folder;
      caf::error err;
      if (mode == "raw" || mode == "libetpan") {
        auto r = mode == "raw" ? raw_pass(opt, a) : etpan_pass(opt, a);
        if (r)
          folder = *r;
        else
          err = r.error();
      } else {
        find_options o;
        if (mode == "client-warm")
          o.hints = &hints;
        auto r = find_test_messages(ep, {a.user, a.password, opt.mechanism},
                                    {a.test_id}, o, cfg);
        if (!r)
          err = r.error();
        else if (r->size() == 1 && r->front().test_id == a.test_id
                 && r->front().header_block.find(a.test_id)
                        != std::string::npos)
          folder = r->front().folder;
      }
      res.latencies_ms[i] =
          std::chrono::duration<double, std::milli>(clock::now() - t0).count();
      if (err) {
        ++failed;
        std::lock_guard guard{mtx};
        if (res.first_error.empty())
          res.first_error = a.user + ": " + render(err);
      } else if (folder == a.folder) {
        ++ok;
      } else {
        ++wrong;
        std::lock_guard guard{mtx};
        if (res.first_error.empty())
          res.first_error = fmt::format("{}: expected in {}, found in \"{}\"",
                                        a.user, a.folder, folder);
      }
    }
  };
  auto tls0 = connection::tls_stats();
  auto cpu0 = process_cpu_seconds();
  auto t0 = clock::now();
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < parallel; ++t)
    threads.emplace_back(worker);
  for (auto& t : threads)
    t.join();
  res.seconds = std::chrono::duration<double>(clock::now() - t0).count();
  res.cpu_seconds = process_cpu_seconds() - cpu0;
  auto tls1 = connection::tls_stats();
  res.tls = {tls1.handshakes - tls0.handshakes, tls1.offered - tls0.offered,
             tls1.resumed - tls0.resumed};
  res.ok = ok;
  res.wrong = wrong;
  res.failed = failed;
  return res;
}

double percentile(std::vector<double> xs, double p) {
  if (xs.empty())
    return 0;
  std::sort(xs.begin(), xs.end());
  auto idx = static_cast<std::size_t>(p * static_cast<double>(xs.size() - 1));
  return xs[idx];
}

/// Figures of every round, by parallelism and mode.
using by_mode =
    std::map<std::pair<std::size_t, std::string>, std::vector<double>>;

/// "median [min-max]" of `xs`, with `digits` after the point.
std::string spread(std::vector<double> xs, int digits) {
  std::sort(xs.begin(), xs.end());
  auto n = xs.size();
  auto median = n % 2 ? xs[n / 2] : (xs[n / 2 - 1] + xs[n / 2]) / 2;
  return fmt::format("{:.{}f} [{:.{}f}-{:.{}f}]", median, digits, xs.front(),
                     digits, xs.back(), digits);
}

/// Medians and ranges over the rounds, and each mode's accounts/s divided by
/// raw's (raw:full's for a :full mode) of the same round (they ran back to
/// back: a paired comparison).
void print_summary(const options& opt, const by_mode& rates,
                   const by_mode& cpu) {
  fmt::print("\nover {} rounds: median [min-max]\n", opt.rounds);
  auto has = [&](const char* m) {
    return std::find(opt.modes.begin(), opt.modes.end(), m) != opt.modes.end();
  };
  for (auto par : opt.parallel)
    for (const auto& mode : opt.modes) {
      const auto& xs = rates.at({par, mode});
      // MODE:full against raw:full when both ran, otherwise against raw.
      std::string ref =
          mode.ends_with(":full") && has("raw:full") ? "raw:full" : "raw";
      std::string paired;
      if (has(ref.c_str()) && mode != ref) {
        const auto& raw = rates.at({par, ref});
        std::vector<double> ratios;
        for (std::size_t i = 0; i < xs.size() && i < raw.size(); ++i)
          ratios.push_back(xs[i] / raw[i]);
        paired = fmt::format("  /{} {}", ref, spread(ratios, 3));
      }
      fmt::print("{:<16} {:>8} {}{}  cpu us/account {}\n", mode, par,
                 spread(xs, 0), paired, spread(cpu.at({par, mode}), 0));
    }
}

} // namespace

int main(int argc, char** argv) {
  options opt;
  opt.port = static_cast<uint16_t>(
      std::stoi(env_or("MAILPIPE_TEST_IMAP_PORT", "143")));
  opt.tls_port = static_cast<uint16_t>(
      std::stoi(env_or("MAILPIPE_TEST_IMAPS_PORT", "993")));
  opt.host = env_or("MAILPIPE_TEST_IMAP_HOST", "127.0.0.1");
  opt.ca_file = env_or("MAILPIPE_TEST_IMAP_CA");
  opt.users_file = env_or("MAILPIPE_TEST_IMAP_USERS");
  opt.mail_dir = env_or("MAILPIPE_TEST_IMAP_MAIL_DIR");
  CLI::App app{"mailpipe-imap-load: accounts per second of one find-and-fetch "
               "pass against the local Dovecot (defaults from the "
               "tools/dev-services env file)"};
  app.add_option("-n,--accounts", opt.accounts, "seed accounts");
  app.add_option("--messages", opt.messages, "ordinary messages per account");
  app.add_option("-p,--parallel", opt.parallel, "parallelism levels")
      ->delimiter(',');
  app.add_option("-m,--mode", opt.modes,
                 "client (cold: no hints), client-warm (server hints "
                 "shared), raw (hand-pipelined), libetpan (Debian's "
                 "libetpan); MODE:full is MODE without TLS session "
                 "resumption (client, client-warm, raw)")
      ->delimiter(',');
  app.add_option("--host", opt.host);
  app.add_option("--port", opt.port, "plain IMAP port");
  app.add_option("--tls-port", opt.tls_port, "IMAPS port");
  app.add_flag("--tls", opt.tls, "use IMAPS (implicit TLS) instead of plain");
  app.add_option("--ca", opt.ca_file, "CA file for --tls");
  app.add_option("--users-file", opt.users_file, "Dovecot passwd-file");
  app.add_option("--mail-dir", opt.mail_dir, "parent of the accounts' homes");
  app.add_option("--prefix", opt.prefix, "account name prefix");
  app.add_option("--rounds", opt.rounds, "passes per mode and parallelism");
  app.add_option("--rtt-ms", opt.rtt_ms,
                 "add this round-trip time through a local delaying proxy");
  app.add_flag("--serve-proxy", opt.serve_proxy,
               "only run the --rtt-ms proxy (for imapflow-bench.mjs --port)");
  app.add_flag("!--no-tls-resume", opt.tls_resume,
               "no TLS session resumption (every mode does full handshakes)");
  bool use_login = false;
  app.add_flag("--login", use_login,
               "client modes log in with LOGIN instead of AUTHENTICATE PLAIN");
  CLI11_PARSE(app, argc, argv);
  if (use_login)
    opt.mechanism = credentials::method::login;
  if (opt.users_file.empty() || opt.mail_dir.empty()) {
    fmt::print(stderr, "need --users-file and --mail-dir (or source the "
                       "dev-services env file)\n");
    return 2;
  }
  try {
    auto t0 = clock::now();
    auto accts = setup(opt);
    std::unique_ptr<delay_proxy> proxy;
    if (opt.rtt_ms > 0) {
      auto half =
          std::chrono::microseconds{static_cast<int64_t>(opt.rtt_ms * 500)};
      proxy = std::make_unique<delay_proxy>(
          opt.host, opt.tls ? opt.tls_port : opt.port, half);
      (opt.tls ? opt.tls_port : opt.port) = proxy->port();
      opt.host = "127.0.0.1";
      fmt::print("delaying proxy on 127.0.0.1:{} ({} ms round trip)\n",
                 proxy->port(), opt.rtt_ms);
      std::fflush(stdout);
      if (opt.serve_proxy)
        for (;;)
          std::this_thread::sleep_for(std::chrono::hours{1});
    }
    fmt::print("accounts: {} ({} messages each), setup {:.1f} s, "
               "allocator: {}\n",
               accts.size(), opt.messages + 1,
               std::chrono::duration<double>(clock::now() - t0).count(),
               MAILPIPE_ALLOCATOR);
    // Warm Dovecot's indexes once, untimed, so no client pays for them.
    auto warm = run_pass(opt, accts, "raw", 4);
    fmt::print("index warm-up: {:.1f} s, {} ok\n", warm.seconds, warm.ok);
    int status = 0;
    fmt::print("{:<16} {:>8} {:>10} {:>9} {:>9} {:>6} {:>6} {:>8} {:>9}\n",
               "mode", "parallel", "accounts/s", "p50 ms", "p99 ms", "wrong",
               "fail", "resumed", "cpu us/a");
    // accounts/s of every round, by parallelism and mode
    by_mode rates;
    // this process's CPU microseconds per account, likewise
    auto cpu = rates;
    // Odd rounds run the modes in reverse order, so that no mode always
    // follows the same one (the server's caches, the machine's other load).
    for (int round = 0; round < opt.rounds; ++round)
      for (auto par : opt.parallel)
        for (std::size_t k = 0; k < opt.modes.size(); ++k) {
          const auto& mode =
              opt.modes[round % 2 == 0 ? k : opt.modes.size() - 1 - k];
          auto r = run_pass(opt, accts, mode, par);
          rates[{par, mode}].push_back(static_cast<double>(accts.size())
                                       / r.seconds);
          cpu[{par, mode}].push_back(r.cpu_seconds * 1e6
                                     / static_cast<double>(accts.size()));
          // Handshakes of mailpipe's connection class (client and raw).
          auto resumed = r.tls.handshakes == 0
                             ? std::string{"-"}
                             : fmt::format("{:.0f}%", 100.0 * r.tls.resumed
                                                          / r.tls.handshakes);
          fmt::print(
              "{:<16} {:>8} {:>10.0f} {:>9.2f} {:>9.2f} {:>6} {:>6} {:>8} "
              "{:>9.0f}\n",
              mode, par, static_cast<double>(accts.size()) / r.seconds,
              percentile(r.latencies_ms, 0.5), percentile(r.latencies_ms, 0.99),
              r.wrong, r.failed, resumed,
              r.cpu_seconds * 1e6 / static_cast<double>(accts.size()));
          if (!r.first_error.empty()) {
            fmt::print("  first problem: {}\n", r.first_error);
            status = 1;
          }
          std::fflush(stdout);
        }
    if (opt.rounds > 1)
      print_summary(opt, rates, cpu);
    return status;
  } catch (const std::exception& e) {
    fmt::print(stderr, "mailpipe-imap-load: {}\n", e.what());
    return 1;
  }
}
