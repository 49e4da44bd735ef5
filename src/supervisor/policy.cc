#include "supervisor/policy.h"
#include "base/json.h"
#include "base/json_fields.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

namespace pk::supervisor {
namespace {

using nlohmann::json;

Status CheckAbsolute(const std::string& pool, const char* what, const std::string& path) {
  if (!path.starts_with('/') || path.find('\n') != std::string::npos) {
    return InvalidArgument(fmt::format("pool '{}': {} '{}' must be an absolute path", pool, what, path));
  }
  return OkStatus();
}

Status CheckRange(const std::string& pool, const char* what, int value, int min, int max) {
  if (value < min || value > max) {
    return InvalidArgument(fmt::format("pool '{}': {} must be between {} and {}, not {}", pool, what, min, max, value));
  }
  return OkStatus();
}

// "kind:name" with a known kind; pool names are checked as pool names.
Status CheckDependency(const std::string& owner, const std::string& a) {
  auto colon = a.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == a.size()) {
    return InvalidArgument(fmt::format("{}: dependency '{}' must be KIND:NAME (e.g. pool:tank)", owner, a));
  }
  std::string kind = a.substr(0, colon);
  if (kind == "pool") {
    auto dep = zfs::PoolName::Parse(a.substr(5));
    if (!dep) return std::unexpected(dep.error().WithContext(fmt::format("{}: dependency", owner)));
    return OkStatus();
  }
  if (kind == "exec") return OkStatus();
  return InvalidArgument(fmt::format("{}: dependency '{}' has an unknown kind '{}' (pool or exec)", owner, a, kind));
}

Status CheckArgv(const std::string& owner, const char* what, const std::vector<std::string>& argv, bool required) {
  if (argv.empty()) {
    if (required) return InvalidArgument(fmt::format("{}: a {} command is required", owner, what));
    return OkStatus();
  }
  if (!argv[0].starts_with('/')) {
    return InvalidArgument(fmt::format("{}: {} program '{}' must be an absolute path", owner, what, argv[0]));
  }
  for (const auto& arg : argv) {
    if (arg.find('\0') != std::string::npos) return InvalidArgument(fmt::format("{}: {} argument holds a NUL byte", owner, what));
  }
  return OkStatus();
}

}  // namespace

json PoolPolicy::ToJson() const {
  return {{"pool", pool},
          {"enabled", enabled},
          {"skip", skip},
          {"delay_seconds", delay_seconds},
          {"search_dirs", search_dirs},
          {"cachefile", cachefile},
          {"altroot", altroot},
          {"read_only", read_only},
          {"force", force == ForceImport::kNever ? "never" : "if-fenced"},
          {"cluster", cluster},
          {"import_timeout_seconds", import_timeout_seconds},
          {"mount_timeout_seconds", mount_timeout_seconds},
          {"export_timeout_seconds", export_timeout_seconds},
          {"mount_parallelism", mount_parallelism},
          {"after", after},
          {"known_mountpoints", known_mountpoints}};
}

Result<PoolPolicy> PoolPolicy::FromJson(const json& j) {
  if (!j.is_object()) return InvalidArgument("a pool policy must be a JSON object");
  PoolPolicy p;
  {
    JsonFields name(j, "policy of pool '?'");
    name.Get("pool", p.pool);
    PK_TRY(name.status());
  }
  // Fields a later version may add are left alone (the file is node-local
  // state that a downgrade reads); the API refuses unknown ones itself.
  JsonFields f(j, fmt::format("policy of pool '{}'", p.pool));
  f.Get("pool", p.pool);
  f.Get("enabled", p.enabled);
  f.Get("skip", p.skip);
  f.Get("delay_seconds", p.delay_seconds);
  f.Get("search_dirs", p.search_dirs);
  f.Get("cachefile", p.cachefile);
  f.Get("altroot", p.altroot);
  f.Get("read_only", p.read_only);
  std::string force = "never";
  f.Get("force", force);
  f.Get("cluster", p.cluster);
  f.Get("import_timeout_seconds", p.import_timeout_seconds);
  f.Get("mount_timeout_seconds", p.mount_timeout_seconds);
  f.Get("export_timeout_seconds", p.export_timeout_seconds);
  f.Get("mount_parallelism", p.mount_parallelism);
  f.Get("after", p.after);
  f.Get("known_mountpoints", p.known_mountpoints);
  PK_TRY(f.Finish(JsonFields::Unknown::kIgnore));
  if (force == "never") {
    p.force = ForceImport::kNever;
  } else if (force == "if-fenced") {
    p.force = ForceImport::kIfFenced;
  } else {
    return InvalidArgument(fmt::format("pool '{}': force must be 'never' or 'if-fenced', not '{}'", p.pool, force));
  }
  PK_TRY(p.Validate());
  return p;
}

Status PoolPolicy::Validate() const {
  PK_TRY(zfs::PoolName::Parse(pool));
  for (const auto& d : search_dirs) PK_TRY(CheckAbsolute(pool, "search directory", d));
  if (cachefile != "none") PK_TRY(CheckAbsolute(pool, "cachefile", cachefile));
  if (!altroot.empty()) PK_TRY(CheckAbsolute(pool, "altroot", altroot));
  PK_TRY(CheckRange(pool, "delay", delay_seconds, 0, 86400));
  PK_TRY(CheckRange(pool, "import timeout", import_timeout_seconds, 1, 86400));
  PK_TRY(CheckRange(pool, "mount timeout", mount_timeout_seconds, 1, 86400));
  PK_TRY(CheckRange(pool, "export timeout", export_timeout_seconds, 1, 86400));
  PK_TRY(CheckRange(pool, "mount parallelism", mount_parallelism, 1, 64));
  for (const auto& a : after) PK_TRY(CheckDependency(fmt::format("pool '{}'", pool), a));
  return OkStatus();
}

json ExecPolicy::ToJson() const {
  return {{"name", name}, {"start", start}, {"stop", stop}, {"check", check}, {"after", after},
          {"timeout_seconds", timeout_seconds}};
}

Result<ExecPolicy> ExecPolicy::FromJson(const json& j) {
  if (!j.is_object()) return InvalidArgument("an exec resource must be a JSON object");
  ExecPolicy e;
  {
    JsonFields name(j, "exec resource '?'");
    name.Get("name", e.name);
    PK_TRY(name.status());
  }
  JsonFields f(j, "exec resource '" + e.name + "'");
  f.Get("name", e.name);
  f.Get("start", e.start);
  f.Get("stop", e.stop);
  f.Get("check", e.check);
  f.Get("after", e.after);
  f.Get("timeout_seconds", e.timeout_seconds);
  PK_TRY(f.Finish());
  PK_TRY(e.Validate());
  return e;
}

Status ExecPolicy::Validate() const {
  if (name.empty() || name.size() > 64 ||
      !std::all_of(name.begin(), name.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'; }) ||
      name.front() == '-' || name.front() == '.') {
    return InvalidArgument(fmt::format("invalid exec resource name '{}': use 1-64 letters, digits and _-. (not starting with - or .)", name));
  }
  std::string owner = "exec resource '" + name + "'";
  PK_TRY(CheckArgv(owner, "start", start, true));
  PK_TRY(CheckArgv(owner, "stop", stop, false));
  PK_TRY(CheckArgv(owner, "check", check, false));
  if (timeout_seconds < 1 || timeout_seconds > 86400) {
    return InvalidArgument(fmt::format("{}: timeout must be between 1 and 86400 seconds, not {}", owner, timeout_seconds));
  }
  for (const auto& a : after) {
    PK_TRY(CheckDependency(owner, a));
    if (a == "exec:" + name) return InvalidArgument(fmt::format("{}: it cannot start after itself", owner));
  }
  return OkStatus();
}

Result<std::vector<ExecPolicy>> PolicyStore::LoadExecs() const {
  std::vector<ExecPolicy> out;
  PK_ASSIGN_OR_RETURN(bool exists, fs_.Exists(ExecsPath()));
  if (!exists) return out;
  PK_ASSIGN_OR_RETURN(auto text, fs_.ReadFile(ExecsPath()));
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("execs") || !j["execs"].is_array()) {
    return MakeError(ErrorCode::kDataLoss, fmt::format("'{}' is not a valid resource file", ExecsPath()));
  }
  for (const auto& e : j["execs"]) {
    auto exec = ExecPolicy::FromJson(e);
    if (!exec) return std::unexpected(exec.error().WithContext(ExecsPath()));
    out.push_back(std::move(*exec));
  }
  return out;
}

Status PolicyStore::WriteExecs(const std::vector<ExecPolicy>& execs) {
  json a = json::array();
  for (const auto& e : execs) a.push_back(e.ToJson());
  return fs_.WriteFileAtomic(ExecsPath(), DumpJson(json{{"version", 1}, {"execs", a}}, 2) + "\n", 0600);
}

Status PolicyStore::SaveExec(const ExecPolicy& exec) {
  PK_TRY(exec.Validate());
  std::lock_guard lock(mutex_);
  PK_ASSIGN_OR_RETURN(auto all, LoadExecs());
  auto it = std::find_if(all.begin(), all.end(), [&](const ExecPolicy& e) { return e.name == exec.name; });
  if (it == all.end()) {
    all.push_back(exec);
  } else {
    *it = exec;
  }
  std::sort(all.begin(), all.end(), [](const ExecPolicy& a, const ExecPolicy& b) { return a.name < b.name; });
  return WriteExecs(all);
}

Status PolicyStore::RemoveExec(const std::string& name) {
  std::lock_guard lock(mutex_);
  PK_ASSIGN_OR_RETURN(auto all, LoadExecs());
  if (std::erase_if(all, [&](const ExecPolicy& e) { return e.name == name; }) == 0) {
    return NotFound(fmt::format("exec resource '{}' does not exist", name));
  }
  return WriteExecs(all);
}

Status PolicyStore::Init() {
  PK_TRY(fs_.MakeDirs(dir_, 0700));
  PK_TRY(fs_.MakeDirs(dir_ + "/locks", 0700));
  return OkStatus();
}

Result<std::vector<PoolPolicy>> PolicyStore::LoadAll() const {
  PK_ASSIGN_OR_RETURN(LoadedPolicies loaded, LoadEach());
  // Every entry's errors are InvalidArgument (PoolPolicy::FromJson).
  if (!loaded.broken.empty()) return InvalidArgument(loaded.broken.front().error);
  return std::move(loaded.policies);
}

Result<LoadedPolicies> PolicyStore::LoadEach() const {
  LoadedPolicies out;
  PK_ASSIGN_OR_RETURN(bool exists, fs_.Exists(PoliciesPath()));
  if (!exists) return out;
  PK_ASSIGN_OR_RETURN(auto text, fs_.ReadFile(PoliciesPath()));
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("pools") || !j["pools"].is_array()) {
    return MakeError(ErrorCode::kDataLoss, fmt::format("'{}' is not a valid policy file", PoliciesPath()));
  }
  for (const auto& p : j["pools"]) {
    auto policy = PoolPolicy::FromJson(p);
    if (policy) {
      out.policies.push_back(std::move(*policy));
      continue;
    }
    std::string name;
    if (p.is_object() && p.contains("pool") && p["pool"].is_string()) name = p["pool"].get<std::string>();
    out.broken.push_back({name, policy.error().WithContext(PoliciesPath()).message()});
  }
  return out;
}

Result<std::optional<PoolPolicy>> PolicyStore::Load(const zfs::PoolName& pool) const {
  PK_ASSIGN_OR_RETURN(auto all, LoadAll());
  for (auto& p : all) {
    if (p.pool == pool.str()) return std::optional<PoolPolicy>(std::move(p));
  }
  return std::optional<PoolPolicy>();
}

Status PolicyStore::WriteAll(const std::vector<PoolPolicy>& policies) {
  json pools = json::array();
  for (const auto& p : policies) pools.push_back(p.ToJson());
  return fs_.WriteFileAtomic(PoliciesPath(), DumpJson(json{{"version", 1}, {"pools", pools}}, 2) + "\n", 0600);
}

Status PolicyStore::Save(const PoolPolicy& policy) {
  PK_TRY(policy.Validate());
  std::lock_guard lock(mutex_);
  PK_ASSIGN_OR_RETURN(auto all, LoadAll());
  auto it = std::find_if(all.begin(), all.end(), [&](const PoolPolicy& p) { return p.pool == policy.pool; });
  if (it == all.end()) {
    all.push_back(policy);
  } else {
    *it = policy;
  }
  std::sort(all.begin(), all.end(), [](const PoolPolicy& a, const PoolPolicy& b) { return a.pool < b.pool; });
  return WriteAll(all);
}

Status PolicyStore::Remove(const zfs::PoolName& pool) {
  std::lock_guard lock(mutex_);
  PK_ASSIGN_OR_RETURN(auto all, LoadAll());
  auto n = std::erase_if(all, [&](const PoolPolicy& p) { return p.pool == pool.str(); });
  if (n == 0) return NotFound(fmt::format("pool '{}' is not managed", pool.str()));
  return WriteAll(all);
}

Status PolicyStore::WriteLock(const LockRecord& lock) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(lock.started.time_since_epoch()).count();
  json j = {{"pool", lock.pool}, {"operation", lock.operation}, {"started_ms", ms}, {"pid", lock.pid}};
  return fs_.WriteFileAtomic(LockPath(lock.pool), DumpJson(j) + "\n", 0600);
}

Result<std::optional<LockRecord>> PolicyStore::ReadLock(const zfs::PoolName& pool) const {
  PK_ASSIGN_OR_RETURN(bool exists, fs_.Exists(LockPath(pool.str())));
  if (!exists) return std::optional<LockRecord>();
  PK_ASSIGN_OR_RETURN(auto text, fs_.ReadFile(LockPath(pool.str())));
  LockRecord r;
  r.pool = pool.str();
  r.operation = "import";
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  // A torn lock file, or one with a field of the wrong type (issue 17 item 8:
  // json::value threw, and the daemon exited), still means "an import was
  // under way": keep the lock, with what can be read of it.
  if (!j.is_discarded() && j.is_object()) {
    if (auto it = j.find("operation"); it != j.end() && it->is_string()) r.operation = it->get<std::string>();
    if (auto it = j.find("started_ms"); it != j.end() && it->is_number_integer()) {
      r.started = std::chrono::system_clock::time_point(std::chrono::milliseconds(it->get<int64_t>()));
    }
    if (auto it = j.find("pid"); it != j.end() && it->is_number_integer()) {
      int64_t pid = it->get<int64_t>();
      if (pid > 0 && pid <= INT32_MAX) r.pid = static_cast<int>(pid);
    }
  }
  return std::optional<LockRecord>(r);
}

Status PolicyStore::RemoveLock(const zfs::PoolName& pool) {
  auto removed = fs_.Remove(LockPath(pool.str()));
  if (!removed && removed.error().code() != ErrorCode::kNotFound) return removed;
  return OkStatus();
}

}  // namespace pk::supervisor
