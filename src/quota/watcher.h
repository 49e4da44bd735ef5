// quota::Watcher: warning thresholds on user and group quotas (issue 7).
//
// A filesystem opts in with the user property `org.poolkeeper:quota-warn`
// (e.g. "80,95": percentages of each subject's quota), so the setting travels
// with the pool. Check() lists the quotas of each such filesystem and, for
// every user or group whose usage crossed a threshold since the last check
// (upwards or back below), appends an event to the service event log:
// resource "quota:DATASET/user:ID", state "warning" or "ok".
//
// Thread-safety: Check() runs on one thread at a time (the watcher's own
// pk::EventLoop once Start() was called); Stop() may be called from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "base/event_loop.h"
#include "events/event_log.h"
#include "zfs/zfs.h"

namespace pk::quota {

inline constexpr const char* kWarnProperty = "org.poolkeeper:quota-warn";

// "80,95" -> {80, 95}: whole percentages 1..100, strictly increasing, at most 8.
// "none" or "" -> {} (no warnings). Anything else is InvalidArgument naming the value.
Result<std::vector<int>> ParseThresholds(std::string_view text);

struct WarnTarget {
  zfs::DatasetName dataset;
  std::vector<int> thresholds;
};

class Watcher {
 public:
  // `clock` paces Start()'s checks (tests: testing::FakeClock).
  Watcher(zfs::Zfs& zfs, events::EventLog& events, Clock& clock = RealClock())
      : zfs_(zfs), events_(events), loop_(clock) {}

  ~Watcher() { Stop(); }

  // One pass over `targets`; returns the first listing error (other targets are still checked).
  Status Check(const std::vector<WarnTarget>& targets);

  // Calls Check(targets()) every `period` on a loop thread of its own until Stop().
  void Start(std::chrono::milliseconds period, std::function<std::vector<WarnTarget>()> targets);
  void Stop();

 private:
  zfs::Zfs& zfs_;
  events::EventLog& events_;
  std::map<std::string, int> level_;  // "DATASET/user:ID" -> highest threshold crossed (0: none)
  // Check(targets()) now and again after `period`, on the loop thread.
  void CheckEvery(std::chrono::milliseconds period, std::function<std::vector<WarnTarget>()> targets);
  EventLoop loop_;  // last: stopped before the rest goes
};

}  // namespace pk::quota
