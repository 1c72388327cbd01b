#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>

#include <pqxx/connection>

#include "actors/actors.hpp"
#include "config/config.hpp"

namespace mailpipe {

/// State of the lease keeper: the jobs each worker (lease owner) runs now.
struct lease_keeper_state {
  static inline const char* name = "lease_keeper";
  config cfg;
  std::unique_ptr<pqxx::connection> conn;
  std::map<std::string, std::set<std::string>> held;
  int64_t renewals = 0;
  std::string last_error;
};

/// Renews, every third of `jobs.lease`, the leases of the jobs the node's
/// workers run, so a job that runs longer than its lease is not taken by
/// another node while its worker is alive; when the node dies, renewals stop
/// and its jobs come back when their leases run out. Detached (it blocks on
/// PostgreSQL); the workers find it in the registry under
/// `lease_keeper_registry_key`.
lease_keeper_actor::behavior_type
lease_keeper(lease_keeper_actor::stateful_pointer<lease_keeper_state> self,
             config cfg);

} // namespace mailpipe
