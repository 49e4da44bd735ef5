// FakeZfs: an in-memory zfs::Zfs for unit tests (STYLE rule 5).
//
// It models pools that are exported (importable) or imported, each with its
// filesystems (canmount, mountpoint, mounted) and a health, and answers the
// pool and mount operations the supervisor uses the way the real adapter does,
// with the same error codes and message shapes:
//
//   FakeZfs zfs(zfs::Dialect::kOpenZfs2);
//   zfs.AddPool("tank", {{"tank", "on", "/tank"}, {"tank/a", "on", "/tank/a"}});
//   zfs.HangImport("tank");                // import blocks until Release or timeout
//   zfs.FailImport("other", "cannot import 'other': I/O error");
//   Supervisor sup(zfs.Factory(), ...);    // adapters sharing this state
//
// A hung import that outlives the adapter's timeout fails with
// DeadlineExceeded, "import pool 'x': zpool did not finish within N ms and was
// killed", and leaves the pool exported, as the real adapter's killed zpool
// would. Import honours Mount::kNo (OpenZFS `import -N`; Unimplemented on
// zfs-fuse, like the real adapter) and Mount::kYes (mounts every filesystem
// with canmount=on and an absolute mountpoint).
//
// Every call is recorded ("import tank", "mount tank/a", ...; see calls()).
// Operations the supervisor does not need (snapshots, volumes, renames,
// property changes) return Unimplemented.
//
// Thread-safety: all members may be called concurrently; every adapter made by
// Factory() shares one state guarded by one mutex. A hung import waits without
// holding it, so other pools and the test's own calls are never blocked.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "zfs/zfs.h"

namespace pk::testing {

struct FakeFilesystem {
  std::string name;              // "tank", "tank/a"
  std::string canmount = "on";   // on, off, noauto
  std::string mountpoint;        // "/tank/a", "none", "legacy"
  bool mounted = false;          // only meaningful while the pool is imported
  // Other properties, reported as set locally ("guid", user properties such
  // as "org.poolkeeper:share.iscsi"); SetProperties is not modelled.
  std::map<std::string, std::string> properties = {};
};

class FakeZfs : public zfs::Zfs {
 public:
  // Same signature as supervisor::ZfsFactory (pk_testing does not link pk_service).
  using AdapterFactory = std::function<std::unique_ptr<zfs::Zfs>(std::chrono::milliseconds timeout)>;

  // A fake with its own, empty state. `timeout` plays the role of
  // ZfsOptions::timeout: how long a hung import lasts before it is "killed".
  explicit FakeZfs(zfs::Dialect dialect = zfs::Dialect::kOpenZfs2,
                   std::chrono::milliseconds timeout = std::chrono::minutes(5));
  ~FakeZfs() override;

  // Adapters over this fake's state, each with the timeout it is made with
  // (the supervisor makes one per operation with the pool policy's timeout).
  AdapterFactory Factory() const;

  // ---- setup and fault injection (any thread) ----

  // Adds an exported (importable) pool. Without filesystems it gets its root
  // filesystem mounted at "/<pool>". Replaces a pool of the same name.
  void AddPool(const std::string& pool, std::vector<FakeFilesystem> filesystems = {});
  // Adds a pool that is already imported (its canmount=on filesystems mounted).
  void AddImportedPool(const std::string& pool, std::vector<FakeFilesystem> filesystems = {});
  // Imports of `pool` block until Release(pool) or the adapter's timeout.
  void HangImport(const std::string& pool);
  // Lets blocked and future imports of `pool` proceed.
  void Release(const std::string& pool);
  // Imports of `pool` fail with "import pool 'x': zpool exited 1: <message>"
  // (code from the words, as the real adapter: "no such pool" -> NotFound,
  // else Internal) until ClearFailures(pool).
  void FailImport(const std::string& pool, std::string message);
  // Exports of `pool` fail likewise until ClearFailures(pool); the pool stays imported.
  void FailExport(const std::string& pool, std::string message);
  // Mounts of `dataset` (by MountDataset or an import with Mount::kYes) fail
  // with "mount 'ds': zfs exited 1: <message>" until ClearFailures of its pool.
  void FailMount(const std::string& dataset, std::string message);
  void ClearFailures(const std::string& pool);
  // The health ListPools / GetPoolStatus report for `pool` ("ONLINE" by default).
  void SetHealth(const std::string& pool, const std::string& health);
  // The pool is exported behind Poolkeeper's back (another tool, an admin).
  void ExportExternally(const std::string& pool);

  // ---- observation (any thread) ----

  // Every call in order: "list", "status tank", "importable", "import tank",
  // "export tank", "list-datasets tank", "get tank/a", "mount tank/a",
  // "unmount tank/a", "mount tank/a (import)" (mounted by an import with
  // Mount::kYes, in the pool's filesystem order), "create-pool tank", "destroy-pool tank",
  // "create-dataset tank/a", "destroy-dataset tank/a".
  std::vector<std::string> calls() const;
  // How many calls equal `call` exactly.
  size_t CountCalls(const std::string& call) const;
  // Index of the first call equal to `call` in calls(), or nullopt.
  std::optional<size_t> FirstCall(const std::string& call) const;
  // Imports now blocked in HangImport.
  int HungImports(const std::string& pool) const;
  // Options of the last import attempt of `pool`.
  std::optional<zfs::ImportOptions> LastImportOptions(const std::string& pool) const;
  // Timeouts adapters were made with, in order.
  std::vector<std::chrono::milliseconds> factory_timeouts() const;
  bool IsImported(const std::string& pool) const;
  bool IsMounted(const std::string& dataset) const;

  // ---- zfs::Zfs ----
  zfs::Dialect dialect() const override;
  Result<std::vector<zfs::PoolSummary>> ListPools() override;
  Result<zfs::PoolStatus> GetPoolStatus(const zfs::PoolName& pool) override;
  Status CreatePool(const zfs::PoolName& pool, const zfs::VdevSpec& vdevs,
                    const zfs::CreatePoolOptions& options) override;
  Result<std::vector<zfs::ImportablePool>> ListImportable(const std::vector<std::string>& search_dirs) override;
  Status ImportPool(const zfs::ImportOptions& options) override;
  Status ExportPool(const zfs::PoolName& pool, zfs::Force force) override;
  Status DestroyPool(const zfs::PoolName& pool, zfs::Force force) override;
  // Disk lifecycle: recorded ("replace tank /d/a /d/b", "attach tank /d/a /d/b",
  // "detach tank /d/a", "online tank /d/a -e", "offline tank /d/a -t",
  // "add tank spare /d/s", "add -n tank ...", "remove tank /d/s",
  // "scrub tank start|stop|pause"); the vdev tree is not modelled. A pool that
  // is not imported is NotFound, as zpool says.
  Status ReplaceDevice(const zfs::PoolName& pool, const zfs::VdevRef& old_device,
                       const std::optional<zfs::DevicePath>& new_device, zfs::Force force) override;
  Status AttachDevice(const zfs::PoolName& pool, const zfs::VdevRef& existing, const zfs::DevicePath& new_device,
                      zfs::Force force) override;
  Status DetachDevice(const zfs::PoolName& pool, const zfs::VdevRef& device) override;
  Status OnlineDevice(const zfs::PoolName& pool, const zfs::VdevRef& device, zfs::Expand expand) override;
  Status OfflineDevice(const zfs::PoolName& pool, const zfs::VdevRef& device, zfs::Temporary temporary) override;
  Result<std::string> AddVdevs(const zfs::PoolName& pool, const zfs::VdevSpec& vdevs, zfs::Force force,
                               zfs::DryRun dry_run) override;
  Status RemoveDevice(const zfs::PoolName& pool, const zfs::VdevRef& device) override;
  Status Scrub(const zfs::PoolName& pool, zfs::ScrubAction action) override;
  Result<std::vector<zfs::Dataset>> ListDatasets(const zfs::ListOptions& options) override;
  Result<zfs::Dataset> GetDataset(const std::string& name, const std::vector<std::string>& properties) override;
  Status CreateDataset(const zfs::DatasetName& dataset, const zfs::PropertyList& properties,
                       zfs::CreateParents parents) override;
  Status CreateVolume(const zfs::DatasetName& dataset, uint64_t size_bytes,
                      const zfs::PropertyList& properties) override;
  Status SetProperties(const std::string& name, const zfs::PropertyList& properties) override;
  Status InheritProperty(const zfs::DatasetName& dataset, const zfs::PropertyName& property,
                         zfs::Recursive recursive) override;
  Status DestroyDataset(const zfs::DatasetName& dataset, zfs::Recursive recursive) override;
  Status RenameDataset(const zfs::DatasetName& from, const zfs::DatasetName& to) override;
  Status CreateSnapshot(const zfs::SnapshotName& snapshot, zfs::Recursive recursive) override;
  Status DestroySnapshot(const zfs::SnapshotName& snapshot, zfs::Recursive recursive) override;
  Status Rollback(const zfs::SnapshotName& snapshot, zfs::RollbackMode mode) override;
  Status MountDataset(const zfs::DatasetName& dataset) override;
  Status UnmountDataset(const zfs::DatasetName& dataset, zfs::Force force) override;
  // Quotas live in memory per (dataset, kind, id); calls are recorded as
  // "get-quota tank/a user@42", "set-quota tank/a user@42=1024",
  // "clear-quota tank/a user@42", "list-quotas tank/a user".
  Result<zfs::QuotaUsage> GetQuota(const zfs::DatasetName& dataset, const zfs::QuotaSubject& subject) override;
  Status SetQuota(const zfs::DatasetName& dataset, const zfs::QuotaSubject& subject, uint64_t bytes) override;
  Status SetObjectQuota(const zfs::DatasetName& dataset, const zfs::QuotaSubject& subject, uint64_t objects) override;
  Status ClearQuota(const zfs::DatasetName& dataset, const zfs::QuotaSubject& subject) override;
  Result<std::vector<zfs::QuotaUsage>> ListQuotas(const zfs::DatasetName& dataset, zfs::QuotaKind kind) override;
  // Setup: bytes charged to a subject (as if it had written them).
  void SetQuotaUsage(const std::string& dataset, zfs::QuotaKind kind, uint32_t id, uint64_t used);

  struct State;  // shared between a fake and the adapters its Factory() makes

 private:
  FakeZfs(std::shared_ptr<State> state, std::chrono::milliseconds timeout);

  std::shared_ptr<State> state_;
  std::chrono::milliseconds timeout_;
};

}  // namespace pk::testing
