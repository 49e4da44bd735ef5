// migrate::ShadowTree: the state of one shadow migration, kept in the dataset
// itself so that it moves with the pool (BRIEF: the pool carries its own
// configuration).
//
// Layout inside the dataset (root = the dataset's own mount, reached only
// through a descriptor opened before the shadow layer was mounted over it):
//   .poolkeeper-shadow/meta.json     source URI, start time, concurrency, bandwidth limit
//   .poolkeeper-shadow/pending/KEY   a hard link to every file whose data is not copied yet
//   .poolkeeper-shadow/links/KEY     one name per multiply-linked source inode (hard links)
//   .poolkeeper-shadow/staging/      entries being created (renamed into place when complete)
//   .poolkeeper-shadow/copied.log    "KEY SIZE" per completed copy (never repeated)
//   .poolkeeper-shadow/failed.json   entries that failed, with error and retry count
//   .poolkeeper-shadow/estimate.json bytes and files of the source (from one walk)
// Files up to kInlineCopyMax bytes met by the background walk are created
// with their data at once (built in staging/ like any entry, so they never
// need a marker or a pending name); larger ones, and every file created by a
// client's lookup or listing, are placeholders copied later.
// Markers: xattr `trusted.pkshadow` on every entry not migrated yet:
//   "D\n<source-relative path>" on a directory not yet listed,
//   "F<key>\n<source-relative path>" on a file whose data is not copied yet.
// The path travels with the entry, so renames of unmigrated entries work.
// Only root can write trusted.* attributes (zfs-fuse -x keeps them; the
// kernel refuses them to everyone without CAP_SYS_ADMIN), so a tenant cannot
// forge a marker while the layer is down; a marker whose path is not
// strictly relative is refused (the entry is reported, nothing is read), and
// a file's key (the source identity: dev+inode for file://, fileid for
// nfs://) must still be the source object's before anything is copied.
// Migrations started with `user.pkshadow` markers (meta.json without
// "markers":"trusted") are refused at Open: such markers may be forged and
// cannot be told from real ones; cancel and start again.
//
// Hostile sources: names that cannot be a directory entry ("", ".", "..",
// '/' or NUL in them) are refused and reported, set-user/group-ID bits are
// dropped and device nodes not created unless the migration was started
// with preserve_special (each reported), POSIX ACLs are copied or the entry
// is refused, a file that changes during its copy is copied again (three
// tries per copy, then reported and retried at the next pass), and a source
// entry that vanished is reported and given up so that it does not block
// completion. Reported entries that will not be retried are `final`.
//
// Crash safety: every entry is built complete in staging/ and renamed into
// place, so a directory re-populated after a crash only creates the names
// still missing; a file's marker goes after its data is written, and ZFS
// commits operations in transaction-group order, so a marker is never gone
// on disk while the data written before it is not. A copy interrupted half
// way is redone from the start; a completed one (marker gone) never is.
//
// Thread-safety: all public methods may be called concurrently (FUSE worker
// threads and the background migrator). Populations of one directory are
// serialised per directory inode; each entry's creation (by a population or a
// lookup, EnsureEntry) is serialised per directory inode too, but only for
// that entry, so a lookup waits for one entry, not for the directory. File
// copies are serialised per source key, so concurrent opens of one file wait
// for one copy.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/error.h"
#include "base/unique_fd.h"
#include "migrate/bandwidth.h"
#include "migrate/source.h"

namespace pk::migrate {

inline constexpr const char* kShadowProperty = "org.poolkeeper:shadow";
inline constexpr const char* kStateDirName = ".poolkeeper-shadow";
inline constexpr const char* kMarkerXattr = "trusted.pkshadow";
// The marker of migrations started before issue 17 (any file owner could write it).
inline constexpr const char* kLegacyMarkerXattr = "user.pkshadow";
// Files up to this size are copied while the background walk creates them.
inline constexpr uint64_t kInlineCopyMax = 1 << 20;

struct Marker {
  enum class Kind { kDir, kFile };
  Kind kind = Kind::kDir;
  std::string key;  // files only
  std::string rel;  // path relative to the source root

  // nullopt for anything but a well-formed marker whose path is strictly
  // relative (CheckRel) and whose key is made of [A-Za-z0-9-].
  static std::optional<Marker> Decode(std::string_view text);
  std::string Encode() const;
};

// meta.json: written once by Init().
struct Meta {
  std::string source;
  int64_t started_at = 0;  // unix seconds
  int concurrency = 4;
  uint64_t bwlimit = 0;  // bytes per second, 0 = unlimited
  bool preserve_special = false;  // keep set-ID bits and create device nodes
  std::string markers = "trusted";  // marker xattr namespace; absent (older helpers): "user"

  static Result<Meta> FromJson(std::string_view text);
  std::string ToJson() const;
};

struct FailedEntry {
  std::string path;  // source-relative
  std::string error;
  int retries = 0;
  std::string key;   // files: the pending key; directories: empty
  bool final = false;  // reported only: not retried, does not block completion
  bool vanished = false;  // the source said NotFound: given up at the end of a pass
};

struct TreeCounters {
  uint64_t files_done = 0;   // copies completed (all runs, from copied.log)
  uint64_t bytes_done = 0;
  uint64_t dirs_populated = 0;  // this run
  uint64_t copies_this_run = 0;
  uint64_t bytes_this_run = 0;
};

class ShadowTree {
 public:
  // Prepares the empty dataset root `root_fd` for migration from `source`:
  // checks it is empty, copies the source root's owner, mode and xattrs, and
  // writes the state directory and the root's marker. FailedPrecondition
  // when not empty or already prepared.
  static Status Init(int root_fd, Source& source, const Meta& meta);

  // Whether the state directory exists (false: migration finalized or never started).
  static Result<bool> HasState(int root_fd);

  // The migration's meta.json in the tree at `root_fd`; FailedPrecondition
  // for a migration whose markers are `user.*` (forgeable: never resumed).
  static Result<Meta> ReadMeta(int root_fd);

  // Opens an initialised tree (its meta as ReadMeta). Clears staging/.
  static Result<std::unique_ptr<ShadowTree>> Open(UniqueFd root, std::unique_ptr<Source> source);

  // Cancel: removes every marker and the state directory (the data copied so
  // far stays; unmigrated files stay empty placeholders).
  static Status Abandon(int root_fd);

  ~ShadowTree();

  int root_fd() const { return root_fd_.get(); }
  const Meta& meta() const { return meta_; }
  Source& source() { return *source_; }

  // Makes sure the directory at `local_rel` ("" = root) has all its entries.
  // Returns true when this call populated it. With Fill::kWithData small
  // files are created with their data (the background walk; `limiter` may be
  // null); with Fill::kPlaceholders every file is a placeholder (clients).
  enum class Fill { kPlaceholders, kWithData };
  Result<bool> EnsureDir(const std::string& local_rel, Fill fill = Fill::kPlaceholders,
                         BandwidthLimiter* limiter = nullptr);
  // Makes sure the entry `local_rel` exists locally when it exists in the
  // source, creating only that entry when its directory was never listed (a
  // lookup). Entries are only ever created here: names a client removed from
  // a directory were removed after the directory was populated (mutations
  // populate first), so they cannot come back.
  Status EnsureEntry(const std::string& local_rel);
  // How many of the names of the local inode `st` are the tree's own private
  // names (pending/KEY, links/KEY), which stat through the layer must not
  // count. `fd` is the entry open (any mode), or -1 with `path` reaching it.
  nlink_t PrivateLinks(const struct stat& st, int fd, const char* path);
  // Makes sure the file at `local_rel` has its data (no-op for other types).
  Status EnsureFile(const std::string& local_rel);
  // Copies the pending file `key` (background migrator). `limiter` may be null.
  Status CopyPending(const std::string& key, BandwidthLimiter* limiter);
  // The keys in pending/.
  Result<std::vector<std::string>> ListPending();
  // Gives up the pending files among `keys` whose source vanished (their
  // last copy failed with NotFound): marker and pending name go, the
  // placeholder stays, the entry stays reported (final). Returns how many of
  // `keys` are still pending.
  size_t GiveUpVanished(const std::vector<std::string>& keys);

  // Called for every key added to pending/ (so the migrator can queue it).
  void SetPendingListener(std::function<void(const std::string&)> fn);
  // The FUSE layer reports renames and removals of directories: a walk that
  // saw a rename cannot prove completion, and a removed inode number can be
  // reused by a new unpopulated directory.
  void NoteDirRenamed() { dir_renames_.fetch_add(1); }
  uint64_t dir_renames() const { return dir_renames_.load(); }
  void ForgetDir(ino_t ino);

  // Makes directory population give up (Cancelled, marker kept) so that a
  // stopping helper does not finish a 10,000-entry directory first.
  void RequestStop() { stopping_ = true; }

  TreeCounters counters() const;
  std::vector<FailedEntry> failed() const;
  size_t failed_dirs() const;
  // Called after a successful retry or when the entry went away.
  void ClearFailure(const std::string& path);

  // Small files of the state directory (estimate.json).
  Result<std::string> ReadStateFile(const char* name);
  Status WriteStateFile(const char* name, std::string_view data);

  // Finalize: removes the state directory (every marker must be gone).
  Status RemoveState();

  // Whether `text` (a name at the dataset root) is the hidden state directory.
  static bool IsStateName(std::string_view name) { return name == kStateDirName; }

 private:
  ShadowTree(UniqueFd root_fd, std::unique_ptr<Source> source, Meta meta);
  Status Load();
  struct OpenDir {
    UniqueFd fd;
    ino_t ino;
  };
  // Opens the directory `local_rel`; nullopt when it is known to be populated.
  Result<std::optional<OpenDir>> OpenUnpopulated(const std::string& local_rel);
  Status CreateEntry(int dirfd, const SourceEntry& e, const std::string& src_rel, Fill fill,
                     BandwidthLimiter* limiter);
  // Writes the data of source file `rel` (`size` bytes) into `fd`, sparse;
  // returns the end of the last data written (0: all holes).
  Result<uint64_t> CopyData(int fd, const std::string& rel, const std::string& key, uint64_t size, BandwidthLimiter* limiter);
  Status CopyInto(int fd, const Marker& m, BandwidthLimiter* limiter);
  Status CopyOnce(int fd, const Marker& m, const SourceStat& sst, BandwidthLimiter* limiter);
  void LogCopied(const std::string& key, uint64_t size);
  void RecordFailure(const std::string& path, const std::string& key, const Error& e);
  // Reports `path` as not migrated (or migrated with a change) for good.
  void RecordFinal(const std::string& path, const std::string& key, const std::string& why);
  // A marker that fails Decode at the open entry `fd` (`where`: its local
  // path): reported, removed, nothing read from the source.
  void RefuseMarker(int fd, const std::string& where, const Error& e);
  void SaveFailures();
  std::string StagingName();

  UniqueFd root_fd_;
  ino_t root_ino_ = 0;
  mode_t umask_ = 022;   // this process's, read at Open
  uid_t euid_ = 0;       // owner of the entries this process creates
  gid_t egid_ = 0;
  UniqueFd state_fd_, pending_fd_, links_fd_, staging_fd_, log_fd_;
  std::unique_ptr<Source> source_;
  Meta meta_;

  std::array<std::mutex, 256> dir_locks_;    // a directory's population
  std::array<std::mutex, 256> entry_locks_;  // one entry's creation in a directory
  std::array<std::mutex, 1024> file_locks_;

  mutable std::mutex mu_;
  std::unordered_set<ino_t> populated_;            // guarded by mu_
  std::unordered_set<ino_t> link_inodes_;          // inodes named in links/; guarded by mu_
  // Names EnsureEntry created in directories not populated yet; guarded by mu_.
  std::unordered_map<ino_t, std::unordered_set<std::string>> looked_up_;
  std::map<std::string, int> urgent_;              // keys a client waits for; guarded by mu_
  std::map<std::string, FailedEntry> failed_;      // by source path; guarded by mu_
  TreeCounters counters_;                          // guarded by mu_
  std::function<void(const std::string&)> on_pending_;  // set before use
  std::atomic<uint64_t> dir_renames_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> staging_seq_{0};
};

}  // namespace pk::migrate
