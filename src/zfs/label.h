// What a pool's vdev labels say of the system that imported it last, and
// the pool-level protection that goes with it (issue 17 item 7: a forced
// import needs that system to be a fenced head; OpenZFS's multihost
// protection refuses an import while another host writes the pool).
//
// ReadLabel and EnableMultihost run zdb/zpool like zfs::Zfs does (the same
// adapter, cli_zfs.cc); they are free functions so that the widely included
// zfs::Zfs interface stays as it is. Thread-safety: pure functions, and the
// tool runs are as safe as the ProcessRunner.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"
#include "sys/process_runner.h"
#include "zfs/names.h"
#include "zfs/zfs.h"

namespace pk::zfs {

// What a vdev label (`zdb -l DEVICE`, the first of its four labels that
// unpacks) records of its pool and of the system that imported it last
// (issue 17 item 7: a forced import needs that system to be a fenced head).
// Both flavours record `hostname` and `hostid`; OpenZFS keeps them after an
// export too, and leaves out `hostid` when the importer's was 0.
struct VdevLabel {
  std::string device;              // what was read
  std::string pool;                // `name`
  uint64_t pool_guid = 0;
  uint64_t txg = 0;
  uint64_t state = 0;              // `state`: see LabelStateName
  std::string hostname;            // "" when absent
  std::optional<uint64_t> hostid;  // absent when the importer had none
};
// True when an import failed because another system used the pool last
// (zfs-fuse "pool may be in use from other system", OpenZFS "pool was
// previously in use from another system" / "last accessed by another system").
bool RefusedAsInUse(std::string_view message);
// 0 active, 1 exported, 2 destroyed, 3 spare, 4 l2cache, 5 uninitialized,
// 6 unavail, 7 potentially active; "state N" otherwise.
std::string LabelStateName(uint64_t state);
// "0x0a0a8801": a hostid as `hostid(1)` prints it (8 hex digits), 0x-prefixed.
std::string HostidText(uint64_t hostid);
// The clause the adapter adds to an import refused because the pool is in
// use elsewhere: "label of 'DEVICE': last imported by host 'HOST' (hostid
// 0x...), state active, txg N". FindLabelImporter reads it back (the OCF agent
// and the API's forced import get the refusal as text).
std::string LabelClause(const VdevLabel& label);
struct LabelImporter {
  std::string device;
  std::string host;    // as recorded ("" when the label has no hostname)
  std::string hostid;  // "0x..." or "" when the label has none
};
std::optional<LabelImporter> FindLabelImporter(std::string_view text);

// `zdb -l DEVICE` (zdb beside the setup's zpool): NotFound when the device
// has no ZFS label, InvalidArgument for a relative path.
Result<VdevLabel> ReadLabel(sys::ProcessRunner& runner, const ZfsSetup& setup, const std::string& device);
// `zpool set multihost=on POOL` (MMP: an import on another host refuses,
// even forced, while this one writes the pool). OpenZFS only, and only with
// a non-zero hostid (FailedPrecondition naming /etc/hostid); Unimplemented
// on zfs-fuse (pool version 23 has no MMP).
Status EnableMultihost(sys::ProcessRunner& runner, const ZfsSetup& setup, const PoolName& pool);

}  // namespace pk::zfs
