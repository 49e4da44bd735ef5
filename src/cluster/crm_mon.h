// cluster::ClusterStatus: what `poolkeeper cluster status` shows (heads,
// quorum, fencing, each pool's owner, state and last failure), parsed from
// `crm_mon -1 --output-as=xml --fence-history=2` plus `cibadmin --query
// --scope configuration` (crm_mon does not print instance attributes or
// constraints, so the pool behind each ocf:poolkeeper:pool resource, its
// floating IPs and its preferred head come from the CIB).
// Golden files: tests/data/pacemaker/. Thread-safety: plain values.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"

namespace pk::cluster {

struct HeadStatus {
  std::string name;
  bool online = false;
  bool standby = false;
  bool maintenance = false;
  bool unclean = false;  // lost and not fenced yet
  bool pending = false;
  bool dc = false;
  int resources_running = 0;
};

struct ResourceFailure {
  std::string resource;
  std::string head;
  std::string task;         // start, stop, monitor
  std::string exit_status;  // "error", "not running", ...
  int exit_code = 0;        // the OCF code
  std::string exit_reason;  // the agent's ocf-exit-reason, often empty
  std::string when;         // "2026-11-22 05:51:09Z"
};

struct PoolStatus {
  std::string resource;             // Pacemaker resource id
  std::string pool;                 // its `pool` parameter
  std::vector<std::string> owners;  // heads it runs on (more than one is a split brain)
  std::string role;                 // Started, Stopped, ...
  bool active = false;
  bool failed = false;
  bool managed = true;
  bool blocked = false;
  std::string group;                // its resource group, "" for a bare primitive
  std::vector<std::string> vips;    // the group's floating IPs, ADDR/PREFIX
  std::string preferred_head;       // from its location preference, "" if none
  std::string moved_to;             // the head a takeover pinned it to (until failback), "" if none
  // The newest failed action of the pool or of its group's IPs.
  std::optional<ResourceFailure> last_failure;
};

struct FenceDevice {
  std::string id;
  std::string agent;       // "stonith:fence_pkha"
  std::string targets;     // pcmk_host_list
  std::string running_on;  // "" when stopped
};

struct FenceEvent {
  std::string action;  // reboot, off
  std::string target;
  std::string by;      // the head that fenced (delegate)
  std::string status;  // success, failed, pending
  std::string completed;
};

struct ClusterStatus {
  std::string pacemakerd;   // "running", ...
  std::string dc;           // "" without a DC
  bool quorum = false;
  bool fencing_enabled = false;  // stonith-enabled
  bool maintenance = false;      // maintenance-mode
  std::vector<HeadStatus> heads;
  std::vector<PoolStatus> pools;
  std::vector<FenceDevice> fence_devices;
  std::vector<FenceEvent> fence_history;  // newest first, as crm_mon lists them
  std::vector<ResourceFailure> failures;  // every failed action, duplicates removed

  nlohmann::json ToJson() const;
};

// `cib_xml` is the CIB's configuration section (or its resources section
// only: then no preferences). InvalidArgument naming which document and what
// is wrong.
Result<ClusterStatus> ParseClusterStatus(std::string_view crm_mon_xml, std::string_view cib_xml);

}  // namespace pk::cluster
