#include "supervisor/supervisor.h"

#include <algorithm>
#include <atomic>
#include <future>
#include <set>

#include <fmt/format.h>

#include "base/log.h"
#include "base/time.h"

namespace pk::supervisor {
namespace {

using Clock = std::chrono::steady_clock;

std::string Resource(const std::string& pool) { return "pool:" + pool; }

bool IsUp(State s) {
  return s == State::kImporting || s == State::kMounting || s == State::kSharing || s == State::kOnline ||
         s == State::kDegraded || s == State::kStopping || s == State::kStarting;
}

bool IsServing(State s) { return s == State::kOnline || s == State::kDegraded; }

zfs::ImportOptions ImportOptionsFor(const PoolPolicy& p, zfs::Dialect dialect, zfs::Force force) {
  zfs::ImportOptions o;
  o.name = *zfs::PoolName::Parse(p.pool);
  o.search_dirs = p.search_dirs;
  if (p.cachefile == "none") {
    o.cachefile = zfs::ImportOptions::Cachefile::kNone;
  } else {
    o.cachefile = zfs::ImportOptions::Cachefile::kPath;
    o.cachefile_path = p.cachefile;
  }
  if (!p.altroot.empty()) o.altroot = p.altroot;
  o.read_only = p.read_only ? zfs::ReadOnly::kYes : zfs::ReadOnly::kNo;
  // Force only after fencing: the cluster agent asserts that fact for one
  // start (StartService with Force::kYes), and only for an if_fenced policy.
  o.force = p.force == ForceImport::kIfFenced ? force : zfs::Force::kNo;
  // Mounting is a phase of its own where the flavour allows it; zfs-fuse has
  // no `import -N` and mounts at import, so its mount phase only completes
  // what the import left unmounted.
  o.mount = dialect == zfs::Dialect::kOpenZfs2 ? zfs::Mount::kNo : zfs::Mount::kYes;
  return o;
}

}  // namespace

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
    : zfs_factory_(std::move(zfs)), store_(store), events_(events), options_(std::move(options)) {}

Supervisor::~Supervisor() { Stop(); }

// ---- loop plumbing ---------------------------------------------------------

void Supervisor::Post(std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    tasks_.push_back(std::move(task));
  }
  cv_.notify_all();
}

void Supervisor::PostAt(Clock::time_point at, std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    timers_.push_back({at, std::move(task)});
  }
  cv_.notify_all();
}

template <typename T>
T Supervisor::Call(std::function<T()> fn) {
  auto promise = std::make_shared<std::promise<T>>();
  auto future = promise->get_future();
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      // The loop may be gone: answer here instead of waiting forever.
      if constexpr (std::is_constructible_v<T, std::unexpected<Error>>) {
        return T(std::unexpected(Error(ErrorCode::kUnavailable, "the daemon is stopping")));
      } else {
        return T{};
      }
    }
    tasks_.push_back([promise, fn = std::move(fn)] { promise->set_value(fn()); });
  }
  cv_.notify_all();
  return future.get();
}

void Supervisor::Spawn(std::function<void()> work) {
  std::lock_guard lock(mu_);
  if (stopping_) return;
  // Join the workers that have finished, so a long-running daemon does not
  // accumulate thread handles (one health check every period).
  std::erase_if(workers_, [](Worker& w) {
    if (!w.done->load()) return false;
    w.thread.join();
    return true;
  });
  auto done = std::make_shared<std::atomic<bool>>(false);
  workers_.push_back({std::thread([work = std::move(work), done] {
                        work();
                        done->store(true);
                      }),
                      done});
}

void Supervisor::Loop() {
  std::unique_lock lock(mu_);
  while (true) {
    auto now = Clock::now();
    std::vector<std::function<void()>> due;
    for (auto it = timers_.begin(); it != timers_.end();) {
      if (it->at <= now) {
        due.push_back(std::move(it->task));
        it = timers_.erase(it);
      } else {
        ++it;
      }
    }
    while (!tasks_.empty()) {
      due.push_back(std::move(tasks_.front()));
      tasks_.pop_front();
    }
    if (!due.empty()) {
      lock.unlock();
      for (auto& task : due) task();
      lock.lock();
      continue;
    }
    if (stopping_) return;
    if (timers_.empty()) {
      cv_.wait(lock);
    } else {
      auto next = std::min_element(timers_.begin(), timers_.end(),
                                   [](const Timer& a, const Timer& b) { return a.at < b.at; })->at;
      cv_.wait_until(lock, next);
    }
  }
}

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
    s.status.resource = Resource(b.pool);
    s.status.pool = b.pool;
    s.status.policy.pool = b.pool;
    s.status.policy.enabled = false;
    s.status.since = options_.now();
    s.status.state = State::kFailed;
    s.status.reason = fmt::format("its policy cannot be read, so it is not started: {} (fix the file and restart "
                                  "poolkeeperd, or 'poolkeeper service enable {}' once the entry is removed)",
                                  b.error, b.pool);
    services_.emplace(b.pool, std::move(s));
  }
  for (auto& p : policies) {
    Service s;
    s.status.resource = Resource(p.pool);
    s.status.pool = p.pool;
    s.status.policy = p;
    s.status.since = options_.now();
    auto lock = store_.ReadLock(*zfs::PoolName::Parse(p.pool));
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
      s.adopt_only = p.cluster;
    }
    services_.emplace(p.pool, std::move(s));
  }
  PK_ASSIGN_OR_RETURN(auto execs, store_.LoadExecs());
  for (auto& e : execs) {
    Service s;
    s.status.resource = "exec:" + e.name;
    s.status.since = options_.now();
    s.status.state = State::kWaiting;
    s.status.reason = "starting";
    s.want_up = true;
    s.status.exec = std::move(e);
    execs_.emplace(s.status.exec->name, std::move(s));
  }
  loop_ = std::thread([this] { Loop(); });
  Post([this] {
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
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (loop_.joinable()) loop_.join();
  // Calls queued before Start() (or when Start() failed) never met a loop:
  // answer them here, or their callers would wait for ever. The loop is gone,
  // so this thread owns the state now. Posts are refused from here on.
  std::deque<std::function<void()>> leftover;
  {
    std::lock_guard lock(mu_);
    leftover.swap(tasks_);
  }
  for (auto& task : leftover) task();
  std::vector<Worker> workers;
  {
    std::lock_guard lock(mu_);
    workers.swap(workers_);
  }
  for (auto& w : workers) w.thread.join();
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

Result<Supervisor::Service*> Supervisor::ManagedExec(const std::string& name) {
  auto it = execs_.find(name);
  if (it == execs_.end()) return NotFound(fmt::format("exec resource '{}' does not exist", name));
  return &it->second;
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
  s.status.since = options_.now();
  if (state != State::kWaiting) {
    s.status.start_at.reset();
    s.start_deadline.reset();
  }
  GetLogger("service")->info("resource={} state={} previous={} reason={}", s.status.resource, StateName(state),
                             StateName(previous), s.status.reason);
  auto appended = events_.Append({0, {}, s.status.resource, std::string(StateName(state)),
                                  std::string(StateName(previous)), s.status.reason});
  if (!appended) GetLogger("service")->error("event log: {}", appended.error().message());
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
  s.adopt_only = false;  // an explicit start imports
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
      s.status.start_at = options_.now() + std::chrono::seconds(p.delay_seconds);
      s.start_deadline = Clock::now() + std::chrono::seconds(p.delay_seconds);
      PostAt(*s.start_deadline, [this] { Advance(); });
      return;
    }
    if (Clock::now() < *s.start_deadline) return;
  }
  if (!DependenciesServing(s, graph)) return;
  s.busy = true;
  SetState(s, State::kImporting, p.search_dirs.empty() ? "importing" : fmt::format("importing from {}", fmt::join(p.search_dirs, ", ")));
  zfs::Force force = s.force_next_import;
  s.force_next_import = zfs::Force::kNo;
  bool adopt_only = std::exchange(s.adopt_only, false);
  Spawn([this, p, force, adopt_only] { RunImport(p, force, adopt_only); });
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
    Spawn([this, e = *s.status.exec] { RunExecStop(e); });
    return;
  }
  SetState(s, State::kStopping, "exporting");
  Spawn([this, p = s.status.policy] { RunExport(p); });
}

// ---- exec resources --------------------------------------------------------

void Supervisor::AdvanceExecUp(Service& s) {
  auto graph = BuildGraph(Policies());
  if (!graph || !DependenciesServing(s, *graph)) return;
  s.busy = true;
  SetState(s, State::kStarting, "running the start command");
  Spawn([this, e = *s.status.exec] { RunExecStart(e); });
}

Result<sys::ProcessResult> Supervisor::RunArgv(const std::vector<std::string>& argv, int timeout_seconds,
                                                const std::string& what) {
  if (!options_.runner) return Unavailable("exec resources need a process runner");
  sys::Command cmd{argv[0], {argv.begin() + 1, argv.end()}, sys::DefaultToolEnvironment(), std::nullopt,
                   std::chrono::seconds(timeout_seconds)};
  PK_ASSIGN_OR_RETURN(auto r, options_.runner->Run(cmd));
  if (r.timed_out) {
    return DeadlineExceeded(fmt::format("{}: {} did not finish within {} s and was killed", what, argv[0], timeout_seconds));
  }
  if (!r.status.Success()) {
    std::string text = r.err.empty() ? r.out : r.err;
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return FailedPrecondition(fmt::format("{}: {} {}{}{}", what, argv[0], r.status.ToString(), text.empty() ? "" : ": ", text));
  }
  return r;
}

void Supervisor::RunExecStart(ExecPolicy exec) {
  Status outcome = OkStatus();
  if (auto started = RunArgv(exec.start, exec.timeout_seconds, "start command"); !started) {
    outcome = std::unexpected(started.error());
  } else if (!exec.check.empty()) {
    if (auto checked = RunArgv(exec.check, exec.timeout_seconds, "check after start"); !checked) {
      outcome = std::unexpected(checked.error());
    }
  }
  FinishExec(exec.name, outcome, State::kOnline, exec.check.empty() ? "started" : "started; check passed");
}

void Supervisor::FinishExec(const std::string& name, Status outcome, State done, std::string reason) {
  Post([this, name, outcome, done, reason] {
    auto it = execs_.find(name);
    if (it == execs_.end()) return;
    Service& s = it->second;
    s.busy = false;
    if (outcome) {
      SetState(s, done, reason);
    } else {
      if (done == State::kOnline) s.want_up = false;
      SetState(s, State::kFailed, outcome.error().message());
    }
    if (s.restart && done == State::kStopped) {
      s.restart = false;
      if (auto graph = BuildGraph(Policies())) RequestUp(s, *graph);
    }
    Advance();
  });
}

void Supervisor::RunExecStop(ExecPolicy exec) {
  Status outcome = OkStatus();
  if (!exec.stop.empty()) {
    if (auto stopped = RunArgv(exec.stop, exec.timeout_seconds, "stop command"); !stopped) {
      outcome = std::unexpected(stopped.error());
    }
  }
  FinishExec(exec.name, outcome, State::kStopped, "stopped");
}

Status Supervisor::AddExec(ExecPolicy exec) {
  PK_TRY(exec.Validate());
  if (!options_.runner) return Unavailable("exec resources are not available in this daemon");
  return Call<Status>([this, exec]() -> Status {
    PK_ASSIGN_OR_RETURN(auto graph, BuildGraph(Policies(), &exec));
    PK_TRY(store_.SaveExec(exec));
    auto [it, fresh] = execs_.try_emplace(exec.name);
    Service& s = it->second;
    s.status.exec = exec;
    if (fresh) {
      s.status.resource = "exec:" + exec.name;
      s.status.since = options_.now();
      SetState(s, State::kWaiting, "added");
    }
    RequestUp(s, graph);
    Advance();
    return OkStatus();
  });
}

Status Supervisor::RemoveExec(const std::string& name) {
  return Call<Status>([this, name]() -> Status {
    PK_ASSIGN_OR_RETURN(Service * s, ManagedExec(name));
    if (IsUp(s->status.state) || s->busy) {
      return FailedPrecondition(fmt::format("exec resource '{}' is {}: stop it first", name, StateName(s->status.state)));
    }
    PK_TRY(store_.RemoveExec(name));
    events_.Append({0, {}, s->status.resource, "removed", std::string(StateName(s->status.state)), "removed by the administrator"});
    execs_.erase(name);
    Advance();
    return OkStatus();
  });
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

Status Supervisor::StartExec(const std::string& name) {
  return Call<Status>([this, name]() -> Status {
    PK_ASSIGN_OR_RETURN(Service * s, ManagedExec(name));
    return Want(*s, Direction::kUp);
  });
}

Status Supervisor::StopExec(const std::string& name) {
  return Call<Status>([this, name]() -> Status {
    PK_ASSIGN_OR_RETURN(Service * s, ManagedExec(name));
    return Want(*s, Direction::kDown);
  });
}

// ---- worker work -----------------------------------------------------------

void Supervisor::RunImport(PoolPolicy policy, zfs::Force force, bool adopt_only) {
  auto pool = *zfs::PoolName::Parse(policy.pool);
  auto fail = [this, pool = policy.pool](std::string reason) {
    Post([this, pool, reason] {
      if (Service* s = Find(pool)) {
        s->busy = false;
        s->want_up = false;
        SetState(*s, State::kFailed, reason);
        Advance();
      }
    });
  };
  auto zfs = zfs_factory_(std::chrono::seconds(policy.import_timeout_seconds));
  auto pools = zfs->ListPools();
  if (!pools) return fail(pools.error().message());
  bool imported = std::any_of(pools->begin(), pools->end(), [&](const auto& p) { return p.name == policy.pool; });
  if (!imported && adopt_only) {
    return Post([this, pool = policy.pool] {
      if (Service* s = Find(pool)) {
        s->busy = false;
        s->want_up = false;
        SetState(*s, State::kExported, "managed by the cluster: not imported at daemon start (Pacemaker starts it on the head it chooses)");
        Advance();
      }
    });
  }
  if (!imported) {
    // The lock record is durable before the import starts: if we die during
    // it, the next start finds it and does not try again by itself.
    auto locked = store_.WriteLock({policy.pool, "import", options_.now(), options_.pid});
    if (!locked) return fail(locked.error().WithContext("write crash-loop lock").message());
    UnprotectMountpoints(policy);
    auto done = zfs->ImportPool(ImportOptionsFor(policy, zfs->dialect(), force));
    auto unlocked = store_.RemoveLock(pool);
    if (!unlocked) GetLogger("service")->error("pool={} remove lock: {}", policy.pool, unlocked.error().message());
    if (!done) return fail(done.error().message());
  }
  Post([this, pool = policy.pool, imported] {
    if (Service* s = Find(pool)) SetState(*s, State::kMounting, imported ? "already imported; checking mounts" : "imported; mounting");
  });
  auto mount_zfs = zfs_factory_(std::chrono::seconds(policy.mount_timeout_seconds));
  std::vector<std::string> mountpoints;
  auto mounted = MountAll(*mount_zfs, policy, mountpoints);
  if (!mounted) return fail(mounted.error().message());
  if (options_.on_pool_changed) options_.on_pool_changed(policy.pool);
  auto health_zfs = zfs_factory_(options_.health_timeout);
  auto after = health_zfs->ListPools();
  std::string health = "ONLINE";
  if (after) {
    for (const auto& p : *after) {
      if (p.name == policy.pool) health = p.health;
    }
  }
  Post([this, pool = policy.pool, mountpoints] {
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
    if (auto adopted = options_.adopt_cluster_pool(policy.pool); !adopted) problems.push_back(adopted.error().message());
  }
  if (options_.serve_shares) {
    auto served = options_.serve_shares(policy.pool);
    if (served) {
      problems = std::move(*served);
    } else {
      problems.push_back(served.error().WithContext("read share definitions").message());
    }
  }
  Post([this, pool = policy.pool, note = *mounted, health, problems] {
    Service* s = Find(pool);
    if (!s) return;
    s->busy = false;
    s->status.health = health;
    s->share_problems = problems;
    SettleServing(*s, note);
    Advance();
  });
}

void Supervisor::SettleServing(Service& s, std::string online_reason) {
  if (s.status.health == "DEGRADED") {
    SetState(s, State::kDegraded, "pool health DEGRADED ('poolkeeper pool status' shows which device)");
  } else if (!s.share_problems.empty()) {
    SetState(s, State::kDegraded, fmt::format("{} share(s) not served: {}", s.share_problems.size(), fmt::join(s.share_problems, "; ")));
  } else {
    SetState(s, State::kOnline, std::move(online_reason));
  }
}

void Supervisor::ReportShares(const std::string& pool, std::vector<std::string> problems) {
  Post([this, pool, problems = std::move(problems)] {
    Service* s = Find(pool);
    if (!s) return;
    s->share_problems = problems;
    if (!s->busy && IsServing(s->status.state)) SettleServing(*s, problems.empty() ? "all shares served" : "");
  });
}

Result<std::string> Supervisor::MountAll(zfs::Zfs& zfs, const PoolPolicy& policy, std::vector<std::string>& mountpoints) {
  zfs::ListOptions q;
  q.root = policy.pool;
  q.types = {zfs::DatasetType::kFilesystem};
  q.properties = {"canmount", "mounted", "mountpoint"};
  PK_ASSIGN_OR_RETURN(auto datasets, zfs.ListDatasets(q));
  // Parents before children: a filesystem waits for its nearest listed
  // ancestor; independent subtrees mount in parallel, `mount_parallelism` at once.
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
      auto r = zfs.MountDataset(*zfs::DatasetName::Parse(job->name));
      lock.lock();
      if (!r) {
        failures.push_back(r.error().message());
        failed.insert(job->name);
      }
      pending.erase(job->name);
      cv.notify_all();
    }
  };
  std::vector<std::thread> threads;
  size_t n = std::min<size_t>(policy.mount_parallelism, std::max<size_t>(todo.size(), 1));
  for (size_t i = 0; i < n; ++i) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
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

void Supervisor::RunExport(PoolPolicy policy) {
  // Shares stop before their pool: nothing of it stays configured on this head.
  if (options_.unserve_shares) {
    if (auto unserved = options_.unserve_shares(policy.pool); !unserved) {
      GetLogger("service")->error("pool={} stop serving shares: {}", policy.pool, unserved.error().message());
    }
  }
  auto zfs = zfs_factory_(std::chrono::seconds(policy.export_timeout_seconds));
  auto done = zfs->ExportPool(*zfs::PoolName::Parse(policy.pool), zfs::Force::kNo);
  if (done) ProtectMountpoints(policy);
  if (options_.on_pool_changed) options_.on_pool_changed(policy.pool);
  Post([this, pool = policy.pool, done] {
    Service* s = Find(pool);
    if (!s) return;
    s->busy = false;
    if (!done && done.error().code() != ErrorCode::kNotFound) {
      SetState(*s, State::kFailed, done.error().message());
    } else {
      SetState(*s, State::kExported, done ? "exported" : "was not imported");
    }
    if (s->restart) {
      s->restart = false;
      auto graph = BuildGraph(Policies());
      if (graph) RequestUp(*s, *graph);
    }
    Advance();
  });
}

// ---- health ----------------------------------------------------------------

void Supervisor::ScheduleHealth() {
  PostAt(Clock::now() + options_.health_period, [this] {
    ScheduleHealth();
    // Exec resources with a check command: each check runs on its own worker;
    // the resource is busy meanwhile, so a hung check never piles up.
    for (auto& [name, s] : execs_) {
      if (s.busy || s.status.state != State::kOnline || s.status.exec->check.empty()) continue;
      s.busy = true;
      Spawn([this, e = *s.status.exec] {
        auto checked = RunArgv(e.check, e.timeout_seconds, "check");
        Status outcome = checked ? OkStatus() : Status(std::unexpected(checked.error()));
        Post([this, name = e.name, outcome] {
          auto it = execs_.find(name);
          if (it == execs_.end()) return;
          it->second.busy = false;
          if (!outcome && it->second.status.state == State::kOnline) {
            it->second.want_up = false;
            SetState(it->second, State::kFailed, outcome.error().message());
            Advance();
          }
        });
      });
    }
    if (health_in_flight_) return;  // a hung check never piles up
    bool any = std::any_of(services_.begin(), services_.end(),
                           [](const auto& kv) { return IsServing(kv.second.status.state) && !kv.second.busy; });
    if (!any) return;
    health_in_flight_ = true;
    Spawn([this] {
      auto zfs = zfs_factory_(options_.health_timeout);
      auto pools = zfs->ListPools();
      Post([this, pools] {
        health_in_flight_ = false;
        if (!pools) {
          GetLogger("service")->warn("health check failed: {}", pools.error().message());
          return;
        }
        ApplyHealth(*pools);
      });
    });
  });
}

void Supervisor::ApplyHealth(const std::vector<zfs::PoolSummary>& pools) {
  for (auto& [name, s] : services_) {
    if (s.busy || !IsServing(s.status.state)) continue;
    auto it = std::find_if(pools.begin(), pools.end(), [&](const auto& p) { return p.name == name; });
    if (it == pools.end()) {
      s.want_up = false;
      SetState(s, State::kExported, "the pool is no longer imported (exported outside Poolkeeper?)");
      continue;
    }
    s.status.health = it->health;
    if (it->health == "ONLINE" || it->health == "DEGRADED") {
      SettleServing(s, s.status.state == State::kOnline ? s.status.reason : "pool health back to ONLINE");
    } else {
      SetState(s, State::kFailed, fmt::format("pool health {}", it->health));
    }
  }
}

// ---- public commands -------------------------------------------------------

std::vector<ServiceStatus> Supervisor::List() {
  return Call<std::vector<ServiceStatus>>([this] {
    std::vector<ServiceStatus> out;
    for (const auto& [name, s] : services_) out.push_back(s.status);
    for (const auto& [name, s] : execs_) out.push_back(s.status);
    return out;
  });
}

Result<ServiceStatus> Supervisor::Get(const std::string& pool) {
  return Call<Result<ServiceStatus>>([this, pool]() -> Result<ServiceStatus> {
    auto name = zfs::PoolName::Parse(pool);
    if (!name) return std::unexpected(name.error());
    PK_ASSIGN_OR_RETURN(Service * s, Managed(*name));
    return s->status;
  });
}

Status Supervisor::Enable(PoolPolicy policy) {
  PK_TRY(policy.Validate());
  return Call<Status>([this, policy]() mutable -> Status {
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
      fresh.status.resource = Resource(policy.pool);
      fresh.status.pool = policy.pool;
      fresh.status.since = options_.now();
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
  return Call<Status>([this, pool]() -> Status {
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
  return Call<Status>([this, pool, force]() -> Status {
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
  return Call<Status>([this, pool]() -> Status {
    PK_ASSIGN_OR_RETURN(Service * s, Managed(pool));
    return Want(*s, Direction::kDown);
  });
}

Status Supervisor::RestartService(const zfs::PoolName& pool) {
  return Call<Status>([this, pool]() -> Status {
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
  return Call<Status>([this, pool]() -> Status {
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
  return Call<Status>([this, pool]() -> Status {
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
  return Call<Status>([this, pool, seconds]() -> Status {
    PK_ASSIGN_OR_RETURN(Service * s, Managed(pool));
    s->status.policy.delay_seconds = seconds;
    return SavePolicy(*s);
  });
}

Status Supervisor::Unlock(const zfs::PoolName& pool) {
  return Call<Status>([this, pool]() -> Status {
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
