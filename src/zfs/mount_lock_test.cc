// Unit tests of the zfs-fuse mount lock: which commands take it, and that a
// holder keeps every other taker out until it lets go or their deadline passes.
#include "zfs/mount_lock.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace pk::zfs {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

TEST(CanMountTest, VerbsThatMountOnZfsFuse) {
  for (const char* verb : {"import", "create"}) EXPECT_TRUE(CanMount(Tool::kZpool, {verb, "tank"})) << verb;
  for (const char* verb : {"export", "list", "status", "destroy", "scrub", "get"}) {
    EXPECT_FALSE(CanMount(Tool::kZpool, {verb, "tank"})) << verb;
  }
  for (const char* verb : {"create", "mount", "clone", "rename", "set", "inherit", "rollback", "promote", "receive",
                           "recv"}) {
    EXPECT_TRUE(CanMount(Tool::kZfs, {verb, "tank/a"})) << verb;
  }
  for (const char* verb : {"get", "list", "unmount", "destroy", "snapshot", "send", "holds", "userspace"}) {
    EXPECT_FALSE(CanMount(Tool::kZfs, {verb, "tank/a"})) << verb;
  }
  EXPECT_FALSE(CanMount(Tool::kZfs, {}));
}

class MountLockTest : public ::testing::Test {
 protected:
  std::string path_ = (std::filesystem::temp_directory_path() /
                       ("pk-mount-lock-test." + std::to_string(::getpid())))
                          .string();
  void TearDown() override { std::filesystem::remove(path_); }
};

TEST_F(MountLockTest, ASecondTakerWaitsUntilItsDeadlineThenSaysWhy) {
  auto first = MountLock::Acquire(path_, steady_clock::now() + milliseconds(100));
  ASSERT_TRUE(first) << first.error().ToString();
  auto start = steady_clock::now();
  auto second = MountLock::Acquire(path_, start + milliseconds(200));
  ASSERT_FALSE(second);
  EXPECT_GE(steady_clock::now() - start, milliseconds(100));
  EXPECT_EQ(second.error().code(), ErrorCode::kDeadlineExceeded);
  EXPECT_NE(second.error().message().find(path_), std::string::npos) << second.error().message();
}

TEST_F(MountLockTest, TheLockIsFreeOnceItsHolderIsGone) {
  {
    auto first = MountLock::Acquire(path_, steady_clock::now());
    ASSERT_TRUE(first) << first.error().ToString();
  }
  auto again = MountLock::Acquire(path_, steady_clock::now());
  EXPECT_TRUE(again) << again.error().ToString();
}

TEST_F(MountLockTest, AnUnopenableLockFileIsAnErrorNamingIt) {
  auto r = MountLock::Acquire("/nonexistent-dir/lock", steady_clock::now());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(r.error().message().find("/nonexistent-dir/lock"), std::string::npos) << r.error().message();
}

}  // namespace
}  // namespace pk::zfs
