// Time formatting shared by logs, events, service states and the API.
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <string>

namespace pk {

// "2026-11-22T03:20:00Z": RFC 3339, UTC, whole seconds.
std::string FormatRfc3339(std::chrono::system_clock::time_point t);

}  // namespace pk
