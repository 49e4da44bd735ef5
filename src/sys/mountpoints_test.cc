// The real MountpointGuard on this machine's /tmp (ext4 here; skipped where
// the file system has no immutable attribute).
#include "sys/mountpoints.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pk::sys {
namespace {

using ::testing::HasSubstr;

class MountpointGuardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "pk_mountpoints_XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    (void)guard_->UnprotectDir(dir_ + "/mnt");
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string dir_;
  std::unique_ptr<MountpointGuard> guard_ = MakeRealMountpointGuard();
};

// issue 18 item 5: a protected (immutable) empty directory refuses writes
// with EPERM, even from root; a directory with something in it is refused.
TEST_F(MountpointGuardTest, ProtectedDirRefusesWritesUntilUnprotected) {
  const std::string mp = dir_ + "/mnt";
  ASSERT_EQ(::mkdir(mp.c_str(), 0755), 0);
  auto protect = guard_->ProtectEmptyDir(mp);
  if (!protect && protect.error().code() == ErrorCode::kUnimplemented) GTEST_SKIP() << protect.error().message();
  ASSERT_TRUE(protect) << protect.error().ToString();
  EXPECT_EQ(guard_->DirProtected(mp).value_or(false), true);
  std::ofstream(mp + "/stray") << "x";
  EXPECT_FALSE(std::filesystem::exists(mp + "/stray"));
  EXPECT_NE(::mkdir((mp + "/d").c_str(), 0755), 0);
  EXPECT_EQ(errno, EPERM);
  EXPECT_TRUE(guard_->ProtectEmptyDir(mp)) << "protecting twice";
  ASSERT_TRUE(guard_->UnprotectDir(mp));
  EXPECT_EQ(guard_->DirProtected(mp).value_or(true), false);
  std::ofstream(mp + "/data") << "x";
  auto refused = guard_->ProtectEmptyDir(mp);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(refused.error().message(), HasSubstr(mp));
  EXPECT_EQ(guard_->ProtectEmptyDir(dir_ + "/absent").error().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(guard_->UnprotectDir(dir_ + "/absent"));
}

}  // namespace
}  // namespace pk::sys
