// cluster::PoolAgent: the logic of the OCF resource agent ocf:poolkeeper:pool
// (issue 5). Pacemaker runs the agent on a head to start, stop and monitor one
// pool there; the agent never touches ZFS itself but drives the head's own
// poolkeeperd through its pool-service API (PoolControl below), so service
// states, events and the API stay true on every head, and shares are served
// after the import and removed before the export by the supervisor as usual.
//
//   start    enable the pool's service (policy from the agent's parameters)
//            and wait until it serves. The import is never forced at first;
//            only when it is refused because another system used the pool last,
//            force_import=if_fenced is set and the cluster has fencing enabled
//            (asked of Pacemaker while the import runs, so that the answer is
//            there when it is needed) is it retried once with -f: Pacemaker
//            starts a resource on a head only after it stopped it elsewhere or
//            fenced its previous owner,
//            and a clean stop exports, so a pool still marked in use by another
//            head means that head was fenced.
//   stop     stop the service (shares, then export) and disable it, so the head
//            never imports the pool at its next boot. If the clean export has
//            not finished by half the operation's time or has failed, a forced
//            export; if that fails too, OCF_ERR_GENERIC before the timeout, so
//            Pacemaker fences the head. A pool imported here but not managed by
//            the daemon gets a clean export through the pool API first.
//   monitor  the service state and the pool's presence in the daemon's cached
//            view; never runs a tool, so a stuck pool cannot block it.
//            SUSPENDED/FAULTED/UNAVAIL health and failed services are failures;
//            a pool not imported here is OCF_NOT_RUNNING.
//
// Every wait is bounded by the operation's timeout (OCF_RESKEY_CRM_meta_timeout)
// minus a margin, on an injected clock. Waits for a state change are long
// polls of the daemon's event log, so the agent reacts within milliseconds
// (a start or stop ends as soon as the service is online or exported); with a
// daemon that cannot be long-polled, the agent polls every kPoll.
//
// Thread-safety: one PoolAgent per agent run, used from one thread; Start()
// calls ClusterFacts::FencingEnabled on a second thread (std::async), joined
// before it returns, while its own thread talks only to the PoolControl.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/error.h"
#include "cluster/crm_mon.h"
#include "zfs/names.h"
#include "zfs/types.h"

namespace pk::cluster {

// OCF exit codes (OCF resource agent API 1.1).
enum class OcfCode : int {
  kSuccess = 0,
  kErrGeneric = 1,
  kErrArgs = 2,
  kErrUnimplemented = 3,
  kErrPerm = 4,
  kErrInstalled = 5,
  kErrConfigured = 6,
  kNotRunning = 7,
};
std::string_view OcfCodeName(OcfCode code);

struct AgentOutcome {
  OcfCode code = OcfCode::kSuccess;
  std::string message;  // for the log (stderr); names the pool and the cause
};

enum class ForceImportParam { kNever, kIfFenced };

// The agent's parameters, from OCF_RESKEY_* (validate-all checks them).
struct PoolAgentParams {
  zfs::PoolName pool;
  std::vector<std::string> search_dirs;  // OCF_RESKEY_search_dirs, ':'-separated absolute dirs
  ForceImportParam force_import = ForceImportParam::kIfFenced;
  int export_timeout_seconds = 20;       // the supervisor's clean export
  std::string socket = "/run/poolkeeper/poolkeeperd.sock";
  std::chrono::milliseconds op_timeout{std::chrono::seconds(60)};  // OCF_RESKEY_CRM_meta_timeout

  // `env` holds the agent's environment (OCF_RESKEY_pool, ...). Errors are
  // InvalidArgument naming the parameter.
  static Result<PoolAgentParams> FromEnvironment(const std::map<std::string, std::string>& env);
  // The body of `POST /v1/services/{pool}?action=enable`.
  nlohmann::json PolicyJson() const;
};

// What the agent sees of a pool service (GET /v1/services/{pool}).
struct ServiceView {
  std::string state;   // supervisor::StateName: "online", "failed", ...
  std::string reason;
  std::string health;  // last pool health seen while imported
};

// The local poolkeeperd, as the agent uses it. Errors carry the daemon's code:
// NotFound for a pool it does not manage, Unavailable when it cannot be reached.
class PoolControl {
 public:
  virtual ~PoolControl() = default;
  virtual Result<ServiceView> Service(const zfs::PoolName& pool) = 0;
  // Whether the pool is imported on this head, from the daemon's cached view.
  virtual Result<bool> Imported(const zfs::PoolName& pool) = 0;
  virtual Status Enable(const zfs::PoolName& pool, const nlohmann::json& policy) = 0;
  virtual Status Start(const zfs::PoolName& pool, zfs::Force force) = 0;
  virtual Status Stop(const zfs::PoolName& pool) = 0;
  virtual Status Disable(const zfs::PoolName& pool) = 0;
  // The pool API's export (shares of the pool stop first), bounded by `timeout`.
  virtual Status Export(const zfs::PoolName& pool, zfs::Force force, std::chrono::milliseconds timeout) = 0;
  // The daemon's event log, which gets an event at every service state
  // change: the newest event's seq, and a long poll that returns the newest
  // seq once there is an event after `after_seq`, or after at most
  // kEventWait. The agent waits on these instead of polling the service.
  virtual Result<uint64_t> LastEventSeq() = 0;
  virtual Result<uint64_t> WaitForEvent(uint64_t after_seq) = 0;
  static constexpr std::chrono::milliseconds kEventWait{1000};
};

// What the agent needs to know of the cluster.
class ClusterFacts {
 public:
  virtual ~ClusterFacts() = default;
  // Pacemaker's stonith-enabled (true when unset).
  virtual Result<bool> FencingEnabled() = 0;
  // crm_mon's view: stonith-enabled, the heads (online, unclean) and the
  // fencing history; what a forced import must be proven by (issue 17 item 7).
  virtual Result<ClusterStatus> Status() = 0;
  // This head's name as Pacemaker and the pool labels know it (the node
  // name up to the first '.').
  virtual std::string LocalHead() = 0;
  // This head's hostid as ZFS writes it into labels ("0x504b0001"); "" when
  // it has none of its own (no /etc/hostid).
  virtual std::string LocalHostId() = 0;
  // Publishes `mine` as this head's hostid (a permanent node attribute,
  // `pk-hostid`) and returns every head's published hostid by head name.
  virtual Result<std::map<std::string, std::string>> ExchangeHostIds(const std::string& mine) = 0;
};


// How a service state maps to a monitor result; `imported` is whether the pool
// is in the daemon's view on this head (which may lag the service just after an
// import: for a serving service the service state decides). Pure: the
// monitor's decision table.
AgentOutcome MapMonitor(const std::string& pool, const ServiceView& service, bool imported);
// True when an import failed because another system used the pool last.
bool ImportRefusedAsInUse(const std::string& reason);

// The system a refused import names as the pool's last user: zfs-fuse "it
// was last accessed by HOST (hostid: 0x...)", OpenZFS "Last accessed by HOST
// (hostid=...)". Host up to the first '.'; hostid as printed, "" if absent.
struct LastImporter {
  std::string host;
  std::string hostid;
};
std::optional<LastImporter> ParseLastImporter(const std::string& refusal);

// Whether an import refused as "in use" may be forced (issue 17 item 7).
// Only when the cluster fences, the refusal names the last importer, that
// importer is a head of this cluster other than `self`, Pacemaker shows it
// neither online nor unclean (lost, not fenced yet), and its fencing history
// has a successful fencing of it. Otherwise not, and `why` says which proof
// is missing. Pure: the decision table, unit-tested branch by branch.
struct ForceDecision {
  bool force = false;
  std::string why;  // the proof, or what is missing
};
ForceDecision DecideForcedImport(const std::string& refusal, const ClusterStatus& cluster, const std::string& self);

// Heads cloned from one image keep one hostid; ZFS labels and multihost then
// cannot tell them apart (MMP lets the twin import a pool in use, and a
// forced import's proof names the wrong head). The head other than `self`
// that published `hostid` too, if any (issue 17 item 7). Pure.
std::optional<std::string> HostIdTwin(const std::string& self, const std::string& hostid,
                                      const std::map<std::string, std::string>& published);

class PoolAgent {
 public:
  PoolAgent(PoolAgentParams params, PoolControl& daemon, ClusterFacts& cluster, Clock& clock)
      : params_(std::move(params)), daemon_(daemon), cluster_(cluster), clock_(clock) {}

  AgentOutcome Start();
  AgentOutcome Stop();
  AgentOutcome Monitor();

  // Polling period while waiting for the daemon when its events cannot be
  // long-polled (and while it does not answer at all).
  static constexpr std::chrono::milliseconds kPoll{200};

 private:
  // The end of this operation's time, less a margin to report before Pacemaker's own timeout.
  std::chrono::steady_clock::time_point Deadline() const;
  // Service(), retried while the daemon is unreachable (it may still be starting) until `deadline`.
  Result<ServiceView> ServiceUntil(std::chrono::steady_clock::time_point deadline);
  // Remembers the daemon's newest event, before the service is read: a change
  // after that read then ends the next AwaitChange at once.
  void MarkEvents();
  // Until the daemon's next event (a long poll) or kPoll, never past `deadline`.
  void AwaitChange(std::chrono::steady_clock::time_point deadline);
  AgentOutcome Fail(OcfCode code, std::string message) const;
  // Publishes this head's hostid and refuses when another head has the same (issue 17 item 7).
  Status RefuseHostIdTwin();

  PoolAgentParams params_;
  PoolControl& daemon_;
  ClusterFacts& cluster_;
  Clock& clock_;  // its steady time: deadlines and polling waits
  std::chrono::steady_clock::time_point started_ = clock_.SteadyNow();
  std::optional<uint64_t> event_seq_;  // set by MarkEvents while the daemon's events can be read
};

// The agent's meta-data XML (OCF 1.1).
std::string PoolAgentMetadata();

}  // namespace pk::cluster
