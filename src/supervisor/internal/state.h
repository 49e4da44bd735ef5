// Small facts about service states shared by the supervisor's files.
#pragma once

#include <string>

#include "supervisor/supervisor.h"

namespace pk::supervisor::internal {

inline std::string Resource(const std::string& pool) { return "pool:" + pool; }

// Imported (or started) or on its way: an export (or stop) is needed to bring it down.
inline bool IsUp(State s) {
  return s == State::kImporting || s == State::kMounting || s == State::kSharing || s == State::kOnline ||
         s == State::kDegraded || s == State::kStopping || s == State::kStarting;
}

inline bool IsServing(State s) { return s == State::kOnline || s == State::kDegraded; }

}  // namespace pk::supervisor::internal
