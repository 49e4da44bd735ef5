// FakeUserDirectory: a sys::UserDirectory answering from tables the test fills.
// Thread-safety: Add* before use; lookups may then run concurrently.
#pragma once

#include <map>
#include <string>

#include <fmt/format.h>

#include "sys/users.h"

namespace pk::testing {

class FakeUserDirectory : public sys::UserDirectory {
 public:
  void Add(sys::AccountKind kind, const std::string& name, uint32_t id) { table_[kind][name] = id; }

  Result<uint32_t> Lookup(sys::AccountKind kind, const sys::AccountName& name) override {
    auto& t = table_[kind];
    auto it = t.find(name.str());
    if (it == t.end()) return NotFound(fmt::format("{} '{}' does not exist", sys::AccountKindName(kind), name.str()));
    return it->second;
  }
  std::optional<std::string> NameOf(sys::AccountKind kind, uint32_t id) override {
    for (const auto& [n, i] : table_[kind]) {
      if (i == id) return n;
    }
    return std::nullopt;
  }

 private:
  std::map<sys::AccountKind, std::map<std::string, uint32_t>> table_;
};

}  // namespace pk::testing
