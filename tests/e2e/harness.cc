#include "tests/e2e/harness.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "zfs/mount_lock.h"

namespace pk::e2e {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr auto kStopTimeout = std::chrono::seconds(20);

const std::vector<std::string>& ToolEnv() {
  static const std::vector<std::string> env = {"LC_ALL=C",
                                               "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
  return env;
}

std::ostream& operator<<(std::ostream& os, const CliResult& r) {
  return os << "exit " << r.code << "\n--- stdout ---\n" << r.out << "--- stderr ---\n" << r.err;
}

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Status CreateSparseFile(const std::string& path, off_t bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 || ::ftruncate(fd, bytes) != 0) {
    std::string error = "create sparse disk " + path + ": " + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return Internal(error);
  }
  ::close(fd);
  return OkStatus();
}

sys::Command ZfsTool(const std::string& name, std::vector<std::string> args, std::chrono::milliseconds timeout) {
  std::string path = fs::exists("/sbin/" + name) ? "/sbin/" + name : "/usr/sbin/" + name;
  bool zfs_fuse = fs::exists("/usr/sbin/zfs-fuse") || fs::exists("/sbin/zfs-fuse");
  if (zfs_fuse && zfs::CanMount(name == "zpool" ? zfs::Tool::kZpool : zfs::Tool::kZfs, args)) {
    // The daemons under test take the same lock (zfs/mount_lock.h): two mounts
    // at once wedge zfs-fuse.
    std::vector<std::string> locked = {"-w", std::to_string(std::max<long>(1, timeout.count() / 1000)),
                                       std::string(zfs::kZfsFuseMountLockPath), path};
    locked.insert(locked.end(), args.begin(), args.end());
    return sys::Command{"/usr/bin/flock", std::move(locked), ToolEnv(), std::nullopt, timeout};
  }
  return sys::Command{path, std::move(args), ToolEnv(), std::nullopt, timeout};
}

bool PoolImported(sys::ProcessRunner& runner, const std::string& pool) {
  auto r = runner.Run(ZfsTool("zpool", {"list", "-H", "-o", "name", pool}));
  return r && r->status.Success();
}

Result<std::string> RunOk(sys::ProcessRunner& runner, const sys::Command& command) {
  auto r = runner.Run(command);
  if (!r) return std::unexpected(r.error().WithContext(command.ToString()));
  if (!r->status.Success()) return Internal(command.ToString() + ": " + r->status.ToString() + ": " + r->err + r->out);
  return std::move(r->out);
}

// ---- CliClient ---------------------------------------------------------------

CliResult CliClient::Run(std::vector<std::string> args, std::optional<std::string> socket) const {
  return RunWithStdin(std::move(args), std::nullopt, std::move(socket));
}

CliResult CliClient::RunWithStdin(std::vector<std::string> args, std::optional<std::string> stdin_data,
                                  std::optional<std::string> socket) const {
  std::vector<std::string> env = ToolEnv();
  env.push_back("POOLKEEPER_SOCKET=" + socket.value_or(socket_));
  sys::Command cmd{binary_, std::move(args), env, std::move(stdin_data), std::chrono::seconds(120)};
  CliResult out;
  auto r = runner_->Run(cmd);
  if (!r) {
    out.err = "could not run the CLI: " + r.error().message();
    return out;
  }
  if (r->status.kind == sys::ExitStatus::Kind::kExited) out.code = r->status.code;
  out.out = r->out;
  out.err = r->err;
  return out;
}

json CliClient::Json(std::vector<std::string> args) const {
  args.insert(args.begin(), "--json");
  CliResult r = Run(args);
  EXPECT_EQ(r.code, kExitOk) << r;
  json j = json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << "not JSON: " << r;
  return j.is_discarded() ? json::object() : j;
}

// ---- Poolkeeperd ---------------------------------------------------------------

Poolkeeperd::~Poolkeeperd() {
  if (running()) Kill();
}

Status Poolkeeperd::Spawn(const PoolkeeperdOptions& o) {
  if (running()) return FailedPrecondition("a daemon is already running (pid " + std::to_string(pid()) + ")");
  std::vector<std::string> args;
  if (!o.config.empty()) args.insert(args.end(), {"--config", o.config});
  args.insert(args.end(), {"--state-dir", o.state_dir, "--socket", o.socket, "--log-level", o.log_level,
                           "--refresh-interval", std::to_string(o.refresh_interval_seconds)});
  // Each run's log starts empty: WaitReady looks for this run's readiness line.
  if (!std::ofstream(o.log_path, std::ios::trunc)) return Internal("truncate " + o.log_path + ": cannot open it");
  log_path_ = o.log_path;
  spawned_at_ = std::chrono::steady_clock::now();
  PK_ASSIGN_OR_RETURN(process_, launcher_->Launch({o.binary, std::move(args), ToolEnv()}, o.log_path));
  return OkStatus();
}

Status Poolkeeperd::WaitReady(std::chrono::milliseconds timeout) {
  if (!process_) return FailedPrecondition("no daemon spawned");
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    std::string log = ReadWholeFile(log_path_);
    if (log.starts_with("poolkeeperd ready") || log.find("\npoolkeeperd ready") != std::string::npos) return OkStatus();
    if (!process_->Running()) {
      auto exit = process_->Exit();
      process_.reset();
      return Unavailable("poolkeeperd exited (" + (exit ? exit->ToString() : std::string("?")) +
                         ") before its 'poolkeeperd ready' line");
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return DeadlineExceeded("poolkeeperd printed no 'poolkeeperd ready' line within the start timeout");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

Status Poolkeeperd::Start(const PoolkeeperdOptions& options) {
  PK_TRY(Spawn(options));
  return WaitReady();
}

void Poolkeeperd::Stop() {
  if (!running()) return;
  pid_t pid = process_->pid();
  sys::ExitStatus status = process_->Stop(SIGTERM, kStopTimeout);
  process_.reset();
  EXPECT_TRUE(status.kind == sys::ExitStatus::Kind::kExited && status.code == 0)
      << "poolkeeperd (pid " << pid << ") did not exit cleanly within " << kStopTimeout.count()
      << " s of SIGTERM: " << status.ToString();
}

void Poolkeeperd::Kill() {
  if (!running()) return;
  (void)process_->Stop(SIGKILL, std::chrono::milliseconds(0));
  process_.reset();
}

Status MakeDirectories(const std::vector<std::string>& dirs) {
  for (const auto& dir : dirs) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return Internal("create " + dir + ": " + ec.message());
  }
  return OkStatus();
}

Result<std::string> MakeWorkDir(const std::string& parent, const std::string& prefix) {
  std::string tmpl = parent + "/" + prefix + "-daemon-XXXXXX";
  if (!::mkdtemp(tmpl.data())) return Internal("mkdtemp under " + parent + ": " + std::strerror(errno));
  return tmpl;
}

PoolkeeperdOptions SuiteDaemonOptions(const std::string& build_dir, const std::string& work) {
  return {.binary = build_dir + "/src/daemon/poolkeeperd",
          .config = "",
          .state_dir = work + "/state",
          .socket = work + "/run/pk.sock",
          .log_path = work + "/poolkeeperd.log",
          .log_level = "debug",
          .refresh_interval_seconds = 3600};
}

Status StartSuitePoolkeeperd(Poolkeeperd& daemon, const PoolkeeperdOptions& options) {
  auto started = daemon.Start(options);
  if (started) return OkStatus();
  return std::unexpected(Error(started.error().code(), started.error().message() + "\n--- daemon log ---\n" +
                                                           ReadWholeFile(options.log_path)));
}

void KeepWorkIfFailed(const std::string& work, const std::string& log_path) {
  if (work.empty()) return;
  const auto* suite = ::testing::UnitTest::GetInstance()->current_test_suite();
  if (suite && suite->Passed() && !::testing::Test::HasFailure()) {
    std::error_code ec;
    std::filesystem::remove_all(work, ec);
    return;
  }
  std::string log = ReadWholeFile(log_path);
  size_t from = log.size() > 8000 ? log.find('\n', log.size() - 8000) + 1 : 0;
  std::fprintf(stderr, "e2e: daemon state and log kept in %s; the log ends:\n%s\n", work.c_str(),
               log.substr(from).c_str());
}

Status CreateLabPool(sys::ProcessRunner& runner, const std::string& lab, const std::string& name, LabPool* out,
                     off_t bytes) {
  out->name = name;
  out->disk_dir = lab + "/disks/" + name;
  out->disk = out->disk_dir + "/d0.img";
  out->mnt = lab + "/mnt/" + name;
  PK_TRY(MakeDirectories({out->disk_dir, out->mnt}));
  PK_TRY(CreateSparseFile(out->disk, bytes));
  PK_TRY(RunOk(runner, ZfsTool("zpool", {"create", "-m", out->mnt, name, out->disk})));
  return OkStatus();
}

nlohmann::json WaitForJson(const CliClient& cli, const std::vector<std::string>& what,
                           const std::function<bool(const nlohmann::json&)>& done, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  nlohmann::json last;
  while (std::chrono::steady_clock::now() < deadline) {
    std::vector<std::string> args = {"--json"};
    args.insert(args.end(), what.begin(), what.end());
    CliResult r = cli.Run(args);
    last = nlohmann::json::parse(r.out, nullptr, false);
    if (r.code == kExitOk && !last.is_discarded() && done(last)) return last;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ADD_FAILURE() << "timed out waiting for " << ::testing::PrintToString(what) << "; last answer: " << last.dump(2);
  return last;
}

Status AdoptPool(const CliClient& cli, const std::string& pool) {
  CliResult r = cli.Run({"pool", "adopt", pool, "--yes"});
  if (r.code == kExitOk) return OkStatus();
  std::ostringstream os;
  os << "pool adopt " << pool << " --yes: " << r;
  return Internal(os.str());
}

Status DestroyLabPool(sys::ProcessRunner& runner, const LabPool& pool) {
  if (pool.name.empty()) return OkStatus();
  for (int i = 0; i < 50 && PoolImported(runner, pool.name); ++i) {
    (void)runner.Run(ZfsTool("zpool", {"destroy", "-f", pool.name}));
    if (PoolImported(runner, pool.name)) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (PoolImported(runner, pool.name)) {
    return Internal("pool " + pool.name + " could not be destroyed; `scripts/lab down` exports it");
  }
  std::error_code ec;
  std::filesystem::remove_all(pool.disk_dir, ec);
  // A pool service that exported the pool protected its mountpoint (issue 18 item 5).
  ClearImmutable(pool.mnt);
  std::filesystem::remove_all(pool.mnt, ec);
  return OkStatus();
}

std::vector<std::string> ShadowMounts(const std::string& prefix) {
  std::vector<std::string> out;
  std::ifstream in("/proc/self/mounts");
  std::string dev, mp, type, rest;
  while (in >> dev >> mp >> type && std::getline(in, rest)) {
    if (type == "fuse.pkshadow" && mp.starts_with(prefix)) out.push_back(mp);
  }
  return out;
}

std::vector<std::string> MountsBelow(const std::string& prefix) {
  std::vector<std::string> out;
  std::ifstream in("/proc/self/mounts");
  std::string dev, mp, type, rest;
  while (in >> dev >> mp >> type && std::getline(in, rest)) {
    if (mp == prefix || mp.starts_with(prefix + "/")) out.push_back(mp + " " + type);
  }
  return out;
}

std::vector<std::string> ProcessesMentioning(const std::string& needle) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    std::string pid = e.path().filename();
    if (!std::all_of(pid.begin(), pid.end(), ::isdigit) || std::stoi(pid) == ::getpid()) continue;
    std::string cmd = ReadWholeFile("/proc/" + pid + "/cmdline");
    std::replace(cmd.begin(), cmd.end(), '\0', ' ');
    std::string stat = ReadWholeFile("/proc/" + pid + "/stat");
    size_t close = stat.rfind(')');
    bool zombie = close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z';
    if (!zombie && cmd.find(needle) != std::string::npos) out.push_back(pid + ": " + cmd);
  }
  return out;
}

bool ClearImmutable(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT;
  int flags = 0;
  bool ok = ::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
  if (ok && (flags & FS_IMMUTABLE_FL)) {
    flags &= ~FS_IMMUTABLE_FL;
    ok = ::ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
  }
  ::close(fd);
  return ok;
}

bool Immutable(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return false;
  int flags = 0;
  bool set = ::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 && (flags & FS_IMMUTABLE_FL);
  ::close(fd);
  return set;
}

}  // namespace pk::e2e
