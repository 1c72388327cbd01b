// Migrations against the real PostgreSQL of the test harness.

#include <set>
#include <thread>

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
  for (auto row : tx.exec("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
    out.insert(row[0].as<std::string>());
  return out;
}

std::set<std::string> columns(const std::string& url, const std::string& table) {
  pqxx::connection c{url};
  pqxx::nontransaction tx{c};
  std::set<std::string> out;
  for (auto row : tx.exec_params("SELECT column_name FROM information_schema.columns "
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
                    "email_processing_metrics", "email_account_failures", "jobs",
                    "nodes", "alerts", "schema_migrations"})
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
    tx.exec("UPDATE schema_migrations SET checksum = 'deadbeef' WHERE version = 1");
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
    << results[0].out << "---\n" << results[1].out;
  EXPECT_EQ(count(db.url(), "SELECT count(*) FROM schema_migrations"),
            static_cast<int64_t>(db::builtin_migrations().size()));
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
