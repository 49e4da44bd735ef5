// sys::DaemonLauncher: starts long-running server processes (tgtd, ganesha,
// smbd, rpcbind) that Poolkeeper supervises, as ProcessRunner does for
// programs that run to completion (STYLE rule 2: absolute path, argv,
// explicit environment, own process group, never a shell).
//
// The child gets stdin from /dev/null and its stdout and stderr appended to a
// log file; it leads its own process group so that Stop() reaches everything
// it forked. A Daemon handle always reaps its child: destroying a handle
// whose process still runs kills the group (SIGKILL) and reaps it, so a
// Poolkeeper object never leaves a server or a zombie behind.
//
// Thread-safety: Launch() may run concurrently; one Daemon handle belongs to
// one owner (its methods are not synchronised).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "base/error.h"
#include "sys/process_runner.h"

namespace pk::sys {

class Daemon {
 public:
  virtual ~Daemon() = default;
  virtual pid_t pid() const = 0;
  // False once the process has exited (it is reaped then).
  virtual bool Running() = 0;
  // How it ended, once it has; nullopt while it runs.
  virtual std::optional<ExitStatus> Exit() = 0;
  // Sends `signal` to the process group, waits up to `grace` for the leader
  // to exit, then SIGKILLs the group and reaps. Returns how it ended.
  virtual ExitStatus Stop(int signal, std::chrono::milliseconds grace) = 0;
  // Sends `signal` (e.g. SIGHUP for a reload) to the leader only.
  virtual Status Signal(int signal) = 0;
};

class DaemonLauncher {
 public:
  virtual ~DaemonLauncher() = default;
  // Starts `command` (its timeout is ignored: a daemon runs until stopped)
  // with output appended to `log_path` (created 0640 if missing).
  virtual Result<std::unique_ptr<Daemon>> Launch(const Command& command, const std::string& log_path) = 0;
};

std::unique_ptr<DaemonLauncher> MakePosixDaemonLauncher();

}  // namespace pk::sys
