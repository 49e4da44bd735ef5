#include "supervisor/ownership.h"

#include <sys/random.h>

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base/log.h"

namespace pk::supervisor {
namespace {

using nlohmann::json;

std::string Hex(const unsigned char* bytes, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += fmt::format("{:02x}", bytes[i]);
  return out;
}

std::string HmacSha256(const std::string& key, const std::string& message) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(message.data()),
       message.size(), mac, &len);
  return std::string(reinterpret_cast<const char*>(mac), len);
}

}  // namespace

std::string HeldReason(const std::string& pool) {
  return fmt::format("held: pool not adopted (run poolkeeper pool adopt {})", pool);
}

std::string AdoptionMark(const std::string& key, uint64_t guid) {
  std::string mac = HmacSha256(key, fmt::format("pool-guid:{}", guid));
  return "v1:" + Hex(reinterpret_cast<const unsigned char*>(mac.data()), mac.size());
}

std::string ClusterAdoptionKey(const std::string& authkey) {
  return HmacSha256(authkey, "poolkeeper pool adoption v1");
}

bool MarkVerifies(const std::vector<std::string>& keys, uint64_t guid, const std::string& mark) {
  bool ok = false;
  for (const auto& key : keys) {
    std::string want = AdoptionMark(key, guid);
    if (want.size() == mark.size() && CRYPTO_memcmp(want.data(), mark.data(), want.size()) == 0) ok = true;
  }
  return ok;
}

Status Ownership::Init(const std::vector<std::string>& managed_pools) {
  PK_ASSIGN_OR_RETURN(bool exists, fs_.Exists(KeyPath()));
  if (exists) return OkStatus();
  // The first start of a version with adoption: pools this head already runs
  // as services are the admin's (recorded by name, adopted at their next check).
  PK_TRY(fs_.WriteFileAtomic(UpgradePath(), json{{"pools", managed_pools}}.dump() + "\n", 0600));
  unsigned char bytes[32];
  if (getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes)) {
    return Internal("cannot read random bytes for the pool adoption key");
  }
  PK_TRY(fs_.WriteFileAtomic(KeyPath(), Hex(bytes, sizeof bytes) + "\n", 0600));
  if (!managed_pools.empty()) {
    GetLogger("service")->info("upgrade: pools {} (managed here) are adopted at their next check",
                               fmt::join(managed_pools, ", "));
  }
  return OkStatus();
}

Result<std::vector<std::string>> Ownership::Keys() {
  std::vector<std::string> keys;
  PK_ASSIGN_OR_RETURN(auto head, fs_.ReadFile(KeyPath()));
  while (!head.empty() && (head.back() == '\n' || head.back() == ' ')) head.pop_back();
  if (head.size() < 32) return FailedPrecondition(fmt::format("pool adoption key '{}' is too short", KeyPath()));
  if (!options_.corosync_authkey.empty()) {
    auto authkey = fs_.ReadFile(options_.corosync_authkey);
    if (authkey && !authkey->empty()) keys.push_back(ClusterAdoptionKey(*authkey));  // signs when present
  }
  keys.push_back(head);
  return keys;
}

Result<uint64_t> Ownership::PoolGuid(const zfs::PoolName& pool) {
  PK_ASSIGN_OR_RETURN(auto pools, zfs_.ListPools());
  for (const auto& p : pools) {
    if (p.name == pool.str() && p.guid != 0) return p.guid;
  }
  return NotFound(fmt::format("pool '{}' is not imported", pool.str()));
}

namespace {

// Only a value set on the root itself counts: a received one came with a stream.
bool MarkOn(const std::vector<std::string>& keys, uint64_t guid, const zfs::Dataset& root) {
  auto it = root.properties.find(kAdoptedProperty);
  return it != root.properties.end() && it->second.source == zfs::PropertySource::kLocal &&
         MarkVerifies(keys, guid, it->second.value);
}

}  // namespace

Result<bool> Ownership::IsAdopted(const zfs::PoolName& pool) {
  const std::string ctx = fmt::format("ownership of pool '{}'", pool.str());
  auto guid = PoolGuid(pool);
  if (!guid) return std::unexpected(guid.error().WithContext(ctx));
  auto root = zfs_.GetDataset(pool.str(), {kAdoptedProperty});
  if (!root) return std::unexpected(root.error().WithContext(ctx));
  auto keys = Keys();
  if (!keys) return std::unexpected(keys.error().WithContext(ctx));
  return MarkOn(*keys, *guid, *root);
}

bool Ownership::Verifies(uint64_t guid, const zfs::Dataset& root) {
  auto keys = Keys();
  return keys && MarkOn(*keys, guid, root);
}

std::optional<std::string> Ownership::Held(const std::string& pool) {
  auto name = zfs::PoolName::Parse(pool);
  if (!name) return fmt::format("held: {}", name.error().message());
  auto adopted = IsAdopted(*name);
  if (!adopted) return fmt::format("held: {}", adopted.error().message());
  if (*adopted) return std::nullopt;
  {
    std::lock_guard lock(mu_);
    auto text = fs_.ReadFile(UpgradePath());
    json j = text ? json::parse(*text, nullptr, false) : json();
    if (j.is_object() && j.contains("pools") && j["pools"].is_array()) {
      auto& pools = j["pools"];
      auto it = std::find(pools.begin(), pools.end(), json(pool));
      if (it != pools.end()) {
        if (auto adopted_now = Adopt(*name); !adopted_now) return fmt::format("held: {}", adopted_now.error().message());
        pools.erase(it);
        if (auto w = fs_.WriteFileAtomic(UpgradePath(), j.dump() + "\n", 0600); !w) {
          GetLogger("service")->warn("{}: {}", UpgradePath(), w.error().message());
        }
        GetLogger("service")->info("pool={} adopted on upgrade (it was managed here)", pool);
        return std::nullopt;
      }
    }
  }
  return HeldReason(pool);
}

Status Ownership::Adopt(const zfs::PoolName& pool) {
  const std::string ctx = fmt::format("adopt pool '{}'", pool.str());
  auto guid = PoolGuid(pool);
  if (!guid) return std::unexpected(guid.error().WithContext(ctx));
  auto keys = Keys();
  if (!keys) return std::unexpected(keys.error().WithContext(ctx));
  auto assignment = zfs::PropertyAssignment::Parse(fmt::format("{}={}", kAdoptedProperty, AdoptionMark(keys->front(), *guid)));
  if (!assignment) return std::unexpected(assignment.error().WithContext(ctx));
  if (auto set = zfs_.SetProperties(pool.str(), {*assignment}); !set) return std::unexpected(set.error().WithContext(ctx));
  GetLogger("service")->info("pool={} adopted", pool.str());
  return OkStatus();
}

}  // namespace pk::supervisor
