#include "tests/support/env.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <pqxx/pqxx>

extern char** environ;

namespace mailpipe::test {

std::string env(const char* name) {
  auto value = std::getenv(name);
  return value ? value : "";
}

namespace {

// Replaces the database path of a postgresql:// URL.
std::string with_database(const std::string& url, const std::string& db) {
  auto scheme = url.find("://");
  auto slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  auto query = url.find('?');
  std::string base = slash == std::string::npos ? url : url.substr(0, slash);
  std::string tail = query == std::string::npos ? "" : url.substr(query);
  return base + "/" + db + tail;
}

} // namespace

scratch_database::scratch_database() {
  admin_url_ = env("MAILPIPE_TEST_DATABASE_URL");
  if (admin_url_.empty())
    return;
  std::random_device rd;
  name_ = fmt::format("mailpipe_t_{:08x}{:08x}", rd(), rd());
  try {
    pqxx::connection c{admin_url_};
    pqxx::nontransaction tx{c};
    tx.exec("CREATE DATABASE " + tx.quote_name(name_));
    url_ = with_database(admin_url_, name_);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "cannot create scratch database: " << e.what();
  }
}

scratch_database::~scratch_database() {
  if (url_.empty())
    return;
  try {
    pqxx::connection c{admin_url_};
    pqxx::nontransaction tx{c};
    tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name_)
            + " WITH (FORCE)");
  } catch (const std::exception& e) {
    ADD_FAILURE() << "cannot drop scratch database: " << e.what();
  }
}

run_result run_process(const std::vector<std::string>& argv,
                       const std::vector<std::string>& extra_env,
                       const std::string& input) {
  run_result result;
  int in[2], out[2], err[2];
  if (pipe(in) != 0 || pipe(out) != 0 || pipe(err) != 0)
    return result;
  auto pid = fork();
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]})
      close(fd);
    for (auto& kv : extra_env)
      putenv(const_cast<char*>(kv.c_str()));
    std::vector<char*> args;
    for (auto& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  close(err[1]);
  size_t written = 0;
  if (input.empty())
    close(in[1]), in[1] = -1;
  pollfd fds[3] = {
      {out[0], POLLIN, 0}, {err[0], POLLIN, 0}, {in[1], POLLOUT, 0}};
  int open_reads = 2;
  char buf[65536];
  while (open_reads > 0) {
    int nfds = in[1] >= 0 ? 3 : 2;
    if (poll(fds, nfds, -1) < 0)
      break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd >= 0 && (fds[i].revents & (POLLIN | POLLHUP))) {
        auto n = read(fds[i].fd, buf, sizeof(buf));
        if (n <= 0) {
          close(fds[i].fd);
          fds[i].fd = -1;
          --open_reads;
        } else {
          (i == 0 ? result.out : result.err).append(buf, n);
        }
      }
    }
    if (in[1] >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
      auto n = write(in[1], input.data() + written, input.size() - written);
      if (n > 0)
        written += n;
      if (n <= 0 || written == input.size()) {
        close(in[1]);
        in[1] = -1;
        fds[2].fd = -1;
      }
    }
  }
  if (in[1] >= 0)
    close(in[1]);
  int status = 0;
  waitpid(pid, &status, 0);
  result.status =
      WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

std::string mailpipe_binary() {
  return MAILPIPE_BINARY;
}

std::string source_path(const std::string& relative) {
  return std::string{MAILPIPE_SOURCE_DIR} + "/" + relative;
}

bool eventually(const std::string& url, const std::string& sql,
                std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    try {
      pqxx::connection c{url};
      pqxx::nontransaction tx{c};
      if (tx.exec1(sql)[0].as<bool>())
        return true;
    } catch (...) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
  return false;
}

} // namespace mailpipe::test
