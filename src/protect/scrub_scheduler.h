// protect::ScrubScheduler: starts the scheduled scrubs of the pools imported
// on this head (issue 24 item 3), by each pool's ScrubPolicy (scrub_policy.h;
// monthly when the pool carries none).
//
// A pass (RunOnce) at the clock's now, over the pools (ScrubTargetsOf, from the
// inventory, so only pools imported here):
//  - a pool is due at ScrubDue(policy, end of its last scan or its creation);
//  - one scan at a time on a head: while any pool here scrubs or resilvers,
//    nothing is started; of the pools due, the most overdue goes first, and
//    the next one waits for it (staggered, as the pools' own minutes of the
//    day already spread them);
//  - never on a pool whose health is not ONLINE or DEGRADED, nor on one with a
//    paused scrub (the administrator's);
//  - after a start the pool waits until `zpool status` shows a scan that ended
//    after it (or 10 minutes), so a status read from before the scrub never
//    starts a second one;
//  - a failed start is an event and the status's error, tried again after an
//    hour (or the interval, when shorter).
// Events: resource "scan:POOL" (the inventory's scan events use it too, so
// the start, the end and its errors read as one story), state
// "scrub-requested" with the policy and the last scan's end, or
// "scrub-request-failed" with the reason.
//
// Thread-safety: RunOnce on one thread at a time (the scheduler's own
// pk::EventLoop once Start() was called); Statuses(), Poke() and Stop() from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "base/event_loop.h"
#include "events/event_log.h"
#include "inventory/inventory.h"
#include "protect/scrub_policy.h"
#include "zfs/zfs.h"

namespace pk::protect {

// A pool imported here and what its schedule depends on.
struct ScrubTarget {
  zfs::PoolName pool;
  uint64_t guid = 0;
  Result<ScrubPolicy> policy = ScrubPolicy{};  // an error when the property does not parse
  std::string source = "default";              // "local" or "default"
  std::string health;                          // ONLINE, DEGRADED, ...
  zfs::ScanProgress scan;                      // the last scan, from `zpool status`
  std::optional<Seconds> created;              // the root dataset's creation
  std::string held;                            // non-empty: the pool is held (why); never scrubbed by schedule
};

// The inventory's pools as targets (pools without a status read yet are left
// out until they have one), those `held` names with the reason. Sorted by name.
std::vector<ScrubTarget> ScrubTargetsOf(const inventory::Snapshot& view, const HeldCheck& held = {});

struct ScrubStatus {
  std::string pool;
  std::string policy;  // canonical, or the value that does not parse
  std::string source;  // "local" or "default"
  std::string state;   // "scheduled", "due", "scanning", "paused", "off", "held", "not-scheduled", "error"
  std::string reason;  // why, for states other than "scheduled"
  std::optional<std::chrono::system_clock::time_point> last_scan_end;
  std::optional<std::chrono::system_clock::time_point> next_run;
  std::optional<std::chrono::system_clock::time_point> last_requested;  // this head's last start
  std::string last_error;
};

class ScrubScheduler {
 public:
  // `on_started(pool)` runs after a scrub was started (the daemon re-reads the pool's status).
  ScrubScheduler(zfs::Zfs& zfs, events::EventLog& events, Clock& clock = RealClock(),
                 std::function<void(const zfs::PoolName&)> on_started = {})
      : zfs_(zfs), events_(events), clock_(clock), on_started_(std::move(on_started)), loop_(clock) {}
  ~ScrubScheduler() { Stop(); }

  // One pass at the clock's now. Returns the failure of a start, if one failed.
  Status RunOnce(const std::vector<ScrubTarget>& targets);

  // A pass now, then every `rescan` (or at the next due time, when sooner), until Stop().
  void Start(std::function<std::vector<ScrubTarget>()> targets, std::chrono::milliseconds rescan);
  void Poke();  // a pass as soon as possible (after a policy was set or cleared)
  void Stop() { loop_.Stop(); }

  std::vector<ScrubStatus> Statuses() const;

 private:
  void Event(const zfs::PoolName& pool, const std::string& state, const std::string& reason);
  void Pass(uint64_t generation);

  zfs::Zfs& zfs_;
  events::EventLog& events_;
  Clock& clock_;
  std::function<void(const zfs::PoolName&)> on_started_;
  std::map<std::string, Seconds> requested_;  // pool -> when this head started its scrub (loop thread only)
  std::map<std::string, Seconds> failed_;     // pool -> when a start failed (loop thread only)
  mutable std::mutex mu_;
  std::map<std::string, ScrubStatus> status_;  // guarded by mu_
  std::function<std::vector<ScrubTarget>()> targets_;
  std::chrono::milliseconds rescan_{60000};
  uint64_t generation_ = 0;  // loop thread only
  EventLoop loop_;           // last: stopped before the rest goes
};

}  // namespace pk::protect
