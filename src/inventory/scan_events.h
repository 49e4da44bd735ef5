// Scrub and resilver starts and ends as events (issue 20 item 1).
//
// ScanTransitions compares two reads of a pool's `zpool status` scan line and
// says what happened between them, in an administrator's words. A scan that
// started and finished between two reads (zfs-fuse finishes a small pool's
// scrub before `zpool status` can see it running) gives both its start and
// its end. The daemon appends them to the event log with the resource
// "scan:POOL" (inventory::InventoryOptions::on_status).
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "zfs/types.h"

namespace pk::inventory {

struct ScanEvent {
  std::string state;     // "scrub-running", "scrub-finished", "scrub-canceled", "scrub-paused", "resilver-..."
  std::string previous;  // the state before, "" when there was none
  std::string reason;    // "scrub of pool 'tank' finished with 0 errors on ..., 0B repaired in 1 s"
};

// "scrub-running" etc. for a progress; "" for Kind::kNone.
std::string ScanStateWord(const zfs::ScanProgress& p);

std::vector<ScanEvent> ScanTransitions(const std::string& pool, const zfs::ScanProgress& before,
                                       const zfs::ScanProgress& after);
// The same from two whole status reads: a finished scan's reason also names
// the disks that have read, write or checksum errors, as zpool status counts
// them (issue 24 item 3: the scrub's event says which disk it repaired).
std::vector<ScanEvent> ScanTransitions(const std::string& pool, const zfs::PoolStatus& before,
                                       const zfs::PoolStatus& after);

// "/dev/sdb (12 checksum), /dev/sdc (1 read, 3 write)" for the leaves of
// `status` with error counts; "" when none has any.
std::string DisksWithErrors(const zfs::PoolStatus& status);

}  // namespace pk::inventory
