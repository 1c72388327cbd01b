#include "actors/metrics.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "adapters/sys/logging.hpp"

namespace mailpipe {

namespace {

using metrics_ptr = metrics_actor::stateful_pointer<metrics_state>;

constexpr auto store_bound = std::chrono::seconds{120};
constexpr auto cleanup_interval = std::chrono::hours{24};

void count(metrics_state& st, const std::vector<metrics_row>& rows) {
  ++st.runs;
  for (auto& row : rows) {
    st.emails_found += row.emails_found;
    if (row.status == "success")
      ++st.successes;
    else if (row.status == "timeout")
      ++st.timeouts;
    else if (row.status == "skipped")
      ++st.skipped;
    else
      ++st.failures;
  }
}

caf::result<int64_t> write_rows(metrics_ptr self,
                                std::vector<metrics_row> rows) {
  count(self->state, rows);
  auto rp = self->make_response_promise<int64_t>();
  self->request(self->state.store, store_bound, atom::store_v, std::move(rows))
      .then(
          [self, rp](int64_t n) mutable {
            self->state.rows_written += n;
            rp.deliver(n);
          },
          [self, rp](const caf::error& err) mutable {
            self->state.last_error = render(err);
            rp.deliver(err);
          });
  return rp;
}

void clean(metrics_ptr self) {
  auto days = self->state.retention_days;
  self->request(self->state.store, store_bound, atom::clean_v, days)
      .then(
          [self, days](int64_t n) {
            self->state.rows_cleaned += n;
            job_log("metrics-cleanup",
                    fmt::format("deleted {} email_processing_metrics rows "
                                "older than {} days",
                                n, days));
          },
          [self](const caf::error& err) {
            self->state.last_error = render(err);
            job_log("metrics-cleanup", "cleanup failed: " + render(err));
            spdlog::warn("metrics: cleanup failed: {}", render(err));
          });
  self->delayed_send(self, cleanup_interval, atom::clean_v);
}

status_dict metrics_status(const metrics_state& st) {
  status_dict d;
  d["name"] = std::string{metrics_state::name};
  d["runs"] = st.runs;
  d["rows_written"] = st.rows_written;
  d["successes"] = st.successes;
  d["failures"] = st.failures;
  d["timeouts"] = st.timeouts;
  d["skipped"] = st.skipped;
  d["emails_found"] = st.emails_found;
  d["rows_cleaned"] = st.rows_cleaned;
  d["last_error"] = st.last_error;
  return d;
}

} // namespace

metrics_actor::behavior_type
metrics(metrics_actor::stateful_pointer<metrics_state> self, store_actor store,
        int64_t retention_days) {
  self->state.store = std::move(store);
  self->state.retention_days = retention_days;
  if (retention_days > 0)
    self->send(self, atom::clean_v);
  return {
      [self](atom::status) { return metrics_status(self->state); },
      [self](atom::store, std::vector<metrics_row>& rows) {
        return write_rows(self, std::move(rows));
      },
      [self](atom::clean) { clean(self); },
  };
}

} // namespace mailpipe
