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

#include "base/json.h"
#include "base/unique_fd.h"
#include "migrate/internal/errno.h"
#include "migrate/internal/nfs_source.h"

namespace pk::migrate {

Result<SourceUri> SourceUri::Parse(std::string_view uri) {
  auto bad = [&](std::string_view why) {
    return InvalidArgument(fmt::format("source '{}': {}", uri, why));
  };
  // The URI is kept in a pool property and shown through the JSON API.
  PK_TRY(CheckUtf8("source", uri));
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
  LocalFile(UniqueFd fd, std::string what) : fd_(std::move(fd)), what_(std::move(what)) {}

  Result<size_t> Read(uint64_t offset, char* buf, size_t len) override {
    ssize_t n;
    do {
      n = ::pread(fd_.get(), buf, len, static_cast<off_t>(offset));
    } while (n < 0 && errno == EINTR);
    if (n < 0) return internal::ErrnoError(errno, "read source file '" + what_ + "'");
    return static_cast<size_t>(n);
  }

  Result<std::optional<std::pair<uint64_t, uint64_t>>> NextData(uint64_t offset, uint64_t size) override {
    if (offset >= size) return std::nullopt;
    off_t data = ::lseek(fd_.get(), static_cast<off_t>(offset), SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) return std::nullopt;  // only a hole remains
      if (errno == EINVAL || errno == EOPNOTSUPP) return std::make_pair(offset, size);
      return internal::ErrnoError(errno, "seek source file '" + what_ + "'");
    }
    off_t hole = ::lseek(fd_.get(), data, SEEK_HOLE);
    if (hole < 0) hole = static_cast<off_t>(size);
    return std::make_pair(static_cast<uint64_t>(data), std::min<uint64_t>(static_cast<uint64_t>(hole), size));
  }

 private:
  UniqueFd fd_;
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
  LocalSource(SourceUri uri, UniqueFd root) : uri_(std::move(uri)), root_(std::move(root)) {}

  const SourceUri& uri() const override { return uri_; }

  Result<SourceStat> Stat(const std::string& rel) override {
    PK_TRY(CheckRel(rel));
    struct stat st;
    if (rel.empty()) {
      if (::fstat(root_.get(), &st) != 0) return internal::ErrnoError(errno, "stat source '" + Show(rel) + "'");
      return FromStat(st);
    }
    PK_ASSIGN_OR_RETURN(auto parent, OpenParent(rel));
    if (::fstatat(parent.fd.get(), parent.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return internal::ErrnoError(errno, "stat source '" + Show(rel) + "'");
    }
    return FromStat(st);
  }

  Result<std::vector<SourceEntry>> List(const std::string& rel) override {
    PK_ASSIGN_OR_RETURN(UniqueFd fd, OpenBeneath(rel, O_RDONLY | O_DIRECTORY));
    DIR* dir = ::fdopendir(fd.get());
    if (!dir) return internal::ErrnoError(errno, "open source directory '" + Show(rel) + "'");
    fd.release();  // closedir closes it
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
    ssize_t n = ::readlinkat(parent.fd.get(), parent.name.c_str(), buf.data(), buf.size());
    if (n < 0) return internal::ErrnoError(errno, "read source symlink '" + Show(rel) + "'");
    buf.resize(static_cast<size_t>(n));
    return buf;
  }

  Result<Xattrs> ListXattrs(const std::string& rel) override {
    // Only regular files and directories carry user.* attributes on Linux;
    // an O_PATH descriptor cannot read them, so open for reading.
    auto fd = OpenRegularOrDir(rel);
    if (!fd) return std::unexpected(fd.error().WithContext("attributes"));
    if (!fd->valid()) return Xattrs{};  // symlinks, devices, FIFOs, sockets carry none here
    auto r = internal::ReadUserXattrs(fd->get());
    auto acls = r ? ReadAcls(fd->get()) : Result<Xattrs>(Xattrs{});
    if (!r) return std::unexpected(r.error().WithContext("source '" + Show(rel) + "'"));
    if (!acls) return std::unexpected(acls.error().WithContext("source '" + Show(rel) + "'"));
    r->insert(r->end(), acls->begin(), acls->end());
    return r;
  }

  Result<std::unique_ptr<SourceFile>> Open(const std::string& rel) override {
    PK_ASSIGN_OR_RETURN(UniqueFd fd, OpenRegularOrDir(rel));
    struct stat st;
    if (!fd.valid() || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
      return FailedPrecondition("source '" + Show(rel) + "' is no longer a regular file");
    }
    return std::make_unique<LocalFile>(std::move(fd), Show(rel));
  }

 private:
  struct Parent {
    UniqueFd fd;
    std::string name;
  };

  // `rel` open for reading when it is a regular file or a directory, none
  // when it is something else. The type is checked on an O_PATH descriptor
  // first: opening a device node (swapped in by the source) can act on it.
  Result<UniqueFd> OpenRegularOrDir(const std::string& rel) {
    PK_ASSIGN_OR_RETURN(UniqueFd path_fd, OpenBeneath(rel, O_PATH));
    struct stat st;
    if (::fstat(path_fd.get(), &st) != 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) return UniqueFd();
    UniqueFd fd(::open(fmt::format("/proc/self/fd/{}", path_fd.get()).c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return internal::ErrnoError(errno, "open source '" + Show(rel) + "'");
    return fd;
  }

  // Opens `rel` beneath the root with `flags` (never following a symlink).
  Result<UniqueFd> OpenBeneath(const std::string& rel, int flags) {
    PK_TRY(CheckRel(rel));
    flags |= O_NOFOLLOW | O_CLOEXEC;
    if (!g_no_openat2.load()) {
      open_how how{};
      how.flags = static_cast<uint64_t>(flags);
      how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
      long fd = ::syscall(SYS_openat2, root_.get(), rel.empty() ? "." : rel.c_str(), &how, sizeof how);
      if (fd >= 0) return UniqueFd(static_cast<int>(fd));
      if (errno != ENOSYS) return internal::ErrnoError(errno, "open source '" + Show(rel) + "'");
      g_no_openat2 = true;
    }
    // No openat2 (old kernel): each directory on the path with O_NOFOLLOW.
    const size_t slash = rel.rfind('/');
    UniqueFd parent;
    if (slash == std::string::npos) {
      parent.Reset(::dup(root_.get()));
    } else {
      PK_ASSIGN_OR_RETURN(parent, WalkDir(rel.substr(0, slash)));
    }
    UniqueFd fd(::openat(parent.get(), rel.empty() ? "." : rel.c_str() + (slash == std::string::npos ? 0 : slash + 1),
                         flags));
    if (!fd.valid()) return internal::ErrnoError(errno, "open source '" + Show(rel) + "'");
    return fd;
  }

  // The directory `dir` (non-empty, checked), one O_NOFOLLOW component at a time.
  Result<UniqueFd> WalkDir(const std::string& dir) {
    UniqueFd fd(::dup(root_.get()));
    for (size_t start = 0; start <= dir.size();) {
      size_t end = std::min(dir.find('/', start), dir.size());
      UniqueFd next(::openat(fd.get(), dir.substr(start, end - start).c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!next.valid()) return internal::ErrnoError(errno, "open source directory '" + Show(dir.substr(0, end)) + "'");
      fd = std::move(next);
      start = end + 1;
    }
    return fd;
  }

  // The directory holding the last component of non-empty `rel`.
  Result<Parent> OpenParent(const std::string& rel) {
    const size_t slash = rel.rfind('/');
    if (slash == std::string::npos) return Parent{UniqueFd(::dup(root_.get())), rel};
    PK_ASSIGN_OR_RETURN(UniqueFd fd, OpenBeneath(rel.substr(0, slash), O_PATH | O_DIRECTORY));
    return Parent{std::move(fd), rel.substr(slash + 1)};
  }

  std::string Show(const std::string& rel) const { return uri_.path + (rel.empty() ? "" : "/" + rel); }

  SourceUri uri_;
  UniqueFd root_;
};

}  // namespace

void UseOpenat2ForTesting(bool use) { g_no_openat2 = !use; }

Result<std::unique_ptr<Source>> OpenSource(const SourceUri& uri, int connections) {
  if (uri.scheme == SourceScheme::kNfs) return internal::OpenNfsSource(uri, connections);
  UniqueFd fd(::open(uri.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return internal::ErrnoError(errno, fmt::format("source '{}'", uri.text));
  auto src = std::make_unique<LocalSource>(uri, std::move(fd));
  PK_TRY(src->List(""));  // readable?
  return std::unique_ptr<Source>(std::move(src));
}

}  // namespace pk::migrate
