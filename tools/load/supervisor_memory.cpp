// mailpipe-supervisor-memory: what an idle account supervisor costs. Spawns N
// supervisors (`sys.spawn(supervisor, id, context)`) on a pipeline context with no
// stores (nothing is sent to them), waits until the process is idle and reports the
// resident set before and after, per supervisor; the same for N empty stateful actors
// (CAF's floor). Each kind is measured in a fresh child process, so that neither
// reuses memory the other freed.

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <fmt/format.h>

#include "actors/supervisor.hpp"
#include "messages/fwd.hpp"

// jemalloc's control interface, when the program runs on it (mailpipe_allocator).
extern "C" int mallctl(const char*, void*, size_t*, void*, size_t)
    __attribute__((weak));

using namespace mailpipe;

namespace {

// -- measuring ----------------------------------------------------------------

/// The resident set of this process (VmRSS of /proc/self/status), bytes.
int64_t rss_bytes() {
  std::ifstream in{"/proc/self/status"};
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stoll(line.substr(6)) * 1024;
  return -1;
}

/// Bytes the allocator has handed out and not taken back (jemalloc's
/// stats.allocated), or -1 under another allocator.
int64_t heap_bytes() {
  if (!mallctl)
    return -1;
  uint64_t epoch = 1;
  size_t len = sizeof epoch;
  mallctl("epoch", &epoch, &len, &epoch, len);
  size_t allocated = 0;
  len = sizeof allocated;
  if (mallctl("stats.allocated", &allocated, &len, nullptr, 0) != 0)
    return -1;
  return static_cast<int64_t>(allocated);
}

/// Waits until the resident set has not moved for a second (every actor has run its
/// initialization and the scheduler's workers are idle), at most 60 s.
void wait_until_idle() {
  auto last = rss_bytes();
  int steady = 0;
  for (int i = 0; i < 600 && steady < 10; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
    auto now = rss_bytes();
    steady = now == last ? steady + 1 : 0;
    last = now;
  }
}

// -- the actors ---------------------------------------------------------------

/// The floor: an actor with a typed interface and an empty state.
using empty_actor = caf::typed_actor<caf::reacts_to<atom::tick>>;

struct empty_state {
  static inline const char* name = "empty";
};

empty_actor::behavior_type empty(empty_actor::stateful_pointer<empty_state>) {
  return {[](atom::tick) {}};
}

class memory_system_config : public caf::actor_system_config {
public:
  memory_system_config() { register_message_types(*this); }
};

/// What one kind of actor cost, as the child measured it.
struct figures {
  int64_t rss_before = 0, rss_after = 0;
  int64_t heap_before = 0, heap_after = 0;
  double spawn_seconds = 0;
};

/// Spawns `n` actors of `kind` ("supervisor" or "empty") in a fresh actor system and
/// measures the process before and after.
figures measure(const std::string& kind, std::size_t n) {
  memory_system_config cfg;
  caf::actor_system sys{cfg};
  auto context = std::make_shared<const pipeline_context>();
  std::vector<supervisor_actor> supervisors;
  std::vector<empty_actor> empties;
  // The handles are the harness's, not the actors': reserved before the first figure.
  if (kind == "supervisor")
    supervisors.reserve(n);
  else
    empties.reserve(n);
  wait_until_idle();
  figures f;
  f.rss_before = rss_bytes();
  f.heap_before = heap_bytes();
  auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < n; ++i)
    if (kind == "supervisor")
      supervisors.push_back(
          sys.spawn(supervisor, static_cast<int64_t>(i + 1), context));
    else
      empties.push_back(sys.spawn(empty));
  f.spawn_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  wait_until_idle();
  f.rss_after = rss_bytes();
  f.heap_after = heap_bytes();
  for (auto& s : supervisors)
    caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
  for (auto& e : empties)
    caf::anon_send_exit(e, caf::exit_reason::user_shutdown);
  return f;
}

// -- reporting ----------------------------------------------------------------

void print_figures(const std::string& kind, std::size_t n, const figures& f) {
  auto per = [n](int64_t before, int64_t after) {
    return static_cast<double>(after - before) / static_cast<double>(n);
  };
  std::string heap =
      f.heap_after < 0
          ? std::string{"-"}
          : fmt::format("{:.0f}", per(f.heap_before, f.heap_after));
  fmt::print("{:<12} {:>8} {:>10.1f} {:>10.1f} {:>12.0f} {:>12} {:>8.2f}\n",
             kind, n, f.rss_before / 1048576.0, f.rss_after / 1048576.0,
             per(f.rss_before, f.rss_after), heap, f.spawn_seconds);
  std::fflush(stdout);
}

/// Measures `kind` in a child process (a fresh heap); false when it failed.
bool measure_in_child(const std::string& kind, std::size_t n) {
  std::fflush(stdout);
  pid_t pid = ::fork();
  if (pid == 0) {
    print_figures(kind, n, measure(kind, n));
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

} // namespace

int main(int argc, char** argv) {
  std::size_t n = 100'000;
  CLI::App app{"mailpipe-supervisor-memory: resident memory of idle account "
               "supervisors"};
  app.add_option("-n,--actors", n, "actors of each kind");
  CLI11_PARSE(app, argc, argv);
  fmt::print(
      "allocator: {}; sizeof(supervisor_state) {} B, "
      "sizeof(stateful_actor<supervisor_state>) {} B, "
      "sizeof(connection_knowledge) {} B, "
      "sizeof(stateful_actor<empty_state>) {} B\n",
      MAILPIPE_ALLOCATOR, sizeof(supervisor_state),
      sizeof(caf::stateful_actor<supervisor_state, supervisor_actor::base>),
      sizeof(connection_knowledge),
      sizeof(caf::stateful_actor<empty_state, empty_actor::base>));
  fmt::print("{:<12} {:>8} {:>10} {:>10} {:>12} {:>12} {:>8}\n", "actor",
             "count", "RSS0 MiB", "RSS1 MiB", "RSS B/actor", "heap B/actor",
             "spawn s");
  bool ok = measure_in_child("empty", n) && measure_in_child("supervisor", n);
  return ok ? 0 : 1;
}
