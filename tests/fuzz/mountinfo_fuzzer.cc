// Fuzz target: /proc/PID/mountinfo (base/mountinfo.h) and the kernel NFS
// backend's views of it (share/nfs_kernel.h).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "base/mountinfo.h"
#include "share/nfs_kernel.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto mounts = pk::ParseMountInfo(text);
  for (const auto& m : mounts) (void)pk::TopMountAt(mounts, m.mount_point);
  (void)pk::TopMountAt(mounts, "/");
  (void)pk::share::PoolMountPoints(text, "tank");
  (void)pk::share::PoolMountPoints(text, "");
  (void)pk::share::MountDeviceOf(text, "/tank");
  return 0;
}
