// supervisor::Supervisor: every managed pool is a supervised service with an
// explicit state and a reason (issue 3). It imports pools at start in
// dependency order (independent pools in parallel), honours the skip switch,
// the start delay and the crash-loop lock, mounts parents before children,
// exports dependents before what they depend on, watches health, and records
// every state change in the event log.
//
// Threading (STYLE rule 7): all service state belongs to one loop thread (a
// pk::EventLoop). Public methods post a task to it and wait for its answer;
// long work (import, mount, export, health checks) runs on its workers, bounded by
// the ProcessRunner timeouts of the pool's policy, and posts its outcome back.
// So a hanging `zpool import` of one pool never blocks the API or other pools.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "base/event_loop.h"
#include "events/event_log.h"
#include "supervisor/graph.h"
#include "supervisor/policy.h"
#include "sys/mountpoints.h"
#include "sys/process_runner.h"
#include "zfs/zfs.h"

namespace pk::supervisor {

enum class State {
  kDisabled,   // not managed at boot
  kSkipped,    // skip switch set
  kWaiting,    // start delay counting down, or waiting for a dependency
  kImporting,
  kMounting,
  kSharing,
  kOnline,
  kDegraded,   // imported, pool health DEGRADED
  kStopping,
  kExported,
  kFailed,     // with the tool's error
  kLocked,     // crash-loop lock found
  kStarting,   // exec resources: start (and check) command running
  kStopped,    // exec resources: stopped, or never started
};
std::string_view StateName(State state);

struct ServiceStatus {
  std::string resource;  // "pool:tank"
  std::string pool;
  State state = State::kDisabled;
  std::string reason;
  std::chrono::system_clock::time_point since;
  std::optional<std::chrono::system_clock::time_point> start_at;  // kWaiting on a delay
  std::string health;    // last pool health seen while imported
  PoolPolicy policy;     // pool services
  std::optional<ExecPolicy> exec;  // exec resources (then `pool` is empty)
};

// Makes an adapter whose tool runs are limited to `timeout` (per-pool policy).
using ZfsFactory = std::function<std::unique_ptr<zfs::Zfs>(std::chrono::milliseconds timeout)>;

struct SupervisorOptions {
  std::chrono::milliseconds health_period{std::chrono::seconds(10)};
  std::chrono::milliseconds health_timeout{std::chrono::seconds(20)};
  // Event times, the start delay and the health period (tests: testing::FakeClock).
  Clock* clock = &RealClock();
  int pid = 0;  // written into lock records
  // Limit of an import or export of a pool without a service (ImportPool, ExportPool).
  std::chrono::milliseconds tool_timeout{std::chrono::minutes(5)};
  // Runs the commands of exec resources; without one, adding them is refused.
  sys::ProcessRunner* runner = nullptr;
  // Called (on a worker, loop or caller thread) after a pool was imported, mounted or exported.
  std::function<void(const std::string& pool)> on_pool_changed;
  // The sharing phase (issue 4), run on worker threads. `serve_shares` runs
  // after the pool's filesystems are mounted and returns the problems (one
  // reason per share not served): they degrade the pool's service, never fail
  // it. `unserve_shares` runs before an export; its failure is logged and the
  // export goes on. Without them the phase only notes that no shares are served.
  std::function<Result<std::vector<std::string>>(const zfs::PoolName& pool)> serve_shares;
  std::function<Status(const zfs::PoolName& pool)> unserve_shares;
  // Run before the sharing phase of a pool whose policy says `cluster`: marks
  // it adopted (supervisor::Ownership) unless it is already. Its failure is a
  // problem of the pool (degraded), and the pool's shares stay held.
  std::function<Status(const zfs::PoolName& pool)> adopt_cluster_pool;
  // Mountpoint protection (issue 18 item 5): with a file system here, the
  // pool's remembered mountpoint directories (policy.known_mountpoints) are
  // made immutable once its export succeeded (those that exist and are
  // empty; the others are logged and left alone) and made writable again
  // before its import, so nothing writes into the root file system under an
  // absent pool. Without one (unit tests), nothing is protected.
  sys::MountpointGuard* mountpoints = nullptr;
};

class Supervisor {
 public:
  Supervisor(ZfsFactory zfs, PolicyStore& store, events::EventLog& events, SupervisorOptions options);
  ~Supervisor();

  // Loads policies and lock records, sets each service's first state and
  // starts every enabled pool, without waiting for any of it.
  Status Start();
  // Stops the loop; waits for operations in flight (bounded by their timeouts).
  // Pools are left as they are: a daemon restart does not export them.
  void Stop();

  std::vector<ServiceStatus> List();
  Result<ServiceStatus> Get(const std::string& pool);
  // Whether each remembered mountpoint directory of `pool` (a managed pool)
  // is protected now: "PATH: protected (immutable, empty)", "PATH: not
  // protected (...)"; absent directories are left out (issue 18 item 5).
  std::vector<std::string> MountpointProtection(const std::string& pool);

  // Manages `policy.pool` (new or updated policy) and starts it. A dependency
  // cycle is refused with the cycle named; nothing is saved then.
  Status Enable(PoolPolicy policy);
  // No longer imported at start; a pool that is imported stays imported.
  Status Disable(const zfs::PoolName& pool);
  // Force::kYes imports with -f, this start only, and only when the policy's
  // force is if_fenced: the caller (the cluster's OCF agent) asserts that the
  // pool's previous owner was fenced. It is refused for any other policy.
  Status StartService(const zfs::PoolName& pool, zfs::Force force = zfs::Force::kNo);
  // Stops what depends on the pool first, then exports it.
  Status StopService(const zfs::PoolName& pool);
  Status RestartService(const zfs::PoolName& pool);

  // Every import and export asked for from outside (the API) comes here, so a
  // pool's life has one owner (issue 19 item 1). A managed pool goes through
  // its service exactly as `service start`/`stop` does (lock record, mount
  // phase, shares, states and events; dependents stop first), and the call
  // waits for the outcome: the service shows the export at once, with the
  // reason. A pool without a service is imported or exported on the caller's
  // thread with the same steps around it (serve_shares after an import
  // that mounts, unserve_shares before an export, on_pool_changed after).
  // `options.force` is the caller's word, used for this import only. A
  // managed pool cannot be imported under a new name or unmounted (refused).
  // Returns the imported pool's name (looked up when imported by GUID).
  Result<std::string> ImportPool(const zfs::ImportOptions& options);
  Status ExportPool(const zfs::PoolName& pool, zfs::Force force);
  // True once the shares of the pools imported without a service at Start()
  // (by hand, or before this daemon started) were served.
  bool UnmanagedServed() const { return unmanaged_served_.load(); }

  Status Skip(const zfs::PoolName& pool);
  Status Unskip(const zfs::PoolName& pool);
  Status SetDelay(const zfs::PoolName& pool, int seconds);
  Status Unlock(const zfs::PoolName& pool);

  // The shares of `pool` changed outside the sharing phase (created, changed,
  // deleted, or a server failed): `problems` as for serve_shares. Does not wait.
  void ReportShares(const std::string& pool, std::vector<std::string> problems);
  // The migrations of `pool` that do not run because the pool is held (not
  // adopted here; issue 17 item 6), with reasons; empty when none is held.
  // Listed in the service's reason like share problems. Does not wait.
  void ReportMigrations(const std::string& pool, std::vector<std::string> problems);

  // Exec resources ("exec:NAME"): added (or updated) and started; removed only
  // when stopped. A cycle through them is refused like one between pools.
  Status AddExec(ExecPolicy exec);
  Status RemoveExec(const std::string& name);
  Status StartExec(const std::string& name);
  Status StopExec(const std::string& name);

 private:
  enum class Direction { kUp, kDown };
  struct Waiter {
    Direction direction;  // kUp: until serving; kDown: until exported
    std::shared_ptr<std::promise<Status>> outcome;
  };
  // How a start treats a pool that is not imported.
  enum class ImportMode { kImport, kAdoptOnly };
  struct Service {
    ServiceStatus status;
    // A pool service's name, parsed once when the service is made (issue 19
    // item 5; every pool service has one); its workers get it typed. Empty
    // for exec resources.
    std::optional<zfs::PoolName> name;
    bool want_up = false;     // start requested and not cancelled
    bool busy = false;        // an operation runs on a worker thread
    bool restart = false;     // start again once stopped
    // When the start delay ends, on the steady clock: status.start_at is the
    // same moment on the injected wall clock, for display only, so a frozen or
    // stepped wall clock cannot keep a pool waiting.
    std::optional<std::chrono::steady_clock::time_point> start_deadline;
    std::vector<std::string> share_problems;  // shares of the pool not served, with reasons
    std::vector<std::string> migration_problems;  // migrations of the pool held, with reasons
    zfs::Force force_next_import = zfs::Force::kNo;  // asserted fenced by StartService, used once
    // kAdoptOnly: a cluster pool at daemon start: served if imported, never imported.
    ImportMode import_mode = ImportMode::kImport;
    zfs::Force force_next_export = zfs::Force::kNo;  // ExportPool's force, used by the next export
    std::string export_reason;  // the exported state's reason for the next export ("exported" when empty)
    std::optional<Error> last_error;  // of the last failed import or export, for waiters
    std::vector<Waiter> waiters;  // ImportPool/ExportPool callers waiting for this service
  };
  // Loop-thread logic.
  Service* Find(const std::string& pool);
  Result<Service*> Managed(const zfs::PoolName& pool);
  void SetState(Service& s, State state, std::string reason);
  // Answers the waiters whose outcome the service's state now settles.
  void AnswerWaiters(Service& s);
  // Waits for `s` to come up or go down (loop thread: registers; the caller waits on the future).
  Result<std::shared_future<Status>> WantAndWait(Service& s, Direction direction);
  // Pools in `policies`, every exec resource (with `extra` added or replacing
  // its namesake), their edges and the nested-pool edges; cycles refused.
  Result<DependencyGraph> BuildGraph(const std::vector<PoolPolicy>& policies, const ExecPolicy* extra = nullptr) const;
  Service* FindResource(const std::string& id);
  Result<Service*> ManagedExec(const std::string& name);
  void AdvanceExecUp(Service& s);
  // True when every direct dependency serves; otherwise `s` waits, saying for what.
  bool DependenciesServing(Service& s, const DependencyGraph& graph);
  void ProtectMountpoints(const PoolPolicy& policy);
  void UnprotectMountpoints(const PoolPolicy& policy);
  void RunExecStart(ExecPolicy exec);
  void RunExecStop(ExecPolicy exec);
  // Back on the loop thread: `done` (online or stopped) with `reason`, or failed.
  void FinishExec(const std::string& name, Status outcome, State done, std::string reason);
  Result<sys::ProcessResult> RunArgv(const std::vector<std::string>& argv, int timeout_seconds, const std::string& what);
  std::vector<PoolPolicy> Policies() const;
  void Advance();               // moves every service towards what is wanted
  void AdvanceUp(Service& s, const DependencyGraph& graph);
  void AdvanceDown(Service& s, const DependencyGraph& graph);
  // Asks for `s` (and what it needs, or what needs it) to come up or go down, then advances.
  Status Want(Service& s, Direction direction);
  void RequestUp(Service& s, const DependencyGraph& graph);
  void RequestDown(Service& s, const DependencyGraph& graph);
  void ScheduleHealth();
  void ApplyHealth(const std::vector<zfs::PoolSummary>& pools);
  // Online, or degraded by the pool's health or by shares not served.
  void SettleServing(Service& s, std::string online_reason);
  Status SavePolicy(Service& s);

  // Worker-thread work.
  void RunImport(zfs::PoolName pool, PoolPolicy policy, zfs::Force force, ImportMode mode);
  void RunExport(zfs::PoolName pool, PoolPolicy policy, zfs::Force force, std::string reason);
  // A pool without a service: imported or exported here, with the steps around it.
  Result<std::string> ImportUnmanaged(const zfs::ImportOptions& options);
  Status ExportUnmanaged(const zfs::PoolName& pool, zfs::Force force);
  void ServeUnmanaged(std::set<std::string> managed);
  Result<std::string> MountAll(zfs::Zfs& zfs, const PoolPolicy& policy, std::vector<std::string>& mountpoints);

  ZfsFactory zfs_factory_;
  PolicyStore& store_;
  events::EventLog& events_;
  SupervisorOptions options_;

  std::map<std::string, Service> services_;  // pools by name; loop thread only
  std::map<std::string, Service> execs_;     // exec resources by name; loop thread only
  bool health_in_flight_ = false;            // loop thread only
  std::atomic<bool> unmanaged_served_{false};

  Clock& clock_;
  EventLoop loop_;  // last: stopped (workers joined) before the rest goes
};

}  // namespace pk::supervisor
