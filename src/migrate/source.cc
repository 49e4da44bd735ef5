#include "migrate/source.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "migrate/internal/errno.h"
#include "migrate/internal/nfs_source.h"

namespace pk::migrate {

Result<SourceUri> SourceUri::Parse(std::string_view uri) {
  auto bad = [&](std::string_view why) {
    return InvalidArgument(fmt::format("source '{}': {}", uri, why));
  };
  SourceUri u;
  u.text = std::string(uri);
  std::string_view rest;
  if (uri.starts_with("file://")) {
    u.scheme = SourceScheme::kFile;
    rest = uri.substr(7);
    if (!rest.starts_with("/")) return bad("file:// needs an absolute path (file:///dir)");
  } else if (uri.starts_with("nfs://")) {
    u.scheme = SourceScheme::kNfs;
    rest = uri.substr(6);
    size_t slash = rest.find('/');
    if (slash == 0 || slash == std::string_view::npos) return bad("nfs:// needs a host and an export path (nfs://host/export)");
    u.host = std::string(rest.substr(0, slash));
    rest = rest.substr(slash);
  } else {
    size_t colon = uri.find("://");
    return bad(colon == std::string_view::npos ? "not a URI (file:///dir or nfs://host/export)"
                                               : fmt::format("unsupported scheme '{}' (file or nfs)", uri.substr(0, colon)));
  }
  if (rest.find_first_of("?#") != std::string_view::npos) return bad("query and fragment are not supported");
  if (rest.find('\n') != std::string_view::npos || rest.find('\0') != std::string_view::npos) {
    return bad("control characters in the path");
  }
  // No "." or ".." components: the source root must be what it says.
  size_t start = 1;
  while (start <= rest.size()) {
    size_t end = rest.find('/', start);
    if (end == std::string_view::npos) end = rest.size();
    auto comp = rest.substr(start, end - start);
    if (comp == "." || comp == "..") return bad("'.' and '..' are not allowed in the path");
    start = end + 1;
  }
  std::string path(rest);
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  u.path = path;
  return u;
}

bool IsEntryName(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string_view::npos &&
         name.find('\0') == std::string_view::npos;
}

Status CheckRel(std::string_view rel) {
  if (rel.empty()) return OkStatus();
  for (size_t start = 0;;) {
    size_t end = rel.find('/', start);
    if (!IsEntryName(rel.substr(start, end == std::string_view::npos ? end : end - start))) {
      std::string shown(rel);
      for (auto& c : shown) c = c == '\0' ? '?' : c;
      return InvalidArgument(fmt::format("source path '{}' is not strictly relative to the source root "
                                         "(a leading '/', an empty, '.' or '..' component, or a NUL byte)",
                                         shown));
    }
    if (end == std::string_view::npos) return OkStatus();
    start = end + 1;
  }
}

std::string JoinRel(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

namespace {

timespec Ts(const struct timespec& t) { return t; }

SourceStat FromStat(const struct stat& st) {
  SourceStat s;
  s.mode = st.st_mode;
  s.uid = st.st_uid;
  s.gid = st.st_gid;
  s.size = static_cast<uint64_t>(st.st_size);
  s.nlink = st.st_nlink;
  s.rdev = st.st_rdev;
  s.atime = Ts(st.st_atim);
  s.mtime = Ts(st.st_mtim);
  s.key = fmt::format("f{}-{}", static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino));
  return s;
}

class LocalFile : public SourceFile {
 public:
  LocalFile(int fd, std::string what) : fd_(fd), what_(std::move(what)) {}
  ~LocalFile() override { ::close(fd_); }

  Result<size_t> Read(uint64_t offset, char* buf, size_t len) override {
    ssize_t n;
    do {
      n = ::pread(fd_, buf, len, static_cast<off_t>(offset));
    } while (n < 0 && errno == EINTR);
    if (n < 0) return internal::ErrnoError(errno, "read source file '" + what_ + "'");
    return static_cast<size_t>(n);
  }

  Result<std::optional<std::pair<uint64_t, uint64_t>>> NextData(uint64_t offset, uint64_t size) override {
    if (offset >= size) return std::nullopt;
    off_t data = ::lseek(fd_, static_cast<off_t>(offset), SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) return std::nullopt;  // only a hole remains
      if (errno == EINVAL || errno == EOPNOTSUPP) return std::make_pair(offset, size);
      return internal::ErrnoError(errno, "seek source file '" + what_ + "'");
    }
    off_t hole = ::lseek(fd_, data, SEEK_HOLE);
    if (hole < 0) hole = static_cast<off_t>(size);
    return std::make_pair(static_cast<uint64_t>(data), std::min<uint64_t>(static_cast<uint64_t>(hole), size));
  }

 private:
  int fd_;
  std::string what_;
};

// Set when the kernel has no openat2 (or a test wants the fallback walk).
std::atomic<bool> g_no_openat2{false};

// The POSIX ACLs of an open entry, as the xattrs that carry them.
Result<Xattrs> ReadAcls(int fd) {
  Xattrs out;
  for (const char* name : {"system.posix_acl_access", "system.posix_acl_default"}) {
    ssize_t n = ::fgetxattr(fd, name, nullptr, 0);
    if (n < 0) {
      if (errno == ENODATA || errno == ENOTSUP || errno == EOPNOTSUPP) continue;
      return internal::ErrnoError(errno, std::string("read ") + name);
    }
    std::string value(static_cast<size_t>(n), '\0');
    n = ::fgetxattr(fd, name, value.data(), value.size());
    if (n < 0) return internal::ErrnoError(errno, std::string("read ") + name);
    value.resize(static_cast<size_t>(n));
    out.emplace_back(name, std::move(value));
  }
  return out;
}

// file://: every path is resolved beneath the root directory's descriptor
// without following any symlink on it: openat2(RESOLVE_BENEATH |
// RESOLVE_NO_SYMLINKS), or where the kernel lacks openat2 a walk that opens
// each component with O_NOFOLLOW. A source that swaps a directory for a
// symlink (to "/" or anywhere) makes the call fail; nothing is read outside.
class LocalSource : public Source {
 public:
  LocalSource(SourceUri uri, int root) : uri_(std::move(uri)), root_(root) {}
  ~LocalSource() override { ::close(root_); }

  const SourceUri& uri() const override { return uri_; }

  Result<SourceStat> Stat(const std::string& rel) override {
    PK_TRY(CheckRel(rel));
    struct stat st;
    if (rel.empty()) {
      if (::fstat(root_, &st) != 0) return internal::ErrnoError(errno, "stat source '" + Show(rel) + "'");
      return FromStat(st);
    }
    PK_ASSIGN_OR_RETURN(auto parent, OpenParent(rel));
    int rc = ::fstatat(parent.fd, parent.name.c_str(), &st, AT_SYMLINK_NOFOLLOW);
    int e = errno;
    ::close(parent.fd);
    if (rc != 0) return internal::ErrnoError(e, "stat source '" + Show(rel) + "'");
    return FromStat(st);
  }

  Result<std::vector<SourceEntry>> List(const std::string& rel) override {
    PK_ASSIGN_OR_RETURN(int fd, OpenBeneath(rel, O_RDONLY | O_DIRECTORY));
    DIR* dir = ::fdopendir(fd);
    if (!dir) {
      int e = errno;
      ::close(fd);
      return internal::ErrnoError(e, "open source directory '" + Show(rel) + "'");
    }
    std::vector<SourceEntry> out;
    errno = 0;
    while (dirent* d = ::readdir(dir)) {
      if (std::strcmp(d->d_name, ".") == 0 || std::strcmp(d->d_name, "..") == 0) continue;
      struct stat st;
      if (::fstatat(::dirfd(dir), d->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) {  // removed since the listing: as if listed a moment later
          errno = 0;
          continue;
        }
        int e = errno;
        ::closedir(dir);
        return internal::ErrnoError(e, "stat source '" + Show(JoinRel(rel, d->d_name)) + "'");
      }
      out.push_back({d->d_name, FromStat(st)});
      errno = 0;
    }
    int e = errno;
    ::closedir(dir);
    if (e != 0) return internal::ErrnoError(e, "list source directory '" + Show(rel) + "'");
    return out;
  }

  Result<std::string> ReadLink(const std::string& rel) override {
    PK_TRY(CheckRel(rel));
    if (rel.empty()) return InvalidArgument("the source root is not a symlink");
    PK_ASSIGN_OR_RETURN(auto parent, OpenParent(rel));
    std::string buf(4096, '\0');
    ssize_t n = ::readlinkat(parent.fd, parent.name.c_str(), buf.data(), buf.size());
    int e = errno;
    ::close(parent.fd);
    if (n < 0) return internal::ErrnoError(e, "read source symlink '" + Show(rel) + "'");
    buf.resize(static_cast<size_t>(n));
    return buf;
  }

  Result<Xattrs> ListXattrs(const std::string& rel) override {
    // Only regular files and directories carry user.* attributes on Linux;
    // an O_PATH descriptor cannot read them, so open for reading.
    auto fd = OpenRegularOrDir(rel);
    if (!fd) return std::unexpected(fd.error().WithContext("attributes"));
    if (*fd < 0) return Xattrs{};  // symlinks, devices, FIFOs, sockets carry none here
    auto r = internal::ReadUserXattrs(*fd);
    auto acls = r ? ReadAcls(*fd) : Result<Xattrs>(Xattrs{});
    ::close(*fd);
    if (!r) return std::unexpected(r.error().WithContext("source '" + Show(rel) + "'"));
    if (!acls) return std::unexpected(acls.error().WithContext("source '" + Show(rel) + "'"));
    r->insert(r->end(), acls->begin(), acls->end());
    return r;
  }

  Result<std::unique_ptr<SourceFile>> Open(const std::string& rel) override {
    PK_ASSIGN_OR_RETURN(int fd, OpenRegularOrDir(rel));
    struct stat st;
    if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      if (fd >= 0) ::close(fd);
      return FailedPrecondition("source '" + Show(rel) + "' is no longer a regular file");
    }
    return std::make_unique<LocalFile>(fd, Show(rel));
  }

 private:
  struct Parent {
    int fd;  // the caller closes it
    std::string name;
  };

  // `rel` open for reading when it is a regular file or a directory, -1 when
  // it is something else. The type is checked on an O_PATH descriptor
  // first: opening a device node (swapped in by the source) can act on it.
  Result<int> OpenRegularOrDir(const std::string& rel) {
    PK_ASSIGN_OR_RETURN(int path_fd, OpenBeneath(rel, O_PATH));
    struct stat st;
    if (::fstat(path_fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) {
      ::close(path_fd);
      return -1;
    }
    int fd = ::open(fmt::format("/proc/self/fd/{}", path_fd).c_str(), O_RDONLY | O_CLOEXEC);
    int e = errno;
    ::close(path_fd);
    if (fd < 0) return internal::ErrnoError(e, "open source '" + Show(rel) + "'");
    return fd;
  }

  // Opens `rel` beneath the root with `flags` (never following a symlink).
  Result<int> OpenBeneath(const std::string& rel, int flags) {
    PK_TRY(CheckRel(rel));
    flags |= O_NOFOLLOW | O_CLOEXEC;
    if (!g_no_openat2.load()) {
      open_how how{};
      how.flags = static_cast<uint64_t>(flags);
      how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
      long fd = ::syscall(SYS_openat2, root_, rel.empty() ? "." : rel.c_str(), &how, sizeof how);
      if (fd >= 0) return static_cast<int>(fd);
      if (errno != ENOSYS) return internal::ErrnoError(errno, "open source '" + Show(rel) + "'");
      g_no_openat2 = true;
    }
    // No openat2 (old kernel): each directory on the path with O_NOFOLLOW.
    const size_t slash = rel.rfind('/');
    int parent = -1;
    if (slash == std::string::npos) {
      parent = ::dup(root_);
    } else {
      PK_ASSIGN_OR_RETURN(parent, WalkDir(rel.substr(0, slash)));
    }
    int fd = ::openat(parent, rel.empty() ? "." : rel.c_str() + (slash == std::string::npos ? 0 : slash + 1), flags);
    int e = errno;
    ::close(parent);
    if (fd < 0) return internal::ErrnoError(e, "open source '" + Show(rel) + "'");
    return fd;
  }

  // The directory `dir` (non-empty, checked), one O_NOFOLLOW component at a time.
  Result<int> WalkDir(const std::string& dir) {
    int fd = ::dup(root_);
    for (size_t start = 0; start <= dir.size();) {
      size_t end = std::min(dir.find('/', start), dir.size());
      int next = ::openat(fd, dir.substr(start, end - start).c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      int e = errno;
      ::close(fd);
      if (next < 0) return internal::ErrnoError(e, "open source directory '" + Show(dir.substr(0, end)) + "'");
      fd = next;
      start = end + 1;
    }
    return fd;
  }

  // The directory holding the last component of non-empty `rel`.
  Result<Parent> OpenParent(const std::string& rel) {
    const size_t slash = rel.rfind('/');
    if (slash == std::string::npos) return Parent{::dup(root_), rel};
    PK_ASSIGN_OR_RETURN(int fd, OpenBeneath(rel.substr(0, slash), O_PATH | O_DIRECTORY));
    return Parent{fd, rel.substr(slash + 1)};
  }

  std::string Show(const std::string& rel) const { return uri_.path + (rel.empty() ? "" : "/" + rel); }

  SourceUri uri_;
  int root_;
};

}  // namespace

void UseOpenat2ForTesting(bool use) { g_no_openat2 = !use; }

Result<std::unique_ptr<Source>> OpenSource(const SourceUri& uri, int connections) {
  if (uri.scheme == SourceScheme::kNfs) return internal::OpenNfsSource(uri, connections);
  int fd = ::open(uri.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return internal::ErrnoError(errno, fmt::format("source '{}'", uri.text));
  auto src = std::make_unique<LocalSource>(uri, fd);
  PK_TRY(src->List(""));  // readable?
  return std::unique_ptr<Source>(std::move(src));
}

}  // namespace pk::migrate
