#include "cluster/pool_agent.h"
#include "base/text.h"

#include "zfs/label.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <future>
#include <thread>

#include <fmt/format.h>

namespace pk::cluster {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

bool Serving(const std::string& state) { return state == "online" || state == "degraded"; }
// Up on its way: the pool is (being) imported on this head.
bool ComingUp(const std::string& state) {
  return state == "waiting" || state == "importing" || state == "mounting" || state == "sharing";
}
// Health a pool can be served with.
bool HealthServes(const std::string& health) { return health.empty() || health == "ONLINE" || health == "DEGRADED"; }

Result<int> PositiveInt(const std::map<std::string, std::string>& env, const std::string& key, int fallback, int max) {
  auto it = env.find(key);
  if (it == env.end() || it->second.empty()) return fallback;
  int v = 0;
  auto [end, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
  if (ec != std::errc() || end != it->second.data() + it->second.size() || v <= 0 || v > max) {
    return InvalidArgument(fmt::format("parameter {}: '{}' is not a whole number from 1 to {}", key, it->second, max));
  }
  return v;
}

}  // namespace

std::string_view OcfCodeName(OcfCode code) {
  switch (code) {
    case OcfCode::kSuccess: return "OCF_SUCCESS";
    case OcfCode::kErrGeneric: return "OCF_ERR_GENERIC";
    case OcfCode::kErrArgs: return "OCF_ERR_ARGS";
    case OcfCode::kErrUnimplemented: return "OCF_ERR_UNIMPLEMENTED";
    case OcfCode::kErrPerm: return "OCF_ERR_PERM";
    case OcfCode::kErrInstalled: return "OCF_ERR_INSTALLED";
    case OcfCode::kErrConfigured: return "OCF_ERR_CONFIGURED";
    case OcfCode::kNotRunning: return "OCF_NOT_RUNNING";
  }
  return "OCF_ERR_GENERIC";
}

Result<PoolAgentParams> PoolAgentParams::FromEnvironment(const std::map<std::string, std::string>& env) {
  auto it = env.find("OCF_RESKEY_pool");
  if (it == env.end() || it->second.empty()) return InvalidArgument("parameter pool is required");
  auto name = zfs::PoolName::Parse(it->second);
  if (!name) return std::unexpected(name.error().WithContext("parameter pool"));
  PoolAgentParams p{.pool = *name};

  if (auto d = env.find("OCF_RESKEY_search_dirs"); d != env.end() && !d->second.empty()) {
    size_t start = 0;
    while (start <= d->second.size()) {
      size_t colon = d->second.find(':', start);
      std::string dir = d->second.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
      if (!dir.empty()) {
        if (!dir.starts_with('/')) {
          return InvalidArgument(fmt::format("parameter search_dirs: '{}' is not an absolute directory", dir));
        }
        p.search_dirs.push_back(dir);
      }
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
  }
  if (auto f = env.find("OCF_RESKEY_force_import"); f != env.end() && !f->second.empty()) {
    if (f->second == "never") {
      p.force_import = ForceImportParam::kNever;
    } else if (f->second != "if_fenced") {
      return InvalidArgument(fmt::format("parameter force_import: '{}' is neither 'if_fenced' nor 'never'", f->second));
    }
  }
  PK_ASSIGN_OR_RETURN(p.export_timeout_seconds, PositiveInt(env, "OCF_RESKEY_export_timeout", 20, 86400));
  if (auto s = env.find("OCF_RESKEY_socket"); s != env.end() && !s->second.empty()) {
    if (!s->second.starts_with('/')) {
      return InvalidArgument(fmt::format("parameter socket: '{}' is not an absolute path", s->second));
    }
    p.socket = s->second;
  }
  // Pacemaker passes the operation's timeout in milliseconds.
  PK_ASSIGN_OR_RETURN(int timeout_ms, PositiveInt(env, "OCF_RESKEY_CRM_meta_timeout", 60000, 86400000));
  p.op_timeout = milliseconds(timeout_ms);
  return p;
}

nlohmann::json PoolAgentParams::PolicyJson() const {
  // The import may use most of a start; the policy bounds each tool run.
  int import_s = std::max<int>(1, static_cast<int>(op_timeout.count() * 8 / 10 / 1000));
  return {{"search_dirs", search_dirs},
          {"force", force_import == ForceImportParam::kIfFenced ? "if-fenced" : "never"},
          {"cluster", true},
          {"import_timeout_seconds", import_s},
          {"export_timeout_seconds", export_timeout_seconds}};
}

bool ImportRefusedAsInUse(const std::string& reason) { return zfs::RefusedAsInUse(reason); }

std::optional<LastImporter> ParseLastImporter(const std::string& refusal) {
  std::string lower = Lower(refusal);
  static constexpr std::string_view kBy = "last accessed by ";
  size_t at = lower.find(kBy);
  if (at == std::string::npos) return std::nullopt;
  size_t start = at + kBy.size();
  size_t end = start;
  while (end < refusal.size() && !std::isspace(static_cast<unsigned char>(refusal[end])) && refusal[end] != '(') ++end;
  LastImporter li;
  li.host = refusal.substr(start, end - start);
  // "another system" (OpenZFS without a hostname in the label) names nobody.
  if (li.host.empty() || Lower(li.host) == "another" || Lower(li.host) == "other") return std::nullopt;
  if (size_t dot = li.host.find('.'); dot != std::string::npos) li.host.resize(dot);
  size_t id = lower.find("hostid", end);
  if (id != std::string::npos && id < end + 4) {
    size_t v = id + 6;
    while (v < refusal.size() && (refusal[v] == ':' || refusal[v] == '=' || refusal[v] == ' ')) ++v;
    size_t e = v;
    while (e < refusal.size() && std::isxdigit(static_cast<unsigned char>(refusal[e])) != 0) ++e;
    if (e < refusal.size() && (refusal[e] == 'x' || refusal[e] == 'X') && e == v + 1) {
      ++e;
      while (e < refusal.size() && std::isxdigit(static_cast<unsigned char>(refusal[e])) != 0) ++e;
    }
    li.hostid = refusal.substr(v, e - v);
  }
  return li;
}

// The refusal must carry the label of a member (zfs::LabelClause, added by the
// adapter from `zdb -l`) naming the last importer; zpool's own words, if they
// name one, must agree with it.
ForceDecision DecideForcedImport(const std::string& refusal, const ClusterStatus& cluster, const std::string& self) {
  auto no = [](std::string why) { return ForceDecision{false, std::move(why)}; };
  if (!cluster.fencing_enabled) {
    return no("the cluster has fencing disabled (stonith-enabled=false), so the other head may still use it");
  }
  // Who used the pool last is read from its label (`zdb -l` of a member, the
  // clause zfs::CliZfs adds to the refusal); zpool's own words, when they
  // name a host, must agree with it.
  auto label = zfs::FindLabelImporter(refusal);
  if (!label) {
    return no("the pool's label could not be read (zdb -l of a member), so nothing proves which system used it last");
  }
  auto said = ParseLastImporter(refusal);
  std::string host = label->host;
  if (size_t dot = host.find('.'); dot != std::string::npos) host.resize(dot);
  if (host.empty()) {
    return no(fmt::format("the label of '{}' records no host name, so nothing proves which system used the pool last",
                          label->device));
  }
  if (said && Lower(said->host) != Lower(host)) {
    return no(fmt::format("the refusal names '{}' but the label of '{}' records '{}'", said->host, label->device, host));
  }
  LastImporter last{host, label->hostid};
  const std::string who = last.hostid.empty() ? fmt::format("'{}'", last.host)
                                              : fmt::format("'{}' (hostid {})", last.host, last.hostid);
  if (Lower(last.host) == Lower(self)) {
    return no(fmt::format("it was last used by this head {} under another hostid: check /etc/hostid", who));
  }
  const HeadStatus* head = nullptr;
  for (const auto& h : cluster.heads) {
    if (Lower(h.name) == Lower(last.host)) head = &h;
  }
  if (!head) return no(fmt::format("it was last used by {}, which is not a head of this cluster", who));
  if (head->unclean) return no(fmt::format("it was last used by head {}, which is lost but not fenced yet", who));
  if (head->online) return no(fmt::format("it was last used by head {}, which is online and may still use it", who));
  const FenceEvent* fenced = nullptr;
  for (const auto& e : cluster.fence_history) {  // newest first
    if (Lower(e.target) == Lower(head->name) && e.status == "success" && (e.action == "off" || e.action == "reboot")) {
      fenced = &e;
      break;
    }
  }
  if (!fenced) {
    return no(fmt::format("it was last used by head {}, which is offline, but Pacemaker's fencing history has no "
                          "successful fencing of it", who));
  }
  return {true, fmt::format("it was last used by head {}, which Pacemaker fenced ({} by {}{})", who, fenced->action,
                            fenced->by, fenced->completed.empty() ? "" : " at " + fenced->completed)};
}

std::optional<std::string> HostIdTwin(const std::string& self, const std::string& hostid,
                                      const std::map<std::string, std::string>& published) {
  for (const auto& [head, id] : published) {
    if (head != self && Lower(id) == Lower(hostid)) return head;
  }
  return std::nullopt;
}

AgentOutcome MapMonitor(const std::string& pool, const ServiceView& s, bool imported) {
  auto out = [&](OcfCode code, std::string msg) { return AgentOutcome{code, std::move(msg)}; };
  if (Serving(s.state)) {
    // The service is authoritative here: the daemon's view of imported pools
    // is refreshed after the import and may lag a moment, and the
    // supervisor's health check notices a pool that went away.
    if (!HealthServes(s.health)) {
      return out(OcfCode::kErrGeneric, fmt::format("pool '{}' is {}", pool, s.health));
    }
    return out(OcfCode::kSuccess, fmt::format("pool '{}' {} ({})", pool, s.state, s.health.empty() ? "?" : s.health));
  }
  if (ComingUp(s.state) && s.state != "waiting") {
    // Held by this head while it comes up: never "not running", or Pacemaker
    // could start it elsewhere at the same time.
    return out(OcfCode::kSuccess, fmt::format("pool '{}' {}: {}", pool, s.state, s.reason));
  }
  if (s.state == "failed" || s.state == "stopping" || s.state == "locked") {
    if (imported || s.state == "stopping") {
      return out(OcfCode::kErrGeneric, fmt::format("pool '{}' {} on this head: {}", pool, s.state, s.reason));
    }
    return out(OcfCode::kNotRunning, fmt::format("pool '{}' not imported ({}: {})", pool, s.state, s.reason));
  }
  // disabled, skipped, waiting, exported, stopped: not served here.
  if (imported) {
    return out(OcfCode::kErrGeneric,
               fmt::format("pool '{}' is imported on this head but its service is {}", pool, s.state));
  }
  return out(OcfCode::kNotRunning, fmt::format("pool '{}' not imported ({})", pool, s.state));
}

Clock::time_point PoolAgent::Deadline() const {
  // Report before Pacemaker's timeout: a tenth of it, at least 1 s and at most 5 s.
  milliseconds margin = std::clamp<milliseconds>(params_.op_timeout / 10, milliseconds(1000), milliseconds(5000));
  return started_ + (params_.op_timeout > margin ? params_.op_timeout - margin : params_.op_timeout / 2);
}

AgentOutcome PoolAgent::Fail(OcfCode code, std::string message) const { return AgentOutcome{code, std::move(message)}; }

Result<ServiceView> PoolAgent::ServiceUntil(Clock::time_point deadline) {
  while (true) {
    auto s = daemon_.Service(params_.pool);
    if (s || s.error().code() != ErrorCode::kUnavailable || clock_.SteadyNow() >= deadline) return s;
    clock_.SleepFor(kPoll);
  }
}

void PoolAgent::MarkEvents() {
  auto seq = daemon_.LastEventSeq();
  event_seq_ = seq ? std::optional<uint64_t>(*seq) : std::nullopt;
}

void PoolAgent::AwaitChange(Clock::time_point deadline) {
  // A long poll may last kEventWait: only while that keeps within the deadline.
  if (event_seq_ && clock_.SteadyNow() + PoolControl::kEventWait < deadline) {
    if (auto seq = daemon_.WaitForEvent(*event_seq_)) {
      event_seq_ = *seq;
      return;
    }
    event_seq_.reset();  // the event log does not answer: poll from here on
  }
  clock_.SleepFor(kPoll);
}

Status PoolAgent::RefuseHostIdTwin() {
  const std::string hostid = cluster_.LocalHostId();
  if (hostid.empty()) return OkStatus();
  // A guard, not a precondition: Pacemaker's tools failing here must not hold up a failover.
  auto published = cluster_.ExchangeHostIds(hostid);
  if (!published) return OkStatus();
  auto twin = HostIdTwin(cluster_.LocalHead(), hostid, *published);
  if (!twin) return OkStatus();
  return FailedPrecondition(fmt::format(
      "this head's hostid {} is also head '{}''s (heads cloned from one image?): pool labels and multihost cannot tell "
      "the two apart, so no cluster pool is imported here; give this head a hostid of its own (remove /etc/hostid and "
      "run zgenhostid, or `poolkeeper cluster join` again), then `crm_resource --cleanup`", hostid, *twin));
}

AgentOutcome PoolAgent::Start() {
  const std::string& pool = params_.pool.str();
  const auto deadline = Deadline();
  // The daemon may still be starting on a head that just booted.
  auto first = ServiceUntil(std::min(deadline, started_ + std::chrono::seconds(10)));
  if (!first && first.error().code() != ErrorCode::kNotFound) {
    return Fail(OcfCode::kErrGeneric, fmt::format("start pool '{}': {}", pool, first.error().message()));
  }
  if (first && Serving(first->state) && HealthServes(first->health)) {
    return {OcfCode::kSuccess, fmt::format("pool '{}' already {}", pool, first->state)};
  }
  if (auto twin = RefuseHostIdTwin(); !twin) {
    return Fail(OcfCode::kErrInstalled, fmt::format("start pool '{}': {}", pool, twin.error().message()));
  }
  // Whether the cluster fences decides a forced import, which is needed after
  // every failover from a head that did not export (it was fenced): asked of
  // Pacemaker now (crm_attribute, 0.1-0.3 s on a loaded head) while the
  // daemon imports, so that the answer is there when the import is refused.
  // ClusterFacts is used by that thread only; the destructor waits for it.
  std::future<Result<ClusterStatus>> fencing_answer;
  if (params_.force_import == ForceImportParam::kIfFenced) {
    fencing_answer = std::async(std::launch::async, [this] { return cluster_.Status(); });
  }
  MarkEvents();
  // Enable saves the policy and starts the service (never forced).
  if (auto enabled = daemon_.Enable(params_.pool, params_.PolicyJson()); !enabled) {
    return Fail(OcfCode::kErrGeneric, fmt::format("start pool '{}': {}", pool, enabled.error().message()));
  }
  bool forced = false;
  std::string forced_why;
  bool restarted = false;
  std::string last = "no answer";
  while (clock_.SteadyNow() < deadline) {
    auto s = daemon_.Service(params_.pool);
    if (!s) {
      last = s.error().message();
      clock_.SleepFor(kPoll);
      continue;
    }
    last = fmt::format("{}: {}", s->state, s->reason);
    if (Serving(s->state)) {
      if (!HealthServes(s->health)) {
        return Fail(OcfCode::kErrGeneric, fmt::format("start pool '{}': imported but {}", pool, s->health));
      }
      return {OcfCode::kSuccess, fmt::format("pool '{}' {}{}: {}", pool, s->state,
                                             forced ? " (forced import: " + forced_why + ")" : "", s->reason)};
    }
    if (s->state == "failed") {
      if (!forced && params_.force_import == ForceImportParam::kIfFenced && ImportRefusedAsInUse(s->reason)) {
        // Forced only with proof that whoever used the pool last was fenced (issue 17 item 7).
        auto cluster = fencing_answer.valid() ? fencing_answer.get() : cluster_.Status();
        if (!cluster) {
          return Fail(OcfCode::kErrGeneric, fmt::format("start pool '{}': {}; not forcing the import: cannot read the "
                                                        "cluster's state: {}", pool, s->reason, cluster.error().message()));
        }
        ForceDecision decision = DecideForcedImport(s->reason, *cluster, cluster_.LocalHead());
        if (!decision.force) {
          return Fail(OcfCode::kErrGeneric,
                      fmt::format("start pool '{}': {}; not forcing the import: {}", pool, s->reason, decision.why));
        }
        forced_why = decision.why;
        if (auto again = daemon_.Start(params_.pool, zfs::Force::kYes); !again) {
          return Fail(OcfCode::kErrGeneric, fmt::format("start pool '{}' with a forced import: {}", pool, again.error().message()));
        }
        forced = true;
        continue;
      }
      return Fail(OcfCode::kErrGeneric, fmt::format("start pool '{}': {}", pool, s->reason));
    }
    if (s->state == "locked" || s->state == "skipped") {
      return Fail(OcfCode::kErrGeneric, fmt::format("start pool '{}': service {}: {}", pool, s->state, s->reason));
    }
    if (!ComingUp(s->state) && !restarted) {
      // Exported, stopped or disabled after the enable (a stop raced it): once more.
      if (auto again = daemon_.Start(params_.pool, zfs::Force::kNo); !again) {
        return Fail(OcfCode::kErrGeneric, fmt::format("start pool '{}': {}", pool, again.error().message()));
      }
      restarted = true;
      continue;
    }
    AwaitChange(deadline);
  }
  return Fail(OcfCode::kErrGeneric, fmt::format("start pool '{}': not serving within {} ms (last: {})", pool,
                                                params_.op_timeout.count(), last));
}

AgentOutcome PoolAgent::Stop() {
  const std::string& pool = params_.pool.str();
  const auto deadline = Deadline();
  // The clean stop (shares, then export) may use the first half of the time.
  const auto clean_deadline = started_ + (deadline - started_) / 2;
  auto disable = [&](std::string done) -> AgentOutcome {
    if (auto d = daemon_.Disable(params_.pool); !d && d.error().code() != ErrorCode::kNotFound) {
      // Exported, which is what Pacemaker needs; the boot-time import switch
      // stays on, which the next start overwrites anyway.
      return {OcfCode::kSuccess, fmt::format("{}; could not disable its service: {}", done, d.error().message())};
    }
    return {OcfCode::kSuccess, std::move(done)};
  };

  auto first = ServiceUntil(clean_deadline);
  if (!first && first.error().code() == ErrorCode::kUnavailable) {
    return Fail(OcfCode::kErrGeneric, fmt::format("stop pool '{}': {}", pool, first.error().message()));
  }
  std::string why;
  if (first) {
    MarkEvents();
    if (auto stopped = daemon_.Stop(params_.pool); !stopped) {
      why = stopped.error().message();
    } else {
      while (clock_.SteadyNow() < clean_deadline) {
        auto s = daemon_.Service(params_.pool);
        if (s && (s->state == "exported" || s->state == "disabled" || s->state == "stopped")) {
          return disable(fmt::format("pool '{}' exported", pool));
        }
        if (s && s->state == "failed") {
          auto imported = daemon_.Imported(params_.pool);
          if (imported && !*imported) return disable(fmt::format("pool '{}' not imported ({})", pool, s->reason));
          why = s->reason;
          break;
        }
        why = s ? fmt::format("still {}: {}", s->state, s->reason) : s.error().message();
        AwaitChange(clean_deadline);
      }
    }
  }
  // Not managed, a failed export, or out of time: is it imported at all?
  auto imported = daemon_.Imported(params_.pool);
  if (imported && !*imported) {
    return disable(fmt::format("pool '{}' not imported{}", pool, why.empty() ? "" : " (" + why + ")"));
  }
  if (!first && clock_.SteadyNow() < clean_deadline) {
    // Imported here but not managed by the daemon: a clean export first.
    auto left = std::chrono::duration_cast<milliseconds>(clean_deadline - clock_.SteadyNow());
    auto exported = daemon_.Export(params_.pool, zfs::Force::kNo, left);
    if (exported || exported.error().code() == ErrorCode::kNotFound) {
      return disable(fmt::format("pool '{}' exported (it was not managed by poolkeeperd)", pool));
    }
    why = exported.error().message();
  }
  // Escalate: a forced export within what is left of the operation.
  auto now = clock_.SteadyNow();
  if (now >= deadline) {
    return Fail(OcfCode::kErrGeneric, fmt::format("stop pool '{}': no time left for a forced export ({})", pool, why));
  }
  auto left = std::chrono::duration_cast<milliseconds>(deadline - now);
  auto forced = daemon_.Export(params_.pool, zfs::Force::kYes, left);
  if (forced || forced.error().code() == ErrorCode::kNotFound) {
    return disable(fmt::format("pool '{}' exported with force{}", pool, why.empty() ? "" : " after: " + why));
  }
  return Fail(OcfCode::kErrGeneric, fmt::format("stop pool '{}': {}; forced export failed: {}", pool,
                                                why.empty() ? "export did not finish" : why, forced.error().message()));
}

AgentOutcome PoolAgent::Monitor() {
  const std::string& pool = params_.pool.str();
  auto s = ServiceUntil(std::min(Deadline(), started_ + std::chrono::seconds(10)));
  if (!s && s.error().code() != ErrorCode::kNotFound) {
    return Fail(OcfCode::kErrGeneric, fmt::format("monitor pool '{}': {}", pool, s.error().message()));
  }
  auto imported = daemon_.Imported(params_.pool);
  if (!imported) return Fail(OcfCode::kErrGeneric, fmt::format("monitor pool '{}': {}", pool, imported.error().message()));
  if (!s) {
    // Not managed by this head's daemon.
    if (*imported) {
      return Fail(OcfCode::kErrGeneric, fmt::format("pool '{}' is imported on this head but not managed by poolkeeperd", pool));
    }
    return {OcfCode::kNotRunning, fmt::format("pool '{}' not managed and not imported here", pool)};
  }
  return MapMonitor(pool, *s, *imported);
}

std::string PoolAgentMetadata() {
  return R"(<?xml version="1.0"?>
<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">
<resource-agent name="pool" version="0.1">
<version>1.1</version>
<longdesc lang="en">
A ZFS pool served by Poolkeeper: start imports it through the head's poolkeeperd
(which mounts its filesystems and serves every share and target the pool defines),
stop takes them down and exports the pool (escalating to a forced export, then to
failure so that the head is fenced), monitor reports the pool service's state
without running a ZFS tool. The import is forced only when the pool was last used by
another head and the cluster fences (force_import=if_fenced).
</longdesc>
<shortdesc lang="en">ZFS pool served by Poolkeeper</shortdesc>
<parameters>
<parameter name="pool" unique="1" required="1">
<longdesc lang="en">Name of the ZFS pool.</longdesc>
<shortdesc lang="en">Pool name</shortdesc>
<content type="string"/>
</parameter>
<parameter name="search_dirs" unique="0" required="0">
<longdesc lang="en">Directories searched for the pool's devices (zpool import -d), separated by ':'. Empty: the ZFS default.</longdesc>
<shortdesc lang="en">Device directories</shortdesc>
<content type="string" default=""/>
</parameter>
<parameter name="force_import" unique="0" required="0">
<longdesc lang="en">if_fenced: when the import is refused because another system used the pool last, import with force, but only while the cluster has fencing enabled. never: never force.</longdesc>
<shortdesc lang="en">When to force the import</shortdesc>
<content type="string" default="if_fenced"/>
</parameter>
<parameter name="export_timeout" unique="0" required="0">
<longdesc lang="en">Seconds a clean export may take before it is killed (the stop escalates to a forced export after half the stop timeout in any case).</longdesc>
<shortdesc lang="en">Export timeout</shortdesc>
<content type="integer" default="20"/>
</parameter>
<parameter name="socket" unique="0" required="0">
<longdesc lang="en">The local poolkeeperd's API socket.</longdesc>
<shortdesc lang="en">poolkeeperd socket</shortdesc>
<content type="string" default="/run/poolkeeper/poolkeeperd.sock"/>
</parameter>
</parameters>
<actions>
<action name="start" timeout="60s"/>
<action name="stop" timeout="60s"/>
<action name="monitor" timeout="20s" interval="5s" depth="0"/>
<action name="meta-data" timeout="5s"/>
<action name="validate-all" timeout="5s"/>
</actions>
</resource-agent>
)";
}

}  // namespace pk::cluster
