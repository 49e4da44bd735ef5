#include "quota/quotas.h"

#include <algorithm>

#include <fmt/format.h>

namespace pk::quota {
namespace {

sys::AccountKind AccountKindOf(zfs::QuotaKind kind) {
  return kind == zfs::QuotaKind::kUser ? sys::AccountKind::kUser : sys::AccountKind::kGroup;
}

}  // namespace

std::optional<double> NamedUsage::Fraction() const {
  if (!usage.quota) return std::nullopt;
  return static_cast<double>(usage.used) / static_cast<double>(usage.quota);
}

Result<sys::UserDirectory*> Quotas::RequireUsers() {
  if (!users_) return Unavailable("user and group lookups are not available in this daemon");
  return users_;
}

Result<zfs::QuotaSubject> Quotas::Resolve(zfs::QuotaKind kind, const std::string& text) {
  if (auto id = zfs::ParseNumericId(text)) return zfs::QuotaSubject{kind, *id};
  PK_ASSIGN_OR_RETURN(auto* users, RequireUsers());
  PK_ASSIGN_OR_RETURN(auto name, sys::AccountName::Parse(text, AccountKindOf(kind)));
  PK_ASSIGN_OR_RETURN(uint32_t id, users->Lookup(AccountKindOf(kind), name));
  return zfs::QuotaSubject{kind, id};
}

Result<zfs::QuotaSubject> Quotas::SubjectOf(const std::string& user, const std::string& group,
                                            const std::string& context) {
  if (!user.empty() && !group.empty()) return InvalidArgument(context + ": give a user or a group, not both");
  if (user.empty() && group.empty()) return InvalidArgument(context + ": give a user or a group");
  auto s = user.empty() ? Resolve(zfs::QuotaKind::kGroup, group) : Resolve(zfs::QuotaKind::kUser, user);
  if (!s) return std::unexpected(s.error().WithContext(context));
  return s;
}

Result<NamedUsage> Quotas::Named(zfs::Zfs& zfs, const zfs::DatasetName& dataset, const zfs::QuotaSubject& subject) {
  PK_ASSIGN_OR_RETURN(auto* users, RequireUsers());
  PK_ASSIGN_OR_RETURN(auto usage, zfs.GetQuota(dataset, subject));
  return NamedUsage{usage, users->NameOf(AccountKindOf(subject.kind), subject.id).value_or(std::to_string(subject.id))};
}

Result<NamedUsage> Quotas::Get(const zfs::DatasetName& dataset, const zfs::QuotaSubject& subject) {
  return Named(reads_, dataset, subject);
}

Result<std::vector<NamedUsage>> Quotas::List(const zfs::DatasetName& dataset, const ListQuery& query) {
  PK_ASSIGN_OR_RETURN(auto* users, RequireUsers());
  const sys::AccountKind kind = AccountKindOf(query.kind);
  PK_ASSIGN_OR_RETURN(auto all, reads_.ListQuotas(dataset, query.kind));
  std::vector<NamedUsage> rows;
  for (auto& u : all) {
    NamedUsage n{std::move(u), ""};
    if (n.usage.id) {
      n.name = users->NameOf(kind, *n.usage.id).value_or(std::to_string(*n.usage.id));
    } else {
      // zfs-fuse's listing prints names it resolved: find their ids.
      n.name = n.usage.zfs_name;
      if (auto parsed = sys::AccountName::Parse(n.name, kind)) {
        if (auto id = users->Lookup(kind, *parsed)) n.usage.id = *id;
      }
    }
    const auto& f = query.filter;
    if (!f.empty() && n.name.find(f) == std::string::npos &&
        (!n.usage.id || std::to_string(*n.usage.id).find(f) == std::string::npos)) {
      continue;
    }
    rows.push_back(std::move(n));
  }
  auto percent = [](const NamedUsage& n) { return n.Fraction().value_or(-1.0); };
  const SortBy sort = query.sort;
  std::stable_sort(rows.begin(), rows.end(), [&](const NamedUsage& a, const NamedUsage& b) {
    if (sort == SortBy::kUsed && a.usage.used != b.usage.used) return a.usage.used > b.usage.used;
    if (sort == SortBy::kQuota && a.usage.quota != b.usage.quota) return a.usage.quota > b.usage.quota;
    if (sort == SortBy::kPercent && percent(a) != percent(b)) return percent(a) > percent(b);
    return a.name < b.name;
  });
  return rows;
}

Result<NamedUsage> Quotas::Set(const zfs::DatasetName& dataset, const zfs::QuotaSubject& subject,
                               const Limits& limits) {
  const std::string context = fmt::format("set quota on '{}'", dataset.str());
  if (!limits.bytes && !limits.objects) return InvalidArgument(context + ": no limit given");
  if ((limits.bytes && *limits.bytes == 0) || (limits.objects && *limits.objects == 0)) {
    return InvalidArgument(context + ": a limit of zero; use clear to remove a quota");
  }
  if (limits.bytes) PK_TRY(writes_.SetQuota(dataset, subject, *limits.bytes));
  if (limits.objects) PK_TRY(writes_.SetObjectQuota(dataset, subject, *limits.objects));
  return Named(writes_, dataset, subject);
}

Status Quotas::Clear(const zfs::DatasetName& dataset, const zfs::QuotaSubject& subject) {
  return writes_.ClearQuota(dataset, subject);
}

}  // namespace pk::quota
