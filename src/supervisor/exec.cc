// Exec resources ("exec:NAME"): programs with start/stop/check argv, run
// through the ProcessRunner on the supervisor's workers.
#include "supervisor/supervisor.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/log.h"
#include "supervisor/internal/state.h"

namespace pk::supervisor {

using internal::IsServing;
using internal::IsUp;
using internal::Resource;

Result<Supervisor::Service*> Supervisor::ManagedExec(const std::string& name) {
  auto it = execs_.find(name);
  if (it == execs_.end()) return NotFound(fmt::format("exec resource '{}' does not exist", name));
  return &it->second;
}

void Supervisor::AdvanceExecUp(Service& s) {
  auto graph = BuildGraph(Policies());
  if (!graph || !DependenciesServing(s, *graph)) return;
  s.busy = true;
  SetState(s, State::kStarting, "running the start command");
  loop_.Spawn([this, e = *s.status.exec] { RunExecStart(e); });
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
  loop_.Post([this, name, outcome, done, reason] {
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
  return loop_.Call<Status>([this, exec]() -> Status {
    PK_ASSIGN_OR_RETURN(auto graph, BuildGraph(Policies(), &exec));
    PK_TRY(store_.SaveExec(exec));
    auto [it, fresh] = execs_.try_emplace(exec.name);
    Service& s = it->second;
    s.status.exec = exec;
    if (fresh) {
      s.status.resource = "exec:" + exec.name;
      s.status.since = clock_.Now();
      SetState(s, State::kWaiting, "added");
    }
    RequestUp(s, graph);
    Advance();
    return OkStatus();
  });
}

Status Supervisor::RemoveExec(const std::string& name) {
  return loop_.Call<Status>([this, name]() -> Status {
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

Status Supervisor::StartExec(const std::string& name) {
  return loop_.Call<Status>([this, name]() -> Status {
    PK_ASSIGN_OR_RETURN(Service * s, ManagedExec(name));
    return Want(*s, Direction::kUp);
  });
}

Status Supervisor::StopExec(const std::string& name) {
  return loop_.Call<Status>([this, name]() -> Status {
    PK_ASSIGN_OR_RETURN(Service * s, ManagedExec(name));
    return Want(*s, Direction::kDown);
  });
}

}  // namespace pk::supervisor
