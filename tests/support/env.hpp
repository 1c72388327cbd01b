#pragma once

#include <chrono>
#include <string>

#include <gtest/gtest.h>

namespace mailpipe::test {

/// Returns the environment variable `name`, or "" when unset.
std::string env(const char* name);

/// A fresh PostgreSQL database on the harness's server, dropped when this goes out of scope.
class scratch_database {
public:
  /// Creates `mailpipe_t_<random>`; `url()` is empty (and a failure recorded) without a server.
  scratch_database();
  ~scratch_database();
  scratch_database(const scratch_database&) = delete;
  scratch_database& operator=(const scratch_database&) = delete;

  /// The connection URL of the new database.
  const std::string& url() const { return url_; }

  /// The database's name.
  const std::string& name() const { return name_; }

private:
  std::string admin_url_;
  std::string name_;
  std::string url_;
};

/// Result of running a child process.
struct run_result {
  /// The exit code (or 128 + signal).
  int status = -1;
  /// Everything written to stdout.
  std::string out;
  /// Everything written to stderr.
  std::string err;
};

/// Runs `argv` (argv[0] a path), feeding `input` on stdin, with extra `KEY=VALUE` env entries.
run_result run_process(const std::vector<std::string>& argv,
                       const std::vector<std::string>& extra_env = {},
                       const std::string& input = {});

/// Polls `sql` (one boolean) on `url` every 50 ms until it answers true, or
/// `timeout`; a failed connection or query counts as false.
bool eventually(const std::string& url, const std::string& sql,
                std::chrono::milliseconds timeout);

/// Path of the built `mailpipe` binary.
std::string mailpipe_binary();

/// Path of a file under the source tree, e.g. `source_path("tests/data/x.eml")`.
std::string source_path(const std::string& relative);

} // namespace mailpipe::test

/// Fails the current test (and returns) when an environment variable the harness sets is missing.
#define MAILPIPE_REQUIRE_ENV(var, name)                                        \
  const std::string var = ::mailpipe::test::env(name);                         \
  if (var.empty())                                                             \
  GTEST_FAIL() << name                                                         \
               << " is not set: run the tests with tools/test, which "         \
                  "starts PostgreSQL and Dovecot and sets it"

/// Creates a scratch database `db` or fails the current test.
#define MAILPIPE_SCRATCH_DATABASE(db)                                          \
  ::mailpipe::test::scratch_database db;                                       \
  if (db.url().empty())                                                        \
  GTEST_FAIL() << "no PostgreSQL: run the tests with tools/test"
