#include "share/chap_secrets.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/log.h"

namespace pk::share {
namespace {

using nlohmann::json;

constexpr std::string_view kFile = "secrets.json";

}  // namespace

std::string ChapSecretStore::DatasetOf(const zfs::PoolName& pool) { return pool.str() + "/.poolkeeper"; }

std::string ChapSecretStore::KeyFor(uint64_t dataset_guid) { return fmt::format("guid:{}", dataset_guid); }

Result<std::string> ChapSecretStore::Dir(const zfs::PoolName& pool, Create create) {
  const std::string name = DatasetOf(pool);
  auto d = zfs_.GetDataset(name, {"mountpoint", "mounted"});
  if (!d) {
    bool missing = d.error().code() == ErrorCode::kNotFound || d.error().message().find("does not exist") != std::string::npos;
    if (!missing) return std::unexpected(d.error().WithContext("CHAP secret store"));
    if (create == Create::kNo) return NotFound(fmt::format("pool '{}' has no CHAP secret store ({})", pool.str(), name));
    auto dataset = zfs::DatasetName::Parse(name);
    if (!dataset) return std::unexpected(dataset.error());
    // Mounted with the pool (inherited mountpoint); its root directory is
    // root's, the secrets below it in a 0700 directory.
    PK_TRY_CONTEXT(zfs_.CreateDataset(*dataset, {}, zfs::CreateParents::kNo), "create the CHAP secret store");
    GetLogger("share")->info("pool={} created the CHAP secret store {}", pool.str(), name);
    d = zfs_.GetDataset(name, {"mountpoint", "mounted"});
    if (!d) return std::unexpected(d.error().WithContext("CHAP secret store"));
  }
  const std::string mountpoint = d->Get("mountpoint");
  if (!mountpoint.starts_with('/') || d->Get("mounted") != "yes") {
    return FailedPrecondition(fmt::format("CHAP secret store {} is not mounted (mountpoint '{}'): the pool's root "
                                          "needs a mountpoint for its iSCSI CHAP secrets",
                                          name, mountpoint));
  }
  const std::string dir = mountpoint + "/chap";
  if (create == Create::kYes) PK_TRY_CONTEXT(fs_.MakeDirs(dir, 0700), "CHAP secret store");
  return dir;
}

Result<json> ChapSecretStore::Load(const std::string& dir) {
  auto text = fs_.ReadFile(dir + "/" + std::string(kFile));
  if (!text) {
    if (text.error().code() == ErrorCode::kNotFound) return json::object();
    return std::unexpected(text.error());
  }
  json j = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("secrets") || !j["secrets"].is_object()) {
    return Internal(fmt::format("CHAP secret store {}/{} does not parse", dir, kFile));
  }
  return j["secrets"];
}

Result<std::map<std::string, std::string>> ChapSecretStore::GetAll(const zfs::PoolName& pool) {
  PK_ASSIGN_OR_RETURN(std::string dir, Dir(pool, Create::kNo));
  PK_ASSIGN_OR_RETURN(json secrets, Load(dir));
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : secrets.items()) {
    if (value.is_string()) out[key] = value.get<std::string>();
  }
  return out;
}

Result<std::string> ChapSecretStore::Find(const std::map<std::string, std::string>& secrets, const zfs::PoolName& pool,
                                          const std::string& key) {
  auto it = secrets.find(key);
  if (it == secrets.end()) {
    return NotFound(fmt::format("the CHAP secret store of pool '{}' has no secret '{}'", pool.str(), key));
  }
  return it->second;
}

Result<std::string> ChapSecretStore::Get(const zfs::PoolName& pool, const std::string& key) {
  PK_ASSIGN_OR_RETURN(auto secrets, GetAll(pool));
  return Find(secrets, pool, key);
}

Status ChapSecretStore::Put(const zfs::PoolName& pool, const std::string& key, const std::string& secret) {
  PK_ASSIGN_OR_RETURN(std::string dir, Dir(pool, Create::kYes));
  PK_ASSIGN_OR_RETURN(json secrets, Load(dir));
  secrets[key] = secret;
  json file = {{"v", 1}, {"secrets", secrets}};
  return fs_.WriteFileAtomic(dir + "/" + std::string(kFile), file.dump(), 0600);
}

Status ChapSecretStore::Remove(const zfs::PoolName& pool, const std::string& key) {
  auto dir = Dir(pool, Create::kNo);
  if (!dir) return dir.error().code() == ErrorCode::kNotFound ? OkStatus() : Status(std::unexpected(dir.error()));
  PK_ASSIGN_OR_RETURN(json secrets, Load(*dir));
  if (!secrets.contains(key)) return OkStatus();
  secrets.erase(key);
  json file = {{"v", 1}, {"secrets", secrets}};
  return fs_.WriteFileAtomic(*dir + "/" + std::string(kFile), file.dump(), 0600);
}

}  // namespace pk::share
