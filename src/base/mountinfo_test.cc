#include "base/mountinfo.h"

#include <gtest/gtest.h>

namespace pk {
namespace {

// Lines as this machine's zfs-fuse lab and the OpenZFS guest list them: a
// shadow-migration layer mounted over a zfs-fuse dataset, an escaped blank,
// optional fields (shared:N) or none.
constexpr std::string_view kMountInfo =
    "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
    "91 22 0:42 / /var/tmp/pk\\040lab/tank/home rw,relatime shared:50 - zfs tank/home rw,xattr,posixacl\n"
    "120 22 0:61 / /tank/mig rw,relatime - fuse.zfs tank/mig rw,user_id=0,group_id=0\n"
    "121 120 0:62 / /tank/mig rw,nosuid,nodev,relatime - fuse.pkshadow pkshadow rw,user_id=0\n"
    "truncated line - x\n"
    "\n";

TEST(MountInfoTest, ParsesEveryWellFormedLineInOrder) {
  auto mounts = ParseMountInfo(kMountInfo);
  ASSERT_EQ(mounts.size(), 4u);
  EXPECT_EQ(mounts[0].mount_point, "/");
  EXPECT_EQ(mounts[0].fs_type, "ext4");
  EXPECT_EQ(mounts[1].device, "0:42");
  EXPECT_EQ(mounts[1].root, "/");
  EXPECT_EQ(mounts[1].mount_point, "/var/tmp/pk lab/tank/home");
  EXPECT_EQ(mounts[1].fs_type, "zfs");
  EXPECT_EQ(mounts[1].source, "tank/home");
  EXPECT_EQ(mounts[2].fs_type, "fuse.zfs");
  EXPECT_EQ(mounts[2].source, "tank/mig");
}

TEST(MountInfoTest, TheTopmostMountIsTheLastListed) {
  auto mounts = ParseMountInfo(kMountInfo);
  const MountEntry* top = TopMountAt(mounts, "/tank/mig");
  ASSERT_NE(top, nullptr);
  EXPECT_EQ(top->fs_type, "fuse.pkshadow");
  EXPECT_EQ(top->device, "0:62");
  EXPECT_EQ(TopMountAt(mounts, "/tank"), nullptr);
  EXPECT_EQ(TopMountAt(mounts, "/var/tmp/pk\\040lab/tank/home"), nullptr);  // decoded names only
}

TEST(MountInfoTest, MalformedTextGivesNoEntriesAndNoException) {
  EXPECT_TRUE(ParseMountInfo("garbage\n").empty());
  EXPECT_TRUE(ParseMountInfo("1 2 3 4 5 6 - fstype\n").empty());  // no source
  auto odd = ParseMountInfo("1 2 0:9 / /a\\9zz rw - zfs p\\x rw\n");
  ASSERT_EQ(odd.size(), 1u);
  EXPECT_EQ(odd[0].mount_point, "/a\\9zz");
  EXPECT_EQ(odd[0].source, "p\\x");
}

}  // namespace
}  // namespace pk
