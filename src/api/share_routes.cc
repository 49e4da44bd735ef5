// The API's share routes (issue 4). Protocol and dataset names are validated
// here; the definition's fields are validated by share::FromJson, the one
// validation path, inside the ShareManager, before anything is written.
//   GET    /v1/shares?pool=P&protocol=iscsi|nfs|smb
//   POST   /v1/shares                      body {"protocol","dataset", fields...}
//   GET    /v1/shares/{protocol}/{dataset}
//   PATCH  /v1/shares/{protocol}/{dataset} body {field: value|null, ...}
//   DELETE /v1/shares/{protocol}/{dataset}
//   PUT    /v1/smb-users/{user}            body {"password"}  (this head's smbd passdb)
//   DELETE /v1/smb-users/{user}
#include <fmt/format.h>

#include "api/internal/request.h"
#include "api/router.h"

namespace pk::api {
namespace {

using nlohmann::json;
using namespace internal;

struct ShareKey {
  share::Protocol protocol;
  zfs::DatasetName dataset;
};

// "nfs/tank/home" -> (nfs, tank/home).
Result<ShareKey> ParseKey(const std::string& name) {
  size_t slash = name.find('/');
  if (slash == std::string::npos) return InvalidArgument(fmt::format("share '{}': expected PROTOCOL/DATASET", name));
  PK_ASSIGN_OR_RETURN(auto protocol, share::ParseProtocol(name.substr(0, slash)));
  PK_ASSIGN_OR_RETURN(auto dataset, zfs::DatasetName::Parse(name.substr(slash + 1)));
  return ShareKey{protocol, dataset};
}

}  // namespace

Result<share::ShareManager*> Router::RequireShares() {
  if (!shares_) return Unavailable("shares are not available in this daemon");
  return shares_;
}

Result<HttpResponse> Router::ShareRoute(const std::string& name, const HttpRequest& r) {
  PK_ASSIGN_OR_RETURN(auto* shares, RequireShares());
  const std::string& m = r.method;
  if (name.empty() && m == "GET") {
    std::optional<zfs::PoolName> pool;
    std::optional<share::Protocol> protocol;
    if (auto p = Query(r, "pool"); !p.empty()) {
      PK_ASSIGN_OR_RETURN(pool, zfs::PoolName::Parse(p));
    }
    if (auto p = Query(r, "protocol"); !p.empty()) {
      PK_ASSIGN_OR_RETURN(protocol, share::ParseProtocol(p));
    }
    PK_ASSIGN_OR_RETURN(auto views, shares->List(pool, protocol));
    json out = json::array();
    for (const auto& v : views) out.push_back(v.ToJson());
    return JsonResponse({{"shares", out}});
  }
  if (name.empty() && m == "POST") {
    PK_ASSIGN_OR_RETURN(json body, ParseBody(r));
    // The other fields are the definition's: share::ShareManager reads them
    // (refusing unknown ones) once these two are taken out.
    JsonFields key_fields(body, "");
    PK_ASSIGN_OR_RETURN(auto protocol_text, StringField(key_fields, "protocol"));
    PK_ASSIGN_OR_RETURN(auto dataset_text, StringField(key_fields, "dataset"));
    PK_ASSIGN_OR_RETURN(auto protocol, share::ParseProtocol(protocol_text));
    PK_ASSIGN_OR_RETURN(auto dataset, zfs::DatasetName::Parse(dataset_text));
    body.erase("protocol");
    body.erase("dataset");
    PK_ASSIGN_OR_RETURN(auto view, shares->Create(dataset, protocol, body));
    LogRefresh(inventory_.RefreshTree(dataset.str()));
    return JsonResponse(view.ToJson(), 201);
  }
  if (name.empty()) return NotFound(fmt::format("no API route for {} /v1/shares", m));
  PK_ASSIGN_OR_RETURN(ShareKey key, ParseKey(name));
  if (m == "GET") {
    PK_ASSIGN_OR_RETURN(auto view, shares->Get(key.dataset, key.protocol));
    return JsonResponse(view.ToJson());
  }
  if (m == "PATCH") {
    PK_ASSIGN_OR_RETURN(json body, ParseBody(r));
    PK_ASSIGN_OR_RETURN(auto view, shares->Update(key.dataset, key.protocol, body));
    LogRefresh(inventory_.RefreshTree(key.dataset.str()));
    return JsonResponse(view.ToJson());
  }
  if (m == "DELETE") {
    PK_TRY(shares->Delete(key.dataset, key.protocol));
    LogRefresh(inventory_.RefreshTree(key.dataset.str()));
    return JsonResponse({{"deleted", fmt::format("{}:{}", share::ProtocolName(key.protocol), key.dataset.str())}});
  }
  return NotFound(fmt::format("no API route for {} /v1/shares/{}", m, name));
}

Result<HttpResponse> Router::SmbUserRoute(const std::string& name, const HttpRequest& r) {
  PK_ASSIGN_OR_RETURN(auto* shares, RequireShares());
  PK_ASSIGN_OR_RETURN(auto user, sys::AccountName::Parse(name, sys::AccountKind::kUser));
  if (r.method == "PUT") {
    PK_ASSIGN_OR_RETURN(json json_body, ParseBody(r));
    JsonFields body(json_body, fmt::format("SMB password of '{}'", user.str()));
    PK_ASSIGN_OR_RETURN(auto password, StringField(body, "password"));
    PK_TRY(body.Finish());
    PK_TRY(shares->SetSmbPassword(user, password));
    return JsonResponse({{"smb_user", user.str()}});
  }
  if (r.method == "DELETE") {
    PK_TRY(shares->RemoveSmbUser(user));
    return JsonResponse({{"deleted", user.str()}});
  }
  return NotFound(fmt::format("no API route for {} /v1/smb-users/{}", r.method, name));
}

}  // namespace pk::api
