// protect::Scheduler: takes and prunes the scheduled snapshots of the datasets
// whose pool carries a snapshot policy (issue 24 item 1).
//
// Per dataset, not `zfs snapshot -r`: a policy set on a parent reaches each
// child through ZFS inheritance, and each dataset (parent and children, each
// with the policy it sees, inherited or its own) gets its own snapshot, its own
// pruning and its own status and events. A child can override or opt out, a
// held snapshot or a failure in one dataset stalls nothing else, and the
// datasets due at one slot are snapshotted in one pass under the same name.
// Not atomic across a tree (a recursive snapshot is); an admin who needs that
// takes `snapshot create -r` by hand.
//
// A pass (RunOnce) at the clock's now, per target:
//  - lists the dataset's snapshots with the policy's prefix (with `userrefs`:
//    its holds); the newest one's name is the last run, so nothing is stored
//    outside the pool and a head that takes the pool over continues from it;
//  - takes PREFIX-<now> when a slot passed since the newest (a policy without
//    snapshots takes its first at once). However many slots passed while the
//    daemon or the pool was away, that is one snapshot: missed runs are caught
//    up once. A failed run is reported and retried at the next slot;
//  - prunes, by protect::KeepByGrid, only snapshots with its own prefix, never
//    a held one, never one the RetentionHook asks to keep.
// Events: resource "snapshot:DATASET", state taken / pruned / failed, with the
// snapshot and the reason.
//
// Which datasets: `targets()` (the daemon reads them from the inventory, so
// only pools imported on this head; after a failover the survivor's inventory
// has the pool and its properties, and the newest snapshot says where to go on).
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
#include "protect/policy.h"
#include "zfs/zfs.h"

namespace pk::protect {

// A dataset and the policy it sees.
struct Target {
  zfs::DatasetName dataset;
  Result<Policy> policy;       // an error when the property does not parse (reported, nothing done)
  std::string source;          // "local" or the dataset it is inherited from
  std::string held;            // non-empty: the pool is held (why); nothing is taken or pruned
};

// Asked before a snapshot is pruned: replication (issue 24 item 2) will keep
// the snapshots an incremental send still needs. nullopt: not needed;
// otherwise why it must stay. Called on the scheduler's thread.
class RetentionHook {
 public:
  virtual ~RetentionHook() = default;
  virtual std::optional<std::string> WhyKeep(const zfs::SnapshotName& snapshot) = 0;
};

struct DatasetStatus {
  std::string dataset;
  std::string policy;  // canonical property value, or the unparsable one
  std::string source;
  std::optional<std::chrono::system_clock::time_point> last_run;  // when the last pass ran for it
  std::string last_snapshot;                                      // newest own snapshot
  std::optional<std::chrono::system_clock::time_point> next_run;
  std::string last_error;                                         // empty after a clean pass
  size_t snapshots = 0;                                           // own snapshots after the pass
};

class Scheduler {
 public:
  // `on_changed(dataset)` runs after a pass changed the dataset's snapshots (the daemon refreshes its inventory).
  Scheduler(zfs::Zfs& zfs, events::EventLog& events, Clock& clock = RealClock(),
            std::function<void(const zfs::DatasetName&)> on_changed = {})
      : zfs_(zfs), events_(events), clock_(clock), on_changed_(std::move(on_changed)), loop_(clock) {}
  ~Scheduler() { Stop(); }

  // Before Start(); null: no snapshot is kept for anyone else.
  void SetRetentionHook(RetentionHook* hook) { hook_ = hook; }

  // One pass over `targets` at the clock's now. Returns the first failure
  // (other targets still run); each failure is also an event and a status.
  Status RunOnce(const std::vector<Target>& targets);

  // Runs a pass now, then at each next slot of any target, and at least every
  // `rescan` (new or changed policies), until Stop().
  void Start(std::function<std::vector<Target>()> targets, std::chrono::milliseconds rescan);
  // A pass as soon as possible (after a policy was set or cleared).
  void Poke();
  void Stop();

  std::vector<DatasetStatus> Statuses() const;

 private:
  Status RunTarget(const Target& target, Seconds now);
  void Fail(const zfs::DatasetName& dataset, const std::string& reason);
  void Event(const zfs::DatasetName& dataset, const std::string& state, const std::string& reason);
  void Pass(uint64_t generation);

  zfs::Zfs& zfs_;
  events::EventLog& events_;
  Clock& clock_;
  std::function<void(const zfs::DatasetName&)> on_changed_;
  RetentionHook* hook_ = nullptr;
  std::map<std::string, Seconds> failed_slot_;  // dataset -> slot whose snapshot failed (loop thread only)
  mutable std::mutex mu_;
  std::map<std::string, DatasetStatus> status_;  // guarded by mu_
  std::function<std::vector<Target>()> targets_;
  std::chrono::milliseconds rescan_{60000};
  uint64_t generation_ = 0;  // loop thread only: a pass's timer from before a Poke is dropped
  EventLoop loop_;           // last: stopped before the rest goes
};

}  // namespace pk::protect
