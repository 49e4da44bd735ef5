// The API's quota routes (issue 7): per-user and per-group quotas of one
// filesystem. The routes parse the request (names are validated and resolved,
// sizes parsed strictly, by quota::Quotas and zfs::ParseSize) and write JSON;
// nothing reaches zfs until both have passed.
#include <fmt/format.h>

#include "api/internal/request.h"
#include "api/router.h"
#include "quota/quotas.h"

namespace pk::api {
namespace {

using nlohmann::json;
using namespace internal;

json UsageToJson(const quota::NamedUsage& n) {
  const auto& u = n.usage;
  auto fraction = n.Fraction();
  json j = {{"kind", zfs::QuotaKindName(u.kind)},
            {"name", n.name},
            {"id", u.id ? json(*u.id) : json(nullptr)},
            {"used", u.used},
            {"quota", u.quota},
            {"percent", fraction ? json(*fraction * 100.0) : json(nullptr)}};
  if (u.objused) j["objused"] = *u.objused;
  if (u.objquota) j["objquota"] = *u.objquota;
  return j;
}

Result<quota::SortBy> SortByOf(const std::string& text) {
  if (text == "name") return quota::SortBy::kName;
  if (text == "used") return quota::SortBy::kUsed;
  if (text == "quota") return quota::SortBy::kQuota;
  if (text == "percent") return quota::SortBy::kPercent;
  return InvalidArgument(fmt::format("sort must be name, used, quota or percent, not '{}'", text));
}

}  // namespace

quota::Quotas Router::QuotasOf() { return quota::Quotas(ToolReads(), zfs_, users_); }

Result<HttpResponse> Router::GetQuotas(const std::string& name, const HttpRequest& r) {
  PK_ASSIGN_OR_RETURN(auto ds, zfs::DatasetName::Parse(name));
  quota::Quotas quotas = QuotasOf();
  std::string user = Query(r, "user"), group = Query(r, "group");
  if (!user.empty() || !group.empty()) {
    PK_ASSIGN_OR_RETURN(auto subject, quotas.SubjectOf(user, group, fmt::format("quota on '{}'", ds.str())));
    PK_ASSIGN_OR_RETURN(auto usage, quotas.Get(ds, subject));
    json j = UsageToJson(usage);
    j["dataset"] = ds.str();
    return JsonResponse(j);
  }
  std::string kind_text = Query(r, "kind", "user");
  if (kind_text != "user" && kind_text != "group") {
    return InvalidArgument(fmt::format("kind must be user or group, not '{}'", kind_text));
  }
  quota::ListQuery query{.kind = kind_text == "user" ? zfs::QuotaKind::kUser : zfs::QuotaKind::kGroup};
  PK_ASSIGN_OR_RETURN(query.sort, SortByOf(Query(r, "sort", "name")));
  query.filter = Query(r, "filter");
  PK_ASSIGN_OR_RETURN(auto rows, quotas.List(ds, query));
  json out = json::array();
  for (const auto& n : rows) out.push_back(UsageToJson(n));
  return JsonResponse({{"dataset", ds.str()},
                       {"kind", kind_text},
                       {"dialect", zfs::DialectName(zfs_.dialect())},
                       {"quotas", out}});
}

Result<HttpResponse> Router::SetQuota(const std::string& name, const HttpRequest& r) {
  PK_ASSIGN_OR_RETURN(auto ds, zfs::DatasetName::Parse(name));
  PK_ASSIGN_OR_RETURN(auto json_body, ParseBody(r));
  JsonFields body(json_body, "");
  std::string context = fmt::format("set quota on '{}'", ds.str());
  std::string user, group;
  if (body.Has("user")) {
    PK_ASSIGN_OR_RETURN(user, StringField(body, "user"));
  }
  if (body.Has("group")) {
    PK_ASSIGN_OR_RETURN(group, StringField(body, "group"));
  }
  const bool has_quota = body.Has("quota"), has_objects = body.Has("objects");
  if (!has_quota && !has_objects) {
    return InvalidArgument(context + ": field 'quota' (a size such as 10G) is required");
  }
  quota::Limits limits;
  if (has_quota) {
    PK_ASSIGN_OR_RETURN(auto text, StringField(body, "quota"));
    auto parsed = zfs::ParseSize(text);
    if (!parsed) return std::unexpected(parsed.error().WithContext(context));
    if (*parsed == 0) return InvalidArgument(fmt::format("{}: quota '{}' is zero; use clear to remove a quota", context, text));
    limits.bytes = *parsed;
  }
  if (const json* it = body.Raw("objects")) {
    if (!it->is_number_unsigned() || it->get<uint64_t>() == 0) {
      return InvalidArgument(context + ": field 'objects' must be a positive whole number");
    }
    limits.objects = it->get<uint64_t>();
  }
  PK_TRY_CONTEXT(body.Finish(), context);
  quota::Quotas quotas = QuotasOf();
  PK_ASSIGN_OR_RETURN(auto subject, quotas.SubjectOf(user, group, context));
  PK_ASSIGN_OR_RETURN(auto usage, quotas.Set(ds, subject, limits));
  json j = UsageToJson(usage);
  j["dataset"] = ds.str();
  return JsonResponse(j);
}

Result<HttpResponse> Router::ClearQuota(const std::string& name, const HttpRequest& r) {
  PK_ASSIGN_OR_RETURN(auto ds, zfs::DatasetName::Parse(name));
  quota::Quotas quotas = QuotasOf();
  PK_ASSIGN_OR_RETURN(auto subject,
                      quotas.SubjectOf(Query(r, "user"), Query(r, "group"), fmt::format("clear quota on '{}'", ds.str())));
  PK_TRY(quotas.Clear(ds, subject));
  return JsonResponse({{"ok", true},
                       {"dataset", ds.str()},
                       {"kind", zfs::QuotaKindName(subject.kind)},
                       {"id", subject.id}});
}

}  // namespace pk::api
