#include "actors/pipeline.hpp"

#include <spdlog/spdlog.h>

#include "actors/metrics.hpp"
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

caf::expected<std::shared_ptr<const analyzer>> compile_analysis(const config& cfg) {
  auto policy = load_policy(cfg.analysis);
  if (!policy)
    return policy.error();
  auto an = analyzer::make(std::move(*policy), cfg.analysis);
  if (!an)
    return an.error();
  return std::make_shared<const analyzer>(std::move(*an));
}

// The key that opens the accounts' secrets; none is not an error here (a claim then says
// which keys to set).
std::optional<crypto::secret_box> secrets_key(const config& cfg) {
  auto box = crypto::secret_box::load(cfg.crypto);
  if (!box) {
    spdlog::warn("pipeline: {}; accounts cannot be read", render(box.error()));
    return std::nullopt;
  }
  return std::move(*box);
}

} // namespace

caf::expected<pipeline_handles> start_pipeline(caf::actor_system& sys, const config& cfg,
                                               schedule when) {
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
    out.actors.push_back({"store", caf::actor_cast<caf::actor>(ctx->stores.back())});
  }
  ctx->metrics = sys.spawn(metrics, ctx->stores.front(), when.metrics_days);
  out.actors.push_back({"metrics", caf::actor_cast<caf::actor>(ctx->metrics)});
  out.context = ctx;
  out.scheduler = sys.spawn(scheduler, out.context, when.interval);
  out.actors.push_back({"scheduler", caf::actor_cast<caf::actor>(out.scheduler)});
  return out;
}

} // namespace mailpipe
