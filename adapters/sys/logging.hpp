#pragma once

#include <string>
#include <string_view>

#include <caf/error.hpp>

#include "config/config.hpp"

namespace mailpipe {

/// Sets up the process-wide spdlog logger "mailpipe": asynchronous, to stderr
/// and, when `cfg.dir` is set, to daily files `DIR/mailpipe_YYYY-MM-DD.log`
/// kept `cfg.retention_days` days. `level` overrides `cfg.level` when not
/// empty. Returns an error for a bad level or folder.
caf::error setup_logging(const log_config& cfg, const std::string& level = "");

/// Appends `line` to the job log `name` ("email-processing",
/// "metrics-cleanup"): daily files `DIR/NAME_YYYY-MM-DD.log` set up by
/// `setup_logging` when `log.dir` is set (else nothing is written).
void job_log(std::string_view name, std::string_view line);

/// Flushes and drops every logger (call before exit).
void shutdown_logging();

} // namespace mailpipe
