#include "adapters/db/sql_values.hpp"

#include <cmath>

#include <fmt/format.h>

#include "adapters/analysis/analysis_json.hpp"

namespace mailpipe::db {

std::string bigint_array(const std::vector<int64_t>& xs) {
  return fmt::format("{{{}}}", fmt::join(xs, ","));
}

std::string json_string_array(const std::vector<std::string>& xs) {
  std::string out = "[";
  for (auto& x : xs) {
    if (out.size() > 1)
      out += ',';
    append_json_string(out, x);
  }
  return out + "]";
}

double epoch_seconds(wall_time t) {
  using namespace std::chrono;
  return duration_cast<microseconds>(t.time_since_epoch()).count() / 1e6;
}

wall_time from_epoch_seconds(double secs) {
  using namespace std::chrono;
  return wall_time{duration_cast<system_clock::duration>(
      microseconds{static_cast<int64_t>(std::llround(secs * 1e6))})};
}

std::string iso_text(std::string_view column) {
  return fmt::format("COALESCE(to_char({} AT TIME ZONE 'UTC', "
                     "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '')",
                     column);
}

} // namespace mailpipe::db
