// The kernel NFS backend: the Linux NFS server (nfsd, with nfs-utils'
// rpc.mountd) serving every NFS share as a line of one exports file that
// Poolkeeper owns (conventionally /etc/exports.d/poolkeeper.exports), applied
// with `exportfs -ra`.
//
// Reconcile() renders the file from the desired shares (one line per share, a
// comment naming the share above it, every client spec spelled out plus
// `no_subtree_check`), writes it atomically, runs `exportfs -ra`, and then
// reads what the kernel really exports (`exportfs -v`): a desired share whose
// path is not exported gets an error carrying exportfs's own words about that
// path; the others are served. When a path it exported before is withdrawn,
// `exportfs -f` flushes the kernel's export cache, which otherwise keeps that
// filesystem busy (no unmount, no pool export) until the entry expires, and
// the path is written to nfsd's unlock_filesystem, which releases the state
// nfsd still holds on that filesystem (NLM locks, and on kernels that have
// it, NFSv4 state), so that a pool export right after unserving succeeds.
// exportfs re-reads /etc/exports and every file
// of /etc/exports.d, so exports Poolkeeper did not write are left as they are.
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

#include <memory>
#include <string>
#include <vector>

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
};

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
