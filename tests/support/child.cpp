#include "tests/support/child.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <thread>

#include <gtest/gtest.h>

namespace mailpipe::test {

child_process::child_process(const std::vector<std::string>& argv,
                             const std::vector<std::string>& env,
                             const std::string& name) {
  log_path_ =
      ::testing::TempDir() + name + "-" + std::to_string(getpid()) + ".out";
  pid_ = fork();
  if (pid_ != 0)
    return;
  auto fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  dup2(fd, 1);
  dup2(fd, 2);
  for (auto& kv : env)
    putenv(const_cast<char*>(kv.c_str()));
  std::vector<char*> args;
  for (auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execv(args[0], args.data());
  _exit(127);
}

child_process::~child_process() {
  if (running()) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

void child_process::signal(int sig) const {
  if (pid_ > 0)
    kill(pid_, sig);
}

bool child_process::running() {
  if (pid_ <= 0)
    return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) != pid_)
    return true;
  pid_ = -1;
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return false;
}

int child_process::wait_exit(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline)
      return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
  return exit_code_;
}

std::string child_process::output() const {
  std::ifstream in{log_path_};
  return {std::istreambuf_iterator<char>{in}, {}};
}

} // namespace mailpipe::test
