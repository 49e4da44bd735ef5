#include "sys/users.h"

#include <gtest/gtest.h>

namespace pk::sys {
namespace {

TEST(AccountNameTest, AcceptsPortableNames) {
  for (const char* ok : {"alice", "a.b", "svc_backup", "web-01", "MACHINE$", "nobody", "4242"}) {
    EXPECT_TRUE(AccountName::Parse(ok, AccountKind::kUser)) << ok;
  }
}

TEST(AccountNameTest, RefusesShellAndPropertyCharacters) {
  for (const char* bad : {"", "-rf", "a;b", "a b", "a,b", "a@b", "a=b", "a/b", "$(id)", "`x`", "a\nb", "$",
                          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}) {
    auto r = AccountName::Parse(bad, AccountKind::kGroup);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message().find("group name"), std::string::npos) << r.error().message();
  }
}

TEST(PosixUserDirectoryTest, ResolvesRootAndReportsUnknownNames) {
  auto dir = MakePosixUserDirectory();
  auto root = dir->Lookup(AccountKind::kUser, *AccountName::Parse("root", AccountKind::kUser));
  ASSERT_TRUE(root) << root.error().message();
  EXPECT_EQ(*root, 0u);
  EXPECT_EQ(dir->NameOf(AccountKind::kUser, 0), "root");
  auto missing = dir->Lookup(AccountKind::kUser, *AccountName::Parse("pk-no-such-user", AccountKind::kUser));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(missing.error().message(), "user 'pk-no-such-user' does not exist");
  EXPECT_EQ(dir->NameOf(AccountKind::kGroup, 4242999u), std::nullopt);
}

}  // namespace
}  // namespace pk::sys
