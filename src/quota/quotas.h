// quota::Quotas: per-user and per-group quotas of one filesystem (issue 7):
// resolves a subject given by name or numeric id, names the rows of a
// listing (zfs-fuse prints names, OpenZFS ids), filters and sorts them, and
// sets, reads and clears one subject's limits. Names are resolved here, so
// nothing below depends on the host's passwd; the API route only parses the
// request and writes JSON.
// Thread-safety: as safe as the zfs::Zfs and sys::UserDirectory it is given;
// it keeps no state of its own.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "sys/users.h"
#include "zfs/names.h"
#include "zfs/zfs.h"

namespace pk::quota {

// One subject's usage and the name shown for it: the account name when the
// directory knows the id, else the id, else what ZFS printed.
struct NamedUsage {
  zfs::QuotaUsage usage;
  std::string name;
  // used / quota, or nullopt without a quota.
  std::optional<double> Fraction() const;
};

enum class SortBy { kName, kUsed, kQuota, kPercent };  // kUsed/kQuota/kPercent: largest first, ties by name

struct ListQuery {
  zfs::QuotaKind kind = zfs::QuotaKind::kUser;
  SortBy sort = SortBy::kName;
  std::string filter;  // kept when the name or the id contains it; empty: all
};

struct Limits {
  std::optional<uint64_t> bytes;    // > 0
  std::optional<uint64_t> objects;  // > 0
};

class Quotas {
 public:
  // `reads` answers reads (may be a runner with shorter timeouts), `writes`
  // changes quotas. `users` may be null: then every name lookup fails
  // Unavailable, and numeric ids still work for set and clear.
  Quotas(zfs::Zfs& reads, zfs::Zfs& writes, sys::UserDirectory* users) : reads_(reads), writes_(writes), users_(users) {}

  // Exactly one of `user` / `group` (empty = not given), by name or numeric
  // id; errors are prefixed with `context`.
  Result<zfs::QuotaSubject> SubjectOf(const std::string& user, const std::string& group, const std::string& context);

  // One subject: a single `zfs get`, never a listing.
  Result<NamedUsage> Get(const zfs::DatasetName& dataset, const zfs::QuotaSubject& subject);
  Result<std::vector<NamedUsage>> List(const zfs::DatasetName& dataset, const ListQuery& query);
  // Sets the limits given (at least one), then reads the subject back.
  Result<NamedUsage> Set(const zfs::DatasetName& dataset, const zfs::QuotaSubject& subject, const Limits& limits);
  Status Clear(const zfs::DatasetName& dataset, const zfs::QuotaSubject& subject);

 private:
  Result<sys::UserDirectory*> RequireUsers();
  Result<zfs::QuotaSubject> Resolve(zfs::QuotaKind kind, const std::string& text);
  Result<NamedUsage> Named(zfs::Zfs& zfs, const zfs::DatasetName& dataset, const zfs::QuotaSubject& subject);

  zfs::Zfs& reads_;
  zfs::Zfs& writes_;
  sys::UserDirectory* users_;
};

}  // namespace pk::quota
