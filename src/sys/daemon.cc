// PosixDaemonLauncher: posix_spawn into a new process group, stdio redirected
// with file actions, children reaped with waitpid(pid) only (never -1, see
// process_runner.cc for the same requirement on the rest of the process).
#include "sys/daemon.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "base/log.h"

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

class PosixDaemon final : public Daemon {
 public:
  PosixDaemon(pid_t pid, std::string what) : pid_(pid), what_(std::move(what)) {}
  ~PosixDaemon() override {
    if (!exit_) Stop(SIGKILL, std::chrono::milliseconds(0));
  }

  pid_t pid() const override { return pid_; }

  bool Running() override { return !Exit(); }

  std::optional<ExitStatus> Exit() override {
    if (exit_) return exit_;
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) exit_ = FromWaitStatus(status);
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
      exit_ = FromWaitStatus(status);
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
  pid_t pid_;
  std::string what_;
  std::optional<ExitStatus> exit_;
};

class PosixDaemonLauncher final : public DaemonLauncher {
 public:
  Result<std::unique_ptr<Daemon>> Launch(const Command& command, const std::string& log_path) override {
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
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

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
    return std::make_unique<PosixDaemon>(pid, command.program);
  }
};

}  // namespace

std::unique_ptr<DaemonLauncher> MakePosixDaemonLauncher() { return std::make_unique<PosixDaemonLauncher>(); }

}  // namespace pk::sys
