// migrate::Manager: poolkeeperd's side of shadow migration (issue 6).
//
// Everything a migration needs lives in its dataset: the source URI in the
// user property `org.poolkeeper:shadow` (set and removed through zfs::Zfs),
// the progress in the dataset's hidden state directory (see shadow_tree.h).
// The manager only supervises: every few seconds it lists the filesystems
// carrying the property and keeps one `poolkeeper-shadowfs serve` helper
// running for each mounted one, so a migration resumes after a daemon
// restart, a helper crash or a pool export/import (on this head or another).
// A helper that reports completion is answered by removing the property.
//
// Helpers outlive the daemon (issue 18): each is recorded durably (pid,
// start time, command; sys::DaemonLauncher records) as `shadowfs-DATASET`,
// and a poolkeeperd started after a crash adopts the helper still serving a
// dataset instead of starting a second one, so clients of the layer see no
// gap. A helper that crashed by itself leaves a dead FUSE mount, which the
// next helper detaches before mounting anew.
//
// Status comes from the file each helper rewrites every second in
// `runtime_dir` (node-local, a cache: the truth is in the dataset).
//
// Thread-safety: Start/GetStatus/List/Cancel/HoldPool/ReleasePool may be
// called from any thread (API workers); helpers are spawned and reaped on
// the loop thread only.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "sys/process_runner.h"
#include "zfs/names.h"
#include "zfs/zfs.h"

namespace pk::migrate {

// Long-running helper processes (behind an interface so the manager can be
// tested without spawning).
class HelperProcesses {
 public:
  virtual ~HelperProcesses() = default;
  // Starts `argv[0]` with `argv` (absolute path), stdin /dev/null, stdout and
  // stderr appended to `log_path`, in its own process group.
  virtual Result<pid_t> Spawn(const std::vector<std::string>& argv, const std::string& log_path) = 0;
  // Sends `sig` to the helper itself (its threads handle it: libfuse's
  // SIGTERM handler unmounts and ends the loop).
  virtual void Signal(pid_t pid, int sig) = 0;
  // SIGKILLs the helper's whole process group (it leads its own), for one
  // that ignored SIGTERM, with whatever it forked. `pid` is the helper's
  // (as Spawn/Adopt returned it), never a negated group id.
  virtual void KillGroup(pid_t pid) = 0;
  // The exit status once the process ended (reaped), nullopt while it runs.
  virtual std::optional<sys::ExitStatus> Poll(pid_t pid) = 0;
  // As Spawn, recorded durably as `name` where records are kept.
  virtual Result<pid_t> SpawnRecorded(const std::string& name, const std::vector<std::string>& argv,
                                      const std::string& log_path) {
    (void)name;
    return Spawn(argv, log_path);
  }
  // The pid of the helper recorded as `name` that an earlier daemon started
  // with the same `argv` and that still runs (then Signal and Poll work on
  // it); 0 when there is none.
  virtual pid_t Adopt(const std::string& name, const std::vector<std::string>& argv) {
    (void)name;
    (void)argv;
    return 0;
  }
};
// With `record_dir` empty, helpers are neither recorded nor adopted.
std::unique_ptr<HelperProcesses> MakePosixHelperProcesses(std::string record_dir = "");

struct ManagerOptions {
  std::string helper_path;  // poolkeeper-shadowfs (absolute)
  std::string runtime_dir;  // status files and helper logs (node-local)
  // Period of the scan for migrating datasets of pools imported behind the
  // daemon's back (imports through Poolkeeper wake the scan at once).
  std::chrono::milliseconds scan_period{std::chrono::seconds(30)};
  std::chrono::milliseconds stop_timeout{std::chrono::seconds(20)};
  std::chrono::milliseconds restart_delay{std::chrono::seconds(2)};
  int default_concurrency = 4;
  std::string log_level = "info";
  // Why migrations of `pool` may not run (issue 17 item 6: the pool was made
  // elsewhere and is not adopted here), or nullopt. A held pool's migrations
  // get no helper and are listed "held" with the reason; starting one on it
  // is refused. Unset: every pool may run them.
  std::function<std::optional<std::string>(const std::string& pool)> held;
  // Called after a scan for each pool whose held migrations changed: one
  // line per held migration ("migration of 'DS': REASON"), empty once none
  // is held any more (adopted, or the pool gone). The daemon lists them in
  // the pool's service, so `service list` shows a foreign pool with only
  // migrations as held too. Unset: not reported.
  std::function<void(const std::string& pool, std::vector<std::string> held)> on_held;
};

struct StartRequest {
  zfs::DatasetName dataset;
  std::string source;
  int concurrency = 0;   // 0: the default
  uint64_t bwlimit = 0;  // bytes per second, 0: unlimited
  // Keep set-ID bits and create device nodes from the source (default: drop
  // and report them; a source controls owners, modes and device numbers).
  bool preserve_special = false;
};

class Manager {
 public:
  Manager(zfs::Zfs& zfs, sys::ProcessRunner& runner, HelperProcesses& helpers, ManagerOptions options);
  ~Manager();

  // Scans once (adopting or spawning the helpers of migrations found in
  // imported pools), then starts the loop thread.
  void StartLoop();
  // Stops every helper (SIGTERM, then SIGKILL after stop_timeout) and the loop.
  void Stop();

  // Validates (URI, filesystem, mounted, empty, not migrating), prepares the
  // dataset (helper `init`), sets the property, and wakes the loop.
  Result<nlohmann::json> Start(const StartRequest& request);
  // The helper's latest status plus the manager's view; NotFound when the
  // dataset has no migration (and none finished since this daemon started).
  Result<nlohmann::json> GetStatus(const zfs::DatasetName& dataset);
  Result<nlohmann::json> List();
  // Stops the helper, removes markers and state (helper `cancel`) and the property.
  Status Cancel(const zfs::DatasetName& dataset);

  // Before exporting `pool`: stops its helpers (unmounting their layers) and
  // keeps them stopped until ReleasePool.
  Status HoldPool(const std::string& pool);
  void ReleasePool(const std::string& pool);

  // Reaps exited helpers, then one scan (the loop calls it every
  // scan_period; tests call it directly, without StartLoop).
  void ScanOnce();

 private:
  struct Helper {
    std::string dataset, mountpoint;
    pid_t pid = -1;
    bool cancelling = false;
    std::chrono::steady_clock::time_point not_before{};
    std::string last_error;
    int restarts = 0;
  };

  void Loop();
  void Reap();
  void SpawnFor(Helper& h);
  std::string StatusPath(const std::string& dataset) const;
  std::string LogPath(const std::string& dataset) const;
  // SIGTERMs the helpers of `pred` and waits (bounded) until the loop reaped them.
  void StopHelpers(const std::function<bool(const Helper&)>& pred, std::unique_lock<std::mutex>& lock);
  Result<std::string> RunHelper(std::vector<std::string> args, std::chrono::seconds timeout);

  zfs::Zfs& zfs_;
  sys::ProcessRunner& runner_;
  HelperProcesses& helpers_;
  ManagerOptions options_;

  std::mutex mu_;
  std::condition_variable cv_;                    // loop wake-ups and reaps
  std::map<std::string, Helper> running_;         // by dataset; guarded by mu_
  std::set<std::string> held_pools_;              // guarded by mu_
  std::set<std::string> held_datasets_;           // guarded by mu_ (cancel in progress)
  std::map<std::string, nlohmann::json> finished_;  // guarded by mu_
  bool stopping_ = false;                         // guarded by mu_
  bool wake_ = false;                             // guarded by mu_
  std::map<std::string, std::vector<std::string>> reported_held_;  // by pool; the scanning thread only
  std::thread thread_;
};

}  // namespace pk::migrate
