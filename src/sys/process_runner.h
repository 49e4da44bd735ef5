// sys::ProcessRunner: the only way Poolkeeper runs another program (STYLE rule 2).
//
// A Command is an absolute program path, an argv vector, an explicit
// environment, optional stdin bytes and a timeout. The real implementation
// (PosixProcessRunner) spawns with posix_spawn into a new process group, drains
// stdout and stderr concurrently (no deadlock on large output), kills the whole
// group with SIGKILL when the timeout passes (grandchildren included), and
// always reaps the child. Tests use testing/fake_process_runner.h.
//
// Thread-safety: Run() may be called concurrently from several threads.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"

namespace pk::sys {

struct Command {
  std::string program;              // absolute path; relative paths are refused
  std::vector<std::string> args;    // argv[1..]; argv[0] is `program`
  std::vector<std::string> env;     // "KEY=value"; nothing is inherited
  std::optional<std::string> stdin_data;  // nullopt: stdin is /dev/null
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
  // Indexes into `args` of secrets (a CHAP password, say): ToString shows them
  // as "***", so they never reach a log or an error message.
  std::vector<size_t> secret_args;

  // "program arg1 arg2" for logs and error messages (not for execution).
  std::string ToString() const;
};

// How a finished process ended: exited with a code, or was killed by a signal.
struct ExitStatus {
  enum class Kind { kExited, kSignaled };
  Kind kind = Kind::kExited;
  int code = 0;    // exit code when kExited
  int signal = 0;  // signal number when kSignaled

  bool Success() const { return kind == Kind::kExited && code == 0; }
  // "exited 1" or "killed by signal 9 (SIGKILL)".
  std::string ToString() const;
};

struct ProcessResult {
  ExitStatus status;
  std::string out;  // everything the process wrote to stdout
  std::string err;  // everything the process wrote to stderr
  bool timed_out = false;  // the group was killed because the timeout passed
};

// The default environment for tools: LC_ALL=C and a fixed PATH.
std::vector<std::string> DefaultToolEnvironment();

class ProcessRunner {
 public:
  virtual ~ProcessRunner() = default;

  // Runs `command` to completion. Returns an error only when the process could
  // not be started (missing program, spawn failure); a non-zero exit, a signal
  // or a timeout is a successful Run() with the outcome in ProcessResult.
  virtual Result<ProcessResult> Run(const Command& command) = 0;
};

// The real runner, built on posix_spawn.
std::unique_ptr<ProcessRunner> MakePosixProcessRunner();

}  // namespace pk::sys
