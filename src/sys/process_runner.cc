// PosixProcessRunner: posix_spawn + poll() implementation of sys::ProcessRunner.
//
// One Run() is self-contained: it owns its pipes, its child and (where the
// kernel has it) a pidfd for the child, and touches no process-wide state
// except the calling thread's signal mask around stdin writes (see
// WriteIgnoringSigpipe). Several threads may therefore Run() at once. All
// descriptors are created O_CLOEXEC so that a concurrent spawn in another
// thread never inherits our pipe ends (which would delay our EOF until that
// other child exits).
//
// Requirement on the rest of the process: nobody else reaps our children
// (no waitpid(-1, ...) elsewhere, SIGCHLD not set to SIG_IGN).
#include "sys/process_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "base/log.h"
#include "base/unique_fd.h"

namespace pk::sys {
namespace {

using Clock = std::chrono::steady_clock;

// Longest timeout honoured; larger values are clamped so that
// Clock::now() + timeout cannot overflow.
constexpr std::chrono::milliseconds kMaxTimeout = std::chrono::hours(24 * 365);
// Read/write chunk size; matches the default Linux pipe capacity.
constexpr size_t kChunk = 64 * 1024;
// Without a pidfd, how often we look for the child's exit once its pipes are
// closed (only then: while pipes are open, poll() wakes us on EOF anyway).
constexpr int kExitPollMs = 10;

std::string ErrnoText(int err) {
  const char* desc = strerrordesc_np(err);  // thread-safe, unlike strerror()
  return desc != nullptr ? std::string(desc) : fmt::format("errno {}", err);
}

// Quotes an argument for display when it would otherwise be ambiguous.
std::string DisplayArg(std::string_view arg) {
  const bool plain = !arg.empty() && std::all_of(arg.begin(), arg.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("-_./=:,@+%").find(c) != std::string_view::npos;
  });
  if (plain) return std::string(arg);
  std::string quoted = "'";
  for (char c : arg) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  quoted += '\'';
  return quoted;
}

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

Result<Pipe> MakePipe(const char* what) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return Internal(fmt::format("create {} pipe: {}", what, ErrnoText(errno)));
  }
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

void SetNonBlocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

// Writes to a pipe whose reader may be gone without raising SIGPIPE.
//
// MSG_NOSIGNAL exists only for sockets, and changing the SIGPIPE disposition
// is process-wide (racy with other threads and with code that relies on it).
// SIGPIPE raised by write() is directed at the writing thread, so we block it
// in this thread only, write, and, if the write failed with EPIPE, consume the
// SIGPIPE we caused with a zero-timeout sigtimedwait() before restoring the
// mask. If a SIGPIPE was already pending before we started, it is left alone.
// When the process ignores SIGPIPE no signal is generated and this is harmless.
ssize_t WriteIgnoringSigpipe(int fd, const char* data, size_t len) {
  sigset_t pipe_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  sigset_t pending;
  sigemptyset(&pending);
  sigpending(&pending);
  const bool already_pending = sigismember(&pending, SIGPIPE) == 1;
  sigset_t old_mask;
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);

  ssize_t n = ::write(fd, data, len);
  const int saved_errno = errno;
  if (n < 0 && saved_errno == EPIPE && !already_pending) {
    const struct timespec zero = {0, 0};
    while (sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  errno = saved_errno;
  return n;
}

// Opens a pidfd for `pid` so poll() can wait for its exit; -1 if unsupported.
int OpenPidFd(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  return -1;
#endif
}

// True once `pid` has terminated; it stays a zombie (WNOWAIT) so its pid and
// process-group id cannot be reused before we are done signalling the group.
bool HasExited(pid_t pid) {
  siginfo_t info;
  std::memset(&info, 0, sizeof(info));
  while (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    if (errno != EINTR) return true;  // ECHILD: nothing left to wait for
  }
  return info.si_pid != 0;
}

Status ValidateCommand(const Command& command) {
  auto has_nul = [](const std::string& s) { return s.find('\0') != std::string::npos; };
  if (command.program.empty() || command.program.front() != '/') {
    return InvalidArgument(fmt::format("run '{}': program must be an absolute path", command.program));
  }
  if (has_nul(command.program) || std::any_of(command.args.begin(), command.args.end(), has_nul)) {
    return InvalidArgument(fmt::format("run {}: argument contains a NUL byte", command.ToString()));
  }
  for (const auto& entry : command.env) {
    if (has_nul(entry) || entry.find('=') == std::string::npos || entry.front() == '=') {
      return InvalidArgument(
          fmt::format("run {}: environment entry '{}' is not KEY=value", command.program, entry));
    }
  }
  if (command.timeout <= std::chrono::milliseconds::zero()) {
    // 0 is ambiguous (never vs. immediately); make the caller say what it means.
    return InvalidArgument(fmt::format("run {}: timeout must be positive, got {} ms", command.program,
                                       command.timeout.count()));
  }
  return OkStatus();
}

ExitStatus DecodeWaitStatus(int status) {
  ExitStatus exit;
  if (WIFSIGNALED(status)) {
    exit.kind = ExitStatus::Kind::kSignaled;
    exit.signal = WTERMSIG(status);
  } else {
    exit.kind = ExitStatus::Kind::kExited;
    exit.code = WEXITSTATUS(status);
  }
  return exit;
}

// RAII for the posix_spawn attribute objects.
struct SpawnSetup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  bool actions_ok = false;
  bool attr_ok = false;
  ~SpawnSetup() {
    if (actions_ok) posix_spawn_file_actions_destroy(&actions);
    if (attr_ok) posix_spawnattr_destroy(&attr);
  }
};

class PosixProcessRunner final : public ProcessRunner {
 public:
  Result<ProcessResult> Run(const Command& command) override;

 private:
  const std::shared_ptr<spdlog::logger> log_ = GetLogger("sys");  // thread-safe
};

Result<ProcessResult> PosixProcessRunner::Run(const Command& command) {
  PK_TRY(ValidateCommand(command));
  const auto timeout = std::min(command.timeout, kMaxTimeout);

  PK_ASSIGN_OR_RETURN(Pipe out_pipe, MakePipe("stdout"));
  PK_ASSIGN_OR_RETURN(Pipe err_pipe, MakePipe("stderr"));
  Pipe in_pipe;
  if (command.stdin_data.has_value()) {
    PK_ASSIGN_OR_RETURN(in_pipe, MakePipe("stdin"));
  }

  // argv/envp point into `command`, which outlives the spawn.
  std::vector<char*> argv;
  argv.reserve(command.args.size() + 2);
  argv.push_back(const_cast<char*>(command.program.c_str()));
  for (const auto& arg : command.args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  envp.reserve(command.env.size() + 1);
  for (const auto& entry : command.env) envp.push_back(const_cast<char*>(entry.c_str()));
  envp.push_back(nullptr);

  SpawnSetup setup;
  auto spawn_error = [&](const char* step, int rc) {
    return Internal(fmt::format("run {}: {}: {}", command.program, step, ErrnoText(rc)));
  };
  int rc = posix_spawn_file_actions_init(&setup.actions);
  if (rc != 0) return spawn_error("posix_spawn_file_actions_init", rc);
  setup.actions_ok = true;
  rc = posix_spawnattr_init(&setup.attr);
  if (rc != 0) return spawn_error("posix_spawnattr_init", rc);
  setup.attr_ok = true;

  // dup2 clears FD_CLOEXEC on the target, so only 0, 1 and 2 survive exec.
  if (in_pipe.read.valid()) {
    rc = posix_spawn_file_actions_adddup2(&setup.actions, in_pipe.read.get(), STDIN_FILENO);
  } else {
    rc = posix_spawn_file_actions_addopen(&setup.actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  }
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(&setup.actions, out_pipe.write.get(), STDOUT_FILENO);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(&setup.actions, err_pipe.write.get(), STDERR_FILENO);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  // Also drop descriptors some library may have opened without O_CLOEXEC.
  if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&setup.actions, STDERR_FILENO + 1);
#endif
  if (rc != 0) return spawn_error("posix_spawn file actions", rc);

  // Own process group (pgid = child pid) so a timeout can kill grandchildren;
  // empty signal mask and default dispositions so the tool behaves as if
  // started from a clean shell, whatever this thread blocks or ignores.
  sigset_t empty_set;
  sigemptyset(&empty_set);
  sigset_t all_signals;
  sigfillset(&all_signals);
  rc = posix_spawnattr_setflags(&setup.attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                                 POSIX_SPAWN_SETSIGDEF);
  if (rc == 0) rc = posix_spawnattr_setpgroup(&setup.attr, 0);
  if (rc == 0) rc = posix_spawnattr_setsigmask(&setup.attr, &empty_set);
  if (rc == 0) rc = posix_spawnattr_setsigdefault(&setup.attr, &all_signals);
  if (rc != 0) return spawn_error("posix_spawn attributes", rc);

  if (log_->should_log(spdlog::level::debug)) log_->debug("spawn argv={}", command.ToString());
  pid_t pid = -1;
  // glibc reports exec failures (ENOENT, EACCES, ...) as the return value and
  // reaps the failed child itself.
  rc = posix_spawn(&pid, command.program.c_str(), &setup.actions, &setup.attr, argv.data(),
                   envp.data());
  if (rc == ENOENT || rc == ENOTDIR) {
    return NotFound(fmt::format("run {}: program not found: {}", command.program, ErrnoText(rc)));
  }
  if (rc == EACCES || rc == EPERM) {
    return PermissionDenied(fmt::format("run {}: cannot execute: {}", command.program, ErrnoText(rc)));
  }
  if (rc != 0) return spawn_error("posix_spawn", rc);

  // From here on the child exists: every path below must reap it.
  out_pipe.write.Reset();
  err_pipe.write.Reset();
  in_pipe.read.Reset();
  UniqueFd out_fd = std::move(out_pipe.read);
  UniqueFd err_fd = std::move(err_pipe.read);
  UniqueFd in_fd = std::move(in_pipe.write);
  SetNonBlocking(out_fd.get());
  SetNonBlocking(err_fd.get());
  size_t in_offset = 0;
  const std::string empty;
  const std::string& in_data = command.stdin_data ? *command.stdin_data : empty;
  if (in_fd.valid()) {
    SetNonBlocking(in_fd.get());
    if (in_data.empty()) in_fd.Reset();  // immediate EOF
  }
  UniqueFd pid_fd(OpenPidFd(pid));

  ProcessResult result;
  const auto deadline = Clock::now() + timeout;
  bool child_exited = false;

  // Drain until every pipe is closed and the child has exited, or the deadline.
  // Pipes are read to EOF even after the child exits: output written by the
  // child may still be buffered, and a background grandchild holding the pipes
  // is bounded by the same deadline.
  while (true) {
    const bool pipes_open = out_fd.valid() || err_fd.valid() || in_fd.valid();
    if (!pipes_open && child_exited) break;
    const auto now = Clock::now();
    if (now >= deadline) {
      result.timed_out = true;
      break;
    }
    auto remaining = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
    int wait_ms = static_cast<int>(std::min<long long>(remaining, 1000 * 60 * 60));

    pollfd fds[4];
    int nfds = 0;
    int out_idx = -1, err_idx = -1, in_idx = -1, pid_idx = -1;
    if (out_fd.valid()) {
      out_idx = nfds;
      fds[nfds++] = {out_fd.get(), POLLIN, 0};
    }
    if (err_fd.valid()) {
      err_idx = nfds;
      fds[nfds++] = {err_fd.get(), POLLIN, 0};
    }
    if (in_fd.valid()) {
      in_idx = nfds;
      fds[nfds++] = {in_fd.get(), POLLOUT, 0};
    }
    if (!child_exited) {
      if (pid_fd.valid()) {
        pid_idx = nfds;
        fds[nfds++] = {pid_fd.get(), POLLIN, 0};
      } else if (!pipes_open) {
        wait_ms = std::min(wait_ms, kExitPollMs);
      }
    }

    int ready = ::poll(fds, static_cast<nfds_t>(nfds), wait_ms);
    if (ready < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      // Cannot wait any more; treat as a timeout so the group is killed and reaped.
      log_->error("poll failed program={} error={}", command.program, ErrnoText(errno));
      result.timed_out = true;
      break;
    }

    auto drain = [](UniqueFd& fd, std::string& sink) {
      while (true) {
        const size_t old_size = sink.size();
        sink.resize(old_size + kChunk);
        ssize_t n = ::read(fd.get(), sink.data() + old_size, kChunk);
        sink.resize(old_size + (n > 0 ? static_cast<size_t>(n) : 0));
        if (n > 0) {
          if (static_cast<size_t>(n) < kChunk) return;  // probably empty now; poll again
          continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        fd.Reset();  // EOF or a read error: nothing more will come
        return;
      }
    };
    if (out_idx >= 0 && fds[out_idx].revents != 0) drain(out_fd, result.out);
    if (err_idx >= 0 && fds[err_idx].revents != 0) drain(err_fd, result.err);
    if (in_idx >= 0 && fds[in_idx].revents != 0) {
      if (fds[in_idx].revents & (POLLERR | POLLHUP | POLLNVAL)) {
        in_fd.Reset();  // reader gone: the rest of stdin is dropped
      } else {
        const size_t len = std::min(kChunk, in_data.size() - in_offset);
        ssize_t n = WriteIgnoringSigpipe(in_fd.get(), in_data.data() + in_offset, len);
        if (n > 0) {
          in_offset += static_cast<size_t>(n);
          if (in_offset == in_data.size()) in_fd.Reset();  // EOF for the child
        } else if (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
          in_fd.Reset();  // EPIPE: the child stopped reading
        }
      }
    }
    // With a pidfd, look only when it fired; without one, after every wakeup.
    if (!child_exited && (pid_idx < 0 || fds[pid_idx].revents != 0)) {
      child_exited = HasExited(pid);
    }
  }

  if (result.timed_out) {
    // The child is not reaped yet (at worst a zombie), so its pid is still our
    // process group's id and cannot have been reused.
    log_->debug("timeout, killing process group pgid={} program={}", pid, command.program);
    ::kill(-pid, SIGKILL);
  }
  out_fd.Reset();
  err_fd.Reset();
  in_fd.Reset();

  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno == EINTR) continue;
    // Only if someone else reaped our child (SIGCHLD ignored, waitpid(-1)).
    return Internal(fmt::format("run {}: waitpid({}): {}", command.program, pid, ErrnoText(errno)));
  }
  result.status = DecodeWaitStatus(status);
  return result;
}

}  // namespace

std::string Command::ToString() const {
  std::string text = DisplayArg(program);
  for (size_t i = 0; i < args.size(); ++i) {
    text += ' ';
    bool secret = std::find(secret_args.begin(), secret_args.end(), i) != secret_args.end();
    text += secret ? "***" : DisplayArg(args[i]);
  }
  return text;
}

std::string ExitStatus::ToString() const {
  if (kind == Kind::kExited) return fmt::format("exited {}", code);
  const char* abbrev = sigabbrev_np(signal);  // "KILL"; thread-safe
  if (abbrev == nullptr) return fmt::format("killed by signal {}", signal);
  return fmt::format("killed by signal {} (SIG{})", signal, abbrev);
}

std::vector<std::string> DefaultToolEnvironment() {
  return {
      "LC_ALL=C",
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  };
}

std::unique_ptr<ProcessRunner> MakePosixProcessRunner() {
  return std::make_unique<PosixProcessRunner>();
}

}  // namespace pk::sys
