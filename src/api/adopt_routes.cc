// The API's pool adoption route (issue 17 item 6): a pool made elsewhere is
// served only once root adopts it here. GET /v1/pools/NAME?action=adopt shows
// what adopting would serve (shares per protocol with their definitions,
// migrations with their sources); POST adopts (supervisor::Ownership) and serves
// them at once.
#include <fmt/format.h>

#include "api/internal/request.h"
#include "api/router.h"
#include "base/log.h"

namespace pk::api {

using nlohmann::json;
using namespace internal;

Result<json> Router::PoolConfiguration(const zfs::PoolName& pool) {
  json shares = json::array();
  if (shares_) {
    PK_ASSIGN_OR_RETURN(auto views, shares_->List(pool, std::nullopt));
    for (const auto& v : views) shares.push_back(v.ToJson());
  }
  json migrations = json::array();
  if (migrations_) {
    PK_ASSIGN_OR_RETURN(json all, migrations_->List());
    for (const auto& m : all["migrations"]) {
      std::string ds = m.value("dataset", "");
      if (ds == pool.str() || ds.starts_with(pool.str() + "/")) {
        migrations.push_back({{"dataset", ds}, {"source", m.value("source", "")}, {"state", m.value("state", "")}});
      }
    }
  }
  return json{{"shares", shares}, {"migrations", migrations}};
}

Result<HttpResponse> Router::AdoptRoute(const std::string& name, const HttpRequest& r) {
  PK_ASSIGN_OR_RETURN(auto pool, zfs::PoolName::Parse(name));
  if (!ownership_) return Unavailable("pool adoption is not available in this daemon");
  const std::string ctx = fmt::format("adopt pool '{}'", pool.str());
  auto adopted = ownership_->IsAdopted(pool);
  if (!adopted) return std::unexpected(adopted.error().WithContext(ctx));
  if (r.method == "GET") {
    auto config = PoolConfiguration(pool);
    if (!config) return std::unexpected(config.error().WithContext(ctx));
    json j = {{"pool", pool.str()}, {"adopted", *adopted}};
    j.update(*config);
    return JsonResponse(j);
  }
  if (!*adopted) PK_TRY(ownership_->Adopt(pool));
  GetLogger("api")->info("pool={} adopted: its shares and migrations are served", pool.str());
  // Serve what was held: shares now, migrations at the manager's next scan (woken).
  if (shares_) {
    if (auto served = shares_->ServePool(pool); !served) {
      GetLogger("api")->warn("pool={} serve shares: {}", pool.str(), served.error().message());
    }
  }
  if (migrations_) migrations_->ReleasePool(pool.str());
  auto config = PoolConfiguration(pool);
  if (!config) return std::unexpected(config.error().WithContext(ctx));
  json j = {{"pool", pool.str()}, {"adopted", true}};
  j.update(*config);
  return JsonResponse(j);
}

}  // namespace pk::api
