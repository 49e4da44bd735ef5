// The kernel NFS backend: the Linux NFS server (nfsd, with nfs-utils'
// rpc.mountd) serving every NFS share as a line of one exports file that
// Poolkeeper owns (conventionally /etc/exports.d/poolkeeper.exports), applied
// with `exportfs -ra`.
//
// Reconcile() renders the file from the desired shares (one line per share, a
// comment naming the share above it, every client spec spelled out plus
// `no_subtree_check` and an `fsid=` UUID derived from the dataset guid, so
// that file handles stay valid when the pool is imported on another head),
// writes it atomically, runs `exportfs -ra`, and then reads what the kernel
// really exports (`exportfs -v`): a desired share whose path is not exported
// gets an error carrying exportfs's own words about that path; the others are
// served.
//
// Releasing a withdrawn path. nfsd keeps a filesystem it exported busy (no
// unmount, so no pool export) through three kinds of references, and
// withdrawing the export drops none of them by itself (measured in the
// OpenZFS guest, kernel 6.1):
//   1. the export caches: every nfsd.export entry (client + path) and every
//      nfsd.fh entry naming a path (client + fsid -> path) holds that path,
//      whether valid, negative, or expired but not yet removed (listed behind
//      "# "). Entries are removed by a flush: writing to the cache's `flush`
//      file (what `exportfs -f` does for all four caches). The kernel
//      (net/sunrpc/cache.c, write_flush) sets the cache's flush time to the
//      current second, or, when a flush already happened in this second, to
//      one second later; entries older than the flush time are expired at
//      once, but the table is only swept when the flush time is not in the
//      future. So a second flush within one second (`exportfs -ra` flushes
//      too) marks the entries expired and leaves them in place, and every
//      further flush pushes the flush time, and the sweep, another second
//      ahead: flushing four times a second while "# " entries were listed kept
//      a withdrawn dataset busy for 100 s (seen in the guest; the periodic
//      cleaner runs every 30 s once the clock has caught up). The backend
//      therefore flushes nfsd.fh and nfsd.export itself, only when their
//      flush time (the `flush` file reads it back, in wall-clock seconds) is
//      behind the clock, i.e. at most once a second and only when it sweeps,
//      and again while an entry holding a withdrawn filesystem is listed
//      (requests of clients still mounted can re-create entries). A
//      withdrawn filesystem here is the dataset of a withdrawn path and every
//      other mount of its pool (the pool's root carries NFSv4 pseudo-root
//      entries), except what a still-served path needs. The nfsd.fh flush
//      also closes every file of the NFSv2/3 file cache that is not in use.
//      Flushes by others push the flush time ahead too (OpenZFS 2.1 runs
//      `exportfs -ra` at every mount and unmount: a suite of pool tests left
//      it ~20 s ahead), and until the clock passes it nothing can remove the
//      entries (only a sweep, an nfsd restart, or a lookup of the same key,
//      which puts a new entry holding the same path in place): when only the
//      caches still hold, the release waits for the clock up to
//      `cache_sweep_wait` beyond `release_timeout`;
//   2. NFSv4 state (opens, locks, delegations, layouts) of clients: a
//      "courteous" server (5.19+) keeps an expired client's state for as long
//      as no one conflicts with it, so a client that had a file open holds the
//      dataset indefinitely. Each client's states file
//      (/proc/fs/nfsd/clients/ID/states) names the superblock (major:minor,
//      hex) of every file it holds; only the clients holding state on a
//      withdrawn filesystem (its device from /proc/self/mountinfo) are
//      expired, by writing `expire` to their ctl file. NLM locks go through
//      unlock_filesystem, as before;
//   3. the NFSv2/3 file cache: files opened for v3 requests are closed by
//      nfsd's laundrette two passes (2 s apart) after their last use, or by
//      the nfsd.fh flush; the backend waits while /proc/fs/nfsd/filecache
//      counts open files, at most `filecache_settle`.
// All of this is bounded by `release_timeout`; what still holds the path then
// is logged (the pool export that follows fails "busy" with the reason).
// Nothing restarts nfsd: stopping its threads (`rpc.nfsd 0`) would release
// everything but drop every client's state on every export of the head.
//
// exportfs re-reads /etc/exports and every file of /etc/exports.d, so
// exports Poolkeeper did not write are left as they are.
//
// The server itself (nfsd threads, rpc.mountd, rpcbind) belongs to the
// host's init (nfs-server.service): Start() only checks that it runs
// (/proc/fs/nfsd/threads above 0) and Stop() withdraws Poolkeeper's exports
// (an empty file, `exportfs -ra`) without stopping it. NFSv4 clients see the
// real paths: the kernel builds its pseudo root from the exports, so a
// definition's `pseudo` path is not used by this backend.
//
// Thread-safety: as every Backend, calls are serialised by the ShareManager.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "share/backend.h"
#include "sys/configfs.h"
#include "sys/files.h"
#include "sys/process_runner.h"

namespace pk::share {

struct KernelNfsOptions {
  std::string exportfs_path = "/usr/sbin/exportfs";
  // The file Poolkeeper owns; exportfs reads every *.exports in its directory.
  std::string exports_file = "/etc/exports.d/poolkeeper.exports";
  // Where the running server tells its thread count (0 or missing: not running).
  std::string threads_file = "/proc/fs/nfsd/threads";
  // Where a withdrawn path is written to release nfsd's state on its
  // filesystem (skipped when the file is absent).
  std::string unlock_filesystem_file = "/proc/fs/nfsd/unlock_filesystem";
  // NFSv4 clients: ID/info, ID/states, ID/ctl (skipped when absent: no v4).
  std::string clients_dir = "/proc/fs/nfsd/clients";
  // The export caches' contents and flush files, nfsd's file cache
  // statistics, and the mount table that gives a withdrawn path's device and
  // its pool's other mounts (all skipped when absent).
  std::string export_cache_file = "/proc/net/rpc/nfsd.export/content";
  std::string export_flush_file = "/proc/net/rpc/nfsd.export/flush";
  std::string fh_cache_file = "/proc/net/rpc/nfsd.fh/content";
  std::string fh_flush_file = "/proc/net/rpc/nfsd.fh/flush";
  std::string filecache_file = "/proc/fs/nfsd/filecache";
  std::string mountinfo_file = "/proc/self/mountinfo";
  // Bound on releasing withdrawn paths, and on waiting for the v3 file cache
  // within it (two laundrette passes plus a margin); polled every `poll`.
  std::chrono::milliseconds release_timeout{10000};
  std::chrono::milliseconds filecache_settle{5000};
  // How much longer the release waits when only the export caches still
  // hold and their flush time is ahead of the clock: nothing but the clock
  // lets the kernel sweep them (see above; OpenZFS 2.1 runs `exportfs -ra`,
  // a flush, at every mount and unmount, and a burst of those put it ~20 s
  // ahead in the guest's suite).
  std::chrono::milliseconds cache_sweep_wait{30000};
  std::chrono::milliseconds poll{250};
  // How the backend waits between polls and reads the wall clock (compared
  // with the caches' flush times); tests pass a testing::FakeClock.
  Clock* clock = &RealClock();
};

// A mount's device as /proc/self/mountinfo gives it (decimal major:minor).
struct DeviceNumber {
  unsigned major = 0;
  unsigned minor = 0;
  bool operator==(const DeviceNumber&) const = default;
};

// The device of the filesystem mounted at `path` (the topmost mount there),
// nullopt when nothing is mounted exactly there.
std::optional<DeviceNumber> MountDeviceOf(std::string_view mountinfo, std::string_view path);

// Whether an nfsd client's states file lists state on a file of `dev`
// (`superblock: "MM:mm:INO"`, major and minor in hex).
bool StatesHoldDevice(std::string_view states, DeviceNumber dev);

// The paths the entries of an export cache hold, in the order listed (octal
// escapes decoded): nfsd.export's "PATH DOMAIN(FLAGS)" and nfsd.fh's
// "DOMAIN FSIDTYPE FSID [PATH]" lines, valid or behind "# " (expired, negative
// or pending entries hold their path as well); a negative nfsd.fh entry names
// none.
enum class ExportCacheKind { kExport, kFh };
std::vector<std::string> ExportCachePaths(std::string_view content, ExportCacheKind kind);

// The mount points of a pool's datasets in /proc/self/mountinfo (source
// `pool` or `pool/...`), octal escapes decoded.
std::vector<std::string> PoolMountPoints(std::string_view mountinfo, std::string_view pool);

// A cache's `flush` file: the flush time in wall-clock seconds (nullopt when
// malformed).
std::optional<int64_t> ParseFlushTime(std::string_view text);

// "total inodes" of /proc/fs/nfsd/filecache (nullopt when not found).
std::optional<long> FileCacheInodes(std::string_view stats);

// The exports(5) fsid of a dataset: a UUID carrying the guid, the same on
// every head that imports the pool.
std::string KernelNfsFsid(uint64_t guid);

// The exports file for `desired` (pure; exposed for tests). Paths are written
// with exports(5)'s octal escapes for blanks, tabs, newlines, '#' and '\'.
std::string RenderKernelExports(const std::vector<Share>& desired);

// Exported paths in `exportfs -v` output (escapes decoded). exportfs puts a
// long path on a line of its own and the client on the next.
std::vector<std::string> ParseExportfsPaths(std::string_view text);

// InvalidArgument when options are unusable (relative paths). `attributes`
// writes unlock_filesystem (a kernel attribute file, written in place).
Result<std::unique_ptr<Backend>> MakeKernelNfsBackend(KernelNfsOptions options, sys::ProcessRunner& runner,
                                                      sys::FileSystem& fs, sys::ConfigFs& attributes);

}  // namespace pk::share
