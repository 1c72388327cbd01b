#include "tests/support/dovecot.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/support/env.hpp"

namespace mailpipe::test {

namespace {

// The fields of a passwd-file line (user:{PLAIN}pw:UID:GID::HOME::).
std::vector<std::string> fields(const std::string& line) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    auto c = line.find(':', start);
    out.push_back(line.substr(start, c - start));
    if (c == std::string::npos)
      return out;
    start = c + 1;
  }
}

} // namespace

std::string random_hex(std::size_t n) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string out;
  while (out.size() < n)
    out += fmt::format("{:016x}", rng());
  out.resize(n);
  return out;
}

std::string sample_message(const std::string& test_id,
                           const std::string& sample) {
  std::ifstream in{source_path("tests/data/messages/" + sample),
                   std::ios::binary};
  std::stringstream body;
  body << in.rdbuf();
  EXPECT_FALSE(body.str().empty()) << "no sample message " << sample;
  return fmt::format("X-Mailpipe-Test-Id: {}\r\n{}", test_id, body.str());
}

dovecot::dovecot() {
  auto port = env("MAILPIPE_TEST_IMAP_PORT");
  users_file_ = env("MAILPIPE_TEST_IMAP_USERS");
  conf_ = env("MAILPIPE_TEST_DOVECOT_CONF");
  ok_ = !port.empty() && !users_file_.empty() && !conf_.empty();
  if (!ok_) {
    ADD_FAILURE()
        << "MAILPIPE_TEST_IMAP_* is not set: run the tests with tools/test";
    return;
  }
  port_ = static_cast<uint16_t>(std::stoi(port));
}

std::vector<seed_user> dovecot::add_users(std::size_t n) {
  std::ifstream in{users_file_};
  std::string first;
  std::getline(in, first);
  auto f = fields(first);
  if (f.size() < 6) {
    ADD_FAILURE() << "unexpected passwd-file line: " << first;
    return {};
  }
  auto home_parent = f[5].substr(0, f[5].rfind('/'));
  std::vector<seed_user> users;
  std::string lines;
  for (std::size_t i = 0; i < n; ++i) {
    auto local = "p" + random_hex(12);
    users.push_back({local + "@mailpipe.test", "pw-" + random_hex(16)});
    lines += fmt::format("{}:{{PLAIN}}{}:{}:{}::{}/{}::\n", users.back().email,
                         users.back().password, f[2], f[3], home_parent, local);
  }
  int fd = ::open(users_file_.c_str(), O_WRONLY | O_APPEND);
  EXPECT_GE(fd, 0) << users_file_;
  EXPECT_EQ(::write(fd, lines.data(), lines.size()),
            static_cast<ssize_t>(lines.size()));
  ::close(fd);
  // Dovecot re-reads the passwd-file at most once a second.
  for (int i = 0; i < 50 && !users.empty(); ++i) {
    if (run_process(
            {"/usr/bin/doveadm", "-c", conf_, "user", users.back().email})
            .status
        == 0)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
  return users;
}

bool dovecot::deliver(const seed_user& user, const std::string& folder,
                      const std::string& message) {
  auto r = run_process(
      {"/usr/bin/doveadm", "-c", conf_, "save", "-u", user.email, "-m", folder},
      {}, message);
  EXPECT_EQ(r.status, 0) << r.err;
  return r.status == 0;
}

} // namespace mailpipe::test
