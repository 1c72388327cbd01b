// Migrations against the real PostgreSQL of the test harness.

#include <chrono>
#include <random>
#include <set>
#include <thread>

#include <fmt/format.h>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "adapters/db/connection.hpp"
#include "adapters/db/migrate.hpp"
#include "tests/support/env.hpp"

using namespace mailpipe;

namespace {

std::set<std::string> tables(const std::string& url) {
  pqxx::connection c{url};
  pqxx::nontransaction tx{c};
  std::set<std::string> out;
  for (auto row :
       tx.exec("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
    out.insert(row[0].as<std::string>());
  return out;
}

std::set<std::string> columns(const std::string& url,
                              const std::string& table) {
  pqxx::connection c{url};
  pqxx::nontransaction tx{c};
  std::set<std::string> out;
  for (auto row :
       tx.exec_params("SELECT column_name FROM information_schema.columns "
                      "WHERE table_name = $1",
                      table))
    out.insert(row[0].as<std::string>());
  return out;
}

int64_t count(const std::string& url, const std::string& sql) {
  pqxx::connection c{url};
  pqxx::nontransaction tx{c};
  return tx.exec1(sql)[0].as<int64_t>();
}

} // namespace

TEST(migrate, builtin_migrations_are_ordered_and_named) {
  auto& all = db::builtin_migrations();
  ASSERT_FALSE(all.empty());
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].version, static_cast<int64_t>(i + 1)) << all[i].name;
    EXPECT_FALSE(all[i].name.empty());
    EXPECT_EQ(all[i].checksum.size(), 64u);
    EXPECT_FALSE(all[i].sql.empty());
  }
}

TEST(migrate, fresh_database_gets_every_table_of_the_design) {
  MAILPIPE_SCRATCH_DATABASE(db);
  auto conn = db::connect(db.url());
  ASSERT_TRUE(conn) << render(conn.error());
  auto applied = db::migrate(**conn);
  ASSERT_TRUE(applied) << render(applied.error());
  EXPECT_EQ(*applied, static_cast<int>(db::builtin_migrations().size()));
  auto t = tables(db.url());
  for (auto name : {"email_accounts", "tests", "test_results",
                    "email_processing_metrics", "email_account_failures",
                    "jobs", "nodes", "alerts", "schema_migrations"})
    EXPECT_TRUE(t.count(name)) << name;
  // The operators' monitoring queries use these columns.
  auto has = [&](const char* table, std::initializer_list<const char*> cols) {
    auto c = columns(db.url(), table);
    for (auto col : cols)
      EXPECT_TRUE(c.count(col)) << table << "." << col;
  };
  has("email_accounts", {"id", "email", "provider", "active"});
  has("email_processing_metrics",
      {"run_id", "email_account_id", "started_at", "duration_seconds",
       "emails_found", "errors_count", "created_at"});
  has("email_account_failures", {"email_account_id", "failure_count",
                                 "last_error", "last_failure_at", "retry_at"});
  // A typical monitoring query of the previous system runs as is.
  EXPECT_EQ(count(db.url(),
                  "SELECT count(*) FROM email_processing_metrics m "
                  "JOIN email_accounts a ON a.id = m.email_account_id "
                  "WHERE m.created_at > now() - interval '1 hour' "
                  "AND m.errors_count > 0"),
            0);
}

TEST(migrate, second_run_changes_nothing) {
  MAILPIPE_SCRATCH_DATABASE(db);
  auto conn = db::connect(db.url());
  ASSERT_TRUE(conn) << render(conn.error());
  ASSERT_TRUE(db::migrate(**conn));
  auto before = count(db.url(), "SELECT count(*) FROM schema_migrations");
  auto again = db::migrate(**conn);
  ASSERT_TRUE(again) << render(again.error());
  EXPECT_EQ(*again, 0);
  EXPECT_EQ(count(db.url(), "SELECT count(*) FROM schema_migrations"), before);
  auto status = db::migration_status(**conn);
  ASSERT_TRUE(status);
  for (auto& s : *status) {
    EXPECT_TRUE(s.applied_at.has_value()) << s.name;
    EXPECT_TRUE(s.checksum_matches) << s.name;
  }
}

TEST(migrate, status_on_an_empty_database_lists_everything_pending) {
  MAILPIPE_SCRATCH_DATABASE(db);
  auto conn = db::connect(db.url());
  ASSERT_TRUE(conn);
  auto status = db::migration_status(**conn);
  ASSERT_TRUE(status) << render(status.error());
  ASSERT_EQ(status->size(), db::builtin_migrations().size());
  for (auto& s : *status)
    EXPECT_FALSE(s.applied_at.has_value());
}

TEST(migrate, an_edited_migration_is_refused) {
  MAILPIPE_SCRATCH_DATABASE(db);
  auto conn = db::connect(db.url());
  ASSERT_TRUE(conn);
  ASSERT_TRUE(db::migrate(**conn));
  {
    pqxx::connection c{db.url()};
    pqxx::nontransaction tx{c};
    tx.exec(
        "UPDATE schema_migrations SET checksum = 'deadbeef' WHERE version = 1");
  }
  auto again = db::migrate(**conn);
  ASSERT_FALSE(again);
  EXPECT_TRUE(is(again.error(), ec::migration_failed));
  EXPECT_NE(render(again.error()).find("changed after it was applied"),
            std::string::npos);
}

TEST(migrate, concurrent_migrations_in_threads_apply_once) {
  MAILPIPE_SCRATCH_DATABASE(db);
  std::vector<int> applied(4, -1);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      auto conn = db::connect(db.url());
      if (!conn)
        return;
      if (auto n = db::migrate(**conn))
        applied[i] = *n;
    });
  for (auto& t : threads)
    t.join();
  int total = 0;
  for (auto n : applied) {
    EXPECT_GE(n, 0) << "a migrating connection failed";
    total += n;
  }
  EXPECT_EQ(total, static_cast<int>(db::builtin_migrations().size()));
}

TEST(migrate, two_processes_at_once_do_not_collide) {
  MAILPIPE_SCRATCH_DATABASE(db);
  std::vector<std::string> env{"MAILPIPE_DATABASE_URL=" + db.url()};
  test::run_result results[2];
  std::thread a([&] {
    results[0] = test::run_process({test::mailpipe_binary(), "migrate"}, env);
  });
  std::thread b([&] {
    results[1] = test::run_process({test::mailpipe_binary(), "migrate"}, env);
  });
  a.join();
  b.join();
  for (auto& r : results)
    EXPECT_EQ(r.status, 0) << r.out << r.err;
  // Exactly one of them applied the migrations; the other found them applied.
  auto applied_lines = [](const std::string& out) {
    return out.find("applied 0001") != std::string::npos;
  };
  EXPECT_NE(applied_lines(results[0].out), applied_lines(results[1].out))
      << results[0].out << "---\n"
      << results[1].out;
  EXPECT_EQ(count(db.url(), "SELECT count(*) FROM schema_migrations"),
            static_cast<int64_t>(db::builtin_migrations().size()));
}

// -- the lock, newer binaries, privileges ------------------

namespace {

// "mailpipe" as a 64-bit integer: the advisory lock of adapters/db/migrate.cpp.
constexpr int64_t lock_key = 0x6d61696c70697065;

// A session of its own holding the migration lock.
struct lock_holder {
  pqxx::connection conn;
  int pid = 0;

  explicit lock_holder(const std::string& url) : conn{url} {
    pqxx::nontransaction tx{conn};
    tx.exec("SET application_name = 'migrate-test-holder'");
    tx.exec_params("SELECT pg_advisory_lock($1)", lock_key);
    pid = tx.exec1("SELECT pg_backend_pid()")[0].as<int>();
  }

  void release() {
    pqxx::nontransaction{conn}.exec_params("SELECT pg_advisory_unlock($1)",
                                           lock_key);
  }
};

void exec(const std::string& url, const std::string& sql) {
  pqxx::connection c{url};
  pqxx::nontransaction{c}.exec(sql);
}

} // namespace

TEST(migrate, a_lock_held_past_the_wait_is_busy_and_names_the_holder) {
  MAILPIPE_SCRATCH_DATABASE(db);
  lock_holder holder{db.url()};
  auto conn = db::connect(db.url());
  ASSERT_TRUE(conn) << render(conn.error());
  db::migrate_options opts;
  opts.lock_wait = std::chrono::milliseconds{300};
  auto start = std::chrono::steady_clock::now();
  auto res = db::apply_migrations(**conn, opts);
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(res);
  EXPECT_TRUE(is(res.error(), ec::busy)) << render(res.error());
  auto text = render(res.error());
  EXPECT_NE(text.find("another migration holds the lock"), std::string::npos)
      << text;
  EXPECT_NE(text.find(fmt::format("backend pid {}", holder.pid)),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("application 'migrate-test-holder'"), std::string::npos)
      << text;
  EXPECT_EQ(text.find("statement timeout"), std::string::npos) << text;
  EXPECT_GE(took, std::chrono::milliseconds{300});
  EXPECT_LT(took, std::chrono::seconds{5});
  EXPECT_EQ(count(db.url(),
                  "SELECT count(*) FROM pg_tables WHERE tablename = 'nodes'"),
            0);
  // The connection is still usable, and holds no lock of its own.
  holder.release();
  auto again = db::apply_migrations(**conn, opts);
  ASSERT_TRUE(again) << render(again.error());
  EXPECT_EQ(again->applied, static_cast<int>(db::builtin_migrations().size()));
}

TEST(migrate, waits_for_a_lock_released_within_the_wait) {
  MAILPIPE_SCRATCH_DATABASE(db);
  lock_holder holder{db.url()};
  std::thread release{[&] {
    std::this_thread::sleep_for(std::chrono::milliseconds{400});
    holder.release();
  }};
  auto conn = db::connect(db.url());
  ASSERT_TRUE(conn) << render(conn.error());
  db::migrate_options opts;
  opts.lock_wait = std::chrono::seconds{10};
  auto res = db::apply_migrations(**conn, opts);
  release.join();
  ASSERT_TRUE(res) << render(res.error());
  EXPECT_EQ(res->applied, static_cast<int>(db::builtin_migrations().size()));
}

TEST(migrate, migrations_of_a_newer_binary_are_reported_not_up_to_date) {
  MAILPIPE_SCRATCH_DATABASE(db);
  auto conn = db::connect(db.url());
  ASSERT_TRUE(conn) << render(conn.error());
  auto none = db::unknown_migrations(**conn); // never migrated: nothing unknown
  ASSERT_TRUE(none) << render(none.error());
  EXPECT_TRUE(none->empty());
  ASSERT_TRUE(db::migrate(**conn));
  exec(db.url(), "INSERT INTO schema_migrations (version, name, checksum) "
                 "VALUES (9999, 'from_a_newer_binary', 'abc')");
  auto res = db::apply_migrations(**conn, {});
  ASSERT_TRUE(res) << render(res.error());
  EXPECT_EQ(res->applied, 0);
  ASSERT_EQ(res->unknown.size(), 1u);
  EXPECT_EQ(res->unknown[0].version, 9999);
  EXPECT_EQ(res->unknown[0].name, "from_a_newer_binary");
  EXPECT_TRUE(res->unknown[0].unknown_to_binary);
  EXPECT_EQ(db::describe(res->unknown), "9999 from_a_newer_binary");
  auto unknown = db::unknown_migrations(**conn);
  ASSERT_TRUE(unknown) << render(unknown.error());
  ASSERT_EQ(unknown->size(), 1u);
  EXPECT_EQ((*unknown)[0].version, 9999);
}

TEST(migrate, unknown_and_missing_migrations_together_are_refused) {
  // A binary of another line migrated this database: applying ours on top of its would
  // run history out of order.
  MAILPIPE_SCRATCH_DATABASE(db);
  auto conn = db::connect(db.url());
  ASSERT_TRUE(conn) << render(conn.error());
  ASSERT_TRUE(db::migrate(**conn));
  auto last = db::builtin_migrations().back();
  exec(db.url(),
       fmt::format("DELETE FROM schema_migrations WHERE version = {}; "
                   "INSERT INTO schema_migrations (version, name, checksum) "
                   "VALUES (9999, 'other_line', 'abc')",
                   last.version));
  auto res = db::apply_migrations(**conn, {});
  ASSERT_FALSE(res);
  EXPECT_TRUE(is(res.error(), ec::migration_failed));
  auto text = render(res.error());
  EXPECT_NE(text.find("9999 other_line"), std::string::npos) << text;
  EXPECT_NE(text.find(fmt::format("{:04} {}", last.version, last.name)),
            std::string::npos)
      << text;
  EXPECT_EQ(count(db.url(),
                  fmt::format("SELECT count(*) FROM schema_migrations WHERE "
                              "version = {}",
                              last.version)),
            0);
}

TEST(migrate, without_the_create_privilege_names_sqlstate_42501) {
  MAILPIPE_SCRATCH_DATABASE(db);
  std::random_device rd;
  auto role = fmt::format("mailpipe_t_role_{:08x}", rd());
  exec(db.url(), fmt::format("CREATE ROLE {} LOGIN", role));
  {
    auto start = db.url().find("://") + 3;
    auto url = db.url().substr(0, start) + role
               + db.url().substr(db.url().find('@', start));
    auto conn = db::connect(url);
    ASSERT_TRUE(conn) << render(conn.error());
    auto res = db::migrate(**conn);
    ASSERT_FALSE(res);
    auto text = render(res.error());
    EXPECT_NE(text.find("permission denied"), std::string::npos) << text;
    // libpqxx 6.4 gives insufficient_privilege an empty SQLSTATE: to_error fills it in.
    EXPECT_NE(text.find("(SQLSTATE 42501)"), std::string::npos) << text;
  }
  exec(db.url(), fmt::format("DROP ROLE {}", role));
}

TEST(migrate, to_error_names_the_sqlstates_libpqxx_leaves_out) {
  MAILPIPE_SCRATCH_DATABASE(db);
  pqxx::connection c{db.url()};
  for (auto code : {"42501", "40000", "40001", "40003", "40P01", "23505"}) {
    try {
      pqxx::nontransaction{c}.exec(fmt::format(
          "DO $$ BEGIN RAISE EXCEPTION 'raised' USING ERRCODE = '{}'; END $$",
          code));
      ADD_FAILURE() << code << " raised nothing";
    } catch (const std::exception& e) {
      auto text = render(db::to_error(e, "raise"));
      EXPECT_NE(text.find(fmt::format("(SQLSTATE {})", code)),
                std::string::npos)
          << text;
    }
  }
}

TEST(database, unreachable_server_is_a_clear_error_without_password) {
  database_config cfg;
  cfg.url = "postgresql://mailpipe:topsecret@127.0.0.1:1/mailpipe";
  cfg.connect_timeout = std::chrono::seconds{2};
  auto conn = db::connect(cfg);
  ASSERT_FALSE(conn);
  EXPECT_TRUE(is(conn.error(), ec::database_unavailable));
  auto text = render(conn.error());
  EXPECT_EQ(text.find("topsecret"), std::string::npos) << text;
  EXPECT_NE(text.find("127.0.0.1"), std::string::npos) << text;
}

TEST(database, conninfo_password_reads_both_forms_as_libpq_does) {
  EXPECT_EQ(db::conninfo_password("postgresql://u:p%40ss%20w@127.0.0.1/db"),
            "p@ss w");
  EXPECT_EQ(db::conninfo_password(
                "host=127.0.0.1 user=u password='a \\'quoted\\' one' dbname=x"),
            "a 'quoted' one");
  EXPECT_EQ(db::conninfo_password("host=127.0.0.1 user=u dbname=x"), "");
  // What libpq cannot parse has no password it could show.
  EXPECT_EQ(db::conninfo_password("postgresql://u:PCT%ZZ3@127.0.0.1/db"), "");
  EXPECT_EQ(db::conninfo_password("host='unterminated password=x"), "");
}

TEST(database, an_unreachable_server_in_key_value_form_hides_the_password) {
  database_config cfg;
  cfg.url = "host=127.0.0.1 port=1 user=u password=KVSECRET1 dbname=x";
  cfg.connect_timeout = std::chrono::seconds{2};
  auto conn = db::connect(cfg);
  ASSERT_FALSE(conn);
  auto text = render(conn.error());
  EXPECT_EQ(text.find("KVSECRET1"), std::string::npos) << text;
  EXPECT_NE(text.find("127.0.0.1"), std::string::npos) << text;
}
