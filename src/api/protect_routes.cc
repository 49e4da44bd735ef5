// The API's snapshot policy routes (issue 24 item 1) and scrub policy routes
// (item 3). A policy is parsed (protect::Schedule, Retention, ValidatePrefix,
// ScrubPolicy) before zfs runs, so a bad one writes nothing; set and clear
// refresh the inventory (the schedulers' targets come from it) and wake the
// scheduler.
#include <fmt/format.h>

#include "api/internal/request.h"
#include "api/router.h"
#include "base/time.h"
#include "protect/policies.h"

namespace pk::api {

using nlohmann::json;
using namespace internal;

namespace {

json StatusToJson(const protect::DatasetStatus& st) {
  auto time = [](const std::optional<std::chrono::system_clock::time_point>& t) {
    return t ? json(FormatRfc3339(*t)) : json(nullptr);
  };
  return {{"dataset", st.dataset},
          {"policy", st.policy},
          {"source", st.source},
          {"last_run", time(st.last_run)},
          {"last_snapshot", st.last_snapshot},
          {"next_run", time(st.next_run)},
          {"last_error", st.last_error},
          {"snapshots", st.snapshots}};
}

json ScrubStatusToJson(const protect::ScrubStatus& st) {
  auto time = [](const std::optional<std::chrono::system_clock::time_point>& t) {
    return t ? json(FormatRfc3339(*t)) : json(nullptr);
  };
  return {{"pool", st.pool},
          {"schedule", st.policy},
          {"source", st.source},
          {"state", st.state},
          {"reason", st.reason},
          {"last_scan_end", time(st.last_scan_end)},
          {"next_run", time(st.next_run)},
          {"last_requested", time(st.last_requested)},
          {"last_error", st.last_error}};
}

}  // namespace

Result<HttpResponse> Router::SnapshotPolicyRoute(const std::string& name, const HttpRequest& r) {
  const std::string& m = r.method;
  if (name.empty()) {
    if (m != "GET") return NotFound(fmt::format("no API route for {} {}", m, r.path));
    json out = json::array();
    if (scheduler_) {
      for (const auto& st : scheduler_->Statuses()) out.push_back(StatusToJson(st));
    }
    return JsonResponse({{"policies", out}, {"scheduler", scheduler_ != nullptr}});
  }
  PK_ASSIGN_OR_RETURN(auto ds, zfs::DatasetName::Parse(name));
  if (m == "GET") {
    PK_ASSIGN_OR_RETURN(auto view, protect::GetPolicy(ToolReads(), ds));
    json j = {{"dataset", ds.str()}, {"policy", view.value}, {"source", view.source}, {"status", nullptr}};
    if (!view.value.empty() && view.value != protect::kNoPolicy) {
      auto parsed = protect::Policy::Parse(view.value);
      if (!parsed) j["error"] = parsed.error().message();
    }
    if (scheduler_) {
      for (const auto& st : scheduler_->Statuses()) {
        if (st.dataset == ds.str()) j["status"] = StatusToJson(st);
      }
    }
    return JsonResponse(j);
  }
  if (m == "PUT") {
    PK_ASSIGN_OR_RETURN(auto json_body, ParseBody(r));
    JsonFields body(json_body, "");
    PK_ASSIGN_OR_RETURN(auto schedule, StringField(body, "schedule"));
    std::string context = fmt::format("set snapshot policy of '{}'", ds.str());
    if (schedule == protect::kNoPolicy) {
      // Opts this dataset (and its children) out of an inherited policy.
      PK_TRY(body.Finish());
      PK_TRY(protect::OptOut(zfs_, ds));
    } else {
      PK_ASSIGN_OR_RETURN(auto keep, StringField(body, "keep"));
      std::string prefix = "auto";
      if (body.Has("prefix")) {
        PK_ASSIGN_OR_RETURN(prefix, StringField(body, "prefix"));
      }
      PK_TRY(body.Finish());
      protect::Policy policy;
      auto fail = [&](const Error& e) { return std::unexpected(e.WithContext(context)); };
      auto s = protect::Schedule::Parse(schedule);
      if (!s) return fail(s.error());
      auto k = protect::Retention::Parse(keep);
      if (!k) return fail(k.error());
      if (auto p = protect::ValidatePrefix(prefix); !p) return fail(p.error());
      policy.schedule = *s;
      policy.keep = *k;
      policy.prefix = prefix;
      PK_TRY(protect::SetPolicy(zfs_, ds, policy));
    }
  } else if (m == "DELETE") {
    PK_TRY(protect::ClearPolicy(zfs_, ds));
  } else {
    return NotFound(fmt::format("no API route for {} {}", m, r.path));
  }
  LogRefresh(inventory_.RefreshTree(ds.str()));
  if (scheduler_) scheduler_->Poke();
  PK_ASSIGN_OR_RETURN(auto view, protect::GetPolicy(zfs_, ds));
  return JsonResponse({{"dataset", ds.str()}, {"policy", view.value}, {"source", view.source}});
}

Result<HttpResponse> Router::ScrubPolicyRoute(const std::string& name, const HttpRequest& r) {
  const std::string& m = r.method;
  auto statuses = [&] { return scrubs_ ? scrubs_->Statuses() : std::vector<protect::ScrubStatus>{}; };
  if (name.empty()) {
    if (m != "GET") return NotFound(fmt::format("no API route for {} {}", m, r.path));
    json out = json::array();
    for (const auto& st : statuses()) out.push_back(ScrubStatusToJson(st));
    return JsonResponse({{"policies", out}, {"scheduler", scrubs_ != nullptr}});
  }
  PK_ASSIGN_OR_RETURN(auto pool, zfs::PoolName::Parse(name));
  if (m == "PUT") {
    PK_ASSIGN_OR_RETURN(auto json_body, ParseBody(r));
    JsonFields body(json_body, "");
    PK_ASSIGN_OR_RETURN(auto schedule, StringField(body, "schedule"));
    PK_TRY(body.Finish());
    auto policy = protect::ScrubPolicy::Parse(schedule);
    if (!policy) return std::unexpected(policy.error().WithContext(fmt::format("set scrub schedule of pool '{}'", name)));
    PK_TRY(protect::SetScrubPolicy(zfs_, pool, *policy));
  } else if (m == "DELETE") {
    PK_TRY(protect::ClearScrubPolicy(zfs_, pool));
  } else if (m != "GET") {
    return NotFound(fmt::format("no API route for {} {}", m, r.path));
  }
  if (m != "GET") {
    LogRefresh(inventory_.RefreshTree(pool.str()));
    if (scrubs_) scrubs_->Poke();
  }
  PK_ASSIGN_OR_RETURN(auto root, zfs::DatasetName::Parse(pool.str()));
  auto d = ToolReads().GetDataset(root.str(), {protect::kScrubProperty});
  if (!d) return std::unexpected(d.error().WithContext(fmt::format("show scrub schedule of pool '{}'", name)));
  json j = {{"pool", pool.str()}, {"schedule", protect::ScrubPolicy{}.str()}, {"source", "default"}, {"status", nullptr}};
  if (auto it = d->properties.find(protect::kScrubProperty);
      it != d->properties.end() && (it->second.source == zfs::PropertySource::kLocal ||
                                    it->second.source == zfs::PropertySource::kReceived)) {
    auto parsed = protect::ScrubPolicy::Parse(it->second.value);
    j["schedule"] = parsed ? parsed->str() : it->second.value;
    j["source"] = "local";
    if (!parsed) j["error"] = parsed.error().message();
  }
  for (const auto& st : statuses()) {
    if (st.pool == pool.str()) j["status"] = ScrubStatusToJson(st);
  }
  return JsonResponse(j);
}

}  // namespace pk::api
