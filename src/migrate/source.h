// migrate::Source: the read-only tree a shadow migration pulls from.
//
// A source is named by a URI: `file:///abs/path` (a local directory) or
// `nfs://host/export` (NFSv3 through libnfs; no kernel mount). Paths given to
// a Source are relative to its root: "" is the root, "a/b" below it; names
// are passed through byte for byte (spaces, newlines, leading dashes).
// Every entry has an identity `key` that is stable for the source's lifetime
// ("f<dev>-<ino>" for file://, "n<fileid>" for nfs://): hard links share it.
//
// Thread-safety: every method may be called from several threads at once
// (the NFS source keeps a pool of connections; a SourceFile is used by one
// thread at a time).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/error.h"

namespace pk::migrate {

enum class SourceScheme { kFile, kNfs };

// A parsed source URI. `path` is the absolute directory (file://) or the
// export path (nfs://); `host` is empty for file://.
struct SourceUri {
  SourceScheme scheme = SourceScheme::kFile;
  std::string host;
  std::string path;
  std::string text;  // the URI as given

  // InvalidArgument naming the URI for anything but file:///abs or nfs://host/abs
  // (no "..", no empty host, no query or fragment).
  static Result<SourceUri> Parse(std::string_view uri);
};

struct SourceStat {
  mode_t mode = 0;  // type and permission bits
  uid_t uid = 0;
  gid_t gid = 0;
  uint64_t size = 0;
  uint64_t nlink = 1;
  dev_t rdev = 0;
  timespec atime{};
  timespec mtime{};
  std::string key;  // identity shared by hard links
};

struct SourceEntry {
  std::string name;
  SourceStat st;
};

using Xattrs = std::vector<std::pair<std::string, std::string>>;

class SourceFile {
 public:
  virtual ~SourceFile() = default;
  // Reads up to `len` bytes at `offset`; 0 at end of file.
  virtual Result<size_t> Read(uint64_t offset, char* buf, size_t len) = 0;
  // The next byte range holding data at or after `offset` as [begin, end),
  // or nullopt when only a hole remains. Sources that cannot tell holes
  // answer [offset, size).
  virtual Result<std::optional<std::pair<uint64_t, uint64_t>>> NextData(uint64_t offset, uint64_t size) = 0;
};

class Source {
 public:
  virtual ~Source() = default;
  virtual const SourceUri& uri() const = 0;
  // lstat of `rel`.
  virtual Result<SourceStat> Stat(const std::string& rel) = 0;
  // The entries of directory `rel` (without "." and ".."), each lstat'ed.
  virtual Result<std::vector<SourceEntry>> List(const std::string& rel) = 0;
  virtual Result<std::string> ReadLink(const std::string& rel) = 0;
  // The user.* extended attributes of `rel` (none for NFSv3, symlinks,
  // devices), and its POSIX ACLs as system.posix_acl_access/default.
  virtual Result<Xattrs> ListXattrs(const std::string& rel) = 0;
  virtual Result<std::unique_ptr<SourceFile>> Open(const std::string& rel) = 0;
};

// Opens (and checks: the root must be a readable directory) the source of `uri`.
// `connections` bounds the NFS connection pool.
Result<std::unique_ptr<Source>> OpenSource(const SourceUri& uri, int connections = 4);

// Tests: false makes file:// sources use the O_NOFOLLOW walk kernels without
// openat2 get (process-wide); true goes back to openat2.
void UseOpenat2ForTesting(bool use);

// Whether `rel` is a path a Source accepts (see above); InvalidArgument naming it if not.
Status CheckRel(std::string_view rel);
// Whether `name` can be one entry of a directory: not empty, ".", ".." and
// without '/' or NUL (a hostile NFS server's READDIR can send such names).
bool IsEntryName(std::string_view name);

// "a/b" + "c" -> "a/b/c"; "" + "c" -> "c".
std::string JoinRel(const std::string& dir, const std::string& name);

}  // namespace pk::migrate
