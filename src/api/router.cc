#include "api/router.h"

#include <algorithm>
#include <charconv>
#include <functional>

#include <fmt/format.h>

#include "api/internal/request.h"
#include "api/json_codec.h"
#include "quota/watcher.h"
#include "base/json.h"
#include "base/log.h"

namespace pk::api {
namespace {

using nlohmann::json;
using namespace internal;

// {"compression":"lz4","com.example:owner":"alice"} -> validated assignments.
Result<zfs::PropertyList> PropertiesField(JsonFields& body, const char* field) {
  zfs::PropertyList list;
  const json* it = body.Raw(field);
  if (!it) return list;
  if (!it->is_object()) {
    return InvalidArgument(fmt::format("field '{}' must be an object of property: value", field));
  }
  for (const auto& [name, value] : it->items()) {
    if (!value.is_string()) {
      return InvalidArgument(fmt::format("property '{}': value must be a string", name));
    }
    PK_ASSIGN_OR_RETURN(auto pname, zfs::PropertyName::Parse(name));
    PK_TRY(zfs::ValidatePropertyValue(pname, value.get<std::string>()));
    // Poolkeeper's own properties are checked as strictly as native ones.
    if (pname.str() == quota::kWarnProperty) PK_TRY(quota::ParseThresholds(value.get<std::string>()));
    list.push_back({std::move(pname), value.get<std::string>()});
  }
  return list;
}

Result<zfs::Recursive> RecursiveParam(const std::string& v) {
  if (v.empty() || v == "no" || v == "false") return zfs::Recursive::kNo;
  if (v == "yes" || v == "true") return zfs::Recursive::kYes;
  if (v == "dependents") return zfs::Recursive::kWithDependents;
  return InvalidArgument(fmt::format("recursive must be no, yes or dependents, not '{}'", v));
}

Result<std::vector<zfs::DatasetType>> TypesParam(const std::string& v) {
  std::vector<zfs::DatasetType> types;
  if (v.empty()) return std::vector<zfs::DatasetType>{zfs::DatasetType::kFilesystem, zfs::DatasetType::kVolume};
  if (v == "all") {
    return std::vector<zfs::DatasetType>{zfs::DatasetType::kFilesystem, zfs::DatasetType::kVolume,
                                         zfs::DatasetType::kSnapshot};
  }
  size_t start = 0;
  while (start <= v.size()) {
    size_t comma = v.find(',', start);
    if (comma == std::string::npos) comma = v.size();
    PK_ASSIGN_OR_RETURN(auto t, zfs::ParseDatasetType(v.substr(start, comma - start)));
    types.push_back(t);
    start = comma + 1;
  }
  return types;
}

bool InTree(const std::string& name, const std::string& root) {
  if (!name.starts_with(root)) return false;
  if (name.size() == root.size()) return true;
  return name[root.size()] == '/' || name[root.size()] == '@';
}

// Calls `fn` for `root` and everything below it, in name order (all entries
// when `root` is empty). Entries sharing the prefix but outside the tree
// ("tank-b", "tank x" sort between "tank" and "tank/a") are skipped.
void ForEachInTree(const inventory::Snapshot& view, const std::string& root,
                   const std::function<void(const zfs::Dataset&)>& fn) {
  for (auto it = view.datasets.lower_bound(root); it != view.datasets.end() && it->first.starts_with(root); ++it) {
    if (root.empty() || InTree(it->first, root)) fn(it->second);
  }
}

json InventoryMeta(const inventory::Snapshot& view) {
  auto now = std::chrono::system_clock::now();
  double age = std::chrono::duration<double>(now - view.refreshed_at).count();
  return {{"generation", view.generation},
          {"refreshed_at", std::chrono::duration_cast<std::chrono::seconds>(view.refreshed_at.time_since_epoch()).count()},
          {"age_seconds", view.generation ? age : -1.0},
          {"last_error", view.last_error}};
}

HttpResponse Created(const std::string& what, const std::string& name) {
  return JsonResponse({{"ok", true}, {what, name}}, 200);
}

// Splits "/v1/datasets/tank/a" into collection "datasets" and name "tank/a".
struct Route {
  std::string collection;
  std::string name;
};

Result<Route> SplitPath(const std::string& path) {
  static constexpr std::string_view kPrefix = "/v1/";
  if (!path.starts_with(kPrefix)) return NotFound(fmt::format("no API route '{}' (routes start with /v1/)", path));
  std::string rest = path.substr(kPrefix.size());
  size_t slash = rest.find('/');
  if (slash == std::string::npos) return Route{rest, ""};
  return Route{rest.substr(0, slash), rest.substr(slash + 1)};
}

}  // namespace

Router::Router(zfs::Zfs& zfs, inventory::Inventory& inventory, supervisor::Supervisor* supervisor,
                       events::EventLog* events, sys::FileSystem* fs, RouterOptions options,
                       sys::UserDirectory* users, share::ShareManager* shares)
    : zfs_(zfs), inventory_(inventory), supervisor_(supervisor), events_(events), fs_(fs), options_(std::move(options)),
      users_(users), shares_(shares) {}

HttpResponse Router::Handle(const HttpRequest& request) {
  auto log = GetLogger("api");
  if (auto refused = AuthorizeHead(request)) return std::move(*refused);
  auto result = Route(request);
  if (!result) {
    log->info("{} {} -> {}", request.method, request.path, result.error().ToString());
    return ErrorResponse(result.error());
  }
  return std::move(*result);
}

std::optional<HttpResponse> Router::AuthorizeHead(const HttpRequest& request) const {
  auto allowed = Authorize(request);
  if (allowed) return std::nullopt;
  // Who and what, never the token (issue 17 item 8).
  GetLogger("api")->warn("authentication failed: transport={} peer={} method={} path={}: {}",
                         request.transport == Transport::kUnix ? "unix" : "tcp",
                         request.peer.empty() ? "unknown" : request.peer, request.method,
                         DumpJson(request.path), allowed.error().message());
  return ErrorResponse(allowed.error());
}

RequestClass Router::Classify(const HttpRequest& r) {
  auto route = SplitPath(r.path);
  if (!route) return RequestClass::kShort;  // answered at once: 404
  const std::string& c = route->collection;
  const bool get = r.method == "GET" || r.method == "HEAD";
  if (c == "events") {
    auto wait = r.query.find("wait");
    bool long_poll = wait != r.query.end() && !wait->second.empty() && wait->second != "0";
    return long_poll ? RequestClass::kLong : RequestClass::kShort;
  }
  // Served from memory (the inventory, the supervisor's state, the policy store).
  if (get && route->name.empty() &&
      (c == "health" || c == "pools" || c == "datasets" || c == "snapshots" || c == "services" || c == "resources")) {
    return RequestClass::kShort;
  }
  // The disk cache; a rescan (?refresh=true) and self-tests run tools.
  if (get && (c == "disks" || c == "enclosures") && !r.query.contains("refresh")) return RequestClass::kShort;
  if (c == "services") return RequestClass::kShort;  // one service's state, or an action handed to the supervisor
  return RequestClass::kLong;                        // may run zpool/zfs or another tool
}

Status Router::Authorize(const HttpRequest& request) const {
  if (request.transport == Transport::kUnix) {
    // No credentials is no access: never treated as root (issue 17 item 8).
    if (!request.peer_uid) return PermissionDenied("the API socket serves root only (caller's uid unknown: SO_PEERCRED failed)");
    if (*request.peer_uid != 0) {
      return PermissionDenied(fmt::format("the API socket serves root only (caller uid {})", *request.peer_uid));
    }
    return OkStatus();
  }
  std::string auth = request.Header("authorization");
  std::string expected = "Bearer " + options_.bearer_token;
  // Compare in constant time so the token does not leak through timing.
  bool same = !options_.bearer_token.empty() && auth.size() == expected.size();
  unsigned char diff = 0;
  for (size_t i = 0; same && i < auth.size(); ++i) diff |= static_cast<unsigned char>(auth[i] ^ expected[i]);
  if (!same || diff != 0) return Unauthenticated("a valid 'Authorization: Bearer <token>' header is required on TCP");
  return OkStatus();
}

Result<HttpResponse> Router::Route(const HttpRequest& r) {
  // Names are UTF-8 (issue 17 item 8): '/v1/datasets/tank%FF' is refused here,
  // before any name reaches a tool, a log or a JSON answer.
  if (!IsValidUtf8(r.path)) {
    return InvalidArgument(fmt::format("{} {}: the path is not valid UTF-8 after percent-decoding", r.method,
                                       DumpJson(r.target)));
  }
  for (const auto& [key, value] : r.query) {
    if (!IsValidUtf8(key) || !IsValidUtf8(value)) {
      return InvalidArgument(fmt::format("{} {}: query parameter {} is not valid UTF-8 after percent-decoding",
                                         r.method, DumpJson(r.target), DumpJson(key)));
    }
  }
  PK_ASSIGN_OR_RETURN(auto route, SplitPath(r.path));
  const std::string& m = r.method;
  const std::string action = Query(r, "action");
  const std::string& c = route.collection;
  const std::string& name = route.name;
  if (c == "health" && m == "GET") return Health();
  if (c == "pools") {
    if (name.empty() && m == "GET") return ListPools();
    if (name.empty() && m == "POST") return CreatePool(r);
    if (!name.empty() && (m == "GET" || m == "POST") && action == "adopt") return AdoptRoute(name, r);
    if (!name.empty() && m == "GET") return GetPool(name);
    if (!name.empty() && m == "DELETE") return DestroyPool(name, r);
    if (!name.empty() && m == "POST" && action == "export") return ExportPool(name, r);
    if (!name.empty() && m == "POST" && IsDiskAction(action)) return DiskAction(name, action, r);
    if (!name.empty() && m == "POST" &&
        (action == "skip" || action == "unskip" || action == "unlock" || action == "delay")) {
      return PoolSwitch(name, action, r);
    }
  }
  if (c == "services") {
    if (name.empty() && m == "GET") return ListServices();
    if (!name.empty() && m == "GET") return GetService(name);
    if (!name.empty() && m == "POST" && !action.empty()) return ServiceAction(name, action, r);
  }
  if (c == "events" && name.empty() && m == "GET") return Events(r);
  if (c == "resources") {
    if (name.empty() && m == "GET") return ListExecs();
    if (name.empty() && m == "POST") return AddExec(r);
    if (!name.empty()) return ExecAction(name, m, action);
  }
  if (c == "import-scan" && m == "POST") return ScanImports(r);
  if (c == "pool-plans" && name.empty() && m == "POST") return PlanPool(r);
  if (c == "imports" && m == "POST") return ImportPool(r);
  if (c == "datasets") {
    if (name.empty() && m == "GET") return ListDatasets(r, zfs::DatasetType::kFilesystem);
    if (name.empty() && m == "POST") return CreateDataset(r);
    if (!name.empty() && m == "GET") return GetDataset(name, r);
    if (!name.empty() && m == "PATCH") return SetProperties(name, r);
    if (!name.empty() && m == "DELETE") return DestroyDataset(name, r);
    if (!name.empty() && m == "POST" && action == "inherit") return InheritProperty(name, r);
    if (!name.empty() && m == "POST" && action == "rename") return RenameDataset(name, r);
  }
  if (c == "shares") return ShareRoute(name, r);
  if (c == "smb-users" && !name.empty()) return SmbUserRoute(name, r);
  if (c == "quotas" && !name.empty()) {
    if (m == "GET") return GetQuotas(name, r);
    if (m == "PUT") return SetQuota(name, r);
    if (m == "DELETE") return ClearQuota(name, r);
  }
  if (c == "migrations") return MigrationRoute(name, r);
  if (c == "snapshot-policies") return SnapshotPolicyRoute(name, r);
  if (c == "disks") return DiskRoute(name, r);
  if (c == "enclosures" && name.empty() && m == "GET") return ListEnclosures();
  if (c == "scrub-policies") return ScrubPolicyRoute(name, r);
  if (c == "snapshots") {
    if (name.empty() && m == "GET") return ListDatasets(r, zfs::DatasetType::kSnapshot);
    if (name.empty() && m == "POST") return CreateSnapshot(r);
    if (!name.empty() && m == "GET") return GetDataset(name, r);
    if (!name.empty() && m == "DELETE") return DestroySnapshot(name, r);
    if (!name.empty() && m == "POST" && action == "rollback") return RollbackSnapshot(name, r);
  }
  return NotFound(fmt::format("no API route for {} {}{}", m, r.path, action.empty() ? "" : "?action=" + action));
}

Result<HttpResponse> Router::Health() {
  auto view = inventory_.Current();
  return JsonResponse({{"version", options_.version},
                       {"dialect", zfs::DialectName(zfs_.dialect())},
                       {"pools", view->pools.size()},
                       {"datasets", view->datasets.size()},
                       {"inventory", InventoryMeta(*view)}});
}

Result<HttpResponse> Router::ListPools() {
  auto view = inventory_.Current();
  json pools = json::array();
  for (const auto& p : view->pools) pools.push_back(PoolToJson(p.summary, p.status));
  return JsonResponse({{"pools", pools}, {"inventory", InventoryMeta(*view)}});
}

// A managed pool's mountpoints are protected while it is away (issue 18 item 5):
// "; mountpoint PATH: protected (immutable, empty)" for each.
static std::string MountpointProtection(supervisor::Supervisor* supervisor, const zfs::PoolName& pool) {
  std::string out;
  if (supervisor) {
    for (const auto& line : supervisor->MountpointProtection(pool.str())) out += "; mountpoint " + line;
  }
  return out;
}

Result<HttpResponse> Router::GetPool(const std::string& name) {
  PK_ASSIGN_OR_RETURN(auto pool, zfs::PoolName::Parse(name));
  auto view = inventory_.Current();
  const inventory::PoolEntry* entry = view->FindPool(pool.str());
  if (!entry) {
    // Not in the view: maybe imported behind our back since the last refresh.
    PK_TRY(inventory_.RefreshPool(pool.str()));
    view = inventory_.Current();
    entry = view->FindPool(pool.str());
    if (!entry) return NotFound(fmt::format("pool '{}' is not imported{}", pool.str(), MountpointProtection(supervisor_, pool)));
  }
  // Status is read live: health must never be stale in `pool status`. A tool
  // that does not answer in time is a 504 naming the pool, not a held worker.
  auto status = ToolReads().GetPoolStatus(pool);
  if (!status && status.error().code() == ErrorCode::kNotFound) {  // exported since the view was taken
    return NotFound(status.error().message() + MountpointProtection(supervisor_, pool));
  }
  if (!status) return std::unexpected(status.error().WithContext(fmt::format("pool '{}': live status", pool.str())));
  json j = PoolToJson(entry->summary, *status);
  size_t filesystems = 0, snapshots = 0;
  ForEachInTree(*view, pool.str(), [&](const zfs::Dataset& d) {
    (d.type == zfs::DatasetType::kSnapshot ? snapshots : filesystems)++;
  });
  j["poolkeeper"] = {{"datasets", filesystems},
                     {"snapshots", snapshots},
                     {"dialect", zfs::DialectName(zfs_.dialect())},
                     {"inventory", InventoryMeta(*view)}};
  if (ownership_) {
    auto held = ownership_->Held(pool.str());
    j["poolkeeper"]["adopted"] = !held.has_value();
    if (held) j["poolkeeper"]["held"] = *held;
  }
  return JsonResponse(j);
}

Result<HttpResponse> Router::CreatePool(const HttpRequest& r) {
  PK_ASSIGN_OR_RETURN(auto json_body, ParseBody(r));
  JsonFields body(json_body, "");
  PK_ASSIGN_OR_RETURN(auto name_text, StringField(body, "name"));
  PK_ASSIGN_OR_RETURN(auto pool, zfs::PoolName::Parse(name_text));
  std::string context = fmt::format("create pool '{}'", pool.str());
  PK_ASSIGN_OR_RETURN(auto spec, VdevsFromBody(body, context, DataVdevs::kRequired));
  zfs::CreatePoolOptions options;
  auto props = PropertiesField(body, "properties");
  if (!props) return std::unexpected(props.error().WithContext(context));
  options.root_properties = std::move(*props);
  if (body.Has("mountpoint")) {
    PK_ASSIGN_OR_RETURN(auto mp, StringField(body, "mountpoint"));
    if (!mp.starts_with('/') && mp != "none" && mp != "legacy") {
      return InvalidArgument(context + ": mountpoint must be an absolute path, 'none' or 'legacy'");
    }
    options.mountpoint = mp;
  }
  if (body.Has("altroot")) {
    PK_ASSIGN_OR_RETURN(auto alt, StringField(body, "altroot"));
    if (!alt.starts_with('/')) return InvalidArgument(context + ": altroot must be an absolute path");
    options.altroot = alt;
  }
  PK_ASSIGN_OR_RETURN(bool force, BoolField(body, "force", false));
  options.force = force ? zfs::Force::kYes : zfs::Force::kNo;
  PK_TRY(body.Finish());
  PK_TRY(zfs_.CreatePool(pool, spec, options));
  // A pool made here is this head's (or cluster's): adopted by that act.
  if (ownership_) PK_TRY(ownership_->Adopt(pool));
  LogRefresh(inventory_.RefreshPool(pool.str()));
  return Created("pool", pool.str());
}

Result<zfs::VdevSpec> Router::VdevsFromBody(JsonFields& body, const std::string& context, DataVdevs data) {
  if (body.Has("profile")) {
    // Exactly the planned layout (storage profiles).
    auto plan = PlanFromBody(body);
    if (!plan) return std::unexpected(plan.error().WithContext(context));
    return plan->ToVdevSpec();
  }
  PK_ASSIGN_OR_RETURN(auto words, StringListField(body, "vdevs"));
  auto parsed = data == DataVdevs::kRequired ? zfs::VdevSpec::Parse(words) : zfs::VdevSpec::ParseAddition(words);
  if (!parsed) return std::unexpected(parsed.error().WithContext(context));
  return parsed;
}

Result<HttpResponse> Router::DestroyPool(const std::string& name, const HttpRequest& r) {
  PK_ASSIGN_OR_RETURN(auto pool, zfs::PoolName::Parse(name));
  PK_ASSIGN_OR_RETURN(bool force, QueryBool(r, "force", false));
  if (shares_) PK_TRY(shares_->UnservePool(pool));
  PK_TRY(zfs_.DestroyPool(pool, force ? zfs::Force::kYes : zfs::Force::kNo));
  LogRefresh(inventory_.RefreshPool(pool.str()));
  return Created("destroyed", pool.str());
}

Result<HttpResponse> Router::ExportPool(const std::string& name, const HttpRequest& r) {
  PK_ASSIGN_OR_RETURN(auto pool, zfs::PoolName::Parse(name));
  PK_ASSIGN_OR_RETURN(auto json_body, ParseBody(r));
  JsonFields body(json_body, "");
  PK_ASSIGN_OR_RETURN(bool force, BoolField(body, "force", false));
  PK_TRY(body.Finish());
  PK_ASSIGN_OR_RETURN(auto* supervisor, RequireSupervisor());
  // The supervisor owns every pool's life (issue 19 item 1): a managed pool's
  // service stops it (shares first), any other pool gets the same steps.
  PK_TRY(supervisor->ExportPool(pool, force ? zfs::Force::kYes : zfs::Force::kNo));
  LogRefresh(inventory_.RefreshPool(pool.str()));
  return Created("exported", pool.str());
}

Result<HttpResponse> Router::ScanImports(const HttpRequest& r) {
  PK_ASSIGN_OR_RETURN(auto json_body, ParseBody(r));
  JsonFields body(json_body, "");
  PK_ASSIGN_OR_RETURN(auto dirs, StringListField(body, "search_dirs"));
  PK_TRY(body.Finish());
  PK_ASSIGN_OR_RETURN(auto pools, zfs_.ListImportable(dirs));
  json out = json::array();
  for (const auto& p : pools) out.push_back(ImportableToJson(p));
  return JsonResponse({{"pools", out}});
}

Result<HttpResponse> Router::ImportPool(const HttpRequest& r) {
  PK_ASSIGN_OR_RETURN(auto json_body, ParseBody(r));
  JsonFields body(json_body, "");
  zfs::ImportOptions o;
  if (body.Has("name")) {
    PK_ASSIGN_OR_RETURN(auto n, StringField(body, "name"));
    PK_ASSIGN_OR_RETURN(o.name, zfs::PoolName::Parse(n));
  }
  if (body.Has("guid")) {
    PK_ASSIGN_OR_RETURN(auto g, StringField(body, "guid"));
    uint64_t guid = 0;
    auto [ptr, ec] = std::from_chars(g.data(), g.data() + g.size(), guid);
    if (ec != std::errc() || ptr != g.data() + g.size() || g.empty()) {
      return InvalidArgument(fmt::format("import: GUID '{}' is not a decimal number", g));
    }
    o.guid = guid;
  }
  if (o.name && o.guid) return InvalidArgument("import: give a pool name or a GUID, not both");
  if (!o.name && !o.guid) return InvalidArgument("import: give a pool name or a GUID");
  if (body.Has("new_name")) {
    PK_ASSIGN_OR_RETURN(auto n, StringField(body, "new_name"));
    PK_ASSIGN_OR_RETURN(o.new_name, zfs::PoolName::Parse(n));
  }
  PK_ASSIGN_OR_RETURN(o.search_dirs, StringListField(body, "search_dirs"));
  if (body.Has("cachefile")) {
    PK_ASSIGN_OR_RETURN(auto cf, StringField(body, "cachefile"));
    if (cf == "none") {
      o.cachefile = zfs::ImportOptions::Cachefile::kNone;
    } else if (cf == "default" || cf.empty()) {
      o.cachefile = zfs::ImportOptions::Cachefile::kDefault;
    } else {
      o.cachefile = zfs::ImportOptions::Cachefile::kPath;
      o.cachefile_path = cf;
    }
  }
  if (body.Has("altroot")) {
    PK_ASSIGN_OR_RETURN(auto alt, StringField(body, "altroot"));
    o.altroot = alt;
  }
  PK_ASSIGN_OR_RETURN(bool ro, BoolField(body, "readonly", false));
  PK_ASSIGN_OR_RETURN(bool force, BoolField(body, "force", false));
  PK_ASSIGN_OR_RETURN(bool no_mount, BoolField(body, "no_mount", false));
  PK_TRY(body.Finish());
  o.read_only = ro ? zfs::ReadOnly::kYes : zfs::ReadOnly::kNo;
  o.force = force ? zfs::Force::kYes : zfs::Force::kNo;
  o.mount = no_mount ? zfs::Mount::kNo : zfs::Mount::kYes;
  PK_ASSIGN_OR_RETURN(auto* supervisor, RequireSupervisor());
  bool cluster_pool = false;
  if (force && o.name) {
    auto svc = supervisor->Get(o.name->str());
    cluster_pool = svc ? svc->policy.cluster : options_.is_cluster_pool && options_.is_cluster_pool(o.name->str());
  }
  // The supervisor owns every pool's life (issue 19 item 1): a managed pool is
  // imported by its service, any other pool with the same steps after it.
  std::string imported;
  if (cluster_pool) {
    // The cluster's rule for a forced import (issue 17 item 7): never first,
    // and then only with proof that the pool's last importer was fenced.
    o.force = zfs::Force::kNo;
    auto plain = supervisor->ImportPool(o);
    if (plain) imported = *plain;
    if (!plain) {
      const std::string ctx = fmt::format("forced import of cluster pool '{}'", o.name->str());
      if (!options_.cluster_force_proof) {
        return FailedPrecondition(fmt::format("{}: {}; not forcing: use the cluster (Pacemaker forces only with proof "
                                              "that the last importer was fenced)", ctx, plain.error().message()));
      }
      auto proof = options_.cluster_force_proof(o.name->str(), plain.error().message());
      if (!proof) return std::unexpected(proof.error().WithContext(ctx));
      GetLogger("api")->warn("pool={} forced import: {}", o.name->str(), *proof);
      o.force = zfs::Force::kYes;
      PK_ASSIGN_OR_RETURN(imported, supervisor->ImportPool(o));
    }
  } else {
    PK_ASSIGN_OR_RETURN(imported, supervisor->ImportPool(o));
  }
  LogRefresh(inventory_.RefreshPool(imported));
  return Created("imported", imported);
}

std::shared_ptr<const std::string> Router::AllDatasetsJson(const inventory::Snapshot& view) {
  std::lock_guard lock(render_mutex_);
  if (rendered_ && rendered_generation_ == view.generation) return rendered_;
  std::string out = "[";
  bool first = true;
  for (const auto& [name, d] : view.datasets) {
    if (!first) out += ',';
    first = false;
    out += DumpJson(DatasetToJson(d));
  }
  out += ']';
  rendered_ = std::make_shared<const std::string>(std::move(out));
  rendered_generation_ = view.generation;
  return rendered_;
}

Result<HttpResponse> Router::ListDatasets(const HttpRequest& r, zfs::DatasetType only) {
  const bool snapshots = only == zfs::DatasetType::kSnapshot;
  std::string root = Query(r, snapshots ? "dataset" : "root");
  if (!root.empty()) PK_TRY(zfs::DatasetName::Parse(root));
  PK_ASSIGN_OR_RETURN(bool recursive, QueryBool(r, "recursive", !snapshots));
  std::vector<zfs::DatasetType> types = {zfs::DatasetType::kSnapshot};
  if (!snapshots) {
    PK_ASSIGN_OR_RETURN(types, TypesParam(Query(r, "type")));
  }
  auto view = inventory_.Current();
  std::string meta = DumpJson(InventoryMeta(*view));
  std::string key = snapshots ? "snapshots" : "datasets";
  if (root.empty() && types.size() == 3) {
    // The whole inventory: served from the per-generation rendering.
    auto all = AllDatasetsJson(*view);
    HttpResponse resp;
    resp.body = fmt::format("{{\"{}\":{},\"inventory\":{}}}", key, *all, meta);
    return resp;
  }
  if (!root.empty() && !view->datasets.contains(root)) {
    return NotFound(fmt::format("dataset '{}' does not exist", root));
  }
  std::string out = "[";
  bool first = true;
  ForEachInTree(*view, root, [&](const zfs::Dataset& d) {
    if (!recursive && d.name.substr(0, d.name.find('@')) != root) return;
    if (std::find(types.begin(), types.end(), d.type) == types.end()) return;
    if (!first) out += ',';
    first = false;
    out += DumpJson(DatasetToJson(d));
  });
  out += ']';
  HttpResponse resp;
  resp.body = fmt::format("{{\"{}\":{},\"inventory\":{}}}", key, out, meta);
  return resp;
}

Result<HttpResponse> Router::GetDataset(const std::string& name, const HttpRequest& r) {
  PK_ASSIGN_OR_RETURN(auto any, zfs::AnyName::Parse(name));
  std::vector<std::string> props;
  std::string list = Query(r, "properties");
  size_t start = 0;
  while (!list.empty() && start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    PK_ASSIGN_OR_RETURN(auto p, zfs::PropertyName::Parse(list.substr(start, comma - start)));
    props.push_back(p.str());
    start = comma + 1;
  }
  auto read = ToolReads().GetDataset(any.str, props);
  if (!read) return std::unexpected(read.error().WithContext(fmt::format("dataset '{}'", any.str)));
  zfs::Dataset d = std::move(*read);
  // The adapter always reads `type`; show only what was asked for.
  if (!props.empty() && std::find(props.begin(), props.end(), "type") == props.end()) d.properties.erase("type");
  return JsonResponse(DatasetToJson(d));
}

Result<HttpResponse> Router::CreateDataset(const HttpRequest& r) {
  PK_ASSIGN_OR_RETURN(auto json_body, ParseBody(r));
  JsonFields body(json_body, "");
  PK_ASSIGN_OR_RETURN(auto name_text, StringField(body, "name"));
  PK_ASSIGN_OR_RETURN(auto ds, zfs::DatasetName::Parse(name_text));
  std::string context = fmt::format("create dataset '{}'", ds.str());
  auto props = PropertiesField(body, "properties");
  if (!props) return std::unexpected(props.error().WithContext(context));
  PK_ASSIGN_OR_RETURN(bool parents, BoolField(body, "parents", false));
  PK_TRY(body.Finish());
  PK_TRY(zfs_.CreateDataset(ds, *props, parents ? zfs::CreateParents::kYes : zfs::CreateParents::kNo));
  LogRefresh(inventory_.RefreshTree(ds.str()));
  return Created("dataset", ds.str());
}

Result<HttpResponse> Router::SetProperties(const std::string& name, const HttpRequest& r) {
  PK_ASSIGN_OR_RETURN(auto any, zfs::AnyName::Parse(name));
  PK_ASSIGN_OR_RETURN(auto json_body, ParseBody(r));
  JsonFields body(json_body, "");
  auto props = PropertiesField(body, "properties");
  if (!props) return std::unexpected(props.error().WithContext(fmt::format("set properties on '{}'", any.str)));
  PK_TRY(body.Finish());
  PK_TRY(zfs_.SetProperties(any.str, *props));
  LogRefresh(inventory_.RefreshTree(any.str));
  return Created("dataset", any.str);
}

Result<HttpResponse> Router::InheritProperty(const std::string& name, const HttpRequest& r) {
  PK_ASSIGN_OR_RETURN(auto ds, zfs::DatasetName::Parse(name));
  PK_ASSIGN_OR_RETURN(auto json_body, ParseBody(r));
  JsonFields body(json_body, "");
  PK_ASSIGN_OR_RETURN(auto prop_text, StringField(body, "property"));
  PK_ASSIGN_OR_RETURN(auto prop, zfs::PropertyName::Parse(prop_text));
  PK_ASSIGN_OR_RETURN(bool recursive, BoolField(body, "recursive", false));
  PK_TRY(body.Finish());
  PK_TRY(zfs_.InheritProperty(ds, prop, recursive ? zfs::Recursive::kYes : zfs::Recursive::kNo));
  LogRefresh(inventory_.RefreshTree(ds.str()));
  return Created("dataset", ds.str());
}

Result<HttpResponse> Router::RenameDataset(const std::string& name, const HttpRequest& r) {
  PK_ASSIGN_OR_RETURN(auto from, zfs::DatasetName::Parse(name));
  PK_ASSIGN_OR_RETURN(auto json_body, ParseBody(r));
  JsonFields body(json_body, "");
  PK_ASSIGN_OR_RETURN(auto to_text, StringField(body, "new_name"));
  PK_ASSIGN_OR_RETURN(auto to, zfs::DatasetName::Parse(to_text));
  PK_TRY(body.Finish());
  PK_TRY(zfs_.RenameDataset(from, to));
  LogRefresh(inventory_.RefreshTree(from.str()));
  LogRefresh(inventory_.RefreshTree(to.str()));
  return Created("dataset", to.str());
}

Result<HttpResponse> Router::DestroyDataset(const std::string& name, const HttpRequest& r) {
  PK_ASSIGN_OR_RETURN(auto ds, zfs::DatasetName::Parse(name));
  PK_ASSIGN_OR_RETURN(auto recursive, RecursiveParam(Query(r, "recursive")));
  if (ds.IsRoot()) {
    return InvalidArgument(fmt::format("destroy dataset '{}': a pool's root dataset goes with 'pool destroy'", ds.str()));
  }
  PK_TRY(zfs_.DestroyDataset(ds, recursive));
  LogRefresh(inventory_.RefreshTree(ds.str()));
  return Created("destroyed", ds.str());
}

Result<HttpResponse> Router::CreateSnapshot(const HttpRequest& r) {
  PK_ASSIGN_OR_RETURN(auto json_body, ParseBody(r));
  JsonFields body(json_body, "");
  PK_ASSIGN_OR_RETURN(auto name_text, StringField(body, "name"));
  PK_ASSIGN_OR_RETURN(auto snap, zfs::SnapshotName::Parse(name_text));
  PK_ASSIGN_OR_RETURN(bool recursive, BoolField(body, "recursive", false));
  PK_TRY(body.Finish());
  PK_TRY(zfs_.CreateSnapshot(snap, recursive ? zfs::Recursive::kYes : zfs::Recursive::kNo));
  LogRefresh(inventory_.RefreshTree(snap.dataset().str()));
  return Created("snapshot", snap.str());
}

Result<HttpResponse> Router::DestroySnapshot(const std::string& name, const HttpRequest& r) {
  PK_ASSIGN_OR_RETURN(auto snap, zfs::SnapshotName::Parse(name));
  PK_ASSIGN_OR_RETURN(auto recursive, RecursiveParam(Query(r, "recursive")));
  PK_TRY(zfs_.DestroySnapshot(snap, recursive));
  LogRefresh(inventory_.RefreshTree(snap.dataset().str()));
  return Created("destroyed", snap.str());
}

Result<HttpResponse> Router::RollbackSnapshot(const std::string& name, const HttpRequest& r) {
  PK_ASSIGN_OR_RETURN(auto snap, zfs::SnapshotName::Parse(name));
  PK_ASSIGN_OR_RETURN(auto json_body, ParseBody(r));
  JsonFields body(json_body, "");
  PK_ASSIGN_OR_RETURN(bool destroy_newer, BoolField(body, "destroy_newer", false));
  PK_TRY(body.Finish());
  PK_TRY(zfs_.Rollback(snap, destroy_newer ? zfs::RollbackMode::kDestroyNewer : zfs::RollbackMode::kLatestOnly));
  LogRefresh(inventory_.RefreshTree(snap.dataset().str()));
  return Created("rolled_back", snap.str());
}

}  // namespace pk::api
