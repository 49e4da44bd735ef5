#include "sys/users.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

namespace pk::sys {
namespace {

bool PortableChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-';
}

std::string Printable(char c) {
  if (c >= 0x20 && c < 0x7f) return fmt::format("'{}'", c);
  return fmt::format("0x{:02x}", static_cast<unsigned char>(c));
}

class PosixUserDirectory final : public UserDirectory {
 public:
  Result<uint32_t> Lookup(AccountKind kind, const AccountName& name) override {
    std::vector<char> buf(16384);
    while (true) {
      int rc = 0;
      bool found = false;
      uint32_t id = 0;
      if (kind == AccountKind::kUser) {
        struct passwd pw {}, *out = nullptr;
        rc = ::getpwnam_r(name.str().c_str(), &pw, buf.data(), buf.size(), &out);
        if (rc == 0 && out) found = true, id = out->pw_uid;
      } else {
        struct group gr {}, *out = nullptr;
        rc = ::getgrnam_r(name.str().c_str(), &gr, buf.data(), buf.size(), &out);
        if (rc == 0 && out) found = true, id = out->gr_gid;
      }
      if (rc == ERANGE && buf.size() < (1u << 22)) {
        buf.resize(buf.size() * 4);
        continue;
      }
      // "Not found" is rc 0 with no entry (or ENOENT/ESRCH on some libcs).
      if (found) return id;
      if (rc == 0 || rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM) {
        return NotFound(fmt::format("{} '{}' does not exist", AccountKindName(kind), name.str()));
      }
      return Unavailable(fmt::format("look up {} '{}': {}", AccountKindName(kind), name.str(), std::strerror(rc)));
    }
  }

  std::optional<std::string> NameOf(AccountKind kind, uint32_t id) override {
    std::vector<char> buf(16384);
    while (true) {
      int rc = 0;
      if (kind == AccountKind::kUser) {
        struct passwd pw {}, *out = nullptr;
        rc = ::getpwuid_r(id, &pw, buf.data(), buf.size(), &out);
        if (rc == 0 && out) return std::string(out->pw_name);
      } else {
        struct group gr {}, *out = nullptr;
        rc = ::getgrgid_r(id, &gr, buf.data(), buf.size(), &out);
        if (rc == 0 && out) return std::string(out->gr_name);
      }
      if (rc == ERANGE && buf.size() < (1u << 22)) {
        buf.resize(buf.size() * 4);
        continue;
      }
      return std::nullopt;
    }
  }
};

}  // namespace

std::string_view AccountKindName(AccountKind kind) { return kind == AccountKind::kUser ? "user" : "group"; }

Result<AccountName> AccountName::Parse(std::string_view text, AccountKind kind) {
  auto bad = [&](const std::string& why) {
    return InvalidArgument(fmt::format("{} name '{}' is not valid: {}", AccountKindName(kind), text, why));
  };
  if (text.empty()) return bad("it is empty");
  if (text.size() > 32) return bad("longer than 32 characters");
  if (text.front() == '-') return bad("it starts with '-'");
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (PortableChar(c)) continue;
    if (c == '$' && i + 1 == text.size() && i > 0) continue;
    return bad(fmt::format("character {} is not allowed (letters, digits, '.', '_', '-')", Printable(c)));
  }
  return AccountName(std::string(text));
}

std::unique_ptr<UserDirectory> MakePosixUserDirectory() { return std::make_unique<PosixUserDirectory>(); }

}  // namespace pk::sys
