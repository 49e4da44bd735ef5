#include "supervisor/graph.h"

#include <algorithm>
#include <deque>
#include <string_view>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace pk::supervisor {

void DependencyGraph::AddResource(const std::string& id) { resources_.insert(id); }

Status DependencyGraph::AddEdge(const std::string& id, const std::string& after) {
  if (id.empty() || after.empty()) {
    return InvalidArgument(fmt::format("dependency edge '{}' -> '{}': empty resource id", id, after));
  }
  if (id == after) {
    return InvalidArgument(fmt::format("dependency edge: resource '{}' cannot start after itself", id));
  }
  resources_.insert(id);
  resources_.insert(after);
  after_[id].insert(after);
  before_[after].insert(id);
  return OkStatus();
}

std::set<std::string> DependencyGraph::Reachable(const Adjacency& edges, const std::string& id) {
  std::set<std::string> seen;
  std::vector<const std::string*> stack{&id};
  while (!stack.empty()) {
    const std::string* cur = stack.back();
    stack.pop_back();
    auto it = edges.find(*cur);
    if (it == edges.end()) continue;
    for (const std::string& next : it->second) {
      if (seen.insert(next).second) stack.push_back(&next);
    }
  }
  // On a cycle `id` reaches itself; the contract excludes it.
  seen.erase(id);
  return seen;
}

std::set<std::string> DependencyGraph::Dependents(const std::string& id) const {
  return Reachable(before_, id);
}

std::set<std::string> DependencyGraph::Dependencies(const std::string& id) const {
  return Reachable(after_, id);
}

std::set<std::string> DependencyGraph::DirectDependencies(const std::string& id) const {
  auto it = after_.find(id);
  return it == after_.end() ? std::set<std::string>{} : it->second;
}

std::vector<std::vector<std::string>> DependencyGraph::KahnLevels(std::set<std::string>* stuck) const {
  // Remaining unplaced dependencies per resource.
  std::map<std::string_view, size_t> pending;
  std::vector<std::string> current;
  for (const std::string& id : resources_) {
    auto it = after_.find(id);
    size_t n = it == after_.end() ? 0 : it->second.size();
    if (n == 0) {
      current.push_back(id);  // resources_ is ordered, so `current` is sorted
    } else {
      pending.emplace(id, n);
    }
  }

  std::vector<std::vector<std::string>> levels;
  size_t placed = 0;
  while (!current.empty()) {
    std::vector<std::string> next;
    for (const std::string& id : current) {
      auto it = before_.find(id);
      if (it == before_.end()) continue;
      for (const std::string& dependent : it->second) {
        auto p = pending.find(dependent);
        if (--p->second == 0) {
          next.push_back(dependent);
          pending.erase(p);
        }
      }
    }
    std::sort(next.begin(), next.end());
    placed += current.size();
    levels.push_back(std::move(current));
    current = std::move(next);
  }

  if (placed != resources_.size()) {
    stuck->clear();
    for (const auto& [id, n] : pending) stuck->emplace(id);
    return {};
  }
  return levels;
}

std::vector<std::string> DependencyGraph::FindCycle(const std::set<std::string>& stuck) const {
  // Every id on a cycle is stuck, but stuck ids may merely depend on a cycle.
  // Try stuck ids in order; the first `s` through which a cycle runs using only
  // ids greater than `s` is the smallest id on any cycle. A breadth-first
  // search with ordered expansion finds a shortest such cycle, and the
  // lexicographically first among those. Error path only: O(stuck * (V + E)).
  for (const std::string& s : stuck) {
    std::map<std::string_view, std::string_view> parent;  // discovered id -> predecessor
    std::deque<std::string_view> queue{s};
    while (!queue.empty()) {
      std::string_view u = queue.front();
      queue.pop_front();
      auto it = after_.find(std::string(u));
      if (it == after_.end()) continue;
      for (const std::string& v : it->second) {
        if (v == s) {
          std::vector<std::string> cycle;
          for (std::string_view x = u; x != s; x = parent.at(x)) cycle.emplace_back(x);
          cycle.push_back(s);
          std::reverse(cycle.begin(), cycle.end());
          cycle.push_back(s);
          return cycle;
        }
        if (v < s || !stuck.contains(v) || parent.contains(v)) continue;
        parent.emplace(v, u);
        queue.push_back(v);
      }
    }
  }
  return {};  // unreachable for a genuine Kahn leftover
}

Error DependencyGraph::CycleError(const std::vector<std::string>& cycle) {
  if (cycle.empty()) {
    return Error(ErrorCode::kInternal, "dependency cycle detected but could not be traced");
  }
  return Error(ErrorCode::kFailedPrecondition, fmt::format("dependency cycle: {}", fmt::join(cycle, " -> ")));
}

Status DependencyGraph::CheckAcyclic() const {
  std::set<std::string> stuck;
  KahnLevels(&stuck);
  if (!stuck.empty()) return std::unexpected(CycleError(FindCycle(stuck)));
  return OkStatus();
}

Result<std::vector<std::vector<std::string>>> DependencyGraph::Levels() const {
  std::set<std::string> stuck;
  auto levels = KahnLevels(&stuck);
  if (!stuck.empty()) return std::unexpected(CycleError(FindCycle(stuck)));
  return levels;
}

namespace {

// Drops repeated and trailing slashes; "" if `path` is not absolute.
std::string NormalisePath(std::string_view path) {
  if (path.empty() || path.front() != '/') return {};
  std::string out;
  out.reserve(path.size());
  for (char c : path) {
    if (c == '/' && !out.empty() && out.back() == '/') continue;
    out.push_back(c);
  }
  if (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

// Both arguments normalised.
bool Contains(std::string_view mountpoint, std::string_view path) {
  if (mountpoint == "/") return true;
  if (!path.starts_with(mountpoint)) return false;
  return path.size() == mountpoint.size() || path[mountpoint.size()] == '/';
}

}  // namespace

std::vector<std::pair<std::string, std::string>> NestedPoolEdges(
    const std::map<std::string, std::vector<std::string>>& vdev_paths,
    const std::map<std::string, std::vector<std::string>>& mountpoints) {
  // pool -> its usable, normalised mountpoints.
  std::map<std::string, std::set<std::string>> mounts;
  for (const auto& [pool, list] : mountpoints) {
    for (const std::string& mp : list) {
      if (mp == "none" || mp == "legacy" || mp == "-") continue;
      std::string norm = NormalisePath(mp);
      if (!norm.empty()) mounts[pool].insert(std::move(norm));
    }
  }

  std::set<std::pair<std::string, std::string>> edges;
  for (const auto& [pool, paths] : vdev_paths) {
    for (const std::string& raw : paths) {
      std::string path = NormalisePath(raw);
      if (path.empty()) continue;
      for (const auto& [other, mps] : mounts) {
        if (other == pool) continue;
        bool inside = std::any_of(mps.begin(), mps.end(),
                                  [&](const std::string& mp) { return Contains(mp, path); });
        if (inside) edges.emplace(pool, other);
      }
    }
  }
  return {edges.begin(), edges.end()};
}

}  // namespace pk::supervisor
