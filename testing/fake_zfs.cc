#include "testing/fake_zfs.h"

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <tuple>

#include <fmt/format.h>

namespace pk::testing {

struct FakeZfs::State {
  struct Pool {
    std::vector<FakeFilesystem> filesystems;
    bool imported = false;
    std::string health = "ONLINE";
    bool hang_import = false;
    int hung = 0;                          // imports now blocked
    std::optional<std::string> fail_import;
    std::optional<std::string> fail_export;
    std::map<std::string, std::string> fail_mount;  // dataset -> message
    std::optional<zfs::ImportOptions> last_import;
    uint64_t guid = 0;
  };

  explicit State(zfs::Dialect d) : dialect(d) {}

  const zfs::Dialect dialect;
  mutable std::mutex mu;
  std::condition_variable released;        // notified by Release
  // Guarded by mu:
  std::map<std::string, Pool> pools;
  std::vector<std::string> calls;
  std::vector<std::chrono::milliseconds> timeouts;
  uint64_t next_guid = 1000;
  // Quotas: (dataset, kind, id) -> usage. Guarded by mu.
  std::map<std::tuple<std::string, zfs::QuotaKind, uint32_t>, zfs::QuotaUsage> quotas;

  void Record(std::string call) { calls.push_back(std::move(call)); }
  Pool* Imported(const std::string& pool) {
    auto it = pools.find(pool);
    return it == pools.end() || !it->second.imported ? nullptr : &it->second;
  }
  // The filesystem `name` of an imported pool, or nullptr.
  FakeFilesystem* Filesystem(const std::string& name) {
    Pool* p = Imported(name.substr(0, name.find('/')));
    if (!p) return nullptr;
    for (auto& fs : p->filesystems) {
      if (fs.name == name) return &fs;
    }
    return nullptr;
  }
};

namespace {

bool Mountable(const FakeFilesystem& fs) { return fs.canmount == "on" && fs.mountpoint.starts_with('/'); }

// The error the real adapter makes of a failed zpool/zfs run.
Error ToolError(const std::string& context, const std::string& tool, const std::string& message) {
  ErrorCode code = ErrorCode::kInternal;
  if (message.find("no such pool") != std::string::npos || message.find("does not exist") != std::string::npos) {
    code = ErrorCode::kNotFound;
  } else if (message.find("already exists") != std::string::npos) {
    code = ErrorCode::kAlreadyExists;
  } else if (message.find("busy") != std::string::npos) {
    code = ErrorCode::kFailedPrecondition;
  }
  return Error(code, fmt::format("{}: {} exited 1: {}", context, tool, message));
}

Status NotModelled(const std::string& what) {
  return MakeError(ErrorCode::kUnimplemented, fmt::format("FakeZfs: {} is not modelled", what));
}

std::vector<FakeFilesystem> DefaultFilesystems(const std::string& pool, std::vector<FakeFilesystem> fss) {
  if (fss.empty()) fss.push_back({pool, "on", "/" + pool, false});
  return fss;
}

zfs::Dataset ToDataset(const FakeFilesystem& fs, const std::vector<std::string>& properties) {
  zfs::Dataset d;
  d.name = fs.name;
  d.type = zfs::DatasetType::kFilesystem;
  std::map<std::string, zfs::PropertyValue> all = {
      {"type", {"filesystem", zfs::PropertySource::kNone, ""}},
      {"canmount", {fs.canmount, zfs::PropertySource::kLocal, ""}},
      {"mountpoint", {fs.mountpoint, zfs::PropertySource::kLocal, ""}},
      {"mounted", {fs.mounted ? "yes" : "no", zfs::PropertySource::kNone, ""}},
  };
  for (const auto& [name, value] : fs.properties) all[name] = {value, zfs::PropertySource::kLocal, ""};
  if (properties.empty()) {
    d.properties = std::move(all);
  } else {
    for (const auto& p : properties) {
      if (auto it = all.find(p); it != all.end()) d.properties.insert(*it);
    }
  }
  return d;
}

}  // namespace

FakeZfs::FakeZfs(zfs::Dialect dialect, std::chrono::milliseconds timeout)
    : state_(std::make_shared<State>(dialect)), timeout_(timeout) {}

FakeZfs::FakeZfs(std::shared_ptr<State> state, std::chrono::milliseconds timeout)
    : state_(std::move(state)), timeout_(timeout) {}

FakeZfs::~FakeZfs() = default;

FakeZfs::AdapterFactory FakeZfs::Factory() const {
  return [state = state_](std::chrono::milliseconds timeout) -> std::unique_ptr<zfs::Zfs> {
    {
      std::lock_guard lock(state->mu);
      state->timeouts.push_back(timeout);
    }
    return std::unique_ptr<zfs::Zfs>(new FakeZfs(state, timeout));
  };
}

// ---- setup -----------------------------------------------------------------

void FakeZfs::AddPool(const std::string& pool, std::vector<FakeFilesystem> filesystems) {
  std::lock_guard lock(state_->mu);
  State::Pool p;
  p.filesystems = DefaultFilesystems(pool, std::move(filesystems));
  for (auto& fs : p.filesystems) fs.mounted = false;
  p.guid = state_->next_guid++;
  state_->pools[pool] = std::move(p);
}

void FakeZfs::AddImportedPool(const std::string& pool, std::vector<FakeFilesystem> filesystems) {
  std::lock_guard lock(state_->mu);
  State::Pool p;
  p.filesystems = DefaultFilesystems(pool, std::move(filesystems));
  for (auto& fs : p.filesystems) fs.mounted = Mountable(fs);
  p.imported = true;
  p.guid = state_->next_guid++;
  state_->pools[pool] = std::move(p);
}

void FakeZfs::HangImport(const std::string& pool) {
  std::lock_guard lock(state_->mu);
  state_->pools[pool].hang_import = true;
}

void FakeZfs::Release(const std::string& pool) {
  {
    std::lock_guard lock(state_->mu);
    state_->pools[pool].hang_import = false;
  }
  state_->released.notify_all();
}

void FakeZfs::FailImport(const std::string& pool, std::string message) {
  std::lock_guard lock(state_->mu);
  state_->pools[pool].fail_import = std::move(message);
}

void FakeZfs::FailExport(const std::string& pool, std::string message) {
  std::lock_guard lock(state_->mu);
  state_->pools[pool].fail_export = std::move(message);
}

void FakeZfs::FailMount(const std::string& dataset, std::string message) {
  std::lock_guard lock(state_->mu);
  state_->pools[dataset.substr(0, dataset.find('/'))].fail_mount[dataset] = std::move(message);
}

void FakeZfs::ClearFailures(const std::string& pool) {
  std::lock_guard lock(state_->mu);
  state_->pools[pool].fail_import.reset();
  state_->pools[pool].fail_export.reset();
  state_->pools[pool].fail_mount.clear();
}

void FakeZfs::SetHealth(const std::string& pool, const std::string& health) {
  std::lock_guard lock(state_->mu);
  state_->pools[pool].health = health;
}

void FakeZfs::ExportExternally(const std::string& pool) {
  std::lock_guard lock(state_->mu);
  auto& p = state_->pools[pool];
  p.imported = false;
  for (auto& fs : p.filesystems) fs.mounted = false;
}

// ---- observation -----------------------------------------------------------

std::vector<std::string> FakeZfs::calls() const {
  std::lock_guard lock(state_->mu);
  return state_->calls;
}

size_t FakeZfs::CountCalls(const std::string& call) const {
  std::lock_guard lock(state_->mu);
  return std::count(state_->calls.begin(), state_->calls.end(), call);
}

std::optional<size_t> FakeZfs::FirstCall(const std::string& call) const {
  std::lock_guard lock(state_->mu);
  auto it = std::find(state_->calls.begin(), state_->calls.end(), call);
  if (it == state_->calls.end()) return std::nullopt;
  return static_cast<size_t>(it - state_->calls.begin());
}

int FakeZfs::HungImports(const std::string& pool) const {
  std::lock_guard lock(state_->mu);
  auto it = state_->pools.find(pool);
  return it == state_->pools.end() ? 0 : it->second.hung;
}

std::optional<zfs::ImportOptions> FakeZfs::LastImportOptions(const std::string& pool) const {
  std::lock_guard lock(state_->mu);
  auto it = state_->pools.find(pool);
  return it == state_->pools.end() ? std::nullopt : it->second.last_import;
}

std::vector<std::chrono::milliseconds> FakeZfs::factory_timeouts() const {
  std::lock_guard lock(state_->mu);
  return state_->timeouts;
}

bool FakeZfs::IsImported(const std::string& pool) const {
  std::lock_guard lock(state_->mu);
  return state_->Imported(pool) != nullptr;
}

bool FakeZfs::IsMounted(const std::string& dataset) const {
  std::lock_guard lock(state_->mu);
  FakeFilesystem* fs = state_->Filesystem(dataset);
  return fs && fs->mounted;
}

// ---- pools -----------------------------------------------------------------

zfs::Dialect FakeZfs::dialect() const { return state_->dialect; }

Result<std::vector<zfs::PoolSummary>> FakeZfs::ListPools() {
  std::lock_guard lock(state_->mu);
  state_->Record("list");
  std::vector<zfs::PoolSummary> out;
  for (const auto& [name, p] : state_->pools) {
    if (!p.imported) continue;
    zfs::PoolSummary s;
    s.name = name;
    s.guid = p.guid;
    s.health = p.health;
    out.push_back(std::move(s));
  }
  return out;
}

Result<zfs::PoolStatus> FakeZfs::GetPoolStatus(const zfs::PoolName& pool) {
  std::lock_guard lock(state_->mu);
  state_->Record("status " + pool.str());
  State::Pool* p = state_->Imported(pool.str());
  if (!p) {
    return std::unexpected(ToolError(fmt::format("status of pool '{}'", pool.str()), "zpool",
                                     fmt::format("cannot open '{}': no such pool", pool.str())));
  }
  zfs::PoolStatus s;
  s.name = pool.str();
  s.state = p->health;
  s.errors = "No known data errors";
  s.root.name = pool.str();
  s.root.type = "root";
  s.root.state = p->health;
  return s;
}

namespace {

// The disk-lifecycle calls: record, and refuse a pool that is not imported.
Status LifecycleCall(FakeZfs::State& state, std::mutex& mu, const zfs::PoolName& pool, const std::string& call,
                     const std::string& context);

}  // namespace

Status FakeZfs::ReplaceDevice(const zfs::PoolName& pool, const zfs::VdevRef& old_device,
                              const std::optional<zfs::DevicePath>& new_device, zfs::Force force) {
  std::string call = "replace " + pool.str() + " " + old_device.str();
  if (new_device) call += " " + new_device->str();
  if (force == zfs::Force::kYes) call += " -f";
  return LifecycleCall(*state_, state_->mu, pool, call, fmt::format("replace '{}' in pool '{}'", old_device.str(), pool.str()));
}

Status FakeZfs::AttachDevice(const zfs::PoolName& pool, const zfs::VdevRef& existing, const zfs::DevicePath& new_device,
                             zfs::Force force) {
  std::string call = "attach " + pool.str() + " " + existing.str() + " " + new_device.str();
  if (force == zfs::Force::kYes) call += " -f";
  return LifecycleCall(*state_, state_->mu, pool, call, fmt::format("attach '{}' in pool '{}'", new_device.str(), pool.str()));
}

Status FakeZfs::DetachDevice(const zfs::PoolName& pool, const zfs::VdevRef& device) {
  return LifecycleCall(*state_, state_->mu, pool, "detach " + pool.str() + " " + device.str(),
                       fmt::format("detach '{}' from pool '{}'", device.str(), pool.str()));
}

Status FakeZfs::OnlineDevice(const zfs::PoolName& pool, const zfs::VdevRef& device, zfs::Expand expand) {
  return LifecycleCall(*state_, state_->mu, pool,
                       "online " + pool.str() + " " + device.str() + (expand == zfs::Expand::kYes ? " -e" : ""),
                       fmt::format("bring '{}' online in pool '{}'", device.str(), pool.str()));
}

Status FakeZfs::OfflineDevice(const zfs::PoolName& pool, const zfs::VdevRef& device, zfs::Temporary temporary) {
  return LifecycleCall(*state_, state_->mu, pool,
                       "offline " + pool.str() + " " + device.str() + (temporary == zfs::Temporary::kYes ? " -t" : ""),
                       fmt::format("take '{}' offline in pool '{}'", device.str(), pool.str()));
}

Result<std::string> FakeZfs::AddVdevs(const zfs::PoolName& pool, const zfs::VdevSpec& vdevs, zfs::Force force,
                                      zfs::DryRun dry_run) {
  std::string call = "add ";
  if (force == zfs::Force::kYes) call += "-f ";
  if (dry_run == zfs::DryRun::kYes) call += "-n ";
  call += pool.str();
  for (const auto& w : vdevs.ToArgs()) call += " " + w;
  PK_TRY(LifecycleCall(*state_, state_->mu, pool, call, fmt::format("add to pool '{}'", pool.str())));
  return dry_run == zfs::DryRun::kYes ? "would update '" + pool.str() + "'\n" : std::string();
}

Status FakeZfs::RemoveDevice(const zfs::PoolName& pool, const zfs::VdevRef& device) {
  return LifecycleCall(*state_, state_->mu, pool, "remove " + pool.str() + " " + device.str(),
                       fmt::format("remove '{}' from pool '{}'", device.str(), pool.str()));
}

Status FakeZfs::Scrub(const zfs::PoolName& pool, zfs::ScrubAction action) {
  return LifecycleCall(*state_, state_->mu, pool,
                       fmt::format("scrub {} {}", pool.str(), zfs::ScrubActionName(action)),
                       fmt::format("scrub pool '{}'", pool.str()));
}

Status FakeZfs::CreatePool(const zfs::PoolName& pool, const zfs::VdevSpec&, const zfs::CreatePoolOptions& options) {
  std::lock_guard lock(state_->mu);
  state_->Record("create-pool " + pool.str());
  if (state_->pools.contains(pool.str())) {
    return std::unexpected(ToolError(fmt::format("create pool '{}'", pool.str()), "zpool",
                                     fmt::format("cannot create '{}': pool already exists", pool.str())));
  }
  State::Pool p;
  p.imported = true;
  p.guid = state_->next_guid++;
  p.filesystems.push_back({pool.str(), "on", options.mountpoint.value_or("/" + pool.str()), true});
  state_->pools[pool.str()] = std::move(p);
  return OkStatus();
}

Result<std::vector<zfs::ImportablePool>> FakeZfs::ListImportable(const std::vector<std::string>&) {
  std::lock_guard lock(state_->mu);
  state_->Record("importable");
  std::vector<zfs::ImportablePool> out;
  for (const auto& [name, p] : state_->pools) {
    if (p.imported) continue;
    zfs::ImportablePool ip;
    ip.name = name;
    ip.guid = p.guid;
    ip.state = p.health;
    ip.root.name = name;
    ip.root.type = "root";
    ip.root.state = p.health;
    out.push_back(std::move(ip));
  }
  return out;
}

Status FakeZfs::ImportPool(const zfs::ImportOptions& o) {
  std::unique_lock lock(state_->mu);
  if (!o.name && !o.guid) return InvalidArgument("import: give a pool name or a GUID");
  std::string name;
  if (o.name) {
    name = o.name->str();
  } else {
    for (const auto& [n, p] : state_->pools) {
      if (p.guid == *o.guid) name = n;
    }
    if (name.empty()) name = std::to_string(*o.guid);
  }
  const std::string context = fmt::format("import pool '{}'", name);
  state_->Record("import " + name);
  if (o.mount == zfs::Mount::kNo && state_->dialect != zfs::Dialect::kOpenZfs2) {
    return MakeError(ErrorCode::kUnimplemented,
                     context + ": zfs-fuse cannot import without mounting (no 'zpool import -N')");
  }
  auto it = state_->pools.find(name);
  if (it == state_->pools.end() || (it->second.filesystems.empty() && !it->second.imported)) {
    return std::unexpected(
        ToolError(context, "zpool", fmt::format("cannot import '{}': no such pool available", name)));
  }
  it->second.last_import = o;
  if (it->second.hang_import) {
    // Like a zpool stuck in the kernel: only the adapter's timeout ends it.
    // `it` stays valid: map nodes are never erased.
    ++it->second.hung;
    bool released = state_->released.wait_for(lock, timeout_, [&] { return !it->second.hang_import; });
    --it->second.hung;
    if (!released) {
      return DeadlineExceeded(
          fmt::format("{}: zpool did not finish within {} ms and was killed", context, timeout_.count()));
    }
  }
  State::Pool& p = it->second;
  if (p.fail_import) return std::unexpected(ToolError(context, "zpool", *p.fail_import));
  if (p.imported) {
    return std::unexpected(ToolError(
        context, "zpool", fmt::format("cannot import '{}': a pool with that name already exists", name)));
  }
  p.imported = true;
  for (auto& fs : p.filesystems) {
    // A filesystem that fails to mount leaves the pool imported, as zpool does.
    fs.mounted = o.mount == zfs::Mount::kYes && Mountable(fs) && !p.fail_mount.contains(fs.name);
    if (fs.mounted) state_->Record("mount " + fs.name + " (import)");
  }
  return OkStatus();
}

Status FakeZfs::ExportPool(const zfs::PoolName& pool, zfs::Force) {
  std::lock_guard lock(state_->mu);
  state_->Record("export " + pool.str());
  const std::string context = fmt::format("export pool '{}'", pool.str());
  State::Pool* p = state_->Imported(pool.str());
  if (!p) {
    return std::unexpected(ToolError(context, "zpool", fmt::format("cannot open '{}': no such pool", pool.str())));
  }
  if (p->fail_export) return std::unexpected(ToolError(context, "zpool", *p->fail_export));
  p->imported = false;
  for (auto& fs : p->filesystems) fs.mounted = false;
  return OkStatus();
}

Status FakeZfs::DestroyPool(const zfs::PoolName& pool, zfs::Force) {
  std::lock_guard lock(state_->mu);
  state_->Record("destroy-pool " + pool.str());
  if (!state_->Imported(pool.str())) {
    return std::unexpected(ToolError(fmt::format("destroy pool '{}'", pool.str()), "zpool",
                                     fmt::format("cannot open '{}': no such pool", pool.str())));
  }
  // Keep the map node (a hung import may hold an iterator): an empty,
  // not-imported pool is "no such pool" to every operation.
  auto& p = state_->pools[pool.str()];
  p.imported = false;
  p.filesystems.clear();
  return OkStatus();
}

// ---- datasets --------------------------------------------------------------

Result<std::vector<zfs::Dataset>> FakeZfs::ListDatasets(const zfs::ListOptions& o) {
  std::lock_guard lock(state_->mu);
  state_->Record("list-datasets " + o.root.value_or("-"));
  std::vector<zfs::Dataset> out;
  if (std::find(o.types.begin(), o.types.end(), zfs::DatasetType::kFilesystem) == o.types.end()) return out;
  if (o.root && !state_->Filesystem(*o.root)) {
    return std::unexpected(ToolError(fmt::format("list datasets under '{}'", *o.root), "zfs",
                                     fmt::format("cannot open '{}': dataset does not exist", *o.root)));
  }
  for (const auto& [name, p] : state_->pools) {
    if (!p.imported) continue;
    for (const auto& fs : p.filesystems) {
      bool wanted = !o.root || fs.name == *o.root || (o.recursive != zfs::Recursive::kNo && fs.name.starts_with(*o.root + "/"));
      if (wanted) out.push_back(ToDataset(fs, o.properties));
    }
  }
  return out;
}

Result<zfs::Dataset> FakeZfs::GetDataset(const std::string& name, const std::vector<std::string>& properties) {
  std::lock_guard lock(state_->mu);
  state_->Record("get " + name);
  FakeFilesystem* fs = state_->Filesystem(name);
  if (!fs) return NotFound(fmt::format("get properties of '{}': no such dataset", name));
  return ToDataset(*fs, properties);
}

Status FakeZfs::CreateDataset(const zfs::DatasetName& dataset, const zfs::PropertyList& properties,
                              zfs::CreateParents) {
  std::lock_guard lock(state_->mu);
  state_->Record("create-dataset " + dataset.str());
  const std::string context = fmt::format("create dataset '{}'", dataset.str());
  State::Pool* p = state_->Imported(dataset.pool().str());
  auto parent = dataset.parent();
  FakeFilesystem* parent_fs = parent ? state_->Filesystem(parent->str()) : nullptr;
  if (!p || !parent_fs) {
    return std::unexpected(ToolError(context, "zfs", fmt::format("cannot create '{}': parent does not exist", dataset.str())));
  }
  if (state_->Filesystem(dataset.str())) {
    return std::unexpected(ToolError(context, "zfs", fmt::format("cannot create '{}': dataset already exists", dataset.str())));
  }
  FakeFilesystem fs{dataset.str(), "on", "", false};
  std::string leaf = dataset.str().substr(dataset.str().rfind('/') + 1);
  fs.mountpoint = parent_fs->mountpoint.starts_with('/')
                      ? (parent_fs->mountpoint == "/" ? "/" + leaf : parent_fs->mountpoint + "/" + leaf)
                      : parent_fs->mountpoint;
  for (const auto& a : properties) {
    if (a.name.str() == "canmount") fs.canmount = a.value;
    if (a.name.str() == "mountpoint") fs.mountpoint = a.value;
  }
  fs.mounted = Mountable(fs);
  p->filesystems.push_back(std::move(fs));
  return OkStatus();
}

Status FakeZfs::CreateVolume(const zfs::DatasetName& dataset, uint64_t, const zfs::PropertyList&) {
  return NotModelled("create volume '" + dataset.str() + "'");
}

Status FakeZfs::SetProperties(const std::string& name, const zfs::PropertyList&) {
  return NotModelled("set properties of '" + name + "'");
}

Status FakeZfs::InheritProperty(const zfs::DatasetName& dataset, const zfs::PropertyName&, zfs::Recursive) {
  return NotModelled("inherit on '" + dataset.str() + "'");
}

Status FakeZfs::DestroyDataset(const zfs::DatasetName& dataset, zfs::Recursive recursive) {
  std::lock_guard lock(state_->mu);
  state_->Record("destroy-dataset " + dataset.str());
  const std::string context = fmt::format("destroy dataset '{}'", dataset.str());
  State::Pool* p = state_->Imported(dataset.pool().str());
  if (!p || !state_->Filesystem(dataset.str())) {
    return std::unexpected(ToolError(context, "zfs", fmt::format("cannot open '{}': dataset does not exist", dataset.str())));
  }
  const std::string prefix = dataset.str() + "/";
  bool has_children = std::any_of(p->filesystems.begin(), p->filesystems.end(),
                                  [&](const FakeFilesystem& fs) { return fs.name.starts_with(prefix); });
  if (has_children && recursive == zfs::Recursive::kNo) {
    return std::unexpected(ToolError(context, "zfs", fmt::format("cannot destroy '{}': filesystem has children", dataset.str())));
  }
  std::erase_if(p->filesystems, [&](const FakeFilesystem& fs) {
    return fs.name == dataset.str() || fs.name.starts_with(prefix);
  });
  return OkStatus();
}

Status FakeZfs::RenameDataset(const zfs::DatasetName& from, const zfs::DatasetName&) {
  return NotModelled("rename of '" + from.str() + "'");
}

Status FakeZfs::CreateSnapshot(const zfs::SnapshotName& snapshot, zfs::Recursive) {
  return NotModelled("snapshot '" + snapshot.str() + "'");
}

Status FakeZfs::DestroySnapshot(const zfs::SnapshotName& snapshot, zfs::Recursive) {
  return NotModelled("destroy of snapshot '" + snapshot.str() + "'");
}

Status FakeZfs::Rollback(const zfs::SnapshotName& snapshot, zfs::RollbackMode) {
  return NotModelled("rollback to '" + snapshot.str() + "'");
}

Status FakeZfs::MountDataset(const zfs::DatasetName& dataset) {
  std::lock_guard lock(state_->mu);
  state_->Record("mount " + dataset.str());
  const std::string context = fmt::format("mount '{}'", dataset.str());
  FakeFilesystem* fs = state_->Filesystem(dataset.str());
  if (!fs) {
    return std::unexpected(ToolError(context, "zfs", fmt::format("cannot open '{}': dataset does not exist", dataset.str())));
  }
  auto& failures = state_->pools[dataset.pool().str()].fail_mount;
  if (auto it = failures.find(dataset.str()); it != failures.end()) {
    return std::unexpected(ToolError(context, "zfs", it->second));
  }
  if (fs->mounted) {
    return std::unexpected(ToolError(context, "zfs", fmt::format("cannot mount '{}': filesystem already mounted", dataset.str())));
  }
  if (!fs->mountpoint.starts_with('/')) {
    return std::unexpected(ToolError(context, "zfs",
                                     fmt::format("cannot mount '{}': no mountpoint set ({})", dataset.str(), fs->mountpoint)));
  }
  fs->mounted = true;
  return OkStatus();
}

Status FakeZfs::UnmountDataset(const zfs::DatasetName& dataset, zfs::Force) {
  std::lock_guard lock(state_->mu);
  state_->Record("unmount " + dataset.str());
  const std::string context = fmt::format("unmount '{}'", dataset.str());
  FakeFilesystem* fs = state_->Filesystem(dataset.str());
  if (!fs) {
    return std::unexpected(ToolError(context, "zfs", fmt::format("cannot open '{}': dataset does not exist", dataset.str())));
  }
  if (!fs->mounted) {
    return std::unexpected(ToolError(context, "zfs", fmt::format("cannot unmount '{}': not currently mounted", dataset.str())));
  }
  fs->mounted = false;
  return OkStatus();
}

namespace {
std::string QuotaCall(std::string_view verb, const zfs::DatasetName& ds, const zfs::QuotaSubject& s) {
  return fmt::format("{} {} {}@{}", verb, ds.str(), zfs::QuotaKindName(s.kind), s.id);
}
}  // namespace

void FakeZfs::SetQuotaUsage(const std::string& dataset, zfs::QuotaKind kind, uint32_t id, uint64_t used) {
  std::lock_guard lock(state_->mu);
  auto& u = state_->quotas[{dataset, kind, id}];
  u.kind = kind;
  u.id = id;
  u.zfs_name = std::to_string(id);
  u.used = used;
}

Result<zfs::QuotaUsage> FakeZfs::GetQuota(const zfs::DatasetName& ds, const zfs::QuotaSubject& s) {
  std::lock_guard lock(state_->mu);
  state_->Record(QuotaCall("get-quota", ds, s));
  if (!state_->Filesystem(ds.str())) {
    return std::unexpected(ToolError(fmt::format("get quota on '{}'", ds.str()), "zfs",
                                     fmt::format("cannot open '{}': dataset does not exist", ds.str())));
  }
  auto it = state_->quotas.find({ds.str(), s.kind, s.id});
  if (it != state_->quotas.end()) return it->second;
  zfs::QuotaUsage u;
  u.kind = s.kind;
  u.id = s.id;
  u.zfs_name = std::to_string(s.id);
  return u;
}

Status FakeZfs::SetQuota(const zfs::DatasetName& ds, const zfs::QuotaSubject& s, uint64_t bytes) {
  std::lock_guard lock(state_->mu);
  state_->Record(QuotaCall("set-quota", ds, s) + "=" + std::to_string(bytes));
  if (!state_->Filesystem(ds.str())) {
    return std::unexpected(ToolError(fmt::format("set quota on '{}'", ds.str()), "zfs",
                                     fmt::format("cannot open '{}': dataset does not exist", ds.str())));
  }
  auto& u = state_->quotas[{ds.str(), s.kind, s.id}];
  u.kind = s.kind;
  u.id = s.id;
  u.zfs_name = std::to_string(s.id);
  u.quota = bytes;
  return OkStatus();
}

Status FakeZfs::SetObjectQuota(const zfs::DatasetName& ds, const zfs::QuotaSubject& s, uint64_t objects) {
  std::lock_guard lock(state_->mu);
  state_->Record(QuotaCall("set-objquota", ds, s) + "=" + std::to_string(objects));
  if (state_->dialect != zfs::Dialect::kOpenZfs2) return MakeError(ErrorCode::kUnimplemented, "no object quotas");
  auto& u = state_->quotas[{ds.str(), s.kind, s.id}];
  u.kind = s.kind;
  u.id = s.id;
  u.zfs_name = std::to_string(s.id);
  u.objquota = objects;
  return OkStatus();
}

Status FakeZfs::ClearQuota(const zfs::DatasetName& ds, const zfs::QuotaSubject& s) {
  std::lock_guard lock(state_->mu);
  state_->Record(QuotaCall("clear-quota", ds, s));
  auto it = state_->quotas.find({ds.str(), s.kind, s.id});
  if (it != state_->quotas.end()) {
    it->second.quota = 0;
    if (it->second.objquota) it->second.objquota = 0;
  }
  return OkStatus();
}

Result<std::vector<zfs::QuotaUsage>> FakeZfs::ListQuotas(const zfs::DatasetName& ds, zfs::QuotaKind kind) {
  std::lock_guard lock(state_->mu);
  state_->Record(fmt::format("list-quotas {} {}", ds.str(), zfs::QuotaKindName(kind)));
  if (!state_->Filesystem(ds.str())) {
    return std::unexpected(ToolError(fmt::format("list quotas of '{}'", ds.str()), "zfs",
                                     fmt::format("cannot open '{}': dataset does not exist", ds.str())));
  }
  std::vector<zfs::QuotaUsage> out;
  for (const auto& [key, u] : state_->quotas) {
    if (std::get<0>(key) == ds.str() && std::get<1>(key) == kind && (u.used || u.quota)) out.push_back(u);
  }
  return out;
}

namespace {

Status LifecycleCall(FakeZfs::State& state, std::mutex& mu, const zfs::PoolName& pool, const std::string& call,
                     const std::string& context) {
  std::lock_guard lock(mu);
  state.Record(call);
  if (!state.Imported(pool.str())) {
    return std::unexpected(ToolError(context, "zpool", fmt::format("cannot open '{}': no such pool", pool.str())));
  }
  return OkStatus();
}

}  // namespace

}  // namespace pk::testing
