// The real adapter: builds argv vectors for zpool/zfs of the detected dialect,
// runs them through sys::ProcessRunner and parses their output.
#include <sys/stat.h>

#include <algorithm>
#include <functional>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/log.h"
#include "base/text.h"
#include "zfs/internal/parse.h"
#include "zfs/label.h"
#include "zfs/zfs.h"

namespace pk::zfs {
namespace {

using Args = std::vector<std::string>;

// Error code for a failed tool run, from the tool's own words (the phrases are
// those of zfs-fuse 0.7, tests/data/zfs-fuse/*.err, and of OpenZFS 2.x).
ErrorCode ClassifyToolError(const std::string& err) {
  auto has = [&](std::string_view needle) { return err.find(needle) != std::string::npos; };
  if (has("does not exist") || has("no such pool") || has("no such dataset") ||
      has("could not find any snapshots") || has("no pools available")) {
    return ErrorCode::kNotFound;
  }
  if (has("no such device in pool")) return ErrorCode::kNotFound;
  if (has("already exists") || has("a pool with that name already") ||
      has("already created/imported")) {
    return ErrorCode::kAlreadyExists;
  }
  // A device that belongs to another pool is not "already existing" in the
  // gRPC sense: the caller may retry with -f or pick another device.
  if (has("busy") || has("has children") || has("has dependent clones") ||
      has("more recent snapshots") || has("is not empty") || has("is in use") ||
      has("already in use") || has("is part of active pool") || has("is part of exported pool") ||
      has("no valid replicas") || has("device is too small") || has("only applicable to mirror") ||
      has("only inactive hot spares") || has("can only attach to mirrors") ||
      has("currently being replaced") || has("already a scrub in progress") ||
      has("currently resilvering") || has("out of space")) {
    // "out of space": e.g. OpenZFS refusing to remove a data vdev whose data the rest cannot hold.
    return ErrorCode::kFailedPrecondition;
  }
  if (has("invalid property") || has("bad property") || has("invalid option") ||
      has("invalid character") || has("is not a valid") || has("bad numeric value") ||
      has("usage:") || has("must be") || has("invalid vdev specification")) {
    return ErrorCode::kInvalidArgument;
  }
  if (has("failed to initialize ZFS library") || has("daemon is running")) {
    return ErrorCode::kUnavailable;
  }
  if (has("permission denied") || has("Permission denied")) return ErrorCode::kPermissionDenied;
  return ErrorCode::kInternal;
}

// The part of a tool's stderr worth showing: without zfs-fuse's "Defaulting
// to 4K blocksize" chatter (printed for every vdev, also on success) and
// without the usage text and property table that follow a usage error;
// lines joined with spaces so the message stays on one log line.
std::string ToolMessage(const std::string& text) {
  std::string message;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    std::string line(Trim(text.substr(start, nl - start)));
    start = nl + 1;
    if (line.starts_with("usage:")) break;
    if (line.empty() || line.starts_with("Defaulting to 4K blocksize")) continue;
    if (!message.empty()) message += ' ';
    message += line;
  }
  return message.empty() ? std::string(Trim(text)) : message;
}

std::string_view Basename(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string_view(path) : std::string_view(path).substr(slash + 1);
}

std::string JoinProperties(const std::vector<std::string>& properties) {
  return properties.empty() ? "all" : fmt::format("{}", fmt::join(properties, ","));
}

class CliZfs final : public Zfs {
 public:
  CliZfs(sys::ProcessRunner& runner, Dialect dialect, ZfsToolPaths paths, ZfsOptions options)
      : runner_(runner), dialect_(dialect), paths_(std::move(paths)), options_(options),
        log_(GetLogger("zfs")) {}

  Dialect dialect() const override { return dialect_; }

  Result<std::vector<PoolSummary>> ListPools() override {
    Args args = {"list", "-H"};
    if (IsOpenZfs()) args.push_back("-p");
    args.insert(args.end(), {"-o", "name,size,alloc,free,health,guid,altroot"});
    PK_ASSIGN_OR_RETURN(auto r, Zpool(args, "list pools"));
    return internal::ParsePoolList(r.out, IsOpenZfs());
  }

  Result<PoolStatus> GetPoolStatus(const PoolName& pool) override {
    Args args = {"status"};
    if (IsOpenZfs()) args.insert(args.end(), {"-P", "-p"});
    args.push_back(pool.str());
    PK_ASSIGN_OR_RETURN(auto r, Zpool(args, fmt::format("status of pool '{}'", pool.str())));
    auto parsed = internal::ParsePoolStatus(r.out);
    if (!parsed) return std::unexpected(parsed.error().WithContext(fmt::format("status of pool '{}'", pool.str())));
    return parsed;
  }

  Status CreatePool(const PoolName& pool, const VdevSpec& vdevs, const CreatePoolOptions& o) override {
    Args args = {"create"};
    if (o.force == Force::kYes) args.push_back("-f");
    if (o.mountpoint) args.insert(args.end(), {"-m", *o.mountpoint});
    if (o.altroot) args.insert(args.end(), {"-R", *o.altroot});
    for (const auto& [k, v] : o.pool_properties) args.insert(args.end(), {"-o", k + "=" + v});
    for (const auto& p : o.root_properties) args.insert(args.end(), {"-O", p.name.str() + "=" + p.value});
    args.push_back(pool.str());
    auto vargs = vdevs.ToArgs();
    args.insert(args.end(), vargs.begin(), vargs.end());
    PK_TRY(Zpool(args, fmt::format("create pool '{}'", pool.str())));
    return OkStatus();
  }

  Result<std::vector<ImportablePool>> ListImportable(const std::vector<std::string>& dirs) override {
    Args args = {"import"};
    PK_TRY(AddSearchDirs(args, dirs));
    std::string context = "list importable pools";
    PK_ASSIGN_OR_RETURN(auto r, Spawn(paths_.zpool, args, context));
    if (!r.status.Success()) {
      // zfs-fuse exits 1 without a word when the directories hold no pool
      // (checked on the lab machine: `zpool import -d EMPTYDIR`; see also
      // tests/data/zfs-fuse/README.md for `zpool import` without -d).
      if (!IsOpenZfs() && r.status.kind == sys::ExitStatus::Kind::kExited && r.status.code == 1 &&
          Trim(r.out).empty() && Trim(r.err).empty()) {
        return std::vector<ImportablePool>{};
      }
      Error e = ToolFailure(paths_.zpool, r, context);
      // OpenZFS: "no pools available to import".
      if (e.code() == ErrorCode::kNotFound) return std::vector<ImportablePool>{};
      return std::unexpected(std::move(e));
    }
    return internal::ParseImportList(r.out);
  }

  Status ImportPool(const ImportOptions& o) override {
    std::string what = o.name ? fmt::format("pool '{}'", o.name->str())
                              : fmt::format("pool with GUID {}", o.guid.value_or(0));
    std::string context = "import " + what;
    if (!o.name && !o.guid) return InvalidArgument("import: give a pool name or a GUID");
    if (o.mount == Mount::kNo && !IsOpenZfs()) {
      return MakeError(ErrorCode::kUnimplemented,
                       context + ": zfs-fuse cannot import without mounting (no 'zpool import -N')");
    }
    Args args = {"import"};
    PK_TRY(AddSearchDirs(args, o.search_dirs));
    switch (o.cachefile) {
      case ImportOptions::Cachefile::kDefault: break;
      case ImportOptions::Cachefile::kNone: args.insert(args.end(), {"-o", "cachefile=none"}); break;
      case ImportOptions::Cachefile::kPath:
        if (!o.cachefile_path.starts_with('/')) {
          return InvalidArgument(context + ": cachefile must be an absolute path");
        }
        args.insert(args.end(), {"-o", "cachefile=" + o.cachefile_path});
        break;
    }
    if (o.altroot) {
      if (!o.altroot->starts_with('/')) return InvalidArgument(context + ": altroot must be an absolute path");
      args.insert(args.end(), {"-R", *o.altroot});
    }
    if (o.read_only == ReadOnly::kYes) args.insert(args.end(), {"-o", "readonly=on"});
    if (o.force == Force::kYes) args.push_back("-f");
    if (o.mount == Mount::kNo) args.push_back("-N");
    args.push_back(o.guid ? std::to_string(*o.guid) : o.name->str());
    if (o.new_name) args.push_back(o.new_name->str());
    auto imported = Zpool(args, context);
    if (imported) return OkStatus();
    // Refused because another system imported it last, or (MMP) imports it
    // now: say who, from the label itself, which the refusal's own words
    // may not (OpenZFS leaves the host out when it has no hostid).
    if (!RefusedAsInUse(imported.error().message()) &&
        imported.error().message().find("is imported on") == std::string::npos) {
      return std::unexpected(imported.error());
    }
    auto label = LabelOfImportable(o);
    if (!label) {
      log_->warn("{}: cannot read the pool's label: {}", context, label.error().message());
      return std::unexpected(imported.error());
    }
    return MakeError(imported.error().code(), imported.error().message() + "; " + LabelClause(*label));
  }

  Result<VdevLabel> ReadLabel(const std::string& device) {
    std::string context = fmt::format("read the ZFS label of '{}'", device);
    if (!device.starts_with('/') || device.find('\n') != std::string::npos) {
      return InvalidArgument(context + ": the device must be an absolute path");
    }
    // zdb is installed beside zpool by both flavours. OpenZFS's exits 2 when
    // no label unpacks, zfs-fuse's 0: the parser reads both (NotFound).
    const std::string zdb = paths_.zpool.substr(0, paths_.zpool.rfind('/') + 1) + "zdb";
    PK_ASSIGN_OR_RETURN(auto r, Spawn(zdb, {"-l", device}, context));
    if (!r.status.Success() && r.out.find("LABEL ") == std::string::npos &&
        r.out.find("failed to unpack label") == std::string::npos) {
      return std::unexpected(ToolFailure(zdb, r, context));
    }
    return internal::ParseZdbLabel(r.out, device);
  }

  Status EnableMultihost(const PoolName& pool) {
    std::string context = fmt::format("enable multihost (MMP) on pool '{}'", pool.str());
    if (!IsOpenZfs()) {
      return MakeError(ErrorCode::kUnimplemented,
                       context + ": zfs-fuse has no multihost protection (pool version 23)");
    }
    auto set = Zpool({"set", "multihost=on", pool.str()}, context);
    if (!set && set.error().message().find("hostid") != std::string::npos) {
      return FailedPrecondition(set.error().message() + " (this head needs a non-zero hostid in /etc/hostid: zgenhostid)");
    }
    PK_TRY(set);
    return OkStatus();
  }

  Status ExportPool(const PoolName& pool, Force force) override {
    Args args = {"export"};
    if (force == Force::kYes) args.push_back("-f");
    args.push_back(pool.str());
    auto r = RetryWhileBusy(paths_.zpool, args, fmt::format("export pool '{}'", pool.str()));
    if (r) return OkStatus();
    if (force == Force::kYes || r.error().code() == ErrorCode::kNotFound) {
      return std::unexpected(r.error());
    }
    // A failed export is not atomic (tests/data/zfs-fuse/README.md, "Surprises"):
    // the pool stays imported but the filesystems unmounted before the busy one
    // stay unmounted. Remount exactly those of this pool, not `zfs mount -a`,
    // which would also mount other pools' datasets.
    return std::unexpected(Error(r.error().code(), r.error().message() + "; " + MountTree(pool.str(), "the failed export had unmounted")));
  }

  Status DestroyPool(const PoolName& pool, Force force) override {
    Args args = {"destroy"};
    if (force == Force::kYes) args.push_back("-f");
    args.push_back(pool.str());
    PK_TRY(RetryWhileBusy(paths_.zpool, args, fmt::format("destroy pool '{}'", pool.str())));
    return OkStatus();
  }

  // ---- Disk lifecycle (issue 20 item 1) ----

  Status ReplaceDevice(const PoolName& pool, const VdevRef& old_device, const std::optional<DevicePath>& new_device,
                       Force force) override {
    std::string context = new_device ? fmt::format("replace '{}' in pool '{}' with '{}'", old_device.str(),
                                                   pool.str(), new_device->str())
                                     : fmt::format("replace '{}' in pool '{}' (by the disk now at that path)",
                                                   old_device.str(), pool.str());
    Args args = {"replace"};
    if (force == Force::kYes) args.push_back("-f");
    args.insert(args.end(), {pool.str(), old_device.str()});
    if (new_device) args.push_back(new_device->str());
    PK_TRY(Zpool(args, context));
    return OkStatus();
  }

  Status AttachDevice(const PoolName& pool, const VdevRef& existing, const DevicePath& new_device,
                      Force force) override {
    Args args = {"attach"};
    if (force == Force::kYes) args.push_back("-f");
    args.insert(args.end(), {pool.str(), existing.str(), new_device.str()});
    PK_TRY(Zpool(args, fmt::format("attach '{}' to '{}' in pool '{}'", new_device.str(), existing.str(), pool.str())));
    return OkStatus();
  }

  Status DetachDevice(const PoolName& pool, const VdevRef& device) override {
    PK_TRY(Zpool({"detach", pool.str(), device.str()},
                 fmt::format("detach '{}' from pool '{}'", device.str(), pool.str())));
    return OkStatus();
  }

  Status OnlineDevice(const PoolName& pool, const VdevRef& device, Expand expand) override {
    Args args = {"online"};
    if (expand == Expand::kYes) args.push_back("-e");
    args.insert(args.end(), {pool.str(), device.str()});
    PK_TRY(Zpool(args, fmt::format("bring '{}' online in pool '{}'", device.str(), pool.str())));
    return OkStatus();
  }

  Status OfflineDevice(const PoolName& pool, const VdevRef& device, Temporary temporary) override {
    Args args = {"offline"};
    if (temporary == Temporary::kYes) args.push_back("-t");
    args.insert(args.end(), {pool.str(), device.str()});
    PK_TRY(Zpool(args, fmt::format("take '{}' offline in pool '{}'", device.str(), pool.str())));
    return OkStatus();
  }

  Result<std::string> AddVdevs(const PoolName& pool, const VdevSpec& vdevs, Force force, DryRun dry_run) override {
    auto vargs = vdevs.ToArgs();
    std::string context = fmt::format("add {} to pool '{}'", fmt::join(vargs, " "), pool.str());
    if (vargs.empty()) return InvalidArgument(context + ": no devices given");
    Args args = {"add"};
    if (force == Force::kYes) args.push_back("-f");
    if (dry_run == DryRun::kYes) args.push_back("-n");
    args.push_back(pool.str());
    args.insert(args.end(), vargs.begin(), vargs.end());
    PK_ASSIGN_OR_RETURN(auto r, Zpool(args, context));
    return dry_run == DryRun::kYes ? r.out : std::string();
  }

  Status RemoveDevice(const PoolName& pool, const VdevRef& device) override {
    std::string context = fmt::format("remove '{}' from pool '{}'", device.str(), pool.str());
    if (!IsOpenZfs() && device.kind() == VdevRef::Kind::kTopLevel) {
      return MakeError(ErrorCode::kUnimplemented,
                       context + ": zfs-fuse (pool version 23) cannot remove a top-level data vdev; "
                                 "only spares, cache and log devices");
    }
    PK_TRY(Zpool({"remove", pool.str(), device.str()}, context));
    return OkStatus();
  }

  Status Scrub(const PoolName& pool, ScrubAction action) override {
    std::string context = action == ScrubAction::kStart  ? fmt::format("start a scrub of pool '{}'", pool.str())
                          : action == ScrubAction::kStop ? fmt::format("stop the scrub of pool '{}'", pool.str())
                                                         : fmt::format("pause the scrub of pool '{}'", pool.str());
    if (!IsOpenZfs() && action == ScrubAction::kPause) {
      return MakeError(ErrorCode::kUnimplemented,
                       context + ": zfs-fuse (pool version 23) cannot pause a scrub (no 'zpool scrub -p')");
    }
    Args args = {"scrub"};
    if (action == ScrubAction::kStop) args.push_back("-s");
    if (action == ScrubAction::kPause) args.push_back("-p");
    args.push_back(pool.str());
    PK_TRY(Zpool(args, context));
    return OkStatus();
  }

  Result<std::vector<Dataset>> ListDatasets(const ListOptions& o) override {
    std::vector<std::string> props = o.properties;
    if (!props.empty() && std::find(props.begin(), props.end(), "type") == props.end()) {
      props.insert(props.begin(), "type");
    }
    if (o.root) PK_TRY_CONTEXT(DatasetName::Parse(*o.root), "list datasets");
    Args args = {"get", "-H", "-p"};
    if (o.recursive != Recursive::kNo) args.push_back("-r");
    if (IsOpenZfs()) {
      std::vector<std::string> types;
      for (auto t : o.types) types.emplace_back(DatasetTypeName(t));
      args.insert(args.end(), {"-t", fmt::format("{}", fmt::join(types, ","))});
    }
    args.insert(args.end(), {"-o", "name,property,value,source", JoinProperties(props)});
    if (o.root) args.push_back(*o.root);
    std::string context = o.root ? fmt::format("list datasets under '{}'", *o.root) : "list datasets";
    PK_ASSIGN_OR_RETURN(auto r, Zfs(args, context));
    PK_ASSIGN_OR_RETURN(auto all, internal::ParseGetOutput(r.out));
    std::erase_if(all, [&](const Dataset& d) {
      return std::find(o.types.begin(), o.types.end(), d.type) == o.types.end();
    });
    return all;
  }

  Result<Dataset> GetDataset(const std::string& name, const std::vector<std::string>& properties) override {
    std::vector<std::string> props = properties;
    if (!props.empty() && std::find(props.begin(), props.end(), "type") == props.end()) {
      props.insert(props.begin(), "type");
    }
    std::string context = fmt::format("get properties of '{}'", name);
    PK_TRY_CONTEXT(AnyName::Parse(name), context);  // the name is argv: no "-x" sneaks in
    PK_ASSIGN_OR_RETURN(auto r, Zfs({"get", "-H", "-p", "-o", "name,property,value,source",
                                     JoinProperties(props), name}, context));
    PK_ASSIGN_OR_RETURN(auto all, internal::ParseGetOutput(r.out));
    if (all.empty()) return NotFound(context + ": no such dataset");
    return std::move(all.front());
  }

  Status CreateDataset(const DatasetName& ds, const PropertyList& properties, CreateParents parents) override {
    Args args = {"create"};
    if (parents == CreateParents::kYes) args.push_back("-p");
    AddCreateProperties(args, properties);
    args.push_back(ds.str());
    PK_TRY(Zfs(args, fmt::format("create dataset '{}'", ds.str())));
    return OkStatus();
  }

  Status CreateVolume(const DatasetName& ds, uint64_t size_bytes, const PropertyList& properties) override {
    std::string context = fmt::format("create volume '{}'", ds.str());
    if (!IsOpenZfs()) {
      return MakeError(ErrorCode::kUnimplemented, context + ": zfs-fuse has no volumes (zvols)");
    }
    Args args = {"create", "-V", std::to_string(size_bytes)};
    AddCreateProperties(args, properties);
    args.push_back(ds.str());
    PK_TRY(Zfs(args, context));
    return OkStatus();
  }

  Status SetProperties(const std::string& name, const PropertyList& properties) override {
    std::string context = fmt::format("set properties on '{}'", name);
    if (properties.empty()) return InvalidArgument(context + ": no properties given");
    PK_TRY_CONTEXT(AnyName::Parse(name), context);
    if (IsOpenZfs() || properties.size() == 1) {
      Args args = {"set"};
      for (const auto& p : properties) args.push_back(p.name.str() + "=" + p.value);
      args.push_back(name);
      PK_TRY(Zfs(args, context));
      return OkStatus();
    }
    return SetOneByOne(name, properties, context);
  }

  Status InheritProperty(const DatasetName& ds, const PropertyName& property, Recursive recursive) override {
    Args args = {"inherit"};
    if (recursive != Recursive::kNo) args.push_back("-r");
    args.insert(args.end(), {property.str(), ds.str()});
    PK_TRY(Zfs(args, fmt::format("inherit '{}' on '{}'", property.str(), ds.str())));
    return OkStatus();
  }

  Status DestroyDataset(const DatasetName& ds, Recursive recursive) override {
    Args args = {"destroy"};
    AddRecursive(args, recursive);
    args.push_back(ds.str());
    PK_TRY(RetryWhileBusy(paths_.zfs, args, fmt::format("destroy dataset '{}'", ds.str())));
    return OkStatus();
  }

  Status RenameDataset(const DatasetName& from, const DatasetName& to) override {
    std::string context = fmt::format("rename '{}' to '{}'", from.str(), to.str());
    if (IsOpenZfs()) {
      PK_TRY(Zfs({"rename", from.str(), to.str()}, context));
      return OkStatus();
    }
    // zfs-fuse refuses to rename a mounted filesystem ("dataset is busy") for
    // as long as it stays mounted: unmount the tree (children go with their
    // parent), rename, and mount the renamed tree; on failure mount the old one back.
    PK_ASSIGN_OR_RETURN(auto d, GetDataset(from.str(), {"mounted"}));
    if (d.Get("mounted") == "yes") {
      PK_TRY(RetryWhileBusy(paths_.zfs, {"umount", from.str()}, context + ": unmount"));
    }
    auto renamed = Zfs({"rename", from.str(), to.str()}, context);
    if (!renamed) {
      std::string note = MountTree(from.str(), "the rename had unmounted");
      return std::unexpected(Error(renamed.error().code(), renamed.error().message() + "; " + note));
    }
    bool all_mounted = true;
    std::string note = MountTree(to.str(), "", &all_mounted);
    if (!all_mounted) return FailedPrecondition(fmt::format("{}: renamed, but {}", context, note));
    return OkStatus();
  }

  Status MountDataset(const DatasetName& ds) override {
    PK_TRY(Zfs({"mount", ds.str()}, fmt::format("mount '{}'", ds.str())));
    return OkStatus();
  }

  Status UnmountDataset(const DatasetName& ds, Force force) override {
    Args args = {"umount"};
    if (force == Force::kYes) args.push_back("-f");
    args.push_back(ds.str());
    PK_TRY(RetryWhileBusy(paths_.zfs, args, fmt::format("unmount '{}'", ds.str())));
    return OkStatus();
  }

  Result<QuotaUsage> GetQuota(const DatasetName& ds, const QuotaSubject& subject) override {
    std::string id = std::to_string(subject.id);
    std::string context = fmt::format("get {} quota of {} on '{}'", QuotaKindName(subject.kind), id, ds.str());
    PK_ASSIGN_OR_RETURN(auto rows, GetQuotaProperties(ds, subject.kind, {id}, context));
    if (rows.empty()) return Internal(context + ": zfs printed no values");
    return std::move(rows.front());
  }

  Status SetQuota(const DatasetName& ds, const QuotaSubject& subject, uint64_t bytes) override {
    std::string context = fmt::format("set {} quota of {} on '{}'", QuotaKindName(subject.kind), subject.id, ds.str());
    if (bytes == 0) return InvalidArgument(context + ": a quota of 0 bytes; clear the quota instead");
    PK_TRY(Zfs({"set", fmt::format("{}quota@{}={}", QuotaKindName(subject.kind), subject.id, bytes), ds.str()},
               context));
    return OkStatus();
  }

  Status SetObjectQuota(const DatasetName& ds, const QuotaSubject& subject, uint64_t objects) override {
    std::string context =
        fmt::format("set {} object quota of {} on '{}'", QuotaKindName(subject.kind), subject.id, ds.str());
    if (!IsOpenZfs()) {
      return MakeError(ErrorCode::kUnimplemented, context + ": zfs-fuse (pool version 23) has no object quotas");
    }
    if (objects == 0) return InvalidArgument(context + ": an object quota of 0; clear the quota instead");
    PK_TRY(Zfs({"set", fmt::format("{}objquota@{}={}", QuotaKindName(subject.kind), subject.id, objects), ds.str()},
               context));
    return OkStatus();
  }

  Status ClearQuota(const DatasetName& ds, const QuotaSubject& subject) override {
    std::string_view kind = QuotaKindName(subject.kind);
    std::string context = fmt::format("clear {} quota of {} on '{}'", kind, subject.id, ds.str());
    Args args = {"set", fmt::format("{}quota@{}=none", kind, subject.id)};
    if (IsOpenZfs()) args.push_back(fmt::format("{}objquota@{}=none", kind, subject.id));
    args.push_back(ds.str());
    PK_TRY(Zfs(args, context));
    return OkStatus();
  }

  Result<std::vector<QuotaUsage>> ListQuotas(const DatasetName& ds, QuotaKind kind) override {
    std::string_view verb = kind == QuotaKind::kUser ? "userspace" : "groupspace";
    std::string context = fmt::format("list {} quotas of '{}'", QuotaKindName(kind), ds.str());
    if (IsOpenZfs()) {
      PK_ASSIGN_OR_RETURN(auto r, Zfs({std::string(verb), "-H", "-p", "-n", "-o",
                                       "type,name,used,quota,objused,objquota", ds.str()},
                                      context));
      auto rows = internal::ParseOpenZfsUserspace(r.out, kind);
      if (!rows) return std::unexpected(rows.error().WithContext(context));
      return rows;
    }
    // zfs-fuse: the built-in fallback ignores -H/-p/-n/-o and prints human
    // sizes; use it only to learn who is charged, then read exact numbers.
    PK_ASSIGN_OR_RETURN(auto r, Zfs({"userspace", ds.str()}, context));
    std::vector<std::string> names = internal::ParseZfsFuseUserspaceNames(r.out, kind);
    std::vector<QuotaUsage> all;
    // One argv word holds the property list: keep it well under the kernel's
    // 128 KiB limit per argument (MAX_ARG_STRLEN).
    constexpr size_t kBatch = 1000;
    for (size_t start = 0; start < names.size(); start += kBatch) {
      std::vector<std::string> batch(names.begin() + static_cast<ptrdiff_t>(start),
                                     names.begin() + static_cast<ptrdiff_t>(std::min(names.size(), start + kBatch)));
      PK_ASSIGN_OR_RETURN(auto rows, GetQuotaProperties(ds, kind, batch, context));
      for (auto& row : rows) all.push_back(std::move(row));
    }
    return all;
  }

  Status CreateSnapshot(const SnapshotName& snap, Recursive recursive) override {
    Args args = {"snapshot"};
    if (recursive != Recursive::kNo) args.push_back("-r");
    args.push_back(snap.str());
    PK_TRY(Zfs(args, fmt::format("create snapshot '{}'", snap.str())));
    return OkStatus();
  }

  Status DestroySnapshot(const SnapshotName& snap, Recursive recursive) override {
    Args args = {"destroy"};
    AddRecursive(args, recursive);
    args.push_back(snap.str());
    PK_TRY(RetryWhileBusy(paths_.zfs, args, fmt::format("destroy snapshot '{}'", snap.str())));
    return OkStatus();
  }

  Status Rollback(const SnapshotName& snap, RollbackMode mode) override {
    Args args = {"rollback"};
    if (mode == RollbackMode::kDestroyNewer) args.push_back("-r");
    args.push_back(snap.str());
    PK_TRY(RetryWhileBusy(paths_.zfs, args, fmt::format("roll back to '{}'", snap.str())));
    return OkStatus();
  }

 private:
  bool IsOpenZfs() const { return dialect_ == Dialect::kOpenZfs2; }

  // `zfs get -H -p -o property,value` of the used/quota (and on OpenZFS the
  // object) properties of each subject (ids or names ZFS itself printed).
  Result<std::vector<QuotaUsage>> GetQuotaProperties(const DatasetName& ds, QuotaKind kind,
                                                     const std::vector<std::string>& subjects,
                                                     const std::string& context) {
    std::string_view k = QuotaKindName(kind);
    std::string props;
    for (const auto& s : subjects) {
      if (!props.empty()) props += ',';
      props += fmt::format("{0}used@{1},{0}quota@{1}", k, s);
      if (IsOpenZfs()) props += fmt::format(",{0}objused@{1},{0}objquota@{1}", k, s);
    }
    PK_ASSIGN_OR_RETURN(auto r, Zfs({"get", "-H", "-p", "-o", "property,value", props, ds.str()}, context));
    auto rows = internal::ParseQuotaGet(r.out, kind, subjects);
    if (!rows) return std::unexpected(rows.error().WithContext(context));
    return rows;
  }

  Result<sys::ProcessResult> Zpool(const Args& args, const std::string& context) {
    return RunTool(paths_.zpool, args, context);
  }

  // The label of a member of the pool an import names, found through the
  // import listing of its search directories (a leaf as listed: an absolute
  // path, or a name under one of the directories or /dev).
  Result<VdevLabel> LabelOfImportable(const ImportOptions& o) {
    PK_ASSIGN_OR_RETURN(auto pools, ListImportable(o.search_dirs));
    std::vector<std::string> leaves;
    uint64_t guid = 0;
    std::function<void(const Vdev&)> walk = [&](const Vdev& v) {
      if (v.children.empty() && !v.name.empty() && (v.state == "ONLINE" || v.state == "DEGRADED")) {
        leaves.push_back(v.name);
      }
      for (const auto& c : v.children) walk(c);
    };
    for (const auto& p : pools) {
      if ((o.guid && p.guid == *o.guid) || (!o.guid && o.name && p.name == o.name->str())) {
        walk(p.root);
        guid = p.guid;
      }
    }
    if (leaves.empty()) return NotFound("no member of the pool is listed by 'zpool import'");
    std::vector<std::string> candidates;
    for (const auto& leaf : leaves) {
      if (leaf.starts_with('/')) {
        candidates.push_back(leaf);
        continue;
      }
      for (const auto& d : o.search_dirs) candidates.push_back(d + "/" + leaf);
      candidates.push_back("/dev/disk/by-id/" + leaf);
      candidates.push_back("/dev/" + leaf);
    }
    Error last = Error(ErrorCode::kNotFound, "no candidate device");
    for (const auto& c : candidates) {
      auto label = ReadLabel(c);
      if (label && label->pool_guid == guid) return label;
      if (!label) last = label.error();
    }
    return std::unexpected(last);
  }
  Result<sys::ProcessResult> Zfs(const Args& args, const std::string& context) {
    return RunTool(paths_.zfs, args, context);
  }

  // Runs one tool; a non-zero exit becomes an Error with the tool's message.
  Result<sys::ProcessResult> RunTool(const std::string& tool, const Args& args, const std::string& context) {
    PK_ASSIGN_OR_RETURN(auto r, Spawn(tool, args, context));
    if (!r.status.Success()) return std::unexpected(ToolFailure(tool, r, context));
    return r;
  }

  // Runs one tool; only a failure to start it or a timeout is an Error.
  Result<sys::ProcessResult> Spawn(const std::string& tool, const Args& args, const std::string& context) {
    sys::Command cmd{tool, args, sys::DefaultToolEnvironment(), std::nullopt, options_.timeout};
    std::optional<MountLock> lock;
    if (dialect_ == Dialect::kZfsFuse && CanMount(tool == paths_.zpool ? Tool::kZpool : Tool::kZfs, args)) {
      auto start = std::chrono::steady_clock::now();
      auto held = MountLock::Acquire(options_.zfs_fuse_mount_lock, start + options_.timeout);
      if (!held) return std::unexpected(held.error().WithContext(context));
      lock.emplace(std::move(*held));
      auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
      cmd.timeout = std::max(options_.timeout - waited, std::chrono::milliseconds(1));
    }
    log_->debug("run {}", cmd.ToString());
    auto r = runner_.Run(cmd);
    if (!r) return std::unexpected(r.error().WithContext(context));
    if (r->timed_out) {
      return DeadlineExceeded(fmt::format("{}: {} did not finish within {} ms and was killed", context,
                                          Basename(tool), options_.timeout.count()));
    }
    return r;
  }

  // The Error for a tool that ran and failed: code from its words, message
  // naming the operation, the exit status and what the tool said.
  static Error ToolFailure(const std::string& tool, const sys::ProcessResult& r, const std::string& context) {
    const std::string& text = Trim(r.err).empty() ? r.out : r.err;
    std::string message = ToolMessage(text);
    ErrorCode code = ClassifyToolError(message);
    if (code == ErrorCode::kInternal && text.find("usage:") != std::string::npos) {
      code = ErrorCode::kInvalidArgument;
    }
    if (message.empty()) message = "(no output)";
    return Error(code, fmt::format("{}: {} {}: {}", context, Basename(tool), r.status.ToString(), message));
  }

  Status AddSearchDirs(Args& args, const std::vector<std::string>& dirs) {
    for (const auto& d : dirs) {
      if (!d.starts_with('/') || d.find('\n') != std::string::npos) {
        return InvalidArgument(fmt::format("search directory '{}' must be an absolute path", d));
      }
      args.insert(args.end(), {"-d", d});
    }
    return OkStatus();
  }

  // Runs a tool; while it fails because the object "is busy", retries with a
  // growing pause for up to options_.busy_retry.
  Result<sys::ProcessResult> RetryWhileBusy(const std::string& tool, const Args& args, const std::string& context) {
    auto deadline = std::chrono::steady_clock::now() + options_.busy_retry;
    auto pause = std::chrono::milliseconds(50);
    while (true) {
      auto r = RunTool(tool, args, context);
      if (r || r.error().code() != ErrorCode::kFailedPrecondition ||
          r.error().message().find("busy") == std::string::npos ||
          std::chrono::steady_clock::now() + pause > deadline) {
        return r;
      }
      log_->info("{}: busy, retrying in {} ms", context, pause.count());
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::milliseconds(800));
    }
  }

  // Mounts the filesystems at and below `root` that should be mounted and are
  // not (parents first, as `zfs get -r` lists them); returns a note saying
  // what was done, for error messages. `why` says who unmounted them.
  // `all_mounted`, when given, is set to false when something could not be mounted.
  std::string MountTree(const std::string& root, std::string_view why, bool* all_mounted = nullptr) {
    bool ignored = true;
    bool& ok = all_mounted ? *all_mounted : ignored;
    ok = true;
    std::string context = fmt::format("mount filesystems under '{}'", root);
    auto r = Zfs({"get", "-H", "-p", "-r", "-o", "name,property,value,source", "canmount,mounted,mountpoint",
                  root},
                 context);
    if (!r) {
      log_->error("{}", r.error().message());
      ok = false;
      return fmt::format("could not check which filesystems it left unmounted: {}", r.error().message());
    }
    auto datasets = internal::ParseGetOutput(r->out);
    if (!datasets) {
      log_->error("{}: {}", context, datasets.error().message());
      ok = false;
      return fmt::format("could not check which filesystems it left unmounted: {}", datasets.error().message());
    }
    std::vector<std::string> remounted, failed;
    for (const auto& ds : *datasets) {
      if (ds.type != DatasetType::kFilesystem) continue;
      std::string mountpoint = ds.Get("mountpoint");
      if (ds.Get("canmount") != "on" || ds.Get("mounted") != "no" || mountpoint == "none" ||
          mountpoint == "legacy" || mountpoint.empty()) {
        continue;
      }
      auto m = Zfs({"mount", ds.name}, fmt::format("remount '{}'", ds.name));
      if (m) {
        remounted.push_back("'" + ds.name + "'");
      } else {
        log_->error("{}", m.error().message());
        failed.push_back(m.error().message());
        ok = false;
      }
    }
    std::string note;
    if (remounted.empty() && failed.empty()) {
      note = "no filesystems were left unmounted";
    } else if (!remounted.empty()) {
      note = why.empty() ? fmt::format("mounted {}", fmt::join(remounted, ", "))
                         : fmt::format("remounted the filesystems {}: {}", why, fmt::join(remounted, ", "));
    }
    if (!failed.empty()) {
      if (!note.empty()) note += "; ";
      note += fmt::format("left unmounted: {}", fmt::join(failed, "; "));
    }
    return note;
  }

  static void AddCreateProperties(Args& args, const PropertyList& properties) {
    for (const auto& p : properties) args.insert(args.end(), {"-o", p.name.str() + "=" + p.value});
  }

  static void AddRecursive(Args& args, Recursive recursive) {
    if (recursive == Recursive::kYes) args.push_back("-r");
    if (recursive == Recursive::kWithDependents) args.push_back("-R");
  }

  // zfs-fuse's `zfs set` takes one property: apply in order and, when one
  // fails, put back the ones already applied so nothing is half-applied.
  Status SetOneByOne(const std::string& name, const PropertyList& properties, const std::string& context) {
    std::vector<std::string> names;
    for (const auto& p : properties) names.push_back(p.name.str());
    PK_ASSIGN_OR_RETURN(auto before, GetDataset(name, names));
    for (size_t i = 0; i < properties.size(); ++i) {
      const auto& p = properties[i];
      auto r = Zfs({"set", p.name.str() + "=" + p.value, name}, context);
      if (r) continue;
      for (size_t j = i; j-- > 0;) Restore(name, properties[j].name, before);
      return std::unexpected(r.error());
    }
    return OkStatus();
  }

  void Restore(const std::string& name, const PropertyName& property, const Dataset& before) {
    auto it = before.properties.find(property.str());
    std::string context = fmt::format("restore '{}' on '{}'", property.str(), name);
    Result<sys::ProcessResult> r;
    if (it != before.properties.end() && it->second.source == PropertySource::kLocal) {
      r = Zfs({"set", property.str() + "=" + it->second.value, name}, context);
    } else {
      r = Zfs({"inherit", property.str(), name}, context);
    }
    if (!r) log_->error("{}", r.error().message());
  }

  sys::ProcessRunner& runner_;
  Dialect dialect_;
  ZfsToolPaths paths_;
  ZfsOptions options_;
  std::shared_ptr<spdlog::logger> log_;
};

std::optional<std::string> FindTool(std::string_view name) {
  for (const char* dir : {"/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/local/bin", "/usr/bin", "/bin"}) {
    std::string path = fmt::format("{}/{}", dir, name);
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111)) return path;
  }
  return std::nullopt;
}

}  // namespace

Result<ZfsSetup> DetectZfs(sys::ProcessRunner& runner, const std::string& zpool_path, const std::string& zfs_path) {
  auto zpool = zpool_path.empty() ? FindTool("zpool") : std::optional<std::string>(zpool_path);
  auto zfs = zfs_path.empty() ? FindTool("zfs") : std::optional<std::string>(zfs_path);
  if (!zpool || !zfs) return Unavailable("ZFS tools not found: no zpool/zfs in /usr/local/sbin:/usr/sbin:/sbin:/usr/bin:/bin");
  ZfsSetup setup{Dialect::kZfsFuse, ZfsToolPaths{*zpool, *zfs}};
  // OpenZFS >= 0.8 answers `zfs version` with "zfs-2.1.11-1"; zfs-fuse does not know the verb.
  PK_ASSIGN_OR_RETURN(auto version, runner.Run({*zfs, {"version"}, sys::DefaultToolEnvironment(), std::nullopt,
                                                std::chrono::seconds(30)}));
  if (version.status.Success() && version.out.starts_with("zfs-")) {
    setup.dialect = Dialect::kOpenZfs2;
  } else if (!FindTool("zfs-fuse")) {
    return Unavailable(fmt::format("unknown ZFS flavour: '{} version' said: {}", *zfs, Trim(version.err)));
  }
  return setup;
}

Result<std::unique_ptr<Zfs>> MakeCliZfs(sys::ProcessRunner& runner, ZfsOptions options) {
  PK_ASSIGN_OR_RETURN(auto setup, DetectZfs(runner));
  // Is the ZFS service reachable (module loaded / zfs-fuse daemon running)?
  PK_ASSIGN_OR_RETURN(auto probe, runner.Run({setup.paths.zpool, {"list", "-H", "-o", "name"},
                                              sys::DefaultToolEnvironment(), std::nullopt, std::chrono::seconds(30)}));
  if (!probe.status.Success()) {
    return Unavailable(fmt::format("ZFS is not reachable ({}): zpool list {}: {}", DialectName(setup.dialect),
                                   probe.status.ToString(), Trim(probe.err)));
  }
  return std::unique_ptr<Zfs>(std::make_unique<CliZfs>(runner, setup.dialect, std::move(setup.paths), options));
}

std::unique_ptr<Zfs> MakeCliZfsForDialect(sys::ProcessRunner& runner, Dialect dialect, ZfsToolPaths paths,
                                          ZfsOptions options) {
  return std::make_unique<CliZfs>(runner, dialect, std::move(paths), options);
}

Result<VdevLabel> ReadLabel(sys::ProcessRunner& runner, const ZfsSetup& setup, const std::string& device) {
  return CliZfs(runner, setup.dialect, setup.paths, ZfsOptions{}).ReadLabel(device);
}

Status EnableMultihost(sys::ProcessRunner& runner, const ZfsSetup& setup, const PoolName& pool) {
  return CliZfs(runner, setup.dialect, setup.paths, ZfsOptions{}).EnableMultihost(pool);
}

}  // namespace pk::zfs
