#include "adapters/db/gauges.hpp"

#include <pqxx/pqxx>

#include "adapters/db/account_store.hpp"
#include "adapters/db/connection.hpp"
#include "adapters/db/jobs.hpp"

namespace mailpipe::db {

namespace {

// Every name of `names` at 0, then the counts of `sql` (name, count) added.
std::map<std::string, int64_t>
counts_by_name(pqxx::transaction_base& tx, const std::string& sql,
               std::initializer_list<std::string_view> names) {
  std::map<std::string, int64_t> out;
  for (auto name : names)
    out[std::string{name}] = 0;
  for (const auto& row : tx.exec(sql))
    out[row[0].as<std::string>()] = row[1].as<int64_t>();
  return out;
}

} // namespace

caf::expected<cluster_gauges> read_gauges(pqxx::connection& conn) {
  return guarded("read the cluster's gauges", [&] {
    // One snapshot for every count, so that they add up.
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx{conn};
    cluster_gauges g;
    for (auto queue : job_queues)
      for (auto state : job_states)
        g.jobs[{std::string{queue}, std::string{state}}] = 0;
    for (const auto& row :
         tx.exec("SELECT queue, state, count(*) FROM jobs GROUP BY 1, 2"))
      g.jobs[{row[0].as<std::string>(), row[1].as<std::string>()}] =
          row[2].as<int64_t>();
    g.accounts = counts_by_name(
        tx,
        "SELECT " + std::string{account_state_sql()}
            + ", count(*) FROM email_accounts a LEFT JOIN "
              "email_account_failures f ON f.email_account_id = a.id "
              "GROUP BY 1",
        {"active", "retrying", "disabled"});
    g.account_passes = counts_by_name(
        tx, "SELECT status, count(*) FROM email_processing_metrics GROUP BY 1",
        {"success", "failure", "timeout", "skipped"});
    g.runs = tx.exec1("SELECT count(DISTINCT run_id) FROM "
                      "email_processing_metrics")[0]
                 .as<int64_t>();
    g.alerts =
        counts_by_name(tx, "SELECT state, count(*) FROM alerts GROUP BY 1",
                       {"pending", "delivered", "failed"});
    g.tests =
        counts_by_name(tx, "SELECT status, count(*) FROM tests GROUP BY 1",
                       {"pending", "complete", "expired"});
    g.nodes = tx.exec1("SELECT count(*) FROM nodes WHERE stopped_at IS NULL")[0]
                  .as<int64_t>();
    tx.commit();
    return g;
  });
}

} // namespace mailpipe::db
