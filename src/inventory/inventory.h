// inventory::Inventory: the daemon's cached view of pools and datasets, so that
// reads do not run `zfs list` each time.
//
// The view is an immutable Snapshot published through a shared_ptr: readers
// take Current() and keep using it while a refresh builds the next one. A full
// refresh runs on a period (RunPeriodic) and a targeted refresh follows every
// change made through the daemon: RefreshPool() after pool operations,
// RefreshTree() after dataset and snapshot operations (only that subtree is
// asked of ZFS and merged into the view).
//
// A write costs one refresh of what changed (issue 19 item 6): RefreshTree
// runs `zfs get -r` of the subtree, one `zfs get` per ancestor and `zpool
// list`, whatever the number of pools, and reads no pool status: a dataset
// write does not change one. Pool status (`zpool status`,
// which a hung pool can hold for minutes) is read one pool at a time
// (RefreshStatus) and never under refresh_mutex_, the lock a write's refresh
// waits on; each pool's status is published as soon as it is read.
//
// The refresh methods run on the calling thread; StartPeriodic()/Stop() are
// only the scheduler that calls them (so another runner may replace it).
//
// Thread-safety: every method may be called from any thread. Dataset and pool
// list refreshes are serialised by refresh_mutex_; status reads may run
// concurrently with them and each other; publication is guarded by current_mutex_.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "base/event_loop.h"
#include "zfs/zfs.h"

namespace pk::inventory {

// Properties kept for every dataset and snapshot in the view.
inline const std::vector<std::string> kInventoryProperties = {
    "type", "used", "available", "referenced", "mountpoint", "mounted", "compression",
    "canmount", "creation", "origin", "org.poolkeeper:quota-warn",
    "org.poolkeeper:snapshot-schedule",   // protect::kScheduleProperty (the daemon's snapshot schedules)
    "org.poolkeeper:scrub-schedule",      // protect::kScrubProperty (its scrub schedules)
    "org.poolkeeper:adopted"};            // supervisor::kAdoptedProperty (the schedules act on adopted pools only)

struct PoolEntry {
  zfs::PoolSummary summary;
  zfs::PoolStatus status;
};

struct Snapshot {
  std::vector<PoolEntry> pools;                   // sorted by name
  std::map<std::string, zfs::Dataset> datasets;   // filesystems, volumes and snapshots by name
  std::chrono::system_clock::time_point refreshed_at;  // oldest data in the view
  uint64_t generation = 0;                        // +1 on every publication
  std::string last_error;                         // why the last refresh failed, if it did

  const PoolEntry* FindPool(const std::string& name) const;
};

struct InventoryOptions {
  std::chrono::milliseconds period{std::chrono::seconds(30)};
  Clock* clock = &RealClock();  // refreshed_at stamps and the period (tests: testing::FakeClock)
  // Called after a pool's status read is published, with the status it
  // replaced, when the pool had one read before (not on a pool's first read,
  // nor on the first after it left the view and came back, as on a re-import):
  // how scrub/resilver starts and ends become events (scan_events.h). Runs on
  // the refreshing thread, outside the inventory's locks. Unset: nothing.
  std::function<void(const std::string& pool, const zfs::PoolStatus& before, const zfs::PoolStatus& after)>
      on_status;
};

class Inventory {
 public:
  Inventory(zfs::Zfs& zfs, InventoryOptions options);
  ~Inventory();

  // The current view (never null; empty before the first refresh).
  std::shared_ptr<const Snapshot> Current() const;

  // Re-reads every pool and dataset, then (outside refresh_mutex_) every pool's status.
  Status RefreshAll();
  // Re-reads the pool list and all of one pool's datasets, then (outside
  // refresh_mutex_) that pool's status (after create/import/export/destroy).
  Status RefreshPool(const std::string& pool);
  // Re-reads `name` and everything below it (children and snapshots), its
  // ancestors (space accounting), and the pool list; names that no longer
  // exist leave the view. No pool status is read.
  Status RefreshTree(const std::string& name);
  // Re-reads one pool's status (`zpool status POOL`) and publishes it; a pool
  // that is gone or not in the view is left alone. Never takes refresh_mutex_.
  Status RefreshStatus(const std::string& pool);

  // Queues RefreshPool(pool) on the periodic loop and returns at once (for
  // callers that must not wait, such as the supervisor bringing a pool online).
  void RefreshPoolSoon(const std::string& pool);

  // Starts a loop (pk::EventLoop) that calls RefreshAll() until Stop(), spacing refreshes so
  // that no view is more than one period out of date: a refresh starts one
  // period minus the last refresh's duration after the previous one started.
  void StartPeriodic();
  void Stop();

 private:
  // `zpool list`; a status that says only the pool's health (publication
  // keeps the one the view has: see MergePools).
  Result<std::vector<PoolEntry>> ReadPools();
  // kFull: a whole refresh, which also clears the last refresh error.
  enum class Scope { kPart, kFull };
  void Publish(std::function<void(Snapshot&)> change, Scope scope);
  void RecordError(const Error& error);
  void RefreshPeriodically();  // on loop_

  zfs::Zfs& zfs_;
  InventoryOptions options_;

  std::mutex refresh_mutex_;  // serialises refreshes (each runs ZFS tools)

  mutable std::mutex current_mutex_;
  std::shared_ptr<const Snapshot> current_;  // guarded by current_mutex_
  // Status reads may overlap: the ticket of the newest read published per pool,
  // so an older read finishing late never replaces a newer one.
  uint64_t next_status_ticket_ = 0;                    // guarded by current_mutex_
  std::map<std::string, uint64_t> status_published_;  // guarded by current_mutex_

  std::mutex pending_mutex_;
  std::set<std::string> pending_pools_;  // guarded by pending_mutex_
  std::atomic<bool> stopping_{false};    // queued refreshes are dropped once set
  Clock& clock_;
  EventLoop loop_;  // last: stopped before the rest goes
};

}  // namespace pk::inventory
