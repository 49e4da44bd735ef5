// The API's quota routes (issue 7): per-user and per-group quotas of one
// filesystem. Names are validated (sys::AccountName) and resolved here, at the
// edge; sizes are parsed strictly (zfs::ParseSize); nothing reaches zfs until
// both have passed. A single subject is read with one `zfs get`, never a listing.
#include <algorithm>

#include <fmt/format.h>

#include "api/internal/request.h"
#include "api/router.h"

namespace pk::api {
namespace {

using nlohmann::json;
using namespace internal;

sys::AccountKind AccountKindOf(zfs::QuotaKind kind) {
  return kind == zfs::QuotaKind::kUser ? sys::AccountKind::kUser : sys::AccountKind::kGroup;
}

struct NamedUsage {
  zfs::QuotaUsage usage;
  std::string name;  // resolved name, else the id, else what ZFS printed
};

json UsageToJson(const NamedUsage& n) {
  const auto& u = n.usage;
  json j = {{"kind", zfs::QuotaKindName(u.kind)},
            {"name", n.name},
            {"id", u.id ? json(*u.id) : json(nullptr)},
            {"used", u.used},
            {"quota", u.quota},
            {"percent", u.quota ? json(static_cast<double>(u.used) * 100.0 / static_cast<double>(u.quota))
                                : json(nullptr)}};
  if (u.objused) j["objused"] = *u.objused;
  if (u.objquota) j["objquota"] = *u.objquota;
  return j;
}

}  // namespace

Result<sys::UserDirectory*> Router::RequireUsers() {
  if (!users_) return Unavailable("user and group lookups are not available in this daemon");
  return users_;
}

Result<zfs::QuotaSubject> Router::ResolveSubject(zfs::QuotaKind kind, const std::string& text) {
  if (auto id = zfs::ParseNumericId(text)) return zfs::QuotaSubject{kind, *id};
  PK_ASSIGN_OR_RETURN(auto* users, RequireUsers());
  PK_ASSIGN_OR_RETURN(auto name, sys::AccountName::Parse(text, AccountKindOf(kind)));
  PK_ASSIGN_OR_RETURN(uint32_t id, users->Lookup(AccountKindOf(kind), name));
  return zfs::QuotaSubject{kind, id};
}

// The subject of a request: exactly one of "user" / "group" (query or body).
Result<zfs::QuotaSubject> Router::SubjectOf(const std::string& user, const std::string& group,
                                                 const std::string& context) {
  if (!user.empty() && !group.empty()) return InvalidArgument(context + ": give a user or a group, not both");
  if (user.empty() && group.empty()) return InvalidArgument(context + ": give a user or a group");
  auto s = user.empty() ? ResolveSubject(zfs::QuotaKind::kGroup, group) : ResolveSubject(zfs::QuotaKind::kUser, user);
  if (!s) return std::unexpected(s.error().WithContext(context));
  return s;
}

Result<HttpResponse> Router::GetQuotas(const std::string& name, const HttpRequest& r) {
  PK_ASSIGN_OR_RETURN(auto ds, zfs::DatasetName::Parse(name));
  PK_ASSIGN_OR_RETURN(auto* users, RequireUsers());
  std::string user = Query(r, "user"), group = Query(r, "group");
  if (!user.empty() || !group.empty()) {
    PK_ASSIGN_OR_RETURN(auto subject, SubjectOf(user, group, fmt::format("quota on '{}'", ds.str())));
    PK_ASSIGN_OR_RETURN(auto usage, ToolReads().GetQuota(ds, subject));
    NamedUsage n{usage, users->NameOf(AccountKindOf(subject.kind), subject.id).value_or(std::to_string(subject.id))};
    json j = UsageToJson(n);
    j["dataset"] = ds.str();
    return JsonResponse(j);
  }
  std::string kind_text = Query(r, "kind", "user");
  if (kind_text != "user" && kind_text != "group") {
    return InvalidArgument(fmt::format("kind must be user or group, not '{}'", kind_text));
  }
  zfs::QuotaKind kind = kind_text == "user" ? zfs::QuotaKind::kUser : zfs::QuotaKind::kGroup;
  std::string sort = Query(r, "sort", "name");
  if (sort != "name" && sort != "used" && sort != "quota" && sort != "percent") {
    return InvalidArgument(fmt::format("sort must be name, used, quota or percent, not '{}'", sort));
  }
  std::string filter = Query(r, "filter");
  PK_ASSIGN_OR_RETURN(auto all, ToolReads().ListQuotas(ds, kind));
  std::vector<NamedUsage> rows;
  for (auto& u : all) {
    NamedUsage n{std::move(u), ""};
    if (n.usage.id) {
      n.name = users->NameOf(AccountKindOf(kind), *n.usage.id).value_or(std::to_string(*n.usage.id));
    } else {
      // zfs-fuse's listing prints names it resolved: find their ids.
      n.name = n.usage.zfs_name;
      if (auto parsed = sys::AccountName::Parse(n.name, AccountKindOf(kind))) {
        if (auto id = users->Lookup(AccountKindOf(kind), *parsed)) n.usage.id = *id;
      }
    }
    if (!filter.empty() && n.name.find(filter) == std::string::npos &&
        (!n.usage.id || std::to_string(*n.usage.id).find(filter) == std::string::npos)) {
      continue;
    }
    rows.push_back(std::move(n));
  }
  auto percent = [](const NamedUsage& n) {
    return n.usage.quota ? static_cast<double>(n.usage.used) / static_cast<double>(n.usage.quota) : -1.0;
  };
  std::stable_sort(rows.begin(), rows.end(), [&](const NamedUsage& a, const NamedUsage& b) {
    if (sort == "used" && a.usage.used != b.usage.used) return a.usage.used > b.usage.used;
    if (sort == "quota" && a.usage.quota != b.usage.quota) return a.usage.quota > b.usage.quota;
    if (sort == "percent" && percent(a) != percent(b)) return percent(a) > percent(b);
    return a.name < b.name;
  });
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
  std::optional<uint64_t> bytes, objects;
  if (has_quota) {
    PK_ASSIGN_OR_RETURN(auto text, StringField(body, "quota"));
    auto parsed = zfs::ParseSize(text);
    if (!parsed) return std::unexpected(parsed.error().WithContext(context));
    if (*parsed == 0) return InvalidArgument(fmt::format("{}: quota '{}' is zero; use clear to remove a quota", context, text));
    bytes = *parsed;
  }
  if (const json* it = body.Raw("objects")) {
    if (!it->is_number_unsigned() || it->get<uint64_t>() == 0) {
      return InvalidArgument(context + ": field 'objects' must be a positive whole number");
    }
    objects = it->get<uint64_t>();
  }
  PK_TRY_CONTEXT(body.Finish(), context);
  PK_ASSIGN_OR_RETURN(auto subject, SubjectOf(user, group, context));
  if (bytes) {
    PK_TRY(zfs_.SetQuota(ds, subject, *bytes));
  }
  if (objects) {
    PK_TRY(zfs_.SetObjectQuota(ds, subject, *objects));
  }
  PK_ASSIGN_OR_RETURN(auto* users, RequireUsers());
  PK_ASSIGN_OR_RETURN(auto usage, zfs_.GetQuota(ds, subject));
  NamedUsage n{usage, users->NameOf(AccountKindOf(subject.kind), subject.id).value_or(std::to_string(subject.id))};
  json j = UsageToJson(n);
  j["dataset"] = ds.str();
  return JsonResponse(j);
}

Result<HttpResponse> Router::ClearQuota(const std::string& name, const HttpRequest& r) {
  PK_ASSIGN_OR_RETURN(auto ds, zfs::DatasetName::Parse(name));
  PK_ASSIGN_OR_RETURN(auto subject,
                      SubjectOf(Query(r, "user"), Query(r, "group"), fmt::format("clear quota on '{}'", ds.str())));
  PK_TRY(zfs_.ClearQuota(ds, subject));
  return JsonResponse({{"ok", true},
                       {"dataset", ds.str()},
                       {"kind", zfs::QuotaKindName(subject.kind)},
                       {"id", subject.id}});
}

}  // namespace pk::api
