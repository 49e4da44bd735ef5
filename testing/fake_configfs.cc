#include "testing/fake_configfs.h"

#include <utility>

#include <fmt/format.h>

namespace pk::testing {

std::string FakeConfigFs::Parent(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

std::vector<std::string> FakeConfigFs::Children(const std::string& dir) const {
  std::vector<std::string> out;
  std::string prefix = dir == "/" ? "/" : dir + "/";
  for (auto it = nodes_.lower_bound(prefix); it != nodes_.end() && it->first.starts_with(prefix); ++it) {
    if (it->first.find('/', prefix.size()) == std::string::npos) out.push_back(it->first);
  }
  return out;
}

void FakeConfigFs::AddKernelDir(const std::string& path) {
  if (path.empty() || path == "/" || nodes_.contains(path)) return;
  AddKernelDir(Parent(path));
  nodes_[path] = Node{.kind = Kind::kDirectory, .kernel = true};
}

void FakeConfigFs::AddKernelAttribute(const std::string& path, const std::string& value) {
  AddKernelDir(Parent(path));
  nodes_[path] = Node{.kind = Kind::kAttribute, .kernel = true, .value = value};
}

std::vector<std::string> FakeConfigFs::TakeMutations() { return std::exchange(mutations_, {}); }

std::string FakeConfigFs::Value(const std::string& path) const {
  auto it = nodes_.find(path);
  return it == nodes_.end() ? "" : it->second.value;
}

std::vector<std::string> FakeConfigFs::PathsUnder(const std::string& prefix) const {
  std::vector<std::string> out;
  for (auto it = nodes_.lower_bound(prefix); it != nodes_.end() && it->first.starts_with(prefix); ++it) {
    if (it->first.size() == prefix.size() || it->first[prefix.size()] == '/') out.push_back(it->first);
  }
  return out;
}

Result<sys::ConfigFs::Kind> FakeConfigFs::KindOf(const std::string& path) {
  auto it = nodes_.find(path);
  return it == nodes_.end() ? Kind::kMissing : it->second.kind;
}

Result<std::vector<std::string>> FakeConfigFs::List(const std::string& path) {
  auto it = nodes_.find(path);
  if (it == nodes_.end() || it->second.kind != Kind::kDirectory) {
    return NotFound(fmt::format("list '{}': No such file or directory", path));
  }
  std::vector<std::string> names;
  for (const auto& child : Children(path)) names.push_back(child.substr(child.rfind('/') + 1));
  return names;
}

Result<std::string> FakeConfigFs::Read(const std::string& path) {
  auto it = nodes_.find(path);
  if (it == nodes_.end() || it->second.kind != Kind::kAttribute) {
    return NotFound(fmt::format("read '{}': No such file or directory", path));
  }
  return it->second.value;
}

Status FakeConfigFs::Write(const std::string& path, std::string_view value) {
  auto it = nodes_.find(path);
  if (it == nodes_.end() || it->second.kind != Kind::kAttribute) {
    return NotFound(fmt::format("open for writing '{}': No such file or directory", path));
  }
  if (on_write) {
    PK_TRY(on_write(path, std::string(value)));
  }
  it->second.value = std::string(value);
  mutations_.push_back(fmt::format("write {}={}", path, value));
  return OkStatus();
}

Status FakeConfigFs::MakeDir(const std::string& path) {
  if (nodes_.contains(path)) return AlreadyExists(fmt::format("mkdir '{}': File exists", path));
  auto parent = nodes_.find(Parent(path));
  if (parent == nodes_.end() || parent->second.kind != Kind::kDirectory) {
    return NotFound(fmt::format("mkdir '{}': No such file or directory", path));
  }
  std::vector<std::string> children;
  if (on_mkdir) {
    PK_ASSIGN_OR_RETURN(children, on_mkdir(path));
  }
  nodes_[path] = Node{.kind = Kind::kDirectory};
  for (const auto& c : children) {
    if (c.ends_with('/')) {
      AddKernelDir(path + "/" + c.substr(0, c.size() - 1));
    } else {
      auto eq = c.find('=');
      AddKernelAttribute(path + "/" + c.substr(0, eq), eq == std::string::npos ? "" : c.substr(eq + 1));
    }
  }
  mutations_.push_back("mkdir " + path);
  return OkStatus();
}

Status FakeConfigFs::RemoveDir(const std::string& path) {
  auto it = nodes_.find(path);
  if (it == nodes_.end() || it->second.kind != Kind::kDirectory) {
    return NotFound(fmt::format("rmdir '{}': No such file or directory", path));
  }
  for (const auto& p : PathsUnder(path)) {
    if (p != path && !nodes_[p].kernel) return FailedPrecondition(fmt::format("rmdir '{}': Directory not empty", path));
  }
  if (on_rmdir) {
    PK_TRY(on_rmdir(path));
  }
  for (const auto& p : PathsUnder(path)) nodes_.erase(p);
  mutations_.push_back("rmdir " + path);
  return OkStatus();
}

Status FakeConfigFs::Link(const std::string& target, const std::string& link) {
  if (nodes_.contains(link)) return AlreadyExists(fmt::format("link '{}' as '{}': File exists", target, link));
  if (!nodes_.contains(target) || !nodes_.contains(Parent(link))) {
    return NotFound(fmt::format("link '{}' as '{}': No such file or directory", target, link));
  }
  nodes_[link] = Node{.kind = Kind::kLink, .value = target};
  mutations_.push_back(fmt::format("link {} -> {}", link, target));
  return OkStatus();
}

Status FakeConfigFs::Unlink(const std::string& link) {
  auto it = nodes_.find(link);
  if (it == nodes_.end() || it->second.kind != Kind::kLink) {
    return NotFound(fmt::format("unlink '{}': No such file or directory", link));
  }
  nodes_.erase(it);
  mutations_.push_back("unlink " + link);
  return OkStatus();
}

Result<std::string> FakeConfigFs::ReadLink(const std::string& link) {
  auto it = nodes_.find(link);
  if (it == nodes_.end() || it->second.kind != Kind::kLink) {
    return NotFound(fmt::format("readlink '{}': No such file or directory", link));
  }
  return it->second.value;
}

}  // namespace pk::testing
