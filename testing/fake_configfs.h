// FakeConfigFs: an in-memory sys::ConfigFs for unit tests.
//
// A tree of directories, attributes and links. As in configfs, callers only
// make directories and links and write attributes that exist: the children a
// kernel subsystem creates with a directory (its attributes and default
// groups) come from the test's `on_mkdir` hook, and such "kernel" children go
// with their directory on rmdir, while a directory that still holds children
// a caller made is refused (FailedPrecondition, like ENOTEMPTY). `on_write`
// may refuse a write the way the kernel would (e.g. a unit serial changed
// while a LUN is exported); `on_rmdir` may refuse a removal (e.g. an object
// still linked). Every change is appended to mutations() ("mkdir P",
// "rmdir P", "write P=V", "link L -> T", "unlink L") for assertions.
//
// Thread-safety: none; one test thread.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "sys/configfs.h"

namespace pk::testing {

class FakeConfigFs : public sys::ConfigFs {
 public:
  // Children the "kernel" makes with a directory: relative paths, a trailing
  // '/' for a directory, "name=value" for an attribute's initial value.
  using MkdirHook = std::function<Result<std::vector<std::string>>(const std::string& path)>;
  using WriteHook = std::function<Status(const std::string& path, const std::string& value)>;
  using RmdirHook = std::function<Status(const std::string& path)>;

  // Makes `path` and its missing parents as kernel directories (the mount
  // point and the subsystem's fixed tree), without hooks or mutations.
  void AddKernelDir(const std::string& path);
  void AddKernelAttribute(const std::string& path, const std::string& value);

  MkdirHook on_mkdir;
  WriteHook on_write;
  RmdirHook on_rmdir;

  const std::vector<std::string>& mutations() const { return mutations_; }
  std::vector<std::string> TakeMutations();
  // The attribute's value, "" when absent.
  std::string Value(const std::string& path) const;
  bool Has(const std::string& path) const { return nodes_.contains(path); }
  // Every path under `prefix` (itself included), sorted.
  std::vector<std::string> PathsUnder(const std::string& prefix) const;

  Result<Kind> KindOf(const std::string& path) override;
  Result<std::vector<std::string>> List(const std::string& path) override;
  Result<std::string> Read(const std::string& path) override;
  Status Write(const std::string& path, std::string_view value) override;
  Status MakeDir(const std::string& path) override;
  Status RemoveDir(const std::string& path) override;
  Status Link(const std::string& target, const std::string& link) override;
  Status Unlink(const std::string& link) override;
  Result<std::string> ReadLink(const std::string& link) override;

 private:
  struct Node {
    Kind kind = Kind::kDirectory;
    bool kernel = false;   // made by the "kernel" (goes with its parent)
    std::string value;     // attribute text, or link target
  };
  static std::string Parent(const std::string& path);
  std::vector<std::string> Children(const std::string& dir) const;

  std::map<std::string, Node> nodes_;
  std::vector<std::string> mutations_;
};

}  // namespace pk::testing
