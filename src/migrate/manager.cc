#include "migrate/manager.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>

#include <fmt/format.h>

#include "base/log.h"
#include "migrate/protocol.h"
#include "migrate/shadow_fs.h"
#include "migrate/shadow_tree.h"
#include "migrate/source.h"
#include "sys/daemon_launcher.h"

extern char** environ;

namespace pk::migrate {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// Helpers are long-running children: sys::DaemonLauncher starts them (own
// process group, signals unblocked and at their defaults, so SIGTERM reaches
// libfuse's handler although the daemon blocks it) and reaps them.
class LaunchedHelperProcesses : public HelperProcesses {
 public:
  explicit LaunchedHelperProcesses(std::string record_dir) : launcher_(sys::MakePosixDaemonLauncher(std::move(record_dir))) {}

  Result<pid_t> Spawn(const std::vector<std::string>& argv, const std::string& log_path) override {
    return SpawnRecorded("", argv, log_path);
  }

  Result<pid_t> SpawnRecorded(const std::string& name, const std::vector<std::string>& argv,
                              const std::string& log_path) override {
    PK_ASSIGN_OR_RETURN(auto command, CommandOf(argv));
    PK_ASSIGN_OR_RETURN(auto daemon, name.empty() ? launcher_->Launch(command, log_path)
                                                  : launcher_->LaunchRecorded(name, command, log_path));
    return Keep(std::move(daemon));
  }

  pid_t Adopt(const std::string& name, const std::vector<std::string>& argv) override {
    auto command = CommandOf(argv);
    if (!command) return 0;
    auto daemon = launcher_->Adopt(name, *command);
    if (!daemon) GetLogger("migrate")->warn("adopt helper '{}': {}", name, daemon.error().message());
    if (!daemon || !*daemon) return 0;
    return Keep(std::move(*daemon));
  }

  void Signal(pid_t pid, int sig) override {
    std::lock_guard lock(mu_);
    if (auto it = daemons_.find(pid); it != daemons_.end()) (void)it->second->Signal(sig);
  }

  void KillGroup(pid_t pid) override {
    std::lock_guard lock(mu_);
    // Stop() signals the group (a child: by its pid while unreaped; an
    // adopted one: through its pidfd), so no stranger's group is hit.
    if (auto it = daemons_.find(pid); it != daemons_.end()) (void)it->second->Stop(SIGKILL, std::chrono::milliseconds(0));
  }

  std::optional<sys::ExitStatus> Poll(pid_t pid) override {
    std::lock_guard lock(mu_);
    auto it = daemons_.find(pid);
    if (it == daemons_.end()) {  // not our child: treat as gone
      return sys::ExitStatus{.kind = sys::ExitStatus::Kind::kSignaled, .signal = SIGKILL};
    }
    auto exit = it->second->Exit();
    if (exit) daemons_.erase(it);
    return exit;
  }

 private:
  static Result<sys::Command> CommandOf(const std::vector<std::string>& argv) {
    if (argv.empty() || argv[0].empty() || argv[0][0] != '/') return InvalidArgument("helper path must be absolute");
    return sys::Command{.program = argv[0],
                        .args = std::vector<std::string>(argv.begin() + 1, argv.end()),
                        .env = sys::DefaultToolEnvironment()};
  }

  pid_t Keep(std::unique_ptr<sys::ServerProcess> daemon) {
    pid_t pid = daemon->pid();
    std::lock_guard lock(mu_);
    daemons_[pid] = std::move(daemon);
    return pid;
  }

  std::unique_ptr<sys::DaemonLauncher> launcher_;
  std::mutex mu_;
  std::map<pid_t, std::unique_ptr<sys::ServerProcess>> daemons_;  // guarded by mu_
};

std::string Escape(const std::string& name) {
  std::string out;
  for (unsigned char c : name) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

std::string PoolOf(const std::string& dataset) { return dataset.substr(0, dataset.find('/')); }

json ReadJsonFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return json();
  std::string text((std::istreambuf_iterator<char>(in)), {});
  auto j = json::parse(text, nullptr, false);
  return j.is_discarded() ? json() : j;
}

// The shadow property's value when set locally, else "".
std::string ShadowSource(const zfs::Dataset& d) {
  auto it = d.properties.find(kShadowProperty);
  if (it == d.properties.end() || it->second.source != zfs::PropertySource::kLocal) return "";
  return it->second.value == "-" ? "" : it->second.value;
}

}  // namespace

std::unique_ptr<HelperProcesses> MakePosixHelperProcesses(std::string record_dir) {
  return std::make_unique<LaunchedHelperProcesses>(std::move(record_dir));
}

Manager::Manager(zfs::Zfs& zfs, sys::ProcessRunner& runner, HelperProcesses& helpers, ManagerOptions options)
    : zfs_(zfs), runner_(runner), helpers_(helpers), options_(std::move(options)) {}

Manager::~Manager() { Stop(); }

void Manager::StartLoop() {
  {
    std::lock_guard lock(mu_);
    if (thread_.joinable()) return;
    stopping_ = false;
  }
  // Adopt (or start) the helpers before returning, so a status asked right
  // after the daemon is up does not call a helper that an earlier daemon
  // left serving "not running" (the loop's first scan comes later).
  ScanOnce();
  std::lock_guard lock(mu_);
  thread_ = std::thread([this] { Loop(); });
}

void Manager::Stop() {
  {
    std::unique_lock lock(mu_);
    if (!thread_.joinable()) return;
    StopHelpers([](const Helper&) { return true; }, lock);
    stopping_ = true;
    cv_.notify_all();
  }
  thread_.join();
}

std::string Manager::StatusPath(const std::string& dataset) const {
  return options_.runtime_dir + "/" + Escape(dataset) + ".json";
}
std::string Manager::LogPath(const std::string& dataset) const {
  return options_.runtime_dir + "/" + Escape(dataset) + ".log";
}

Result<std::string> Manager::RunHelper(std::vector<std::string> args, std::chrono::seconds timeout) {
  sys::Command cmd;
  cmd.program = options_.helper_path;
  cmd.args = std::move(args);
  cmd.env = sys::DefaultToolEnvironment();
  cmd.timeout = timeout;
  PK_ASSIGN_OR_RETURN(auto r, runner_.Run(cmd));
  if (r.status.Success()) return r.out;
  auto j = json::parse(r.out.substr(0, r.out.find('\n')), nullptr, false);
  if (j.is_object() && j.contains("message")) {
    return MakeError(ErrorCodeFromName(j.value("code", "unknown")), j.value("message", ""));
  }
  return Internal(fmt::format("{} {}: {}", options_.helper_path, r.status.ToString(),
                              r.err.empty() ? r.out : r.err));
}

Result<json> Manager::Start(const StartRequest& req) {
  const std::string ds = req.dataset.str();
  const std::string ctx = fmt::format("start migration of '{}'", ds);
  auto uri = SourceUri::Parse(req.source);
  if (!uri) return std::unexpected(uri.error().WithContext(ctx));
  int concurrency = req.concurrency ? req.concurrency : options_.default_concurrency;
  if (concurrency < 1 || concurrency > 64) return InvalidArgument(ctx + ": concurrency must be 1..64");
  auto d = zfs_.GetDataset(ds, {"type", "mountpoint", "mounted", kShadowProperty});
  if (!d) return std::unexpected(d.error().WithContext(ctx));
  if (d->type != zfs::DatasetType::kFilesystem) return InvalidArgument(ctx + ": not a filesystem");
  if (auto cur = ShadowSource(*d); !cur.empty()) {
    return AlreadyExists(fmt::format("{}: a migration from '{}' is already under way", ctx, cur));
  }
  std::string mp = d->Get("mountpoint");
  if (d->Get("mounted") != "yes" || mp.empty() || mp[0] != '/') {
    return FailedPrecondition(fmt::format("{}: the filesystem must be mounted (mounted={}, mountpoint={})", ctx,
                                          d->Get("mounted"), mp));
  }
  if (auto held = options_.held ? options_.held(PoolOf(ds)) : std::nullopt) {
    return FailedPrecondition(fmt::format("{}: pool '{}' is {}", ctx, PoolOf(ds), *held));
  }
  {
    std::lock_guard lock(mu_);
    if (held_pools_.count(PoolOf(ds))) return FailedPrecondition(ctx + ": its pool is being exported");
  }
  std::vector<std::string> init_args = {"init", "--dir", mp, "--source", uri->text, "--concurrency",
                                        std::to_string(concurrency), "--bwlimit", std::to_string(req.bwlimit)};
  if (req.preserve_special) init_args.push_back("--preserve-special");
  auto init = RunHelper(init_args, std::chrono::seconds(120));
  if (!init) return std::unexpected(init.error().WithContext(ctx));
  PK_ASSIGN_OR_RETURN(auto prop, zfs::PropertyName::Parse(kShadowProperty));
  if (auto s = zfs_.SetProperties(ds, {{prop, uri->text}}); !s) {
    (void)RunHelper({"cancel", "--dir", mp}, std::chrono::seconds(120));  // leave nothing behind
    return std::unexpected(s.error().WithContext(ctx));
  }
  GetLogger("migrate")->info("migration of '{}' from '{}' started (concurrency {}, bwlimit {})", ds, uri->text,
                             concurrency, req.bwlimit);
  {
    std::lock_guard lock(mu_);
    finished_.erase(ds);
    std::remove(StatusPath(ds).c_str());
    wake_ = true;
    cv_.notify_all();
  }
  return json{{"ok", true}, {"dataset", ds}, {"source", uri->text}, {"state", "starting"},
              {"concurrency", concurrency}, {"bwlimit", req.bwlimit}, {"preserve_special", req.preserve_special}};
}

Result<json> Manager::GetStatus(const zfs::DatasetName& dataset) {
  const std::string ds = dataset.str();
  auto d = zfs_.GetDataset(ds, {kShadowProperty});
  if (!d) return std::unexpected(d.error().WithContext(fmt::format("migration status of '{}'", ds)));
  std::string source = ShadowSource(*d);
  std::lock_guard lock(mu_);
  if (source.empty()) {
    auto it = finished_.find(ds);
    if (it != finished_.end()) return it->second;
    return NotFound(fmt::format("no shadow migration on '{}'", ds));
  }
  json j = ReadJsonFile(StatusPath(ds));
  if (!j.is_object()) j = json::object();
  j["dataset"] = ds;
  j["source"] = source;
  if (!j.contains("state")) j["state"] = "starting";  // the helper has not reported yet
  auto it = running_.find(ds);
  bool running = it != running_.end() && it->second.pid > 0;
  j["helper_running"] = running;
  if (it != running_.end()) {
    j["helper_restarts"] = it->second.restarts;
    if (!it->second.last_error.empty()) j["helper_error"] = it->second.last_error;
  }
  // The helper reports "complete" before it exits; it is complete once the
  // property is gone (which is what the caller sees next).
  if (j.value("state", "") == "complete") j["state"] = "finalizing";
  if (!running) {
    if (auto held = options_.held ? options_.held(PoolOf(ds)) : std::nullopt) {
      j["state"] = "held";
      j["reason"] = *held;
    } else if (held_pools_.count(PoolOf(ds)) || held_datasets_.count(ds)) {
      j["state"] = "paused";
    } else if (j.value("state", "") != "finalizing") {
      j["state"] = "resuming";
    }
  }
  if (!j.contains("failed")) j["failed"] = json::array();
  return j;
}

Result<json> Manager::List() {
  zfs::ListOptions o;
  o.types = {zfs::DatasetType::kFilesystem};
  o.properties = {kShadowProperty};
  PK_ASSIGN_OR_RETURN(auto all, zfs_.ListDatasets(o));
  json out = json::array();
  for (const auto& d : all) {
    if (ShadowSource(d).empty()) continue;
    auto name = zfs::DatasetName::Parse(d.name);
    if (!name) continue;
    auto s = GetStatus(*name);
    if (s) out.push_back(*s);
  }
  return json{{"migrations", out}};
}

Status Manager::Cancel(const zfs::DatasetName& dataset) {
  const std::string ds = dataset.str();
  const std::string ctx = fmt::format("cancel migration of '{}'", ds);
  auto d = zfs_.GetDataset(ds, {"mountpoint", kShadowProperty});
  if (!d) return std::unexpected(d.error().WithContext(ctx));
  if (ShadowSource(*d).empty()) return NotFound(fmt::format("{}: no shadow migration on '{}'", ctx, ds));
  {
    std::unique_lock lock(mu_);
    held_datasets_.insert(ds);
    StopHelpers([&](const Helper& h) { return h.dataset == ds; }, lock);
  }
  auto release = [&] {
    std::lock_guard lock(mu_);
    held_datasets_.erase(ds);
    wake_ = true;
    cv_.notify_all();
  };
  auto r = RunHelper({"cancel", "--dir", d->Get("mountpoint")}, std::chrono::seconds(600));
  if (!r) {
    release();
    return std::unexpected(r.error().WithContext(ctx));
  }
  PK_ASSIGN_OR_RETURN(auto prop, zfs::PropertyName::Parse(kShadowProperty));
  auto s = zfs_.InheritProperty(dataset, prop, zfs::Recursive::kNo);
  {
    std::lock_guard lock(mu_);
    if (s) {
      finished_[ds] = json{{"dataset", ds}, {"state", "cancelled"}, {"source", ShadowSource(*d)}, {"failed", json::array()}};
      running_.erase(ds);
      std::remove(StatusPath(ds).c_str());
    }
  }
  release();
  if (!s) return std::unexpected(s.error().WithContext(ctx));
  GetLogger("migrate")->info("migration of '{}' cancelled", ds);
  return OkStatus();
}

Status Manager::HoldPool(const std::string& pool) {
  std::unique_lock lock(mu_);
  held_pools_.insert(pool);
  StopHelpers([&](const Helper& h) { return PoolOf(h.dataset) == pool; }, lock);
  return OkStatus();
}

void Manager::ReleasePool(const std::string& pool) {
  std::lock_guard lock(mu_);
  held_pools_.erase(pool);
  for (auto& [ds, h] : running_) {
    if (PoolOf(ds) == pool && h.not_before != Clock::time_point::max()) h.not_before = Clock::now();
  }
  wake_ = true;
  cv_.notify_all();
}

void Manager::StopHelpers(const std::function<bool(const Helper&)>& pred, std::unique_lock<std::mutex>& lock) {
  auto any = [&] {
    for (const auto& [n, h] : running_) {
      if (h.pid > 0 && pred(h)) return true;
    }
    return false;
  };
  for (const auto& [n, h] : running_) {
    if (h.pid > 0 && pred(h)) helpers_.Signal(h.pid, SIGTERM);
  }
  if (!thread_.joinable()) return;  // no loop to reap them
  if (cv_.wait_for(lock, options_.stop_timeout, [&] { return !any(); })) return;
  std::vector<std::string> killed;
  for (const auto& [n, h] : running_) {
    if (h.pid > 0 && pred(h)) {
      GetLogger("migrate")->warn("helper of '{}' (pid {}) ignored SIGTERM: killing it", n, h.pid);
      helpers_.KillGroup(h.pid);
      killed.push_back(h.mountpoint);
    }
  }
  cv_.wait_for(lock, std::chrono::seconds(5), [&] { return !any(); });
  // A killed helper leaves a dead FUSE mount over the dataset, which would keep it busy.
  for (const auto& mp : killed) {
    if (auto d = DetachStaleShadowMounts(mp); !d) GetLogger("migrate")->warn("{}", d.error().message());
  }
}

void Manager::Reap() {
  auto log = GetLogger("migrate");
  for (auto& [ds, h] : running_) {
    if (h.pid <= 0) continue;
    auto st = helpers_.Poll(h.pid);
    if (!st) continue;
    log->info("helper of '{}' (pid {}) {}", ds, h.pid, st->ToString());
    const pid_t pid = h.pid;
    h.pid = -1;
    if (st->kind == sys::ExitStatus::Kind::kExited && st->code < 0) {
      // An adopted helper (not our child): its exit code is unknown, its
      // last status says how it ended. Counting a finished one as crashed
      // would start another, which finds no state and reports completion
      // without the run's counts.
      // A "stopped" status counts only when this helper wrote it: one that
      // died before its first report leaves its predecessor's file. A
      // "complete" one is kept from the run that finished (a later helper
      // that finds no state keeps it), so it counts whoever wrote it.
      json s = ReadJsonFile(StatusPath(ds));
      std::string state = s.is_object() ? s.value("state", "") : "";
      bool own = s.is_object() && s.value("pid", pid_t{0}) == pid;
      if (state == "complete") st->code = kExitFinalized;
      if (state == "stopped" && own) st->code = kExitStopped;
      log->info("helper of '{}' (pid {}) was adopted; its status says '{}'{}", ds, pid, state,
                own || state.empty() ? "" : " (written by another helper)");
    }
    if (st->kind == sys::ExitStatus::Kind::kExited && st->code == kExitFinalized) {
      h.last_error.clear();
      h.not_before = Clock::time_point::max();  // finalize below; never respawned
      continue;
    }
    if (st->kind == sys::ExitStatus::Kind::kExited && st->code == kExitBusy) {
      h.last_error = "served by another helper";
      h.not_before = Clock::now() + std::chrono::seconds(5);
      continue;
    }
    if (!(st->kind == sys::ExitStatus::Kind::kExited && st->code == kExitStopped)) {
      h.restarts++;
      json s = ReadJsonFile(StatusPath(ds));
      h.last_error = st->ToString() + (s.is_object() && s.contains("error") ? ": " + s.value("error", "") : "");
      h.not_before = Clock::now() + std::max(options_.restart_delay, std::chrono::milliseconds(
                                                                         1000 * std::min(h.restarts, 30)));
    } else {
      h.not_before = Clock::now() + options_.restart_delay;
    }
  }
  cv_.notify_all();
}

void Manager::SpawnFor(Helper& h) {
  // No --parent-pid: the helper outlives a killed daemon and the next one
  // adopts it (same argv), so the layer's clients see no gap.
  std::vector<std::string> argv = {options_.helper_path, "--log-level", options_.log_level, "serve",
                                   "--dir", h.mountpoint, "--dataset", h.dataset,
                                   "--status", StatusPath(h.dataset)};
  const std::string record = "shadowfs-" + Escape(h.dataset);
  if (pid_t adopted = helpers_.Adopt(record, argv); adopted > 0) {
    h.pid = adopted;
    GetLogger("migrate")->info("helper of '{}' adopted (pid {}, left running by an earlier poolkeeperd)", h.dataset,
                               h.pid);
    return;
  }
  auto pid = helpers_.SpawnRecorded(record, argv, LogPath(h.dataset));
  if (!pid) {
    h.last_error = pid.error().message();
    h.not_before = Clock::now() + std::chrono::seconds(10);
    GetLogger("migrate")->error("cannot start the helper of '{}': {}", h.dataset, h.last_error);
    return;
  }
  h.pid = *pid;
  GetLogger("migrate")->info("helper of '{}' started (pid {})", h.dataset, h.pid);
}

void Manager::ScanOnce() {
  {
    std::lock_guard lock(mu_);
    Reap();
  }
  zfs::ListOptions o;
  o.types = {zfs::DatasetType::kFilesystem};
  o.properties = {kShadowProperty, "mountpoint", "mounted"};
  auto all = zfs_.ListDatasets(o);
  if (!all) {
    GetLogger("migrate")->warn("scan for migrations: {}", all.error().message());
    return;
  }
  // Helpers that reported completion: drop the property (through the adapter).
  std::vector<std::string> finalize;
  {
    std::lock_guard lock(mu_);
    for (auto& [ds, h] : running_) {
      if (h.pid <= 0 && h.not_before == Clock::time_point::max()) finalize.push_back(ds);
    }
  }
  auto prop = zfs::PropertyName::Parse(kShadowProperty);
  for (const auto& ds : finalize) {
    auto name = zfs::DatasetName::Parse(ds);
    if (!name || !prop) continue;
    auto s = zfs_.InheritProperty(*name, *prop, zfs::Recursive::kNo);
    std::lock_guard lock(mu_);
    if (!s) {
      GetLogger("migrate")->warn("finalize '{}': {}", ds, s.error().message());
      continue;
    }
    json j = ReadJsonFile(StatusPath(ds));
    if (!j.is_object()) j = json::object();
    j["dataset"] = ds;
    j["state"] = "complete";
    if (!j.contains("failed")) j["failed"] = json::array();
    finished_[ds] = j;
    running_.erase(ds);
    GetLogger("migrate")->info("migration of '{}' finalized: the dataset is served natively", ds);
  }
  // Pools whose migrations are held (not adopted here), asked once per scan
  // and before taking the lock (the answer reads ZFS).
  std::set<std::string> held;
  std::map<std::string, std::vector<std::string>> held_lines;  // by pool, for on_held
  if (options_.held) {
    std::map<std::string, std::optional<std::string>> asked;
    for (const auto& d : *all) {
      if (ShadowSource(d).empty()) continue;
      auto [it, fresh] = asked.try_emplace(PoolOf(d.name));
      if (fresh) {
        it->second = options_.held(PoolOf(d.name));
        if (it->second) {
          GetLogger("migrate")->debug("pool={} migrations {}", PoolOf(d.name), *it->second);
          held.insert(PoolOf(d.name));
        }
      }
      if (it->second) held_lines[it->first].push_back(fmt::format("migration of '{}': {}", d.name, *it->second));
    }
  }
  if (options_.on_held) {
    for (const auto& [pool, lines] : held_lines) {
      if (reported_held_[pool] != lines) options_.on_held(pool, lines);
    }
    for (auto it = reported_held_.begin(); it != reported_held_.end();) {
      if (held_lines.contains(it->first)) {
        ++it;
        continue;
      }
      if (!it->second.empty()) options_.on_held(it->first, {});
      it = reported_held_.erase(it);
    }
    for (auto& [pool, lines] : held_lines) reported_held_[pool] = lines;
  }
  std::lock_guard lock(mu_);
  std::set<std::string> seen;
  auto now = Clock::now();
  for (const auto& d : *all) {
    if (ShadowSource(d).empty()) continue;
    if (std::find(finalize.begin(), finalize.end(), d.name) != finalize.end()) continue;
    seen.insert(d.name);
    if (held.count(PoolOf(d.name))) continue;
    if (held_pools_.count(PoolOf(d.name)) || held_datasets_.count(d.name)) continue;
    auto& h = running_[d.name];
    h.dataset = d.name;
    h.mountpoint = d.Get("mountpoint");
    if (h.pid > 0 || now < h.not_before) continue;
    if (d.Get("mounted") != "yes" || h.mountpoint.empty() || h.mountpoint[0] != '/') continue;
    SpawnFor(h);
  }
  for (auto it = running_.begin(); it != running_.end();) {
    if (it->second.pid <= 0 && !seen.count(it->first) && it->second.not_before != Clock::time_point::max()) {
      it = running_.erase(it);  // pool gone (exported elsewhere)
    } else {
      // Not started this time (held, not mounted): look again at the next period, not at once.
      if (it->second.pid <= 0 && it->second.not_before != Clock::time_point::max() && now >= it->second.not_before) {
        it->second.not_before = now + options_.scan_period;
      }
      ++it;
    }
  }
}

void Manager::Loop() {
  auto next_scan = Clock::now();
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::milliseconds(200), [&] { return stopping_ || wake_; });
    if (stopping_) break;
    Reap();
    // A scan lists every filesystem: it runs when asked (a start, a pool
    // imported or released), when a helper finished or is due to restart,
    // and otherwise every scan_period to find migrations of pools imported
    // behind the daemon's back.
    bool due = false;
    const auto now = Clock::now();
    for (const auto& [ds, h] : running_) {
      due |= h.pid <= 0 && (h.not_before == Clock::time_point::max() || now >= h.not_before);
    }
    if (wake_ || due || now >= next_scan) {
      wake_ = false;
      lock.unlock();
      ScanOnce();
      lock.lock();
      next_scan = Clock::now() + options_.scan_period;
    }
  }
}

}  // namespace pk::migrate

