#include "zfs/mount_lock.h"

#include <fcntl.h>
#include <sys/file.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <thread>

#include <fmt/format.h>

namespace pk::zfs {

bool CanMount(Tool tool, const std::vector<std::string>& args) {
  if (args.empty()) return false;
  static constexpr std::array<std::string_view, 2> kZpool = {"import", "create"};
  static constexpr std::array<std::string_view, 10> kZfs = {"create",  "mount",    "clone",   "rename",  "set",
                                                            "inherit", "rollback", "promote", "receive", "recv"};
  const std::string& verb = args.front();
  if (tool == Tool::kZpool) return std::ranges::find(kZpool, verb) != kZpool.end();
  return std::ranges::find(kZfs, verb) != kZfs.end();
}

Result<MountLock> MountLock::Acquire(const std::string& path, std::chrono::steady_clock::time_point deadline) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) {
    return Unavailable(fmt::format("cannot open the zfs-fuse mount lock {}: {}", path, std::strerror(errno)));
  }
  auto pause = std::chrono::milliseconds(5);
  while (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) {
      return Unavailable(fmt::format("cannot lock the zfs-fuse mount lock {}: {}", path, std::strerror(errno)));
    }
    if (std::chrono::steady_clock::now() + pause > deadline) {
      return DeadlineExceeded(fmt::format(
          "another zfs-fuse mount held {} until the deadline (zfs-fuse mounts one filesystem at a time)", path));
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(100));
  }
  return MountLock(std::move(fd));
}

}  // namespace pk::zfs
