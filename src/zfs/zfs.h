// zfs::Zfs: the only code in Poolkeeper that runs `zpool` and `zfs` (BRIEF.md).
//
// Every operation takes validated names (zfs/names.h) and typed options
// (zfs/types.h), runs the tool through sys::ProcessRunner with an argv vector,
// and returns typed results. Errors carry the tool's own message and the
// object's name, e.g. "import pool 'tank': zpool exited 1: cannot import
// 'tank': no such pool available". Operations a dialect cannot do (zvols or
// import -N on zfs-fuse) return Unimplemented with the reason.
//
// Thread-safety: implementations are safe to call from several threads; ZFS
// itself serialises conflicting changes.
#pragma once

#include <memory>
#include <vector>

#include "base/error.h"
#include "sys/process_runner.h"
#include "zfs/mount_lock.h"
#include "zfs/types.h"

namespace pk::zfs {

class Zfs {
 public:
  virtual ~Zfs() = default;

  virtual Dialect dialect() const = 0;

  // Pools.
  virtual Result<std::vector<PoolSummary>> ListPools() = 0;
  virtual Result<PoolStatus> GetPoolStatus(const PoolName& pool) = 0;
  virtual Status CreatePool(const PoolName& pool, const VdevSpec& vdevs,
                            const CreatePoolOptions& options) = 0;
  virtual Result<std::vector<ImportablePool>> ListImportable(
      const std::vector<std::string>& search_dirs) = 0;
  virtual Status ImportPool(const ImportOptions& options) = 0;
  virtual Status ExportPool(const PoolName& pool, Force force) = 0;
  virtual Status DestroyPool(const PoolName& pool, Force force) = 0;

  // Datasets and snapshots.
  virtual Result<std::vector<Dataset>> ListDatasets(const ListOptions& options) = 0;
  // One dataset or snapshot with the given properties (all when empty).
  virtual Result<Dataset> GetDataset(const std::string& name,
                                     const std::vector<std::string>& properties) = 0;
  virtual Status CreateDataset(const DatasetName& dataset, const PropertyList& properties,
                               CreateParents parents) = 0;
  virtual Status CreateVolume(const DatasetName& dataset, uint64_t size_bytes,
                              const PropertyList& properties) = 0;
  // Sets properties on a dataset or snapshot (snapshots take user properties).
  virtual Status SetProperties(const std::string& name, const PropertyList& properties) = 0;
  virtual Status InheritProperty(const DatasetName& dataset, const PropertyName& property,
                                 Recursive recursive) = 0;
  virtual Status DestroyDataset(const DatasetName& dataset, Recursive recursive) = 0;
  virtual Status RenameDataset(const DatasetName& from, const DatasetName& to) = 0;
  virtual Status CreateSnapshot(const SnapshotName& snapshot, Recursive recursive) = 0;
  virtual Status DestroySnapshot(const SnapshotName& snapshot, Recursive recursive) = 0;
  virtual Status Rollback(const SnapshotName& snapshot, RollbackMode mode) = 0;

  // Mounting, for pools imported without mounting (OpenZFS `import -N`) and
  // for filesystems a failed operation left unmounted.
  virtual Status MountDataset(const DatasetName& dataset) = 0;
  virtual Status UnmountDataset(const DatasetName& dataset, Force force) = 0;

  // Quotas. One subject is read with `zfs get userused@ID,userquota@ID`: never
  // a listing, so it costs the same with 20 or 20,000 users. A subject ZFS has
  // never charged reads as used 0, quota 0.
  virtual Result<QuotaUsage> GetQuota(const DatasetName& dataset, const QuotaSubject& subject) = 0;
  // Sets the byte quota (`userquota@ID=BYTES`); 0 is refused (use ClearQuota).
  virtual Status SetQuota(const DatasetName& dataset, const QuotaSubject& subject, uint64_t bytes) = 0;
  // Sets the object quota (`userobjquota@ID=N`): OpenZFS only, Unimplemented on zfs-fuse.
  virtual Status SetObjectQuota(const DatasetName& dataset, const QuotaSubject& subject, uint64_t objects) = 0;
  // Removes the byte quota (and on OpenZFS the object quota): `...quota@ID=none`.
  virtual Status ClearQuota(const DatasetName& dataset, const QuotaSubject& subject) = 0;
  // Every subject of `kind` with usage or a quota. OpenZFS: `zfs userspace|groupspace
  // -H -p -n -o type,name,used,quota,objused,objquota` (exact, numeric ids).
  // zfs-fuse: its built-in `userspace` fallback (human sizes, resolved names,
  // users and groups mixed) only names the subjects; exact numbers come from
  // batched `zfs get` calls. Unordered.
  virtual Result<std::vector<QuotaUsage>> ListQuotas(const DatasetName& dataset, QuotaKind kind) = 0;
};

struct ZfsToolPaths {
  std::string zpool = "/sbin/zpool";
  std::string zfs = "/sbin/zfs";
};

struct ZfsOptions {
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};  // per tool run
  // How long destroy, export, rollback and unmount retry while ZFS says the
  // object "is busy": zfs-fuse reports busy while another client merely reads
  // the pool (e.g. a concurrent `zfs get -r`), and that clears in moments.
  std::chrono::milliseconds busy_retry{std::chrono::seconds(5)};
  // zfs-fuse only: the machine-wide lock every mounting command runs under
  // (see mount_lock.h); the wait for it counts against `timeout`.
  std::string zfs_fuse_mount_lock{kZfsFuseMountLockPath};
};

// The installed ZFS: which tools, which dialect.
struct ZfsSetup {
  Dialect dialect = Dialect::kZfsFuse;
  ZfsToolPaths paths;
};

// Finds zpool/zfs in the fixed tool PATH (or takes `zpool_path`/`zfs_path`
// when non-empty, e.g. a fault-injecting wrapper in tests) and detects the
// dialect with `zfs version` only: it does not need a pool, and a hung pool
// cannot stall it beyond its 30 s timeout.
Result<ZfsSetup> DetectZfs(sys::ProcessRunner& runner, const std::string& zpool_path = "",
                           const std::string& zfs_path = "");

// DetectZfs, then checks that ZFS answers (`zpool list`), and returns the
// adapter. Unavailable when ZFS is not reachable.
Result<std::unique_ptr<Zfs>> MakeCliZfs(sys::ProcessRunner& runner, ZfsOptions options = {});

// For tests: an adapter of a known dialect with known tool paths (no probing).
std::unique_ptr<Zfs> MakeCliZfsForDialect(sys::ProcessRunner& runner, Dialect dialect,
                                          ZfsToolPaths paths, ZfsOptions options = {});

}  // namespace pk::zfs
