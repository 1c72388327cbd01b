#include "adapters/db/test_store.hpp"

#include <fmt/format.h>
#include <pqxx/pqxx>

#include "adapters/db/connection.hpp"
#include "adapters/db/sql_values.hpp"
#include "messages/error.hpp"

namespace mailpipe::db {

namespace {

// Ids of `wanted` that are not active accounts.
std::vector<int64_t> unknown_accounts(pqxx::work& tx,
                                      const std::vector<int64_t>& wanted) {
  std::vector<int64_t> out;
  for (const auto& row : tx.exec_params(
           "SELECT w FROM unnest($1::bigint[]) w WHERE NOT EXISTS (SELECT 1 "
           "FROM "
           "email_accounts a WHERE a.id = w AND a.active) ORDER BY w",
           bigint_array(wanted)))
    out.push_back(row[0].as<int64_t>());
  return out;
}

// Adds the test (the caller commits only when this returns a count: an error
// rolls the insert back).
caf::expected<int64_t> insert_test(pqxx::work& tx, const test_spec& spec) {
  std::optional<int64_t> ms;
  if (spec.expires_in)
    ms = spec.expires_in->count();
  // The unique token decides, also between two adds at once.
  auto inserted = tx.exec_params(
      "INSERT INTO tests (test_id, name, expires_at) VALUES ($1, "
      "NULLIF($2, ''), now() + $3 * interval '1 millisecond') "
      "ON CONFLICT (test_id) DO NOTHING RETURNING id",
      spec.token, spec.name, ms);
  if (inserted.empty())
    return caf::make_error(
        ec::already_exists,
        fmt::format("a test with token {} already exists", spec.token));
  auto id = inserted[0][0].as<int64_t>();
  if (auto bad = unknown_accounts(tx, spec.accounts); !bad.empty())
    return caf::make_error(ec::not_found, fmt::format("no active account {}",
                                                      fmt::join(bad, ", ")));
  auto n = tx.exec_params(
                 "INSERT INTO test_results (test_id, email_account_id) "
                 "SELECT $1, id FROM email_accounts WHERE active AND "
                 "(cardinality($2::bigint[]) = 0 OR id = ANY($2::bigint[]))",
                 id, bigint_array(spec.accounts))
               .affected_rows();
  if (n == 0)
    return caf::make_error(
        ec::invalid_argument,
        "no active account to test: add one with `mailpipe account add`");
  return static_cast<int64_t>(n);
}

// A result's status as reports show it: a pending result of an account whose
// last pass failed (it waits for its retry time, or was disabled) is 'error'.
// Needs `r` (results) and `f` (the account's failure record, LEFT JOINed).
constexpr const char* shown_status =
    "(CASE WHEN r.status = 'pending' AND COALESCE(f.failure_count, 0) > 0 THEN "
    "'error' "
    "ELSE r.status END)";

constexpr const char* failures_join = "LEFT JOIN email_account_failures f ON "
                                      "f.email_account_id = r.email_account_id";

std::string summary_query(const char* where) {
  return fmt::format(
      "SELECT t.id, t.test_id, COALESCE(t.name, ''), t.status, {0}, {1}, "
      "count(r.id) FILTER (WHERE {2} = 'pending'), "
      "count(r.id) FILTER (WHERE {2} = 'found'), "
      "count(r.id) FILTER (WHERE {2} = 'missing'), "
      "count(r.id) FILTER (WHERE {2} = 'error'), count(r.id) "
      "FROM tests t LEFT JOIN test_results r ON r.test_id = t.id {3} {4} "
      "GROUP BY t.id ORDER BY t.created_at DESC, t.id DESC",
      iso_text("t.created_at"), iso_text("t.expires_at"), shown_status,
      failures_join, where);
}

test_summary read_summary(const pqxx::row& r) {
  return {
      r[0].as<int64_t>(),     r[1].as<std::string>(), r[2].as<std::string>(),
      r[3].as<std::string>(), r[4].as<std::string>(), r[5].as<std::string>(),
      r[6].as<int64_t>(),     r[7].as<int64_t>(),     r[8].as<int64_t>(),
      r[9].as<int64_t>(),     r[10].as<int64_t>()};
}

// `auth` as `mailpipe analyze` writes it: the stored analysis's, else built
// from columns.
constexpr const char* auth_sql = R"(
CASE WHEN r.status <> 'found' THEN 'null'::jsonb ELSE COALESCE(r.analysis -> 'auth',
  jsonb_build_object(
    'spf', jsonb_build_object('result', r.spf_result, 'domain', r.spf_domain),
    'dkim', (SELECT COALESCE(jsonb_agg(jsonb_build_object('result', r.dkim_result,
                                                          'domain', d)), '[]'::jsonb)
             FROM unnest(r.dkim_domains) d),
    'dmarc', jsonb_build_object('result', r.dmarc_result, 'policy', r.dmarc_policy),
    'arc', jsonb_build_object('result', r.arc_result))) END::text)";

std::string results_query() {
  return fmt::format(
      "SELECT a.id, a.email, a.provider, {}, COALESCE(r.placement, ''), "
      "COALESCE(r.folder, ''), array_to_json(r.labels)::text, {}, "
      "r.filters::text, "
      "COALESCE(r.spf_result, ''), COALESCE(r.dkim_result, ''), "
      "COALESCE(r.dmarc_result, ''), COALESCE(r.arc_result, ''), {}, "
      "CASE WHEN {} = 'error' THEN COALESCE(f.failure_class, '') ELSE '' END, "
      "COALESCE((SELECT string_agg((x ->> 'name') || ':' || COALESCE(x ->> "
      "'verdict', '?'), "
      "' ') FROM jsonb_array_elements(r.filters) x), '') "
      "FROM test_results r JOIN email_accounts a ON a.id = r.email_account_id "
      "{} "
      "WHERE r.test_id = $1 ORDER BY a.id",
      shown_status, auth_sql, iso_text("r.found_at"), shown_status,
      failures_join);
}

test_result_row read_result(const pqxx::row& r) {
  test_result_row x;
  x.account_id = r[0].as<int64_t>();
  x.email = r[1].as<std::string>();
  x.provider = r[2].as<std::string>();
  x.status = r[3].as<std::string>();
  x.placement = r[4].as<std::string>();
  x.folder = r[5].as<std::string>();
  x.labels_json = r[6].as<std::string>();
  x.auth_json = r[7].as<std::string>();
  x.filters_json = r[8].as<std::string>();
  x.spf = r[9].as<std::string>();
  x.dkim = r[10].as<std::string>();
  x.dmarc = r[11].as<std::string>();
  x.arc = r[12].as<std::string>();
  x.found_at = r[13].as<std::string>();
  x.error_class = r[14].as<std::string>();
  x.filters_text = r[15].as<std::string>();
  return x;
}

} // namespace

caf::expected<int64_t> add_test(pqxx::connection& conn, const test_spec& spec) {
  try {
    pqxx::work tx{conn};
    auto n = insert_test(tx, spec);
    if (n)
      tx.commit();
    return n;
  } catch (const std::exception& e) {
    return to_error(e, "add test");
  }
}

caf::expected<std::vector<test_summary>> list_tests(pqxx::connection& conn) {
  return guarded("list tests", [&] {
    pqxx::nontransaction tx{conn};
    std::vector<test_summary> out;
    for (const auto& row : tx.exec(summary_query("")))
      out.push_back(read_summary(row));
    return out;
  });
}

caf::expected<test_report> show_test(pqxx::connection& conn,
                                     const std::string& token) {
  auto found = guarded("show test", [&]() -> std::optional<test_report> {
    pqxx::work tx{conn}; // one snapshot for the counts and the rows
    auto rows = tx.exec_params(summary_query("WHERE t.test_id = $1"), token);
    if (rows.empty())
      return std::nullopt;
    test_report rep;
    rep.test = read_summary(rows[0]);
    for (const auto& row : tx.exec_params(results_query(), rep.test.id))
      rep.results.push_back(read_result(row));
    rep.rates = rates_of(rep.results);
    return rep;
  });
  if (!found)
    return found.error();
  if (!*found)
    return caf::make_error(ec::not_found,
                           fmt::format("no test with token {}", token));
  return std::move(**found);
}

placement_rates rates_of(const std::vector<test_result_row>& results) {
  placement_rates r;
  if (results.empty())
    return r;
  for (auto& x : results) {
    if (x.placement == "inbox")
      r.inbox += 1;
    else if (x.placement == "spam")
      r.spam += 1;
    else if (x.placement == "promotions" || x.placement == "social"
             || x.placement == "updates" || x.placement == "forums")
      r.tabs += 1;
    if (x.status == "missing")
      r.missing += 1;
  }
  auto n = static_cast<double>(results.size());
  return {r.inbox / n, r.spam / n, r.tabs / n, r.missing / n};
}

} // namespace mailpipe::db
