// The pipeline's store on the real PostgreSQL, through a proxy that can freeze
// it: a rotated refresh token the database did not take is not lost.

#include "actors/store.hpp"

#include <optional>

#include <caf/exit_reason.hpp>
#include <gtest/gtest.h>

#include "adapters/db/account_store.hpp"
#include "adapters/db/connection.hpp"
#include "adapters/db/migrate.hpp"
#include "tests/support/actor_system.hpp"
#include "tests/support/env.hpp"
#include "tests/support/fault_proxy.hpp"

using namespace mailpipe;
using namespace std::chrono_literals;

namespace {

using store_fixture = test::actor_system_fixture;

TEST_F(store_fixture,
       a_rotated_token_the_database_did_not_take_is_sealed_after_a_claim) {
  MAILPIPE_SCRATCH_DATABASE(scratch);
  auto conn = db::connect(scratch.url());
  ASSERT_TRUE(conn) << render(conn.error());
  ASSERT_TRUE(db::migrate(**conn));
  auto box = crypto::secret_box::from_key(std::string(crypto::key_size, 's'));
  ASSERT_TRUE(box);
  db::account_spec gmail;
  gmail.email = "seed@gmail.example";
  gmail.kind = provider::gmail;
  auto id = db::add_account(**conn, gmail, "rt-0", *box);
  ASSERT_TRUE(id) << render(id.error());
  auto pg = test::pg_target_of(scratch.url());
  ASSERT_TRUE(pg);
  test::fault_proxy proxy{pg->host, pg->port};
  config cfg;
  cfg.database.url = test::through_port(scratch.url(), proxy.port());
  cfg.database.statement_timeout = 1s;
  cfg.database.connect_timeout = 1s;
  auto st = sys.spawn<caf::detached>(store, cfg,
                                     std::optional<crypto::secret_box>{*box});
  // The provider rotated rt-0 to rt-1 while the database does not answer.
  proxy.freeze();
  self->send(st, atom::store_v, rotated_token{*id, {"rt-0", "rt-0"}, "rt-1"});
  auto frozen = status_of(st); // answered once the seal failed
  EXPECT_EQ(caf::get_or(frozen, "unsealed_tokens", int64_t{0}), 1);
  EXPECT_EQ(db::load_secret(**conn, *id, *box).value(), "rt-0");
  // Back: the next claim is followed by the seal.
  proxy.resume();
  claim_request req;
  req.holder = {"store-test", "00000000-0000-0000-0000-000000000001"};
  req.dry_run = true;
  self->request(st, 10s, atom::run_v, req)
      .receive([](claim_result&) {},
               [&](caf::error& err) { ADD_FAILURE() << sys.render(err); });
  EXPECT_EQ(db::load_secret(**conn, *id, *box).value(), "rt-1");
  EXPECT_EQ(caf::get_or(status_of(st), "unsealed_tokens", int64_t{1}), 0);
  self->send_exit(st, caf::exit_reason::user_shutdown);
}

} // namespace
