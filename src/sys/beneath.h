// sys::StatRegularBeneath: a file that a root process may open below a
// directory that others control (issue 17 item 4), checked without ever
// following a symbolic link.
//
// Thread-safety: a pure function of the filesystem.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/error.h"

namespace pk::sys {

struct RegularFile {
  uint64_t size_bytes = 0;
  uint64_t device = 0;  // st_dev
  uint64_t inode = 0;
};

// `dir`/`relative` as a regular file: `dir` is opened as given (root's own
// configuration, e.g. a dataset's mountpoint); every component of `relative`
// is then opened beneath it with O_PATH|O_NOFOLLOW (nothing is opened for
// I/O: no device side effects). FailedPrecondition naming the path when a
// component is a symbolic link, the file is not a regular file, or it lies on
// another device than `dir` (another filesystem mounted below, or a dataset
// of another tenant); NotFound when it is missing; InvalidArgument for an
// absolute `relative` or one with "..".
Result<RegularFile> StatRegularBeneath(const std::string& dir, const std::string& relative);

// The check as an injectable function (the real one above; fakes in tests).
using RegularFileCheck = std::function<Result<RegularFile>(const std::string& dir, const std::string& relative)>;

// One descriptor a process holds on a regular file or a block device.
struct OpenFile {
  int fd = -1;
  uint64_t device = 0;  // st_dev of the file the descriptor is open on
  uint64_t inode = 0;
  bool operator==(const OpenFile&) const = default;
};

// The regular files and block devices process `pid` holds open, from
// /proc/PID/fd (each entry stat()ed: the file the descriptor is open on,
// whatever its path is now). Sockets, pipes and the like are left out; a
// descriptor closed while it is read is skipped. Closes issue 17 item 4's
// window: a LUN file checked by StatRegularBeneath can still be swapped
// before the target server opens it by path, so the backend compares what
// the server holds with what was checked. NotFound when the process is gone.
Result<std::vector<OpenFile>> OpenFilesOf(pid_t pid);

// OpenFilesOf as an injectable function (tests: a fake).
using OpenFilesReader = std::function<Result<std::vector<OpenFile>>(pid_t pid)>;

}  // namespace pk::sys
