// Where the two ZFS flavours differ, through the real adapter: each behaviour
// has a test that runs on the flavour that has it and skips, with the reason,
// on the other. OpenZFS runs in the qemu guest (CTest label `openzfs`);
// zfs-fuse is the host lab (label `integration`).
//
//   zvols:            OpenZFS creates them and udev makes /dev/zvol/POOL/NAME;
//                     zfs-fuse cannot (Unimplemented from the adapter).
//   import -N:        OpenZFS imports without mounting, then mounts one by one;
//                     zfs-fuse has no -N (Unimplemented from the adapter).
//   parsable output:  OpenZFS `zpool list -p` gives exact sizes; zfs-fuse's are
//                     parsed from human form (rounded).
//   property sources: both print `default`, `local`, `inherited from X` and
//                     `-` (read-only values); the test holds in both.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/lab.h"

namespace pk::integration {
namespace {

using ::testing::HasSubstr;

bool IsOpenZfs(zfs::Zfs& z) { return z.dialect() == zfs::Dialect::kOpenZfs2; }

// udev creates the /dev/zvol link after `zfs create -V` returns: waits for it
// (bounded), returns whether it appeared.
bool WaitForBlockDevice(const std::string& path, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  struct stat st {};
  while (std::chrono::steady_clock::now() < deadline) {
    if (::stat(path.c_str(), &st) == 0 && S_ISBLK(st.st_mode)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

using FlavourTest = LabTest;

TEST_F(FlavourTest, OpenZfsVolumeHasDevZvolNodeAndKeepsData) {
  if (!IsOpenZfs(zfs())) GTEST_SKIP() << "zfs-fuse has no zvols (FlavourTest.ZfsFuseRefusesVolumes)";
  auto pool = MustCreatePool({NewDisk()});
  auto vol = Ds(pool.str() + "/vol1");
  constexpr uint64_t kVolBytes = 32ull << 20;
  auto created = zfs().CreateVolume(vol, kVolBytes, {Assign("volblocksize=16384"), Assign("com.example:role=lun")});
  ASSERT_TRUE(created) << created.error().ToString();

  auto got = zfs().GetDataset(vol.str(), {"type", "volsize", "volblocksize", "com.example:role", "mountpoint"});
  ASSERT_TRUE(got) << got.error().ToString();
  EXPECT_EQ(got->type, zfs::DatasetType::kVolume);
  EXPECT_EQ(got->Get("volsize"), std::to_string(kVolBytes));
  EXPECT_EQ(got->Get("volblocksize"), "16384");
  EXPECT_EQ(got->Get("com.example:role"), "lun");

  // Listed among the pool's datasets as a volume, next to the root filesystem.
  auto listed = zfs().ListDatasets({.root = pool.str(), .properties = {"name", "type", "volsize"}});
  ASSERT_TRUE(listed) << listed.error().ToString();
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[1].name, vol.str());
  EXPECT_EQ((*listed)[1].type, zfs::DatasetType::kVolume);

  std::string dev = "/dev/zvol/" + vol.str();
  ASSERT_TRUE(WaitForBlockDevice(dev, std::chrono::seconds(30))) << dev << " did not appear within 30 s";
  // A block written at 1 MiB through the device reads back after reopening.
  std::string block(4096, '\0');
  for (size_t i = 0; i < block.size(); ++i) block[i] = static_cast<char>('a' + i % 26);
  int fd = ::open(dev.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0) << dev << ": " << std::strerror(errno);
  ASSERT_EQ(::pwrite(fd, block.data(), block.size(), 1 << 20), static_cast<ssize_t>(block.size()));
  ASSERT_EQ(::fsync(fd), 0);
  ::close(fd);
  fd = ::open(dev.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  std::string back(block.size(), '\0');
  ASSERT_EQ(::pread(fd, back.data(), back.size(), 1 << 20), static_cast<ssize_t>(back.size()));
  ::close(fd);
  EXPECT_EQ(back, block);

  // A volume is destroyed like any dataset; its node goes away with it.
  auto destroyed = RetryWhileBusy("destroy volume", [&] { return zfs().DestroyDataset(vol, zfs::Recursive::kNo); });
  ASSERT_TRUE(destroyed) << destroyed.error().ToString();
}

TEST_F(FlavourTest, ZfsFuseRefusesVolumes) {
  if (IsOpenZfs(zfs())) GTEST_SKIP() << "OpenZFS has zvols (FlavourTest.OpenZfsVolumeHasDevZvolNodeAndKeepsData)";
  auto pool = MustCreatePool({NewDisk()});
  auto created = zfs().CreateVolume(Ds(pool.str() + "/vol1"), 32ull << 20, {});
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code(), ErrorCode::kUnimplemented);
  EXPECT_THAT(created.error().message(), HasSubstr("zfs-fuse has no volumes"));
}

TEST_F(FlavourTest, OpenZfsImportWithoutMountingThenMountParentsFirst) {
  if (!IsOpenZfs(zfs())) GTEST_SKIP() << "zfs-fuse has no 'zpool import -N' (FlavourTest.ZfsFuseRefusesImportWithoutMounting)";
  auto pool = MustCreatePool({NewDisk()});
  auto parent = Ds(pool.str() + "/parent");
  auto child = Ds(pool.str() + "/parent/child");
  ASSERT_TRUE(zfs().CreateDataset(child, {}, zfs::CreateParents::kYes));
  std::string file = MountDir(pool.str()) + "/parent/child/data";
  ASSERT_TRUE(WriteFileSynced(file, "after import -N\n"));
  auto exported = RetryWhileBusy("export", [&] { return zfs().ExportPool(pool, zfs::Force::kNo); });
  ASSERT_TRUE(exported) << exported.error().ToString();

  zfs::ImportOptions o;
  o.name = pool;
  o.search_dirs = {disk_dir()};
  o.cachefile = zfs::ImportOptions::Cachefile::kNone;
  o.mount = zfs::Mount::kNo;
  auto imported = zfs().ImportPool(o);
  ASSERT_TRUE(imported) << imported.error().ToString();
  for (const auto& name : {pool.str(), parent.str(), child.str()}) {
    auto got = zfs().GetDataset(name, {"mounted", "canmount"});
    ASSERT_TRUE(got) << got.error().ToString();
    EXPECT_EQ(got->Get("mounted"), "no") << name << " is mounted after import -N";
  }
  EXPECT_FALSE(PathExists(file));

  // Parents before children, as the supervisor's mount phase does.
  for (const auto& ds : {Ds(pool.str()), parent, child}) {
    auto mounted = zfs().MountDataset(ds);
    ASSERT_TRUE(mounted) << mounted.error().ToString();
  }
  auto got = zfs().GetDataset(child.str(), {"mounted"});
  ASSERT_TRUE(got) << got.error().ToString();
  EXPECT_EQ(got->Get("mounted"), "yes");
  EXPECT_TRUE(PathExists(file));
}

TEST_F(FlavourTest, ZfsFuseRefusesImportWithoutMounting) {
  if (IsOpenZfs(zfs())) GTEST_SKIP() << "OpenZFS has 'zpool import -N' (FlavourTest.OpenZfsImportWithoutMountingThenMountParentsFirst)";
  auto pool = MustCreatePool({NewDisk()});
  auto exported = RetryWhileBusy("export", [&] { return zfs().ExportPool(pool, zfs::Force::kNo); });
  ASSERT_TRUE(exported) << exported.error().ToString();
  zfs::ImportOptions o;
  o.name = pool;
  o.search_dirs = {disk_dir()};
  o.mount = zfs::Mount::kNo;
  auto imported = zfs().ImportPool(o);
  ASSERT_FALSE(imported);
  EXPECT_EQ(imported.error().code(), ErrorCode::kUnimplemented);
  EXPECT_THAT(imported.error().message(), HasSubstr("no 'zpool import -N'"));
}

// Sizes: OpenZFS reports exact bytes (`zpool list -p`) that add up; zfs-fuse
// has no -p, and its human sizes ("119M") are parsed back rounded, so only the
// bounds hold there.
TEST_F(FlavourTest, PoolSizesAreExactOnOpenZfs) {
  auto pool = MustCreatePool({NewDisk()});
  auto pools = zfs().ListPools();
  ASSERT_TRUE(pools) << pools.error().ToString();
  const zfs::PoolSummary* p = nullptr;
  for (const auto& s : *pools) {
    if (s.name == pool.str()) p = &s;
  }
  ASSERT_NE(p, nullptr);
  EXPECT_GT(p->size, 64ull << 20);
  EXPECT_LE(p->size, kDiskBytes);
  if (!IsOpenZfs(zfs())) GTEST_SKIP() << "zfs-fuse sizes are rounded (no 'zpool list -p'): bounds checked only";
  EXPECT_EQ(p->size, p->allocated + p->free) << "exact -p numbers add up";
  EXPECT_EQ(p->size % 512, 0u) << "exact bytes, not a rounded human size";
}

// Property sources as both flavours print them in `zfs get -H -p -o ...,source`.
TEST_F(FlavourTest, PropertySourcesDefaultLocalInherited) {
  auto pool = MustCreatePool({NewDisk()});
  auto parent = Ds(pool.str() + "/p");
  auto child = Ds(pool.str() + "/p/c");
  ASSERT_TRUE(zfs().CreateDataset(parent, {Assign("compression=on"), Assign("com.example:tag=x")},
                                  zfs::CreateParents::kNo));
  ASSERT_TRUE(zfs().CreateDataset(child, {}, zfs::CreateParents::kNo));
  auto got = zfs().GetDataset(child.str(), {"compression", "com.example:tag", "atime", "used"});
  ASSERT_TRUE(got) << got.error().ToString();
  const auto& props = got->properties;
  ASSERT_TRUE(props.contains("compression") && props.contains("com.example:tag") && props.contains("atime") &&
              props.contains("used"));
  EXPECT_EQ(props.at("compression").source, zfs::PropertySource::kInherited);
  EXPECT_EQ(props.at("compression").inherited_from, parent.str());
  EXPECT_EQ(props.at("com.example:tag").source, zfs::PropertySource::kInherited);
  EXPECT_EQ(props.at("com.example:tag").inherited_from, parent.str());
  EXPECT_EQ(props.at("atime").source, zfs::PropertySource::kDefault);
  EXPECT_EQ(props.at("used").source, zfs::PropertySource::kNone);
  auto on_parent = zfs().GetDataset(parent.str(), {"compression"});
  ASSERT_TRUE(on_parent) << on_parent.error().ToString();
  EXPECT_EQ(on_parent->properties.at("compression").source, zfs::PropertySource::kLocal);
}

}  // namespace
}  // namespace pk::integration
