#include "adapters/sys/logging.hpp"

#include <filesystem>

#include <fmt/format.h>
#include <spdlog/async.h>
#include <spdlog/sinks/daily_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "messages/error.hpp"

namespace mailpipe {

namespace {

// The job logs: one file per day, `DIR/NAME_YYYY-MM-DD.log`, kept
// `retention_days`.
caf::error open_job_logs(const log_config& cfg) {
  for (auto name : {"email-processing", "metrics-cleanup"}) {
    spdlog::drop(name);
    try {
      auto sink = std::make_shared<spdlog::sinks::daily_file_sink_mt>(
          fmt::format("{}/{}.log", cfg.dir, name), 0, 0, false,
          static_cast<uint16_t>(cfg.retention_days));
      auto logger = std::make_shared<spdlog::logger>(name, sink);
      logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %v");
      logger->flush_on(spdlog::level::info);
      spdlog::register_logger(logger);
    } catch (const std::exception& e) {
      return caf::make_error(
          ec::invalid_config,
          fmt::format("cannot open log file in {}: {}", cfg.dir, e.what()));
    }
  }
  return caf::none;
}

} // namespace

void job_log(std::string_view name, std::string_view line) {
  if (auto logger = spdlog::get(std::string{name}))
    logger->info(line);
}

caf::error setup_logging(const log_config& cfg, const std::string& level) {
  auto name = level.empty() ? cfg.level : level;
  auto lvl = spdlog::level::from_str(name);
  if (lvl == spdlog::level::off && name != "off")
    return caf::make_error(ec::invalid_config,
                           fmt::format("unknown log level '{}'", name));
  std::vector<spdlog::sink_ptr> sinks;
  sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  if (!cfg.dir.empty()) {
    std::error_code err;
    std::filesystem::create_directories(cfg.dir, err);
    if (err)
      return caf::make_error(ec::invalid_config,
                             fmt::format("cannot create log folder {}: {}",
                                         cfg.dir, err.message()));
    try {
      sinks.push_back(std::make_shared<spdlog::sinks::daily_file_sink_mt>(
          cfg.dir + "/mailpipe.log", 0, 0, false,
          static_cast<uint16_t>(cfg.retention_days)));
    } catch (const std::exception& e) {
      return caf::make_error(
          ec::invalid_config,
          fmt::format("cannot open log file in {}: {}", cfg.dir, e.what()));
    }
    if (auto err = open_job_logs(cfg))
      return err;
  }
  spdlog::drop("mailpipe");
  if (!spdlog::thread_pool())
    spdlog::init_thread_pool(8192, 1);
  auto logger = std::make_shared<spdlog::async_logger>(
      "mailpipe", sinks.begin(), sinks.end(), spdlog::thread_pool(),
      spdlog::async_overflow_policy::block);
  logger->set_level(lvl);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ [%t] %v");
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  spdlog::flush_every(std::chrono::seconds{1});
  return caf::none;
}

void shutdown_logging() {
  spdlog::shutdown();
}

} // namespace mailpipe
