// hw::SysTree: read access to a sysfs-like tree (/sys, /dev) below a
// configurable root, so tests replay recorded trees (tests/data/hw/) and the
// zfs-fuse lab its own chassis (lab_chassis.h) through the same code as a
// real host. Every value read is validated (hostile input, issue 20 item 2):
// at most kMaxAttribute bytes, UTF-8, no control characters; a bad one is an
// InvalidArgument naming the file and the cause.
// Thread-safety: const methods only; the tree may change under it (a disk
// pulled), which shows as NotFound.
#pragma once

#include <string>
#include <vector>

#include "base/error.h"

namespace pk::hw {

inline constexpr size_t kMaxAttribute = 4096;

// `text` as one attribute value of `file`: trailing newlines and blanks
// trimmed; refused when longer than kMaxAttribute, not UTF-8, or holding
// a control character (the error names `file` and the byte offset).
Result<std::string> CheckAttribute(std::string_view file, std::string_view text);

class SysTree {
 public:
  // `root` is prepended to every absolute path ("" or "/": the host itself).
  explicit SysTree(std::string root);

  const std::string& root() const { return root_; }
  // The host path of `path` ("/sys/block" -> ROOT/sys/block).
  std::string Host(const std::string& path) const;
  // `path` seen from the tree again: ROOT/dev/sda -> /dev/sda (unchanged outside ROOT).
  std::string Guest(const std::string& host_path) const;

  bool Exists(const std::string& path) const;
  // One attribute file (CheckAttribute); NotFound when absent.
  Result<std::string> Read(const std::string& path) const;
  // Read, or "" when absent or unreadable (optional attributes).
  std::string ReadOr(const std::string& path, std::string fallback = "") const;
  // The names in a directory, sorted; empty when it does not exist.
  std::vector<std::string> List(const std::string& dir) const;
  // Where `path` leads once every symlink is followed, as a host path; "" when
  // it leads nowhere. (Links in recorded trees are relative, so they stay inside.)
  std::string Resolve(const std::string& path) const;

 private:
  std::string root_;
};

}  // namespace pk::hw
