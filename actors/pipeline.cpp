#include "actors/pipeline.hpp"

#include <caf/event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/alerter.hpp"
#include "actors/metrics.hpp"
#include "actors/node.hpp"
#include "actors/scheduler.hpp"
#include "actors/store.hpp"
#include "adapters/sys/crypto.hpp"
#include "config/policy.hpp"

namespace mailpipe {

const store_actor& pipeline_context::store_for(int64_t account_id) const {
  auto n = static_cast<int64_t>(stores.size());
  return stores[static_cast<size_t>(((account_id % n) + n) % n)];
}

namespace {

caf::expected<std::shared_ptr<const analyzer>>
compile_analysis(const config& cfg) {
  auto policy = load_policy(cfg.analysis);
  if (!policy)
    return policy.error();
  auto an = analyzer::make(std::move(*policy), cfg.analysis);
  if (!an)
    return an.error();
  return std::make_shared<const analyzer>(std::move(*an));
}

// The key that opens the accounts' secrets; none is not an error here (a claim
// then says which keys to set).
std::optional<crypto::secret_box> secrets_key(const config& cfg) {
  auto box = crypto::secret_box::load(cfg.crypto);
  if (!box) {
    spdlog::warn("pipeline: {}; accounts cannot be read", render(box.error()));
    return std::nullopt;
  }
  return std::move(*box);
}

} // namespace

caf::expected<pipeline_handles>
start_pipeline(caf::actor_system& sys, const config& cfg, schedule when) {
  auto analysis = compile_analysis(cfg);
  if (!analysis)
    return analysis.error();
  auto ctx = std::make_shared<pipeline_context>();
  ctx->cfg = cfg;
  ctx->analysis = std::move(*analysis);
  pipeline_handles out;
  auto box = secrets_key(cfg);
  auto stores = std::max<int64_t>(1, cfg.database.pool_size);
  for (int64_t i = 0; i < stores; ++i) {
    ctx->stores.push_back(sys.spawn<caf::detached>(store, cfg, box));
    out.actors.push_back(
        {"store", caf::actor_cast<caf::actor>(ctx->stores.back())});
  }
  ctx->metrics = sys.spawn(metrics, ctx->stores.front(), when.metrics_days);
  out.actors.push_back({"metrics", caf::actor_cast<caf::actor>(ctx->metrics)});
  ctx->alerter = sys.spawn(alerter, cfg);
  out.actors.push_back({"alerter", caf::actor_cast<caf::actor>(ctx->alerter)});
  out.context = ctx;
  out.scheduler = sys.spawn(scheduler, out.context, when.interval);
  out.actors.push_back(
      {"scheduler", caf::actor_cast<caf::actor>(out.scheduler)});
  return out;
}

namespace {

// An actor that ends at once with `reason` (a child that could not start).
caf::actor failed_child(caf::actor_system& sys, caf::error reason) {
  return sys.spawn([reason](caf::event_based_actor* self) {
    self->quit(reason);
    return caf::behavior{};
  });
}

// The number of actors `start_pipeline` starts for `cfg`.
size_t pipeline_size(const config& cfg) {
  auto stores =
      static_cast<size_t>(std::max<int64_t>(1, cfg.database.pool_size));
  return stores + 3;
}

} // namespace

void configure_scheduler(caf::actor_system_config& cfg) {
  cfg.set("scheduler.policy", caf::atom("sharing"));
}

std::vector<node_child_spec> pipeline_children(const config& cfg) {
  auto started =
      std::make_shared<std::optional<caf::expected<pipeline_handles>>>();
  std::vector<node_child_spec> out;
  auto n = pipeline_size(cfg);
  for (size_t i = 0; i < n; ++i)
    out.push_back({i + 1 == n   ? "scheduler"
                   : i + 2 == n ? "alerter"
                   : i + 3 == n ? "metrics"
                                : "store",
                   [cfg, started, i](caf::actor_system& sys) {
                     if (!*started)
                       *started =
                           start_pipeline(sys, cfg,
                                          schedule{cfg.processing.interval,
                                                   metrics_retention_days});
                     auto& handles = **started;
                     if (!handles)
                       return failed_child(sys, handles.error());
                     return handles->actors.at(i).handle;
                   }});
  return out;
}

} // namespace mailpipe
