#include "adapters/db/account_store.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <pqxx/pqxx>

#include "adapters/db/connection.hpp"
#include "adapters/db/sql_values.hpp"

namespace mailpipe::db {

namespace {

// The associated data binding a sealed secret to its row: a copy pasted into another
// account's row does not open.
std::string secret_binding(int64_t account_id) {
  return fmt::format("email_accounts:{}:secret", account_id);
}

// "line 3: " for imports, "" for a single account.
std::string where(const account_import& row) {
  return row.line > 0 ? fmt::format("line {}: ", row.line) : std::string{};
}

// Inserts one account inside `tx`; a duplicate address is an error naming it.
caf::expected<int64_t> insert_row(pqxx::work& tx, const account_import& row,
                                  const crypto::secret_box& box) {
  auto& spec = row.spec;
  auto is_imap = spec.kind == provider::imap;
  int64_t new_id = 0;
  try {
    new_id = tx.exec_params1(
                   "INSERT INTO email_accounts (email, provider, imap_host, "
                   "imap_port, "
                   "imap_security, username, auth_method) VALUES ($1, $2, $3, "
                   "$4, $5, "
                   "$6, $7) RETURNING id",
                   spec.email, to_string(spec.kind),
                   is_imap ? std::optional<std::string>{spec.imap_host}
                           : std::nullopt,
                   is_imap ? std::optional<int>{spec.imap_port} : std::nullopt,
                   is_imap ? std::optional<std::string>{spec.imap_security}
                           : std::nullopt,
                   spec.username.empty() ? spec.email : spec.username,
                   spec.auth_method)[0]
                 .as<int64_t>();
  } catch (const pqxx::unique_violation&) {
    return caf::make_error(ec::invalid_argument,
                           fmt::format("{}an account for {} already exists",
                                       where(row), spec.email));
  } catch (const pqxx::check_violation& e) {
    return caf::make_error(ec::invalid_argument,
                           fmt::format("{}invalid account {}: {}", where(row),
                                       spec.email, e.what()));
  }
  auto sealed = box.seal(row.secret, secret_binding(new_id));
  if (!sealed)
    return sealed.error();
  tx.exec_params(
      "UPDATE email_accounts SET secret_encrypted = $2 WHERE id = $1", new_id,
      pqxx::binarystring{*sealed});
  return new_id;
}

} // namespace

caf::expected<int64_t> add_account(pqxx::connection& conn,
                                   const account_spec& spec,
                                   const std::string& secret,
                                   const crypto::secret_box& box) {
  auto ids = import_accounts(conn, {{0, spec, secret}}, box);
  if (!ids)
    return ids.error();
  return ids->front();
}

caf::expected<std::vector<int64_t>>
import_accounts(pqxx::connection& conn, const std::vector<account_import>& rows,
                const crypto::secret_box& box) {
  try {
    pqxx::work tx{conn};
    std::vector<int64_t> ids;
    for (auto& row : rows) {
      auto id = insert_row(tx, row, box);
      if (!id)
        return id.error();
      ids.push_back(*id);
    }
    tx.commit();
    return ids;
  } catch (const std::exception& e) {
    return to_error(e, "add accounts");
  }
}

caf::expected<std::string> load_secret(pqxx::connection& conn,
                                       int64_t account_id,
                                       const crypto::secret_box& box) {
  auto sealed =
      guarded("load account secret", [&]() -> std::optional<std::string> {
        pqxx::nontransaction tx{conn};
        auto rows = tx.exec_params(
            "SELECT secret_encrypted FROM email_accounts WHERE id = $1",
            account_id);
        if (rows.empty() || rows[0][0].is_null())
          return std::nullopt;
        return pqxx::binarystring{rows[0][0]}.str();
      });
  if (!sealed)
    return sealed.error();
  if (!*sealed)
    return caf::make_error(
        ec::not_found,
        fmt::format("account {} has no stored secret", account_id));
  auto plain = box.open(**sealed, secret_binding(account_id));
  if (!plain)
    return caf::make_error(
        ec::auth_failed,
        fmt::format("the secret of account {} does not open with "
                    "this key (wrong key, or the data was altered)",
                    account_id));
  return plain;
}

caf::expected<bool> replace_secret(pqxx::connection& conn, int64_t account_id,
                                   const std::vector<std::string>& from,
                                   const std::string& to,
                                   const crypto::secret_box& box) {
  auto sealed = box.seal(to, secret_binding(account_id));
  if (!sealed)
    return sealed.error();
  return guarded("replace account secret", [&] {
    pqxx::work tx{conn};
    auto rows = tx.exec_params("SELECT secret_encrypted FROM email_accounts "
                               "WHERE id = $1 FOR UPDATE",
                               account_id);
    if (rows.empty() || rows[0][0].is_null())
      return false;
    auto stored = box.open(pqxx::binarystring{rows[0][0]}.str(),
                           secret_binding(account_id));
    if (!stored || std::find(from.begin(), from.end(), *stored) == from.end())
      return false;
    tx.exec_params("UPDATE email_accounts SET secret_encrypted = $2, "
                   "updated_at = now() WHERE id = $1",
                   account_id, pqxx::binarystring{*sealed});
    tx.commit();
    return true;
  });
}

std::string_view account_state_sql() {
  return "CASE WHEN NOT a.active THEN 'disabled' WHEN f.retry_at > now() "
         "THEN 'retrying' ELSE 'active' END";
}

namespace {

std::string info_query() {
  return fmt::format(
      "SELECT a.id, a.email, a.provider, a.active, COALESCE(a.disabled_reason, "
      "''), {}, "
      "COALESCE(a.imap_host, ''), COALESCE(a.imap_port, 0), "
      "COALESCE(a.imap_security, ''), "
      "COALESCE(a.username, ''), a.auth_method, a.secret_encrypted IS NOT "
      "NULL, {}, {}, "
      "(SELECT count(*) FROM test_results r WHERE r.email_account_id = a.id "
      "AND r.status = 'pending'), COALESCE(f.failure_count, 0), "
      "COALESCE(f.failure_class, ''), COALESCE(f.last_error, ''), {}, {}, {}, "
      "a.push, COALESCE((SELECT w.owner FROM push_watches w WHERE "
      "w.email_account_id = a.id AND w.until > now()), '') "
      "FROM email_accounts a LEFT JOIN email_account_failures f "
      "ON f.email_account_id = a.id",
      iso_text("a.disabled_at"), iso_text("a.last_processed_at"),
      iso_text("a.created_at"), iso_text("f.last_failure_at"),
      iso_text("f.retry_at"), account_state_sql());
}

account_info read_info(const pqxx::row& r) {
  account_info a;
  a.id = r[0].as<int64_t>();
  a.email = r[1].as<std::string>();
  a.provider = r[2].as<std::string>();
  a.active = r[3].as<bool>();
  a.disabled_reason = r[4].as<std::string>();
  a.disabled_at = r[5].as<std::string>();
  a.imap_host = r[6].as<std::string>();
  a.imap_port = r[7].as<int>();
  a.imap_security = r[8].as<std::string>();
  a.username = r[9].as<std::string>();
  a.auth_method = r[10].as<std::string>();
  a.has_secret = r[11].as<bool>();
  a.last_processed_at = r[12].as<std::string>();
  a.created_at = r[13].as<std::string>();
  a.pending_tests = r[14].as<int64_t>();
  a.failure_count = r[15].as<int32_t>();
  a.failure_class = r[16].as<std::string>();
  a.last_error = r[17].as<std::string>();
  a.last_failure_at = r[18].as<std::string>();
  a.retry_at = r[19].as<std::string>();
  a.state = r[20].as<std::string>();
  a.push = r[21].as<bool>();
  a.push_watched_by = r[22].as<std::string>();
  return a;
}

caf::error no_account(int64_t id) {
  return caf::make_error(ec::not_found, fmt::format("no account {}", id));
}

} // namespace

caf::expected<int64_t> find_active_account(pqxx::connection& conn,
                                           std::string_view provider,
                                           std::string_view email) {
  auto found = guarded("find an account", [&] {
    pqxx::nontransaction tx{conn};
    auto rows = tx.exec_params("SELECT id FROM email_accounts WHERE provider = "
                               "$1 AND lower(email) = lower($2) AND active",
                               std::string{provider}, std::string{email});
    return rows.empty() ? int64_t{0} : rows[0][0].as<int64_t>();
  });
  if (found && *found == 0)
    return caf::make_error(
        ec::not_found, fmt::format("no active {} account {}", provider, email));
  return found;
}

caf::expected<std::vector<account_info>> list_accounts(pqxx::connection& conn) {
  return guarded("list accounts", [&] {
    pqxx::nontransaction tx{conn};
    std::vector<account_info> out;
    for (const auto& row : tx.exec(info_query() + " ORDER BY a.id"))
      out.push_back(read_info(row));
    return out;
  });
}

caf::expected<account_info> show_account(pqxx::connection& conn,
                                         int64_t account_id) {
  auto found = guarded("show account", [&]() -> std::optional<account_info> {
    pqxx::nontransaction tx{conn};
    auto rows = tx.exec_params(info_query() + " WHERE a.id = $1", account_id);
    if (rows.empty())
      return std::nullopt;
    return read_info(rows[0]);
  });
  if (!found)
    return found.error();
  if (!*found)
    return no_account(account_id);
  return std::move(**found);
}

caf::error remove_account(pqxx::connection& conn, int64_t account_id) {
  auto n = guarded("remove account", [&] {
    pqxx::nontransaction tx{conn};
    return tx
        .exec_params("DELETE FROM email_accounts WHERE id = $1", account_id)
        .affected_rows();
  });
  if (!n)
    return n.error();
  return *n == 0 ? no_account(account_id) : caf::none;
}

} // namespace mailpipe::db
