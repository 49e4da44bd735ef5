// supervisor::PoolPolicy and PolicyStore: the node-local import policy and
// switches of each managed pool, kept under the daemon's state directory so
// they survive restarts (BRIEF.md: node-local state lives there; what serves a
// pool lives in the pool).
//
//   <state_dir>/pools.json         every managed pool's policy + switches (skip,
//                                  delay), rewritten atomically on each change
//   <state_dir>/locks/<pool>.json  crash-loop lock: written durably before an
//                                  import starts, removed when it ends either way
//
// Thread-safety: PolicyStore methods may be called from any thread; changes to
// pools.json are serialised by mutex_.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "sys/files.h"
#include "zfs/names.h"

namespace pk::supervisor {

enum class ForceImport { kNever, kIfFenced };

struct PoolPolicy {
  std::string pool;
  bool enabled = true;             // managed: imported when the daemon starts
  bool skip = false;               // never import until cleared (`pool skip`)
  int delay_seconds = 0;           // wait before importing (`pool delay`)
  std::vector<std::string> search_dirs;  // `zpool import -d`; empty: the ZFS default
  std::string cachefile = "none";  // "none" or an absolute path of the pool's own
  std::string altroot;             // empty: none
  bool read_only = false;
  ForceImport force = ForceImport::kNever;
  // Placed by the cluster (the OCF agent sets it): at daemon start the pool is
  // adopted when it is already imported here (a daemon restart), never
  // imported, so a head that crashed and rebooted cannot import a pool the
  // cluster has moved on or not yet fenced for. Explicit starts still import.
  bool cluster = false;
  int import_timeout_seconds = 300;
  int mount_timeout_seconds = 300;   // per filesystem
  int export_timeout_seconds = 300;
  int mount_parallelism = 4;         // filesystems mounted at once (independent subtrees)
  std::vector<std::string> after;    // resource ids this pool starts after ("pool:a")
  std::vector<std::string> known_mountpoints;  // remembered while online, for nested-pool edges

  nlohmann::json ToJson() const;
  // Validates every field; errors name the pool and the field.
  static Result<PoolPolicy> FromJson(const nlohmann::json& j);
  Status Validate() const;
};

// A generic `exec` resource: programs run to start, stop and check something
// that must come up after (or before) pools, e.g. a cache warm-up or an
// application. Each argv runs through sys::ProcessRunner (never a shell) with
// `timeout_seconds` and its own process group.
struct ExecPolicy {
  std::string name;                     // [A-Za-z0-9_.-]+, resource id "exec:NAME"
  std::vector<std::string> start;       // argv, argv[0] absolute; required
  std::vector<std::string> stop;        // argv or empty (nothing to run)
  std::vector<std::string> check;       // argv or empty; run after start and on every health tick
  std::vector<std::string> after;       // resource ids ("pool:tank", "exec:other")
  int timeout_seconds = 60;

  nlohmann::json ToJson() const;
  static Result<ExecPolicy> FromJson(const nlohmann::json& j);
  Status Validate() const;
};

struct LockRecord {
  std::string pool;
  std::string operation;  // "import"
  std::chrono::system_clock::time_point started;
  int pid = 0;            // the daemon that wrote it
};

// pools.json read entry by entry: one bad entry (a field of the wrong type,
// a value out of range) does not hide the others (issue 17 item 8).
struct LoadedPolicies {
  std::vector<PoolPolicy> policies;
  struct Broken {
    std::string pool;   // the entry's "pool" when it is a string, else ""
    std::string error;  // names the file, the pool and the field
  };
  std::vector<Broken> broken;
};

class PolicyStore {
 public:
  PolicyStore(sys::FileSystem& fs, std::string state_dir) : fs_(fs), dir_(std::move(state_dir)) {}

  // Creates the state and locks/ directories.
  Status Init();

  // Every policy, or an error naming the first bad entry (writes go through
  // it, so a bad file is never silently rewritten without that entry).
  Result<std::vector<PoolPolicy>> LoadAll() const;
  // Every good policy, and the bad entries with their errors; an error only
  // when the file as a whole is unreadable.
  Result<LoadedPolicies> LoadEach() const;
  Result<std::optional<PoolPolicy>> Load(const zfs::PoolName& pool) const;
  Status Save(const PoolPolicy& policy);
  Status Remove(const zfs::PoolName& pool);

  // Exec resources, in <state_dir>/resources.json.
  Result<std::vector<ExecPolicy>> LoadExecs() const;
  Status SaveExec(const ExecPolicy& exec);
  Status RemoveExec(const std::string& name);

  // Crash-loop lock: WriteLock is durable (fsync'd rename) before it returns.
  Status WriteLock(const LockRecord& lock);
  Result<std::optional<LockRecord>> ReadLock(const zfs::PoolName& pool) const;
  Status RemoveLock(const zfs::PoolName& pool);

 private:
  std::string PoliciesPath() const { return dir_ + "/pools.json"; }
  std::string ExecsPath() const { return dir_ + "/resources.json"; }
  Status WriteExecs(const std::vector<ExecPolicy>& execs);
  std::string LockPath(const std::string& pool) const { return dir_ + "/locks/" + pool + ".json"; }
  Status WriteAll(const std::vector<PoolPolicy>& policies);

  sys::FileSystem& fs_;
  std::string dir_;
  std::mutex mutex_;  // serialises read-modify-write of pools.json
};

}  // namespace pk::supervisor
