// cluster::CibConfig: the part of Pacemaker's configuration (`cibadmin
// --query --scope configuration`) the cluster commands decide on: pool
// groups with their floating IPs and preferred head, location constraints,
// fence devices, cluster properties. And the XML the commands add: a pool's
// group (ocf:poolkeeper:pool, then one ocf:heartbeat:IPaddr2 per VIP: a
// group starts its members in order and stops them in reverse, so the IPs
// come up after the pool and go down before it), a location preference, a
// fence device and its "never on the head it fences" constraint.
// Thread-safety: plain values and pure functions.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "cluster/names.h"
#include "zfs/names.h"

namespace pk::cluster {

struct CibPool {
  std::string group;      // "pool-tank" ("" for a bare primitive outside a group)
  std::string primitive;  // the ocf:poolkeeper:pool resource
  std::string pool;
  std::vector<std::string> vips;  // "ADDR/PREFIX" of its IPaddr2 members
  std::vector<std::string> vip_resources;  // their resource ids, in the same order
  std::string preferred_head;     // from its positive location constraint, "" if none
  // The id to move, ban or stop: the group when there is one.
  const std::string& resource() const { return group.empty() ? primitive : group; }
};

struct CibLocation {
  std::string id, rsc, node, score;
};

struct CibFenceDevice {
  std::string id, agent, host_list, delay_base;  // delay_base: pcmk_delay_base, "" if none
};

struct CibConfig {
  std::vector<CibPool> pools;
  std::vector<CibLocation> locations;
  std::vector<CibFenceDevice> fence_devices;
  // IPaddr2 addresses of every resource (pools' or not) -> resource id.
  std::map<std::string, std::string> ip_owners;
  std::vector<std::string> resource_ids;  // every primitive and group id

  const CibPool* FindPool(std::string_view pool) const;
  bool HasId(std::string_view id) const;
};

// Parses `cibadmin --query --scope configuration` (or the whole CIB).
Result<CibConfig> ParseCibConfig(std::string_view xml);

// The configuration section without what changes by itself (the CIB's
// version attributes, dc-version and similar cluster-infrastructure
// properties): two equal results mean nobody changed the configuration.
std::string StableConfiguration(std::string_view cib_xml);

// XML-escapes an attribute value.
std::string XmlEscape(std::string_view s);

// The resource id of a pool's group ("pool-NAME"); InvalidArgument when the
// pool's name has characters an XML id cannot hold (':' or ' ').
Result<std::string> PoolGroupId(const zfs::PoolName& pool);

struct PoolGroupSpec {
  zfs::PoolName pool;
  std::vector<Vip> vips;
  std::vector<std::string> search_dirs;  // the agent's search_dirs, may be empty
  std::string nic;                       // IPaddr2's nic, "" to let it find one
};
Result<std::string> PoolGroupXml(const PoolGroupSpec& spec);
// A location preference of `rsc` for `head` (score 50, below the resource
// stickiness 100 that init sets: a pool does not return by itself once moved).
std::string PreferenceXml(const std::string& rsc, const HeadName& head);
std::string PreferenceId(const std::string& rsc, const HeadName& head);

struct FenceDeviceSpec {
  HeadName target;
  std::string agent;  // "fence_ipmilan", "fence_pkha"
  std::vector<std::pair<std::string, std::string>> params;  // agent parameters (ip, username, ...)
  int delay_seconds = 0;  // pcmk_delay_base; 0: none
};
std::string FenceDeviceId(const HeadName& target);
std::string FenceDeviceXml(const FenceDeviceSpec& spec);
// -INFINITY for the device on the head it fences.
std::string FenceNotSelfXml(const HeadName& target);

}  // namespace pk::cluster
