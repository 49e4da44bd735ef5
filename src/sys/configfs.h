// sys::ConfigFs: the kernel's configfs (mounted at /sys/kernel/config), where
// subsystems such as the LIO SCSI target are configured by making and
// removing directories, writing attribute files in place and linking one
// directory into another. None of FileSystem's operations fit it: an
// attribute cannot be replaced by a rename, a directory comes with children
// the kernel made, and a symlink is how objects are bound together.
//
// Paths are absolute; errors name the path and the OS cause with the code
// mapped from errno as in sys::FileSystem (ENOENT -> NotFound, EEXIST ->
// AlreadyExists, EACCES/EPERM -> PermissionDenied, EBUSY/ENOTEMPTY ->
// FailedPrecondition, else Internal). The kernel's own refusal of a write
// (EINVAL) is InvalidArgument naming the attribute and the value's length,
// never the value (attributes may hold secrets).
//
// Thread-safety: the real implementation is stateless.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace pk::sys {

class ConfigFs {
 public:
  enum class Kind { kMissing, kDirectory, kAttribute, kLink };

  virtual ~ConfigFs() = default;

  // What is at `path` (a link is kLink, never followed).
  virtual Result<Kind> KindOf(const std::string& path) = 0;
  // Names in the directory `path` (no "." or ".."), sorted.
  virtual Result<std::vector<std::string>> List(const std::string& path) = 0;
  // An attribute's text as the kernel prints it (usually with a final newline).
  virtual Result<std::string> Read(const std::string& path) = 0;
  // Writes `value` to an attribute in one write(2) (configfs applies a write
  // as a whole). The value is never part of an error message.
  virtual Status Write(const std::string& path, std::string_view value) = 0;
  // One directory (its parent must exist); AlreadyExists when it does.
  virtual Status MakeDir(const std::string& path) = 0;
  // rmdir: the kernel removes the children it made itself; children made by
  // a caller must go first (FailedPrecondition otherwise).
  virtual Status RemoveDir(const std::string& path) = 0;
  // Creates the symlink `link` pointing at `target` (an absolute path).
  virtual Status Link(const std::string& target, const std::string& link) = 0;
  virtual Status Unlink(const std::string& link) = 0;
  // A link's target as the kernel reports it (configfs returns a relative path).
  virtual Result<std::string> ReadLink(const std::string& link) = 0;
};

// The real configfs (only daemon/ and tests construct it; STYLE rule 5).
std::unique_ptr<ConfigFs> MakeRealConfigFs();

}  // namespace pk::sys
