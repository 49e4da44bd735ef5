// The zfs-fuse mount lock: on zfs-fuse, every command that can mount runs
// alone on the machine.
//
// zfs-fuse hands each new mount from its ioctl threads to its FUSE listener
// through one pipe, in two writes (the mount's record, then its path). Two
// mounts at once interleave those writes; the listener then takes a path
// length from another mount's bytes, blocks in read() with its lock held, and
// every filesystem zfs-fuse serves stops answering for good (seen: a service
// stop's `zpool export` hung in umount's stat of the mountpoint after the
// daemon had imported two pools at once). Every process that runs zfs-fuse's
// tools (poolkeeperd, the test harness, scripts) takes this lock around the
// ones that can mount. OpenZFS mounts in the kernel and needs none.
// Thread-safety: MountLock is a move-only owner, like UniqueFd.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "base/unique_fd.h"

namespace pk::zfs {

inline constexpr std::string_view kZfsFuseMountLockPath = "/run/lock/poolkeeper-zfs-fuse-mount.lock";

enum class Tool { kZpool, kZfs };

// Can `tool` run with `args` (its verb first) mount a filesystem on zfs-fuse?
// Errs on the side of yes: `zfs set`/`inherit` of any property (a mountpoint
// or canmount change remounts), `rename`, `rollback`, `promote`, `receive`.
bool CanMount(Tool tool, const std::vector<std::string>& args);

class MountLock {
 public:
  // Takes the exclusive lock on the file at `path` (made if missing), waiting
  // until `deadline`. The descriptor is close-on-exec: a child (a hung tool
  // killed later) never keeps the lock past its holder.
  static Result<MountLock> Acquire(const std::string& path, std::chrono::steady_clock::time_point deadline);

 private:
  explicit MountLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;  // flock'ed; released by close
};

}  // namespace pk::zfs
