#pragma once

// Values as the db adapter passes them to PostgreSQL: arrays as literals or JSON text,
// times as seconds since the epoch (libpqxx 6.4 converts neither vectors nor time points).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "messages/clock.hpp"

namespace mailpipe::db {

/// `{1,2,3}`, a `bigint[]` literal.
std::string bigint_array(const std::vector<int64_t>& xs);

/// `["a","b"]`, for `ARRAY(SELECT jsonb_array_elements_text($n::jsonb))`.
std::string json_string_array(const std::vector<std::string>& xs);

/// Seconds since the epoch, with microseconds (for `to_timestamp`).
double epoch_seconds(wall_time t);

/// The inverse of `epoch_seconds` (for `extract(epoch FROM ...)`).
wall_time from_epoch_seconds(double secs);

/// SQL for a timestamptz column as ISO 8601 UTC text, "" for NULL:
/// `2024-05-01T12:00:00Z`.
std::string iso_text(std::string_view column);

} // namespace mailpipe::db
