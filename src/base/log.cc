#include "base/log.h"

#include <mutex>

#include <spdlog/sinks/stdout_color_sinks.h>

namespace pk {
namespace {

std::mutex g_mutex;  // guards creation of loggers and g_level
spdlog::level::level_enum g_level = spdlog::level::warn;

}  // namespace

std::shared_ptr<spdlog::logger> GetLogger(const std::string& component) {
  std::lock_guard lock(g_mutex);
  if (auto existing = spdlog::get(component)) return existing;
  auto logger = spdlog::stderr_color_mt(component);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l [%n] %v");
  logger->set_level(g_level);
  return logger;
}

void SetLogLevel(const std::string& level) {
  std::lock_guard lock(g_mutex);
  g_level = spdlog::level::from_str(level);
  spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& l) { l->set_level(g_level); });
}

}  // namespace pk
