// The API's disk routes (issue 20 items 2, 3): the daemon's disk cache
// (hw::DiskMonitor) as JSON, a rescan on demand, and SMART self-tests. An id
// that names no disk is a 404 naming it.
#include <fmt/format.h>

#include "api/internal/request.h"
#include "api/router.h"
#include "hw/disk_json.h"

namespace pk::api {

using nlohmann::json;
using namespace internal;

Result<hw::DiskMonitor*> Router::RequireDisks() {
  if (!disks_) return Unavailable("disks are not watched by this daemon");
  return disks_;
}

Result<HttpResponse> Router::DiskRoute(const std::string& id, const HttpRequest& r) {
  const std::string& m = r.method;
  const std::string action = Query(r, "action");
  PK_ASSIGN_OR_RETURN(auto* disks, RequireDisks());
  if (id.empty() && m == "GET") {
    PK_ASSIGN_OR_RETURN(bool refresh, QueryBool(r, "refresh", false));
    if (refresh) {
      if (auto s = disks->Rescan(); !s) return std::unexpected(s.error().WithContext("rescan disks"));
    }
    return JsonResponse(hw::TopologyToJson(*disks->Current()));
  }
  if (!id.empty() && m == "GET") {
    auto view = disks->Current();
    const hw::Disk* d = view->Find(id);
    if (!d) return NotFound(fmt::format("disk '{}' not found (poolkeeper disk list shows the ids)", id));
    return JsonResponse(hw::DiskToJson(*d));
  }
  if (!id.empty() && m == "POST" && action == "selftest") {
    PK_ASSIGN_OR_RETURN(auto json_body, ParseBody(r));
    JsonFields body(json_body, "");
    std::string test = "short";
    if (body.Has("test")) {
      PK_ASSIGN_OR_RETURN(test, StringField(body, "test"));
    }
    PK_TRY(body.Finish());
    auto kind = hw::ParseSelfTest(test);
    if (!kind) return std::unexpected(kind.error().WithContext(fmt::format("disk '{}'", id)));
    PK_TRY(disks->StartSelfTest(id, *kind));
    return JsonResponse({{"disk", id}, {"test", test}, {"started", true}});
  }
  return NotFound(fmt::format("no API route for {} {}{}", m, r.path, action.empty() ? "" : "?action=" + action));
}

Result<HttpResponse> Router::ListEnclosures() {
  PK_ASSIGN_OR_RETURN(auto* disks, RequireDisks());
  return JsonResponse(hw::EnclosuresToJson(*disks->Current()));
}

}  // namespace pk::api
