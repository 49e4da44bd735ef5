// The LIO iSCSI backend: configfs driven through sys::ConfigFs. See
// iscsi_lio.h for the mapping.
#include "share/iscsi_lio.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <set>
#include <utility>

#include <fmt/format.h>

#include "base/log.h"
#include "base/text.h"
#include "share/internal/iscsi_targets.h"

namespace pk::share {
namespace {

using Kind = sys::ConfigFs::Kind;
using internal::IscsiTargetPlan;

constexpr char kTpg[] = "tpgt_1";

std::string Base(const std::string& path) { return path.substr(path.rfind('/') + 1); }

bool IsInitiatorName(const std::string& acl) { return acl.starts_with("iqn.") || acl.starts_with("eui."); }
bool IsTargetName(const std::string& name) {
  return name.starts_with("iqn.") || name.starts_with("eui.") || name.starts_with("naa.");
}

// The storage object of a share.
std::string ObjectName(uint64_t guid) { return fmt::format("pk{:016x}", guid); }

// "T10 VPD Unit Serial Number: PK..." -> "PK...".
std::string SerialIn(const std::string& text) {
  size_t colon = text.find(':');
  return std::string(Trim(colon == std::string::npos ? text : text.substr(colon + 1)));
}

// "... readonly: 1 ..." in an iblock object's info.
bool ReadOnlyIn(const std::string& info) {
  size_t at = info.find("readonly: ");
  return at != std::string::npos && info.compare(at + 10, 1, "1") == 0;
}

// What one wanted LUN needs.
struct WantLun {
  size_t index = 0;       // into desired
  std::string plugin;     // "iblock" or "fileio"
  std::string object;     // storage object name
  std::string backing;
  bool read_only = false;
};

class LioBackend final : public Backend {
 public:
  LioBackend(LioOptions options, sys::ConfigFs& configfs, sys::ProcessRunner& runner, sys::FileSystem& fs)
      : options_(std::move(options)),
        cfs_(configfs),
        runner_(runner),
        fs_(fs),
        log_(GetLogger("share")),
        target_(options_.configfs_root + "/target"),
        iscsi_(target_ + "/iscsi") {}

  Protocol protocol() const override { return Protocol::kIscsi; }

  Status Start() override {
    PK_ASSIGN_OR_RETURN(Kind kind, cfs_.KindOf(target_));
    if (kind == Kind::kMissing) {
      PK_ASSIGN_OR_RETURN(Kind root, cfs_.KindOf(options_.configfs_root));
      if (root != Kind::kDirectory) {
        return Unavailable(fmt::format("start LIO: configfs is not mounted at {}", options_.configfs_root));
      }
      sys::Command cmd{.program = options_.modprobe_path,
                       .args = {"target_core_mod"},
                       .env = sys::DefaultToolEnvironment(),
                       .timeout = options_.command_timeout};
      auto r = runner_.Run(cmd);
      if (!r) return Unavailable(fmt::format("start LIO: {}", r.error().message()));
      if (!r->status.Success()) {
        return Unavailable(fmt::format("start LIO: modprobe target_core_mod {}: {}", r->status.ToString(), Trim(r->err)));
      }
      PK_ASSIGN_OR_RETURN(kind, cfs_.KindOf(target_));
      if (kind != Kind::kDirectory) return Unavailable(fmt::format("start LIO: no {} after loading target_core_mod", target_));
    }
    PK_ASSIGN_OR_RETURN(Kind fabric, cfs_.KindOf(iscsi_));
    if (fabric == Kind::kMissing) {
      // Making the fabric's directory loads iscsi_target_mod.
      if (auto st = cfs_.MakeDir(iscsi_); !st && st.error().code() != ErrorCode::kAlreadyExists) {
        return Unavailable(fmt::format("start LIO: the iSCSI fabric: {}", st.error().message()));
      }
      log_->info("lio: iSCSI fabric loaded ({})", iscsi_);
    }
    return OkStatus();
  }

  Status Stop() override {
    auto results = Reconcile({});
    (void)results;
    return last_cleanup_;
  }

  Status Health() override {
    PK_ASSIGN_OR_RETURN(Kind kind, cfs_.KindOf(iscsi_));
    if (kind != Kind::kDirectory) return Unavailable(fmt::format("LIO's iSCSI fabric is not loaded (no {})", iscsi_));
    return OkStatus();
  }

  std::vector<ShareResult> Reconcile(const std::vector<Share>& desired) override;

  Result<std::vector<std::string>> Served() override {
    std::vector<std::string> out;
    for (const auto& [key, id] : served_ids_) {
      std::string lun = fmt::format("{}/{}/{}/lun/lun_{}", iscsi_, key.first, kTpg, key.second);
      PK_ASSIGN_OR_RETURN(Kind kind, cfs_.KindOf(lun));
      if (kind == Kind::kDirectory) out.push_back(id);
    }
    return out;
  }

 private:
  std::string TargetDir(const std::string& iqn) const { return iscsi_ + "/" + iqn; }
  std::string TpgDir(const std::string& iqn) const { return TargetDir(iqn) + "/" + kTpg; }
  std::string HbaDir(const std::string& plugin) const {
    return fmt::format("{}/core/{}_{}", target_, plugin, options_.hba_index);
  }
  std::string ObjectDir(const std::string& plugin, const std::string& name) const {
    return HbaDir(plugin) + "/" + name;
  }

  Result<std::vector<std::string>> ListIfDir(const std::string& path) {
    PK_ASSIGN_OR_RETURN(Kind kind, cfs_.KindOf(path));
    if (kind != Kind::kDirectory) return std::vector<std::string>{};
    return cfs_.List(path);
  }

  // Writes `value` when the attribute says something else (trimmed).
  Status Ensure(const std::string& path, const std::string& value) {
    PK_ASSIGN_OR_RETURN(auto have, cfs_.Read(path));
    if (Trim(have) == value) return OkStatus();
    return cfs_.Write(path, value);
  }

  Status MakeDirIfMissing(const std::string& path) {
    PK_ASSIGN_OR_RETURN(Kind kind, cfs_.KindOf(path));
    if (kind == Kind::kDirectory) return OkStatus();
    return cfs_.MakeDir(path);
  }

  // Removes every link in `dir`, then `dir`.
  Status RemoveLinkedDir(const std::string& dir) {
    PK_ASSIGN_OR_RETURN(auto names, cfs_.List(dir));
    for (const auto& n : names) {
      PK_ASSIGN_OR_RETURN(Kind kind, cfs_.KindOf(dir + "/" + n));
      if (kind == Kind::kLink) PK_TRY(cfs_.Unlink(dir + "/" + n));
    }
    return cfs_.RemoveDir(dir);
  }

  // Whether the target is Poolkeeper's: its portal group's TargetAlias.
  Result<bool> Ours(const std::string& iqn) {
    std::string alias = TpgDir(iqn) + "/param/TargetAlias";
    PK_ASSIGN_OR_RETURN(Kind kind, cfs_.KindOf(alias));
    if (kind != Kind::kAttribute) return false;
    PK_ASSIGN_OR_RETURN(auto text, cfs_.Read(alias));
    return Trim(text) == options_.alias;
  }

  // Removes mapped LUN `lun` from every node ACL of the target, then the LUN.
  Status RemoveLun(const std::string& iqn, const std::string& lun_dir_name) {
    const std::string tpg = TpgDir(iqn);
    PK_ASSIGN_OR_RETURN(auto acls, ListIfDir(tpg + "/acls"));
    for (const auto& acl : acls) {
      std::string mapped = tpg + "/acls/" + acl + "/" + lun_dir_name;
      PK_ASSIGN_OR_RETURN(Kind kind, cfs_.KindOf(mapped));
      if (kind == Kind::kDirectory) PK_TRY(RemoveLinkedDir(mapped));
    }
    return RemoveLinkedDir(tpg + "/lun/" + lun_dir_name);
  }

  // Removes a target completely: disabling its portal groups ends their sessions.
  Status RemoveTarget(const std::string& iqn) {
    PK_ASSIGN_OR_RETURN(auto tpgs, cfs_.List(TargetDir(iqn)));
    for (const auto& t : tpgs) {
      if (!t.starts_with("tpgt_")) continue;
      std::string tpg = TargetDir(iqn) + "/" + t;
      PK_ASSIGN_OR_RETURN(Kind enable, cfs_.KindOf(tpg + "/enable"));
      if (enable == Kind::kAttribute) PK_TRY(Ensure(tpg + "/enable", "0"));
      PK_ASSIGN_OR_RETURN(auto acls, ListIfDir(tpg + "/acls"));
      for (const auto& a : acls) PK_TRY(RemoveAclIn(tpg, a));
      PK_ASSIGN_OR_RETURN(auto luns, ListIfDir(tpg + "/lun"));
      for (const auto& l : luns) PK_TRY(RemoveLinkedDir(tpg + "/lun/" + l));
      PK_ASSIGN_OR_RETURN(auto nps, ListIfDir(tpg + "/np"));
      for (const auto& n : nps) PK_TRY(cfs_.RemoveDir(tpg + "/np/" + n));
      PK_TRY(cfs_.RemoveDir(tpg));
    }
    PK_TRY(cfs_.RemoveDir(TargetDir(iqn)));
    log_->info("lio: target {} removed", iqn);
    return OkStatus();
  }
  Status RemoveAclIn(const std::string& tpg, const std::string& acl) {
    std::string dir = tpg + "/acls/" + acl;
    PK_ASSIGN_OR_RETURN(auto names, cfs_.List(dir));
    for (const auto& n : names) {
      if (!n.starts_with("lun_")) continue;
      PK_ASSIGN_OR_RETURN(Kind kind, cfs_.KindOf(dir + "/" + n));
      if (kind == Kind::kDirectory) PK_TRY(RemoveLinkedDir(dir + "/" + n));
    }
    return cfs_.RemoveDir(dir);
  }

  // The storage object a LUN links to ("iblock_7340/pk..."), empty when none.
  Result<std::string> LinkedObject(const std::string& lun_dir) {
    PK_ASSIGN_OR_RETURN(auto names, cfs_.List(lun_dir));
    for (const auto& n : names) {
      PK_ASSIGN_OR_RETURN(Kind kind, cfs_.KindOf(lun_dir + "/" + n));
      if (kind != Kind::kLink) continue;
      PK_ASSIGN_OR_RETURN(auto to, cfs_.ReadLink(lun_dir + "/" + n));
      while (!to.empty() && to.back() == '/') to.pop_back();
      size_t last = to.rfind('/');
      size_t prev = last == std::string::npos || last == 0 ? std::string::npos : to.rfind('/', last - 1);
      return prev == std::string::npos ? to : to.substr(prev + 1);
    }
    return std::string();
  }

  // Whether the existing object matches `want`.
  Result<bool> ObjectMatches(const WantLun& want, const std::string& serial) {
    std::string dir = ObjectDir(want.plugin, want.object);
    PK_ASSIGN_OR_RETURN(auto udev, cfs_.Read(dir + "/udev_path"));
    if (Trim(udev) != want.backing) return false;
    PK_ASSIGN_OR_RETURN(auto wwn, cfs_.Read(dir + "/wwn/vpd_unit_serial"));
    if (SerialIn(wwn) != serial) return false;
    PK_ASSIGN_OR_RETURN(auto enabled, cfs_.Read(dir + "/enable"));
    if (Trim(enabled) != "1") return false;
    if (want.plugin == "iblock") {
      PK_ASSIGN_OR_RETURN(auto info, cfs_.Read(dir + "/info"));
      if (ReadOnlyIn(info) != want.read_only) return false;
    }
    return true;
  }

  // Creates the storage object; on failure nothing of it is left.
  Status CreateObject(const WantLun& want, const std::string& serial) {
    PK_ASSIGN_OR_RETURN(bool exists, fs_.Exists(want.backing));
    if (!exists) return NotFound(fmt::format("backing store '{}' does not exist", want.backing));
    PK_TRY(MakeDirIfMissing(HbaDir(want.plugin)));
    std::string dir = ObjectDir(want.plugin, want.object);
    PK_TRY(cfs_.MakeDir(dir));
    auto configure = [&]() -> Status {
      if (want.plugin == "iblock") {
        PK_TRY(cfs_.Write(dir + "/control", "udev_path=" + want.backing));
        PK_TRY(cfs_.Write(dir + "/control", fmt::format("readonly={}", want.read_only ? 1 : 0)));
      } else {
        PK_ASSIGN_OR_RETURN(auto info, fs_.StatDevice(want.backing));
        PK_TRY(cfs_.Write(dir + "/control", fmt::format("fd_dev_name={},fd_dev_size={}", want.backing, info.size_bytes)));
      }
      PK_TRY(cfs_.Write(dir + "/udev_path", want.backing));
      PK_TRY(cfs_.Write(dir + "/enable", "1"));
      // Before any LUN links it: the kernel refuses a serial on an exported object.
      PK_TRY(cfs_.Write(dir + "/wwn/vpd_unit_serial", serial));
      return OkStatus();
    };
    if (auto st = configure(); !st) {
      if (auto rm = cfs_.RemoveDir(dir); !rm) log_->warn("lio: {}", rm.error().message());
      return std::unexpected(st.error().WithContext(fmt::format("create storage object {}", dir)));
    }
    log_->info("lio: storage object {} on {} (serial {})", dir, want.backing, serial);
    return OkStatus();
  }

  // Every LUN directory of our targets linked to `object` ("plugin_N/name").
  Result<std::vector<std::pair<std::string, std::string>>> LunsLinkedTo(const std::string& object,
                                                                        const std::vector<std::string>& ours) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& iqn : ours) {
      PK_ASSIGN_OR_RETURN(auto luns, ListIfDir(TpgDir(iqn) + "/lun"));
      for (const auto& l : luns) {
        PK_ASSIGN_OR_RETURN(auto linked, LinkedObject(TpgDir(iqn) + "/lun/" + l));
        if (linked == object) out.emplace_back(iqn, l);
      }
    }
    return out;
  }

  Status ApplyTarget(const IscsiTargetPlan& plan, const std::map<int, WantLun>& luns, bool exists,
                     std::vector<std::string>& ours, const std::vector<Share>& desired,
                     std::vector<ShareResult>& results);

  Status CleanupObjects(const std::set<std::string>& wanted, const std::vector<std::string>& ours);

  LioOptions options_;
  sys::ConfigFs& cfs_;
  sys::ProcessRunner& runner_;
  sys::FileSystem& fs_;
  std::shared_ptr<spdlog::logger> log_;
  const std::string target_;
  const std::string iscsi_;
  Status last_cleanup_ = OkStatus();
  std::map<std::pair<std::string, int>, std::string> served_ids_;  // (IQN, LUN) -> Share::Id()
};

std::vector<ShareResult> LioBackend::Reconcile(const std::vector<Share>& desired) {
  std::vector<ShareResult> results = internal::OkResults(desired);
  auto fail_all = [&](const Error& e) {
    internal::FailRemaining(results, e);
    served_ids_.clear();
    return results;
  };
  last_cleanup_ = OkStatus();

  internal::CheckIscsiBackingFiles(desired, results, options_.lun_file_check);
  std::vector<IscsiTargetPlan> plans = internal::PlanIscsiTargets(desired, results);
  std::vector<std::map<int, WantLun>> plan_luns(plans.size());
  for (size_t p = 0; p < plans.size(); ++p) {
    IscsiTargetPlan& plan = plans[p];
    bool demo = std::find(plan.initiators.begin(), plan.initiators.end(), "ALL") != plan.initiators.end();
    for (const auto& i : plan.initiators) {
      if (i == "ALL" || IsInitiatorName(i)) continue;
      internal::FailPlan(plan, desired, results,
                         FailedPrecondition(fmt::format("target {}: LIO has no initiator address ACL ('{}'); name the "
                                                        "initiators (iqn./eui.) or allow ALL",
                                                        plan.iqn, i))
                             .error());
      break;
    }
    for (const auto& [lun, index] : plan.luns) {
      const Share& share = desired[index];
      const auto& def = std::get<IscsiDefinition>(share.definition);
      if (def.read_only && !share.volume && demo) {
        results[index].status = FailedPrecondition(fmt::format(
            "share {}: a read-only LUN on a file needs named initiators with LIO (its fileio backstore has no "
            "read-only mode)",
            share.Id()));
        continue;
      }
      if (auto st = CheckLioParameterPath(internal::IscsiBackingPath(share)); !st) {
        results[index].status = std::unexpected(st.error().WithContext("share " + share.Id()));
        continue;
      }
      plan_luns[p][lun] = WantLun{.index = index,
                                  .plugin = share.volume ? "iblock" : "fileio",
                                  .object = ObjectName(share.guid),
                                  .backing = internal::IscsiBackingPath(share),
                                  .read_only = def.read_only};
    }
  }

  // Nothing wanted and nothing of ours loaded: do not load the kernel target for that.
  bool wanted = std::any_of(plan_luns.begin(), plan_luns.end(), [](const auto& l) { return !l.empty(); });
  if (!wanted) {
    auto kind = cfs_.KindOf(iscsi_);
    auto core = cfs_.KindOf(target_ + "/core");
    if (kind && *kind == Kind::kMissing && core && *core == Kind::kMissing) {
      served_ids_.clear();
      return results;
    }
  }
  if (auto st = Start(); !st) return fail_all(st.error().WithContext("serve iSCSI"));

  // Our targets, and foreign ones we must not touch.
  std::vector<std::string> ours;
  std::set<std::string> foreign;
  auto names = cfs_.List(iscsi_);
  if (!names) return fail_all(names.error().WithContext("serve iSCSI: list LIO targets"));
  for (const auto& n : *names) {
    auto kind = cfs_.KindOf(iscsi_ + "/" + n);
    if (!kind || *kind != Kind::kDirectory || !IsTargetName(n)) continue;
    auto mine = Ours(n);
    if (!mine) return fail_all(mine.error().WithContext("serve iSCSI"));
    (*mine ? ours.push_back(n) : (void)foreign.insert(n));
  }

  // Targets no share wants go first.
  std::set<std::string> want_iqns;
  for (size_t p = 0; p < plans.size(); ++p) {
    if (!plans[p].shares.empty() && !plan_luns[p].empty()) want_iqns.insert(plans[p].iqn);
  }
  for (auto it = ours.begin(); it != ours.end();) {
    if (want_iqns.contains(*it)) {
      ++it;
      continue;
    }
    if (auto st = RemoveTarget(*it); !st) {
      log_->warn("lio: remove target {}: {}", *it, st.error().message());
      last_cleanup_ = std::unexpected(st.error().WithContext("remove LIO target " + *it));
      ++it;
    } else {
      it = ours.erase(it);
    }
  }

  served_ids_.clear();
  std::set<std::string> wanted_objects;
  for (size_t p = 0; p < plans.size(); ++p) {
    IscsiTargetPlan& plan = plans[p];
    if (!want_iqns.contains(plan.iqn)) continue;
    if (foreign.contains(plan.iqn)) {
      internal::FailPlan(plan, desired, results,
                         FailedPrecondition(fmt::format("LIO target {} exists and is not Poolkeeper's (its TargetAlias "
                                                        "is not '{}'); remove it or choose another IQN",
                                                        plan.iqn, options_.alias))
                             .error());
      continue;
    }
    for (const auto& [lun, want] : plan_luns[p]) wanted_objects.insert(want.plugin + "_" + std::to_string(options_.hba_index) + "/" + want.object);
    bool exists = std::find(ours.begin(), ours.end(), plan.iqn) != ours.end();
    if (auto st = ApplyTarget(plan, plan_luns[p], exists, ours, desired, results); !st) {
      internal::FailPlan(plan, desired, results, st.error());
      continue;
    }
    for (const auto& [lun, want] : plan_luns[p]) {
      if (results[want.index].status) served_ids_[{plan.iqn, lun}] = desired[want.index].Id();
    }
  }
  if (auto st = CleanupObjects(wanted_objects, ours); !st) {
    log_->warn("lio: {}", st.error().message());
    if (last_cleanup_) last_cleanup_ = st;
  }
  return results;
}

Status LioBackend::ApplyTarget(const IscsiTargetPlan& plan, const std::map<int, WantLun>& luns, bool exists,
                               std::vector<std::string>& ours, const std::vector<Share>& desired,
                               std::vector<ShareResult>& results) {
  const std::string tpg = TpgDir(plan.iqn);
  if (!exists) {
    PK_TRY_CONTEXT(cfs_.MakeDir(TargetDir(plan.iqn)), "create LIO target " + plan.iqn);
    // Marked as ours at once; a target left unmarked would be foreign forever.
    Status made = MakeDirIfMissing(tpg);
    if (made) made = cfs_.Write(tpg + "/param/TargetAlias", options_.alias);
    if (!made) {
      if (auto rm = RemoveTarget(plan.iqn); !rm) log_->warn("lio: {}", rm.error().message());
      return std::unexpected(made.error().WithContext("create LIO target " + plan.iqn));
    }
    ours.push_back(plan.iqn);
    log_->info("lio: target {} created", plan.iqn);
  }
  const std::string what = "configure LIO target " + plan.iqn;

  // Portal: ours only.
  std::string np = tpg + "/np/" + options_.portal;
  PK_TRY_CONTEXT(MakeDirIfMissing(np), what);
  PK_ASSIGN_OR_RETURN(auto nps, cfs_.List(tpg + "/np"));
  for (const auto& n : nps) {
    if (n != options_.portal) PK_TRY_CONTEXT(cfs_.RemoveDir(tpg + "/np/" + n), what);
  }

  // Access, in an order that never opens the target wider than either the
  // old or the new definition: credentials and authentication first, named
  // ACLs before demo mode goes off, demo mode after the ACLs it replaces.
  const bool demo = std::find(plan.initiators.begin(), plan.initiators.end(), "ALL") != plan.initiators.end();
  const bool chap = !plan.chap_user.empty();
  std::vector<std::string> names;
  if (!demo) {
    for (const auto& i : plan.initiators) names.push_back(i);
  }
  if (chap && demo) {
    PK_TRY_CONTEXT(Ensure(tpg + "/auth/userid", plan.chap_user), what);
    PK_TRY_CONTEXT(Ensure(tpg + "/auth/password", plan.chap_secret), what);
  }
  for (const auto& name : names) {
    std::string acl = tpg + "/acls/" + name;
    PK_TRY_CONTEXT(MakeDirIfMissing(acl), what);
    if (chap) {
      PK_TRY_CONTEXT(Ensure(acl + "/auth/userid", plan.chap_user), what);
      PK_TRY_CONTEXT(Ensure(acl + "/auth/password", plan.chap_secret), what);
    }
  }
  if (chap) PK_TRY_CONTEXT(Ensure(tpg + "/attrib/authentication", "1"), what);
  PK_TRY_CONTEXT(Ensure(tpg + "/attrib/demo_mode_write_protect", "0"), what);
  PK_TRY_CONTEXT(Ensure(tpg + "/attrib/generate_node_acls", demo ? "1" : "0"), what);
  PK_TRY_CONTEXT(Ensure(tpg + "/attrib/cache_dynamic_acls", demo ? "1" : "0"), what);
  PK_ASSIGN_OR_RETURN(auto have_acls, cfs_.List(tpg + "/acls"));
  for (const auto& a : have_acls) {
    if (std::find(names.begin(), names.end(), a) == names.end()) PK_TRY_CONTEXT(RemoveAclIn(tpg, a), what);
  }
  if (!chap) PK_TRY_CONTEXT(Ensure(tpg + "/attrib/authentication", "0"), what);

  // LUNs: the unwanted go, then each wanted one is linked to its object.
  PK_ASSIGN_OR_RETURN(auto have_luns, cfs_.List(tpg + "/lun"));
  for (const auto& l : have_luns) {
    int n = -1;
    auto [p, ec] = std::from_chars(l.data() + std::min<size_t>(4, l.size()), l.data() + l.size(), n);
    if (ec == std::errc() && p == l.data() + l.size() && luns.contains(n)) continue;
    PK_TRY_CONTEXT(RemoveLun(plan.iqn, l), what);
    log_->info("lio: {} of target {} removed", l, plan.iqn);
  }
  for (const auto& [lun, want] : luns) {
    const Share& share = desired[want.index];
    const std::string serial = IdentityFor(share.guid).serial;
    const std::string lun_name = fmt::format("lun_{}", lun);
    const std::string lun_dir = tpg + "/lun/" + lun_name;
    const std::string object = want.plugin + "_" + std::to_string(options_.hba_index) + "/" + want.object;
    auto apply = [&]() -> Status {
      // The object: reuse it when it matches, else recreate it (unexported first).
      const std::string dir = ObjectDir(want.plugin, want.object);
      PK_ASSIGN_OR_RETURN(Kind kind, cfs_.KindOf(dir));
      bool fresh = kind != Kind::kDirectory;
      if (!fresh) {
        PK_ASSIGN_OR_RETURN(bool matches, ObjectMatches(want, serial));
        if (!matches) {
          PK_ASSIGN_OR_RETURN(auto linked, LunsLinkedTo(object, ours));
          for (const auto& [iqn, l] : linked) PK_TRY(RemoveLun(iqn, l));
          PK_TRY(cfs_.RemoveDir(dir));
          log_->info("lio: storage object {} changed; recreating it", dir);
          fresh = true;
        }
      }
      if (fresh) PK_TRY(CreateObject(want, serial));
      // The LUN: linked to this object, or made anew.
      PK_ASSIGN_OR_RETURN(Kind lun_kind, cfs_.KindOf(lun_dir));
      if (lun_kind == Kind::kDirectory) {
        PK_ASSIGN_OR_RETURN(auto linked, LinkedObject(lun_dir));
        if (linked != object) {
          PK_TRY(RemoveLun(plan.iqn, lun_name));
          lun_kind = Kind::kMissing;
        }
      }
      if (lun_kind != Kind::kDirectory) {
        PK_TRY(cfs_.MakeDir(lun_dir));
        if (auto st = cfs_.Link(dir, lun_dir + "/" + want.object); !st) {
          if (auto rm = cfs_.RemoveDir(lun_dir); !rm) log_->warn("lio: {}", rm.error().message());
          return st;
        }
        log_->info("lio: LUN {} of target {} -> {}", lun, plan.iqn, want.backing);
      }
      // Mapped under its own number for each named initiator.
      for (const auto& name : names) {
        std::string mapped = tpg + "/acls/" + name + "/" + lun_name;
        PK_ASSIGN_OR_RETURN(Kind mk, cfs_.KindOf(mapped));
        if (mk != Kind::kDirectory) {
          PK_TRY(cfs_.MakeDir(mapped));
          if (auto st = cfs_.Link(lun_dir, mapped + "/lun"); !st) {
            if (auto rm = cfs_.RemoveDir(mapped); !rm) log_->warn("lio: {}", rm.error().message());
            return st;
          }
        }
        PK_TRY(Ensure(mapped + "/write_protect", want.read_only && want.plugin == "fileio" ? "1" : "0"));
      }
      return OkStatus();
    };
    if (auto st = apply(); !st) {
      results[want.index].status =
          std::unexpected(st.error().WithContext(fmt::format("share {}: LUN {} of target {}", share.Id(), lun, plan.iqn)));
    }
  }
  PK_TRY_CONTEXT(Ensure(tpg + "/enable", "1"), what);
  return OkStatus();
}

Status LioBackend::CleanupObjects(const std::set<std::string>& wanted, const std::vector<std::string>& ours) {
  for (const std::string plugin : {"iblock", "fileio"}) {
    const std::string hba = HbaDir(plugin);
    PK_ASSIGN_OR_RETURN(Kind kind, cfs_.KindOf(hba));
    if (kind != Kind::kDirectory) continue;
    PK_ASSIGN_OR_RETURN(auto names, cfs_.List(hba));
    bool empty = true;
    for (const auto& n : names) {
      PK_ASSIGN_OR_RETURN(Kind k, cfs_.KindOf(hba + "/" + n));
      if (k != Kind::kDirectory) continue;
      std::string object = Base(hba) + "/" + n;
      if (wanted.contains(object)) {
        empty = false;
        continue;
      }
      PK_ASSIGN_OR_RETURN(auto linked, LunsLinkedTo(object, ours));
      for (const auto& [iqn, l] : linked) PK_TRY(RemoveLun(iqn, l));
      if (auto st = cfs_.RemoveDir(hba + "/" + n); !st) {
        empty = false;
        return std::unexpected(st.error().WithContext("remove LIO storage object"));
      }
      log_->info("lio: storage object {} removed", hba + "/" + n);
    }
    if (empty) PK_TRY_CONTEXT(cfs_.RemoveDir(hba), "remove LIO HBA");
  }
  return OkStatus();
}

Status CheckOptions(const LioOptions& o) {
  for (const auto* p : {&o.configfs_root, &o.modprobe_path}) {
    if (!p->starts_with('/')) return InvalidArgument(fmt::format("LIO options: path '{}' is not absolute", *p));
  }
  if (!internal::IsIscsiPortal(o.portal)) {
    return InvalidArgument(fmt::format("LIO options: portal '{}' is not IPV4:PORT or [IPV6]:PORT", o.portal));
  }
  if (o.hba_index < 0) return InvalidArgument(fmt::format("LIO options: HBA index {} is negative", o.hba_index));
  if (o.alias.empty() || o.alias.find_first_of(" \t\n/") != std::string::npos) {
    return InvalidArgument(fmt::format("LIO options: alias '{}' must be one word", o.alias));
  }
  return OkStatus();
}

}  // namespace

Status CheckLioParameterPath(std::string_view path) {
  // configfs `control` takes "key=value,key=value\n": a ',' would start
  // another parameter, a newline end the string.
  if (path.find_first_of(",\n") != std::string_view::npos) {
    return InvalidArgument(fmt::format("backing path '{}' contains ',' or a newline, which LIO's control parameters "
                                       "cannot hold (rename the dataset or change its mountpoint)",
                                       path.find('\n') == std::string_view::npos ? std::string(path) : "(with a newline)"));
  }
  return OkStatus();
}

Result<std::unique_ptr<Backend>> MakeLioBackend(LioOptions options, sys::ConfigFs& configfs,
                                                sys::ProcessRunner& runner, sys::FileSystem& fs) {
  PK_TRY(CheckOptions(options));
  return std::make_unique<LioBackend>(std::move(options), configfs, runner, fs);
}

}  // namespace pk::share
