#pragma once

// A program started in the background (a `mailpipe run` node), its output in a
// file.

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace mailpipe::test {

/// A child process running `argv` with extra `KEY=VALUE` environment entries;
/// stdout and stderr go to a file under the test's temporary folder. Killed
/// when destroyed.
class child_process {
public:
  child_process(const std::vector<std::string>& argv,
                const std::vector<std::string>& env, const std::string& name);
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  /// The child's process id (-1 once reaped).
  pid_t pid() const { return pid_; }

  /// Sends `sig`.
  void signal(int sig) const;

  /// True while it runs.
  bool running();

  /// Waits for the exit code (128 + signal when killed); -1 if still running
  /// after `timeout`.
  int wait_exit(std::chrono::milliseconds timeout);

  /// Everything it wrote so far.
  std::string output() const;

private:
  pid_t pid_ = -1;
  int exit_code_ = -1;
  std::string log_path_;
};

} // namespace mailpipe::test
