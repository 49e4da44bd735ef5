// Parsers for zpool/zfs machine-readable output. Pure functions over text,
// tested on golden files under tests/data/ (zfs-fuse captured here, OpenZFS
// 2.1 captured in the qemu guest). Internal to the zfs module.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "base/text.h"
#include "zfs/label.h"
#include "zfs/types.h"

namespace pk::zfs::internal {

using ::pk::SplitFields;
using ::pk::SplitLines;
std::vector<std::string_view> SplitTabs(std::string_view line);

// "1.98G" / "512" / "1,5M" -> bytes (zfs-fuse prints sizes only this way).
Result<uint64_t> ParseHumanSize(std::string_view text);
// Plain unsigned integer (the -p form); "-" and "" are errors.
Result<uint64_t> ParseUint(std::string_view text);

// `zpool status [-P] [-p] POOL` of one pool.
Result<PoolStatus> ParsePoolStatus(std::string_view text);

// The "scan:" (OpenZFS) or "scrub:" (zfs-fuse) field of `zpool status`, its
// continuation lines joined with single blanks (as ParsePoolStatus keeps it).
// Wording it does not know gives Kind::kNone: status must not fail on it.
ScanProgress ParseScan(std::string_view scan);

// `zpool import -d DIR...` listing: every pool it shows.
Result<std::vector<ImportablePool>> ParseImportList(std::string_view text);

// `zdb -l DEVICE` (both flavours): the top-level fields of the first label
// that unpacks. NotFound when no label unpacks (not a ZFS device) or it names
// no pool. `device` goes into the result and the messages.
Result<VdevLabel> ParseZdbLabel(std::string_view text, const std::string& device);

// `zpool list -H [-p] -o name,size,alloc,free,health,guid,altroot`.
Result<std::vector<PoolSummary>> ParsePoolList(std::string_view text, bool exact_sizes);

// `zfs get -H -p -o name,property,value,source PROPS NAMES...` (the default
// column order of zfs get is the same, so -o is optional). Rows of one
// dataset are adjacent; the order of datasets is preserved. `type` must be
// among the properties for the Dataset::type to be set; otherwise a name with
// '@' is a snapshot and anything else a filesystem.
Result<std::vector<Dataset>> ParseGetOutput(std::string_view text);

// "local", "default", "-", "inherited from tank/a", "received", "temporary".
PropertyValue ParseSource(std::string_view value, std::string_view source);

// Quotas. `zfs get -H -p -o property,value {k}used@S,{k}quota@S[,{k}objused@S,{k}objquota@S]...`
// for each subject S in order: one QuotaUsage per subject. "-" (zfs-fuse for
// a name it cannot resolve) and "none" read as 0.
Result<std::vector<QuotaUsage>> ParseQuotaGet(std::string_view text, QuotaKind kind,
                                              const std::vector<std::string>& subjects);
// OpenZFS `zfs userspace|groupspace -H -p -n -o type,name,used,quota,objused,objquota`:
// POSIX rows of `kind` (SMB rows have no numeric id and are skipped).
Result<std::vector<QuotaUsage>> ParseOpenZfsUserspace(std::string_view text, QuotaKind kind);
// zfs-fuse's built-in `zfs userspace` fallback (tests/data/zfs-fuse/zfs-userspace-builtin.out):
// "PROP TYPE NAME VALUE" rows such as "used user  root 17K", users and groups
// mixed; the distinct names of `kind`, in first-seen order. Names that cannot
// go into a property list (',' or blanks) are skipped.
std::vector<std::string> ParseZfsFuseUserspaceNames(std::string_view text, QuotaKind kind);

}  // namespace pk::zfs::internal
