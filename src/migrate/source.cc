#include "migrate/source.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

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

// file://: every path is opened relative to the root directory's descriptor,
// never following a symlink out of the tree.
class LocalSource : public Source {
 public:
  LocalSource(SourceUri uri, int root) : uri_(std::move(uri)), root_(root) {}
  ~LocalSource() override { ::close(root_); }

  const SourceUri& uri() const override { return uri_; }

  Result<SourceStat> Stat(const std::string& rel) override {
    struct stat st;
    if (::fstatat(root_, Path(rel), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return internal::ErrnoError(errno, "stat source '" + Show(rel) + "'");
    }
    return FromStat(st);
  }

  Result<std::vector<SourceEntry>> List(const std::string& rel) override {
    int fd = ::openat(root_, Path(rel), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return internal::ErrnoError(errno, "open source directory '" + Show(rel) + "'");
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
    std::string buf(4096, '\0');
    ssize_t n = ::readlinkat(root_, Path(rel), buf.data(), buf.size());
    if (n < 0) return internal::ErrnoError(errno, "read source symlink '" + Show(rel) + "'");
    buf.resize(static_cast<size_t>(n));
    return buf;
  }

  Result<Xattrs> ListXattrs(const std::string& rel) override {
    Xattrs out;
    // Only regular files and directories carry user.* attributes on Linux;
    // an O_PATH descriptor cannot read them, so open for reading.
    int fd = ::openat(root_, Path(rel), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ELOOP || errno == ENXIO) return out;  // symlink, socket
      return internal::ErrnoError(errno, "open source '" + Show(rel) + "' for its attributes");
    }
    auto r = internal::ReadUserXattrs(fd);
    ::close(fd);
    if (!r) return std::unexpected(r.error().WithContext("source '" + Show(rel) + "'"));
    return r;
  }

  Result<std::unique_ptr<SourceFile>> Open(const std::string& rel) override {
    int fd = ::openat(root_, Path(rel), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return internal::ErrnoError(errno, "open source file '" + Show(rel) + "'");
    return std::make_unique<LocalFile>(fd, Show(rel));
  }

 private:
  static const char* Path(const std::string& rel) { return rel.empty() ? "." : rel.c_str(); }
  std::string Show(const std::string& rel) const { return uri_.path + (rel.empty() ? "" : "/" + rel); }

  SourceUri uri_;
  int root_;
};

}  // namespace

Result<std::unique_ptr<Source>> OpenSource(const SourceUri& uri, int connections) {
  if (uri.scheme == SourceScheme::kNfs) return internal::OpenNfsSource(uri, connections);
  int fd = ::open(uri.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return internal::ErrnoError(errno, fmt::format("source '{}'", uri.text));
  auto src = std::make_unique<LocalSource>(uri, fd);
  PK_TRY(src->List(""));  // readable?
  return std::unique_ptr<Source>(std::move(src));
}

}  // namespace pk::migrate
