// The state machine: services, their states and the public commands. Its
// other concerns live beside it: pool_life.cc (import, mount, share, export),
// exec.cc (exec resources), health.cc (the health watch).
#include "supervisor/supervisor.h"

#include <algorithm>
#include <atomic>
#include <future>
#include <set>

#include <fmt/format.h>

#include "base/log.h"
#include "base/time.h"
#include "supervisor/internal/state.h"

namespace pk::supervisor {

using internal::IsServing;
using internal::IsUp;
using internal::Resource;

std::string_view StateName(State state) {
  switch (state) {
    case State::kDisabled: return "disabled";
    case State::kSkipped: return "skipped";
    case State::kWaiting: return "waiting";
    case State::kImporting: return "importing";
    case State::kMounting: return "mounting";
    case State::kSharing: return "sharing";
    case State::kOnline: return "online";
    case State::kDegraded: return "degraded";
    case State::kStopping: return "stopping";
    case State::kExported: return "exported";
    case State::kFailed: return "failed";
    case State::kLocked: return "locked";
    case State::kStarting: return "starting";
    case State::kStopped: return "stopped";
  }
  return "unknown";
}

Supervisor::Supervisor(ZfsFactory zfs, PolicyStore& store, events::EventLog& events, SupervisorOptions options)
    : zfs_factory_(std::move(zfs)),
      store_(store),
      events_(events),
      options_(std::move(options)),
      clock_(options_.clock ? *options_.clock : RealClock()),
      loop_(clock_) {}

Supervisor::~Supervisor() { Stop(); }

Status Supervisor::Start() {
  PK_ASSIGN_OR_RETURN(auto loaded, store_.LoadEach());
  auto& policies = loaded.policies;
  // A bad entry fails its own pool's service, never the daemon (issue 17 item 8).
  for (const auto& b : loaded.broken) {
    auto name = zfs::PoolName::Parse(b.pool);
    if (!name || services_.count(b.pool) ||
        std::any_of(policies.begin(), policies.end(), [&](const PoolPolicy& p) { return p.pool == b.pool; })) {
      GetLogger("service")->error("{} (entry not shown as a service)", b.error);
      continue;
    }
    Service s;
    s.name = *name;
    s.status.resource = Resource(b.pool);
    s.status.pool = b.pool;
    s.status.policy.pool = b.pool;
    s.status.policy.enabled = false;
    s.status.since = clock_.Now();
    s.status.state = State::kFailed;
    s.status.reason = fmt::format("its policy cannot be read, so it is not started: {} (fix the file and restart "
                                  "poolkeeperd, or 'poolkeeper service enable {}' once the entry is removed)",
                                  b.error, b.pool);
    services_.emplace(b.pool, std::move(s));
  }
  for (auto& p : policies) {
    auto name = zfs::PoolName::Parse(p.pool);  // LoadEach validated it; as for a broken entry otherwise
    if (!name) {
      GetLogger("service")->error("{} (entry not shown as a service)", name.error().message());
      continue;
    }
    Service s;
    s.name = *name;
    s.status.resource = Resource(p.pool);
    s.status.pool = p.pool;
    s.status.policy = p;
    s.status.since = clock_.Now();
    auto lock = store_.ReadLock(*name);
    if (!lock) {
      // Cannot tell whether an import was under way: treat it as one.
      s.status.state = State::kLocked;
      s.status.reason = fmt::format("its crash-loop lock cannot be read ({}); 'poolkeeper pool unlock {}' to try again",
                                    lock.error().message(), p.pool);
    } else if (*lock) {
      s.status.state = State::kLocked;
      s.status.reason = fmt::format("an {} started at {} (daemon pid {}) never finished: the daemon or the machine "
                                    "died during it; 'poolkeeper pool unlock {}' to try again",
                                    (*lock)->operation, FormatRfc3339((*lock)->started), (*lock)->pid, p.pool);
    } else if (p.skip) {
      s.status.state = State::kSkipped;
      s.status.reason = "skip switch set ('poolkeeper pool unskip' clears it)";
    } else if (!p.enabled) {
      s.status.state = State::kDisabled;
      s.status.reason = "not imported at start (service disabled)";
    } else {
      s.status.state = State::kWaiting;
      s.status.reason = p.cluster ? "managed by the cluster: served if already imported here, never imported at start"
                                  : "starting";
      s.want_up = true;
      s.import_mode = p.cluster ? ImportMode::kAdoptOnly : ImportMode::kImport;
    }
    services_.emplace(p.pool, std::move(s));
  }
  PK_ASSIGN_OR_RETURN(auto execs, store_.LoadExecs());
  for (auto& e : execs) {
    Service s;
    s.status.resource = "exec:" + e.name;
    s.status.since = clock_.Now();
    s.status.state = State::kWaiting;
    s.status.reason = "starting";
    s.want_up = true;
    s.status.exec = std::move(e);
    execs_.emplace(s.status.exec->name, std::move(s));
  }
  loop_.Start();
  std::set<std::string> managed;
  for (const auto& [name, s] : services_) managed.insert(name);
  loop_.Spawn([this, managed] { ServeUnmanaged(managed); });
  loop_.Post([this] {
    for (auto* map : {&services_, &execs_}) {
      for (auto& [name, s] : *map) {
        events_.Append({0, {}, s.status.resource, std::string(StateName(s.status.state)), "", s.status.reason});
      }
    }
    Advance();
    ScheduleHealth();
  });
  return OkStatus();
}

void Supervisor::Stop() {
  // Waits for operations in flight; the loop is gone afterwards, so this
  // thread owns the state.
  loop_.Stop();
  // ImportPool/ExportPool callers still waiting: their outcome will not come.
  for (auto& [name, s] : services_) {
    for (auto& w : s.waiters) {
      w.outcome->set_value(Status(std::unexpected(Error(ErrorCode::kUnavailable, "the daemon is stopping"))));
    }
    s.waiters.clear();
  }
}

// ---- state -----------------------------------------------------------------

Supervisor::Service* Supervisor::FindResource(const std::string& id) {
  if (id.starts_with("pool:")) return Find(id.substr(5));
  if (id.starts_with("exec:")) {
    auto it = execs_.find(id.substr(5));
    return it == execs_.end() ? nullptr : &it->second;
  }
  return nullptr;
}

Supervisor::Service* Supervisor::Find(const std::string& pool) {
  auto it = services_.find(pool);
  return it == services_.end() ? nullptr : &it->second;
}

Result<Supervisor::Service*> Supervisor::Managed(const zfs::PoolName& pool) {
  Service* s = Find(pool.str());
  if (!s) return NotFound(fmt::format("pool '{}' is not managed by this poolkeeperd ('poolkeeper service enable {}' first)", pool.str(), pool.str()));
  return s;
}

void Supervisor::SetState(Service& s, State state, std::string reason) {
  State previous = s.status.state;
  if (previous == state && s.status.reason == reason) return;
  s.status.state = state;
  s.status.reason = std::move(reason);
  s.status.since = clock_.Now();
  if (state != State::kWaiting) {
    s.status.start_at.reset();
    s.start_deadline.reset();
  }
  GetLogger("service")->info("resource={} state={} previous={} reason={}", s.status.resource, StateName(state),
                             StateName(previous), s.status.reason);
  auto appended = events_.Append({0, {}, s.status.resource, std::string(StateName(state)),
                                  std::string(StateName(previous)), s.status.reason});
  if (!appended) GetLogger("service")->error("event log: {}", appended.error().message());
  AnswerWaiters(s);
}

void Supervisor::AnswerWaiters(Service& s) {
  const State st = s.status.state;
  std::erase_if(s.waiters, [&](Waiter& w) {
    bool done = w.direction == Direction::kUp ? IsServing(st) : st == State::kExported || st == State::kDisabled;
    bool given_up = w.direction == Direction::kUp
                        ? st == State::kFailed || st == State::kLocked || st == State::kSkipped ||
                              st == State::kExported || st == State::kDisabled
                        : st == State::kFailed;
    if (done) {
      w.outcome->set_value(OkStatus());
    } else if (given_up) {
      Error e = s.last_error && st == State::kFailed
                    ? *s.last_error
                    : Error(ErrorCode::kFailedPrecondition,
                            fmt::format("pool '{}' is {}: {}", s.status.pool, StateName(st), s.status.reason));
      w.outcome->set_value(std::unexpected(std::move(e)));
    }
    return done || given_up;
  });
}

std::vector<PoolPolicy> Supervisor::Policies() const {
  std::vector<PoolPolicy> out;
  for (const auto& [name, s] : services_) out.push_back(s.status.policy);
  return out;
}

Result<DependencyGraph> Supervisor::BuildGraph(const std::vector<PoolPolicy>& policies, const ExecPolicy* extra) const {
  DependencyGraph g;
  auto add_exec = [&g](const ExecPolicy& e) -> Status {
    g.AddResource("exec:" + e.name);
    for (const auto& a : e.after) PK_TRY(g.AddEdge("exec:" + e.name, a));
    return OkStatus();
  };
  for (const auto& [name, s] : execs_) {
    if (!extra || extra->name != name) PK_TRY(add_exec(*s.status.exec));
  }
  if (extra) PK_TRY(add_exec(*extra));
  std::map<std::string, std::vector<std::string>> vdevs, mounts;
  for (const auto& p : policies) {
    g.AddResource(Resource(p.pool));
    for (const auto& a : p.after) PK_TRY(g.AddEdge(Resource(p.pool), a));
    vdevs[p.pool] = p.search_dirs;
    mounts[p.pool] = p.known_mountpoints;
  }
  // A pool whose vdev files sit inside another pool's filesystems starts after it.
  for (const auto& [pool, after] : NestedPoolEdges(vdevs, mounts)) PK_TRY(g.AddEdge(Resource(pool), Resource(after)));
  PK_TRY(g.CheckAcyclic());
  return g;
}

Status Supervisor::SavePolicy(Service& s) { return store_.Save(s.status.policy); }

void Supervisor::Advance() {
  auto graph = BuildGraph(Policies());
  if (!graph) {
    for (auto* map : {&services_, &execs_}) {
      for (auto& [name, s] : *map) {
        if (!s.busy && !IsUp(s.status.state) && s.want_up) SetState(s, State::kFailed, graph.error().message());
      }
    }
    return;
  }
  // Dependencies before dependents going up, the reverse going down, so that
  // one pass sees each dependency's new state (and its reason is current).
  std::vector<Service*> order;
  auto levels = graph->Levels();  // cannot fail: BuildGraph checked for cycles
  if (levels) {
    for (const auto& level : *levels) {
      for (const auto& id : level) {
        if (Service* s = FindResource(id)) order.push_back(s);
      }
    }
  }
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    if (!(*it)->busy && !(*it)->want_up) AdvanceDown(**it, *graph);
  }
  for (Service* s : order) {
    if (!s->busy && s->want_up) AdvanceUp(*s, *graph);
  }
}

void Supervisor::RequestUp(Service& s, const DependencyGraph& graph) {
  s.want_up = true;
  s.import_mode = ImportMode::kImport;  // an explicit start imports
  for (const auto& dep : graph.Dependencies(s.status.resource)) {
    if (Service* d = FindResource(dep); d && !d->want_up && !IsServing(d->status.state)) RequestUp(*d, graph);
  }
}

void Supervisor::RequestDown(Service& s, const DependencyGraph& graph) {
  s.want_up = false;
  for (const auto& dep : graph.Dependents(s.status.resource)) {
    if (Service* d = FindResource(dep)) d->want_up = false;
  }
}

void Supervisor::AdvanceUp(Service& s, const DependencyGraph& graph) {
  State st = s.status.state;
  if (IsServing(st) || st == State::kLocked) return;
  if (s.status.exec) return AdvanceExecUp(s);
  const PoolPolicy& p = s.status.policy;
  if (p.skip) {
    s.want_up = false;
    SetState(s, State::kSkipped, "skip switch set ('poolkeeper pool unskip' clears it)");
    return;
  }
  // Start delay: counted from the moment the start was asked for.
  // Measured on the steady clock (start_deadline); start_at only shows it.
  if (p.delay_seconds > 0) {
    if (!s.start_deadline) {
      SetState(s, State::kWaiting, fmt::format("start delay of {} s", p.delay_seconds));
      s.status.start_at = clock_.Now() + std::chrono::seconds(p.delay_seconds);
      s.start_deadline = clock_.SteadyNow() + std::chrono::seconds(p.delay_seconds);
      loop_.PostAt(*s.start_deadline, [this] { Advance(); });
      return;
    }
    if (clock_.SteadyNow() < *s.start_deadline) return;
  }
  if (!DependenciesServing(s, graph)) return;
  s.busy = true;
  SetState(s, State::kImporting, p.search_dirs.empty() ? "importing" : fmt::format("importing from {}", fmt::join(p.search_dirs, ", ")));
  zfs::Force force = s.force_next_import;
  s.force_next_import = zfs::Force::kNo;
  ImportMode mode = std::exchange(s.import_mode, ImportMode::kImport);
  loop_.Spawn([this, pool = *s.name, p, force, mode] { RunImport(pool, p, force, mode); });
}

bool Supervisor::DependenciesServing(Service& s, const DependencyGraph& graph) {
  for (const auto& dep : graph.DirectDependencies(s.status.resource)) {
    Service* d = FindResource(dep);
    if (!d) {
      SetState(s, State::kWaiting, fmt::format("waiting for {}: not managed by this daemon", dep));
      return false;
    }
    if (!IsServing(d->status.state)) {
      SetState(s, State::kWaiting, fmt::format("waiting for {} ({})", dep, StateName(d->status.state)));
      return false;
    }
  }
  return true;
}

void Supervisor::AdvanceDown(Service& s, const DependencyGraph& graph) {
  State st = s.status.state;
  if (st == State::kWaiting) {
    State idle = s.status.exec ? State::kStopped : s.status.policy.enabled ? State::kExported : State::kDisabled;
    SetState(s, idle, "start cancelled");
    return;
  }
  if (!IsUp(st)) return;  // a kStopping service here waits for its dependents
  for (const auto& dep : graph.Dependents(s.status.resource)) {
    Service* d = FindResource(dep);
    if (d && IsUp(d->status.state)) {
      SetState(s, State::kStopping, fmt::format("waiting for {} to stop first", dep));
      return;
    }
  }
  s.busy = true;
  if (s.status.exec) {
    SetState(s, State::kStopping, s.status.exec->stop.empty() ? "stopping (no stop command)" : "running the stop command");
    loop_.Spawn([this, e = *s.status.exec] { RunExecStop(e); });
    return;
  }
  SetState(s, State::kStopping, "exporting");
  loop_.Spawn([this, pool = *s.name, p = s.status.policy, force = std::exchange(s.force_next_export, zfs::Force::kNo),
         reason = std::exchange(s.export_reason, "")] { RunExport(pool, p, force, reason); });
}

Status Supervisor::Want(Service& s, Direction direction) {
  PK_ASSIGN_OR_RETURN(auto graph, BuildGraph(Policies()));
  if (direction == Direction::kUp) {
    RequestUp(s, graph);
  } else {
    RequestDown(s, graph);
  }
  Advance();
  return OkStatus();
}

// ---- public commands -------------------------------------------------------

std::vector<ServiceStatus> Supervisor::List() {
  return loop_.Call<std::vector<ServiceStatus>>([this] {
    std::vector<ServiceStatus> out;
    for (const auto& [name, s] : services_) out.push_back(s.status);
    for (const auto& [name, s] : execs_) out.push_back(s.status);
    return out;
  });
}

Result<ServiceStatus> Supervisor::Get(const std::string& pool) {
  return loop_.Call<Result<ServiceStatus>>([this, pool]() -> Result<ServiceStatus> {
    auto name = zfs::PoolName::Parse(pool);
    if (!name) return std::unexpected(name.error());
    PK_ASSIGN_OR_RETURN(Service * s, Managed(*name));
    return s->status;
  });
}

Status Supervisor::Enable(PoolPolicy policy) {
  PK_TRY(policy.Validate());
  PK_ASSIGN_OR_RETURN(auto name, zfs::PoolName::Parse(policy.pool));
  return loop_.Call<Status>([this, policy, name]() mutable -> Status {
    policy.enabled = true;
    auto policies = Policies();
    auto it = std::find_if(policies.begin(), policies.end(), [&](const auto& p) { return p.pool == policy.pool; });
    if (it != policies.end()) {
      policy.known_mountpoints = it->known_mountpoints;
      *it = policy;
    } else {
      policies.push_back(policy);
    }
    PK_ASSIGN_OR_RETURN(auto graph, BuildGraph(policies));
    PK_TRY(store_.Save(policy));
    Service* s = Find(policy.pool);
    if (!s) {
      Service fresh;
      fresh.name = name;
      fresh.status.resource = Resource(policy.pool);
      fresh.status.pool = policy.pool;
      fresh.status.since = clock_.Now();
      s = &services_.emplace(policy.pool, std::move(fresh)).first->second;
      SetState(*s, State::kWaiting, "enabled");
    }
    s->status.policy = policy;
    if (policy.skip && !IsUp(s->status.state) && !s->busy && s->status.state != State::kLocked) {
      // As Skip(): a pool that is not imported shows the switch.
      s->want_up = false;
      SetState(*s, State::kSkipped, "skip switch set ('poolkeeper pool unskip' clears it)");
    }
    if (s->status.state == State::kLocked || policy.skip) {
      Advance();
      return OkStatus();
    }
    RequestUp(*s, graph);
    Advance();
    return OkStatus();
  });
}

Status Supervisor::Disable(const zfs::PoolName& pool) {
  return loop_.Call<Status>([this, pool]() -> Status {
    PK_ASSIGN_OR_RETURN(Service * s, Managed(pool));
    s->status.policy.enabled = false;
    PK_TRY(SavePolicy(*s));
    if (!IsUp(s->status.state) && !s->busy) {
      s->want_up = false;
      SetState(*s, State::kDisabled, "service disabled: not imported at start");
    }
    return OkStatus();
  });
}

Status Supervisor::StartService(const zfs::PoolName& pool, zfs::Force force) {
  return loop_.Call<Status>([this, pool, force]() -> Status {
    PK_ASSIGN_OR_RETURN(Service * s, Managed(pool));
    if (force == zfs::Force::kYes && s->status.policy.force != ForceImport::kIfFenced) {
      return FailedPrecondition(fmt::format(
          "pool '{}': a forced import needs the policy force=if_fenced (set by the cluster agent)", pool.str()));
    }
    if (s->status.state == State::kLocked) {
      return FailedPrecondition(fmt::format("pool '{}' is locked: {}", pool.str(), s->status.reason));
    }
    if (s->status.policy.skip) {
      return FailedPrecondition(fmt::format("pool '{}' has its skip switch set ('poolkeeper pool unskip {}' first)", pool.str(), pool.str()));
    }
    s->status.start_at.reset();
    s->start_deadline.reset();
    // Read by the import that Want starts at once; an import that starts later
    // (start delay, dependencies) is not forced.
    s->force_next_import = force;
    Status wanted = Want(*s, Direction::kUp);
    s->force_next_import = zfs::Force::kNo;
    return wanted;
  });
}

Status Supervisor::StopService(const zfs::PoolName& pool) {
  return loop_.Call<Status>([this, pool]() -> Status {
    PK_ASSIGN_OR_RETURN(Service * s, Managed(pool));
    return Want(*s, Direction::kDown);
  });
}

Status Supervisor::RestartService(const zfs::PoolName& pool) {
  return loop_.Call<Status>([this, pool]() -> Status {
    PK_ASSIGN_OR_RETURN(Service * s, Managed(pool));
    PK_ASSIGN_OR_RETURN(auto graph, BuildGraph(Policies()));
    if (!IsUp(s->status.state)) {
      RequestUp(*s, graph);
    } else {
      RequestDown(*s, graph);
      s->restart = true;
    }
    Advance();
    return OkStatus();
  });
}

Status Supervisor::Skip(const zfs::PoolName& pool) {
  return loop_.Call<Status>([this, pool]() -> Status {
    PK_ASSIGN_OR_RETURN(Service * s, Managed(pool));
    s->status.policy.skip = true;
    PK_TRY(SavePolicy(*s));
    if (!IsUp(s->status.state) && !s->busy && s->status.state != State::kLocked) {
      s->want_up = false;
      SetState(*s, State::kSkipped, "skip switch set ('poolkeeper pool unskip' clears it)");
    }
    return OkStatus();
  });
}

Status Supervisor::Unskip(const zfs::PoolName& pool) {
  return loop_.Call<Status>([this, pool]() -> Status {
    PK_ASSIGN_OR_RETURN(Service * s, Managed(pool));
    if (!s->status.policy.skip) return FailedPrecondition(fmt::format("pool '{}' has no skip switch set", pool.str()));
    s->status.policy.skip = false;
    PK_TRY(SavePolicy(*s));
    if (s->status.state == State::kSkipped) {
      if (s->status.policy.enabled) {
        PK_ASSIGN_OR_RETURN(auto graph, BuildGraph(Policies()));
        SetState(*s, State::kWaiting, "skip switch cleared");
        RequestUp(*s, graph);
        Advance();
      } else {
        SetState(*s, State::kDisabled, "skip switch cleared; service disabled");
      }
    }
    return OkStatus();
  });
}

Status Supervisor::SetDelay(const zfs::PoolName& pool, int seconds) {
  if (seconds < 0 || seconds > 86400) {
    return InvalidArgument(fmt::format("delay for pool '{}' must be 0 to 86400 seconds, not {}", pool.str(), seconds));
  }
  return loop_.Call<Status>([this, pool, seconds]() -> Status {
    PK_ASSIGN_OR_RETURN(Service * s, Managed(pool));
    s->status.policy.delay_seconds = seconds;
    return SavePolicy(*s);
  });
}

Status Supervisor::Unlock(const zfs::PoolName& pool) {
  return loop_.Call<Status>([this, pool]() -> Status {
    PK_ASSIGN_OR_RETURN(Service * s, Managed(pool));
    if (s->status.state != State::kLocked) {
      return FailedPrecondition(fmt::format("pool '{}' is not locked (it is {})", pool.str(), StateName(s->status.state)));
    }
    PK_TRY(store_.RemoveLock(pool));
    SetState(*s, s->status.policy.enabled ? State::kWaiting : State::kDisabled, "unlocked by the administrator");
    if (s->status.policy.enabled && !s->status.policy.skip) {
      PK_ASSIGN_OR_RETURN(auto graph, BuildGraph(Policies()));
      RequestUp(*s, graph);
      Advance();
    }
    return OkStatus();
  });
}

}  // namespace pk::supervisor
