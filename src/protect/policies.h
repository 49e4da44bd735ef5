// Snapshot policies on datasets (issue 24 item 1): set, show and clear the
// `org.poolkeeper:snapshot-schedule` property through zfs::Zfs, and the
// scheduler's targets from a listing of datasets. Everything is validated
// before zfs runs: a bad policy or a dataset that is not a filesystem writes
// nothing. Clearing is `zfs inherit`: the dataset then follows its parent's
// policy, if any. A dataset whose value is `none` opts out of an inherited one.
//
// Thread-safety: free functions; as safe as the zfs::Zfs they are given.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "base/error.h"
#include "protect/policy.h"
#include "protect/scheduler.h"
#include "protect/scrub_policy.h"
#include "zfs/zfs.h"

namespace pk::protect {

inline constexpr const char* kNoPolicy = "none";

struct PolicyView {
  std::string dataset;
  std::string value;   // the property as ZFS has it; empty when there is none
  std::string source;  // "local", the dataset it is inherited from, or "" when none
};

Status SetPolicy(zfs::Zfs& zfs, const zfs::DatasetName& dataset, const Policy& policy);
// Sets `none`: the dataset (and the children inheriting from it) has no schedule.
Status OptOut(zfs::Zfs& zfs, const zfs::DatasetName& dataset);
Result<PolicyView> GetPolicy(zfs::Zfs& zfs, const zfs::DatasetName& dataset);
Status ClearPolicy(zfs::Zfs& zfs, const zfs::DatasetName& dataset);

// The filesystems among `datasets` (by name, as zfs get gives them) that see a
// policy, set here or inherited; `none` opts out. Sorted by name. Those of
// pools `held` names carry the reason and are left alone by the scheduler.
std::vector<Target> TargetsOf(const std::map<std::string, zfs::Dataset>& datasets, const HeldCheck& held = {});

// A pool's scrub schedule (issue 24 item 3), on its root dataset: set (the
// pool must be imported here), and clear (`zfs inherit`: the default,
// monthly, again).
Status SetScrubPolicy(zfs::Zfs& zfs, const zfs::PoolName& pool, const ScrubPolicy& policy);
Status ClearScrubPolicy(zfs::Zfs& zfs, const zfs::PoolName& pool);

}  // namespace pk::protect
