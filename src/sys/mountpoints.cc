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

#include "base/unique_fd.h"

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

UniqueFd OpenDir(const std::string& path) {
  return UniqueFd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
}

Result<bool> Empty(int dir_fd, const std::string& path) {
  UniqueFd dup(::dup(dir_fd));
  if (!dup.valid()) return Failure("list", path, errno);
  DIR* d = ::fdopendir(dup.get());
  if (!d) return Failure("list", path, errno);
  dup.release();  // closedir closes it
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
    UniqueFd dir = OpenDir(path);
    if (dir.get() < 0) return Failure("protect", path, errno);
    PK_ASSIGN_OR_RETURN(bool empty, Empty(dir.get(), path));
    if (!empty) return FailedPrecondition(fmt::format("protect '{}': the directory is not empty", path));
    return SetFlag(dir.get(), path, true);
  }

  Status UnprotectDir(const std::string& path) override {
    UniqueFd dir = OpenDir(path);
    if (dir.get() < 0) return errno == ENOENT ? OkStatus() : Status(Failure("unprotect", path, errno));
    return SetFlag(dir.get(), path, false);
  }

  Result<bool> DirProtected(const std::string& path) override {
    UniqueFd dir = OpenDir(path);
    if (dir.get() < 0) return Failure("read the attributes of", path, errno);
    int flags = 0;
    if (::ioctl(dir.get(), FS_IOC_GETFLAGS, &flags) != 0) return Failure("read the attributes of", path, errno);
    return (flags & FS_IMMUTABLE_FL) != 0;
  }
};

}  // namespace

std::unique_ptr<MountpointGuard> MakeRealMountpointGuard() { return std::make_unique<RealMountpointGuard>(); }

}  // namespace pk::sys
