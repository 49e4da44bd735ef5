// Validated ZFS names (STYLE rule 3). Each type can only be built by Parse(),
// which applies ZFS's own naming rules plus Poolkeeper's safety rules, and
// returns InvalidArgument naming the rejected text and the reason. Everything
// below the API edge takes these types, never raw strings.
//
// ZFS rules (OpenZFS module/zcommon/zfs_namecheck.c): components use
// alphanumerics and `_ - . : ` plus space; a pool name starts with a letter and
// is not a reserved vdev word; a name is shorter than 256 bytes; "." and ".."
// are not components. Poolkeeper also refuses components that start with '-'
// (they would read as options to zfs/zpool).
// Thread-safety: immutable value types.
#pragma once

#include <compare>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"

namespace pk::zfs {

inline constexpr size_t kMaxNameLength = 255;

class PoolName {
 public:
  static Result<PoolName> Parse(std::string_view text);
  const std::string& str() const { return name_; }
  auto operator<=>(const PoolName&) const = default;

 private:
  explicit PoolName(std::string name) : name_(std::move(name)) {}
  std::string name_;
};

// A filesystem or volume: "pool", "pool/a/b".
class DatasetName {
 public:
  static Result<DatasetName> Parse(std::string_view text);
  const std::string& str() const { return name_; }
  PoolName pool() const;
  // "pool/a" for "pool/a/b"; nullopt for the root dataset.
  std::optional<DatasetName> parent() const;
  bool IsRoot() const { return name_.find('/') == std::string::npos; }
  auto operator<=>(const DatasetName&) const = default;

 private:
  explicit DatasetName(std::string name) : name_(std::move(name)) {}
  std::string name_;
};

// "pool/a@snap".
class SnapshotName {
 public:
  static Result<SnapshotName> Parse(std::string_view text);
  static Result<SnapshotName> Make(const DatasetName& dataset, std::string_view snap);
  const std::string& str() const { return name_; }
  DatasetName dataset() const;
  std::string snap() const { return name_.substr(name_.find('@') + 1); }
  auto operator<=>(const SnapshotName&) const = default;

 private:
  explicit SnapshotName(std::string name) : name_(std::move(name)) {}
  std::string name_;
};

// A native property ("compression") or a user property ("com.example:owner").
// Native names are checked against the list of properties Poolkeeper knows for
// every supported ZFS flavour; "userquota@alice"-style names are accepted.
class PropertyName {
 public:
  static Result<PropertyName> Parse(std::string_view text);
  const std::string& str() const { return name_; }
  bool IsUser() const { return name_.find(':') != std::string::npos; }
  auto operator<=>(const PropertyName&) const = default;

 private:
  explicit PropertyName(std::string name) : name_(std::move(name)) {}
  std::string name_;
};

// A property value: no newline, tab or NUL (they would corrupt -H output), at
// most 8191 bytes (ZFS's ZAP_MAXVALUELEN for user properties).
Status ValidatePropertyValue(const PropertyName& name, std::string_view value);

// Any of the three: used where an API takes "a dataset or a snapshot".
struct AnyName {
  static Result<AnyName> Parse(std::string_view text);
  std::string str;
  bool is_snapshot = false;
};

// Is `name` a native (non-user) property that Poolkeeper knows?
bool IsKnownNativeProperty(std::string_view name);

}  // namespace pk::zfs
