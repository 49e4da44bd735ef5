#include "tests/e2e/harness.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
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

std::string CreateSparseFile(const std::string& path, off_t bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 || ::ftruncate(fd, bytes) != 0) {
    std::string error = "create sparse disk " + path + ": " + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return error;
  }
  ::close(fd);
  return "";
}

sys::Command ZfsTool(const std::string& name, std::vector<std::string> args, std::chrono::milliseconds timeout) {
  std::string path = fs::exists("/sbin/" + name) ? "/sbin/" + name : "/usr/sbin/" + name;
  return sys::Command{path, std::move(args), ToolEnv(), std::nullopt, timeout};
}

bool PoolImported(sys::ProcessRunner& runner, const std::string& pool) {
  auto r = runner.Run(ZfsTool("zpool", {"list", "-H", "-o", "name", pool}));
  return r && r->status.Success();
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

std::string Poolkeeperd::Spawn(const PoolkeeperdOptions& o) {
  if (running()) return "a daemon is already running (pid " + std::to_string(pid_) + ")";
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return std::string("pipe: ") + std::strerror(errno);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipefd[1], 1);
  posix_spawn_file_actions_addopen(&actions, 2, o.log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);

  std::vector<std::string> args = {o.binary};
  if (!o.config.empty()) args.insert(args.end(), {"--config", o.config});
  args.insert(args.end(), {"--state-dir", o.state_dir, "--socket", o.socket, "--log-level", o.log_level,
                           "--refresh-interval", std::to_string(o.refresh_interval_seconds)});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env = ToolEnv();
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  pid_t pid = -1;
  spawned_at_ = std::chrono::steady_clock::now();
  int rc = posix_spawn(&pid, o.binary.c_str(), &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(pipefd[1]);
  if (rc != 0) {
    ::close(pipefd[0]);
    return "spawn " + o.binary + ": " + std::strerror(rc);
  }
  pid_ = pid;
  stdout_fd_ = pipefd[0];
  return "";
}

std::string Poolkeeperd::WaitReady(std::chrono::milliseconds timeout) {
  if (stdout_fd_ < 0) return "no daemon spawned";
  std::string seen;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    size_t nl = seen.find('\n');
    if (nl != std::string::npos) {
      if (seen.starts_with("poolkeeperd ready")) return "";
      seen.erase(0, nl + 1);
      continue;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return "poolkeeperd printed no 'poolkeeperd ready' line within the start timeout";
    pollfd p{stdout_fd_, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    char buf[512];
    ssize_t got = ::read(stdout_fd_, buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return "poolkeeperd closed stdout (exited?) before its 'poolkeeperd ready' line";
    seen.append(buf, static_cast<size_t>(got));
  }
}

std::string Poolkeeperd::Start(const PoolkeeperdOptions& options) {
  if (auto spawned = Spawn(options); !spawned.empty()) return spawned;
  return WaitReady();
}

void Poolkeeperd::Stop() {
  if (!running()) return;
  ::kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + kStopTimeout;
  int status = 0;
  bool reaped = false;
  while (std::chrono::steady_clock::now() < deadline) {
    pid_t w = ::waitpid(pid_, &status, WNOHANG);
    if (w == pid_ || (w < 0 && errno != EINTR)) {
      reaped = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!reaped) {
    ADD_FAILURE() << "poolkeeperd (pid " << pid_ << ") did not exit on SIGTERM; killing it";
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
  } else {
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "poolkeeperd did not exit cleanly on SIGTERM (wait status " << status << ")";
  }
  Forget();
}

void Poolkeeperd::Kill() {
  if (!running()) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  Forget();
}

void Poolkeeperd::Forget() {
  pid_ = -1;
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
  stdout_fd_ = -1;
}

std::string MakeDirectories(const std::vector<std::string>& dirs) {
  for (const auto& dir : dirs) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return "create " + dir + ": " + ec.message();
  }
  return "";
}

std::string MakeWorkDir(const std::string& parent, const std::string& prefix, std::string* work) {
  std::string tmpl = parent + "/" + prefix + "-daemon-XXXXXX";
  if (!::mkdtemp(tmpl.data())) return "mkdtemp under " + parent + ": " + std::strerror(errno);
  *work = tmpl;
  return "";
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

std::string StartSuitePoolkeeperd(Poolkeeperd& daemon, const PoolkeeperdOptions& options) {
  std::string started = daemon.Start(options);
  if (started.empty()) return "";
  return started + "\n--- daemon log ---\n" + ReadWholeFile(options.log_path);
}

void KeepWorkIfFailed(const std::string& work, const std::string& log_path) {
  if (work.empty()) return;
  const auto* suite = ::testing::UnitTest::GetInstance()->current_test_suite();
  if (suite && suite->Passed()) {
    std::error_code ec;
    std::filesystem::remove_all(work, ec);
    return;
  }
  std::string log = ReadWholeFile(log_path);
  size_t from = log.size() > 8000 ? log.find('\n', log.size() - 8000) + 1 : 0;
  std::fprintf(stderr, "e2e: daemon state and log kept in %s; the log ends:\n%s\n", work.c_str(),
               log.substr(from).c_str());
}

std::string CreateLabPool(sys::ProcessRunner& runner, const std::string& lab, const std::string& name, LabPool* out,
                          off_t bytes) {
  out->name = name;
  out->disk_dir = lab + "/disks/" + name;
  out->disk = out->disk_dir + "/d0.img";
  out->mnt = lab + "/mnt/" + name;
  if (auto made = MakeDirectories({out->disk_dir, out->mnt}); !made.empty()) return made;
  if (auto made = CreateSparseFile(out->disk, bytes); !made.empty()) return made;
  auto cmd = ZfsTool("zpool", {"create", "-m", out->mnt, name, out->disk});
  auto r = runner.Run(cmd);
  if (!r) return cmd.ToString() + ": " + r.error().message();
  if (!r->status.Success()) return cmd.ToString() + ": " + r->status.ToString() + ": " + r->err;
  return "";
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

std::string AdoptPool(const CliClient& cli, const std::string& pool) {
  CliResult r = cli.Run({"pool", "adopt", pool, "--yes"});
  if (r.code == kExitOk) return "";
  std::ostringstream os;
  os << "pool adopt " << pool << " --yes: " << r;
  return os.str();
}

std::string DestroyLabPool(sys::ProcessRunner& runner, const LabPool& pool) {
  if (pool.name.empty()) return "";
  for (int i = 0; i < 50 && PoolImported(runner, pool.name); ++i) {
    (void)runner.Run(ZfsTool("zpool", {"destroy", "-f", pool.name}));
    if (PoolImported(runner, pool.name)) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (PoolImported(runner, pool.name)) return "pool " + pool.name + " could not be destroyed";
  std::error_code ec;
  std::filesystem::remove_all(pool.disk_dir, ec);
  // A pool service that exported the pool protected its mountpoint (issue 18 item 5).
  ClearImmutable(pool.mnt);
  std::filesystem::remove_all(pool.mnt, ec);
  return "";
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
