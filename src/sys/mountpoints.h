// sys::MountpointGuard: mountpoint protection (issue 18 item 5), as
// Solaris-era appliance SMF methods did it. While a managed pool is not
// imported, its mountpoint directories are empty and carry the immutable
// attribute (FS_IMMUTABLE_FL, what `chattr +i` sets), so that nothing, root
// included, writes into the root file system in place of the absent pool
// (EPERM). The kernel and zfs-fuse mount over an immutable directory.
//
// Thread-safety: the real implementation has no state; calls may run concurrently.
#pragma once

#include <memory>
#include <string>

#include "base/error.h"

namespace pk::sys {

class MountpointGuard {
 public:
  virtual ~MountpointGuard() = default;
  // Sets the attribute on an empty directory. FailedPrecondition naming the
  // path when the directory holds anything (what was written under an absent
  // pool must be looked at, not locked in), NotFound when absent,
  // Unimplemented when its file system has no such attribute.
  virtual Status ProtectEmptyDir(const std::string& path) = 0;
  // Clears it; OK when the directory is absent or the attribute not set.
  virtual Status UnprotectDir(const std::string& path) = 0;
  // Whether the directory carries it.
  virtual Result<bool> DirProtected(const std::string& path) = 0;
};

// Through FS_IOC_GETFLAGS/FS_IOC_SETFLAGS (only daemon/ constructs it).
std::unique_ptr<MountpointGuard> MakeRealMountpointGuard();

}  // namespace pk::sys
