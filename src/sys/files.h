// sys::FileSystem: the small set of file operations Poolkeeper needs, behind an
// interface (STYLE rule 5) so that modules can be tested with a fake.
//
// Paths are plain strings; errors name the path and the OS cause, e.g.
// "read '/etc/poolkeeper/x.conf': No such file or directory", with the code
// mapped from errno (ENOENT -> NotFound, EACCES/EPERM -> PermissionDenied,
// EEXIST -> AlreadyExists, ENOSPC/EDQUOT -> ResourceExhausted, else Internal).
//
// Thread-safety: the real implementation is stateless; calls may run
// concurrently (the usual filesystem races between callers still apply).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/error.h"

namespace pk::sys {

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // The whole contents of the file at `path`.
  virtual Result<std::string> ReadFile(const std::string& path) = 0;

  // Replaces `path` with `contents` so that readers and a crash see either the
  // old or the new file, never a mix: writes a temporary file in the same
  // directory, fsyncs it, renames it over `path` and fsyncs the directory.
  // The file gets exactly `mode` (e.g. 0644; the umask is not applied).
  virtual Status WriteFileAtomic(const std::string& path, std::string_view contents, mode_t mode) = 0;

  // Whether `path` exists (symlinks are followed; a dangling link is false).
  // An error only when that cannot be determined (e.g. permission denied).
  virtual Result<bool> Exists(const std::string& path) = 0;

  // Creates `path` and any missing parents with `mode` (before the umask, like
  // mkdir -p). Succeeds if `path` already is a directory.
  virtual Status MakeDirs(const std::string& path, mode_t mode) = 0;

  // Removes the file, symlink or empty directory at `path`; NotFound if absent.
  virtual Status Remove(const std::string& path) = 0;

  // Appends `data` to the existing file at `path` and fsyncs it before
  // returning, so the bytes survive a crash once this succeeds (O_APPEND: each
  // call's bytes land contiguously at the end of the file). NotFound if the
  // file is absent: create it first with WriteFileAtomic, which also makes its
  // directory entry durable. On failure a prefix of `data` may have been
  // written; callers that need whole records must repair (e.g. rewrite).
  virtual Status AppendDurably(const std::string& path, std::string_view data) = 0;

  // Creates a sparse regular file of `size` bytes (ftruncate) with `mode`,
  // durable once this returns (file and directory fsynced). AlreadyExists when
  // something is at `path`: an existing file is never resized or replaced.
  virtual Status CreateSparseFile(const std::string& path, uint64_t size, mode_t mode) = 0;

  // Size and kind of a disk: a block device (size from BLKGETSIZE64, rotation
  // from /sys/dev/block/MAJ:MIN/queue/rotational) or a regular file used as a
  // disk (size from stat; reported as not rotational). Anything else is
  // InvalidArgument naming the path.
  struct DeviceInfo {
    uint64_t size_bytes = 0;
    bool block_device = false;
    bool rotational = false;
  };
  virtual Result<DeviceInfo> StatDevice(const std::string& path) = 0;
};

// The implementation backed by the real filesystem (only daemon/ and cli/
// construct it; STYLE rule 5).
std::unique_ptr<FileSystem> MakeRealFileSystem();

}  // namespace pk::sys
