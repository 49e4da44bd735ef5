#include "zfs/names.h"

#include <algorithm>
#include <array>

#include <fmt/format.h>

namespace pk::zfs {
namespace {

// Dataset properties of OpenZFS 2.x and zfs-fuse 0.7 (zfsprops(7)).
constexpr auto kNativeProperties = std::to_array<std::string_view>({
    "aclinherit", "aclmode", "acltype", "atime", "available", "avail", "canmount",
    "casesensitivity", "checksum", "clones", "compression", "compress", "compressratio",
    "context", "copies", "createtxg", "creation", "dedup", "defcontext", "defer_destroy",
    "devices", "dnodesize", "encryption", "encryptionroot", "exec", "filesystem_count",
    "filesystem_limit", "fscontext", "guid", "inconsistent", "ivset_guid", "jailed",
    "keyformat", "keylocation", "keystatus", "logbias", "logicalreferenced", "logicalused",
    "mlslabel", "mounted", "mountpoint", "name", "nbmand", "normalization", "objsetid",
    "origin", "overlay", "pbkdf2iters", "prefetch", "primarycache", "quota", "readonly",
    "rdonly", "receive_resume_token", "recordsize", "recsize", "redact_snaps",
    "redundant_metadata", "refcompressratio", "referenced", "refer", "refquota",
    "refreservation", "refreserv", "relatime", "reservation", "reserv", "rootcontext",
    "secondarycache", "setuid", "sharenfs", "sharesmb", "shareiscsi", "snapdev", "snapdir",
    "snapshot_count", "snapshot_limit", "snapshots_changed", "special_small_blocks", "sync",
    "type", "unique", "used", "usedbychildren", "usedbydataset", "usedbyrefreservation",
    "usedbysnapshots", "userrefs", "utf8only", "version", "volblocksize", "volmode",
    "volsize", "vscan", "written", "xattr", "zoned",
});

// Per-user/group/project properties written as "prefix@who".
constexpr auto kAtProperties = std::to_array<std::string_view>({
    "userused", "userquota", "groupused", "groupquota", "userobjused", "userobjquota",
    "groupobjused", "groupobjquota", "projectused", "projectquota", "projectobjused",
    "projectobjquota", "written",
});

// Words `zpool create` reads as vdev types; ZFS refuses them as pool names.
constexpr auto kReservedPoolNames = std::to_array<std::string_view>({
    "mirror", "raidz", "raidz1", "raidz2", "raidz3", "spare", "log", "cache", "draid",
});

bool IsComponentChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '-' || c == '.' || c == ':' || c == ' ';
}

// Printable form of a rejected name: control characters become \n, \xNN.
std::string Quote(std::string_view text) {
  std::string out = "'";
  for (char c : text.substr(0, 300)) {
    if (c == '\n') {
      out += "\\n";
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
    } else {
      out += c;
    }
  }
  if (text.size() > 300) out += "...";
  return out + "'";
}

// Checks one component of a dataset or snapshot name.
Status CheckComponent(std::string_view kind, std::string_view full, std::string_view comp) {
  if (comp.empty()) {
    return InvalidArgument(fmt::format("invalid {} name {}: empty component", kind, Quote(full)));
  }
  if (comp == "." || comp == "..") {
    return InvalidArgument(
        fmt::format("invalid {} name {}: '{}' is not allowed as a component", kind, Quote(full), comp));
  }
  if (comp.front() == '-') {
    return InvalidArgument(
        fmt::format("invalid {} name {}: a component may not start with '-'", kind, Quote(full)));
  }
  for (char c : comp) {
    if (!IsComponentChar(c)) {
      std::string shown(1, c);
      if (c == '\n') {
        shown = "\\n";
      } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        shown = fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
      }
      return InvalidArgument(fmt::format(
          "invalid {} name {}: character '{}' is not allowed (only letters, digits, space and _-.:)",
          kind, Quote(full), shown));
    }
  }
  return OkStatus();
}

Status CheckLength(std::string_view kind, std::string_view text) {
  if (text.empty()) return InvalidArgument(fmt::format("invalid {} name: empty", kind));
  if (text.size() > kMaxNameLength) {
    return InvalidArgument(fmt::format("invalid {} name {}: {} bytes, longer than {}", kind,
                                       Quote(text), text.size(), kMaxNameLength));
  }
  return OkStatus();
}

Status CheckPool(std::string_view kind, std::string_view full, std::string_view pool) {
  PK_TRY(CheckComponent(kind, full, pool));
  char first = pool.front();
  if (!((first >= 'a' && first <= 'z') || (first >= 'A' && first <= 'Z'))) {
    return InvalidArgument(
        fmt::format("invalid {} name {}: a pool name must start with a letter", kind, Quote(full)));
  }
  if (std::find(kReservedPoolNames.begin(), kReservedPoolNames.end(), pool) !=
          kReservedPoolNames.end() ||
      pool.starts_with("raidz") || pool.starts_with("draid")) {
    return InvalidArgument(
        fmt::format("invalid {} name {}: '{}' is a reserved word", kind, Quote(full), pool));
  }
  if (pool.size() >= 2 && pool[0] == 'c' && pool[1] >= '0' && pool[1] <= '9') {
    return InvalidArgument(fmt::format(
        "invalid {} name {}: names like c0... are reserved for disk names", kind, Quote(full)));
  }
  return OkStatus();
}

Status CheckDataset(std::string_view kind, std::string_view full, std::string_view text) {
  size_t start = 0;
  bool first = true;
  while (true) {
    size_t slash = text.find('/', start);
    std::string_view comp = text.substr(start, slash == std::string_view::npos ? slash : slash - start);
    if (first) {
      PK_TRY(CheckPool(kind, full, comp));
    } else {
      PK_TRY(CheckComponent(kind, full, comp));
    }
    first = false;
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return OkStatus();
}

}  // namespace

Result<PoolName> PoolName::Parse(std::string_view text) {
  PK_TRY(CheckLength("pool", text));
  if (text.find('/') != std::string_view::npos || text.find('@') != std::string_view::npos) {
    return InvalidArgument(fmt::format("invalid pool name {}: '/' and '@' are not allowed", Quote(text)));
  }
  PK_TRY(CheckPool("pool", text, text));
  return PoolName(std::string(text));
}

Result<DatasetName> DatasetName::Parse(std::string_view text) {
  PK_TRY(CheckLength("dataset", text));
  if (text.find('@') != std::string_view::npos) {
    return InvalidArgument(
        fmt::format("invalid dataset name {}: '@' belongs to snapshot names", Quote(text)));
  }
  PK_TRY(CheckDataset("dataset", text, text));
  return DatasetName(std::string(text));
}

PoolName DatasetName::pool() const {
  return *PoolName::Parse(std::string_view(name_).substr(0, name_.find('/')));
}

std::optional<DatasetName> DatasetName::parent() const {
  size_t slash = name_.rfind('/');
  if (slash == std::string::npos) return std::nullopt;
  return DatasetName(name_.substr(0, slash));
}

Result<SnapshotName> SnapshotName::Parse(std::string_view text) {
  PK_TRY(CheckLength("snapshot", text));
  size_t at = text.find('@');
  if (at == std::string_view::npos) {
    return InvalidArgument(fmt::format("invalid snapshot name {}: expected DATASET@SNAPSHOT", Quote(text)));
  }
  PK_TRY(CheckDataset("snapshot", text, text.substr(0, at)));
  std::string_view snap = text.substr(at + 1);
  if (snap.find('@') != std::string_view::npos || snap.find('/') != std::string_view::npos) {
    return InvalidArgument(
        fmt::format("invalid snapshot name {}: '/' and '@' are not allowed after '@'", Quote(text)));
  }
  PK_TRY(CheckComponent("snapshot", text, snap));
  return SnapshotName(std::string(text));
}

Result<SnapshotName> SnapshotName::Make(const DatasetName& dataset, std::string_view snap) {
  return Parse(dataset.str() + "@" + std::string(snap));
}

DatasetName SnapshotName::dataset() const { return *DatasetName::Parse(name_.substr(0, name_.find('@'))); }

bool IsKnownNativeProperty(std::string_view name) {
  if (std::find(kNativeProperties.begin(), kNativeProperties.end(), name) != kNativeProperties.end()) {
    return true;
  }
  size_t at = name.find('@');
  if (at == std::string_view::npos || at + 1 == name.size()) return false;
  return std::find(kAtProperties.begin(), kAtProperties.end(), name.substr(0, at)) !=
         kAtProperties.end();
}

Result<PropertyName> PropertyName::Parse(std::string_view text) {
  if (text.empty()) return InvalidArgument("invalid property name: empty");
  if (text.size() > kMaxNameLength) {
    return InvalidArgument(fmt::format("invalid property name {}: longer than {} bytes", Quote(text),
                                       kMaxNameLength));
  }
  if (text.find(':') == std::string_view::npos) {
    if (!IsKnownNativeProperty(text)) {
      return InvalidArgument(fmt::format(
          "invalid property name {}: not a native property, and a user property must be "
          "'module:property'",
          Quote(text)));
    }
    for (char c : text) {
      if (static_cast<unsigned char>(c) <= 0x20) {
        return InvalidArgument(fmt::format("invalid property name {}: contains whitespace", Quote(text)));
      }
    }
    return PropertyName(std::string(text));
  }
  // User property: lower-case letters, digits and ":+._-" (zfsprops(7)).
  if (text.front() == '-' || text.front() == ':') {
    return InvalidArgument(fmt::format(
        "invalid property name {}: a user property must be 'module:property' with a module",
        Quote(text)));
  }
  if (text.back() == ':') {
    return InvalidArgument(
        fmt::format("invalid property name {}: nothing after the ':'", Quote(text)));
  }
  for (char c : text) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == ':' || c == '+' ||
              c == '.' || c == '_' || c == '-';
    if (!ok) {
      return InvalidArgument(fmt::format(
          "invalid property name {}: user properties use only lower-case letters, digits and :+._-",
          Quote(text)));
    }
  }
  return PropertyName(std::string(text));
}

Status ValidatePropertyValue(const PropertyName& name, std::string_view value) {
  if (value.size() > 8191) {
    return InvalidArgument(fmt::format("invalid value for property '{}': {} bytes, longer than 8191",
                                       name.str(), value.size()));
  }
  for (char c : value) {
    if (c == '\n' || c == '\t' || c == '\0' || c == '\r') {
      return InvalidArgument(fmt::format(
          "invalid value for property '{}': newlines, tabs and NUL are not allowed", name.str()));
    }
  }
  return OkStatus();
}

Result<AnyName> AnyName::Parse(std::string_view text) {
  if (text.find('@') != std::string_view::npos) {
    PK_ASSIGN_OR_RETURN(auto snap, SnapshotName::Parse(text));
    return AnyName{snap.str(), true};
  }
  PK_ASSIGN_OR_RETURN(auto ds, DatasetName::Parse(text));
  return AnyName{ds.str(), false};
}

}  // namespace pk::zfs
