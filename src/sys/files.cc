// The real sys::FileSystem and sys::ConfigFs (one place for errno mapping).
#include "sys/files.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "base/unique_fd.h"
#include "sys/beneath.h"
#include "sys/configfs.h"

namespace pk::sys {
namespace {

std::string ErrnoText(int err) {
  const char* desc = strerrordesc_np(err);  // thread-safe, unlike strerror()
  return desc != nullptr ? std::string(desc) : fmt::format("errno {}", err);
}

// "<what> '<path>': <strerror>" with the code derived from errno.
std::unexpected<Error> PathError(std::string_view what, const std::string& path, int err) {
  ErrorCode code = ErrorCode::kInternal;
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      code = ErrorCode::kNotFound;
      break;
    case EACCES:
    case EPERM:
    case EROFS:
      code = ErrorCode::kPermissionDenied;
      break;
    case EEXIST:
      code = ErrorCode::kAlreadyExists;
      break;
    case ENOSPC:
    case EDQUOT:
      code = ErrorCode::kResourceExhausted;
      break;
    default:
      break;
  }
  return MakeError(code, fmt::format("{} '{}': {}", what, path, ErrnoText(err)));
}

Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return PathError("write", path, errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return OkStatus();
}

std::string DirName(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Makes a new directory entry of `path` durable: fsync of its directory.
Status SyncParent(const std::string& path) {
  UniqueFd dir_fd(::open(DirName(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() < 0) return PathError("open directory of", path, errno);
  if (::fsync(dir_fd.get()) != 0) return PathError("fsync directory of", path, errno);
  return OkStatus();
}

class RealFileSystem final : public FileSystem {
 public:
  Result<std::string> ReadFile(const std::string& path) override {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) return PathError("read", path, errno);
    std::string contents;
    struct stat st;
    if (::fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
      contents.reserve(static_cast<size_t>(st.st_size));
    }
    char buf[64 * 1024];
    while (true) {
      ssize_t n = ::read(fd.get(), buf, sizeof(buf));
      if (n < 0) {
        if (errno == EINTR) continue;
        return PathError("read", path, errno);
      }
      if (n == 0) break;
      contents.append(buf, static_cast<size_t>(n));
    }
    return contents;
  }

  Status WriteFileAtomic(const std::string& path, std::string_view contents, mode_t mode) override {
    if (path.empty() || path.back() == '/') {
      return InvalidArgument(fmt::format("write '{}': not a file path", path));
    }
    const auto slash = path.find_last_of('/');
    const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
    // Hidden and in the same directory, so rename() is atomic and globs skip it.
    std::string tmp =
        path.substr(0, slash == std::string::npos ? 0 : slash + 1) + "." + base + ".tmp.XXXXXX";
    UniqueFd fd(::mkostemp(tmp.data(), O_CLOEXEC));
    if (fd.get() < 0) return PathError("create temporary file for", path, errno);

    auto fail = [&](std::string_view what, int err) {
      ::unlink(tmp.c_str());
      return PathError(what, path, err);
    };
    if (::fchmod(fd.get(), mode) != 0) return fail("chmod", errno);
    if (auto written = WriteAll(fd.get(), contents, path); !written) {
      ::unlink(tmp.c_str());
      return written;
    }
    if (::fsync(fd.get()) != 0) return fail("fsync", errno);
    if (fd.Close() != 0) return fail("close", errno);
    if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("rename into place", errno);

    // Make the rename itself durable.
    return SyncParent(path);
  }

  Result<bool> Exists(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) == 0) return true;
    if (errno == ENOENT || errno == ENOTDIR) return false;
    return PathError("stat", path, errno);
  }

  Status MakeDirs(const std::string& path, mode_t mode) override {
    if (path.empty()) return InvalidArgument("create directory '': empty path");
    // Walk the prefixes ending before each '/', then the whole path.
    size_t pos = 0;
    while (pos != std::string::npos) {
      pos = path.find('/', pos + 1);
      const std::string prefix = path.substr(0, pos);
      if (prefix.empty() || prefix.back() == '/') continue;  // "//" runs
      if (::mkdir(prefix.c_str(), mode) == 0) continue;
      const int err = errno;
      // An existing directory is fine whatever mkdir said (EEXIST, or EROFS/EACCES
      // on some filesystems).
      struct stat st;
      if (::stat(prefix.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) continue;
      if (err == EEXIST) {
        return FailedPrecondition(
            fmt::format("create directory '{}': '{}' exists and is not a directory", path, prefix));
      }
      return PathError("create directory", prefix, err);
    }
    return OkStatus();
  }

  Status Remove(const std::string& path) override {
    if (::unlink(path.c_str()) == 0) return OkStatus();
    int err = errno;
    if (err == EISDIR || err == EPERM) {  // Linux unlink(dir) gives EISDIR, POSIX says EPERM
      if (::rmdir(path.c_str()) == 0) return OkStatus();
      // rmdir's errno is the meaningful one for a directory (e.g. ENOTEMPTY),
      // unless the path was not a directory after all (keep unlink's error).
      if (errno != ENOTDIR) err = errno;
    }
    return PathError("remove", path, err);
  }

  Status CreateSparseFile(const std::string& path, uint64_t size, mode_t mode) override {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
    if (fd.get() < 0) return PathError("create", path, errno);
    if (::fchmod(fd.get(), mode) != 0 || ::ftruncate(fd.get(), static_cast<off_t>(size)) != 0 || ::fsync(fd.get()) != 0) {
      int err = errno;
      ::unlink(path.c_str());
      return PathError("size", path, err);
    }
    return SyncParent(path);
  }

  Result<DeviceInfo> StatDevice(const std::string& path) override {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return PathError("stat", path, errno);
    DeviceInfo info;
    if (S_ISREG(st.st_mode)) {
      info.size_bytes = static_cast<uint64_t>(st.st_size);
      return info;
    }
    if (!S_ISBLK(st.st_mode)) {
      return InvalidArgument(fmt::format("disk '{}' is neither a block device nor a regular file", path));
    }
    info.block_device = true;
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) return PathError("open", path, errno);
    uint64_t size = 0;
    if (::ioctl(fd.get(), BLKGETSIZE64, &size) != 0) return PathError("read the size of", path, errno);
    info.size_bytes = size;
    std::string sys = fmt::format("/sys/dev/block/{}:{}/queue/rotational", major(st.st_rdev), minor(st.st_rdev));
    // A partition has no queue/ of its own: its disk's is one level up.
    for (const auto& candidate : {sys, fmt::format("/sys/dev/block/{}:{}/../queue/rotational", major(st.st_rdev),
                                                   minor(st.st_rdev))}) {
      if (auto text = ReadFile(candidate)) {
        info.rotational = !text->empty() && (*text)[0] == '1';
        break;
      }
    }
    return info;
  }

  Status AppendDurably(const std::string& path, std::string_view data) override {
    // No O_CREAT: a file created here would need its directory fsynced too;
    // WriteFileAtomic already does that for creation.
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
    if (fd.get() < 0) return PathError("open for append", path, errno);
    PK_TRY(WriteAll(fd.get(), data, path));
    if (::fsync(fd.get()) != 0) return PathError("fsync", path, errno);
    if (fd.Close() != 0) return PathError("close", path, errno);
    return OkStatus();
  }
};

}  // namespace

std::unique_ptr<FileSystem> MakeRealFileSystem() { return std::make_unique<RealFileSystem>(); }

namespace {

// configfs answers "in use" and "has children" with EBUSY/ENOTEMPTY, and a
// value it does not accept with EINVAL.
std::unexpected<Error> ConfigError(std::string_view what, const std::string& path, int err) {
  if (err == EBUSY || err == ENOTEMPTY) {
    return FailedPrecondition(fmt::format("{} '{}': {}", what, path, ErrnoText(err)));
  }
  if (err == EINVAL) return InvalidArgument(fmt::format("{} '{}': {}", what, path, ErrnoText(err)));
  return PathError(what, path, err);
}

class RealConfigFs final : public ConfigFs {
 public:
  Result<Kind> KindOf(const std::string& path) override {
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) return Kind::kMissing;
      return ConfigError("stat", path, errno);
    }
    if (S_ISLNK(st.st_mode)) return Kind::kLink;
    return S_ISDIR(st.st_mode) ? Kind::kDirectory : Kind::kAttribute;
  }

  Result<std::vector<std::string>> List(const std::string& path) override {
    DIR* dir = ::opendir(path.c_str());
    if (dir == nullptr) return ConfigError("list", path, errno);
    std::vector<std::string> names;
    while (dirent* e = ::readdir(dir)) {
      std::string_view name = e->d_name;
      if (name != "." && name != "..") names.emplace_back(name);
    }
    ::closedir(dir);
    std::sort(names.begin(), names.end());
    return names;
  }

  Result<std::string> Read(const std::string& path) override {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) return ConfigError("read", path, errno);
    std::string text;
    char buf[4096];
    while (true) {
      ssize_t n = ::read(fd.get(), buf, sizeof buf);
      if (n < 0) {
        if (errno == EINTR) continue;
        return ConfigError("read", path, errno);
      }
      if (n == 0) break;
      text.append(buf, static_cast<size_t>(n));
    }
    return text;
  }

  Status Write(const std::string& path, std::string_view value) override {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (fd.get() < 0) return ConfigError("open for writing", path, errno);
    ssize_t n = 0;
    do {
      n = ::write(fd.get(), value.data(), value.size());
    } while (n < 0 && errno == EINTR);
    if (n < 0) return ConfigError(fmt::format("write {} bytes to", value.size()), path, errno);
    if (static_cast<size_t>(n) != value.size()) {
      return Internal(fmt::format("write '{}': {} of {} bytes taken", path, n, value.size()));
    }
    if (fd.Close() != 0) return ConfigError("close", path, errno);
    return OkStatus();
  }

  Status MakeDir(const std::string& path) override {
    if (::mkdir(path.c_str(), 0755) != 0) return ConfigError("mkdir", path, errno);
    return OkStatus();
  }
  Status RemoveDir(const std::string& path) override {
    if (::rmdir(path.c_str()) != 0) return ConfigError("rmdir", path, errno);
    return OkStatus();
  }
  Status Link(const std::string& target, const std::string& link) override {
    if (::symlink(target.c_str(), link.c_str()) != 0) return ConfigError(fmt::format("link '{}' as", target), link, errno);
    return OkStatus();
  }
  Status Unlink(const std::string& link) override {
    if (::unlink(link.c_str()) != 0) return ConfigError("unlink", link, errno);
    return OkStatus();
  }
  Result<std::string> ReadLink(const std::string& link) override {
    char buf[4096];
    ssize_t n = ::readlink(link.c_str(), buf, sizeof buf);
    if (n < 0) return ConfigError("readlink", link, errno);
    return std::string(buf, static_cast<size_t>(n));
  }
};

}  // namespace

std::unique_ptr<ConfigFs> MakeRealConfigFs() { return std::make_unique<RealConfigFs>(); }

Result<RegularFile> StatRegularBeneath(const std::string& dir, const std::string& relative) {
  const std::string path = dir + "/" + relative;
  auto refused = [&](std::string_view why) {
    return FailedPrecondition(fmt::format("'{}' {}: a LUN or shared file must be a regular file of the dataset, "
                                          "reached without following symbolic links",
                                          path, why));
  };
  if (relative.empty() || relative.starts_with('/')) return InvalidArgument(fmt::format("'{}' is not a relative path", relative));
  UniqueFd base(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (base.get() < 0) return PathError("open", dir, errno);
  struct stat dir_st {};
  if (::fstat(base.get(), &dir_st) != 0) return PathError("stat", dir, errno);
  // One component at a time: O_NOFOLLOW only guards the last component of
  // the path it is given.
  std::vector<std::string> parts;
  for (size_t pos = 0; pos <= relative.size();) {
    size_t slash = relative.find('/', pos);
    if (slash == std::string::npos) slash = relative.size();
    std::string part = relative.substr(pos, slash - pos);
    if (part == "..") return InvalidArgument(fmt::format("'{}' leaves '{}' ('..')", relative, dir));
    if (!part.empty() && part != ".") parts.push_back(std::move(part));
    pos = slash + 1;
  }
  if (parts.empty()) return InvalidArgument(fmt::format("'{}' names no file below '{}'", relative, dir));
  UniqueFd cur(::dup(base.get()));
  if (cur.get() < 0) return PathError("open", dir, errno);
  struct stat st {};
  for (size_t i = 0; i < parts.size(); ++i) {
    bool last = i + 1 == parts.size();
    UniqueFd next(::openat(cur.get(), parts[i].c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC | (last ? 0 : O_DIRECTORY)));
    if (next.get() < 0) {
      // O_PATH|O_NOFOLLOW opens a final symlink itself; ENOTDIR on a middle
      // component is a link (or a file) where a directory should be.
      if (errno == ENOTDIR || errno == ELOOP) return refused("passes through a symbolic link or a non-directory");
      return PathError("open", path, errno);
    }
    if (::fstat(next.get(), &st) != 0) return PathError("stat", path, errno);
    if (S_ISLNK(st.st_mode)) return refused(last ? "is a symbolic link" : "passes through a symbolic link");
    if (st.st_dev != dir_st.st_dev) return refused("is on another filesystem than its dataset");
    cur = std::move(next);
  }
  if (!S_ISREG(st.st_mode)) {
    std::string_view kind = S_ISBLK(st.st_mode) ? "block device" : S_ISCHR(st.st_mode) ? "character device"
                            : S_ISDIR(st.st_mode) ? "directory" : S_ISFIFO(st.st_mode) ? "FIFO" : "special file";
    return refused(fmt::format("is a {}, not a regular file", kind));
  }
  return RegularFile{.size_bytes = static_cast<uint64_t>(st.st_size),
                     .device = static_cast<uint64_t>(st.st_dev),
                     .inode = static_cast<uint64_t>(st.st_ino)};
}

Result<std::vector<OpenFile>> OpenFilesOf(pid_t pid) {
  const std::string dir = fmt::format("/proc/{}/fd", pid);
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return PathError("list open files of process", dir, errno);
  std::vector<OpenFile> out;
  while (dirent* e = ::readdir(d)) {
    int fd = 0;
    std::string_view name = e->d_name;
    auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), fd);
    if (ec != std::errc() || end != name.data() + name.size()) continue;  // "." and ".."
    struct stat st {};
    // stat() follows the magic link to the open file itself, not its path.
    if (::stat(fmt::format("{}/{}", dir, fd).c_str(), &st) != 0) continue;
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) continue;
    out.push_back({.fd = fd, .device = static_cast<uint64_t>(st.st_dev), .inode = static_cast<uint64_t>(st.st_ino)});
  }
  ::closedir(d);
  return out;
}

}  // namespace pk::sys
