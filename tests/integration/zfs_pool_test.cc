// Pools of every vdev layout, created through the real adapter on lab disks,
// then read back with GetPoolStatus and ListPools.
#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/lab.h"

namespace pk::integration {
namespace {

using ::testing::SizeIs;

std::string GroupType(zfs::VdevGroup::Kind kind) {
  switch (kind) {
    case zfs::VdevGroup::Kind::kSingle: return "file";
    case zfs::VdevGroup::Kind::kMirror: return "mirror";
    case zfs::VdevGroup::Kind::kRaidz1: return "raidz1";
    case zfs::VdevGroup::Kind::kRaidz2: return "raidz2";
    case zfs::VdevGroup::Kind::kRaidz3: return "raidz3";
  }
  return "?";
}

void ExpectLeaf(const zfs::Vdev& v, const std::string& path, const std::string& state) {
  EXPECT_EQ(v.type, "file") << v.name;
  EXPECT_EQ(v.path, path);
  EXPECT_EQ(v.name, path);
  EXPECT_EQ(v.state, state) << v.name;
  EXPECT_TRUE(v.children.empty()) << v.name;
}

// The top-level vdevs `zpool status` should show for `groups`: a single disk
// is a leaf right under its section, a mirror/raidz a "<type>-N" node.
void ExpectGroups(const std::vector<zfs::Vdev>& got, const std::vector<zfs::VdevGroup>& groups) {
  size_t i = 0;
  for (const auto& g : groups) {
    if (g.kind == zfs::VdevGroup::Kind::kSingle) {
      for (const auto& d : g.devices) {
        ASSERT_LT(i, got.size()) << "missing leaf " << d;
        ExpectLeaf(got[i++], d, "ONLINE");
      }
      continue;
    }
    ASSERT_LT(i, got.size()) << "missing " << GroupType(g.kind);
    const auto& node = got[i++];
    EXPECT_EQ(node.type, GroupType(g.kind));
    EXPECT_TRUE(node.name.starts_with(GroupType(g.kind) + "-")) << node.name;
    EXPECT_EQ(node.state, "ONLINE");
    EXPECT_TRUE(node.path.empty());
    ASSERT_THAT(node.children, SizeIs(g.devices.size())) << node.name;
    for (size_t j = 0; j < g.devices.size(); ++j) ExpectLeaf(node.children[j], g.devices[j], "ONLINE");
  }
  EXPECT_EQ(i, got.size()) << "unexpected extra vdevs";
}

struct Layout {
  std::string name;
  // zpool vdev words; "D" stands for a fresh lab disk.
  std::vector<std::string> words;
};

void PrintTo(const Layout& layout, std::ostream* os) { *os << layout.name; }

class PoolLayoutTest : public LabTest, public ::testing::WithParamInterface<Layout> {};

TEST_P(PoolLayoutTest, CreateStatusList) {
  std::vector<std::string> words;
  for (const auto& w : GetParam().words) words.push_back(w == "D" ? NewDisk() : w);
  auto spec = zfs::VdevSpec::Parse(words);
  ASSERT_TRUE(spec) << spec.error().ToString();

  auto pool = NewPoolName();
  auto created = CreatePool(pool, *spec);
  ASSERT_TRUE(created) << created.error().ToString();

  auto st = zfs().GetPoolStatus(pool);
  ASSERT_TRUE(st) << st.error().ToString();
  EXPECT_EQ(st->name, pool.str());
  EXPECT_EQ(st->state, "ONLINE");
  EXPECT_EQ(st->status, "");
  EXPECT_EQ(st->root.name, pool.str());
  EXPECT_EQ(st->root.type, "root");
  EXPECT_EQ(st->root.state, "ONLINE");
  EXPECT_THAT(st->errors, ::testing::HasSubstr("No known data errors"));
  ExpectGroups(st->root.children, spec->data);
  ExpectGroups(st->logs, spec->logs);
  EXPECT_TRUE(st->caches.empty());
  ASSERT_THAT(st->spares, SizeIs(spec->spares.size()));
  for (size_t i = 0; i < spec->spares.size(); ++i) ExpectLeaf(st->spares[i], spec->spares[i], "AVAIL");

  auto pools = zfs().ListPools();
  ASSERT_TRUE(pools) << pools.error().ToString();
  auto it = std::find_if(pools->begin(), pools->end(),
                         [&](const zfs::PoolSummary& p) { return p.name == pool.str(); });
  ASSERT_NE(it, pools->end()) << pool.str() << " not in ListPools";
  EXPECT_NE(it->guid, 0u);
  EXPECT_EQ(it->health, "ONLINE");
  EXPECT_GT(it->size, 0u);
  EXPECT_GT(it->free, 0u);
  EXPECT_EQ(it->altroot, "");
  // No two pools share a GUID.
  EXPECT_EQ(std::count_if(pools->begin(), pools->end(),
                          [&](const zfs::PoolSummary& p) { return p.guid == it->guid; }),
            1);
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, PoolLayoutTest,
    ::testing::Values(Layout{"Stripe1", {"D"}}, Layout{"Stripe2", {"D", "D"}},
                      Layout{"Mirror", {"mirror", "D", "D"}},
                      Layout{"Raidz1", {"raidz1", "D", "D", "D"}},
                      Layout{"Raidz2", {"raidz2", "D", "D", "D", "D"}},
                      Layout{"Raidz3", {"raidz3", "D", "D", "D", "D", "D"}},
                      Layout{"MirrorSpareLog", {"mirror", "D", "D", "spare", "D", "log", "D"}}),
    [](const ::testing::TestParamInfo<Layout>& info) { return info.param.name; });

using PoolTest = LabTest;

// zfs-fuse refuses a plain file as a cache device, so the cache is a loop
// device over a lab disk (skipped where losetup cannot attach one).
TEST_F(PoolTest, MirrorWithCacheOnLoopDevice) {
  auto loop = AttachLoop(NewDisk());
  if (!loop) GTEST_SKIP() << "no loop device: " << loop.error().ToString();
  auto disks = NewDisks(2);
  auto spec = zfs::VdevSpec::Parse({"mirror", disks[0], disks[1], "cache", *loop});
  ASSERT_TRUE(spec) << spec.error().ToString();
  auto pool = NewPoolName();
  auto created = CreatePool(pool, *spec);
  ASSERT_TRUE(created) << created.error().ToString();

  auto st = zfs().GetPoolStatus(pool);
  ASSERT_TRUE(st) << st.error().ToString();
  ExpectGroups(st->root.children, spec->data);
  ASSERT_THAT(st->caches, SizeIs(1));
  // zfs-fuse prints /dev devices by their short name ("loop0").
  const auto& cache = st->caches[0];
  std::string short_name = loop->substr(std::string("/dev/").size());
  EXPECT_TRUE(cache.name == *loop || cache.name == short_name) << cache.name;
  EXPECT_EQ(cache.type, "disk");
  EXPECT_EQ(cache.state, "ONLINE");
}

TEST_F(PoolTest, CreateRejectsPlainFileAsCache) {
  auto disks = NewDisks(3);
  auto spec = zfs::VdevSpec::Parse({"mirror", disks[0], disks[1], "cache", disks[2]});
  ASSERT_TRUE(spec) << spec.error().ToString();
  auto pool = NewPoolName();
  auto created = CreatePool(pool, *spec);
  if (zfs().dialect() != zfs::Dialect::kZfsFuse) GTEST_SKIP() << "only zfs-fuse refuses file caches";
  ASSERT_FALSE(created);
  EXPECT_THAT(created.error().message(), ::testing::HasSubstr(pool.str()));
  EXPECT_THAT(created.error().message(), ::testing::HasSubstr("cache device must be a disk"));
}

// zfs-fuse wedges for good when two mounts interleave (see zfs/mount_lock.h):
// pools imported and exported four at a time through the adapter, as a
// daemon's pool services do, and every mountpoint must still answer after
// each round. Without the mount lock the first rounds wedged it (seen here:
// `umount` stuck in the mountpoint's stat, every FUSE filesystem silent).
TEST_F(PoolTest, ConcurrentImportsAndExportsKeepEveryMountAnswering) {
  constexpr int kPools = 4, kRounds = 3;
  std::vector<zfs::PoolName> pools;
  for (int i = 0; i < kPools; ++i) {
    pools.push_back(MustCreatePool({NewDisk()}));
    for (const char* child : {"/a", "/b"}) {
      auto made = zfs().CreateDataset(Ds(pools.back().str() + child), {}, zfs::CreateParents::kNo);
      ASSERT_TRUE(made) << made.error().ToString();
    }
  }
  auto all_at_once = [&](auto op) {
    std::vector<Status> results(pools.size());
    std::vector<std::thread> threads;
    for (size_t i = 0; i < pools.size(); ++i) threads.emplace_back([&, i] { results[i] = op(pools[i]); });
    for (auto& t : threads) t.join();
    for (size_t i = 0; i < pools.size(); ++i) EXPECT_TRUE(results[i]) << pools[i].str() << ": " << results[i].error().ToString();
  };
  for (int round = 1; round <= kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    all_at_once([&](const zfs::PoolName& p) {
      return RetryWhileBusy("export", [&] { return zfs().ExportPool(p, zfs::Force::kNo); });
    });
    all_at_once([&](const zfs::PoolName& p) {
      zfs::ImportOptions o;
      o.name = p;
      o.search_dirs = {disk_dir()};
      return zfs().ImportPool(o);
    });
    for (const auto& p : pools) {
      for (const char* child : {"", "/a", "/b"}) {
        // `stat` in a child with a deadline: a wedged zfs-fuse never answers.
        auto r = runner().Run({"/usr/bin/stat", {"-c", "%i", MountDir(p.str()) + child}, {}, std::nullopt,
                               std::chrono::seconds(20)});
        ASSERT_TRUE(r) << r.error().ToString();
        ASSERT_FALSE(r->timed_out) << MountDir(p.str()) << child << " stopped answering: zfs-fuse is wedged";
        EXPECT_TRUE(r->status.Success()) << MountDir(p.str()) << child << ": " << r->err;
      }
    }
  }
}

}  // namespace
}  // namespace pk::integration
