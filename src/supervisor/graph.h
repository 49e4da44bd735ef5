// supervisor::DependencyGraph: resources (pools, shares, targets, IPs, exec
// resources) and their `after` edges. Start goes in topological order,
// independent resources in parallel (levels); stop goes in reverse. A cycle
// is refused with an error that names it ("pool:a -> pool:b -> pool:a").
//
// Resource ids are "kind:name" strings ("pool:tank", "exec:warmup").
// Every result is deterministic: sets are ordered, levels are sorted, and the
// cycle named in an error does not depend on the order edges were added.
// Thread-safety: a value type; not synchronised.
#pragma once

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "base/error.h"

namespace pk::supervisor {

class DependencyGraph {
 public:
  // Adds a resource (idempotent).
  void AddResource(const std::string& id);
  // `id` starts after `after` (and stops before it). Both are added if absent.
  // A self edge or an empty id is InvalidArgument (and changes nothing).
  // Adding an existing edge again is a no-op. Cycles are only detected by
  // Levels()/CheckAcyclic(), so callers can add edges in any order.
  Status AddEdge(const std::string& id, const std::string& after);

  // FailedPrecondition naming one cycle ("dependency cycle: pool:a -> pool:b -> pool:a").
  // An arrow reads "starts after". The cycle named is a shortest cycle through
  // the smallest id that lies on any cycle, written starting from that id;
  // among equally short ones, the lexicographically first path is chosen.
  Status CheckAcyclic() const;

  // Start levels (Kahn's algorithm): level 0 has no dependencies, level k
  // holds the resources whose deepest dependency is in level k-1. Every
  // resource appears exactly once. Ids in a level are sorted. Errors as
  // CheckAcyclic.
  Result<std::vector<std::vector<std::string>>> Levels() const;

  // Everything that (transitively) starts after `id` / that `id` (transitively)
  // needs. Never includes `id` itself, even when `id` lies on a cycle. Unknown
  // ids give an empty set.
  std::set<std::string> Dependents(const std::string& id) const;
  std::set<std::string> Dependencies(const std::string& id) const;

  // Direct edges of `id` (what it starts after). Empty for unknown ids.
  std::set<std::string> DirectDependencies(const std::string& id) const;

  const std::set<std::string>& resources() const { return resources_; }

 private:
  using Adjacency = std::map<std::string, std::set<std::string>>;

  // Ids reachable from `id` through `edges`, excluding `id` itself.
  static std::set<std::string> Reachable(const Adjacency& edges, const std::string& id);
  // Kahn's algorithm. On success returns the levels; otherwise returns the
  // ids Kahn could not place (those on a cycle or depending on one) in
  // `stuck` and an empty vector.
  std::vector<std::vector<std::string>> KahnLevels(std::set<std::string>* stuck) const;
  // The cycle to report among `stuck` (see CheckAcyclic), first id repeated
  // at the end. `stuck` must be non-empty and the output of KahnLevels.
  std::vector<std::string> FindCycle(const std::set<std::string>& stuck) const;
  // The FailedPrecondition error for `cycle`.
  static Error CycleError(const std::vector<std::string>& cycle);

  std::set<std::string> resources_;
  Adjacency after_;   // id -> what it starts after
  Adjacency before_;  // id -> what starts after it (reverse of after_)
};

// Edges for nested pools: a pool whose vdev files lie inside another pool's
// filesystems starts after that pool. `vdev_paths`: pool -> absolute paths of
// its leaf vdevs (files or directories searched); `mountpoints`: pool -> the
// mountpoints of its filesystems. Returns (pool, after_pool) pairs, sorted
// and without duplicates.
//
// A path is inside a mountpoint when it equals it or continues with '/'
// (component-wise: "/mnt/a" contains "/mnt/a/x" but not "/mnt/ab"). Both are
// normalised first: repeated and trailing slashes are dropped ("/mnt/a/" is
// "/mnt/a"; "/" stays "/"). A pool mounted at "/" contains every absolute
// path. A path inside several pools' mountpoints (e.g. "/" of rpool and
// "/tank" of tank) depends on all of them: reaching it needs each of those
// filesystems mounted, since the deeper mountpoint directory lives in the
// shallower one. A pool may therefore depend on several pools.
// Ignored: a pool's own mountpoints, mountpoints "none", "legacy", "-", empty
// or not absolute, and vdev paths that are not absolute (whole disks named
// "sda"). No "."/".." or symlink resolution is done: callers pass real paths.
std::vector<std::pair<std::string, std::string>> NestedPoolEdges(
    const std::map<std::string, std::vector<std::string>>& vdev_paths,
    const std::map<std::string, std::vector<std::string>>& mountpoints);

}  // namespace pk::supervisor
