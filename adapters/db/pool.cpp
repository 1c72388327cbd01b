#include "adapters/db/pool.hpp"

#include "adapters/db/connection.hpp"

namespace mailpipe::db {

connection_pool::connection_pool(database_config cfg, size_t max_idle)
    : cfg_(std::move(cfg)), max_idle_(max_idle) {}

caf::expected<std::unique_ptr<pqxx::connection>> connection_pool::take() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    while (!idle_.empty()) {
      auto conn = std::move(idle_.back());
      idle_.pop_back();
      if (conn->is_open())
        return conn;
    }
  }
  return connect(cfg_);
}

void connection_pool::give_back(std::unique_ptr<pqxx::connection> conn) {
  if (!conn || !conn->is_open())
    return;
  std::lock_guard<std::mutex> guard{mtx_};
  if (idle_.size() < max_idle_)
    idle_.push_back(std::move(conn));
}

} // namespace mailpipe::db
