#include "actors/store.hpp"

#include <spdlog/spdlog.h>

#include "adapters/db/account_store.hpp"
#include "adapters/db/connection.hpp"
#include "adapters/db/deadline.hpp"
#include "adapters/db/pipeline.hpp"

namespace mailpipe {

namespace {

using store_ptr = store_actor::stateful_pointer<store_state>;

// -- the connection -----------------------------------------------------------

// Connects if needed and runs `f(conn)` within the call bound; on failure drops
// the connection, counts and logs the failure, and returns the error.
template <class F>
auto with_db(store_ptr self, const char* what, F f)
    -> decltype(f(*self->state.conn)) {
  auto& st = self->state;
  ++st.calls;
  if (!st.conn) {
    auto conn = db::connect(st.cfg.database);
    if (!conn) {
      ++st.failures;
      st.last_error = render(conn.error());
      return conn.error();
    }
    st.conn = std::move(*conn);
  }
  auto result = db::bounded(*st.conn, db::call_timeout(st.cfg.database), what,
                            [&] { return f(*st.conn); });
  if (!result) {
    ++st.failures;
    st.last_error = render(result.error());
    spdlog::warn("store: {}: {}", what, st.last_error);
    st.conn.reset();
  }
  return result;
}

// -- what the handlers do -----------------------------------------------------

// Opens the secret of every claimed account; an account whose secret cannot be
// opened keeps an empty secret (its pass then fails with an auth error that
// says why).
void open_secrets(store_ptr self, pqxx::connection& conn, claim_result& claim) {
  auto& box = *self->state.box;
  for (auto& acc : claim.accounts) {
    auto secret = db::load_secret(conn, acc.id, box);
    if (secret)
      acc.secret = std::move(*secret);
    else
      spdlog::warn("store: account {}: {}", acc.id, render(secret.error()));
  }
}

caf::expected<claim_result> claim(store_ptr self, const claim_request& req) {
  if (!self->state.box)
    return caf::make_error(
        ec::invalid_config,
        "no key to open the accounts' secrets: set crypto.key_file "
        "or the variable named by crypto.key_env");
  return with_db(self, "claim accounts",
                 [&](pqxx::connection& conn) -> caf::expected<claim_result> {
                   auto res = req.dry_run ? db::eligible_accounts(conn, req)
                                          : db::claim_accounts(conn, req);
                   if (res)
                     open_secrets(self, conn, *res);
                   return res;
                 });
}

// Seals a refresh token an account's provider rotated to, so that every later
// pass (of any node, or of a later `process`) starts from it; a dry run's
// too, since keeping access is not a result. Not when the stored one changed
// meanwhile (the operator's, or a newer rotation). One the database did not
// take is kept, and sealed again after the next claim (`keep_unsealed`).
void keep_rotated_token(store_ptr self, const rotated_token& token) {
  auto& st = self->state;
  if (!st.box)
    return;
  auto kept = with_db(
      self, "keep a rotated refresh token", [&](pqxx::connection& conn) {
        return db::replace_secret(conn, token.account_id, token.from, token.to,
                                  *st.box);
      });
  if (!kept) {
    st.unsealed.insert_or_assign(token.account_id, token);
    return;
  }
  st.unsealed.erase(token.account_id); // this one is newer
  if (*kept)
    spdlog::info("store: account {}: kept the refresh token its provider "
                 "rotated to",
                 token.account_id);
  else if (kept)
    spdlog::info("store: account {}: a rotated refresh token not kept: the "
                 "stored one changed meanwhile",
                 token.account_id);
}

// Seals the rotated tokens the database did not take when they came.
void keep_unsealed(store_ptr self) {
  auto pending = std::move(self->state.unsealed);
  self->state.unsealed.clear();
  for (auto& [account, token] : pending)
    keep_rotated_token(self, token);
}

caf::expected<pass_ack> write_pass(store_ptr self, const pass_record& rec) {
  return with_db(self, "record pass",
                 [&](pqxx::connection& conn) -> caf::expected<pass_ack> {
                   pass_ack ack;
                   if (!rec.failed) {
                     auto n = db::record_pass(conn, rec.run_id, rec.account_id,
                                              rec.found, rec.imap_hints);
                     if (!n)
                       return n.error();
                     ack.recorded = *n;
                     return ack;
                   }
                   auto& p = self->state.cfg.processing;
                   auto out = db::record_failure(
                       conn, {rec.account_id, rec.kind, rec.message,
                              p.retry_after, p.max_failures});
                   if (!out)
                     return out.error();
                   ack.failure = *out;
                   return ack;
                 });
}

using end_counts = std::tuple<int64_t, int64_t>;

caf::expected<end_counts> end_run(store_ptr self, const lease_holder& holder) {
  return with_db(self, "end run",
                 [&](pqxx::connection& conn) -> caf::expected<end_counts> {
                   if (auto released = db::release_run_leases(conn, holder);
                       !released)
                     return released.error();
                   auto expired = db::expire_tests(conn);
                   if (!expired)
                     return expired.error();
                   auto completed = db::complete_tests(conn);
                   if (!completed)
                     return completed.error();
                   return end_counts{expired->tests_expired, *completed};
                 });
}

status_dict store_status(const store_state& st) {
  status_dict d;
  d["name"] = std::string{store_state::name};
  d["connected"] = st.conn != nullptr;
  d["calls"] = st.calls;
  d["failures"] = st.failures;
  d["last_error"] = st.last_error;
  d["unsealed_tokens"] = static_cast<int64_t>(st.unsealed.size());
  return d;
}

} // namespace

store_actor::behavior_type
store(store_actor::stateful_pointer<store_state> self, config cfg,
      std::optional<crypto::secret_box> box) {
  self->state.cfg = std::move(cfg);
  self->state.box = std::move(box);
  return {
      [self](atom::status) { return store_status(self->state); },
      [self](atom::run, const claim_request& req) {
        auto claimed = claim(self, req);
        if (claimed)
          keep_unsealed(self);
        return claimed;
      },
      [self](atom::store, const pass_record& rec) {
        return write_pass(self, rec);
      },
      [self](atom::store, const rotated_token& token) {
        keep_rotated_token(self, token);
      },
      [self](atom::store, const std::vector<metrics_row>& rows) {
        return with_db(self, "insert metrics", [&](pqxx::connection& conn) {
          return db::insert_metrics(conn, rows);
        });
      },
      [self](atom::lease, const lease_holder& holder,
             pipeline_duration lease_for) {
        return with_db(self, "renew leases", [&](pqxx::connection& conn) {
          return db::renew_run_leases(conn, holder, lease_for);
        });
      },
      [self](atom::done,
             const lease_holder& holder) -> caf::result<int64_t, int64_t> {
        auto counts = end_run(self, holder);
        if (!counts)
          return counts.error();
        return {std::get<0>(*counts), std::get<1>(*counts)};
      },
      [self](atom::clean, int64_t days) {
        return with_db(self, "clean metrics", [&](pqxx::connection& conn) {
          return db::clean_metrics(conn, days);
        });
      },
  };
}

} // namespace mailpipe
