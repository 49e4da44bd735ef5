// cluster::ClusterAdmin: the `poolkeeper cluster` commands that change the
// cluster (init, join, fence add, pool add/remove, takeover, failback,
// standby, unstandby, maintenance), over Pacemaker's and Corosync's own
// tools (cibadmin, crm_resource, crm_attribute, corosync-keygen,
// corosync-cfgtool; no pcs or crmsh) run by the ProcessRunner, the head's
// files (FileSystem) and facts (HeadEnvironment).
//
// Contract of every command: the input and the cluster's state are checked
// first (names, VIPs, quorum, the heads involved), and a refusal changes
// nothing; then the change is made, rolled back where a later step fails,
// and the command waits (bounded by `wait`) until Pacemaker has carried it
// out. The result lists what changed, one line each, for the admin.
// Thread-safety: one command at a time.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "cluster/cib.h"
#include "cluster/corosync_conf.h"
#include "cluster/crm_mon.h"
#include "cluster/head_env.h"
#include "cluster/names.h"
#include "cluster/pacemaker.h"
#include "sys/files.h"
#include "sys/process_runner.h"
#include "zfs/names.h"

namespace pk::cluster {

struct AdminOptions {
  std::string crm_mon = "/usr/sbin/crm_mon";
  std::string cibadmin = "/usr/sbin/cibadmin";
  std::string crm_resource = "/usr/sbin/crm_resource";
  std::string crm_attribute = "/usr/sbin/crm_attribute";
  std::string corosync_keygen = "/usr/sbin/corosync-keygen";
  std::string corosync_cfgtool = "/usr/sbin/corosync-cfgtool";
  std::string systemctl = "/usr/bin/systemctl";
  std::string corosync_dir = "/etc/corosync";
  // The head's hostid (4 bytes, little-endian, as zgenhostid writes it):
  // init and join write one when it is missing or zero, so that every head
  // has a distinct one (OpenZFS multihost, and the last importer a pool's
  // label records; issue 17 item 7).
  std::string hostid_path = "/etc/hostid";
  std::string fence_agent_dir = "/usr/sbin";
  std::chrono::milliseconds tool_timeout{std::chrono::seconds(30)};
  // How long a command waits for Pacemaker to carry out its change.
  std::chrono::milliseconds wait{std::chrono::seconds(120)};
  // Its steady time and sleeps: deadlines and waits for Pacemaker. Tests pass a
  // testing::FakeClock; null: RealClock().
  Clock* clock = nullptr;
};

using Changes = std::vector<std::string>;

struct InitRequest {
  CorosyncSpec spec;
  std::string bundle_path;  // "" = CORSYNC_DIR/poolkeeper-join.json
};

struct FenceAddRequest {
  FenceDeviceSpec device;         // delay_seconds ignored: see delay
  std::optional<int> delay;       // nullopt: the default rule (kDefaultFenceDelaySeconds on the first head's device)
};
constexpr int kDefaultFenceDelaySeconds = 2;
// "PK" in the upper half; the corosync node id in the lower.
constexpr uint32_t kHostidBase = 0x504b0000;

struct PoolAddRequest {
  PoolGroupSpec group;
  std::optional<HeadName> prefer;
  // Whether this head sees the pool (imported here, or importable from the
  // search directories); unset: not checked. NotFound when it does not.
  std::function<Status(const PoolGroupSpec&)> check_pool;
};

class ClusterAdmin {
 public:
  ClusterAdmin(sys::ProcessRunner& runner, sys::FileSystem& fs, HeadEnvironment& env, AdminOptions options = {});

  Result<Changes> Init(const InitRequest& req);
  Result<Changes> Join(const std::string& bundle_path);
  Result<Changes> FenceAdd(const FenceAddRequest& req);
  Result<Changes> PoolAdd(const PoolAddRequest& req);
  Result<Changes> PoolRemove(const zfs::PoolName& pool);
  Result<Changes> Takeover(const zfs::PoolName& pool, const std::optional<HeadName>& to);
  Result<Changes> Failback();
  Result<Changes> Standby(const HeadName& head);
  Result<Changes> Unstandby(const HeadName& head);
  Result<Changes> Maintenance(bool on);

 private:
  Result<std::string> Tool(const std::string& program, std::vector<std::string> args, const std::string& what);
  Result<ClusterStatus> ReadStatus() { return pacemaker_.Status(); }
  Result<CibConfig> Config();
  // Status with quorum, else FailedPrecondition naming `action`.
  Result<ClusterStatus> QuorateStatus(const std::string& action);
  // This head's entry in `spec` (its address is local), or FailedPrecondition.
  Result<CorosyncHead> ThisHead(const CorosyncSpec& spec);
  // FailedPrecondition when corosync is configured (authkey, a cluster's
  // corosync.conf) or running here.
  Status RefuseInitialised(const std::string& action);
  // Writes corosync.conf and the authkey, starts the stack, waits for the CIB.
  Result<Changes> Install(const std::string& conf, const std::string& authkey, const CorosyncHead& me,
                          const CorosyncSpec& spec);
  // Keeps a non-zero hostid; else writes kHostidBase | the head's node id
  // (distinct per head of the cluster by construction). One line for Changes.
  Result<std::string> EnsureHostid(const CorosyncHead& me, const CorosyncSpec& spec);
  // Polls `done` until true or `wait` passes; DeadlineExceeded naming `what`.
  Status WaitFor(const std::function<Result<bool>()>& done, const std::string& what);
  // Whether the pool's primitive and every IP of its group run on `head`
  // (the IPs through `crm_resource --locate`: crm_mon's view is of pools).
  Result<bool> GroupRunsOn(const CibPool& p, const std::string& head);
  // Moves `p` to `to` and waits until it runs there.
  Result<std::string> MoveAndWait(const CibPool& p, const std::string& from, const std::string& to);

  sys::ProcessRunner& runner_;
  sys::FileSystem& fs_;
  HeadEnvironment& env_;
  AdminOptions o_;
  PacemakerFacts pacemaker_;  // reads the cluster's status as `cluster status` and the agent do
};

// Heads a pool may move to: online, not standby, not in maintenance, not unclean.
bool HeadCanRun(const HeadStatus& h);

}  // namespace pk::cluster
