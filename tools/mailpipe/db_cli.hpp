#pragma once

// What the database commands (account, test, metrics) share.

#include <memory>
#include <string>
#include <string_view>

#include <caf/error.hpp>
#include <pqxx/connection>

#include "adapters/db/json_output.hpp"
#include "tools/mailpipe/cli.hpp"

namespace mailpipe::cli {

/// Loads the config (into `*cfg_out` when given) and connects to its database for
/// command `cmd`; on failure prints why, sets `ctx.exit` and returns null.
std::unique_ptr<pqxx::connection>
open_database(context& ctx, std::string_view cmd, config* cfg_out = nullptr);

/// Prints `cmd: error` to stderr and sets the exit code: 2 for a config mistake, 1 for
/// anything else (database down, unknown id, duplicate, bad input data).
void report(context& ctx, std::string_view cmd, const caf::error& err);

using db::json_str;

} // namespace mailpipe::cli
