#pragma once

// What the cluster holds right now, read from PostgreSQL for /metrics
// (docs/http.md): jobs by queue and state, accounts by state, runs, alerts by
// delivery state, live nodes.

#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include <caf/expected.hpp>
#include <pqxx/connection>

namespace mailpipe::db {

/// One reading of the cluster's tables.
struct cluster_gauges {
  /// Jobs per (queue, state); every queue and state is present, 0 when none.
  std::map<std::pair<std::string, std::string>, int64_t> jobs;
  /// Seed accounts per state (active, retrying, disabled), each present.
  std::map<std::string, int64_t> accounts;
  /// Processing runs recorded in `email_processing_metrics`, and its rows per
  /// status (success, failure, timeout, skipped), each present.
  int64_t runs = 0;
  std::map<std::string, int64_t> account_passes;
  /// Alerts per delivery state (pending, delivered, failed), each present.
  std::map<std::string, int64_t> alerts;
  /// Tests per status (pending, complete, expired), each present.
  std::map<std::string, int64_t> tests;
  /// Nodes registered and not stopped.
  int64_t nodes = 0;
};

/// Reads the gauges in one read-only transaction.
caf::expected<cluster_gauges> read_gauges(pqxx::connection& conn);

} // namespace mailpipe::db
