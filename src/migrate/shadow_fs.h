// migrate::RunShadowFs: the FUSE layer of a shadow migration (libfuse3,
// high-level API), mounted over the dataset's own mountpoint. Every access
// by clients, local or through NFS/SMB servers, passes through it: a lookup
// creates the looked-up entry first, listings and changes (create, unlink,
// rename, link) populate the whole directory first (so a removed name can
// never come back), opens (and truncates) copy the file's data first, and everything else goes straight to the dataset
// through the descriptor the tree holds (never through the mountpoint,
// which is this filesystem). The state directory is invisible, and so are
// the marker attribute and the private names in link counts.
//
// One handler per FUSE operation; errno conversion in internal/errno.cc.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "base/error.h"
#include "migrate/shadow_tree.h"

struct fuse;
struct fuse_conn_info;
struct fuse_config;

namespace pk::migrate {

class ShadowMount {
 public:
  // Mounts over `mountpoint` (the dataset, which the caller has open).
  // `fsname` shows in /proc/mounts. Until Serve() runs, clients' requests
  // wait in the kernel: a restarted helper mounts as soon as it has the
  // dataset open, so clients never see the raw dataset while it loads.
  static Result<std::unique_ptr<ShadowMount>> Create(const std::string& mountpoint, const std::string& fsname);
  ~ShadowMount();

  // Serves `tree` (the dataset under the mount) until Unmount() or a signal
  // (SIGTERM/SIGINT/SIGHUP). Multi-threaded.
  Status Serve(ShadowTree& tree);
  // From another thread: unmounts (waiting while clients keep it busy), which
  // ends Serve(). False when it could not (or a signal ended Serve() first).
  bool Unmount();

  // The FUSE init handler (the operations table names it): hands the loop the tree.
  static void* Init(::fuse_conn_info* conn, ::fuse_config* cfg);

 private:
  ShadowMount() = default;
  ::fuse* fuse_ = nullptr;
  ShadowTree* tree_ = nullptr;  // set by Serve() before the loop starts
  std::string mountpoint_;
  std::atomic<bool> mounted_{false};
};

// Detaches every dead shadow layer (fstype fuse.pkshadow) stacked on
// `mountpoint`, e.g. the mount of a helper that was killed. Returns how many;
// AlreadyExists when a live layer (another helper) serves it.
Result<int> DetachStaleShadowMounts(const std::string& mountpoint);
// Whether the topmost mount at `mountpoint` is a shadow layer.
bool IsShadowMounted(const std::string& mountpoint);

}  // namespace pk::migrate
