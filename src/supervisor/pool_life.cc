// A pool's life, owned here and nowhere else (issue 19 item 1): import, mount,
// share, unshare and export, for a service's own start and stop and for every
// import and export asked for from outside (the API, and so the CLI and the
// OCF agent). Workers run the tools and post their outcome to the loop.
#include "supervisor/supervisor.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/log.h"
#include "supervisor/internal/state.h"

namespace pk::supervisor {

using internal::IsServing;
using internal::IsUp;
using internal::Resource;

namespace {

zfs::ImportOptions ImportOptionsFor(const zfs::PoolName& pool, const PoolPolicy& p, zfs::Dialect dialect,
                                    zfs::Force force) {
  zfs::ImportOptions o;
  o.name = pool;
  o.search_dirs = p.search_dirs;
  if (p.cachefile == "none") {
    o.cachefile = zfs::ImportOptions::Cachefile::kNone;
  } else {
    o.cachefile = zfs::ImportOptions::Cachefile::kPath;
    o.cachefile_path = p.cachefile;
  }
  if (!p.altroot.empty()) o.altroot = p.altroot;
  o.read_only = p.read_only ? zfs::ReadOnly::kYes : zfs::ReadOnly::kNo;
  // Force for this import only, on the caller's word: the cluster agent's
  // (StartService, if_fenced policies only) or the administrator's (ImportPool).
  o.force = force;
  // Mounting is a phase of its own where the flavour allows it; zfs-fuse has
  // no `import -N` and mounts at import, so its mount phase only completes
  // what the import left unmounted.
  o.mount = dialect == zfs::Dialect::kOpenZfs2 ? zfs::Mount::kNo : zfs::Mount::kYes;
  return o;
}

}  // namespace

void Supervisor::RunImport(zfs::PoolName pool, PoolPolicy policy, zfs::Force force, ImportMode mode) {
  auto fail = [this, pool = policy.pool](Error error) {
    loop_.Post([this, pool, error] {
      if (Service* s = Find(pool)) {
        s->busy = false;
        s->want_up = false;
        s->last_error = error;
        SetState(*s, State::kFailed, error.message());
        Advance();
      }
    });
  };
  auto zfs = zfs_factory_(std::chrono::seconds(policy.import_timeout_seconds));
  auto pools = zfs->ListPools();
  if (!pools) return fail(pools.error());
  bool imported = std::any_of(pools->begin(), pools->end(), [&](const auto& p) { return p.name == policy.pool; });
  if (!imported && mode == ImportMode::kAdoptOnly) {
    loop_.Post([this, pool = policy.pool] {
      if (Service* s = Find(pool)) {
        s->busy = false;
        s->want_up = false;
        SetState(*s, State::kExported, "managed by the cluster: not imported at daemon start (Pacemaker starts it on the head it chooses)");
        Advance();
      }
    });    return;
  }
  if (!imported) {
    // The lock record is durable before the import starts: if we die during
    // it, the next start finds it and does not try again by itself.
    auto locked = store_.WriteLock({policy.pool, "import", clock_.Now(), options_.pid});
    if (!locked) return fail(locked.error().WithContext("write crash-loop lock"));
    UnprotectMountpoints(policy);
    auto done = zfs->ImportPool(ImportOptionsFor(pool, policy, zfs->dialect(), force));
    auto unlocked = store_.RemoveLock(pool);
    if (!unlocked) GetLogger("service")->error("pool={} remove lock: {}", policy.pool, unlocked.error().message());
    if (!done) return fail(done.error());
  }
  loop_.Post([this, pool = policy.pool, imported] {
    if (Service* s = Find(pool)) SetState(*s, State::kMounting, imported ? "already imported; checking mounts" : "imported; mounting");
  });
  auto mount_zfs = zfs_factory_(std::chrono::seconds(policy.mount_timeout_seconds));
  std::vector<std::string> mountpoints;
  auto mounted = MountAll(*mount_zfs, policy, mountpoints);
  if (!mounted) return fail(mounted.error());
  if (options_.on_pool_changed) options_.on_pool_changed(policy.pool);
  auto health_zfs = zfs_factory_(options_.health_timeout);
  auto after = health_zfs->ListPools();
  std::string health = "ONLINE";
  if (after) {
    for (const auto& p : *after) {
      if (p.name == policy.pool) health = p.health;
    }
  }
  loop_.Post([this, pool = policy.pool, mountpoints] {
    Service* s = Find(pool);
    if (!s) return;
    // Remember where its filesystems live, for nested-pool edges at the next start.
    if (s->status.policy.known_mountpoints != mountpoints) {
      s->status.policy.known_mountpoints = mountpoints;
      if (auto saved = SavePolicy(*s); !saved) GetLogger("service")->error("pool={} save policy: {}", pool, saved.error().message());
    }
    SetState(*s, State::kSharing, options_.serve_shares ? "mounted; serving shares" : "mounted; no share servers on this head");
  });
  std::vector<std::string> problems;
  // A cluster pool (placed by Pacemaker, whose resources only `cluster pool
  // add` on a head creates) is the cluster's: adopted by that act (issue 17 item 6).
  if (policy.cluster && options_.adopt_cluster_pool) {
    if (auto adopted = options_.adopt_cluster_pool(pool); !adopted) problems.push_back(adopted.error().message());
  }
  if (options_.serve_shares) {
    auto served = options_.serve_shares(pool);
    if (served) {
      problems = std::move(*served);
    } else {
      problems.push_back(served.error().WithContext("read share definitions").message());
    }
  }
  loop_.Post([this, pool = policy.pool, note = *mounted, health, problems] {
    Service* s = Find(pool);
    if (!s) return;
    s->busy = false;
    s->status.health = health;
    s->share_problems = problems;
    SettleServing(*s, note);
    Advance();
  });
}

Result<std::string> Supervisor::MountAll(zfs::Zfs& zfs, const PoolPolicy& policy, std::vector<std::string>& mountpoints) {
  zfs::ListOptions q;
  q.root = policy.pool;
  q.types = {zfs::DatasetType::kFilesystem};
  q.properties = {"canmount", "mounted", "mountpoint"};
  PK_ASSIGN_OR_RETURN(auto datasets, zfs.ListDatasets(q));
  // Parents before children: a filesystem waits for its nearest listed
  // ancestor; independent subtrees mount in parallel, `mount_parallelism` at
  // once, on this worker and the loop's (on zfs-fuse the mount lock runs one at a time).
  std::vector<const zfs::Dataset*> todo;
  size_t already = 0;
  for (const auto& d : datasets) {
    std::string mp = d.Get("mountpoint");
    if (mp.starts_with('/')) mountpoints.push_back(mp);
    if (d.Get("canmount") != "on" || !mp.starts_with('/')) continue;
    if (d.Get("mounted") == "yes") {
      ++already;
      continue;
    }
    todo.push_back(&d);
  }
  std::mutex m;
  std::condition_variable cv;
  std::set<std::string> pending;
  for (auto* d : todo) pending.insert(d->name);
  std::vector<std::string> failures;
  // Filesystems that did not mount. Their descendants are not mounted either:
  // mounted onto the parent's bare directory they would hide under it, and the
  // parent could no longer mount there (directory not empty).
  std::set<std::string> failed;
  const size_t to_mount = todo.size();
  // The nearest ancestor of `d` that did not mount, or "".
  auto failed_ancestor = [&](const zfs::Dataset* d) -> std::string {
    for (size_t slash = d->name.rfind('/'); slash != std::string::npos && slash > 0;
         slash = d->name.rfind('/', slash - 1)) {
      if (failed.contains(d->name.substr(0, slash))) return d->name.substr(0, slash);
    }
    return "";
  };
  // Ready when no ancestor is still waiting to be mounted.
  auto ready = [&](const zfs::Dataset* d) {
    for (size_t slash = d->name.rfind('/'); slash != std::string::npos && slash > 0;
         slash = d->name.rfind('/', slash - 1)) {
      if (pending.contains(d->name.substr(0, slash))) return false;
    }
    return true;
  };
  auto worker = [&] {
    std::unique_lock lock(m);
    while (true) {
      // Take the first filesystem whose ancestors are all mounted.
      const zfs::Dataset* job = nullptr;
      while (true) {
        for (size_t i = 0; i < todo.size(); ++i) {
          if (todo[i] && ready(todo[i])) {
            job = todo[i];
            todo[i] = nullptr;
            break;
          }
        }
        if (job || pending.empty() || std::all_of(todo.begin(), todo.end(), [](auto* p) { return !p; })) break;
        cv.wait(lock);
      }
      if (!job) return;
      if (std::string parent = failed_ancestor(job); !parent.empty()) {
        failures.push_back(fmt::format("'{}' not mounted: its parent '{}' did not mount", job->name, parent));
        failed.insert(job->name);
        pending.erase(job->name);
        cv.notify_all();
        continue;
      }
      lock.unlock();
      auto name = zfs::DatasetName::Parse(job->name);
      auto r = name ? zfs.MountDataset(*name) : Status(std::unexpected(name.error()));
      lock.lock();
      if (!r) {
        failures.push_back(r.error().message());
        failed.insert(job->name);
      }
      pending.erase(job->name);
      cv.notify_all();
    }
  };
  // Helpers on the loop's workers (none once Stop() began); the state above
  // lives until every helper ended: `helpers` counts those running (guarded by m).
  size_t helpers = 0;
  const size_t n = std::min<size_t>(policy.mount_parallelism, std::max<size_t>(todo.size(), 1));
  std::unique_lock lock(m);
  auto helper = [&] {
    worker();
    std::lock_guard done(m);
    --helpers;
    cv.notify_all();
  };
  while (helpers + 1 < n && loop_.Spawn(helper)) ++helpers;
  lock.unlock();
  worker();
  lock.lock();
  cv.wait(lock, [&] { return helpers == 0; });
  if (!failures.empty()) {
    return FailedPrecondition(fmt::format("pool '{}' is imported but {} filesystem(s) did not mount: {}", policy.pool,
                                          failures.size(), fmt::join(failures, "; ")));
  }
  if (to_mount == 0 && already > 0 && zfs.dialect() == zfs::Dialect::kZfsFuse) {
    return fmt::format("{} filesystems mounted (zfs-fuse mounts them at import)", already);
  }
  return fmt::format("{} filesystems mounted ({} by the mount phase)", already + to_mount, to_mount);
}

void Supervisor::ProtectMountpoints(const PoolPolicy& policy) {
  if (!options_.mountpoints) return;
  auto log = GetLogger("service");
  for (const auto& dir : policy.known_mountpoints) {
    auto done = options_.mountpoints->ProtectEmptyDir(dir);
    if (done) {
      log->info("pool={} mountpoint {} protected (immutable) while the pool is exported", policy.pool, dir);
    } else if (done.error().code() != ErrorCode::kNotFound) {
      log->warn("pool={} mountpoint not protected: {}", policy.pool, done.error().message());
    }
  }
}

std::vector<std::string> Supervisor::MountpointProtection(const std::string& pool) {
  std::vector<std::string> out;
  auto status = Get(pool);
  if (!options_.mountpoints || !status) return out;
  for (const auto& dir : status->policy.known_mountpoints) {
    auto is = options_.mountpoints->DirProtected(dir);
    if (!is && is.error().code() == ErrorCode::kNotFound) continue;
    out.push_back(fmt::format("{}: {}", dir, !is ? "not protected (" + is.error().message() + ")"
                                                  : (*is ? "protected (immutable, empty)" : "not protected")));
  }
  return out;
}

void Supervisor::UnprotectMountpoints(const PoolPolicy& policy) {
  if (!options_.mountpoints) return;
  for (const auto& dir : policy.known_mountpoints) {
    if (auto done = options_.mountpoints->UnprotectDir(dir); !done && done.error().code() != ErrorCode::kUnimplemented) {
      GetLogger("service")->warn("pool={} before import: {}", policy.pool, done.error().message());
    }
  }
}

void Supervisor::RunExport(zfs::PoolName pool, PoolPolicy policy, zfs::Force force, std::string reason) {
  // Shares stop before their pool: nothing of it stays configured on this head.
  if (options_.unserve_shares) {
    if (auto unserved = options_.unserve_shares(pool); !unserved) {
      GetLogger("service")->error("pool={} stop serving shares: {}", policy.pool, unserved.error().message());
    }
  }
  auto zfs = zfs_factory_(std::chrono::seconds(policy.export_timeout_seconds));
  auto done = zfs->ExportPool(pool, force);
  if (done) ProtectMountpoints(policy);
  if (options_.on_pool_changed) options_.on_pool_changed(policy.pool);
  loop_.Post([this, pool = policy.pool, done, reason] {
    Service* s = Find(pool);
    if (!s) return;
    s->busy = false;
    if (!done && done.error().code() != ErrorCode::kNotFound) {
      s->last_error = done.error();
      SetState(*s, State::kFailed, done.error().message());
    } else {
      SetState(*s, State::kExported, !done ? "was not imported" : reason.empty() ? "exported" : reason);
    }
    if (s->restart) {
      s->restart = false;
      auto graph = BuildGraph(Policies());
      if (graph) RequestUp(*s, *graph);
    }
    Advance();
  });
}

Result<std::shared_future<Status>> Supervisor::WantAndWait(Service& s, Direction direction) {
  auto outcome = std::make_shared<std::promise<Status>>();
  std::shared_future<Status> future = outcome->get_future().share();
  s.waiters.push_back({direction, outcome});
  if (auto wanted = Want(s, direction); !wanted) {
    std::erase_if(s.waiters, [&](const Waiter& w) { return w.outcome == outcome; });
    return std::unexpected(wanted.error());
  }
  return future;
}

Result<std::string> Supervisor::ImportPool(const zfs::ImportOptions& options) {
  if (!options.name) return ImportUnmanaged(options);  // by GUID: no service names it
  const zfs::PoolName pool = *options.name;
  auto managed = loop_.Call<Result<std::optional<std::shared_future<Status>>>>(
      [this, &options, &pool]() -> Result<std::optional<std::shared_future<Status>>> {
        Service* s = Find(pool.str());
        if (!s) return std::nullopt;
        const std::string why = fmt::format("pool '{}' has a service on this head, which imports it as its policy says", pool.str());
        if (options.new_name) {
          return FailedPrecondition(fmt::format("{}: it cannot be imported as '{}' ('poolkeeper service disable {}' and "
                                                "remove its policy first)", why, options.new_name->str(), pool.str()));
        }
        if (options.mount == zfs::Mount::kNo) {
          return FailedPrecondition(fmt::format("{} and mounts it: an import without mounting is refused", why));
        }
        if (IsServing(s->status.state)) {
          return FailedPrecondition(fmt::format("pool '{}' is already imported (its service is {})", pool.str(),
                                                StateName(s->status.state)));
        }
        if (s->status.state == State::kLocked) {
          return FailedPrecondition(fmt::format("pool '{}' is locked: {}", pool.str(), s->status.reason));
        }
        if (s->status.policy.skip) {
          return FailedPrecondition(fmt::format("pool '{}' has its skip switch set ('poolkeeper pool unskip {}' first)",
                                                pool.str(), pool.str()));
        }
        s->status.start_at.reset();
        s->start_deadline.reset();
        s->last_error.reset();
        s->force_next_import = options.force;  // read by the import Want starts at once
        auto waiting = WantAndWait(*s, Direction::kUp);
        s->force_next_import = zfs::Force::kNo;
        PK_TRY(waiting);
        return *waiting;
      });
  PK_ASSIGN_OR_RETURN(auto waiting, managed);
  if (!waiting) return ImportUnmanaged(options);
  PK_TRY(waiting->get());
  return pool.str();
}

Status Supervisor::ExportPool(const zfs::PoolName& pool, zfs::Force force) {
  const std::string reason = "exported on request ('pool export' or the API)";
  // nullopt: no service, or one that is not up (the pool may still be imported by hand).
  auto managed = loop_.Call<Result<std::optional<std::shared_future<Status>>>>(
      [&]() -> Result<std::optional<std::shared_future<Status>>> {
        Service* s = Find(pool.str());
        if (!s || (!IsUp(s->status.state) && !s->busy)) return std::nullopt;
        s->force_next_export = force;
        s->export_reason = reason;
        s->last_error.reset();
        PK_ASSIGN_OR_RETURN(auto waiting, WantAndWait(*s, Direction::kDown));
        return waiting;
      });
  PK_ASSIGN_OR_RETURN(auto waiting, managed);
  if (waiting) return waiting->get();
  PK_TRY(ExportUnmanaged(pool, force));
  // A service that was not up (failed, disabled, exported) shows the export too.
  return loop_.Call<Status>([this, &pool, &reason]() -> Status {
    if (Service* s = Find(pool.str()); s && !s->busy && !IsUp(s->status.state)) {
      s->want_up = false;
      SetState(*s, s->status.policy.enabled ? State::kExported : State::kDisabled, reason);
    }
    return OkStatus();
  });
}

Result<std::string> Supervisor::ImportUnmanaged(const zfs::ImportOptions& options) {
  auto zfs = zfs_factory_(options_.tool_timeout);
  PK_TRY(zfs->ImportPool(options));
  // The imported name: the new name, the given name, or (by GUID) found in the pool list.
  std::optional<zfs::PoolName> imported = options.new_name ? options.new_name : options.name;
  if (!imported) {
    PK_ASSIGN_OR_RETURN(auto pools, zfs->ListPools());
    for (const auto& p : pools) {
      if (p.guid != *options.guid) continue;
      PK_ASSIGN_OR_RETURN(imported, zfs::PoolName::Parse(p.name));
    }
  }
  if (!imported) {
    return Internal(fmt::format("import pool with GUID {}: imported, but no pool with that GUID is listed", *options.guid));
  }
  if (options_.on_pool_changed) options_.on_pool_changed(imported->str());
  // Shares travel with the pool: serve them now (their problems show per share).
  if (options_.serve_shares && options.mount == zfs::Mount::kYes) {
    if (auto served = options_.serve_shares(*imported); !served) {
      GetLogger("service")->warn("pool={} serve shares: {}", imported->str(), served.error().message());
    }
  }
  return imported->str();
}

Status Supervisor::ExportUnmanaged(const zfs::PoolName& pool, zfs::Force force) {
  // Nothing of the pool stays configured here: its shares stop first.
  Status outcome = options_.unserve_shares ? options_.unserve_shares(pool) : OkStatus();
  if (outcome) outcome = zfs_factory_(options_.tool_timeout)->ExportPool(pool, force);
  if (options_.on_pool_changed) options_.on_pool_changed(pool.str());
  return outcome;
}

void Supervisor::ServeUnmanaged(std::set<std::string> managed) {
  // Shares of pools imported without a service (by hand, or before this
  // daemon started) are served too; managed pools are served by their service.
  if (options_.serve_shares) {
    auto pools = zfs_factory_(options_.tool_timeout)->ListPools();
    for (const auto& p : pools ? *pools : std::vector<zfs::PoolSummary>{}) {
      if (managed.contains(p.name)) continue;
      auto name = zfs::PoolName::Parse(p.name);
      auto served = name ? options_.serve_shares(*name) : Result<std::vector<std::string>>(std::unexpected(name.error()));
      if (!served) {
        GetLogger("service")->warn("pool={} serve shares: {}", p.name, served.error().message());
      }
    }
  }
  unmanaged_served_ = true;
}

}  // namespace pk::supervisor
