#include "hw/sys_tree.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <algorithm>

#include <fmt/format.h>

#include "base/json.h"

namespace pk::hw {

namespace fs = std::filesystem;

Result<std::string> CheckAttribute(std::string_view file, std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  if (text.size() > kMaxAttribute) {
    return InvalidArgument(fmt::format("{}: value of {} bytes is too long (at most {})", file, text.size(), kMaxAttribute));
  }
  if (size_t bad = FindInvalidUtf8(text); bad != std::string_view::npos) {
    return InvalidArgument(fmt::format("{}: value is not UTF-8 (byte {})", file, bad));
  }
  for (size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) {
      return InvalidArgument(fmt::format("{}: value holds control character 0x{:02x} (byte {})", file, c, i));
    }
  }
  return std::string(text);
}

SysTree::SysTree(std::string root) : root_(std::move(root)) {
  while (!root_.empty() && root_.back() == '/') root_.pop_back();
}

std::string SysTree::Host(const std::string& path) const { return root_ + path; }

std::string SysTree::Guest(const std::string& host_path) const {
  if (!root_.empty() && host_path.starts_with(root_ + "/")) return host_path.substr(root_.size());
  return host_path;
}

bool SysTree::Exists(const std::string& path) const {
  std::error_code ec;
  return fs::exists(Host(path), ec);
}

Result<std::string> SysTree::Read(const std::string& path) const {
  std::string host = Host(path);
  std::ifstream in(host, std::ios::binary);
  if (!in) return NotFound(fmt::format("{}: cannot read", host));
  // Never more than one value's worth: a hostile file may be endless.
  std::string text(kMaxAttribute + 2, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  return CheckAttribute(host, text);
}

std::string SysTree::ReadOr(const std::string& path, std::string fallback) const {
  auto v = Read(path);
  return v ? *v : fallback;
}

std::vector<std::string> SysTree::List(const std::string& dir) const {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(Host(dir), ec), end; !ec && it != end; it.increment(ec)) {
    out.push_back(it->path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string SysTree::Resolve(const std::string& path) const {
  std::error_code ec;
  auto p = fs::canonical(Host(path), ec);
  return ec ? "" : p.string();
}

}  // namespace pk::hw
