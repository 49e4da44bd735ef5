#include "share/nfs_ganesha.h"

#include <signal.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "base/log.h"
#include "base/text.h"

namespace pk::share {
namespace {

constexpr auto kPoll = std::chrono::milliseconds(20);

// ganesha's log lines that mark the end of a start and of a reload.
constexpr std::string_view kStartedMarker = "NFS SERVER INITIALIZED";
constexpr std::string_view kReloadedMarker = "Reread exports complete";

bool SafeQuoted(std::string_view text) {
  return std::none_of(text.begin(), text.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return c == '"' || c == '\\' || u < 0x20 || u == 0x7f;
  });
}

// Client matches are written unquoted (ganesha refuses a quoted client).
bool SafeToken(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '-' || c == '_' || c == '/' ||
           c == '*' || c == ':';
  });
}

std::string_view AccessText(NfsAccess access) { return access == NfsAccess::kReadWrite ? "RW" : "RO"; }

std::string_view SquashText(NfsSquash squash) {
  switch (squash) {
    case NfsSquash::kRootSquash: return "Root_Squash";
    case NfsSquash::kNoRootSquash: return "No_Root_Squash";
    case NfsSquash::kAllSquash: return "All_Squash";
  }
  return "Root_Squash";
}

bool UsesKerberos(const std::vector<GaneshaExport>& exports) {
  for (const auto& e : exports) {
    for (const auto& c : std::get<NfsDefinition>(e.share->definition).clients) {
      for (const auto& s : c.sec) {
        if (s != "sys") return true;
      }
    }
  }
  return false;
}

// The last lines of a log for an error message.
std::string Tail(std::string_view text, size_t lines) {
  size_t pos = text.size();
  while (lines > 0 && pos > 0) {
    pos = text.rfind('\n', pos - 1);
    if (pos == std::string_view::npos) {
      pos = 0;
      break;
    }
    --lines;
  }
  std::string out(text.substr(pos));
  while (!out.empty() && (out.front() == '\n')) out.erase(out.begin());
  return out;
}

// One "Config File (FILE:LINE): cause" error of ganesha's log.
struct ConfigError {
  int line = 0;
  std::string cause;
};

std::vector<ConfigError> ConfigErrors(std::string_view log, const std::string& config_path) {
  std::vector<ConfigError> out;
  std::string needle = "Config File (" + config_path + ":";
  size_t pos = 0;
  while ((pos = log.find(needle, pos)) != std::string_view::npos) {
    size_t num = pos + needle.size();
    size_t close = log.find("): ", num);
    size_t eol = log.find('\n', num);
    if (eol == std::string_view::npos) eol = log.size();
    pos = num;
    if (close == std::string_view::npos || close > eol) continue;
    ConfigError e;
    try {
      e.line = std::stoi(std::string(log.substr(num, close - num)));
    } catch (...) {
      continue;
    }
    e.cause = std::string(log.substr(close + 3, eol - close - 3));
    out.push_back(std::move(e));
  }
  return out;
}

// Paths listed by `showmount -e` ("Export list for H:" then "PATH CLIENTS").
// Paths with blanks are listed as is, so the clients column is cut at the
// last blank.
std::set<std::string> ShowmountPaths(std::string_view out) {
  std::set<std::string> paths;
  size_t pos = 0;
  bool header = true;
  while (pos < out.size()) {
    size_t eol = out.find('\n', pos);
    if (eol == std::string_view::npos) eol = out.size();
    std::string_view line = out.substr(pos, eol - pos);
    pos = eol + 1;
    if (header) {
      header = false;
      continue;
    }
    if (line.empty()) continue;
    size_t blank = line.rfind(' ');
    std::string_view path = blank == std::string_view::npos ? line : line.substr(0, blank);
    while (!path.empty() && path.back() == ' ') path.remove_suffix(1);
    paths.insert(std::string(path));
  }
  return paths;
}

bool ValidNetnsName(std::string_view name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '.' || c == '-';
  }) && name != "." && name != "..";
}

class GaneshaBackend final : public Backend {
 public:
  GaneshaBackend(GaneshaOptions options, sys::ProcessRunner& runner, sys::DaemonLauncher& launcher,
                 sys::FileSystem& fs)
      : o_(std::move(options)), runner_(runner), launcher_(launcher), fs_(fs), log_(GetLogger("share")) {}

  ~GaneshaBackend() override { (void)Stop(); }

  // Takes over the rpcbind and ganesha an earlier poolkeeperd (killed) left
  // serving (issue 18): the next Reconcile reloads the adopted ganesha with
  // the configuration of the shares it is given, without a restart; clients
  // see nothing. A recorded server started with other options was stopped by
  // the launcher and is started anew.
  void AdoptLeftOvers() {
    if (!o_.netns.empty()) {
      if (auto r = launcher_.Adopt("rpcbind", RpcbindCommand()); r && *r) rpcbind_ = std::move(*r);
    }
    auto g = launcher_.Adopt("ganesha", GaneshaCommand());
    if (!g) log_->warn("nfs: adopt ganesha: {}", g.error().message());
    if (!g || !*g) return;
    ganesha_ = std::move(*g);
    log_->info("nfs: adopted ganesha pid={} (left running by an earlier poolkeeperd){}", ganesha_->pid(),
               rpcbind_ ? fmt::format(", rpcbind pid={}", rpcbind_->pid()) : "");
  }

  Protocol protocol() const override { return Protocol::kNfs; }

  Status Start() override {
    if (ServersRunning()) return OkStatus();
    if (!last_desired_.empty()) {
      return ServeAgain(*this, last_desired_, [this] { return ServersRunning(); },
                        "nfs: ganesha is not running after a reconcile");
    }
    // No shares yet: serve an empty export list.
    std::vector<GaneshaExport> none;
    PK_TRY(WriteConfig(none));
    PK_TRY(Restart());
    served_.clear();
    return OkStatus();
  }

  Status Stop() override {
    Status result = OkStatus();
    if (ganesha_) {
      auto exit = ganesha_->Stop(SIGTERM, o_.stop_grace);
      log_->info("nfs: ganesha stopped ({})", exit.ToString());
      ganesha_.reset();
    }
    if (rpcbind_) {
      rpcbind_->Stop(SIGTERM, o_.stop_grace);
      rpcbind_.reset();
    }
    served_.clear();
    if (!o_.netns.empty()) {
      if (auto st = RemoveNamespaces(); !st) result = st;
    }
    return result;
  }

  Status Health() override {
    if (!ganesha_ || !ganesha_->Running()) {
      return Unavailable(fmt::format("nfs: ganesha is not running{}", ExitText()));
    }
    if (!o_.netns.empty() && (!rpcbind_ || !rpcbind_->Running())) {
      return Unavailable(fmt::format("nfs: rpcbind of network namespace '{}' is not running", o_.netns));
    }
    PK_ASSIGN_OR_RETURN(auto r, runner_.Run(Tool(o_.rpcinfo_path, {"-T", "tcp", "127.0.0.1", "nfs", "3"})));
    if (!r.status.Success()) {
      return Unavailable(fmt::format("nfs: ganesha (pid {}) does not answer NFSv3 over TCP: rpcinfo {}: {}",
                                     ganesha_->pid(), r.status.ToString(), Trim(r.err + r.out)));
    }
    return OkStatus();
  }

  std::vector<ShareResult> Reconcile(const std::vector<Share>& desired) override {
    last_desired_ = desired;
    std::vector<ShareResult> results;
    results.reserve(desired.size());
    for (const auto& share : desired) results.push_back({share.Id(), OkStatus()});

    // Validate; assign export ids (stable per guid).
    std::vector<size_t> valid;
    std::set<std::string> pseudos;
    for (size_t i = 0; i < desired.size(); ++i) {
      if (auto st = ValidateForGanesha(desired[i]); !st) {
        results[i].status = st;
        continue;
      }
      const auto& pseudo = std::get<NfsDefinition>(desired[i].definition).pseudo;
      if (!pseudos.insert(pseudo).second) {
        results[i].status = InvalidArgument(
            fmt::format("nfs share '{}': pseudo path '{}' is already used by another share", desired[i].Id(), pseudo));
        continue;
      }
      valid.push_back(i);
    }
    if (valid.empty()) {
      if (auto st = Stop(); !st) log_->warn("nfs: stop: {}", st.error().ToString());
      return results;
    }
    auto exports = AssignIds(desired, valid);

    auto fail_all = [&](const Error& e) {
      for (size_t i : valid) results[i].status = std::unexpected(e);
      served_.clear();
      return results;
    };
    auto config = WriteConfig(exports);
    if (!config) return fail_all(config.error());

    // Reload a running ganesha, or start it; then read what it said.
    Result<std::string> segment = ServersRunning() ? Reload() : Restart();
    if (!segment) return fail_all(segment.error());

    std::map<std::string, std::string> refused;  // share id -> first config error
    for (const auto& err : ConfigErrors(*segment, ConfigPath())) {
      bool in_block = false;
      for (const auto& block : config->exports) {
        if (err.line >= block.first_line && err.line <= block.last_line) {
          in_block = true;
          if (!refused.contains(block.id)) refused[block.id] = err.cause;
        }
      }
      if (!in_block) log_->warn("nfs: ganesha.conf line {}: {}", err.line, err.cause);
    }
    // What the MOUNT service lists to the loopback client: never a path we
    // did not ask for (removed exports are gone).
    std::set<std::string> wanted_paths;
    for (const auto& block : config->exports) {
      if (!refused.contains(block.id)) wanted_paths.insert(block.path);
    }
    auto listed = ListedPaths();
    if (!listed) return fail_all(listed.error());
    std::vector<std::string> stale;
    for (const auto& p : *listed) {
      if (!wanted_paths.contains(p)) stale.push_back(p);
    }

    served_.clear();
    for (size_t i : valid) {
      const Share& share = desired[i];
      if (auto it = refused.find(share.Id()); it != refused.end()) {
        results[i].status = FailedPrecondition(
            fmt::format("nfs share '{}': ganesha refused export of '{}': {}", share.Id(), share.path, it->second));
      } else if (!stale.empty()) {
        results[i].status = Internal(fmt::format("nfs share '{}': after reload ganesha still exports {}",
                                                 share.Id(), fmt::join(stale, ", ")));
      } else {
        served_.push_back(share.Id());
      }
    }
    return results;
  }

  Result<std::vector<std::string>> Served() override {
    if (!ganesha_ || !ganesha_->Running()) return std::vector<std::string>{};
    return served_;
  }

 private:
  std::string ConfigPath() const { return o_.runtime_dir + "/ganesha.conf"; }
  std::string LogPath() const { return o_.runtime_dir + "/ganesha.log"; }
  std::string MntnsPath() const { return o_.runtime_dir + "/rpcbind.mntns"; }
  std::string NetnsPath() const { return "/run/netns/" + o_.netns; }

  std::string ExitText() {
    if (!ganesha_) return "";
    auto exit = ganesha_->Exit();
    return exit ? fmt::format(" ({})", exit->ToString()) : "";
  }

  // A tool run in the backend's network namespace (host namespaces when none).
  sys::Command Tool(const std::string& program, std::vector<std::string> args) const {
    sys::Command c;
    c.env = sys::DefaultToolEnvironment();
    c.timeout = std::chrono::seconds(15);
    if (o_.netns.empty()) {
      c.program = program;
      c.args = std::move(args);
    } else {
      c.program = o_.nsenter_path;
      c.args = {"--net=" + NetnsPath(), "--", program};
      c.args.insert(c.args.end(), args.begin(), args.end());
    }
    return c;
  }

  sys::Command HostTool(const std::string& program, std::vector<std::string> args) const {
    sys::Command c;
    c.program = program;
    c.args = std::move(args);
    c.env = sys::DefaultToolEnvironment();
    c.timeout = std::chrono::seconds(15);
    return c;
  }

  // Runs a command that must succeed; the error names `what` and the tool's words.
  Status MustRun(const sys::Command& c, std::string_view what) {
    auto r = runner_.Run(c);
    if (!r) return std::unexpected(r.error().WithContext(fmt::format("nfs: {}", what)));
    if (!r->status.Success()) {
      return Unavailable(fmt::format("nfs: {}: {} {}: {}", what, c.ToString(), r->status.ToString(),
                                     Trim(r->err + r->out)));
    }
    return OkStatus();
  }

  std::vector<GaneshaExport> AssignIds(const std::vector<Share>& desired, const std::vector<size_t>& valid) {
    std::vector<size_t> order = valid;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return std::tie(desired[a].guid, desired[a].dataset) < std::tie(desired[b].guid, desired[b].dataset);
    });
    std::set<uint16_t> used;
    std::map<size_t, uint16_t> ids;
    // Keep ids given earlier first, then place the others.
    for (size_t i : order) {
      auto it = ids_by_guid_.find(desired[i].guid);
      if (it != ids_by_guid_.end() && used.insert(it->second).second) ids[i] = it->second;
    }
    for (size_t i : order) {
      if (ids.contains(i)) continue;
      uint16_t id = PreferredExportId(desired[i].guid);
      while (used.contains(id)) id = id == 65000 ? 1 : id + 1;
      used.insert(id);
      ids[i] = id;
      ids_by_guid_[desired[i].guid] = id;
    }
    std::vector<GaneshaExport> out;
    for (size_t i : valid) out.push_back({&desired[i], ids[i]});
    return out;
  }

  Result<GaneshaConfig> WriteConfig(const std::vector<GaneshaExport>& exports) {
    PK_TRY_CONTEXT(fs_.MakeDirs(o_.runtime_dir + "/recov", 0700), "nfs: runtime directory");
    GaneshaConfig config = RenderGaneshaConfig(o_, exports);
    PK_TRY_CONTEXT(fs_.WriteFileAtomic(ConfigPath(), config.text, 0600), "nfs: write ganesha configuration");
    return config;
  }

  // The log's size now: what ganesha writes after this is the answer to what we do next.
  size_t LogOffset() {
    auto text = fs_.ReadFile(LogPath());
    return text ? text->size() : 0;
  }

  // Polls ganesha's log from `offset` until `marker` appears. Returns the
  // log written since `offset`.
  Result<std::string> WaitForLog(size_t offset, std::string_view marker, std::chrono::milliseconds timeout,
                                 std::string_view what) {
    auto deadline = o_.clock->SteadyNow() + timeout;
    std::string segment;
    while (true) {
      auto text = fs_.ReadFile(LogPath());
      segment = text && text->size() >= offset ? text->substr(offset) : std::string();
      if (segment.find(marker) != std::string::npos) return segment;
      if (!ganesha_->Running()) {
        auto out = fs_.ReadFile(o_.runtime_dir + "/ganesha.out");
        return Unavailable(fmt::format("nfs: {}: ganesha exited{}: {}", what, ExitText(),
                                       Tail(segment + (out ? *out : ""), 5)));
      }
      if (o_.clock->SteadyNow() >= deadline) {
        return DeadlineExceeded(fmt::format("nfs: {}: ganesha did not log '{}' within {} ms: {}", what, marker,
                                            timeout.count(), Tail(segment, 5)));
      }
      o_.clock->SleepFor(kPoll);
    }
  }

  // Polls `command` until it succeeds or `alive` says the server died.
  Status WaitForTool(const sys::Command& command, sys::ServerProcess& daemon, std::string_view what) {
    auto deadline = o_.clock->SteadyNow() + o_.start_timeout;
    while (true) {
      auto r = runner_.Run(command);
      if (r && r->status.Success()) return OkStatus();
      if (!daemon.Running()) {
        auto exit = daemon.Exit();
        return Unavailable(fmt::format("nfs: {} exited ({})", what, exit ? exit->ToString() : "?"));
      }
      if (o_.clock->SteadyNow() >= deadline) {
        return DeadlineExceeded(fmt::format("nfs: {} does not answer {} within {} ms: {}", what,
                                            command.ToString(), o_.start_timeout.count(),
                                            r ? Trim(r->err + r->out) : r.error().message()));
      }
      o_.clock->SleepFor(kPoll);
    }
  }

  Status EnsureNamespaces() {
    PK_ASSIGN_OR_RETURN(bool exists, fs_.Exists(NetnsPath()));
    if (!exists) {
      PK_TRY(MustRun(HostTool(o_.ip_path, {"netns", "add", o_.netns}),
                     fmt::format("create network namespace '{}'", o_.netns)));
    }
    PK_TRY(MustRun(HostTool(o_.ip_path, {"-n", o_.netns, "link", "set", "lo", "up"}),
                   fmt::format("bring up lo in network namespace '{}'", o_.netns)));
    // A fresh mount namespace for rpcbind with its own /run.
    DropMountNamespace();
    PK_TRY_CONTEXT(fs_.WriteFileAtomic(MntnsPath(), "", 0600), "nfs: rpcbind mount namespace file");
    PK_TRY(MustRun(HostTool(o_.unshare_path, {"--mount=" + MntnsPath(), "--propagation", "private", "--",
                                              o_.mount_path, "-t", "tmpfs", "-o", "mode=0755,size=1m",
                                              "pk-rpcbind-run", "/run"}),
                   "create rpcbind's mount namespace"));
    // The namespace copied every mount, FUSE datasets included: drop those
    // copies there so it pins no dataset (rpcbind needs none).
    auto unpin = runner_.Run(HostTool(o_.nsenter_path, {"--mount=" + MntnsPath(), "--", o_.umount_path, "-a",
                                                        "-l", "-t", "fuse,fuseblk,fuse.zfs,fuse.zfs-fuse,zfs"}));
    if (!unpin || !unpin->status.Success()) {
      log_->warn("nfs: could not drop FUSE mounts from rpcbind's mount namespace: {}",
                 unpin ? Trim(unpin->err) : unpin.error().ToString());
    }
    return OkStatus();
  }

  void DropMountNamespace() {
    auto exists = fs_.Exists(MntnsPath());
    if (!exists || !*exists) return;
    // Unmounting fails when it is a plain file (not a namespace binding): fine.
    (void)runner_.Run(HostTool(o_.umount_path, {MntnsPath()}));
    (void)fs_.Remove(MntnsPath());
  }

  Status RemoveNamespaces() {
    DropMountNamespace();
    PK_ASSIGN_OR_RETURN(bool exists, fs_.Exists(NetnsPath()));
    if (exists) {
      PK_TRY(MustRun(HostTool(o_.ip_path, {"netns", "delete", o_.netns}),
                     fmt::format("delete network namespace '{}'", o_.netns)));
    }
    return OkStatus();
  }

  sys::Command RpcbindCommand() const {
    sys::Command c;
    c.program = o_.nsenter_path;
    c.args = {"--net=" + NetnsPath(), "--mount=" + MntnsPath(), "--", o_.rpcbind_path, "-f"};
    c.env = sys::DefaultToolEnvironment();
    return c;
  }

  sys::Command GaneshaCommand() const {
    return Tool(o_.ganesha_path, {"-F", "-f", ConfigPath(), "-L", LogPath(), "-p", o_.runtime_dir + "/ganesha.pid",
                                  "-N", "NIV_EVENT"});
  }

  Status StartRpcbind() {
    if (rpcbind_ && rpcbind_->Running()) return OkStatus();
    PK_ASSIGN_OR_RETURN(rpcbind_, launcher_.LaunchRecorded("rpcbind", RpcbindCommand(), o_.runtime_dir + "/rpcbind.log"));
    return WaitForTool(Tool(o_.rpcinfo_path, {"-p", "127.0.0.1"}), *rpcbind_, "rpcbind");
  }

  bool ServersRunning() {
    return ganesha_ && ganesha_->Running() && (o_.netns.empty() || (rpcbind_ && rpcbind_->Running()));
  }

  // Starts what is not running. ganesha is stopped first when its rpcbind
  // died (it must register again with the new one).
  Result<std::string> Restart() {
    if (ganesha_ && ganesha_->Running()) {
      log_->warn("nfs: rpcbind of network namespace '{}' died; restarting ganesha", o_.netns);
      ganesha_->Stop(SIGTERM, o_.stop_grace);
    }
    ganesha_.reset();
    return StartServers();
  }

  // Starts rpcbind (in a namespace) and ganesha; returns ganesha's log of its start.
  Result<std::string> StartServers() {
    if (!o_.netns.empty()) {
      PK_TRY(EnsureNamespaces());
      PK_TRY(StartRpcbind());
    }
    // ganesha appends to its log for ever: start a new one past 8 MiB (ganesha is not running now).
    size_t offset = LogOffset();
    if (offset > (8u << 20)) {
      PK_TRY_CONTEXT(fs_.WriteFileAtomic(LogPath(), "", 0600), "nfs: truncate ganesha log");
      offset = 0;
    }
    PK_ASSIGN_OR_RETURN(ganesha_, launcher_.LaunchRecorded("ganesha", GaneshaCommand(), o_.runtime_dir + "/ganesha.out"));
    log_->info("nfs: ganesha started pid={} netns={}", ganesha_->pid(), o_.netns.empty() ? "-" : o_.netns);
    PK_ASSIGN_OR_RETURN(auto segment, WaitForLog(offset, kStartedMarker, o_.start_timeout, "start"));
    // Registered with our rpcbind (not another one's socket): NFSv3 over TCP answers.
    auto registered = WaitForTool(Tool(o_.rpcinfo_path, {"-T", "tcp", "127.0.0.1", "nfs", "3"}), *ganesha_,
                                  "ganesha (NFSv3 registration with rpcbind)");
    if (!registered && !o_.netns.empty()) {
      // ganesha tries rpcbind's unix socket before loopback: another rpcbind
      // in the host's mount namespace takes its registrations.
      auto foreign = fs_.Exists("/run/rpcbind.sock");
      if (foreign && *foreign) {
        return std::unexpected(registered.error().WithContext(
            "another rpcbind's /run/rpcbind.sock exists in the host mount namespace, ganesha registers there"));
      }
    }
    PK_TRY(registered);
    return segment;
  }

  Result<std::string> Reload() {
    size_t offset = LogOffset();
    PK_TRY_CONTEXT(ganesha_->Signal(SIGHUP), "nfs: reload");
    return WaitForLog(offset, kReloadedMarker, o_.reload_timeout, "reload");
  }

  Result<std::set<std::string>> ListedPaths() {
    auto r = runner_.Run(Tool(o_.showmount_path, {"-e", "127.0.0.1"}));
    if (!r) return std::unexpected(r.error().WithContext("nfs: list exports"));
    if (!r->status.Success()) {
      return Unavailable(fmt::format("nfs: list exports: showmount {}: {}", r->status.ToString(),
                                     Trim(r->err + r->out)));
    }
    return ShowmountPaths(r->out);
  }

  GaneshaOptions o_;
  sys::ProcessRunner& runner_;
  sys::DaemonLauncher& launcher_;
  sys::FileSystem& fs_;
  std::shared_ptr<spdlog::logger> log_;
  std::unique_ptr<sys::ServerProcess> ganesha_;
  std::unique_ptr<sys::ServerProcess> rpcbind_;
  std::map<uint64_t, uint16_t> ids_by_guid_;
  std::vector<Share> last_desired_;  // what Start() serves again
  std::vector<std::string> served_;
};

}  // namespace

uint16_t PreferredExportId(uint64_t guid) { return static_cast<uint16_t>(1 + guid % 65000); }

Status ValidateForGanesha(const Share& share) {
  const auto* def = std::get_if<NfsDefinition>(&share.definition);
  if (def == nullptr) return InvalidArgument(fmt::format("share '{}' is not an NFS share", share.Id()));
  if (share.volume) {
    return InvalidArgument(fmt::format("nfs share '{}': a volume cannot be shared over NFS", share.Id()));
  }
  if (!share.path.starts_with('/') || !SafeQuoted(share.path)) {
    return InvalidArgument(fmt::format(
        "nfs share '{}': path '{}' must be absolute, without '\"', '\\' or control characters", share.Id(),
        share.path));
  }
  if (!def->pseudo.starts_with('/') || def->pseudo == "/" || !SafeQuoted(def->pseudo)) {
    return InvalidArgument(fmt::format(
        "nfs share '{}': pseudo path '{}' must be absolute, not '/', without '\"', '\\' or control characters",
        share.Id(), def->pseudo));
  }
  if (def->clients.empty()) return InvalidArgument(fmt::format("nfs share '{}': no client specs", share.Id()));
  for (const auto& c : def->clients) {
    if (!SafeToken(c.match)) {
      return InvalidArgument(fmt::format("nfs share '{}': client '{}' is not a plain host, address or network",
                                         share.Id(), c.match));
    }
    for (const auto& s : c.sec) {
      if (s != "sys" && s != "krb5" && s != "krb5i" && s != "krb5p") {
        return InvalidArgument(fmt::format("nfs share '{}': unknown security flavour '{}'", share.Id(), s));
      }
    }
  }
  return OkStatus();
}

GaneshaConfig RenderGaneshaConfig(const GaneshaOptions& options, const std::vector<GaneshaExport>& exports) {
  GaneshaConfig config;
  std::vector<std::string> lines = {
      "# Generated by Poolkeeper from the pools' share definitions; rewritten on every change.",
      "NFS_Core_Param {",
      fmt::format("    NFS_Port = {};", options.nfs_port),
      fmt::format("    MNT_Port = {};", options.mnt_port),
      "    Enable_NLM = false;",
      "    Enable_RQUOTA = false;",
      "    Protocols = 3, 4;",
      "}",
      "NFSv4 {",
      "    Graceless = true;",
      fmt::format("    RecoveryRoot = \"{}/recov\";", options.runtime_dir),
      "}",
  };
  if (!UsesKerberos(exports)) lines.push_back("NFS_KRB5 { Active_krb5 = false; }");
  for (const auto& e : exports) {
    const Share& share = *e.share;
    const auto& def = std::get<NfsDefinition>(share.definition);
    GaneshaConfig::Block block{share.Id(), share.path, e.export_id, 0, 0};
    block.first_line = static_cast<int>(lines.size()) + 1;
    lines.push_back("EXPORT {");
    lines.push_back(fmt::format("    # dataset guid {}", share.guid));
    lines.push_back(fmt::format("    Export_Id = {};", e.export_id));
    lines.push_back(fmt::format("    Path = \"{}\";", share.path));
    lines.push_back(fmt::format("    Pseudo = \"{}\";", def.pseudo));
    lines.push_back("    Access_Type = None;");  // only the CLIENT blocks grant access
    lines.push_back("    Protocols = 3, 4;");
    lines.push_back("    Transports = TCP;");
    lines.push_back("    FSAL { Name = VFS; }");
    for (const auto& c : def.clients) {
      lines.push_back(fmt::format("    CLIENT {{ Clients = {}; Access_Type = {}; Squash = {}; SecType = {}; }}",
                                  c.match, AccessText(c.access), SquashText(c.squash), fmt::join(c.sec, ", ")));
    }
    lines.push_back("}");
    block.last_line = static_cast<int>(lines.size());
    config.exports.push_back(std::move(block));
  }
  config.text = fmt::format("{}\n", fmt::join(lines, "\n"));
  return config;
}

Result<std::unique_ptr<Backend>> MakeGaneshaBackend(GaneshaOptions options, sys::ProcessRunner& runner,
                                                    sys::DaemonLauncher& launcher, sys::FileSystem& fs) {
  if (options.runtime_dir.empty() || !options.runtime_dir.starts_with('/') || !SafeQuoted(options.runtime_dir)) {
    return InvalidArgument(fmt::format("nfs backend: runtime directory '{}' must be an absolute path without "
                                       "'\"', '\\' or control characters", options.runtime_dir));
  }
  for (const auto* p : {&options.ganesha_path, &options.rpcbind_path, &options.rpcinfo_path,
                        &options.showmount_path, &options.ip_path, &options.nsenter_path, &options.unshare_path,
                        &options.mount_path, &options.umount_path}) {
    if (!p->starts_with('/')) {
      return InvalidArgument(fmt::format("nfs backend: program path '{}' must be absolute", *p));
    }
  }
  if (!options.netns.empty() && !ValidNetnsName(options.netns)) {
    return InvalidArgument(
        fmt::format("nfs backend: network namespace name '{}' must be 1..64 of [A-Za-z0-9_.-]", options.netns));
  }
  if (options.nfs_port == 0 || options.mnt_port == 0 || options.nfs_port == options.mnt_port) {
    return InvalidArgument(fmt::format("nfs backend: ports {} (NFS) and {} (MOUNT) must be distinct and non-zero",
                                       options.nfs_port, options.mnt_port));
  }
  PK_TRY_CONTEXT(fs.MakeDirs(options.runtime_dir, 0700), "nfs backend: runtime directory");
  auto backend = std::make_unique<GaneshaBackend>(std::move(options), runner, launcher, fs);
  backend->AdoptLeftOvers();
  return backend;
}

}  // namespace pk::share
