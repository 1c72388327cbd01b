#include "actors/lease_keeper.hpp"

#include <caf/actor_system.hpp>
#include <spdlog/spdlog.h>

#include "actors/last_error.hpp"
#include "adapters/db/connection.hpp"
#include "adapters/db/jobs.hpp"

namespace mailpipe {

namespace {

using keeper_ptr = lease_keeper_actor::stateful_pointer<lease_keeper_state>;

void note_error(keeper_ptr self, const caf::error& err) {
  auto& st = self->state;
  if (keep_last_error(st.last_error, err))
    spdlog::error("lease keeper: {}", st.last_error);
}

// Extends the lease of every job held now, owner by owner; a database that
// does not answer is tried again at the next tick (the leases are a third
// of their length ahead of it).
void renew(keeper_ptr self) {
  auto& st = self->state;
  if (!st.conn) {
    auto conn = db::connect(st.cfg.database);
    if (!conn)
      return note_error(self, conn.error());
    st.conn = std::move(*conn);
  }
  for (auto& [owner, ids] : st.held) {
    auto renewed = db::renew_job_leases(
        *st.conn, owner, {ids.begin(), ids.end()}, st.cfg.jobs.lease);
    if (!renewed) {
      st.conn.reset();
      return note_error(self, renewed.error());
    }
    st.renewals += *renewed;
  }
  st.last_error.clear();
}

// Puts the keeper in the registry while it runs.
void register_keeper(keeper_ptr self) {
  auto& registry = self->home_system().registry();
  registry.put(lease_keeper_registry_key, self);
  self->attach_functor(
      [&registry] { registry.erase(lease_keeper_registry_key); });
}

} // namespace

lease_keeper_actor::behavior_type lease_keeper(keeper_ptr self, config cfg) {
  self->state.cfg = std::move(cfg);
  register_keeper(self);
  self->send(self, atom::tick_v);
  return {
      [self](atom::lease, const std::string& owner,
             const std::vector<std::string>& ids) {
        self->state.held[owner].insert(ids.begin(), ids.end());
      },
      [self](atom::done, const std::string& owner,
             const std::vector<std::string>& ids) {
        auto i = self->state.held.find(owner);
        if (i == self->state.held.end())
          return;
        for (auto& id : ids)
          i->second.erase(id);
        if (i->second.empty())
          self->state.held.erase(i);
      },
      [self](atom::tick) {
        renew(self);
        self->delayed_send(self, self->state.cfg.jobs.lease / 3, atom::tick_v);
      },
      [self](atom::status) {
        auto& st = self->state;
        status_dict d;
        d["name"] = std::string{lease_keeper_state::name};
        int64_t jobs = 0;
        for (auto& [owner, ids] : st.held)
          jobs += static_cast<int64_t>(ids.size());
        d["jobs"] = jobs;
        d["renewals"] = st.renewals;
        d["last_error"] = st.last_error;
        return d;
      },
  };
}

} // namespace mailpipe
