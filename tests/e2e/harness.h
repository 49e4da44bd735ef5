// e2e::harness: what every end-to-end suite needs to drive a real poolkeeperd
// on the lab's ZFS: a daemon process it owns (spawn, readiness line, SIGTERM
// with a bounded wait, SIGKILL), the real `poolkeeper` CLI run through
// sys::ProcessRunner (argv vectors, explicit environment; never a shell),
// zpool/zfs runs for set-up and clean-up, and sparse disk files.
//
// The daemon is long-running, so it is started through sys::DaemonLauncher
// (own session and process group, stdin /dev/null, stdout and stderr appended
// to its log file, where the readiness line is looked for), as poolkeeperd
// starts its own servers. Set-up steps return pk::Status; tests check them
// with PK_ASSERT_OK / PK_EXPECT_OK. A suite's shared set-up is e2e::Lab (lab.h).
//
// Thread-safety: none; a suite drives its daemon from the test thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "sys/daemon_launcher.h"
#include "sys/process_runner.h"

// A Status/Result expression that must be OK in a test: fails it with the
// error's message (more may be streamed: PK_ASSERT_OK(x) << "round " << n).
#define PK_ASSERT_OK(expr) ASSERT_TRUE(::pk::e2e::IsOk(expr))
#define PK_EXPECT_OK(expr) EXPECT_TRUE(::pk::e2e::IsOk(expr))

namespace pk::e2e {

template <class T>
::testing::AssertionResult IsOk(const std::expected<T, Error>& result) {
  if (result) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << result.error().message();
}

// The CLI's exit codes (src/cli/main.cc).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitNotFound = 3;
inline constexpr int kExitUnavailable = 4;

// zfs-fuse needs vdevs of at least 64 MiB.
inline constexpr off_t kDiskBytes = 128ll << 20;

// LC_ALL=C and a fixed PATH: the environment of every process the tests start.
const std::vector<std::string>& ToolEnv();

struct CliResult {
  int code = -1;  // exit code; -1 when killed or not started
  std::string out;
  std::string err;
};
std::ostream& operator<<(std::ostream& os, const CliResult& r);

// The environment variable, or `fallback` when unset or empty.
std::string EnvOr(const char* name, const std::string& fallback);
// The file's bytes; empty when it cannot be read.
std::string ReadWholeFile(const std::string& path);
// Creates a new sparse file of `bytes` (fails if it exists).
Status CreateSparseFile(const std::string& path, off_t bytes = kDiskBytes);

// /sbin/<name> (or /usr/sbin/<name>) with `args`, bounded by `timeout`.
sys::Command ZfsTool(const std::string& name, std::vector<std::string> args,
                     std::chrono::milliseconds timeout = std::chrono::seconds(60));
// Is `pool` imported (`zpool list POOL` succeeds)?
bool PoolImported(sys::ProcessRunner& runner, const std::string& pool);
// Runs `command` to a successful exit: its stdout, else an error naming the
// command, how it ended and its stderr.
Result<std::string> RunOk(sys::ProcessRunner& runner, const sys::Command& command);

// Runs the real `poolkeeper` binary against one daemon's socket.
class CliClient {
 public:
  CliClient() = default;
  CliClient(sys::ProcessRunner* runner, std::string binary, std::string socket)
      : runner_(runner), binary_(std::move(binary)), socket_(std::move(socket)) {}

  // POOLKEEPER_SOCKET is `socket` if given, else the client's socket.
  CliResult Run(std::vector<std::string> args, std::optional<std::string> socket = std::nullopt) const;
  // As Run, with `stdin_data` on the CLI's stdin (secrets, passwords).
  CliResult RunWithStdin(std::vector<std::string> args, std::optional<std::string> stdin_data,
                         std::optional<std::string> socket = std::nullopt) const;
  // Runs with --json first and parses stdout; a non-zero exit or bad JSON fails
  // the current test (EXPECT) and gives an empty object.
  nlohmann::json Json(std::vector<std::string> args) const;
  // Runs with --json first and parses stdout as one JSON value a line (what
  // `events --json` prints); a non-zero exit or a bad line fails the test (EXPECT).
  std::vector<nlohmann::json> JsonLines(std::vector<std::string> args) const;

  const std::string& socket() const { return socket_; }

 private:
  sys::ProcessRunner* runner_ = nullptr;
  std::string binary_;
  std::string socket_;
};

struct PoolkeeperdOptions {
  std::string binary;      // poolkeeperd
  std::string config;      // --config FILE; empty: none
  std::string state_dir;   // --state-dir
  std::string socket;      // --socket
  std::string log_path;    // stderr goes here (truncated at each spawn)
  std::string log_level = "debug";
  int refresh_interval_seconds = 3600;
};

// One poolkeeperd process. The destructor SIGKILLs a daemon still running, so
// a failed assertion never leaves one behind.
class Poolkeeperd {
 public:
  Poolkeeperd() = default;
  Poolkeeperd(const Poolkeeperd&) = delete;
  Poolkeeperd& operator=(const Poolkeeperd&) = delete;
  ~Poolkeeperd();

  // Starts the daemon (its log truncated) and returns without waiting.
  Status Spawn(const PoolkeeperdOptions& options);
  // Waits (bounded) for the "poolkeeperd ready" line in its log.
  Status WaitReady(std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // Spawn + WaitReady.
  Status Start(const PoolkeeperdOptions& options);
  // SIGTERM, then waits up to 20 s; a daemon that does not exit (it is then
  // SIGKILLed) or exits uncleanly fails the current test.
  void Stop();
  // SIGKILL and reap: a crash as far as the daemon can tell.
  void Kill();

  bool running() const { return process_ != nullptr; }
  pid_t pid() const { return process_ ? process_->pid() : -1; }
  // When Spawn() started the process (steady clock, just before the launch).
  std::chrono::steady_clock::time_point spawned_at() const { return spawned_at_; }

 private:
  std::unique_ptr<sys::DaemonLauncher> launcher_ = sys::MakePosixDaemonLauncher();
  std::unique_ptr<sys::ServerProcess> process_;
  std::string log_path_;
  std::chrono::steady_clock::time_point spawned_at_;
};

// A single-disk pool of the lab for one suite: its disk file in
// LAB/disks/NAME/, its mountpoint LAB/mnt/NAME.
struct LabPool {
  std::string name;
  std::string disk_dir;
  std::string disk;
  std::string mnt;
};
// Creates the disk file and the pool (`zpool create -m MNT NAME DISK`);
// *out is filled first, so whatever was made is left for DestroyLabPool.
Status CreateLabPool(sys::ProcessRunner& runner, const std::string& lab, const std::string& name, LabPool* out,
                     off_t bytes = kDiskBytes);
// Destroys the pool if imported (retrying while zfs-fuse says busy), then
// removes its disk and mountpoint directories (never those of a pool still imported).
Status DestroyLabPool(sys::ProcessRunner& runner, const LabPool& pool);
// Mount points whose topmost mount is a shadow layer (fuse.pkshadow), below `prefix`.
std::vector<std::string> ShadowMounts(const std::string& prefix);
// Every mount (any type) at or below `prefix`: "MOUNTPOINT TYPE" (the mount listing).
std::vector<std::string> MountsBelow(const std::string& prefix);
// Live processes other than this one whose command line mentions `needle`,
// as "PID: ARGV" (the process listing; zombies left out).
std::vector<std::string> ProcessesMentioning(const std::string& needle);
// Mountpoint protection (issue 18 item 5): whether `dir` carries the
// immutable attribute, and clearing it (true when cleared, not set or absent).
bool Immutable(const std::string& dir);
bool ClearImmutable(const std::string& dir);

// Polls `what` (a CLI command, run with --json) every 100 ms until `done`
// holds of its answer, at most `limit`; the last answer (a timeout fails the
// current test, naming the command and that answer).
nlohmann::json WaitForJson(const CliClient& cli, const std::vector<std::string>& what,
                           const std::function<bool(const nlohmann::json&)>& done,
                           std::chrono::milliseconds limit = std::chrono::seconds(60));

// `poolkeeper pool adopt POOL --yes` (issue 17 item 6): a pool the test made
// with zpool/zfs is this head's from now on. The error carries the CLI's answer.
Status AdoptPool(const CliClient& cli, const std::string& pool);

// Creates each directory (with parents); the error names which and why.
Status MakeDirectories(const std::vector<std::string>& dirs);
// A fresh "PARENT/PREFIX-daemon-XXXXXX" directory for a suite's daemon.
Result<std::string> MakeWorkDir(const std::string& parent, const std::string& prefix);

// A suite's daemon: state dir, socket (work/run/pk.sock) and log
// (work/poolkeeperd.log) inside `work`, debug logging, no periodic refresh.
PoolkeeperdOptions SuiteDaemonOptions(const std::string& build_dir, const std::string& work);
// Starts it; the error is what went wrong followed by the daemon's log.
Status StartSuitePoolkeeperd(Poolkeeperd& daemon, const PoolkeeperdOptions& options);
// After a suite: removes `work` when every test passed; otherwise keeps it and
// prints the end of the daemon's log (`scripts/lab down` removes the lab directory).
void KeepWorkIfFailed(const std::string& work, const std::string& log_path);

}  // namespace pk::e2e
