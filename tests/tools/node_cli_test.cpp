// `mailpipe migrate` and `mailpipe run` say what went wrong: a lock
// held by another migration, a database migrated by a newer binary, a refused
// privilege, a database never migrated, a refused password, a node name already held.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "tests/support/child.hpp"
#include "tests/support/env.hpp"

using namespace mailpipe::test;
using namespace std::chrono_literals;

namespace {

// "mailpipe" as a 64-bit integer: the advisory lock of adapters/db/migrate.cpp.
constexpr int64_t migration_lock_key = 0x6d61696c70697065;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string write_temp(const std::string& name, const std::string& text) {
  auto path =
      fmt::format("{}node-cli-{}-{}", ::testing::TempDir(), getpid(), name);
  std::ofstream{path} << text;
  return path;
}

run_result mailpipe_cmd(std::vector<std::string> args,
                        std::vector<std::string> env = {}) {
  args.insert(args.begin(), mailpipe_binary());
  return run_process(args, env);
}

run_result migrate(const std::string& url, std::vector<std::string> args = {}) {
  args.insert(args.begin(), "migrate");
  return mailpipe_cmd(args, {"MAILPIPE_DATABASE_URL=" + url});
}

void exec(const std::string& url, const std::string& sql) {
  pqxx::connection c{url};
  pqxx::nontransaction{c}.exec(sql);
}

// `url` with its user replaced (postgresql://USER@host...).
std::string with_user(const std::string& url, const std::string& user) {
  auto start = url.find("://") + 3;
  auto at = url.find('@', start);
  if (at == std::string::npos)
    return url.substr(0, start) + user + "@" + url.substr(start);
  return url.substr(0, start) + user + url.substr(at);
}

// A `mailpipe run` node named `name` on `db_url`, heartbeat every 200 ms.
std::unique_ptr<child_process> start_node(const std::string& db_url,
                                          const std::string& name,
                                          const std::string& label) {
  auto cfg =
      write_temp(label + ".toml", fmt::format("[node]\nname = \"{}\"\n"
                                              "heartbeat_interval = \"200ms\"\n"
                                              "dead_after = \"2s\"\n"
                                              "shutdown_grace = \"3s\"\n"
                                              "[http]\nlisten = \"\"\n",
                                              name));
  return std::make_unique<child_process>(
      std::vector<std::string>{mailpipe_binary(), "--config", cfg, "run"},
      std::vector<std::string>{"MAILPIPE_DATABASE_URL=" + db_url},
      "node-cli-" + label);
}

// Waits until the child's output contains `part`.
bool output_shows(child_process& child, const std::string& part,
                  std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (contains(child.output(), part))
      return true;
    std::this_thread::sleep_for(50ms);
  }
  return contains(child.output(), part);
}

// A stand-in PostgreSQL that refuses every password the way PostgreSQL does: it declines
// SSL and GSS encryption, asks for a cleartext password, then answers the password with
// FATAL 28P01 "password authentication failed for user ...". (The harness's PostgreSQL
// trusts every connection, so it never refuses a password.)
class refusing_postgres {
public:
  refusing_postgres() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0
        || listen(fd_, 16) != 0)
      ADD_FAILURE() << "stand-in PostgreSQL: " << std::strerror(errno);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread{[this] { serve(); }};
  }

  ~refusing_postgres() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }

  int port() const { return port_; }
  int refused() const { return refused_; }

private:
  static bool read_exact(int fd, void* buf, size_t n) {
    auto p = static_cast<char*>(buf);
    while (n > 0) {
      pollfd pfd{fd, POLLIN, 0};
      if (poll(&pfd, 1, 2000) <= 0)
        return false;
      auto got = read(fd, p, n);
      if (got <= 0)
        return false;
      p += got;
      n -= static_cast<size_t>(got);
    }
    return true;
  }

  static void write_all(int fd, const std::string& data) {
    size_t done = 0;
    while (done < data.size()) {
      auto n = write(fd, data.data() + done, data.size() - done);
      if (n <= 0)
        return;
      done += static_cast<size_t>(n);
    }
  }

  static std::string be32(uint32_t v) {
    v = htonl(v);
    return {reinterpret_cast<const char*>(&v), 4};
  }

  // One connection: startup (after declined encryption requests), password, refusal.
  void handle(int fd) {
    std::string user = "?";
    for (;;) {
      uint32_t len = 0;
      if (!read_exact(fd, &len, 4))
        return;
      len = ntohl(len);
      if (len < 8 || len > 10000)
        return;
      std::string body(len - 4, '\0');
      if (!read_exact(fd, body.data(), body.size()))
        return;
      uint32_t code = 0;
      std::memcpy(&code, body.data(), 4);
      code = ntohl(code);
      if (code == 80877103 || code == 80877104) { // SSLRequest, GSSENCRequest
        write_all(fd, "N");
        continue;
      }
      if (code != 196608) // protocol 3.0
        return;
      // key\0value\0 ... \0
      for (size_t pos = 4; pos < body.size() && body[pos] != '\0';) {
        std::string key = body.c_str() + pos;
        pos += key.size() + 1;
        std::string value = body.c_str() + pos;
        pos += value.size() + 1;
        if (key == "user")
          user = value;
      }
      break;
    }
    write_all(fd, "R" + be32(8) + be32(3)); // AuthenticationCleartextPassword
    char type = 0;
    uint32_t len = 0;
    if (!read_exact(fd, &type, 1) || type != 'p' || !read_exact(fd, &len, 4))
      return;
    std::string password(ntohl(len) - 4, '\0');
    if (!read_exact(fd, password.data(), password.size()))
      return;
    std::string fields;
    fields += std::string{"SFATAL"} + '\0';
    fields += std::string{"VFATAL"} + '\0';
    fields += std::string{"C28P01"} + '\0';
    fields +=
        "Mpassword authentication failed for user \"" + user + "\"" + '\0';
    fields += std::string{"Rauth_failed"} + '\0';
    fields += '\0';
    write_all(fd,
              "E" + be32(static_cast<uint32_t>(fields.size() + 4)) + fields);
    ++refused_;
  }

  void serve() {
    while (!stop_) {
      pollfd pfd{fd_, POLLIN, 0};
      if (poll(&pfd, 1, 50) <= 0)
        continue;
      int client = accept(fd_, nullptr, nullptr);
      if (client < 0)
        continue;
      handle(client);
      close(client);
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> refused_{0};
  std::thread thread_;
};

} // namespace

// -- migrate ------------------------------------------------------------------

TEST(node_cli, migrate_while_another_holds_the_lock_names_the_holder) {
  MAILPIPE_SCRATCH_DATABASE(db);
  pqxx::connection holder{db.url()};
  int holder_pid = 0;
  {
    pqxx::nontransaction tx{holder};
    tx.exec("SET application_name = 'lock-holder-test'");
    tx.exec_params("SELECT pg_advisory_lock($1)", migration_lock_key);
    holder_pid = tx.exec1("SELECT pg_backend_pid()")[0].as<int>();
  }
  auto start = std::chrono::steady_clock::now();
  auto r = migrate(db.url(), {"--lock-wait", "1s"});
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, "another migration holds the lock")) << r.err;
  EXPECT_TRUE(contains(r.err, fmt::format("pid {}", holder_pid))) << r.err;
  EXPECT_TRUE(contains(r.err, "lock-holder-test")) << r.err;
  EXPECT_TRUE(contains(r.err, "try again")) << r.err;
  EXPECT_FALSE(contains(r.err, "statement timeout")) << r.err;
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 10s);
  EXPECT_FALSE(contains(r.out, "applied 0001")) << r.out;

  // Once it is released, migrate runs.
  pqxx::nontransaction{holder}.exec_params("SELECT pg_advisory_unlock($1)",
                                           migration_lock_key);
  r = migrate(db.url());
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "applied 0001")) << r.out;
  EXPECT_EQ(migrate(db.url(), {"--lock-wait", "soon"}).status, 2);
}

TEST(node_cli, migrate_reports_migrations_of_a_newer_binary) {
  MAILPIPE_SCRATCH_DATABASE(db);
  ASSERT_EQ(migrate(db.url()).status, 0);
  exec(db.url(), "INSERT INTO schema_migrations (version, name, checksum) "
                 "VALUES (9999, 'from_a_newer_binary', 'abc')");
  auto r = migrate(db.url());
  // Every migration this binary needs is applied: exit 0 (see docs/foundation.md), but
  // not "up to date", and the unknown migration is named.
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(contains(r.out, "up to date")) << r.out;
  EXPECT_TRUE(contains(r.out, "ahead of this binary")) << r.out;
  EXPECT_TRUE(contains(r.err, "warning")) << r.err;
  EXPECT_TRUE(contains(r.err, "9999 from_a_newer_binary")) << r.err;
  EXPECT_TRUE(contains(r.err, "newer mailpipe")) << r.err;
  auto status = migrate(db.url(), {"--status"});
  EXPECT_TRUE(contains(status.out, "(unknown to this binary)")) << status.out;
}

TEST(node_cli, migrate_without_the_create_privilege_shows_the_sqlstate) {
  MAILPIPE_SCRATCH_DATABASE(db);
  std::random_device rd;
  auto role = fmt::format("mailpipe_t_role_{:08x}", rd());
  // PostgreSQL 15 grants PUBLIC no CREATE on the public schema; the role may connect only.
  exec(db.url(), fmt::format("CREATE ROLE {} LOGIN", role));
  auto r = migrate(with_user(db.url(), role));
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, "permission denied")) << r.err;
  EXPECT_TRUE(contains(r.err, "(SQLSTATE 42501)")) << r.err;
  exec(db.url(), fmt::format("DROP ROLE {}", role));
}

// -- run ----------------------------------------------------------------------

TEST(node_cli, run_warns_of_migrations_of_a_newer_binary) {
  MAILPIPE_SCRATCH_DATABASE(db);
  ASSERT_EQ(migrate(db.url()).status, 0);
  exec(db.url(), "INSERT INTO schema_migrations (version, name, checksum) "
                 "VALUES (9999, 'from_a_newer_binary', 'abc')");
  auto node = start_node(db.url(), "newer-schema", "newer-schema");
  EXPECT_TRUE(output_shows(*node, "9999 from_a_newer_binary", 10s))
      << node->output();
  EXPECT_TRUE(contains(node->output(), "newer mailpipe")) << node->output();
  EXPECT_TRUE(node->running()) << node->output();
  node->signal(SIGTERM);
  EXPECT_EQ(node->wait_exit(15s), 0) << node->output();
}

TEST(node_cli, run_on_a_never_migrated_database_exits_1_saying_to_migrate) {
  MAILPIPE_SCRATCH_DATABASE(db);
  auto node = start_node(db.url(), "unmigrated", "unmigrated");
  EXPECT_EQ(node->wait_exit(15s), 1) << node->output();
  auto out = node->output();
  EXPECT_TRUE(contains(out, "run `mailpipe migrate` first")) << out;
  EXPECT_FALSE(
      eventually(db.url(), "SELECT to_regclass('nodes') IS NOT NULL", 100ms));
}

TEST(node_cli, run_with_a_refused_password_stops_and_says_so) {
  refusing_postgres server;
  auto url = fmt::format(
      "postgresql://mailpipe:Wrong-Pw-77@127.0.0.1:{}/mailpipe", server.port());
  auto start = std::chrono::steady_clock::now();
  auto node = start_node(url, "refused-pw", "refused-pw");
  EXPECT_EQ(node->wait_exit(15s), 1) << node->output();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  auto out = node->output();
  EXPECT_TRUE(
      contains(out, "password authentication failed for user \"mailpipe\""))
      << out;
  EXPECT_TRUE(contains(out, "critical")) << out;
  EXPECT_FALSE(contains(out, "Wrong-Pw-77")) << out;
  EXPECT_GE(server.refused(), 1);
}

// A role that does not exist (SQLSTATE 28000) is as final as a refused password; libpq's
// connection error carries no SQLSTATE, only 'FATAL:  role "x" does not exist'.
TEST(node_cli, run_with_a_role_that_does_not_exist_stops_and_says_so) {
  MAILPIPE_SCRATCH_DATABASE(db);
  auto node = start_node(with_user(db.url(), "mailpipe_t_no_such_role"),
                         "no-role", "no-role");
  EXPECT_EQ(node->wait_exit(15s), 1) << node->output();
  EXPECT_TRUE(contains(node->output(),
                       "role \"mailpipe_t_no_such_role\" does not exist"))
      << node->output();
}

TEST(node_cli,
     a_second_node_with_a_live_name_refuses_to_start_naming_the_holder) {
  MAILPIPE_SCRATCH_DATABASE(db);
  ASSERT_EQ(migrate(db.url()).status, 0);
  auto first = start_node(db.url(), "twin", "twin-1");
  ASSERT_TRUE(eventually(
      db.url(),
      fmt::format("SELECT count(*) = 1 FROM nodes WHERE name = 'twin' "
                  "AND pid = {} AND heartbeat_at > started_at",
                  first->pid()),
      10s))
      << first->output();
  auto second = start_node(db.url(), "twin", "twin-2");
  EXPECT_EQ(second->wait_exit(15s), 1) << second->output();
  auto out = second->output();
  EXPECT_TRUE(contains(out, "node name 'twin' is held by a live node")) << out;
  EXPECT_TRUE(contains(out, fmt::format("(pid {}", first->pid()))) << out;
  // The first keeps running, and its row is still its own and fresh.
  std::this_thread::sleep_for(600ms);
  EXPECT_TRUE(first->running()) << first->output();
  EXPECT_TRUE(eventually(
      db.url(),
      fmt::format("SELECT count(*) = 1 FROM nodes WHERE name = 'twin' "
                  "AND pid = {} AND stopped_at IS NULL AND "
                  "heartbeat_at > now() - interval '1 second'",
                  first->pid()),
      2s));
  first->signal(SIGTERM);
  EXPECT_EQ(first->wait_exit(15s), 0) << first->output();
  EXPECT_TRUE(
      eventually(db.url(),
                 "SELECT count(*) = 1 FROM nodes WHERE name = 'twin' AND "
                 "stopped_at IS NOT NULL",
                 1s));
}
