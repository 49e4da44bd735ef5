// The real sys::MountpointGuard: the immutable attribute through the flags ioctls.
#include "sys/mountpoints.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace pk::sys {
namespace {

// ENOTTY/EOPNOTSUPP/EINVAL from the flags ioctls: the file system has no such attribute.
std::unexpected<Error> Failure(std::string_view what, const std::string& path, int err) {
  ErrorCode code = ErrorCode::kInternal;
  if (err == ENOENT || err == ENOTDIR) code = ErrorCode::kNotFound;
  if (err == EACCES || err == EPERM) code = ErrorCode::kPermissionDenied;
  if (err == ENOTTY || err == EOPNOTSUPP || err == EINVAL) {
    return MakeError(ErrorCode::kUnimplemented, fmt::format("{} '{}': its file system has no immutable attribute ({})",
                                                            what, path, strerrordesc_np(err)));
  }
  return MakeError(code, fmt::format("{} '{}': {}", what, path, strerrordesc_np(err)));
}

class Dir {
 public:
  explicit Dir(const std::string& path) : fd_(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) {}
  Dir(const Dir&) = delete;
  Dir& operator=(const Dir&) = delete;
  ~Dir() {
    if (fd_ >= 0) ::close(fd_);
  }
  int fd() const { return fd_; }

 private:
  int fd_;
};

Result<bool> Empty(int dir_fd, const std::string& path) {
  int dup = ::dup(dir_fd);
  if (dup < 0) return Failure("list", path, errno);
  DIR* d = ::fdopendir(dup);
  if (!d) {
    int err = errno;
    ::close(dup);
    return Failure("list", path, err);
  }
  bool empty = true;
  while (auto* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
      empty = false;
      break;
    }
  }
  ::closedir(d);
  return empty;
}

Status SetFlag(int fd, const std::string& path, bool immutable) {
  const char* what = immutable ? "protect" : "unprotect";
  int flags = 0;
  if (::ioctl(fd, FS_IOC_GETFLAGS, &flags) != 0) return Failure(what, path, errno);
  int wanted = immutable ? (flags | FS_IMMUTABLE_FL) : (flags & ~FS_IMMUTABLE_FL);
  if (wanted == flags) return OkStatus();
  if (::ioctl(fd, FS_IOC_SETFLAGS, &wanted) != 0) return Failure(what, path, errno);
  return OkStatus();
}

class RealMountpointGuard final : public MountpointGuard {
 public:
  Status ProtectEmptyDir(const std::string& path) override {
    Dir dir(path);
    if (dir.fd() < 0) return Failure("protect", path, errno);
    PK_ASSIGN_OR_RETURN(bool empty, Empty(dir.fd(), path));
    if (!empty) return FailedPrecondition(fmt::format("protect '{}': the directory is not empty", path));
    return SetFlag(dir.fd(), path, true);
  }

  Status UnprotectDir(const std::string& path) override {
    Dir dir(path);
    if (dir.fd() < 0) return errno == ENOENT ? OkStatus() : Status(Failure("unprotect", path, errno));
    return SetFlag(dir.fd(), path, false);
  }

  Result<bool> DirProtected(const std::string& path) override {
    Dir dir(path);
    if (dir.fd() < 0) return Failure("read the attributes of", path, errno);
    int flags = 0;
    if (::ioctl(dir.fd(), FS_IOC_GETFLAGS, &flags) != 0) return Failure("read the attributes of", path, errno);
    return (flags & FS_IMMUTABLE_FL) != 0;
  }
};

}  // namespace

std::unique_ptr<MountpointGuard> MakeRealMountpointGuard() { return std::make_unique<RealMountpointGuard>(); }

}  // namespace pk::sys
