// supervisor::Ownership: which imported pools belong to this head or its cluster
// (issue 17 item 6). A pool made elsewhere is hostile input until adopted
// (BRIEF.md, "Who is trusted"): its shares and migrations are held, never
// served, until root adopts it here (`poolkeeper pool adopt NAME --yes`).
//
// "Belongs" cannot be forged by whoever crafted the pool: an adopted pool's
// root dataset carries `org.poolkeeper:adopted` = "v1:" + hex(HMAC-SHA256(K,
// "pool-guid:" + the pool's GUID)), set locally. K is the cluster key when this
// head is in a cluster (HMAC-SHA256 of the corosync authkey, which only the
// heads have and `cluster join` distributes), else this head's own key
// (<state_dir>/adoption.key, 0600, random). Either key verifies, so a pool
// adopted in a cluster moves between its heads without re-adoption, a pool
// adopted on a single head stays adopted there, and a pool crafted elsewhere
// (or copied with its property onto another pool) does not verify: the MAC
// binds the pool's GUID, and the keys never leave the heads.
//
// Upgrade: the first start that creates adoption.key records the pools then
// named in pools.json (services the admin already runs); each is adopted
// (signed) the first time it is checked while imported, once.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/error.h"
#include "sys/files.h"
#include "zfs/zfs.h"

namespace pk::supervisor {

inline constexpr char kAdoptedProperty[] = "org.poolkeeper:adopted";

// The reason shown wherever a held pool's shares or migrations are listed.
std::string HeldReason(const std::string& pool);

// The mark of a pool with `guid` under `key` ("v1:" + 64 hex digits).
std::string AdoptionMark(const std::string& key, uint64_t guid);
// The cluster key derived from the corosync authkey's bytes.
std::string ClusterAdoptionKey(const std::string& authkey);
// True when `mark` is the mark of `guid` under one of `keys` (constant-time compare).
bool MarkVerifies(const std::vector<std::string>& keys, uint64_t guid, const std::string& mark);

struct OwnershipOptions {
  std::string state_dir;                                 // adoption.key, adopt-on-upgrade.json
  std::string corosync_authkey = "/etc/corosync/authkey";  // absent: no cluster key
};

class Ownership {
 public:
  Ownership(zfs::Zfs& zfs, sys::FileSystem& fs, OwnershipOptions options)
      : zfs_(zfs), fs_(fs), options_(std::move(options)) {}

  // Creates this head's key when absent; then (first start only) records
  // `managed_pools` as adopted on upgrade.
  Status Init(const std::vector<std::string>& managed_pools);

  // Whether the imported `pool` verifies under this head's or cluster's key.
  Result<bool> IsAdopted(const zfs::PoolName& pool);
  // The same from what is already known of the pool (its GUID and its root
  // dataset with kAdoptedProperty, e.g. from the inventory): no tool runs.
  // False when the keys cannot be read.
  bool Verifies(uint64_t guid, const zfs::Dataset& root);
  // nullopt when `pool` may be served; else the reason it is held (or why
  // ownership could not be checked: then it is held too).
  std::optional<std::string> Held(const std::string& pool);
  // Marks the imported `pool` as this head's (cluster's, when clustered).
  Status Adopt(const zfs::PoolName& pool);

 private:
  Result<uint64_t> PoolGuid(const zfs::PoolName& pool);
  Result<std::vector<std::string>> Keys();
  std::string KeyPath() const { return options_.state_dir + "/adoption.key"; }
  std::string UpgradePath() const { return options_.state_dir + "/adopt-on-upgrade.json"; }

  zfs::Zfs& zfs_;
  sys::FileSystem& fs_;
  OwnershipOptions options_;
  std::mutex mu_;  // serialises the upgrade list's read-modify-write
};

}  // namespace pk::supervisor
