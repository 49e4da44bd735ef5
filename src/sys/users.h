// sys::UserDirectory: user and group names <-> numeric ids, behind an
// interface (STYLE rule 5) so the API's quota routes can be tested without the
// host's passwd/group databases. The real one uses getpwnam_r/getgrnam_r and
// getpwuid_r/getgrgid_r (so NSS sources such as LDAP work when configured).
//
// AccountName is the validated form of a user or group name (STYLE rule 3):
// POSIX portable characters [A-Za-z0-9._-], at most 32 of them, not starting
// with '-', optionally ending in '$' (Samba machine accounts); nothing a shell
// or a ZFS property list could misread (no blanks, ',', '@', '=', '/', ...).
//
// Thread-safety: the real implementation is stateless (the *_r calls); calls
// may run concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"

namespace pk::sys {

enum class AccountKind { kUser, kGroup };
std::string_view AccountKindName(AccountKind kind);  // "user", "group"

class AccountName {
 public:
  // InvalidArgument naming the value and what is wrong, e.g.
  // "user name 'a;b' is not valid: character ';' is not allowed ...".
  static Result<AccountName> Parse(std::string_view text, AccountKind kind);
  const std::string& str() const { return name_; }

 private:
  explicit AccountName(std::string name) : name_(std::move(name)) {}
  std::string name_;
};

class UserDirectory {
 public:
  virtual ~UserDirectory() = default;
  // The id of a named user or group; NotFound "user 'x' does not exist".
  virtual Result<uint32_t> Lookup(AccountKind kind, const AccountName& name) = 0;
  // The name of an id, or nullopt when the databases have none.
  virtual std::optional<std::string> NameOf(AccountKind kind, uint32_t id) = 0;
};

std::unique_ptr<UserDirectory> MakePosixUserDirectory();

}  // namespace pk::sys
