#include "adapters/db/account_store.hpp"

#include <fmt/format.h>
#include <pqxx/nontransaction>
#include <pqxx/transaction>

#include "adapters/db/connection.hpp"

namespace mailpipe::db {

namespace {

// The associated data binding a sealed secret to its row: a copy pasted into another
// account's row does not open.
std::string secret_binding(int64_t account_id) {
  return fmt::format("email_accounts:{}:secret", account_id);
}

} // namespace

caf::expected<int64_t> add_account(pqxx::connection& conn, const account_spec& spec,
                                   const std::string& secret,
                                   const crypto::secret_box& box) {
  auto id = guarded("add account", [&] {
    pqxx::work tx{conn};
    auto is_imap = spec.kind == provider::imap;
    auto row = tx.exec_params1(
      "INSERT INTO email_accounts (email, provider, imap_host, imap_port, "
      "imap_security, username, auth_method) VALUES ($1, $2, $3, $4, $5, $6, $7) "
      "RETURNING id",
      spec.email, to_string(spec.kind),
      is_imap ? std::optional<std::string>{spec.imap_host} : std::nullopt,
      is_imap ? std::optional<int>{spec.imap_port} : std::nullopt,
      is_imap ? std::optional<std::string>{spec.imap_security} : std::nullopt,
      spec.username.empty() ? spec.email : spec.username, spec.auth_method);
    auto new_id = row[0].as<int64_t>();
    auto sealed = box.seal(secret, secret_binding(new_id));
    if (!sealed)
      throw std::runtime_error(render(sealed.error()));
    tx.exec_params("UPDATE email_accounts SET secret_encrypted = $2 WHERE id = $1",
                   new_id, pqxx::binarystring{*sealed});
    tx.commit();
    return new_id;
  });
  return id;
}

caf::error store_secret(pqxx::connection& conn, int64_t account_id,
                        const std::string& secret, const crypto::secret_box& box) {
  auto sealed = box.seal(secret, secret_binding(account_id));
  if (!sealed)
    return sealed.error();
  auto updated = guarded("store account secret", [&] {
    pqxx::nontransaction tx{conn};
    return tx
      .exec_params("UPDATE email_accounts SET secret_encrypted = $2, "
                   "updated_at = now() WHERE id = $1",
                   account_id, pqxx::binarystring{*sealed})
      .affected_rows();
  });
  if (!updated)
    return updated.error();
  if (*updated == 0)
    return caf::make_error(ec::not_found, fmt::format("no account {}", account_id));
  return caf::none;
}

caf::expected<std::string> load_secret(pqxx::connection& conn, int64_t account_id,
                                       const crypto::secret_box& box) {
  auto sealed = guarded("load account secret", [&]() -> std::optional<std::string> {
    pqxx::nontransaction tx{conn};
    auto rows = tx.exec_params(
      "SELECT secret_encrypted FROM email_accounts WHERE id = $1", account_id);
    if (rows.empty() || rows[0][0].is_null())
      return std::nullopt;
    return pqxx::binarystring{rows[0][0]}.str();
  });
  if (!sealed)
    return sealed.error();
  if (!*sealed)
    return caf::make_error(ec::not_found,
                           fmt::format("account {} has no stored secret", account_id));
  auto plain = box.open(**sealed, secret_binding(account_id));
  if (!plain)
    return caf::make_error(ec::auth_failed,
                           fmt::format("the secret of account {} does not open with "
                                       "this key (wrong key, or the data was altered)",
                                       account_id));
  return plain;
}

} // namespace mailpipe::db
