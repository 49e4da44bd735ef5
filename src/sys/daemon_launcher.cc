// PosixDaemonLauncher: posix_spawn into a new session, stdio redirected with
// file actions, children reaped with waitpid(pid) only (never -1, see
// process_runner.cc for the same requirement on the rest of the process);
// adopted processes (not our children) watched through a pidfd.
#include "sys/daemon_launcher.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "base/log.h"
#include "base/unique_fd.h"

namespace pk::sys {
namespace {

using Clock = std::chrono::steady_clock;

ExitStatus FromWaitStatus(int status) {
  ExitStatus out;
  if (WIFSIGNALED(status)) {
    out.kind = ExitStatus::Kind::kSignaled;
    out.signal = WTERMSIG(status);
  } else {
    out.code = WEXITSTATUS(status);
  }
  return out;
}

// Through syscall(): glibc 2.36's <sys/pidfd.h> declares these without C
// linkage, so C++ cannot link against them.
int PidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }
int PidfdSendSignal(int pidfd, int signal) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, signal, nullptr, 0));
}

bool ValidRecordName(const std::string& name) {
  if (name.empty() || name.size() > 240 || name[0] == '.') return false;
  for (unsigned char c : name) {
    if (!std::isalnum(c) && c != '.' && c != '_' && c != '-' && c != '%') return false;
  }
  return true;
}

std::optional<std::string> ReadSmallFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return std::nullopt;
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd.get(), buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  if (n < 0) return std::nullopt;
  return out;
}

// The durable records of one launcher: RECORD_DIR/NAME, written to a
// temporary file, fsynced and renamed (then the directory fsynced), so a
// crash leaves the old record or the new one, never half of one.
class RecordStore {
 public:
  explicit RecordStore(std::string dir) : dir_(std::move(dir)) {}

  bool enabled() const { return !dir_.empty(); }
  std::string PathOf(const std::string& name) const { return dir_ + "/" + name; }

  Status Write(const DaemonRecord& r, const Command& command) {
    if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) {
      return Internal(fmt::format("record daemon '{}': create '{}': {}", r.name, dir_, strerrordesc_np(errno)));
    }
    std::string text = fmt::format("pid={}\nstart_time={}\ncommand_hash={}\nargv={}\n", r.pid, r.start_time,
                                   r.command_hash, command.ToString());
    std::string tmp = PathOf("." + r.name + ".tmp");
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd.valid()) return Internal(fmt::format("record daemon '{}': {}: {}", r.name, tmp, strerrordesc_np(errno)));
    bool ok = ::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd.get()) == 0;
    int err = errno;
    fd.Reset();
    if (!ok || ::rename(tmp.c_str(), PathOf(r.name).c_str()) != 0) {
      if (ok) err = errno;
      ::unlink(tmp.c_str());
      return Internal(fmt::format("record daemon '{}': write {}: {}", r.name, PathOf(r.name), strerrordesc_np(err)));
    }
    if (UniqueFd dfd(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)); dfd.valid()) ::fsync(dfd.get());
    return OkStatus();
  }

  std::optional<DaemonRecord> Read(const std::string& name) const {
    auto text = ReadSmallFile(PathOf(name));
    if (!text) return std::nullopt;
    DaemonRecord r;
    r.name = name;
    size_t pos = 0;
    while (pos < text->size()) {
      size_t end = text->find('\n', pos);
      if (end == std::string::npos) end = text->size();
      std::string line = text->substr(pos, end - pos);
      pos = end + 1;
      size_t eq = line.find('=');
      if (eq == std::string::npos) continue;
      std::string key = line.substr(0, eq), value = line.substr(eq + 1);
      try {
        if (key == "pid") r.pid = static_cast<pid_t>(std::stol(value));
        if (key == "start_time") r.start_time = std::stoull(value);
      } catch (...) {
        return std::nullopt;
      }
      if (key == "command_hash") r.command_hash = value;
    }
    if (r.pid <= 1 || r.start_time == 0 || r.command_hash.empty()) return std::nullopt;
    return r;
  }

  // Removes NAME's record if it still names `pid` (a newer process may have
  // been recorded under the name since).
  void Remove(const std::string& name, pid_t pid) const {
    auto r = Read(name);
    if (!r || r->pid == pid) ::unlink(PathOf(name).c_str());
  }

 private:
  std::string dir_;
};

class PosixServerProcess final : public ServerProcess {
 public:
  PosixServerProcess(pid_t pid, std::string what, std::shared_ptr<RecordStore> records, std::string record_name)
      : pid_(pid), what_(std::move(what)), records_(std::move(records)), record_name_(std::move(record_name)) {}
  ~PosixServerProcess() override {
    if (!exit_) Stop(SIGKILL, std::chrono::milliseconds(0));
  }

  pid_t pid() const override { return pid_; }

  bool Running() override { return !Exit(); }

  std::optional<ExitStatus> Exit() override {
    if (exit_) return exit_;
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) Ended(FromWaitStatus(status));
    return exit_;
  }

  ExitStatus Stop(int signal, std::chrono::milliseconds grace) override {
    if (Exit()) return *exit_;
    ::kill(-pid_, signal);
    auto deadline = Clock::now() + grace;
    while (!Exit() && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (!exit_) {
      ::kill(-pid_, SIGKILL);
      int status = 0;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
      Ended(FromWaitStatus(status));
    }
    // Whatever the leader left in its group goes with it.
    ::kill(-pid_, SIGKILL);
    GetLogger("sys")->debug("daemon={} pid={} stopped: {}", what_, pid_, exit_->ToString());
    return *exit_;
  }

  Status Signal(int signal) override {
    if (Exit()) return FailedPrecondition(fmt::format("{} (pid {}) is not running", what_, pid_));
    if (::kill(pid_, signal) != 0) return Internal(fmt::format("signal {} (pid {}): {}", what_, pid_, strerrordesc_np(errno)));
    return OkStatus();
  }

 private:
  void Ended(ExitStatus status) {
    exit_ = status;
    if (records_ && !record_name_.empty()) records_->Remove(record_name_, pid_);
  }

  pid_t pid_;
  std::string what_;
  std::shared_ptr<RecordStore> records_;
  std::string record_name_;
  std::optional<ExitStatus> exit_;
};

// A recorded process an earlier poolkeeperd started: not our child (it was
// reparented when that daemon died), so it is watched through a pidfd, which
// also makes signals safe against pid reuse. It leads its own session, so
// its process group id is its pid while it runs.
class AdoptedServerProcess final : public ServerProcess {
 public:
  AdoptedServerProcess(pid_t pid, UniqueFd pidfd, std::string what, std::shared_ptr<RecordStore> records,
                       std::string record_name)
      : pid_(pid), pidfd_(std::move(pidfd)), what_(std::move(what)), records_(std::move(records)),
        record_name_(std::move(record_name)) {}
  ~AdoptedServerProcess() override {
    if (!exit_) Stop(SIGKILL, std::chrono::milliseconds(0));
  }

  pid_t pid() const override { return pid_; }
  bool Running() override { return !Exit(); }

  std::optional<ExitStatus> Exit() override {
    if (!exit_ && Exited(0)) Ended();
    return exit_;
  }

  ExitStatus Stop(int signal, std::chrono::milliseconds grace) override {
    if (Exit()) return *exit_;
    SignalGroup(signal);
    if (!Exited(static_cast<int>(grace.count()))) {
      SignalGroup(SIGKILL);
      (void)Exited(5000);
    }
    Ended();
    GetLogger("sys")->debug("adopted daemon={} pid={} stopped", what_, pid_);
    return *exit_;
  }

  Status Signal(int signal) override {
    if (Exit()) return FailedPrecondition(fmt::format("{} (pid {}) is not running", what_, pid_));
    if (PidfdSendSignal(pidfd_.get(), signal) != 0) {
      return Internal(fmt::format("signal {} (pid {}): {}", what_, pid_, strerrordesc_np(errno)));
    }
    return OkStatus();
  }

 private:
  // Its group while the leader runs (the pidfd pins the pid, so the group id
  // is still this process's); only the leader once it is gone.
  void SignalGroup(int signal) {
    if (!Exited(0) && ::getpgid(pid_) == pid_) {
      ::kill(-pid_, signal);
    } else {
      PidfdSendSignal(pidfd_.get(), signal);
    }
  }

  // Whether the process has exited, waiting up to `timeout_ms`.
  bool Exited(int timeout_ms) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (true) {
      struct pollfd p {pidfd_.get(), POLLIN, 0};
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      int r = ::poll(&p, 1, static_cast<int>(std::max<long>(0, left)));
      if (r > 0) return true;
      if (r == 0) return false;
      if (errno != EINTR) return true;  // cannot watch it: treat as gone
    }
  }

  void Ended() {
    exit_ = ExitStatus{.kind = ExitStatus::Kind::kExited, .code = -1};
    if (records_) records_->Remove(record_name_, pid_);
  }

  pid_t pid_;
  UniqueFd pidfd_;
  std::string what_;
  std::shared_ptr<RecordStore> records_;
  std::string record_name_;
  std::optional<ExitStatus> exit_;
};

class PosixDaemonLauncher final : public DaemonLauncher {
 public:
  explicit PosixDaemonLauncher(std::string record_dir)
      : records_(record_dir.empty() ? nullptr : std::make_shared<RecordStore>(std::move(record_dir))) {}

  Result<std::unique_ptr<ServerProcess>> Launch(const Command& command, const std::string& log_path) override {
    PK_ASSIGN_OR_RETURN(pid_t pid, Spawn(command, log_path));
    return std::unique_ptr<ServerProcess>(std::make_unique<PosixServerProcess>(pid, command.program, nullptr, ""));
  }

  Result<std::unique_ptr<ServerProcess>> LaunchRecorded(const std::string& name, const Command& command,
                                                 const std::string& log_path) override {
    if (!ValidRecordName(name)) return InvalidArgument(fmt::format("daemon record name '{}' is not valid", name));
    if (!records_) return Launch(command, log_path);
    PK_ASSIGN_OR_RETURN(pid_t pid, Spawn(command, log_path));
    auto daemon = std::make_unique<PosixServerProcess>(pid, command.program, records_, name);
    // Its start time: /proc/PID/stat exists from the fork on.
    auto start = ProcessStartTime(pid);
    DaemonRecord r{.name = name, .pid = pid, .start_time = start.value_or(0), .command_hash = CommandHash(command)};
    if (!start) return std::unique_ptr<ServerProcess>(std::move(daemon));  // already gone: nothing to adopt later
    if (auto st = records_->Write(r, command); !st) {
      daemon->Stop(SIGKILL, std::chrono::milliseconds(0));  // an unrecorded server could become an orphan
      return std::unexpected(st.error());
    }
    return std::unique_ptr<ServerProcess>(std::move(daemon));
  }

  Result<std::unique_ptr<ServerProcess>> Adopt(const std::string& name, const Command& command) override {
    if (!ValidRecordName(name)) return InvalidArgument(fmt::format("daemon record name '{}' is not valid", name));
    if (!records_) return std::unique_ptr<ServerProcess>();
    auto log = GetLogger("sys");
    auto r = records_->Read(name);
    if (!r) {
      ::unlink(records_->PathOf(name).c_str());  // absent or unreadable
      return std::unique_ptr<ServerProcess>();
    }
    UniqueFd pidfd(PidfdOpen(r->pid));
    // Checked after pidfd_open: the descriptor refers to the process that
    // had the recorded start time, never to a later one with the same pid.
    if (!pidfd.valid() || ProcessStartTime(r->pid) != r->start_time) {
      log->info("daemon record '{}': pid {} is gone or now another process; not adopted", name, r->pid);
      records_->Remove(name, r->pid);
      return std::unique_ptr<ServerProcess>();
    }
    auto adopted = std::make_unique<AdoptedServerProcess>(r->pid, std::move(pidfd), command.program, records_, name);
    if (r->command_hash != CommandHash(command)) {
      log->warn("daemon record '{}': pid {} runs another configuration; stopping it to start anew", name, r->pid);
      adopted->Stop(SIGTERM, std::chrono::seconds(5));
      return std::unique_ptr<ServerProcess>();
    }
    log->info("daemon record '{}': adopted pid {}", name, r->pid);
    return std::unique_ptr<ServerProcess>(std::move(adopted));
  }

 private:
  Result<pid_t> Spawn(const Command& command, const std::string& log_path) {
    if (!command.program.starts_with('/')) {
      return InvalidArgument(fmt::format("start '{}': program path must be absolute", command.program));
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0640);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    sigset_t defaults;
    sigfillset(&defaults);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    // Its own session: also its own process group (Stop() signals the group).
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(command.program.c_str()));
    for (const auto& a : command.args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (const auto& e : command.env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);

    pid_t pid = 0;
    int rc = posix_spawn(&pid, command.program.c_str(), &actions, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
      return MakeError(rc == ENOENT ? ErrorCode::kNotFound : ErrorCode::kInternal,
                       fmt::format("start {}: {}", command.ToString(), strerrordesc_np(rc)));
    }
    GetLogger("sys")->debug("daemon started pid={} argv={}", pid, command.ToString());
    return pid;
  }

  std::shared_ptr<RecordStore> records_;
};

}  // namespace

std::optional<uint64_t> ProcessStartTime(pid_t pid) {
  auto stat = ReadSmallFile(fmt::format("/proc/{}/stat", pid));
  if (!stat) return std::nullopt;
  size_t close = stat->rfind(')');
  if (close == std::string::npos) return std::nullopt;
  // Fields from 3 (state) on, blank-separated; the start time is field 22.
  std::vector<std::string> fields;
  size_t pos = close + 2;
  while (pos < stat->size() && fields.size() < 20) {
    size_t end = stat->find(' ', pos);
    if (end == std::string::npos) end = stat->size();
    fields.push_back(stat->substr(pos, end - pos));
    pos = end + 1;
  }
  if (fields.size() < 20 || fields[0] == "Z" || fields[0] == "X") return std::nullopt;
  try {
    return std::stoull(fields[19]);
  } catch (...) {
    return std::nullopt;
  }
}

std::string CommandHash(const Command& command) {
  // FNV-1a 64 over program, arguments and environment, NUL-separated.
  uint64_t h = 14695981039346656037ull;
  auto add = [&h](const std::string& s) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    h = (h ^ 0) * 1099511628211ull;
  };
  add(command.program);
  for (const auto& a : command.args) add(a);
  add("\x01env");
  for (const auto& e : command.env) add(e);
  return fmt::format("{:016x}", h);
}

std::vector<DaemonRecord> ReadDaemonRecords(const std::string& record_dir) {
  std::vector<DaemonRecord> out;
  RecordStore store(record_dir);
  DIR* dir = ::opendir(record_dir.c_str());
  if (!dir) return out;
  while (auto* e = ::readdir(dir)) {
    std::string name = e->d_name;
    if (!ValidRecordName(name)) continue;
    if (auto r = store.Read(name)) out.push_back(*r);
  }
  ::closedir(dir);
  return out;
}

std::unique_ptr<DaemonLauncher> MakePosixDaemonLauncher(std::string record_dir) {
  return std::make_unique<PosixDaemonLauncher>(std::move(record_dir));
}

}  // namespace pk::sys
