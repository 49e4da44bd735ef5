#include "share/smb_samba.h"

#include <signal.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "base/log.h"
#include "base/text.h"

namespace pk::share {
namespace {

constexpr auto kPoll = std::chrono::milliseconds(50);

bool HasControl(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

bool PlainWord(std::string_view text, std::string_view extra) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [&](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || extra.find(c) != std::string_view::npos;
  });
}

// Disk shares of `smbclient -L -g` output ("Disk|name|comment"), lower-cased.
std::set<std::string> ListedDiskShares(std::string_view out) {
  std::set<std::string> names;
  for (std::string_view line : SplitLines(out)) {
    if (!line.starts_with("Disk|")) continue;
    line.remove_prefix(5);
    names.insert(Lower(line.substr(0, line.find('|'))));
  }
  return names;
}

sys::Command Tool(const std::string& program, std::vector<std::string> args) {
  sys::Command c;
  c.program = program;
  c.args = std::move(args);
  c.env = sys::DefaultToolEnvironment();
  c.timeout = std::chrono::seconds(20);
  return c;
}

Status EnsureTree(const SambaOptions& o, sys::FileSystem& fs) {
  for (const char* sub : {"", "/private", "/lock", "/state", "/cache", "/pid", "/ncalrpc", "/log"}) {
    PK_TRY_CONTEXT(fs.MakeDirs(o.root_dir + sub, 0700), "smb: private tree");
  }
  std::string text = RenderSambaGlobal(o);
  auto current = fs.ReadFile(SambaConfigPath(o));
  if (!current || *current != text) {
    PK_TRY_CONTEXT(fs.WriteFileAtomic(SambaConfigPath(o), text, 0644), "smb: write smb.conf");
  }
  auto shares = fs.Exists(SambaSharesPath(o));
  if (!shares || !*shares) {
    PK_TRY_CONTEXT(fs.WriteFileAtomic(SambaSharesPath(o), RenderSambaShares({}), 0644), "smb: write shares.conf");
  }
  return OkStatus();
}

class SambaBackend final : public Backend {
 public:
  SambaBackend(SambaOptions options, sys::ProcessRunner& runner, sys::DaemonLauncher& launcher,
               sys::FileSystem& fs)
      : o_(std::move(options)), runner_(runner), launcher_(launcher), fs_(fs), log_(GetLogger("share")) {}

  ~SambaBackend() override { (void)Stop(); }

  // Takes over the smbd an earlier poolkeeperd (killed) left serving (issue
  // 18): the next Reconcile rewrites shares.conf and has it reread
  // (`smbcontrol reload-config`), without a restart.
  void AdoptLeftOver() {
    auto adopted = launcher_.Adopt("smbd", SmbdCommand());
    if (!adopted) log_->warn("smb: adopt smbd: {}", adopted.error().message());
    if (!adopted || !*adopted) return;
    smbd_ = std::move(*adopted);
    log_->info("smb: adopted smbd pid={} (left running by an earlier poolkeeperd)", smbd_->pid());
  }

  Protocol protocol() const override { return Protocol::kSmb; }

  Status Start() override {
    if (smbd_ && smbd_->Running()) return OkStatus();
    if (!last_desired_.empty()) {
      return ServeAgain(*this, last_desired_, [this] { return smbd_ && smbd_->Running(); },
                        "smb: smbd is not running after a reconcile");
    }
    PK_TRY(EnsureTree(o_, fs_));
    return StartSmbd();
  }

  Status Stop() override {
    served_.clear();
    if (smbd_) {
      auto exit = smbd_->Stop(SIGTERM, o_.stop_grace);
      log_->info("smb: smbd stopped ({})", exit.ToString());
      smbd_.reset();
    }
    return StopRpcHelper();
  }

  Status Health() override {
    if (!smbd_ || !smbd_->Running()) return Unavailable("smb: smbd is not running");
    PK_ASSIGN_OR_RETURN(auto listed, List());
    (void)listed;
    return OkStatus();
  }

  std::vector<ShareResult> Reconcile(const std::vector<Share>& desired) override {
    last_desired_ = desired;
    std::vector<ShareResult> results;
    results.reserve(desired.size());
    for (const auto& share : desired) results.push_back({share.Id(), OkStatus()});

    std::vector<size_t> valid;
    std::map<std::string, std::string> names;  // lower-cased name -> share id
    for (size_t i = 0; i < desired.size(); ++i) {
      if (auto st = ValidateForSamba(desired[i]); !st) {
        results[i].status = st;
        continue;
      }
      std::string name = Lower(std::get<SmbDefinition>(desired[i].definition).name);
      if (auto [it, inserted] = names.emplace(name, desired[i].Id()); !inserted) {
        results[i].status = AlreadyExists(fmt::format("smb share '{}': share name '{}' is already used by '{}'",
                                                      desired[i].Id(), name, it->second));
        continue;
      }
      valid.push_back(i);
    }
    if (valid.empty()) {
      if (auto st = Stop(); !st) log_->warn("smb: stop: {}", st.error().ToString());
      (void)fs_.WriteFileAtomic(SambaSharesPath(o_), RenderSambaShares({}), 0644);
      return results;
    }

    auto fail_all = [&](const Error& e) {
      for (size_t i : valid) results[i].status = std::unexpected(e);
      served_.clear();
      return results;
    };
    if (auto st = EnsureTree(o_, fs_); !st) return fail_all(st.error());
    std::vector<const Share*> shares;
    for (size_t i : valid) shares.push_back(&desired[i]);
    if (auto st = fs_.WriteFileAtomic(SambaSharesPath(o_), RenderSambaShares(shares), 0644); !st) {
      return fail_all(st.error().WithContext("smb: write shares.conf"));
    }
    if (smbd_ && smbd_->Running()) {
      auto r = runner_.Run(Tool(o_.smbcontrol_path, {"--configfile=" + SambaConfigPath(o_), "smbd", "reload-config"}));
      if (!r) return fail_all(r.error().WithContext("smb: reload"));
      if (!r->status.Success()) {
        return fail_all(Error(ErrorCode::kUnavailable, fmt::format("smb: reload: smbcontrol {}: {}",
                                                                   r->status.ToString(), Trim(r->err + r->out))));
      }
    } else if (auto st = StartSmbd(); !st) {
      return fail_all(st.error());
    }

    // Wait until smbd lists exactly the wanted shares (a reload is asynchronous).
    std::set<std::string> wanted;
    for (const auto& [name, id] : names) wanted.insert(name);
    auto deadline = o_.clock->SteadyNow() + o_.reload_timeout;
    Result<std::set<std::string>> listed = std::set<std::string>{};
    while (true) {
      listed = List();
      if (listed && *listed == wanted) break;
      if (o_.clock->SteadyNow() >= deadline) break;
      o_.clock->SleepFor(kPoll);
    }
    if (!listed) return fail_all(listed.error());
    std::vector<std::string> stale;
    for (const auto& n : *listed) {
      if (!wanted.contains(n)) stale.push_back(n);
    }
    served_.clear();
    for (size_t i : valid) {
      std::string name = Lower(std::get<SmbDefinition>(desired[i].definition).name);
      if (!listed->contains(name)) {
        results[i].status = Unavailable(fmt::format("smb share '{}': smbd does not list share '{}' after {} ms "
                                                    "(see {}/smbd.log)",
                                                    desired[i].Id(), name, o_.reload_timeout.count(), o_.root_dir));
      } else if (!stale.empty()) {
        results[i].status =
            Internal(fmt::format("smb share '{}': smbd still lists removed shares {}", desired[i].Id(),
                                 fmt::join(stale, ", ")));
      } else {
        served_.push_back(desired[i].Id());
      }
    }
    return results;
  }

  Result<std::vector<std::string>> Served() override {
    if (!smbd_ || !smbd_->Running()) return std::vector<std::string>{};
    return served_;
  }

 private:
  std::string Target() const { return fmt::format("//{}", o_.check_address); }

  Result<std::set<std::string>> List() {
    auto r = runner_.Run(Tool(o_.smbclient_path, {"-L", Target(), "-p", std::to_string(o_.port), "-N", "-g",
                                                  "-m", "SMB3", "--configfile=/dev/null"}));
    if (!r) return std::unexpected(r.error().WithContext("smb: list shares"));
    // smbclient exits 1 after listing when SMB1 is off ("no workgroup
    // available"); a listing with IPC$ is an answer.
    if (!r->status.Success() && r->out.find("IPC|IPC$") == std::string::npos) {
      return Unavailable(fmt::format("smb: list shares on {} port {}: smbclient {}: {}", o_.check_address, o_.port,
                                     r->status.ToString(), Trim(r->err + r->out)));
    }
    return ListedDiskShares(r->out);
  }

  sys::Command SmbdCommand() const {
    return Tool(o_.smbd_path, {"-F", "--no-process-group", "-s", SambaConfigPath(o_), "--debug-stdout"});
  }

  Status StartSmbd() {
    PK_ASSIGN_OR_RETURN(smbd_, launcher_.LaunchRecorded("smbd", SmbdCommand(), o_.root_dir + "/smbd.log"));
    log_->info("smb: smbd started pid={} port={}", smbd_->pid(), o_.port);
    auto deadline = o_.clock->SteadyNow() + o_.start_timeout;
    while (true) {
      auto listed = List();
      if (listed) return OkStatus();
      if (!smbd_->Running()) {
        auto exit = smbd_->Exit();
        auto text = fs_.ReadFile(o_.root_dir + "/smbd.log");
        std::string tail = text ? text->substr(text->size() > 600 ? text->size() - 600 : 0) : "";
        return Unavailable(fmt::format("smb: smbd exited ({}): {}", exit ? exit->ToString() : "?", Trim(tail)));
      }
      if (o_.clock->SteadyNow() >= deadline) {
        return DeadlineExceeded(fmt::format("smb: smbd does not answer within {} ms: {}", o_.start_timeout.count(),
                                            listed.error().message()));
      }
      o_.clock->SleepFor(kPoll);
    }
  }

  // samba-dcerpcd, started by smbd on demand, leaves smbd's process group:
  // stop it by the pid in our private pid directory, once we know it runs
  // our configuration. Its rpcd_* workers (rpcd_classic, rpcd_winreg, ...)
  // live in its process group and outlive it by seconds: the whole group is
  // signalled and waited for, so nothing of smbd is left after a stop.
  Status StopRpcHelper() {
    std::string pid_file = o_.root_dir + "/pid/samba-dcerpcd.pid";
    auto text = fs_.ReadFile(pid_file);
    if (!text) return OkStatus();
    std::string pid(Trim(*text));
    if (!PlainWord(pid, "") || !std::all_of(pid.begin(), pid.end(), ::isdigit)) return OkStatus();
    auto alive = [&] {
      auto stat = fs_.ReadFile("/proc/" + pid + "/stat");
      if (!stat) return false;
      size_t close = stat->rfind(')');
      return close != std::string::npos && close + 2 < stat->size() && (*stat)[close + 2] != 'Z';
    };
    auto cmdline = fs_.ReadFile("/proc/" + pid + "/cmdline");
    if (!cmdline || cmdline->find("--configfile=" + SambaConfigPath(o_)) == std::string::npos || !alive()) {
      return OkStatus();  // not ours (pid reused) or already gone
    }
    const std::string group = "-" + pid;  // its process group, when it leads one
    auto signal = [&](const std::string& sig) {
      auto r = runner_.Run(Tool(o_.kill_path, {sig, "--", group}));
      if (r && r->status.Success()) return r;
      return runner_.Run(Tool(o_.kill_path, {sig, pid}));
    };
    auto group_alive = [&] {
      auto r = runner_.Run(Tool(o_.kill_path, {"-0", "--", group}));
      return (r && r->status.Success()) || alive();
    };
    auto r = signal("-TERM");
    if (!r || !r->status.Success()) {
      return Internal(fmt::format("smb: stop samba-dcerpcd (pid {}): {}", pid,
                                  r ? Trim(r->err) : r.error().message()));
    }
    auto deadline = o_.clock->SteadyNow() + o_.stop_grace;
    while (group_alive() && o_.clock->SteadyNow() < deadline) o_.clock->SleepFor(kPoll);
    if (group_alive()) (void)signal("-KILL");
    return OkStatus();
  }

  SambaOptions o_;
  sys::ProcessRunner& runner_;
  sys::DaemonLauncher& launcher_;
  sys::FileSystem& fs_;
  std::shared_ptr<spdlog::logger> log_;
  std::unique_ptr<sys::ServerProcess> smbd_;
  std::vector<Share> last_desired_;  // what Start() serves again
  std::vector<std::string> served_;
};

Status CheckPassword(std::string_view password) {
  if (password.empty() || password.size() > 256 || password.find('\n') != std::string_view::npos ||
      password.find('\r') != std::string_view::npos || password.find('\0') != std::string_view::npos) {
    return InvalidArgument("smb password must be 1..256 bytes without newline or NUL");
  }
  return OkStatus();
}

}  // namespace

std::string SambaConfigPath(const SambaOptions& options) { return options.root_dir + "/smb.conf"; }
std::string SambaSharesPath(const SambaOptions& options) { return options.root_dir + "/shares.conf"; }

std::string RenderSambaGlobal(const SambaOptions& o) {
  const std::string& r = o.root_dir;
  std::string out = "# Generated by Poolkeeper; shares are in the included file.\n[global]\n";
  auto add = [&](std::string_view key, const std::string& value) { out += fmt::format("    {} = {}\n", key, value); };
  add("server role", "standalone server");
  add("workgroup", o.workgroup);
  add("netbios name", o.netbios_name);
  if (!o.interfaces.empty()) {
    add("interfaces", o.interfaces);
    add("bind interfaces only", "yes");
  }
  add("smb ports", std::to_string(o.port));
  add("disable netbios", "yes");
  add("private dir", r + "/private");
  add("lock directory", r + "/lock");
  add("state directory", r + "/state");
  add("cache directory", r + "/cache");
  add("pid directory", r + "/pid");
  add("ncalrpc dir", r + "/ncalrpc");
  add("log file", r + "/log/log.smbd");
  add("passdb backend", "tdbsam:" + r + "/private/passdb.tdb");
  add("load printers", "no");
  add("printing", "bsd");
  add("printcap name", "/dev/null");
  add("disable spoolss", "yes");
  add("server min protocol", "SMB2_02");
  // Unknown users may use guest shares; a known user with a wrong password is refused.
  add("map to guest", "bad user");
  add("log level", "1");
  add("include", SambaSharesPath(o));
  return out;
}

std::string RenderSambaShares(const std::vector<const Share*>& shares) {
  std::string out = "# Generated by Poolkeeper from the pools' share definitions; rewritten on every change.\n";
  for (const Share* s : shares) {
    const auto& def = std::get<SmbDefinition>(s->definition);
    out += fmt::format("[{}]\n", def.name);
    out += fmt::format("    path = {}\n", s->path);
    out += fmt::format("    read only = {}\n", def.read_only ? "yes" : "no");
    if (!def.valid_users.empty()) out += fmt::format("    valid users = {}\n", fmt::join(def.valid_users, " "));
    out += fmt::format("    guest ok = {}\n", def.guest_ok ? "yes" : "no");
  }
  return out;
}

Status ValidateForSamba(const Share& share) {
  const auto* def = std::get_if<SmbDefinition>(&share.definition);
  if (def == nullptr) return InvalidArgument(fmt::format("share '{}' is not an SMB share", share.Id()));
  if (share.volume) return InvalidArgument(fmt::format("smb share '{}': a volume cannot be shared over SMB", share.Id()));
  const std::string& p = share.path;
  if (!p.starts_with('/') || HasControl(p) || p.find('%') != std::string::npos || p.find('\\') != std::string::npos ||
      p.ends_with(' ')) {
    return InvalidArgument(fmt::format(
        "smb share '{}': path '{}' must be absolute, without control characters, '%', '\\' or trailing blanks",
        share.Id(), p));
  }
  const std::string& n = def->name;
  if (n.empty() || n.size() > 80 || HasControl(n) || n.find_first_of("[]\\/:;|=,+*?<>\"%") != std::string::npos ||
      n.front() == ' ' || n.back() == ' ' || Lower(n) == "global" || Lower(n) == "homes" || Lower(n) == "printers" ||
      Lower(n) == "ipc$") {
    return InvalidArgument(fmt::format("smb share '{}': share name '{}' cannot be used", share.Id(), n));
  }
  for (const auto& u : def->valid_users) {
    std::string_view name = u;
    if (name.starts_with('@')) name.remove_prefix(1);
    if (!PlainWord(name, "._-$") || name.front() == '-') {
      return InvalidArgument(fmt::format("smb share '{}': valid user '{}' is not a plain account or @group name",
                                         share.Id(), u));
    }
  }
  return OkStatus();
}

Result<std::unique_ptr<Backend>> MakeSambaBackend(SambaOptions options, sys::ProcessRunner& runner,
                                                  sys::DaemonLauncher& launcher, sys::FileSystem& fs) {
  const std::string& r = options.root_dir;
  if (!r.starts_with('/') || HasControl(r) || r.find_first_of("%\\ ") != std::string::npos) {
    return InvalidArgument(fmt::format(
        "smb backend: root directory '{}' must be an absolute path without blanks, '%', '\\' or control characters", r));
  }
  for (const auto* p : {&options.smbd_path, &options.smbcontrol_path, &options.smbpasswd_path,
                        &options.smbclient_path, &options.kill_path}) {
    if (!p->starts_with('/')) return InvalidArgument(fmt::format("smb backend: program path '{}' must be absolute", *p));
  }
  if (!options.interfaces.empty() && !PlainWord(options.interfaces, "._:/- ")) {
    return InvalidArgument(fmt::format("smb backend: interfaces '{}' must be interface names or addresses",
                                       options.interfaces));
  }
  if (!PlainWord(options.check_address, ".:")) {
    return InvalidArgument(fmt::format("smb backend: check address '{}' is not an address", options.check_address));
  }
  if (!PlainWord(options.workgroup, "-_.") || options.workgroup.size() > 15) {
    return InvalidArgument(fmt::format("smb backend: workgroup '{}' must be 1..15 of [A-Za-z0-9._-]", options.workgroup));
  }
  if (!PlainWord(options.netbios_name, "-") || options.netbios_name.size() > 15) {
    return InvalidArgument(
        fmt::format("smb backend: netbios name '{}' must be 1..15 of [A-Za-z0-9-]", options.netbios_name));
  }
  if (options.port == 0) return InvalidArgument("smb backend: port must not be 0");
  PK_TRY(EnsureTree(options, fs));
  auto backend = std::make_unique<SambaBackend>(std::move(options), runner, launcher, fs);
  backend->AdoptLeftOver();
  return backend;
}

Status SetSmbPassword(const SambaOptions& options, sys::ProcessRunner& runner, sys::FileSystem& fs,
                      const sys::AccountName& user, std::string_view password) {
  PK_TRY(CheckPassword(password));
  PK_TRY(EnsureTree(options, fs));
  sys::Command c = Tool(options.smbpasswd_path, {"-c", SambaConfigPath(options), "-s", "-a", user.str()});
  c.stdin_data = fmt::format("{}\n{}\n", password, password);
  PK_ASSIGN_OR_RETURN(auto r, runner.Run(c));
  if (!r.status.Success()) {
    std::string words(Trim(r.err + r.out));
    // smbpasswd: "Failed to add entry for user X." when the Unix account is missing.
    auto code = words.find("Failed to add entry") != std::string::npos ? ErrorCode::kNotFound
                                                                         : ErrorCode::kFailedPrecondition;
    return MakeError(code, fmt::format("set smb password of user '{}': smbpasswd {}: {}", user.str(),
                                       r.status.ToString(), words));
  }
  return OkStatus();
}

Status RemoveSmbUser(const SambaOptions& options, sys::ProcessRunner& runner, sys::FileSystem& fs,
                     const sys::AccountName& user) {
  PK_TRY(EnsureTree(options, fs));
  PK_ASSIGN_OR_RETURN(auto r, runner.Run(Tool(options.smbpasswd_path, {"-c", SambaConfigPath(options), "-x", user.str()})));
  if (!r.status.Success()) {
    std::string words(Trim(r.err + r.out));
    auto code = words.find("Failed to find entry") != std::string::npos || words.find("Failed to delete") != std::string::npos
                    ? ErrorCode::kNotFound
                    : ErrorCode::kFailedPrecondition;
    return MakeError(code, fmt::format("remove smb user '{}': smbpasswd {}: {}", user.str(), r.status.ToString(), words));
  }
  return OkStatus();
}

}  // namespace pk::share
