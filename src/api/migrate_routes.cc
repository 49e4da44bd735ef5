// The API's shadow-migration routes (issue 6): start, status, list, cancel.
// Names, the source URI, concurrency and the bandwidth limit are validated
// here or by migrate::Manager before anything touches the dataset; the
// manager keeps the migration in the dataset itself (property + state
// directory), so these routes hold no state of their own.
#include <fmt/format.h>

#include "api/internal/request.h"
#include "api/router.h"

namespace pk::api {
namespace {

using nlohmann::json;
using namespace internal;

}  // namespace

Result<migrate::Manager*> Router::RequireMigrations() {
  if (!migrations_) return Unavailable("shadow migration is not available in this daemon");
  return migrations_;
}

Result<HttpResponse> Router::MigrationRoute(const std::string& name, const HttpRequest& r) {
  PK_ASSIGN_OR_RETURN(auto* m, RequireMigrations());
  if (name.empty() && r.method == "GET") {
    PK_ASSIGN_OR_RETURN(auto list, m->List());
    return JsonResponse(list);
  }
  if (name.empty() && r.method == "POST") {
    PK_ASSIGN_OR_RETURN(auto json_body, ParseBody(r));
    JsonFields body(json_body, "");
    PK_ASSIGN_OR_RETURN(auto ds_text, StringField(body, "dataset"));
    PK_ASSIGN_OR_RETURN(auto ds, zfs::DatasetName::Parse(ds_text));
    migrate::StartRequest req{ds, "", 0, 0};
    PK_ASSIGN_OR_RETURN(req.source, StringField(body, "source"));
    const std::string ctx = fmt::format("start migration of '{}'", ds.str());
    if (const json* it = body.Raw("concurrency")) {
      if (!it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > 64) {
        return InvalidArgument(ctx + ": field 'concurrency' must be a whole number 1..64");
      }
      req.concurrency = it->get<int>();
    }
    if (const json* it = body.Raw("bwlimit")) {
      // Bytes per second, as a number or a size such as "20M".
      if (it->is_number_unsigned()) {
        req.bwlimit = it->get<uint64_t>();
      } else if (it->is_string()) {
        auto size = zfs::ParseSize(it->get<std::string>());
        if (!size) return std::unexpected(size.error().WithContext(ctx + ": bwlimit"));
        req.bwlimit = *size;
      } else {
        return InvalidArgument(ctx + ": field 'bwlimit' must be bytes per second (a number or a size like 20M)");
      }
    }
    if (const json* it = body.Raw("preserve_special")) {
      if (!it->is_boolean()) return InvalidArgument(ctx + ": field 'preserve_special' must be true or false");
      req.preserve_special = it->get<bool>();
    }
    PK_TRY_CONTEXT(body.Finish(), ctx);
    PK_ASSIGN_OR_RETURN(auto started, m->Start(req));
    return JsonResponse(started);
  }
  if (name.empty()) return NotFound(fmt::format("no API route {} /v1/migrations", r.method));
  PK_ASSIGN_OR_RETURN(auto ds, zfs::DatasetName::Parse(name));
  if (r.method == "GET") {
    PK_ASSIGN_OR_RETURN(auto status, m->GetStatus(ds));
    return JsonResponse(status);
  }
  if (r.method == "DELETE") {
    PK_TRY(m->Cancel(ds));
    return JsonResponse({{"ok", true}, {"cancelled", ds.str()}});
  }
  return NotFound(fmt::format("no API route {} /v1/migrations/{}", r.method, ds.str()));
}

}  // namespace pk::api
