// Errno to pk::Error conversion for the migrate module (one place, STYLE's
// "errno conversion in exactly one place"), and user.* xattr reading.
#pragma once

#include <string>

#include "base/error.h"
#include "migrate/source.h"

namespace pk::migrate::internal {

// "what: strerror" with the code mapped from errno (ENOENT -> NotFound, ...).
std::unexpected<Error> ErrnoError(int err, const std::string& what);
// The errno a FUSE handler should answer for `e` (negative).
int ToFuseErrno(const Error& e);

// The user.* attributes of an open file or directory.
Result<Xattrs> ReadUserXattrs(int fd);

}  // namespace pk::migrate::internal
