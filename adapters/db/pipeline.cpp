#include "adapters/db/pipeline.hpp"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include <fmt/format.h>
#include <pqxx/pqxx>

#include "adapters/analysis/analysis.hpp"
#include "adapters/analysis/analysis_json.hpp"
#include "adapters/db/connection.hpp"
#include "adapters/db/sql_values.hpp"

namespace mailpipe::db {

namespace {

// -- claiming -----------------------------------------------------------------

// $1 node, $2 run id, $3 account filter (bigint[] text), rows of `a`
// (email_accounts). The one definition of "eligible" (DESIGN.md): active, a
// pending result of a pending test, retry time passed, and no live lease of
// another holder.
constexpr const char* eligible_where = R"(
  a.active
  AND EXISTS (SELECT 1 FROM test_results r JOIN tests t ON t.id = r.test_id
              WHERE r.email_account_id = a.id AND r.status = 'pending'
                AND t.status = 'pending')
  AND (cardinality($3::bigint[]) = 0 OR a.id = ANY($3::bigint[])))";

constexpr const char* retry_passed = R"(
  NOT EXISTS (SELECT 1 FROM email_account_failures f
              WHERE f.email_account_id = a.id AND f.retry_at > now()))";

constexpr const char* lease_free = R"(
  (a.lease_until IS NULL OR a.lease_until <= now()
   OR (a.lease_owner = $1 AND a.lease_run_id = $2::uuid)))";

constexpr const char* account_columns =
    "a.id, a.email, a.provider, a.imap_host, a.imap_port, a.imap_security, "
    "a.username, "
    "a.auth_method, a.sync_state::text";

std::optional<int64_t> sql_limit(int64_t limit) {
  return limit > 0 ? std::optional<int64_t>{limit} : std::nullopt;
}

claimed_account read_account(const pqxx::row& row) {
  claimed_account acc;
  acc.id = row[0].as<int64_t>();
  acc.email = row[1].as<std::string>();
  from_string(row[2].as<std::string>(), acc.kind);
  acc.imap_host = row[3].as<std::string>("");
  acc.imap_port = row[4].as<int>(0);
  acc.imap_security = row[5].as<std::string>("");
  acc.username = row[6].as<std::string>(acc.email);
  acc.auth_method = row[7].as<std::string>();
  acc.sync_state = row[8].as<std::string>();
  return acc;
}

// Attaches the pending tests, oldest first, to each account.
void load_pending_tests(pqxx::transaction_base& tx,
                        std::vector<claimed_account>& accounts) {
  std::vector<int64_t> ids;
  for (auto& acc : accounts)
    ids.push_back(acc.id);
  auto rows = tx.exec_params(
      "SELECT r.email_account_id, t.id, t.test_id FROM test_results r "
      "JOIN tests t ON t.id = r.test_id WHERE r.email_account_id = "
      "ANY($1::bigint[]) "
      "AND r.status = 'pending' AND t.status = 'pending' ORDER BY "
      "t.created_at, t.id",
      bigint_array(ids));
  std::unordered_map<int64_t, claimed_account*> by_id;
  for (auto& acc : accounts)
    by_id[acc.id] = &acc;
  for (const auto& row : rows)
    by_id[row[0].as<int64_t>()]->tests.push_back(
        {row[1].as<int64_t>(), row[2].as<std::string>()});
}

// Counts the accounts left out for their retry time or another holder's live
// lease.
void count_skipped(pqxx::transaction_base& tx, const claim_request& req,
                   claim_result& out) {
  auto row = tx.exec_params1(
      fmt::format("SELECT count(*) FILTER (WHERE NOT {1}), "
                  "count(*) FILTER (WHERE {1} AND NOT {2}) "
                  "FROM email_accounts a WHERE {0}",
                  eligible_where, retry_passed, lease_free),
      req.holder.node, req.holder.run_id, bigint_array(req.accounts));
  out.skipped_retry = row[0].as<int64_t>();
  out.skipped_leased = row[1].as<int64_t>();
}

std::string candidates_query(bool lock) {
  return fmt::format(
      "SELECT a.id FROM email_accounts a WHERE {} AND {} AND {} "
      "ORDER BY a.last_processed_at NULLS FIRST, a.id LIMIT $4{}",
      eligible_where, retry_passed, lease_free,
      // NO KEY UPDATE: the claim changes no key, and a row some insert
      // elsewhere refers to (a push watch, a test result: their foreign keys
      // take KEY SHARE) is not skipped for it.
      lock ? " FOR NO KEY UPDATE OF a SKIP LOCKED" : "");
}

caf::expected<claim_result>
select_accounts(pqxx::connection& conn, const claim_request& req, bool take) {
  return guarded(take ? "claim accounts" : "list eligible accounts", [&] {
    pqxx::work tx{conn};
    claim_result out;
    pqxx::result rows;
    if (take)
      rows = tx.exec_params(
          fmt::format(
              "WITH c AS ({}) UPDATE email_accounts a SET lease_owner = $1, "
              "lease_run_id = $2::uuid, "
              "lease_until = now() + $5 * interval '1 millisecond', "
              "updated_at = now() FROM c WHERE a.id = c.id RETURNING {}",
              candidates_query(true), account_columns),
          req.holder.node, req.holder.run_id, bigint_array(req.accounts),
          sql_limit(req.limit), static_cast<int64_t>(req.lease_for.count()));
    else
      rows = tx.exec_params(
          fmt::format("SELECT {} FROM email_accounts a WHERE a.id IN ({})",
                      account_columns, candidates_query(false)),
          req.holder.node, req.holder.run_id, bigint_array(req.accounts),
          sql_limit(req.limit));
    for (const auto& row : rows)
      out.accounts.push_back(read_account(row));
    std::sort(out.accounts.begin(), out.accounts.end(),
              [](auto& x, auto& y) { return x.id < y.id; });
    load_pending_tests(tx, out.accounts);
    count_skipped(tx, req, out);
    tx.commit();
    return out;
  });
}

// -- results ------------------------------------------------------------------

std::string dkim_result_of(const std::vector<dkim_summary>& dkim) {
  for (auto& sig : dkim)
    if (sig.result == "pass")
      return sig.result;
  return dkim.front().result;
}

// The filters array is the `filters` member of the analysis when not given.
constexpr const char* record_found_sql = R"(
UPDATE test_results SET status = 'found', placement = $3, folder = NULLIF($4, ''),
  labels = ARRAY(SELECT jsonb_array_elements_text($5::jsonb)),
  spf_result = NULLIF($6, ''), spf_domain = NULLIF($7, ''), dkim_result = NULLIF($8, ''),
  dkim_domains = ARRAY(SELECT jsonb_array_elements_text($9::jsonb)),
  dmarc_result = NULLIF($10, ''), dmarc_policy = NULLIF($11, ''),
  arc_result = NULLIF($12, ''),
  analysis = NULLIF($14, '')::jsonb,
  filters = COALESCE(NULLIF($13, '')::jsonb, NULLIF($14, '')::jsonb -> 'filters',
                     '[]'::jsonb),
  header_block = $15, run_id = $16::uuid, found_at = now(), updated_at = now()
WHERE test_id = $1 AND email_account_id = $2 AND status = 'pending')";

// The parameters of record_found_sql for one found message.
template <class F>
auto with_found_params(std::string_view run_id, int64_t test_db_id,
                       int64_t account_id, const found_result& f, F&& exec) {
  return exec(test_db_id, account_id, f.placement, f.folder,
              json_string_array(f.labels), f.spf_result, f.spf_domain,
              f.dkim_result, json_string_array(f.dkim_domains), f.dmarc_result,
              f.dmarc_policy, f.arc_result, f.filters_json, f.analysis_json,
              f.header_block, std::string{run_id});
}

// Writes one found message if its result is still pending; true when it did.
bool write_found(pqxx::transaction_base& tx, std::string_view run_id,
                 int64_t test_db_id, int64_t account_id,
                 const found_result& f) {
  return with_found_params(run_id, test_db_id, account_id, f,
                           [&](auto&&... params) {
                             return tx.exec_params(record_found_sql, params...);
                           })
             .affected_rows()
         == 1;
}

// A success as common table expressions `account` (one row when the account
// exists) and `cleared`: the failure count is reset, the retry time cleared,
// `last_processed_at` set, the IMAP session hints (parameter `hints`) kept when
// they are not "". `id` and `hints` name the parameters ("$1").
std::string success_ctes(std::string_view id, std::string_view hints) {
  return fmt::format(
      "account AS (UPDATE email_accounts SET last_processed_at = now(), "
      "updated_at = now(), sync_state = CASE WHEN {1} = '' THEN sync_state "
      "ELSE jsonb_set(COALESCE(sync_state, '{{}}'::jsonb), '{{imap_hints}}', "
      "NULLIF({1}, '')::jsonb) END WHERE id = {0} RETURNING 1), "
      "cleared AS (UPDATE email_account_failures SET failure_count = 0, "
      "retry_at = NULL WHERE email_account_id = {0} "
      "AND EXISTS (SELECT 1 FROM account))",
      id, hints);
}

// A success alone, one statement; false when there is no such account.
bool write_success(pqxx::transaction_base& tx, int64_t account_id,
                   const std::string& imap_hints = "") {
  static const auto sql = fmt::format("WITH {} SELECT count(*) FROM account",
                                      success_ctes("$1", "$2"));
  return tx.exec_params1(sql, account_id, imap_hints)[0].as<int64_t>() == 1;
}

// A found message (none when `f` is null: test 0 matches no result) and the
// success, in one statement: one round trip for the common pass. Returns how
// many results it wrote, nullopt when there is no such account.
std::optional<int32_t> write_pass(pqxx::transaction_base& tx,
                                  std::string_view run_id, int64_t account_id,
                                  const found_result* f,
                                  const std::string& imap_hints) {
  static const auto sql = fmt::format(
      "WITH found AS ({} RETURNING 1), {} SELECT (SELECT count(*) FROM found), "
      "(SELECT count(*) FROM account)",
      record_found_sql, success_ctes("$2", "$17"));
  // Every pass runs it: prepared once per connection (libpqxx registers it on
  // first use and again after a reconnect; the same definition is a no-op), so
  // the server parses and plans it once, not per pass.
  tx.conn().prepare("mailpipe_write_pass", sql);
  found_result none;
  auto row = with_found_params(
      run_id, f ? f->test_db_id : 0, account_id, f ? *f : none,
      [&](auto&&... params) {
        auto res =
            tx.exec_prepared("mailpipe_write_pass", params..., imap_hints);
        if (res.size() != 1)
          throw pqxx::unexpected_rows{"write_pass: not one row"};
        return res[0];
      });
  if (row[1].as<int64_t>() != 1)
    return std::nullopt;
  return static_cast<int32_t>(row[0].as<int64_t>());
}

// -- failures -----------------------------------------------------------------

constexpr const char* count_failure_sql = R"(
INSERT INTO email_account_failures AS f
  (email_account_id, failure_count, failure_class, last_error, last_failure_at, retry_at)
VALUES ($1, 1, $2, $3, now(), now() + $4 * interval '1 millisecond')
ON CONFLICT (email_account_id) DO UPDATE SET
  failure_count = f.failure_count + 1, failure_class = EXCLUDED.failure_class,
  last_error = EXCLUDED.last_error, last_failure_at = EXCLUDED.last_failure_at,
  retry_at = EXCLUDED.retry_at
RETURNING failure_count, extract(epoch FROM retry_at)::float8)";

caf::error no_account(int64_t id) {
  return caf::make_error(ec::not_found, fmt::format("no account {}", id));
}

// -- metrics and alerts -------------------------------------------------------

std::string metrics_json(const std::vector<metrics_row>& rows) {
  std::string out = "[";
  for (auto& r : rows) {
    if (out.size() > 1)
      out += ',';
    auto secs = std::isfinite(r.duration_seconds) ? r.duration_seconds : 0.0;
    out += "{\"run_id\":";
    append_json_string(out, r.run_id);
    out += fmt::format(",\"account_id\":{},\"node\":", r.account_id);
    append_json_string(out, r.node);
    out += fmt::format(",\"started_at\":{:.6f},\"duration_seconds\":{},"
                       "\"emails_found\":{},\"errors_count\":{},\"status\":",
                       epoch_seconds(r.started_at), secs, r.emails_found,
                       r.errors_count);
    append_json_string(out, r.status);
    out += ",\"error_class\":";
    append_json_string(out, r.error_class);
    out += ",\"error_message\":";
    append_json_string(out, r.error_message);
    out += '}';
  }
  return out + "]";
}

constexpr const char* insert_metrics_sql = R"(
INSERT INTO email_processing_metrics (run_id, email_account_id, node, started_at,
  duration_seconds, emails_found, errors_count, status, error_class, error_message)
SELECT r.run_id::uuid, NULLIF(r.account_id, 0), NULLIF(r.node, ''),
  to_timestamp(r.started_at), r.duration_seconds, r.emails_found, r.errors_count,
  r.status, NULLIF(r.error_class, ''), NULLIF(r.error_message, '')
FROM json_to_recordset($1::json) AS r(run_id text, account_id bigint, node text,
  started_at float8, duration_seconds float8, emails_found int, errors_count int,
  status text, error_class text, error_message text))";

} // namespace

// -- claiming -----------------------------------------------------------------

caf::expected<claim_result> claim_accounts(pqxx::connection& conn,
                                           const claim_request& req) {
  return select_accounts(conn, req, true);
}

caf::expected<claim_result> eligible_accounts(pqxx::connection& conn,
                                              const claim_request& req) {
  return select_accounts(conn, req, false);
}

caf::expected<std::vector<claimed_account>>
claim_push_accounts(pqxx::connection& conn, std::string_view owner,
                    duration lease, int64_t limit) {
  return guarded("claim push accounts", [&] {
    pqxx::work tx{conn};
    tx.exec_params(
        "DELETE FROM push_watches w WHERE owner = $1 AND NOT EXISTS (SELECT 1 "
        "FROM email_accounts a WHERE a.id = w.email_account_id AND a.push AND "
        "a.active AND a.provider = 'imap')",
        std::string{owner});
    // Another node's live watch is left alone, in the selection and, should
    // two nodes insert at once, in the conflict's update. The node's own
    // watches come first, so that a node at its limit keeps them.
    auto rows = tx.exec_params(
        fmt::format(
            "WITH taken AS (INSERT INTO push_watches (email_account_id, "
            "owner, until) SELECT a.id, $1, now() + $2 * interval "
            "'1 millisecond' FROM email_accounts a WHERE a.push AND a.active "
            "AND a.provider = 'imap' AND NOT EXISTS (SELECT 1 FROM "
            "push_watches w WHERE w.email_account_id = a.id AND w.owner <> $1 "
            "AND w.until > now()) ORDER BY EXISTS (SELECT 1 FROM push_watches "
            "w WHERE w.email_account_id = a.id AND w.owner = $1) DESC, a.id "
            "LIMIT $3 "
            "ON CONFLICT (email_account_id) DO UPDATE SET owner = "
            "EXCLUDED.owner, until = EXCLUDED.until WHERE push_watches.owner = "
            "EXCLUDED.owner OR push_watches.until <= now() "
            "RETURNING email_account_id) "
            "SELECT {} FROM email_accounts a JOIN taken t ON "
            "t.email_account_id = a.id ORDER BY a.id",
            account_columns),
        std::string{owner}, static_cast<int64_t>(lease.count()), limit);
    tx.commit();
    std::vector<claimed_account> out;
    for (const auto& row : rows)
      out.push_back(read_account(row));
    return out;
  });
}

caf::expected<int64_t> release_push_accounts(pqxx::connection& conn,
                                             std::string_view owner) {
  return guarded("release push accounts", [&] {
    pqxx::nontransaction tx{conn};
    return static_cast<int64_t>(
        tx.exec_params("DELETE FROM push_watches WHERE owner = $1",
                       std::string{owner})
            .affected_rows());
  });
}

caf::expected<claimed_account> load_active_account(pqxx::connection& conn,
                                                   int64_t account_id) {
  auto found = guarded("load account", [&]() -> std::optional<claimed_account> {
    pqxx::nontransaction tx{conn};
    auto rows = tx.exec_params(
        fmt::format("SELECT {} FROM email_accounts a WHERE a.id = $1 AND "
                    "a.active",
                    account_columns),
        account_id);
    if (rows.empty())
      return std::nullopt;
    return read_account(rows[0]);
  });
  if (!found)
    return found.error();
  if (!*found)
    return caf::make_error(
        ec::not_found, fmt::format("no active account with id {}", account_id));
  return std::move(**found);
}

caf::error save_sync_key(pqxx::connection& conn, int64_t account_id,
                         std::string_view key, std::string_view json) {
  auto n = guarded("save sync state", [&] {
    pqxx::nontransaction tx{conn};
    return tx
        .exec_params("UPDATE email_accounts SET sync_state = "
                     "jsonb_set(sync_state, ARRAY[$2], $3::jsonb), "
                     "updated_at = now() WHERE id = $1",
                     account_id, std::string{key}, std::string{json})
        .affected_rows();
  });
  if (!n)
    return n.error();
  return *n == 0 ? no_account(account_id) : caf::none;
}

caf::error set_account_push(pqxx::connection& conn, int64_t account_id,
                            bool on) {
  auto provider = guarded("set push", [&]() -> std::optional<std::string> {
    pqxx::nontransaction tx{conn};
    auto rows = tx.exec_params(
        "UPDATE email_accounts SET push = $2 AND provider = 'imap', "
        "updated_at = now() WHERE id = $1 RETURNING provider",
        account_id, on);
    if (rows.empty())
      return std::nullopt;
    return rows[0][0].as<std::string>();
  });
  if (!provider)
    return provider.error();
  if (!*provider)
    return caf::make_error(ec::not_found,
                           fmt::format("no account with id {}", account_id));
  if (on && **provider != "imap")
    return caf::make_error(
        ec::invalid_argument,
        fmt::format("account {} is a {} account: it pushes through the node's "
                    "HTTP endpoint (docs/http.md), not IMAP IDLE",
                    account_id, **provider));
  return {};
}

caf::expected<bool> release_lease(pqxx::connection& conn, int64_t account_id,
                                  const lease_holder& holder) {
  return guarded("release lease", [&] {
    pqxx::nontransaction tx{conn};
    return tx.exec_params(
                 "UPDATE email_accounts SET lease_owner = NULL, "
                 "lease_run_id = NULL, lease_until = NULL, updated_at = now() "
                 "WHERE id = $1 AND lease_owner = $2 AND lease_run_id = "
                 "$3::uuid",
                 account_id, holder.node, holder.run_id)
               .affected_rows()
           == 1;
  });
}

caf::expected<bool> renew_lease(pqxx::connection& conn, int64_t account_id,
                                const lease_holder& holder,
                                duration lease_for) {
  return guarded("renew lease", [&] {
    pqxx::nontransaction tx{conn};
    return tx.exec_params(
                 "UPDATE email_accounts SET lease_until = now() + $4 * "
                 "interval '1 millisecond' WHERE id = $1 AND lease_owner = $2 "
                 "AND lease_run_id = $3::uuid",
                 account_id, holder.node, holder.run_id,
                 static_cast<int64_t>(lease_for.count()))
               .affected_rows()
           == 1;
  });
}

caf::expected<int64_t> renew_run_leases(pqxx::connection& conn,
                                        const lease_holder& holder,
                                        duration lease_for) {
  return guarded("renew the run's leases", [&] {
    pqxx::nontransaction tx{conn};
    return static_cast<int64_t>(
        tx.exec_params("UPDATE email_accounts SET lease_until = now() + $3 * "
                       "interval '1 millisecond' WHERE lease_owner = $1 "
                       "AND lease_run_id = $2::uuid",
                       holder.node, holder.run_id,
                       static_cast<int64_t>(lease_for.count()))
            .affected_rows());
  });
}

caf::expected<int64_t> release_run_leases(pqxx::connection& conn,
                                          const lease_holder& holder) {
  return guarded("release the run's leases", [&] {
    pqxx::nontransaction tx{conn};
    return static_cast<int64_t>(
        tx.exec_params(
              "UPDATE email_accounts SET lease_owner = NULL, lease_run_id = "
              "NULL, "
              "lease_until = NULL, updated_at = now() WHERE lease_owner = $1 "
              "AND lease_run_id = $2::uuid",
              holder.node, holder.run_id)
            .affected_rows());
  });
}

caf::error save_sync_state(pqxx::connection& conn, int64_t account_id,
                           std::string_view json) {
  auto n = guarded("save sync state", [&] {
    pqxx::nontransaction tx{conn};
    return tx
        .exec_params("UPDATE email_accounts SET sync_state = $2::jsonb, "
                     "updated_at = now() WHERE id = $1",
                     account_id, std::string{json})
        .affected_rows();
  });
  if (!n)
    return n.error();
  return *n == 0 ? no_account(account_id) : caf::none;
}

// -- results ------------------------------------------------------------------

found_result to_found_result(const message_analysis& a,
                             std::string analysis_json,
                             std::string header_block) {
  found_result out;
  if (a.placement)
    out.placement = a.placement->placement;
  out.folder = a.where.folder;
  out.labels = a.where.labels;
  out.spf_result = a.auth.spf_result.value_or("");
  out.spf_domain = a.auth.spf_domain.value_or("");
  if (!a.auth.dkim.empty())
    out.dkim_result = dkim_result_of(a.auth.dkim);
  for (auto& sig : a.auth.dkim)
    if (!sig.domain.empty())
      out.dkim_domains.push_back(sig.domain);
  out.dmarc_result = a.auth.dmarc_result.value_or("");
  out.dmarc_policy = a.auth.dmarc_policy.value_or("");
  out.arc_result = a.auth.arc_result.value_or("");
  out.analysis_json = std::move(analysis_json);
  out.header_block = std::move(header_block);
  return out;
}

caf::expected<bool> record_found(pqxx::connection& conn,
                                 std::string_view run_id, int64_t test_db_id,
                                 int64_t account_id, const found_result& f) {
  return guarded("record found message", [&] {
    pqxx::work tx{conn};
    auto written = write_found(tx, run_id, test_db_id, account_id, f);
    tx.commit();
    return written;
  });
}

caf::expected<int32_t> record_pass(pqxx::connection& conn,
                                   std::string_view run_id, int64_t account_id,
                                   const std::vector<found_result>& found,
                                   const std::string& imap_hints) {
  auto out = guarded("record pass", [&]() -> std::optional<int32_t> {
    // A pass finds at most one message per pending test, and most accounts
    // wait for one test: that pass is one statement. Further messages go
    // first, in one transaction with it.
    auto first = found.empty() ? nullptr : &found.front();
    if (found.size() <= 1) {
      pqxx::nontransaction tx{conn};
      return write_pass(tx, run_id, account_id, first, imap_hints);
    }
    pqxx::work tx{conn};
    int32_t written = 0;
    for (size_t i = 1; i < found.size(); ++i)
      written +=
          write_found(tx, run_id, found[i].test_db_id, account_id, found[i])
              ? 1
              : 0;
    auto last = write_pass(tx, run_id, account_id, first, imap_hints);
    if (!last)
      return std::nullopt;
    tx.commit();
    return written + *last;
  });
  if (!out)
    return out.error();
  if (!*out)
    return no_account(account_id);
  return **out;
}

caf::expected<expiry_summary> expire_tests(pqxx::connection& conn) {
  return guarded("expire tests", [&] {
    pqxx::work tx{conn};
    auto row = tx.exec1(
        "WITH e AS (UPDATE tests SET status = 'expired', updated_at = now() "
        "  WHERE status = 'pending' AND expires_at <= now() RETURNING id), "
        "m AS (UPDATE test_results r SET status = 'missing', placement = "
        "'missing', "
        "  updated_at = now() FROM e WHERE r.test_id = e.id AND r.status = "
        "'pending' "
        "  RETURNING r.id) "
        "SELECT (SELECT count(*) FROM e), (SELECT count(*) FROM m)");
    tx.commit();
    return expiry_summary{row[0].as<int64_t>(), row[1].as<int64_t>()};
  });
}

caf::expected<int64_t> complete_tests(pqxx::connection& conn) {
  return guarded("complete tests", [&] {
    pqxx::nontransaction tx{conn};
    return static_cast<int64_t>(
        tx.exec("UPDATE tests t SET status = 'complete', updated_at = now() "
                "WHERE t.status = 'pending' AND NOT EXISTS (SELECT 1 FROM "
                "test_results r "
                "WHERE r.test_id = t.id AND r.status = 'pending')")
            .affected_rows());
  });
}

// -- failures -----------------------------------------------------------------

caf::expected<failure_outcome> record_failure(pqxx::connection& conn,
                                              const failure_report& rep) {
  auto out = guarded(
      "record account failure", [&]() -> std::optional<failure_outcome> {
        pqxx::work tx{conn};
        if (tx.exec_params(
                  "SELECT 1 FROM email_accounts WHERE id = $1 FOR UPDATE",
                  rep.account_id)
                .empty())
          return std::nullopt;
        auto row = tx.exec_params1(
            count_failure_sql, rep.account_id, to_string(rep.kind), rep.message,
            static_cast<int64_t>(rep.retry_after.count()));
        failure_outcome res;
        res.failure_count = row[0].as<int32_t>();
        res.retry_at = from_epoch_seconds(row[1].as<double>());
        if (res.failure_count >= rep.max_failures)
          res.disabled =
              tx.exec_params(
                    "UPDATE email_accounts SET active = false, disabled_reason "
                    "= $2, "
                    "disabled_at = now(), updated_at = now() WHERE id = $1 AND "
                    "active",
                    rep.account_id,
                    fmt::format("{} consecutive failures, the last: {}: {}",
                                res.failure_count, to_string(rep.kind),
                                rep.message))
                  .affected_rows()
              == 1;
        tx.commit();
        return res;
      });
  if (!out)
    return out.error();
  if (!*out)
    return no_account(rep.account_id);
  return **out;
}

caf::error record_success(pqxx::connection& conn, int64_t account_id) {
  auto found = guarded("record account success", [&] {
    pqxx::work tx{conn};
    auto exists = write_success(tx, account_id);
    tx.commit();
    return exists;
  });
  if (!found)
    return found.error();
  return *found ? caf::none : no_account(account_id);
}

caf::error reactivate_account(pqxx::connection& conn, int64_t account_id) {
  auto n = guarded("reactivate account", [&] {
    pqxx::work tx{conn};
    auto rows = tx.exec_params("UPDATE email_accounts SET active = true, "
                               "disabled_reason = NULL, disabled_at = NULL, "
                               "updated_at = now() WHERE id = $1",
                               account_id)
                    .affected_rows();
    tx.exec_params(
        "DELETE FROM email_account_failures WHERE email_account_id = $1",
        account_id);
    tx.commit();
    return rows;
  });
  if (!n)
    return n.error();
  return *n == 0 ? no_account(account_id) : caf::none;
}

// -- metrics ------------------------------------------------------------------

caf::expected<int64_t> insert_metrics(pqxx::connection& conn,
                                      const std::vector<metrics_row>& rows) {
  if (rows.empty())
    return int64_t{0};
  return guarded("insert metrics", [&] {
    pqxx::nontransaction tx{conn};
    return static_cast<int64_t>(
        tx.exec_params(insert_metrics_sql, metrics_json(rows)).affected_rows());
  });
}

caf::expected<int64_t> clean_metrics(pqxx::connection& conn, int64_t days) {
  return guarded("clean metrics", [&] {
    pqxx::nontransaction tx{conn};
    return static_cast<int64_t>(
        tx.exec_params("DELETE FROM email_processing_metrics "
                       "WHERE created_at < now() - $1 * interval '1 day'",
                       days)
            .affected_rows());
  });
}

// -- alerts -------------------------------------------------------------------

caf::expected<int64_t> insert_alert(pqxx::connection& conn,
                                    const alert_row& a) {
  std::optional<double> created;
  if (a.created_at)
    created = epoch_seconds(*a.created_at);
  return guarded("insert alert", [&] {
    pqxx::nontransaction tx{conn};
    return tx
        .exec_params1(
            "INSERT INTO alerts (kind, severity, title, body, node, state, "
            "delivery_attempts, last_error, created_at, delivered_at) "
            "VALUES ($1, $2, $3, $4, NULLIF($5, ''), $6, $7, NULLIF($8, ''), "
            "COALESCE(to_timestamp($9), now()), "
            "CASE WHEN $6 = 'delivered' THEN now() END) RETURNING id",
            a.kind, a.severity, a.title, a.body, a.node, a.state, a.attempts,
            a.last_error, created)[0]
        .as<int64_t>();
  });
}

caf::error mark_alert(pqxx::connection& conn, int64_t id,
                      std::string_view state, int32_t attempts,
                      std::string_view last_error) {
  auto n = guarded("mark alert", [&] {
    pqxx::nontransaction tx{conn};
    return tx
        .exec_params(
            "UPDATE alerts SET state = $2, delivery_attempts = $3, "
            "last_error = NULLIF($4, ''), delivered_at = CASE WHEN $2 = "
            "'delivered' THEN now() ELSE delivered_at END WHERE id = $1",
            id, std::string{state}, attempts, std::string{last_error})
        .affected_rows();
  });
  if (!n)
    return n.error();
  return *n == 0
             ? caf::make_error(ec::not_found, fmt::format("no alert {}", id))
             : caf::none;
}

caf::expected<std::vector<alert_row>> pending_alerts(pqxx::connection& conn,
                                                     int64_t limit) {
  return guarded("list pending alerts", [&] {
    pqxx::nontransaction tx{conn};
    std::vector<alert_row> out;
    for (const auto& row : tx.exec_params(
             "SELECT id, kind, severity, title, body, COALESCE(node, ''), "
             "state, "
             "delivery_attempts, COALESCE(last_error, ''), "
             "extract(epoch FROM created_at)::float8 FROM alerts "
             "WHERE state = 'pending' ORDER BY created_at, id LIMIT $1",
             limit)) {
      alert_row a;
      a.id = row[0].as<int64_t>();
      a.kind = row[1].as<std::string>();
      a.severity = row[2].as<std::string>();
      a.title = row[3].as<std::string>();
      a.body = row[4].as<std::string>();
      a.node = row[5].as<std::string>();
      a.state = row[6].as<std::string>();
      a.attempts = row[7].as<int32_t>();
      a.last_error = row[8].as<std::string>();
      a.created_at = from_epoch_seconds(row[9].as<double>());
      out.push_back(std::move(a));
    }
    return out;
  });
}

} // namespace mailpipe::db
