// Snapshots and rollback, export/import, and the error codes and messages of
// failed tool runs, through the real adapter.
#include <algorithm>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/lab.h"

namespace pk::integration {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> SnapshotNames(zfs::Zfs& z, const std::string& root) {
  auto listed = z.ListDatasets({.root = root, .types = {zfs::DatasetType::kSnapshot}, .properties = {"name"}});
  EXPECT_TRUE(listed) << listed.error().ToString();
  std::vector<std::string> names;
  if (!listed) return names;
  for (const auto& d : *listed) {
    EXPECT_EQ(d.type, zfs::DatasetType::kSnapshot) << d.name;
    names.push_back(d.name);
  }
  return names;
}

const zfs::PoolSummary* FindPool(const std::vector<zfs::PoolSummary>& pools, const std::string& name) {
  auto it = std::find_if(pools.begin(), pools.end(), [&](const auto& p) { return p.name == name; });
  return it == pools.end() ? nullptr : &*it;
}

using SnapshotTest = LabTest;

TEST_F(SnapshotTest, CreateListAndRollBack) {
  auto pool = MustCreatePool({NewDisk()});
  auto fs = Ds(pool.str() + "/fs");
  ASSERT_TRUE(zfs().CreateDataset(fs, {}, zfs::CreateParents::kNo));
  std::string dir = MountDir(pool.str()) + "/fs";
  ASSERT_TRUE(WriteFileSynced(dir + "/before", "kept\n"));

  auto s1 = Snap(fs.str() + "@s1");
  auto made = zfs().CreateSnapshot(s1, zfs::Recursive::kNo);
  ASSERT_TRUE(made) << made.error().ToString();
  EXPECT_THAT(SnapshotNames(zfs(), pool.str()), ElementsAre(s1.str()));
  // The default listing leaves snapshots out.
  auto fss = zfs().ListDatasets({.root = pool.str(), .properties = {"name"}});
  ASSERT_TRUE(fss) << fss.error().ToString();
  EXPECT_EQ(fss->size(), 2u);

  // zfs-fuse only flushes on fsync: without it the file might not even be
  // in the live dataset when we roll back.
  ASSERT_TRUE(WriteFileSynced(dir + "/after", "gone soon\n"));
  ASSERT_TRUE(PathExists(dir + "/after"));
  auto rolled = RetryWhileBusy("rollback", [&] { return zfs().Rollback(s1, zfs::RollbackMode::kLatestOnly); });
  ASSERT_TRUE(rolled) << rolled.error().ToString();
  EXPECT_FALSE(PathExists(dir + "/after"));
  EXPECT_TRUE(PathExists(dir + "/before"));

  // Rolling back past a newer snapshot needs kDestroyNewer.
  auto s2 = Snap(fs.str() + "@s2");
  auto s3 = Snap(fs.str() + "@s3");
  ASSERT_TRUE(zfs().CreateSnapshot(s2, zfs::Recursive::kNo));
  ASSERT_TRUE(WriteFileSynced(dir + "/between", "x\n"));
  ASSERT_TRUE(zfs().CreateSnapshot(s3, zfs::Recursive::kNo));
  EXPECT_THAT(SnapshotNames(zfs(), fs.str()), ElementsAre(s1.str(), s2.str(), s3.str()));

  rolled = RetryWhileBusy("rollback", [&] { return zfs().Rollback(s1, zfs::RollbackMode::kLatestOnly); });
  ASSERT_FALSE(rolled);
  EXPECT_EQ(rolled.error().code(), ErrorCode::kFailedPrecondition) << rolled.error().ToString();
  EXPECT_THAT(rolled.error().message(), HasSubstr(s1.str()));
  EXPECT_THAT(rolled.error().message(), HasSubstr("more recent snapshots"));
  EXPECT_TRUE(PathExists(dir + "/between"));
  EXPECT_THAT(SnapshotNames(zfs(), fs.str()), ElementsAre(s1.str(), s2.str(), s3.str()));

  rolled = RetryWhileBusy("rollback", [&] { return zfs().Rollback(s2, zfs::RollbackMode::kDestroyNewer); });
  ASSERT_TRUE(rolled) << rolled.error().ToString();
  EXPECT_THAT(SnapshotNames(zfs(), fs.str()), ElementsAre(s1.str(), s2.str()));
  EXPECT_FALSE(PathExists(dir + "/between"));
  EXPECT_TRUE(PathExists(dir + "/before"));

  // Destroying a snapshot that is gone is NotFound.
  auto destroyed = RetryWhileBusy("destroy snapshot", [&] { return zfs().DestroySnapshot(s3, zfs::Recursive::kNo); });
  ASSERT_FALSE(destroyed);
  EXPECT_EQ(destroyed.error().code(), ErrorCode::kNotFound) << destroyed.error().ToString();
  EXPECT_THAT(destroyed.error().message(), HasSubstr(s3.str()));
}

using ImportTest = LabTest;

TEST_F(ImportTest, ExportThenImportByGuidAndUnderNewName) {
  auto disks = NewDisks(2);
  auto pool = MustCreatePool({"mirror", disks[0], disks[1]});
  auto fs = Ds(pool.str() + "/fs");
  ASSERT_TRUE(zfs().CreateDataset(fs, {}, zfs::CreateParents::kNo));
  std::string file = MountDir(pool.str()) + "/fs/data";
  ASSERT_TRUE(WriteFileSynced(file, "survives export\n"));

  auto pools = zfs().ListPools();
  ASSERT_TRUE(pools) << pools.error().ToString();
  const auto* summary = FindPool(*pools, pool.str());
  ASSERT_NE(summary, nullptr);
  uint64_t guid = summary->guid;
  ASSERT_NE(guid, 0u);

  auto exported = RetryWhileBusy("export", [&] { return zfs().ExportPool(pool, zfs::Force::kNo); });
  ASSERT_TRUE(exported) << exported.error().ToString();
  pools = zfs().ListPools();
  ASSERT_TRUE(pools) << pools.error().ToString();
  EXPECT_EQ(FindPool(*pools, pool.str()), nullptr);
  EXPECT_FALSE(PathExists(file));

  auto importable = zfs().ListImportable({disk_dir()});
  ASSERT_TRUE(importable) << importable.error().ToString();
  ASSERT_EQ(importable->size(), 1u);
  const auto& found = importable->front();
  EXPECT_EQ(found.name, pool.str());
  EXPECT_EQ(found.guid, guid);
  EXPECT_EQ(found.state, "ONLINE");
  ASSERT_EQ(found.root.children.size(), 1u);
  EXPECT_EQ(found.root.children[0].type, "mirror");
  ASSERT_EQ(found.root.children[0].children.size(), 2u);
  EXPECT_EQ(found.root.children[0].children[0].path, disks[0]);
  EXPECT_EQ(found.root.children[0].children[1].path, disks[1]);

  // Import by GUID, keeping the name, without touching the cache file.
  zfs::ImportOptions by_guid;
  by_guid.guid = guid;
  by_guid.search_dirs = {disk_dir()};
  by_guid.cachefile = zfs::ImportOptions::Cachefile::kNone;
  auto imported = zfs().ImportPool(by_guid);
  ASSERT_TRUE(imported) << imported.error().ToString();
  pools = zfs().ListPools();
  ASSERT_TRUE(pools) << pools.error().ToString();
  summary = FindPool(*pools, pool.str());
  ASSERT_NE(summary, nullptr);
  EXPECT_EQ(summary->guid, guid);
  EXPECT_TRUE(PathExists(file));

  // Export again and import by name under a new name: same GUID, same data.
  exported = RetryWhileBusy("export", [&] { return zfs().ExportPool(pool, zfs::Force::kNo); });
  ASSERT_TRUE(exported) << exported.error().ToString();
  auto new_name = NewPoolName();
  zfs::ImportOptions renamed;
  renamed.name = pool;
  renamed.new_name = new_name;
  renamed.search_dirs = {disk_dir()};
  renamed.cachefile = zfs::ImportOptions::Cachefile::kNone;
  imported = zfs().ImportPool(renamed);
  ASSERT_TRUE(imported) << imported.error().ToString();
  pools = zfs().ListPools();
  ASSERT_TRUE(pools) << pools.error().ToString();
  EXPECT_EQ(FindPool(*pools, pool.str()), nullptr);
  summary = FindPool(*pools, new_name.str());
  ASSERT_NE(summary, nullptr);
  EXPECT_EQ(summary->guid, guid);
  auto got = zfs().GetDataset(new_name.str() + "/fs", {"mountpoint", "mounted"});
  ASSERT_TRUE(got) << got.error().ToString();
  // The mountpoint is a property of the root dataset: it keeps the old path.
  EXPECT_EQ(got->Get("mountpoint"), MountDir(pool.str()) + "/fs");
  EXPECT_EQ(got->Get("mounted"), "yes");
  EXPECT_TRUE(PathExists(file));
  auto st = zfs().GetPoolStatus(new_name);
  ASSERT_TRUE(st) << st.error().ToString();
  EXPECT_EQ(st->state, "ONLINE");
}

using ErrorTest = LabTest;

TEST_F(ErrorTest, ImportMissingPoolIsNotFound) {
  auto missing = Pool("pkitnosuchpool");
  zfs::ImportOptions o;
  o.name = missing;
  o.search_dirs = {disk_dir()};
  auto r = zfs().ImportPool(o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kNotFound) << r.error().ToString();
  EXPECT_THAT(r.error().message(), HasSubstr("'pkitnosuchpool'"));
  EXPECT_THAT(r.error().message(), HasSubstr("no such pool available"));
}

// zfs-fuse's `zpool import -d DIR` exits 1 without a word when DIR holds no
// pool; that is an empty list, not an error.
TEST_F(ErrorTest, ListImportableOfEmptyDirectoryIsEmpty) {
  auto importable = zfs().ListImportable({disk_dir()});
  ASSERT_TRUE(importable) << importable.error().ToString();
  EXPECT_TRUE(importable->empty());
}

TEST_F(ErrorTest, MissingPoolOperationsAreNotFound) {
  auto missing = Pool("pkitnosuchpool");
  auto st = zfs().GetPoolStatus(missing);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kNotFound) << st.error().ToString();
  EXPECT_THAT(st.error().message(), HasSubstr("pkitnosuchpool"));
  auto ex = zfs().ExportPool(missing, zfs::Force::kNo);
  ASSERT_FALSE(ex);
  EXPECT_EQ(ex.error().code(), ErrorCode::kNotFound) << ex.error().ToString();
  EXPECT_THAT(ex.error().message(), HasSubstr("no such pool"));
  auto de = zfs().DestroyPool(missing, zfs::Force::kYes);
  ASSERT_FALSE(de);
  EXPECT_EQ(de.error().code(), ErrorCode::kNotFound) << de.error().ToString();
}

TEST_F(ErrorTest, DatasetErrorsNameTheObjectAndQuoteTheTool) {
  auto pool = MustCreatePool({NewDisk()});
  std::string p = pool.str();

  auto missing = Ds(p + "/nosuch");
  auto destroyed = zfs().DestroyDataset(missing, zfs::Recursive::kNo);
  ASSERT_FALSE(destroyed);
  EXPECT_EQ(destroyed.error().code(), ErrorCode::kNotFound) << destroyed.error().ToString();
  EXPECT_THAT(destroyed.error().message(), HasSubstr("'" + missing.str() + "'"));
  EXPECT_THAT(destroyed.error().message(), HasSubstr("dataset does not exist"));

  auto got = zfs().GetDataset(missing.str(), {});
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code(), ErrorCode::kNotFound) << got.error().ToString();
  EXPECT_THAT(got.error().message(), HasSubstr(missing.str()));

  auto data = Ds(p + "/data");
  ASSERT_TRUE(zfs().CreateDataset(data, {}, zfs::CreateParents::kNo));
  auto again = zfs().CreateDataset(data, {}, zfs::CreateParents::kNo);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists) << again.error().ToString();
  EXPECT_THAT(again.error().message(), HasSubstr("'" + data.str() + "'"));
  EXPECT_THAT(again.error().message(), HasSubstr("dataset already exists"));

  auto snap = Snap(data.str() + "@s");
  ASSERT_TRUE(zfs().CreateSnapshot(snap, zfs::Recursive::kNo));
  auto snap_again = zfs().CreateSnapshot(snap, zfs::Recursive::kNo);
  ASSERT_FALSE(snap_again);
  EXPECT_EQ(snap_again.error().code(), ErrorCode::kAlreadyExists) << snap_again.error().ToString();
  EXPECT_THAT(snap_again.error().message(), HasSubstr(snap.str()));

  // A dataset with a snapshot cannot go without -r.
  auto busy = RetryWhileBusy("destroy dataset", [&] { return zfs().DestroyDataset(data, zfs::Recursive::kNo); });
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().code(), ErrorCode::kFailedPrecondition) << busy.error().ToString();
  EXPECT_THAT(busy.error().message(), HasSubstr(data.str()));
  auto gone = RetryWhileBusy("destroy dataset", [&] { return zfs().DestroyDataset(data, zfs::Recursive::kYes); });
  ASSERT_TRUE(gone) << gone.error().ToString();

  auto bad = zfs().SetProperties(p, {Assign("compression=bogus")});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument) << bad.error().ToString();
  EXPECT_THAT(bad.error().message(), HasSubstr("'compression' must be one of"));
}

TEST_F(ErrorTest, CreateExistingPoolIsAlreadyExists) {
  auto pool = MustCreatePool({NewDisk()});
  zfs::CreatePoolOptions o;
  o.mountpoint = MountDir(pool.str() + "-again");
  auto spec = zfs::VdevSpec::Parse({NewDisk()});
  ASSERT_TRUE(spec);
  auto r = zfs().CreatePool(pool, *spec, o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kAlreadyExists) << r.error().ToString();
  EXPECT_THAT(r.error().message(), HasSubstr("'" + pool.str() + "'"));
  EXPECT_THAT(r.error().message(), HasSubstr("pool already exists"));
}

}  // namespace
}  // namespace pk::integration
