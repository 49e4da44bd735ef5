// Fuzz target: what the kernel NFS backend reads back from the system
// (share/nfs_kernel.h): `exportfs -v` output, the nfsd.export and nfsd.fh
// caches, their flush files, /proc/fs/nfsd/filecache and an nfsd client's
// states file.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "share/nfs_kernel.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace s = pk::share;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)s::ParseExportfsPaths(text);
  (void)s::ExportCachePaths(text, s::ExportCacheKind::kExport);
  (void)s::ExportCachePaths(text, s::ExportCacheKind::kFh);
  (void)s::ParseFlushTime(text);
  (void)s::FileCacheInodes(text);
  (void)s::StatesHoldDevice(text, s::DeviceNumber{0, 42});
  return 0;
}
