// sys::DaemonLauncher: starts long-running server processes (tgtd, ganesha,
// smbd, rpcbind, shadow-migration helpers) that Poolkeeper supervises, as
// ProcessRunner does for programs that run to completion (STYLE rule 2:
// absolute path, argv, explicit environment, never a shell).
//
// The child gets stdin from /dev/null and its stdout and stderr appended to a
// log file; it leads its own session (and so its own process group): a signal
// to poolkeeperd's process group (a terminal's ^C, `kill -- -PGID`) does not
// reach it, and Stop() reaches everything it forked. A ServerProcess handle always
// reaps its child: destroying a handle whose process still runs kills the
// group (SIGKILL) and reaps it, so a Poolkeeper object never leaves a server
// or a zombie behind.
//
// Adoption (issue 18): the data plane outlives the control plane. A launcher
// made with a record directory writes, for each LaunchRecorded() process, a
// record NAME (pid, start time = field 22 of /proc/PID/stat, a hash of the
// command: its configuration) atomically into that directory; the record goes
// when the handle sees the process end (Stop(), Exit()). A poolkeeperd that
// was killed leaves its records and its servers running; the next one calls
// Adopt(NAME, command) and gets a handle on the same process when it still
// runs (same pid and start time: a reused pid is not adopted) and was started
// by the same command. Such a process is no longer our child (it was
// reparented), so the handle waits for it through a pidfd (poll), never
// waitpid. A recorded process started by another command is stopped (its
// group: SIGTERM, then SIGKILL) and its record dropped, so the caller starts
// the new one without a port clash.
//
// Thread-safety: Launch()/LaunchRecorded()/Adopt() may run concurrently (for
// different names); one ServerProcess handle belongs to one owner (its methods are
// not synchronised).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "sys/process_runner.h"

namespace pk::sys {

class ServerProcess {
 public:
  virtual ~ServerProcess() = default;
  virtual pid_t pid() const = 0;
  // False once the process has exited (it is reaped then).
  virtual bool Running() = 0;
  // How it ended, once it has; nullopt while it runs. An adopted process's
  // status is unknown to us: "exited -1".
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
  virtual Result<std::unique_ptr<ServerProcess>> Launch(const Command& command, const std::string& log_path) = 0;

  // As Launch, and records the process as `name` ([A-Za-z0-9._%-]{1,240}, not starting with '.'),
  // durably, when the launcher keeps records (else just Launch).
  virtual Result<std::unique_ptr<ServerProcess>> LaunchRecorded(const std::string& name, const Command& command,
                                                         const std::string& log_path) {
    (void)name;
    return Launch(command, log_path);
  }

  // The process recorded as `name` when it still runs and was started by
  // `command` (see the header comment); nullptr when there is none to adopt
  // (no record, the process is gone or its pid was reused, or it ran another
  // command and was stopped here).
  virtual Result<std::unique_ptr<ServerProcess>> Adopt(const std::string& name, const Command& command) {
    (void)name;
    (void)command;
    return std::unique_ptr<ServerProcess>();
  }
};

// What a record says (exposed for tests).
struct DaemonRecord {
  std::string name;
  pid_t pid = 0;
  uint64_t start_time = 0;  // clock ticks since boot, /proc/PID/stat field 22
  std::string command_hash;
};

// Field 22 of /proc/PID/stat (the start time), nullopt when the process is
// gone or a zombie.
std::optional<uint64_t> ProcessStartTime(pid_t pid);

// The hash a record keeps of `command` (program, arguments, environment).
std::string CommandHash(const Command& command);

// Every record in `record_dir` (unreadable ones are skipped).
std::vector<DaemonRecord> ReadDaemonRecords(const std::string& record_dir);

// Without a record directory, nothing is recorded and nothing adopted.
std::unique_ptr<DaemonLauncher> MakePosixDaemonLauncher(std::string record_dir = "");

}  // namespace pk::sys
