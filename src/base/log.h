// Named, structured loggers (STYLE rule 12): one per component, quiet by default.
// Thread-safety: spdlog loggers are thread-safe; GetLogger may be called from any thread.
#pragma once

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace pk {

// Returns the logger named `component` ("zfs", "api", ...), creating it on first use.
// Loggers write to stderr with the component name and level.
std::shared_ptr<spdlog::logger> GetLogger(const std::string& component);

// Sets the level of every current and future logger ("debug", "info", "warn", ...).
void SetLogLevel(const std::string& level);

}  // namespace pk
