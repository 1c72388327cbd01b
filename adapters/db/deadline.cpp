#include "adapters/db/deadline.hpp"

#include <sys/socket.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include <fmt/format.h>

namespace mailpipe::db {

namespace {

using steady = std::chrono::steady_clock;

// One thread for the whole process; it only ever shuts sockets down, under the mutex that
// the guards take to disarm, so it never touches a socket whose guard is gone.
class watchdog {
public:
  static watchdog& instance() {
    // Leaked on purpose: the thread may outlive static destruction at exit.
    static auto* dog = new watchdog;
    return *dog;
  }

  uint64_t arm(int fd, steady::time_point deadline) {
    std::lock_guard<std::mutex> guard{mtx_};
    auto id = ++last_id_;
    armed_[id] = entry{fd, deadline, false};
    // Calls mostly arm deadlines later than those already armed: the thread is
    // woken only when it would sleep past this one, not once per call.
    if (deadline < wakes_at_)
      cv_.notify_one();
    return id;
  }

  // Returns whether the deadline had passed.
  bool disarm(uint64_t id) {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = armed_.find(id);
    if (i == armed_.end())
      return false;
    auto expired = i->second.expired;
    armed_.erase(i);
    return expired;
  }

  bool expired(uint64_t id) {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = armed_.find(id);
    return i != armed_.end() && i->second.expired;
  }

private:
  struct entry {
    int fd;
    steady::time_point deadline;
    bool expired;
  };

  watchdog() {
    std::thread{[this] { loop(); }}.detach();
  }

  void loop() {
    std::unique_lock<std::mutex> lock{mtx_};
    for (;;) {
      auto next = steady::time_point::max();
      auto now = steady::now();
      for (auto& [id, e] : armed_) {
        if (e.expired)
          continue;
        if (e.deadline <= now) {
          ::shutdown(e.fd, SHUT_RDWR);
          e.expired = true;
        } else {
          next = std::min(next, e.deadline);
        }
      }
      wakes_at_ = next;
      if (next == steady::time_point::max())
        cv_.wait(lock);
      else
        cv_.wait_until(lock, next);
    }
  }

  std::mutex mtx_;
  std::condition_variable cv_;
  std::map<uint64_t, entry> armed_;
  uint64_t last_id_ = 0;
  // When the thread next looks at the deadlines (max: when woken; min: it has
  // not slept yet).
  steady::time_point wakes_at_ = steady::time_point::min();
};

} // namespace

call_deadline::call_deadline(pqxx::connection_base& conn, duration timeout) {
  auto fd = conn.sock();
  if (fd >= 0)
    id_ = watchdog::instance().arm(fd, steady::now() + timeout);
}

call_deadline::~call_deadline() {
  if (id_ != 0)
    watchdog::instance().disarm(id_);
}

bool call_deadline::expired() const {
  return id_ != 0 && watchdog::instance().expired(id_);
}

caf::error no_answer(std::string_view what, duration timeout) {
  return caf::make_error(
      ec::database_unavailable,
      fmt::format("{}: no answer from the database within {}", what,
                  format_duration(timeout)));
}

duration call_timeout(const database_config& cfg) {
  return cfg.statement_timeout + cfg.connect_timeout;
}

} // namespace mailpipe::db
