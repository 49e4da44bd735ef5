// The API's pool-service routes: services, pool switches and the event log.
#include <fmt/format.h>

#include "api/internal/request.h"
#include "api/router.h"
#include "base/time.h"

namespace pk::api {
namespace {

using nlohmann::json;
using namespace internal;

json ServiceToJson(const supervisor::ServiceStatus& s) {
  json j = {{"resource", s.resource},
            {"pool", s.pool},
            {"state", supervisor::StateName(s.state)},
            {"reason", s.reason},
            {"since", FormatRfc3339(s.since)},
            {"health", s.health},
            {"policy", s.policy.ToJson()}};
  if (s.start_at) j["start_at"] = FormatRfc3339(*s.start_at);
  if (s.exec) {
    j["exec"] = s.exec->ToJson();
    j.erase("policy");
  }
  return j;
}

// Fields an `enable` body may set; anything else is refused so a typo is not ignored.
constexpr std::string_view kPolicyFields[] = {
    "search_dirs", "cachefile", "altroot", "read_only", "force", "import_timeout_seconds",
    "mount_timeout_seconds", "export_timeout_seconds", "mount_parallelism", "after", "delay_seconds", "cluster"};

}  // namespace

Result<supervisor::Supervisor*> Router::RequireSupervisor() {
  if (!supervisor_) return Unavailable("pool services are not running in this daemon");
  return supervisor_;
}

Result<HttpResponse> Router::ListServices() {
  PK_ASSIGN_OR_RETURN(auto* sup, RequireSupervisor());
  json out = json::array();
  for (const auto& s : sup->List()) out.push_back(ServiceToJson(s));
  return JsonResponse({{"services", out}});
}

Result<HttpResponse> Router::GetService(const std::string& pool) {
  PK_ASSIGN_OR_RETURN(auto* sup, RequireSupervisor());
  PK_TRY(zfs::PoolName::Parse(pool));
  PK_ASSIGN_OR_RETURN(auto s, sup->Get(pool));
  return JsonResponse(ServiceToJson(s));
}

Result<HttpResponse> Router::ServiceAction(const std::string& pool_text, const std::string& action,
                                               const HttpRequest& r) {
  PK_ASSIGN_OR_RETURN(auto* sup, RequireSupervisor());
  PK_ASSIGN_OR_RETURN(auto pool, zfs::PoolName::Parse(pool_text));
  std::string context = fmt::format("{} service of pool '{}'", action, pool.str());
  Status done;
  if (action == "enable") {
    PK_ASSIGN_OR_RETURN(auto body, ParseBody(r));
    // Start from the current policy (or the defaults) and overlay the body.
    auto current = sup->Get(pool.str());
    supervisor::PoolPolicy base;
    base.pool = pool.str();
    json merged = current ? current->policy.ToJson() : base.ToJson();
    for (const auto& [key, value] : body.items()) {
      if (std::find(std::begin(kPolicyFields), std::end(kPolicyFields), key) == std::end(kPolicyFields)) {
        return InvalidArgument(fmt::format("{}: unknown policy field '{}'", context, key));
      }
      merged[key] = value;
    }
    auto policy = supervisor::PoolPolicy::FromJson(merged);
    if (!policy) return std::unexpected(policy.error().WithContext(context));
    done = sup->Enable(*policy);
  } else if (action == "disable") {
    done = sup->Disable(pool);
  } else if (action == "start") {
    // {"force_import": true}: the caller asserts the previous owner was fenced
    // (the cluster agent); the supervisor honours it only for force=if_fenced.
    PK_ASSIGN_OR_RETURN(auto json_body, ParseBody(r));
    JsonFields body(json_body, context);
    PK_ASSIGN_OR_RETURN(bool force, BoolField(body, "force_import", false));
    PK_TRY(body.Finish());
    done = sup->StartService(pool, force ? zfs::Force::kYes : zfs::Force::kNo);
  } else if (action == "stop") {
    done = sup->StopService(pool);
  } else if (action == "restart") {
    done = sup->RestartService(pool);
  } else {
    return NotFound(fmt::format("no service action '{}' (enable, disable, start, stop, restart)", action));
  }
  if (!done) return std::unexpected(done.error());
  PK_ASSIGN_OR_RETURN(auto s, sup->Get(pool.str()));
  return JsonResponse(ServiceToJson(s));
}

Result<HttpResponse> Router::PoolSwitch(const std::string& pool_text, const std::string& action,
                                            const HttpRequest& r) {
  PK_ASSIGN_OR_RETURN(auto* sup, RequireSupervisor());
  PK_ASSIGN_OR_RETURN(auto pool, zfs::PoolName::Parse(pool_text));
  Status done;
  if (action == "skip") {
    done = sup->Skip(pool);
  } else if (action == "unskip") {
    done = sup->Unskip(pool);
  } else if (action == "unlock") {
    done = sup->Unlock(pool);
  } else {
    PK_ASSIGN_OR_RETURN(auto json_body, ParseBody(r));
    JsonFields body(json_body, fmt::format("delay of pool '{}'", pool.str()));
    int64_t seconds = 0;
    body.Require("seconds", seconds);
    PK_TRY(body.Finish());
    if (seconds < 0 || seconds > 86400) {
      return InvalidArgument(fmt::format("delay of pool '{}' must be 0 to 86400 seconds, not {}", pool.str(), seconds));
    }
    done = sup->SetDelay(pool, static_cast<int>(seconds));
  }
  if (!done) return std::unexpected(done.error());
  PK_ASSIGN_OR_RETURN(auto s, sup->Get(pool.str()));
  return JsonResponse(ServiceToJson(s));
}

Result<HttpResponse> Router::ListExecs() {
  PK_ASSIGN_OR_RETURN(auto* sup, RequireSupervisor());
  json out = json::array();
  for (const auto& s : sup->List()) {
    if (s.exec) out.push_back(ServiceToJson(s));
  }
  return JsonResponse({{"resources", out}});
}

Result<HttpResponse> Router::AddExec(const HttpRequest& r) {
  PK_ASSIGN_OR_RETURN(auto* sup, RequireSupervisor());
  PK_ASSIGN_OR_RETURN(auto body, ParseBody(r));
  PK_ASSIGN_OR_RETURN(auto exec, supervisor::ExecPolicy::FromJson(body));
  PK_TRY(sup->AddExec(exec));
  return ExecAction(exec.name, "GET", "");
}

Result<HttpResponse> Router::ExecAction(const std::string& name, const std::string& method, const std::string& action) {
  PK_ASSIGN_OR_RETURN(auto* sup, RequireSupervisor());
  Status done;
  if (method == "DELETE") {
    PK_TRY(sup->RemoveExec(name));
    return JsonResponse({{"ok", true}, {"removed", "exec:" + name}});
  }
  if (method == "POST" && action == "start") {
    done = sup->StartExec(name);
  } else if (method == "POST" && action == "stop") {
    done = sup->StopExec(name);
  } else if (method != "GET" || !action.empty()) {
    return NotFound(fmt::format("no API route for {} /v1/resources/{}{}", method, name, action.empty() ? "" : "?action=" + action));
  }
  if (!done) return std::unexpected(done.error());
  for (const auto& s : sup->List()) {
    if (s.exec && s.exec->name == name) return JsonResponse(ServiceToJson(s));
  }
  return NotFound(fmt::format("exec resource '{}' does not exist", name));
}

Result<HttpResponse> Router::Events(const HttpRequest& r) {
  if (!events_) return Unavailable("the event log is not open in this daemon");
  PK_ASSIGN_OR_RETURN(int64_t after, QueryInt(r, "after", 0, 0, INT64_MAX));
  PK_ASSIGN_OR_RETURN(int64_t wait, QueryInt(r, "wait", 0, 0, 60));
  PK_ASSIGN_OR_RETURN(int64_t limit, QueryInt(r, "limit", 1000, 1, 10000));
  std::function<bool()> client_gone;
  if (wait > 0 && r.cancel) {
    // A client that hangs up ends its long poll at once (issue 17 item 1).
    events::EventLog* log = events_;
    r.cancel->OnCancel([log] { log->WakeWaiters(); });
    client_gone = [cancel = r.cancel] { return cancel->cancelled(); };
  }
  auto events = wait > 0 ? events_->WaitSince(after, std::chrono::seconds(wait), limit, client_gone)
                         : events_->Since(after, limit);
  json out = json::array();
  for (const auto& e : events) out.push_back(e.ToJson());
  return JsonResponse({{"events", out}, {"last_seq", events_->LastSeq()}});
}

}  // namespace pk::api
