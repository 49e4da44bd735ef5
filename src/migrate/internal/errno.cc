#include "migrate/internal/errno.h"

#include <sys/xattr.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace pk::migrate::internal {

std::unexpected<Error> ErrnoError(int err, const std::string& what) {
  std::string msg = fmt::format("{}: {} [errno {}]", what, std::strerror(err), err);
  switch (err) {
    case ENOENT: case ENOTDIR: return NotFound(msg);
    case EACCES: case EPERM: return PermissionDenied(msg);
    case EEXIST: case ENOTEMPTY: return AlreadyExists(msg);
    case ENOSPC: case EDQUOT: return MakeError(ErrorCode::kResourceExhausted, msg);
    case EINVAL: return InvalidArgument(msg);
    case ELOOP: return FailedPrecondition(msg);  // a symlink where a path is never to follow one
    case ETIMEDOUT: case ENOTCONN: case ECONNREFUSED: case EIO: case EAGAIN: return Unavailable(msg);
    default: return Internal(msg);
  }
}

int ToFuseErrno(const Error& e) {
  // The message ends in "[errno N]" when it came from ErrnoError.
  const auto& m = e.message();
  auto at = m.rfind("[errno ");
  if (at != std::string::npos) {
    int n = std::atoi(m.c_str() + at + 7);
    if (n > 0) return -n;
  }
  switch (e.code()) {
    case ErrorCode::kNotFound: return -ENOENT;
    case ErrorCode::kPermissionDenied: return -EACCES;
    case ErrorCode::kAlreadyExists: return -EEXIST;
    case ErrorCode::kResourceExhausted: return -ENOSPC;
    default: return -EIO;
  }
}

Result<Xattrs> ReadUserXattrs(int fd) {
  Xattrs out;
  ssize_t n = ::flistxattr(fd, nullptr, 0);  // size first (see below)
  std::string names(n > 0 ? static_cast<size_t>(n) + 256 : 256, '\0');
  while ((n = ::flistxattr(fd, names.data(), names.size())) < 0 && errno == ERANGE) names.resize(names.size() * 4);
  if (n < 0) {
    if (errno == ENOTSUP) return out;
    return ErrnoError(errno, "list attributes");
  }
  for (size_t i = 0; i < static_cast<size_t>(n);) {
    std::string name(names.data() + i);
    i += name.size() + 1;
    if (!name.starts_with("user.")) continue;
    // Ask for the size first: zfs-fuse answers a too-small buffer with a
    // truncated value instead of ERANGE.
    ssize_t v = ::fgetxattr(fd, name.c_str(), nullptr, 0);
    std::string value(v > 0 ? static_cast<size_t>(v) : 0, '\0');
    if (v > 0) {
      while ((v = ::fgetxattr(fd, name.c_str(), value.data(), value.size())) < 0 && errno == ERANGE) {
        value.resize(value.size() * 2 + 64);
      }
    }
    if (v < 0) {
      if (errno == ENODATA) continue;  // removed meanwhile
      return ErrnoError(errno, "read attribute '" + name + "'");
    }
    value.resize(static_cast<size_t>(v));
    out.emplace_back(std::move(name), std::move(value));
  }
  return out;
}

}  // namespace pk::migrate::internal
