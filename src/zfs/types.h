// Typed results and options of the ZFS adapter: pools with their vdev tree,
// datasets with every property and its source, and the option enums that
// replace boolean flags at call sites (STYLE rule 9).
// Thread-safety: plain value types.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "zfs/names.h"

namespace pk::zfs {

// Which zpool/zfs command-line dialect is installed.
enum class Dialect {
  kOpenZfs2,  // OpenZFS 2.x: -p everywhere, import -N, zvols, (-j from 2.3)
  kZfsFuse,   // zfs-fuse 0.7 (pool version 23): no list -p, no import -N, no zvols
};
std::string_view DialectName(Dialect dialect);

// One node of a pool's vdev tree as `zpool status` shows it.
struct Vdev {
  std::string name;   // as printed: "mirror-0", "/var/tmp/d0.img", "spares"
  std::string type;   // root, mirror, raidz1, raidz2, raidz3, disk, file, spares, logs, cache, replacing, spare
  std::string path;   // device or file path for leaves, else empty
  std::string state;  // ONLINE, DEGRADED, FAULTED, OFFLINE, UNAVAIL, REMOVED, AVAIL, INUSE
  uint64_t read_errors = 0;
  uint64_t write_errors = 0;
  uint64_t checksum_errors = 0;
  std::string note;   // trailing text such as "was /dev/sdb" or "too many errors"
  std::vector<Vdev> children;
};

// Scrub or resilver progress, parsed from `zpool status`' "scan:" line
// (OpenZFS) or "scrub:" line (zfs-fuse). What a dialect does not print stays
// nullopt: zfs-fuse (pool v23) prints no bytes, rate or start time, only the
// percentage, the elapsed and remaining time and the end time.
struct ScanProgress {
  enum class Kind { kNone, kScrub, kResilver };
  enum class State { kNone, kScanning, kFinished, kCanceled, kPaused };
  Kind kind = Kind::kNone;      // kNone: "none requested"
  State state = State::kNone;
  std::optional<uint64_t> done_bytes;    // issued so far (OpenZFS), while scanning
  std::optional<uint64_t> total_bytes;   // to scan (OpenZFS), while scanning
  std::optional<uint64_t> processed_bytes;  // repaired (scrub) or resilvered bytes
  std::optional<double> percent_done;    // while scanning or paused
  std::optional<uint64_t> rate_bytes_per_second;  // issue rate (OpenZFS), while scanning
  std::optional<uint64_t> eta_seconds;   // while scanning, when zpool estimates it
  std::optional<uint64_t> elapsed_seconds;  // "in 00:00:03" / "after 0h1m" / "for 0h1m"
  std::optional<uint64_t> errors;        // when finished
  std::string start_time;  // as zpool prints it ("Sun Nov 22 05:39:42 2026"), when shown
  std::string end_time;    // when finished, canceled or paused
};
std::string_view ScanKindName(ScanProgress::Kind kind);    // "none", "scrub", "resilver"
std::string_view ScanStateName(ScanProgress::State state);  // "none", "scanning", "finished", "canceled", "paused"

// `zpool status POOL`, parsed.
struct PoolStatus {
  std::string name;
  std::string state;    // ONLINE, DEGRADED, FAULTED, SUSPENDED, UNAVAIL
  std::string status;   // the "status:" paragraph, empty when healthy
  std::string action;
  std::string scan;
  ScanProgress scan_progress;  // `scan` parsed
  std::string errors;   // "No known data errors" or a description
  Vdev root;            // data vdevs under the pool's root
  std::vector<Vdev> logs;
  std::vector<Vdev> caches;
  std::vector<Vdev> spares;
};

// One row of `zpool list`, with sizes in bytes.
struct PoolSummary {
  std::string name;
  uint64_t guid = 0;
  std::string health;
  uint64_t size = 0;
  uint64_t allocated = 0;
  uint64_t free = 0;
  std::string altroot;  // empty when none
};

// A pool that `zpool import -d DIR` can see.
struct ImportablePool {
  std::string name;
  uint64_t guid = 0;
  std::string state;
  std::string status;  // explanatory paragraph, may be empty
  Vdev root;           // the config as listed
};

enum class PropertySource { kLocal, kDefault, kInherited, kReceived, kTemporary, kNone };
std::string_view PropertySourceName(PropertySource source);  // "local", "inherited", ...

struct PropertyValue {
  std::string value;
  PropertySource source = PropertySource::kNone;
  std::string inherited_from;  // dataset name when source == kInherited
};

enum class DatasetType { kFilesystem, kVolume, kSnapshot };
std::string_view DatasetTypeName(DatasetType type);
Result<DatasetType> ParseDatasetType(std::string_view text);

struct Dataset {
  std::string name;  // "pool/fs" or "pool/fs@snap"
  DatasetType type = DatasetType::kFilesystem;
  std::map<std::string, PropertyValue> properties;  // by property name

  // Value of `property`, or "" when absent.
  std::string Get(const std::string& property) const;
};

// Ordered "name=value" pairs for create -o / set; values are validated.
struct PropertyAssignment {
  PropertyName name;
  std::string value;
  static Result<PropertyAssignment> Parse(std::string_view name_equals_value);
};
using PropertyList = std::vector<PropertyAssignment>;

// A pool layout for `zpool create`: data vdev groups, spares, logs, cache.
struct VdevGroup {
  enum class Kind { kSingle, kMirror, kRaidz1, kRaidz2, kRaidz3 };
  Kind kind = Kind::kSingle;
  std::vector<std::string> devices;
};
struct VdevSpec {
  std::vector<VdevGroup> data;
  std::vector<VdevGroup> logs;
  std::vector<std::string> cache;
  std::vector<std::string> spares;

  // Parses zpool's own vdev grammar: "mirror a b raidz2 c d e f spare g log h cache i".
  // Devices are absolute paths or /dev names; nothing starting with '-'.
  static Result<VdevSpec> Parse(const std::vector<std::string>& words);
  // The same grammar for `zpool add`: data devices are optional ("spare g",
  // "cache i" alone), but something must be added.
  static Result<VdevSpec> ParseAddition(const std::vector<std::string>& words);
  // Arguments for `zpool create POOL <args>`.
  std::vector<std::string> ToArgs() const;
};

enum class Force { kNo, kYes };
enum class Recursive { kNo, kYes, kWithDependents };  // -r, -R
enum class ReadOnly { kNo, kYes };
enum class Mount { kYes, kNo };                     // kNo = import -N (OpenZFS only)
enum class CreateParents { kNo, kYes };            // zfs create -p
enum class RollbackMode { kLatestOnly, kDestroyNewer };  // -r

// ---- Disk lifecycle (issue 20 item 1) ----

// A device handed to zpool as a new member (replace, attach, add): an
// absolute path ("/dev/sdb", "/dev/disk/by-id/...", a file vdev), no control
// characters, no "..". Never starts with '-', so it cannot become an option.
class DevicePath {
 public:
  static Result<DevicePath> Parse(std::string_view text);
  const std::string& str() const { return path_; }

 private:
  explicit DevicePath(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// An existing member of a pool as zpool accepts it: a device path (as
// DevicePath), a vdev GUID in decimal (a disk that is gone: `zpool replace
// POOL GUID NEW`), or a top-level vdev name ("mirror-1", "raidz2-0") for
// `zpool remove`.
class VdevRef {
 public:
  enum class Kind { kPath, kGuid, kTopLevel };
  static Result<VdevRef> Parse(std::string_view text);
  const std::string& str() const { return text_; }
  Kind kind() const { return kind_; }

 private:
  VdevRef(std::string text, Kind kind) : text_(std::move(text)), kind_(kind) {}
  std::string text_;
  Kind kind_;
};

enum class Expand { kNo, kYes };       // zpool online -e (grow to the device's size)
enum class Temporary { kNo, kYes };    // zpool offline -t (offline until the next import)
enum class DryRun { kNo, kYes };       // zpool add -n (show the layout, change nothing)
enum class ScrubAction { kStart, kStop, kPause };
std::string_view ScrubActionName(ScrubAction action);  // "start", "stop", "pause"

struct CreatePoolOptions {
  std::map<std::string, std::string> pool_properties;  // -o (ashift, comment, ...)
  PropertyList root_properties;                        // -O for the root dataset
  std::optional<std::string> mountpoint;               // -m
  std::optional<std::string> altroot;                  // -R
  Force force = Force::kNo;                            // -f (devices in use, mismatched sizes)
};

// Which pool to import: by name or by GUID (optionally renamed).
struct ImportOptions {
  std::optional<PoolName> name;
  std::optional<uint64_t> guid;
  std::optional<PoolName> new_name;
  std::vector<std::string> search_dirs;  // -d, each an absolute path
  enum class Cachefile { kDefault, kNone, kPath } cachefile = Cachefile::kDefault;
  std::string cachefile_path;            // with kPath
  std::optional<std::string> altroot;    // -R
  ReadOnly read_only = ReadOnly::kNo;
  Force force = Force::kNo;
  Mount mount = Mount::kYes;
};

struct ListOptions {
  std::optional<std::string> root;        // a dataset name; all pools when empty
  Recursive recursive = Recursive::kYes;  // with root: its descendants too (kWithDependents: the same)
  std::vector<DatasetType> types = {DatasetType::kFilesystem, DatasetType::kVolume};
  std::vector<std::string> properties;    // empty: every property ("all")
};

// Quotas (issue 7): per-user and per-group space (and, on OpenZFS, object)
// accounting of one filesystem. Subjects are numeric ids here: names are
// resolved at the API edge, so nothing below depends on the host's passwd.
enum class QuotaKind { kUser, kGroup };
std::string_view QuotaKindName(QuotaKind kind);  // "user", "group"

struct QuotaSubject {
  QuotaKind kind = QuotaKind::kUser;
  uint32_t id = 0;
};

struct QuotaUsage {
  QuotaKind kind = QuotaKind::kUser;
  // The numeric id when ZFS gave one (OpenZFS `userspace -n`, `zfs get`);
  // zfs-fuse's built-in listing prints names it resolved itself, kept in `zfs_name`.
  std::optional<uint32_t> id;
  std::string zfs_name;             // the subject as ZFS printed it ("424201", "root")
  uint64_t used = 0;                // bytes charged
  uint64_t quota = 0;               // bytes; 0 = no quota
  std::optional<uint64_t> objused;  // objects (OpenZFS only)
  std::optional<uint64_t> objquota; // objects; 0 = none (OpenZFS only)
};

// A uid or gid written in decimal ("424242"): digits only, at most 2^32-1;
// nullopt for anything else (then it is a name).
std::optional<uint32_t> ParseNumericId(std::string_view text);

// A size as administrators write it: "1048576", "512K", "10M", "10G", "1T",
// "1P" (binary multiples, optional trailing "B" or "iB", case-insensitive) or a
// decimal fraction with one point ("1.5G"). Anything else (negative, empty,
// "1.5.G", "10X", overflow) is InvalidArgument naming the value.
Result<uint64_t> ParseSize(std::string_view text);

}  // namespace pk::zfs
