// Unit tests of the CLI adapter: the exact argv it builds for each dialect, the
// environment it runs tools in, and how tool failures become Errors. The tool
// outputs fed to it are the real zfs-fuse captures under tests/data/zfs-fuse/
// where one exists; inline outputs say where they come from.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "testing/fake_process_runner.h"
#include "zfs/label.h"
#include "zfs/mount_lock.h"
#include "zfs/zfs.h"

namespace pk::zfs {
namespace {

using pk::testing::FakeProcessRunner;
using Argv = std::vector<std::string>;

constexpr const char* kZpool = "/sbin/zpool";
constexpr const char* kZfs = "/sbin/zfs";

std::string DataDir() {
#ifdef PK_TEST_DATA_DIR
  return PK_TEST_DATA_DIR;
#else
  // This file is src/zfs/cli_zfs_test.cc; the golden files are in tests/data/.
  return (std::filesystem::path(__FILE__).parent_path() / ".." / ".." / "tests" / "data").string();
#endif
}

std::string Golden(const std::string& relative) {
  std::string path = DataDir() + "/" + relative;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open golden file " << path;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

Argv ArgvOf(const sys::Command& c) {
  Argv argv = {c.program};
  argv.insert(argv.end(), c.args.begin(), c.args.end());
  return argv;
}

std::vector<Argv> AllArgv(const FakeProcessRunner& runner) {
  std::vector<Argv> out;
  for (const auto& c : runner.calls()) out.push_back(ArgvOf(c));
  return out;
}

PropertyList Props(std::initializer_list<const char*> assignments) {
  PropertyList list;
  for (const char* a : assignments) list.push_back(PropertyAssignment::Parse(a).value());
  return list;
}

PoolName Pool(const char* name) { return PoolName::Parse(name).value(); }
DatasetName Ds(const char* name) { return DatasetName::Parse(name).value(); }
SnapshotName Snap(const char* name) { return SnapshotName::Parse(name).value(); }

class CliZfsTest : public ::testing::TestWithParam<Dialect> {
 protected:
  void SetUp() override {
    zfs_ = MakeCliZfsForDialect(runner_, GetParam(), ZfsToolPaths{kZpool, kZfs},
                                ZfsOptions{std::chrono::seconds(42), std::chrono::milliseconds(0), lock_path_});
  }
  void TearDown() override {
    EXPECT_TRUE(runner_.UnmetExpectations().empty());
    std::filesystem::remove(lock_path_);
  }

  bool IsOpenZfs() const { return GetParam() == Dialect::kOpenZfs2; }
  // Every command succeeds silently.
  void AllSucceed() {
    runner_.SetDefaultHandler([](const sys::Command&) { return FakeProcessRunner::Exited(0); });
  }
  Argv OnlyCall() {
    auto calls = AllArgv(runner_);
    EXPECT_EQ(calls.size(), 1u);
    return calls.empty() ? Argv{} : calls[0];
  }

  std::string lock_path_ = (std::filesystem::temp_directory_path() /
                            ("pk-cli-zfs-test-mount.lock." + std::to_string(::getpid())))
                               .string();
  FakeProcessRunner runner_;
  std::unique_ptr<Zfs> zfs_;
};

INSTANTIATE_TEST_SUITE_P(BothDialects, CliZfsTest,
                         ::testing::Values(Dialect::kOpenZfs2, Dialect::kZfsFuse),
                         [](const auto& info) {
                           return info.param == Dialect::kOpenZfs2 ? "OpenZfs2" : "ZfsFuse";
                         });

// ------------------------------------------------------------ environment

TEST_P(CliZfsTest, RunsToolsByAbsolutePathWithFixedEnvironmentAndTimeout) {
  AllSucceed();
  ASSERT_TRUE(zfs_->DestroyPool(Pool("tank"), Force::kNo));
  ASSERT_TRUE(zfs_->DestroyDataset(Ds("tank/a"), Recursive::kNo));
  auto calls = runner_.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].program, kZpool);
  EXPECT_EQ(calls[1].program, kZfs);
  for (const auto& c : calls) {
    EXPECT_EQ(c.env, (std::vector<std::string>{
                         "LC_ALL=C", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}));
    EXPECT_EQ(c.timeout, std::chrono::seconds(42));
    EXPECT_FALSE(c.stdin_data.has_value());
  }
  EXPECT_EQ(zfs_->dialect(), GetParam());
}

// Two mounts at once wedge zfs-fuse (see mount_lock.h): while another
// process holds the mount lock, a mounting command waits for it (here until
// its deadline) and never runs; one that cannot mount runs at once. OpenZFS
// takes no lock.
TEST_P(CliZfsTest, OnZfsFuseMountingCommandsWaitForTheMountLock) {
  AllSucceed();
  zfs_ = MakeCliZfsForDialect(runner_, GetParam(), ZfsToolPaths{kZpool, kZfs},
                              ZfsOptions{std::chrono::milliseconds(150), std::chrono::milliseconds(0), lock_path_});
  auto held = MountLock::Acquire(lock_path_, std::chrono::steady_clock::now());
  ASSERT_TRUE(held) << held.error().ToString();

  ImportOptions import;
  import.name = Pool("tank");
  auto imported = zfs_->ImportPool(import);
  auto created = zfs_->CreateDataset(Ds("tank/a"), {}, CreateParents::kNo);
  auto exported = zfs_->ExportPool(Pool("tank"), Force::kNo);
  if (IsOpenZfs()) {
    EXPECT_TRUE(imported) << imported.error().ToString();
    EXPECT_TRUE(created) << created.error().ToString();
    EXPECT_EQ(runner_.calls().size(), 3u);
    return;
  }
  ASSERT_FALSE(imported);
  EXPECT_EQ(imported.error().code(), ErrorCode::kDeadlineExceeded);
  EXPECT_NE(imported.error().message().find("import pool 'tank'"), std::string::npos) << imported.error().message();
  EXPECT_NE(imported.error().message().find(lock_path_), std::string::npos) << imported.error().message();
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code(), ErrorCode::kDeadlineExceeded);
  EXPECT_TRUE(exported) << exported.error().ToString();
  EXPECT_EQ(AllArgv(runner_), (std::vector<Argv>{{kZpool, "export", "tank"}}));
}

// ------------------------------------------------------------------ pools

TEST_P(CliZfsTest, CreatePoolWithEveryOption) {
  // zfs-fuse prints "Defaulting to 4K blocksize" on stderr also on success
  // (create-stripe1.err, exit 0): that is not a failure.
  runner_.Expect({"zpool", "create"}, FakeProcessRunner::Exited(0, "", Golden("zfs-fuse/create-stripe1.err")));
  auto spec = VdevSpec::Parse({"mirror", "/dev/sda", "/dev/sdb", "spare", "/dev/sdc", "log", "/dev/sdd",
                               "cache", "/dev/sde"});
  ASSERT_TRUE(spec) << spec.error().message();
  CreatePoolOptions o;
  o.force = Force::kYes;
  o.mountpoint = "/srv/tank";
  o.altroot = "/mnt";
  o.pool_properties = {{"ashift", "12"}, {"comment", "lab"}};
  o.root_properties = Props({"compression=gzip", "com.example:owner=alice"});
  auto st = zfs_->CreatePool(Pool("tank"), *spec, o);
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ(OnlyCall(), (Argv{kZpool, "create", "-f", "-m", "/srv/tank", "-R", "/mnt", "-o", "ashift=12",
                              "-o", "comment=lab", "-O", "compression=gzip", "-O",
                              "com.example:owner=alice", "tank", "mirror", "/dev/sda", "/dev/sdb", "spare",
                              "/dev/sdc", "log", "/dev/sdd", "cache", "/dev/sde"}));
}

TEST_P(CliZfsTest, CreatePoolMinimal) {
  AllSucceed();
  auto spec = VdevSpec::Parse({"/var/tmp/d0.img"});
  ASSERT_TRUE(spec);
  ASSERT_TRUE(zfs_->CreatePool(Pool("lab1"), *spec, {}));
  EXPECT_EQ(OnlyCall(), (Argv{kZpool, "create", "lab1", "/var/tmp/d0.img"}));
}

TEST_P(CliZfsTest, ImportByNameWithSearchDirsAndOptions) {
  AllSucceed();
  ImportOptions o;
  o.name = Pool("tank");
  o.search_dirs = {"/dev/disk/by-id", "/var/tmp/disks"};
  o.cachefile = ImportOptions::Cachefile::kNone;
  o.altroot = "/mnt/alt";
  o.read_only = ReadOnly::kYes;
  o.force = Force::kYes;
  ASSERT_TRUE(zfs_->ImportPool(o));
  EXPECT_EQ(OnlyCall(), (Argv{kZpool, "import", "-d", "/dev/disk/by-id", "-d", "/var/tmp/disks", "-o",
                              "cachefile=none", "-R", "/mnt/alt", "-o", "readonly=on", "-f", "tank"}));
}

TEST_P(CliZfsTest, ImportByGuidWithCachefilePathAndNewName) {
  AllSucceed();
  ImportOptions o;
  o.guid = 14495154661671801357ull;  // from zpool-import-d-one.out
  o.new_name = Pool("renamed");
  o.cachefile = ImportOptions::Cachefile::kPath;
  o.cachefile_path = "/etc/poolkeeper/pools.cache";
  ASSERT_TRUE(zfs_->ImportPool(o));
  EXPECT_EQ(OnlyCall(), (Argv{kZpool, "import", "-o", "cachefile=/etc/poolkeeper/pools.cache",
                              "14495154661671801357", "renamed"}));
}

// Issue 17 item 7: an import refused because another system used the pool
// last carries who that was according to the pool's label (zdb -l of a
// member found through the import listing), which the cluster's forced-import
// rule requires.
TEST(CliZfsLabelTest, AnImportRefusedAsInUseNamesTheLastImporterFromTheLabel) {
  FakeProcessRunner runner;
  auto zfs = MakeCliZfsForDialect(runner, Dialect::kZfsFuse, ZfsToolPaths{kZpool, kZfs},
                                  ZfsOptions{std::chrono::seconds(42), std::chrono::milliseconds(0)});
  const std::string dir = "/var/tmp/pk-lab-guest/cap";
  runner.Expect({kZpool, "import", "-d", dir, "pkglbl5567"},
                FakeProcessRunner::Exited(1, "", "cannot import 'pkglbl5567': pool may be in use from other system, it "
                                                 "was last accessed by vm (hostid: 0x7f0100) on Mon Dec  7 03:00:00 2026\n"
                                                 "use '-f' to import anyway\n"));
  runner.Expect({kZpool, "import", "-d", dir},
                FakeProcessRunner::Exited(0, Golden("zfs-fuse/zpool-import-d-label.out")));
  runner.Expect({"/sbin/zdb", "-l", dir + "/a"}, FakeProcessRunner::Exited(0, Golden("zfs-fuse/zdb-l-exported.out")));
  ImportOptions o;
  o.name = Pool("pkglbl5567");
  o.search_dirs = {dir};
  auto st = zfs->ImportPool(o);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message().find("in use from other system"), std::string::npos) << st.error().message();
  EXPECT_NE(st.error().message().find("; label of '" + dir + "/a': last imported by host 'vm' (hostid 0x007f0100), "
                                      "state exported, txg 12"),
            std::string::npos)
      << st.error().message();
  EXPECT_TRUE(runner.UnmetExpectations().empty());

  // Any other failure is left as it is, without reading labels.
  runner.Expect({kZpool, "import"}, FakeProcessRunner::Exited(1, "", "cannot import 'tank': no such pool available\n"));
  ImportOptions missing;
  missing.name = Pool("tank");
  auto gone = zfs->ImportPool(missing);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().message().find("label of"), std::string::npos) << gone.error().message();
  EXPECT_TRUE(runner.UnmetExpectations().empty());
  EXPECT_EQ(runner.calls().size(), 4u);
}

// The same on OpenZFS, from the guest's MMP setup: the refusal after the
// other host died, and while it is alive (MMP, also forced); zdb exits 2 on a
// device without a label, which is NotFound, not a tool failure.
TEST(CliZfsLabelTest, OpenZfsRefusalsCarryTheLabelAndANoLabelDeviceIsNotFound) {
  FakeProcessRunner runner;
  auto zfs = MakeCliZfsForDialect(runner, Dialect::kOpenZfs2, ZfsToolPaths{kZpool, kZfs},
                                  ZfsOptions{std::chrono::seconds(42), std::chrono::milliseconds(0)});
  const std::string dir = "/mnt/pk/peer/jbod";
  for (const char* refusal : {"openzfs-2/err-zpool-import-in-use.err", "openzfs-2/err-zpool-import-f-mmp-active.err",
                              "openzfs-2/err-zpool-import-mmp-active.err"}) {
    runner.Expect({kZpool, "import", "-d", dir, "pkmmp"}, FakeProcessRunner::Exited(1, "", Golden(refusal)));
    runner.Expect({kZpool, "import", "-d", dir}, FakeProcessRunner::Exited(0, Golden("openzfs-2/zpool-import-d-in-use.out")));
    runner.Expect({"/sbin/zdb", "-l", dir + "/mmp.img"},
                  FakeProcessRunner::Exited(0, Golden("openzfs-2/zdb-l-mmp-peer.out")));
    ImportOptions o;
    o.name = Pool("pkmmp");
    o.search_dirs = {dir};
    auto st = zfs->ImportPool(o);
    ASSERT_FALSE(st) << refusal;
    EXPECT_NE(st.error().message().find("; label of '" + dir + "/mmp.img': last imported by host 'pk-peer' (hostid "
                                        "0x00bee002), state active, txg 4"),
              std::string::npos)
        << st.error().message();
    EXPECT_TRUE(runner.UnmetExpectations().empty()) << refusal;
  }
  runner.Expect({"/sbin/zdb", "-l", "/zeros"}, FakeProcessRunner::Exited(2, Golden("openzfs-2/zdb-l-no-label.out")));
  const ZfsSetup setup{Dialect::kOpenZfs2, ZfsToolPaths{kZpool, kZfs}};
  auto none = ReadLabel(runner, setup, "/zeros");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), ErrorCode::kNotFound) << none.error().message();
  EXPECT_EQ(ReadLabel(runner, setup, "relative").error().code(), ErrorCode::kInvalidArgument);
  // zfs-fuse has no MMP: nothing runs.
  const ZfsSetup fuse{Dialect::kZfsFuse, ZfsToolPaths{kZpool, kZfs}};
  auto mmp = EnableMultihost(runner, fuse, Pool("tank"));
  ASSERT_FALSE(mmp);
  EXPECT_EQ(mmp.error().code(), ErrorCode::kUnimplemented);
  EXPECT_NE(mmp.error().message().find("'tank'"), std::string::npos) << mmp.error().message();
}

TEST_P(CliZfsTest, ImportWithoutMountingIsOpenZfsOnly) {
  AllSucceed();
  ImportOptions o;
  o.name = Pool("tank");
  o.mount = Mount::kNo;
  auto st = zfs_->ImportPool(o);
  if (IsOpenZfs()) {
    ASSERT_TRUE(st) << st.error().message();
    EXPECT_EQ(OnlyCall(), (Argv{kZpool, "import", "-N", "tank"}));
  } else {
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code(), ErrorCode::kUnimplemented);
    EXPECT_NE(st.error().message().find("'tank'"), std::string::npos) << st.error().message();
    EXPECT_TRUE(runner_.calls().empty());
  }
}

TEST_P(CliZfsTest, ImportRefusesBadOptionsWithoutRunningAnything) {
  AllSucceed();
  ImportOptions none;
  EXPECT_EQ(zfs_->ImportPool(none).error().code(), ErrorCode::kInvalidArgument);
  ImportOptions rel_dir;
  rel_dir.name = Pool("tank");
  rel_dir.search_dirs = {"disks"};
  EXPECT_EQ(zfs_->ImportPool(rel_dir).error().code(), ErrorCode::kInvalidArgument);
  ImportOptions rel_cache;
  rel_cache.name = Pool("tank");
  rel_cache.cachefile = ImportOptions::Cachefile::kPath;
  rel_cache.cachefile_path = "pools.cache";
  EXPECT_EQ(zfs_->ImportPool(rel_cache).error().code(), ErrorCode::kInvalidArgument);
  ImportOptions rel_root;
  rel_root.name = Pool("tank");
  rel_root.altroot = "mnt";
  EXPECT_EQ(zfs_->ImportPool(rel_root).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(runner_.calls().empty());
}

TEST_P(CliZfsTest, ListImportableParsesTheListing) {
  runner_.Expect({"zpool", "import"},
                 FakeProcessRunner::Exited(0, Golden("zfs-fuse/zpool-import-d-three-degraded.out")));
  auto pools = zfs_->ListImportable({"/var/tmp/poolkeeper-lab/disks"});
  ASSERT_TRUE(pools) << pools.error().message();
  EXPECT_EQ(OnlyCall(), (Argv{kZpool, "import", "-d", "/var/tmp/poolkeeper-lab/disks"}));
  ASSERT_EQ(pools->size(), 3u);
  EXPECT_EQ((*pools)[1].name, "gdegraded");
  EXPECT_EQ((*pools)[1].state, "DEGRADED");
}

TEST_P(CliZfsTest, ListImportableWithNothingToImportIsEmpty) {
  // OpenZFS's wording; not captured on zfs-fuse.
  runner_.Expect({"zpool", "import"}, FakeProcessRunner::Exited(1, "", "no pools available to import\n"));
  auto pools = zfs_->ListImportable({"/srv/disks"});
  ASSERT_TRUE(pools) << pools.error().message();
  EXPECT_TRUE(pools->empty());
}

TEST_P(CliZfsTest, ExportAndDestroyWithAndWithoutForce) {
  AllSucceed();
  ASSERT_TRUE(zfs_->ExportPool(Pool("tank"), Force::kNo));
  ASSERT_TRUE(zfs_->ExportPool(Pool("tank"), Force::kYes));
  ASSERT_TRUE(zfs_->DestroyPool(Pool("tank"), Force::kNo));
  ASSERT_TRUE(zfs_->DestroyPool(Pool("tank"), Force::kYes));
  EXPECT_EQ(AllArgv(runner_), (std::vector<Argv>{{kZpool, "export", "tank"},
                                                 {kZpool, "export", "-f", "tank"},
                                                 {kZpool, "destroy", "tank"},
                                                 {kZpool, "destroy", "-f", "tank"}}));
}

TEST_P(CliZfsTest, ListPoolsArgvPerDialect) {
  // Inline outputs: the captures have an extra `cap` column (see parse_test.cc).
  std::string out = IsOpenZfs() ? "tank\t1000\t400\t600\tONLINE\t12837498126481923087\t-\n"
                                : "lab1\t250M\t2.72M\t247M\tONLINE\t7310895457898093911\t-\n";
  runner_.Expect({"zpool", "list"}, FakeProcessRunner::Exited(0, out));
  auto pools = zfs_->ListPools();
  ASSERT_TRUE(pools) << pools.error().message();
  ASSERT_EQ(pools->size(), 1u);
  if (IsOpenZfs()) {
    EXPECT_EQ(OnlyCall(), (Argv{kZpool, "list", "-H", "-p", "-o", "name,size,alloc,free,health,guid,altroot"}));
    EXPECT_EQ((*pools)[0].size, 1000u);
  } else {
    // zfs-fuse: `zpool list -p` is a usage error (zpool-list-p.err).
    EXPECT_EQ(OnlyCall(), (Argv{kZpool, "list", "-H", "-o", "name,size,alloc,free,health,guid,altroot"}));
    EXPECT_EQ((*pools)[0].size, 250u << 20);
  }
}

TEST_P(CliZfsTest, GetPoolStatusArgvPerDialect) {
  runner_.Expect({"zpool", "status"},
                 FakeProcessRunner::Exited(0, Golden(IsOpenZfs() ? "openzfs-2/zpool-status-P-tank.out"
                                                                 : "zfs-fuse/zpool-status-mirror.out")));
  auto st = zfs_->GetPoolStatus(Pool(IsOpenZfs() ? "tank" : "gmirror"));
  ASSERT_TRUE(st) << st.error().message();
  if (IsOpenZfs()) {
    EXPECT_EQ(OnlyCall(), (Argv{kZpool, "status", "-P", "-p", "tank"}));
    EXPECT_EQ(st->spares.size(), 2u);
  } else {
    EXPECT_EQ(OnlyCall(), (Argv{kZpool, "status", "gmirror"}));  // no -P on zfs-fuse
    EXPECT_EQ(st->scan, "none requested");
    ASSERT_EQ(st->root.children.size(), 1u);
  }
}

// ---------------------------------------------------------------- datasets

TEST_P(CliZfsTest, CreateDatasetWithPropertiesAndParents) {
  AllSucceed();
  ASSERT_TRUE(zfs_->CreateDataset(Ds("tank/a/b"), Props({"compression=gzip", "quota=100M"}),
                                  CreateParents::kYes));
  ASSERT_TRUE(zfs_->CreateDataset(Ds("tank/my data:1.0"), {}, CreateParents::kNo));
  EXPECT_EQ(AllArgv(runner_),
            (std::vector<Argv>{
                {kZfs, "create", "-p", "-o", "compression=gzip", "-o", "quota=100M", "tank/a/b"},
                {kZfs, "create", "tank/my data:1.0"}}));
}

TEST_P(CliZfsTest, CreateVolumeIsOpenZfsOnly) {
  AllSucceed();
  auto st = zfs_->CreateVolume(Ds("tank/vol"), 1 << 30, Props({"volblocksize=16384"}));
  if (IsOpenZfs()) {
    ASSERT_TRUE(st) << st.error().message();
    EXPECT_EQ(OnlyCall(), (Argv{kZfs, "create", "-V", "1073741824", "-o", "volblocksize=16384", "tank/vol"}));
  } else {
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code(), ErrorCode::kUnimplemented);
    EXPECT_TRUE(runner_.calls().empty());
  }
}

TEST_P(CliZfsTest, SetOnePropertyIsOneCommand) {
  AllSucceed();
  ASSERT_TRUE(zfs_->SetProperties("tank/a", Props({"compression=gzip"})));
  EXPECT_EQ(OnlyCall(), (Argv{kZfs, "set", "compression=gzip", "tank/a"}));
}

TEST_P(CliZfsTest, SetRefusesBadNamesAndEmptyLists) {
  AllSucceed();
  EXPECT_EQ(zfs_->SetProperties("tank/a", {}).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(zfs_->SetProperties("-r", Props({"atime=off"})).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(zfs_->GetDataset("tank/a;reboot", {}).error().code(), ErrorCode::kInvalidArgument);
  ListOptions lo;
  lo.root = "-H";
  EXPECT_EQ(zfs_->ListDatasets(lo).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(runner_.calls().empty());
}

TEST_P(CliZfsTest, InheritDestroyRenameSnapshotRollback) {
  AllSucceed();
  auto compression = PropertyName::Parse("compression").value();
  ASSERT_TRUE(zfs_->InheritProperty(Ds("tank/a"), compression, Recursive::kNo));
  ASSERT_TRUE(zfs_->InheritProperty(Ds("tank/a"), compression, Recursive::kYes));
  ASSERT_TRUE(zfs_->DestroyDataset(Ds("tank/a"), Recursive::kNo));
  ASSERT_TRUE(zfs_->DestroyDataset(Ds("tank/a"), Recursive::kYes));
  ASSERT_TRUE(zfs_->DestroyDataset(Ds("tank/a"), Recursive::kWithDependents));
  ASSERT_TRUE(zfs_->CreateSnapshot(Snap("tank/a@s1"), Recursive::kNo));
  ASSERT_TRUE(zfs_->CreateSnapshot(Snap("tank/a@s1"), Recursive::kYes));
  ASSERT_TRUE(zfs_->DestroySnapshot(Snap("tank/a@s1"), Recursive::kNo));
  ASSERT_TRUE(zfs_->DestroySnapshot(Snap("tank/a@s1"), Recursive::kYes));
  ASSERT_TRUE(zfs_->Rollback(Snap("tank/a@s1"), RollbackMode::kLatestOnly));
  ASSERT_TRUE(zfs_->Rollback(Snap("tank/a@s1"), RollbackMode::kDestroyNewer));
  EXPECT_EQ(AllArgv(runner_), (std::vector<Argv>{
                                  {kZfs, "inherit", "compression", "tank/a"},
                                  {kZfs, "inherit", "-r", "compression", "tank/a"},
                                  {kZfs, "destroy", "tank/a"},
                                  {kZfs, "destroy", "-r", "tank/a"},
                                  {kZfs, "destroy", "-R", "tank/a"},
                                  {kZfs, "snapshot", "tank/a@s1"},
                                  {kZfs, "snapshot", "-r", "tank/a@s1"},
                                  {kZfs, "destroy", "tank/a@s1"},
                                  {kZfs, "destroy", "-r", "tank/a@s1"},
                                  {kZfs, "rollback", "tank/a@s1"},
                                  {kZfs, "rollback", "-r", "tank/a@s1"},
                              }));
}

TEST_P(CliZfsTest, ListDatasetsTypeFilter) {
  // The real `zfs get -H -p -r com.example:owner lab1` capture, with the `type`
  // rows the adapter asks for added (zfs-fuse prints them as in zfs-get-H-p-d1.out).
  std::string out =
      "lab1\ttype\tfilesystem\t-\n"
      "lab1\tcom.example:owner\t-\t-\n"
      "lab1/data/child\ttype\tfilesystem\t-\n"
      "lab1/data/child\tcom.example:owner\talice\tlocal\n"
      "lab1/data/child@snap1\ttype\tsnapshot\t-\n"
      "lab1/data/child@snap1\tcom.example:owner\talice\tinherited from lab1/data/child\n";
  if (IsOpenZfs()) {
    // OpenZFS filters by itself; return only what -t asked for.
    out = "lab1\ttype\tfilesystem\t-\nlab1\tcom.example:owner\t-\t-\n"
          "lab1/data/child\ttype\tfilesystem\t-\nlab1/data/child\tcom.example:owner\talice\tlocal\n";
  }
  runner_.Expect({"zfs", "get"}, FakeProcessRunner::Exited(0, out));
  ListOptions o;
  o.root = "lab1";
  o.properties = {"com.example:owner"};
  auto list = zfs_->ListDatasets(o);
  ASSERT_TRUE(list) << list.error().message();
  if (IsOpenZfs()) {
    EXPECT_EQ(OnlyCall(), (Argv{kZfs, "get", "-H", "-p", "-r", "-t", "filesystem,volume", "-o",
                                "name,property,value,source", "type,com.example:owner", "lab1"}));
  } else {
    // zfs-fuse has no `zfs get -t` (zfs-get-H-p-t.err): the adapter filters.
    EXPECT_EQ(OnlyCall(), (Argv{kZfs, "get", "-H", "-p", "-r", "-o", "name,property,value,source",
                                "type,com.example:owner", "lab1"}));
  }
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "lab1");
  EXPECT_EQ((*list)[1].name, "lab1/data/child");
  EXPECT_EQ((*list)[1].Get("com.example:owner"), "alice");
}

TEST_P(CliZfsTest, ListDatasetsAllPropertiesNotRecursive) {
  runner_.Expect({"zfs", "get"}, FakeProcessRunner::Exited(0, Golden("zfs-fuse/zfs-get-H-p-spaces.out")));
  ListOptions o;
  o.root = "lab1/my data:1.0";
  o.recursive = zfs::Recursive::kNo;
  o.types = {DatasetType::kFilesystem, DatasetType::kSnapshot};
  auto list = zfs_->ListDatasets(o);
  ASSERT_TRUE(list) << list.error().message();
  Argv expected = {kZfs, "get", "-H", "-p"};
  if (IsOpenZfs()) expected.insert(expected.end(), {"-t", "filesystem,snapshot"});
  expected.insert(expected.end(), {"-o", "name,property,value,source", "all", "lab1/my data:1.0"});
  EXPECT_EQ(OnlyCall(), expected);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].properties.size(), 44u);
}

TEST_P(CliZfsTest, GetDatasetAddsTypeAndParses) {
  runner_.Expect({"zfs", "get"}, FakeProcessRunner::Exited(0, Golden("zfs-fuse/zfs-get-H-p-snapshot.out")));
  auto ds = zfs_->GetDataset("lab1/data/child@snap1", {"used", "com.example:owner"});
  ASSERT_TRUE(ds) << ds.error().message();
  EXPECT_EQ(OnlyCall(), (Argv{kZfs, "get", "-H", "-p", "-o", "name,property,value,source",
                              "type,used,com.example:owner", "lab1/data/child@snap1"}));
  EXPECT_EQ(ds->type, DatasetType::kSnapshot);
}

TEST_P(CliZfsTest, GetDatasetWithEmptyOutputIsNotFound) {
  runner_.Expect({"zfs", "get"}, FakeProcessRunner::Exited(0, ""));
  auto ds = zfs_->GetDataset("tank/a", {});
  ASSERT_FALSE(ds);
  EXPECT_EQ(ds.error().code(), ErrorCode::kNotFound);
}

// ---------------------------------------------------------------- set: dialects

TEST(CliZfsSetTest, OpenZfsSetsAllPropertiesInOneCommand) {
  FakeProcessRunner runner;
  runner.SetDefaultHandler([](const sys::Command&) { return FakeProcessRunner::Exited(0); });
  auto zfs = MakeCliZfsForDialect(runner, Dialect::kOpenZfs2, ZfsToolPaths{kZpool, kZfs});
  ASSERT_TRUE(zfs->SetProperties("tank/a", Props({"compression=lz4", "quota=1073741824", "com.example:owner=bob"})));
  ASSERT_EQ(runner.calls().size(), 1u);
  EXPECT_EQ(ArgvOf(runner.calls()[0]), (Argv{kZfs, "set", "compression=lz4", "quota=1073741824",
                                             "com.example:owner=bob", "tank/a"}));
}

// Current values for the zfs-fuse set/restore tests, in the real -H -p format
// (rows as in zfs-get-H-p-o.out / zfs-get-H-p-s-local.out).
constexpr const char* kBeforeSet =
    "lab1/data\ttype\tfilesystem\t-\n"
    "lab1/data\tcompression\tgzip\tlocal\n"
    "lab1/data\tatime\ton\tdefault\n"
    "lab1/data\tquota\t104857600\tlocal\n";

TEST(CliZfsSetTest, ZfsFuseSetsOneByOne) {
  FakeProcessRunner runner;
  runner.Expect({"zfs", "get"}, FakeProcessRunner::Exited(0, kBeforeSet));
  runner.SetDefaultHandler([](const sys::Command&) { return FakeProcessRunner::Exited(0); });
  auto zfs = MakeCliZfsForDialect(runner, Dialect::kZfsFuse, ZfsToolPaths{kZpool, kZfs});
  auto st = zfs->SetProperties("lab1/data", Props({"compression=off", "atime=off"}));
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ(AllArgv(runner), (std::vector<Argv>{
                                 {kZfs, "get", "-H", "-p", "-o", "name,property,value,source",
                                  "type,compression,atime", "lab1/data"},
                                 {kZfs, "set", "compression=off", "lab1/data"},
                                 {kZfs, "set", "atime=off", "lab1/data"},
                             }));
}

TEST(CliZfsSetTest, ZfsFuseRestoresEarlierPropertiesWhenOneFails) {
  FakeProcessRunner runner;
  runner.Expect({"zfs", "get"}, FakeProcessRunner::Exited(0, kBeforeSet));
  runner.Expect({"zfs", "set", "compression=off"}, FakeProcessRunner::Exited(0));
  runner.Expect({"zfs", "set", "atime=off"}, FakeProcessRunner::Exited(0));
  runner.Expect({"zfs", "set", "quota=bogus"},
                FakeProcessRunner::Exited(1, "", "cannot set property for 'lab1/data': bad numeric value 'bogus'\n"));
  runner.Expect({"zfs", "inherit", "atime"}, FakeProcessRunner::Exited(0));
  runner.Expect({"zfs", "set", "compression=gzip"}, FakeProcessRunner::Exited(0));
  auto zfs = MakeCliZfsForDialect(runner, Dialect::kZfsFuse, ZfsToolPaths{kZpool, kZfs});
  auto st = zfs->SetProperties("lab1/data", Props({"compression=off", "atime=off", "quota=bogus"}));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(st.error().message().find("lab1/data"), std::string::npos) << st.error().message();
  EXPECT_NE(st.error().message().find("bad numeric value 'bogus'"), std::string::npos);
  // Restored newest first: atime had the default (so inherit), compression was local.
  EXPECT_EQ(AllArgv(runner), (std::vector<Argv>{
                                 {kZfs, "get", "-H", "-p", "-o", "name,property,value,source",
                                  "type,compression,atime,quota", "lab1/data"},
                                 {kZfs, "set", "compression=off", "lab1/data"},
                                 {kZfs, "set", "atime=off", "lab1/data"},
                                 {kZfs, "set", "quota=bogus", "lab1/data"},
                                 {kZfs, "inherit", "atime", "lab1/data"},
                                 {kZfs, "set", "compression=gzip", "lab1/data"},
                             }));
  EXPECT_TRUE(runner.UnmetExpectations().empty());
}

TEST(CliZfsSetTest, ZfsFuseSecondFailingRestoresTheFirstWithTheCapturedError) {
  FakeProcessRunner runner;
  runner.Expect({"zfs", "get"}, FakeProcessRunner::Exited(0, kBeforeSet));
  runner.Expect({"zfs", "set", "quota=1073741824"}, FakeProcessRunner::Exited(0));
  runner.Expect({"zfs", "set", "compression=bogus"},
                FakeProcessRunner::Exited(1, "", Golden("zfs-fuse/err-zfs-set-bad-value.err")));
  runner.Expect({"zfs", "set", "quota=104857600"}, FakeProcessRunner::Exited(0));
  auto zfs = MakeCliZfsForDialect(runner, Dialect::kZfsFuse, ZfsToolPaths{kZpool, kZfs});
  auto st = zfs->SetProperties("lab1/data", Props({"quota=1073741824", "compression=bogus"}));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(st.error().message().find("'compression' must be one of"), std::string::npos)
      << st.error().message();
  auto calls = AllArgv(runner);
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_EQ(calls[3], (Argv{kZfs, "set", "quota=104857600", "lab1/data"}));
  EXPECT_TRUE(runner.UnmetExpectations().empty());
}

// ------------------------------------------------- failed export (zfs-fuse surprise)

// `zfs get -H -p -r -o name,property,value,source canmount,mounted,mountpoint lab1`
// after the busy export: mounted/canmount values from zfs-list-after-busy-export.out
// and zfs-list-H-r-o-name-lab1.out, mountpoints and sources as in
// zfs-get-H-p-r-all-pool.out. Assembled for this test, not captured as one run.
constexpr const char* kAfterBusyExport =
    "lab1\tcanmount\ton\tdefault\n"
    "lab1\tmounted\tyes\t-\n"
    "lab1\tmountpoint\t/var/tmp/poolkeeper-lab/mnt/lab1\tlocal\n"
    "lab1/data\tcanmount\ton\tdefault\n"
    "lab1/data\tmounted\tyes\t-\n"
    "lab1/data\tmountpoint\t/var/tmp/poolkeeper-lab/mnt/lab1/data\tinherited from lab1\n"
    "lab1/data/child\tcanmount\ton\tdefault\n"
    "lab1/data/child\tmounted\tyes\t-\n"
    "lab1/data/child\tmountpoint\t/var/tmp/poolkeeper-lab/mnt/lab1/data/child\tinherited from lab1\n"
    "lab1/data/nomount\tcanmount\toff\tlocal\n"
    "lab1/data/nomount\tmounted\tno\t-\n"
    "lab1/data/nomount\tmountpoint\t/var/tmp/poolkeeper-lab/mnt/lab1/data/nomount\tinherited from lab1\n"
    "lab1/my data:1.0\tcanmount\ton\tdefault\n"
    "lab1/my data:1.0\tmounted\tno\t-\n"
    "lab1/my data:1.0\tmountpoint\t/var/tmp/poolkeeper-lab/mnt/lab1/my data:1.0\tinherited from lab1\n";

TEST_P(CliZfsTest, FailedExportRemountsWhatItUnmounted) {
  runner_.Expect({"zpool", "export"}, FakeProcessRunner::Exited(1, "", Golden("zfs-fuse/err-zpool-export-busy.err")));
  runner_.Expect({"zfs", "get"}, FakeProcessRunner::Exited(0, kAfterBusyExport));
  runner_.Expect({"zfs", "mount", "lab1/my data:1.0"}, FakeProcessRunner::Exited(0));
  auto st = zfs_->ExportPool(Pool("lab1"), Force::kNo);
  ASSERT_FALSE(st);
  const std::string& m = st.error().message();
  EXPECT_NE(m.find("export pool 'lab1'"), std::string::npos) << m;
  EXPECT_NE(m.find("target is busy"), std::string::npos) << m;
  EXPECT_NE(m.find("remounted"), std::string::npos) << m;
  EXPECT_NE(m.find("'lab1/my data:1.0'"), std::string::npos) << m;
  EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  // Only this pool's unmounted canmount=on filesystems: never `zfs mount -a`.
  EXPECT_EQ(AllArgv(runner_),
            (std::vector<Argv>{{kZpool, "export", "lab1"},
                               {kZfs, "get", "-H", "-p", "-r", "-o", "name,property,value,source",
                                "canmount,mounted,mountpoint", "lab1"},
                               {kZfs, "mount", "lab1/my data:1.0"}}));
}

TEST_P(CliZfsTest, FailedExportReportsFilesystemsItCouldNotRemount) {
  runner_.Expect({"zpool", "export"}, FakeProcessRunner::Exited(1, "", Golden("zfs-fuse/err-zpool-export-busy.err")));
  runner_.Expect({"zfs", "get"}, FakeProcessRunner::Exited(0, kAfterBusyExport));
  runner_.Expect({"zfs", "mount"}, FakeProcessRunner::Exited(1, "", "cannot mount 'lab1/my data:1.0': mountpoint busy\n"));
  auto st = zfs_->ExportPool(Pool("lab1"), Force::kNo);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message().find("left unmounted"), std::string::npos) << st.error().message();
}

TEST_P(CliZfsTest, FailedExportWithNothingUnmountedSaysSo) {
  runner_.Expect({"zpool", "export"}, FakeProcessRunner::Exited(1, "", Golden("zfs-fuse/err-zpool-export-busy.err")));
  runner_.Expect({"zfs", "get"}, FakeProcessRunner::Exited(0, "lab1\tcanmount\ton\tdefault\nlab1\tmounted\tyes\t-\n"
                                                             "lab1\tmountpoint\t/mnt/lab1\tlocal\n"));
  auto st = zfs_->ExportPool(Pool("lab1"), Force::kNo);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message().find("no filesystems were left unmounted"), std::string::npos)
      << st.error().message();
  EXPECT_EQ(runner_.calls().size(), 2u);
}

TEST_P(CliZfsTest, FailedForcedExportOrMissingPoolDoesNotRemount) {
  runner_.Expect({"zpool", "export"}, FakeProcessRunner::Exited(1, "", Golden("zfs-fuse/err-zpool-export-busy.err")));
  runner_.Expect({"zpool", "export"}, FakeProcessRunner::Exited(1, "", Golden("zfs-fuse/err-zpool-export-missing.err")));
  auto forced = zfs_->ExportPool(Pool("lab1"), Force::kYes);
  ASSERT_FALSE(forced);
  EXPECT_EQ(forced.error().code(), ErrorCode::kFailedPrecondition);
  auto missing = zfs_->ExportPool(Pool("nosuchpool"), Force::kNo);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(runner_.calls().size(), 2u);
}

// ---------------------------------------------------------------- error mapping

struct ErrorCase {
  const char* err_file;     // tests/data/zfs-fuse/<file>
  int exit_code;
  ErrorCode code;
  const char* object;       // must appear in the message
  const char* tool_text;    // must appear in the message
};

class CliZfsErrorTest : public ::testing::TestWithParam<ErrorCase> {};

// Runs the operation whose captured stderr `err_file` is.
Status RunOperationFor(Zfs& zfs, const std::string& file) {
  if (file == "err-zfs-create-exists.err") return zfs.CreateDataset(Ds("lab1/data"), {}, CreateParents::kNo);
  if (file == "err-zfs-destroy-missing.err") return zfs.DestroyDataset(Ds("lab1/nosuch"), Recursive::kNo);
  if (file == "err-zfs-get-missing.err") {
    auto r = zfs.GetDataset("lab1/nosuch", {});
    return r ? OkStatus() : Status(std::unexpected(r.error()));
  }
  if (file == "err-zfs-list-missing.err") {
    ListOptions o;
    o.root = "lab1/nosuch";
    auto r = zfs.ListDatasets(o);
    return r ? OkStatus() : Status(std::unexpected(r.error()));
  }
  if (file == "err-zfs-rollback-not-latest.err") {
    return zfs.Rollback(Snap("lab1/data/child@snap1"), RollbackMode::kLatestOnly);
  }
  if (file == "err-zfs-set-bad-value.err") return zfs.SetProperties("lab1", Props({"compression=bogus"}));
  if (file == "err-zfs-set-unknown-prop.err") {
    // PropertyName::Parse refuses "bogus" up front; feed the tool's answer to a valid set.
    return zfs.SetProperties("lab1", Props({"com.example:x=1"}));
  }
  if (file == "err-zfs-snapshot-exists.err") return zfs.CreateSnapshot(Snap("lab1/data/child@snap1"), Recursive::kNo);
  if (file == "err-zpool-create-exists.err" || file == "err-zpool-create-inuse.err" ||
      file == "err-zpool-create-mountpoint-nonempty.err" || file == "err-zpool-create-cache-file.err") {
    const char* pool = file == "err-zpool-create-exists.err"       ? "lab1"
                       : file == "err-zpool-create-inuse.err"      ? "gnew"
                       : file == "err-zpool-create-cache-file.err" ? "gextra"
                                                                   : "lab1b";
    return zfs.CreatePool(Pool(pool), VdevSpec::Parse({"/var/tmp/poolkeeper-lab/disks/x16.img"}).value(), {});
  }
  // Disk lifecycle (issue 20 item 1), captured on pool pkdcap (mirror of a.img, b.img, c.img).
  const std::string d = "/var/tmp/poolkeeper-lab/disks/";
  if (file == "err-zpool-replace-too-small.err") {
    return zfs.ReplaceDevice(Pool("pkdcap"), VdevRef::Parse(d + "a.img").value(),
                             DevicePath::Parse(d + "small.img").value(), Force::kNo);
  }
  if (file == "err-zpool-attach-in-use.err") {
    return zfs.AttachDevice(Pool("pkdcap"), VdevRef::Parse(d + "a.img").value(),
                            DevicePath::Parse(d + "big.img").value(), Force::kNo);
  }
  if (file == "err-zpool-detach-missing.err") return zfs.DetachDevice(Pool("pkdcap"), VdevRef::Parse(d + "nope.img").value());
  if (file == "err-zpool-detach-last.err") return zfs.DetachDevice(Pool("pkdcap"), VdevRef::Parse(d + "a.img").value());
  if (file == "err-zpool-remove-data.err") return zfs.RemoveDevice(Pool("pkdcap"), VdevRef::Parse(d + "a.img").value());
  if (file == "err-zpool-destroy-missing.err") return zfs.DestroyPool(Pool("nosuchpool"), Force::kNo);
  if (file == "err-zpool-export-missing.err") return zfs.ExportPool(Pool("nosuchpool"), Force::kNo);
  if (file == "err-zpool-import-missing.err" || file == "zpool-import-d-already-imported.err") {
    ImportOptions o;
    o.name = Pool(file == "err-zpool-import-missing.err" ? "nosuchpool" : "lab1");
    o.search_dirs = {"/var/tmp/poolkeeper-lab/disks"};
    return zfs.ImportPool(o);
  }
  if (file == "zpool-status-missing.err") {
    auto r = zfs.GetPoolStatus(Pool("nosuchpool"));
    return r ? OkStatus() : Status(std::unexpected(r.error()));
  }
  if (file == "zfs-get-H-p-t.err") {
    auto r = zfs.GetDataset("lab1", {});
    return r ? OkStatus() : Status(std::unexpected(r.error()));
  }
  if (file == "zpool-list-p.err" || file == "zpool-list-H-o-badcol.err") {
    auto r = zfs.ListPools();
    return r ? OkStatus() : Status(std::unexpected(r.error()));
  }
  ADD_FAILURE() << "no operation for " << file;
  return OkStatus();
}

TEST_P(CliZfsErrorTest, CapturedStderrMapsToCodeAndMessage) {
  const ErrorCase& c = GetParam();
  std::string err = Golden(std::string("zfs-fuse/") + c.err_file);
  FakeProcessRunner runner;
  runner.SetDefaultHandler([&](const sys::Command&) { return FakeProcessRunner::Exited(c.exit_code, "", err); });
  auto zfs = MakeCliZfsForDialect(runner, Dialect::kZfsFuse, ZfsToolPaths{kZpool, kZfs});
  auto st = RunOperationFor(*zfs, c.err_file);
  ASSERT_FALSE(st) << c.err_file;
  EXPECT_EQ(ErrorCodeName(st.error().code()), ErrorCodeName(c.code)) << st.error().message();
  const std::string& m = st.error().message();
  EXPECT_NE(m.find(c.object), std::string::npos) << m;
  EXPECT_NE(m.find(c.tool_text), std::string::npos) << m;
  EXPECT_NE(m.find("exited " + std::to_string(c.exit_code)), std::string::npos) << m;
  // Messages stay on one line, without zfs-fuse's blocksize chatter or usage tables.
  EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  EXPECT_EQ(m.find("Defaulting to 4K"), std::string::npos) << m;
  EXPECT_EQ(m.find("PROPERTY"), std::string::npos) << m;
}

INSTANTIATE_TEST_SUITE_P(
    ZfsFuseCaptures, CliZfsErrorTest,
    ::testing::Values(
        ErrorCase{"err-zfs-destroy-missing.err", 1, ErrorCode::kNotFound, "lab1/nosuch", "dataset does not exist"},
        ErrorCase{"err-zfs-get-missing.err", 1, ErrorCode::kNotFound, "lab1/nosuch", "dataset does not exist"},
        ErrorCase{"err-zfs-list-missing.err", 1, ErrorCode::kNotFound, "lab1/nosuch", "dataset does not exist"},
        ErrorCase{"err-zpool-destroy-missing.err", 1, ErrorCode::kNotFound, "nosuchpool", "no such pool"},
        ErrorCase{"err-zpool-export-missing.err", 1, ErrorCode::kNotFound, "nosuchpool", "no such pool"},
        ErrorCase{"err-zpool-import-missing.err", 1, ErrorCode::kNotFound, "nosuchpool",
                  "no such pool available"},
        ErrorCase{"zpool-status-missing.err", 1, ErrorCode::kNotFound, "nosuchpool", "no such pool"},
        ErrorCase{"err-zfs-create-exists.err", 1, ErrorCode::kAlreadyExists, "lab1/data",
                  "dataset already exists"},
        ErrorCase{"err-zfs-snapshot-exists.err", 1, ErrorCode::kAlreadyExists, "lab1/data/child@snap1",
                  "dataset already exists"},
        ErrorCase{"err-zpool-create-exists.err", 1, ErrorCode::kAlreadyExists, "lab1", "pool already exists"},
        ErrorCase{"zpool-import-d-already-imported.err", 1, ErrorCode::kAlreadyExists, "lab1",
                  "already created/imported, and no additional pools"},
        ErrorCase{"err-zpool-create-inuse.err", 1, ErrorCode::kFailedPrecondition, "gnew",
                  "is part of active pool 'gstripe2'"},
        ErrorCase{"err-zpool-create-mountpoint-nonempty.err", 1, ErrorCode::kFailedPrecondition, "lab1b",
                  "exists and is not empty"},
        ErrorCase{"err-zfs-rollback-not-latest.err", 1, ErrorCode::kFailedPrecondition,
                  "lab1/data/child@snap1", "more recent snapshots exist"},
        ErrorCase{"err-zfs-set-bad-value.err", 1, ErrorCode::kInvalidArgument, "lab1",
                  "'compression' must be one of"},
        ErrorCase{"err-zfs-set-unknown-prop.err", 1, ErrorCode::kInvalidArgument, "lab1",
                  "invalid property 'bogus'"},
        ErrorCase{"err-zpool-create-cache-file.err", 1, ErrorCode::kInvalidArgument, "gextra", "cache"},
        // Disk lifecycle (issue 20 item 1 and 4): each bad input names the pool and the device.
        ErrorCase{"err-zpool-replace-too-small.err", 255, ErrorCode::kFailedPrecondition, "pkdcap",
                  "small.img: device is too small"},
        ErrorCase{"err-zpool-attach-in-use.err", 1, ErrorCode::kFailedPrecondition, "pkdcap",
                  "big.img is part of active pool 'pkdcap2'"},
        ErrorCase{"err-zpool-detach-missing.err", 255, ErrorCode::kNotFound, "pkdcap",
                  "nope.img: no such device in pool"},
        ErrorCase{"err-zpool-detach-last.err", 255, ErrorCode::kFailedPrecondition, "pkdcap",
                  "only applicable to mirror and replacing vdevs"},
        ErrorCase{"err-zpool-remove-data.err", 1, ErrorCode::kFailedPrecondition, "pkdcap",
                  "only inactive hot spares, cache, top-level, or log devices can be removed"},
        ErrorCase{"zfs-get-H-p-t.err", 2, ErrorCode::kInvalidArgument, "lab1", "invalid option 't'"},
        ErrorCase{"zpool-list-p.err", 2, ErrorCode::kInvalidArgument, "list pools", "invalid option 'p'"},
        ErrorCase{"zpool-list-H-o-badcol.err", 2, ErrorCode::kInvalidArgument, "list pools",
                  "invalid property 'bogus'"}),
    [](const auto& info) {
      std::string name;
      for (char ch : std::string(info.param.err_file)) {
        if (std::isalnum(static_cast<unsigned char>(ch))) name += ch;
      }
      return name;
    });

// ------------------------------------------------- disk lifecycle (issue 20 item 1)

TEST_P(CliZfsTest, ReplaceAttachDetachArgv) {
  AllSucceed();
  auto a = VdevRef::Parse("/dev/disk/by-id/ata-A").value();
  auto b = DevicePath::Parse("/dev/disk/by-id/ata-B").value();
  ASSERT_TRUE(zfs_->ReplaceDevice(Pool("tank"), a, b, Force::kNo));
  ASSERT_TRUE(zfs_->ReplaceDevice(Pool("tank"), VdevRef::Parse("1234567890123").value(), b, Force::kYes));
  ASSERT_TRUE(zfs_->ReplaceDevice(Pool("tank"), a, std::nullopt, Force::kNo));
  ASSERT_TRUE(zfs_->AttachDevice(Pool("tank"), a, b, Force::kNo));
  ASSERT_TRUE(zfs_->AttachDevice(Pool("tank"), a, b, Force::kYes));
  ASSERT_TRUE(zfs_->DetachDevice(Pool("tank"), a));
  EXPECT_EQ(AllArgv(runner_),
            (std::vector<Argv>{{kZpool, "replace", "tank", "/dev/disk/by-id/ata-A", "/dev/disk/by-id/ata-B"},
                               {kZpool, "replace", "-f", "tank", "1234567890123", "/dev/disk/by-id/ata-B"},
                               {kZpool, "replace", "tank", "/dev/disk/by-id/ata-A"},
                               {kZpool, "attach", "tank", "/dev/disk/by-id/ata-A", "/dev/disk/by-id/ata-B"},
                               {kZpool, "attach", "-f", "tank", "/dev/disk/by-id/ata-A", "/dev/disk/by-id/ata-B"},
                               {kZpool, "detach", "tank", "/dev/disk/by-id/ata-A"}}));
}

TEST_P(CliZfsTest, OnlineOfflineArgv) {
  AllSucceed();
  auto a = VdevRef::Parse("/var/tmp/d0.img").value();
  ASSERT_TRUE(zfs_->OfflineDevice(Pool("tank"), a, Temporary::kNo));
  ASSERT_TRUE(zfs_->OfflineDevice(Pool("tank"), a, Temporary::kYes));
  ASSERT_TRUE(zfs_->OnlineDevice(Pool("tank"), a, Expand::kNo));
  // zfs-fuse's zpool takes -e too (checked on the lab machine: exit 0).
  ASSERT_TRUE(zfs_->OnlineDevice(Pool("tank"), a, Expand::kYes));
  EXPECT_EQ(AllArgv(runner_), (std::vector<Argv>{{kZpool, "offline", "tank", "/var/tmp/d0.img"},
                                                 {kZpool, "offline", "-t", "tank", "/var/tmp/d0.img"},
                                                 {kZpool, "online", "tank", "/var/tmp/d0.img"},
                                                 {kZpool, "online", "-e", "tank", "/var/tmp/d0.img"}}));
}

TEST_P(CliZfsTest, AddVdevsWithDryRunReturnsTheLayout) {
  // zfs-fuse's own answer to `zpool add -n` (captured on the lab machine).
  const std::string layout = "would update 'pkdcap' to the following configuration:\n\tpkdcap\n\t  /d/a.img\n";
  runner_.SetDefaultHandler([&](const sys::Command& c) {
    bool dry = std::find(c.args.begin(), c.args.end(), "-n") != c.args.end();
    return FakeProcessRunner::Exited(0, dry ? layout : "");
  });
  auto spec = VdevSpec::ParseAddition({"mirror", "/d/x", "/d/y", "spare", "/d/s", "log", "/d/l", "cache", "/d/c"});
  ASSERT_TRUE(spec) << spec.error().ToString();
  auto dry = zfs_->AddVdevs(Pool("tank"), *spec, Force::kNo, DryRun::kYes);
  ASSERT_TRUE(dry) << dry.error().ToString();
  EXPECT_EQ(*dry, layout);
  auto real = zfs_->AddVdevs(Pool("tank"), VdevSpec::ParseAddition({"spare", "/d/s"}).value(), Force::kYes, DryRun::kNo);
  ASSERT_TRUE(real);
  EXPECT_EQ(*real, "");
  EXPECT_EQ(AllArgv(runner_),
            (std::vector<Argv>{{kZpool, "add", "-n", "tank", "mirror", "/d/x", "/d/y", "spare", "/d/s", "log", "/d/l",
                                "cache", "/d/c"},
                               {kZpool, "add", "-f", "tank", "spare", "/d/s"}}));
}

TEST_P(CliZfsTest, RemoveAndScrubPerDialect) {
  AllSucceed();
  ASSERT_TRUE(zfs_->RemoveDevice(Pool("tank"), VdevRef::Parse("/d/spare").value()));
  ASSERT_TRUE(zfs_->Scrub(Pool("tank"), ScrubAction::kStart));
  ASSERT_TRUE(zfs_->Scrub(Pool("tank"), ScrubAction::kStop));
  auto top = zfs_->RemoveDevice(Pool("tank"), VdevRef::Parse("mirror-1").value());
  auto pause = zfs_->Scrub(Pool("tank"), ScrubAction::kPause);
  std::vector<Argv> expected = {{kZpool, "remove", "tank", "/d/spare"},
                                {kZpool, "scrub", "tank"},
                                {kZpool, "scrub", "-s", "tank"}};
  if (IsOpenZfs()) {
    ASSERT_TRUE(top) << top.error().ToString();
    ASSERT_TRUE(pause) << pause.error().ToString();
    expected.push_back({kZpool, "remove", "tank", "mirror-1"});
    expected.push_back({kZpool, "scrub", "-p", "tank"});
  } else {
    // zfs-fuse (pool v23) has neither: Unimplemented with the reason, and no tool runs.
    ASSERT_FALSE(top);
    EXPECT_EQ(top.error().code(), ErrorCode::kUnimplemented);
    EXPECT_NE(top.error().message().find("remove 'mirror-1' from pool 'tank'"), std::string::npos) << top.error().message();
    EXPECT_NE(top.error().message().find("top-level"), std::string::npos);
    ASSERT_FALSE(pause);
    EXPECT_EQ(pause.error().code(), ErrorCode::kUnimplemented);
    EXPECT_NE(pause.error().message().find("cannot pause a scrub"), std::string::npos) << pause.error().message();
  }
  EXPECT_EQ(AllArgv(runner_), expected);
}

TEST(DeviceNamesTest, DevicePathsAreAbsoluteAndNeverOptions) {
  EXPECT_TRUE(DevicePath::Parse("/dev/sdb"));
  EXPECT_TRUE(DevicePath::Parse("/var/tmp/my disk.img"));
  for (const char* bad : {"sdb", "-f", "", "dev/sdb", "/dev/sd\nb", "/dev/../etc/passwd", "--help"}) {
    auto p = DevicePath::Parse(bad);
    ASSERT_FALSE(p) << bad;
    EXPECT_EQ(p.error().code(), ErrorCode::kInvalidArgument) << bad;
  }
  auto rel = DevicePath::Parse("sdb");
  EXPECT_NE(rel.error().message().find("'sdb': must be an absolute path"), std::string::npos) << rel.error().message();
}

TEST(DeviceNamesTest, VdevRefsArePathsGuidsOrTopLevelNames) {
  EXPECT_EQ(VdevRef::Parse("/dev/sdb").value().kind(), VdevRef::Kind::kPath);
  EXPECT_EQ(VdevRef::Parse("9876543210987654321").value().kind(), VdevRef::Kind::kGuid);
  EXPECT_EQ(VdevRef::Parse("mirror-1").value().kind(), VdevRef::Kind::kTopLevel);
  EXPECT_EQ(VdevRef::Parse("raidz2-0").value().kind(), VdevRef::Kind::kTopLevel);
  for (const char* bad : {"-f", "sdb", "mirror-", "mirror-x", "spare-1", "123456789012345678901234", "/a\nb", ""}) {
    EXPECT_FALSE(VdevRef::Parse(bad)) << bad;
  }
}

TEST(DeviceNamesTest, AdditionsMayOmitDataButNotEverything) {
  auto spare = VdevSpec::ParseAddition({"spare", "/d/s"});
  ASSERT_TRUE(spare);
  EXPECT_TRUE(spare->data.empty());
  EXPECT_EQ(spare->spares, (std::vector<std::string>{"/d/s"}));
  EXPECT_FALSE(VdevSpec::ParseAddition({}));
  EXPECT_FALSE(VdevSpec::ParseAddition({"spare"}));
  EXPECT_FALSE(VdevSpec::Parse({"spare", "/d/s"}));  // a new pool still needs data
}

TEST_P(CliZfsTest, TimeoutIsDeadlineExceeded) {
  runner_.Expect({"zpool", "import"}, FakeProcessRunner::TimedOut("", "partial"));
  ImportOptions o;
  o.name = Pool("tank");
  auto st = zfs_->ImportPool(o);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kDeadlineExceeded);
  EXPECT_NE(st.error().message().find("import pool 'tank'"), std::string::npos) << st.error().message();
  EXPECT_NE(st.error().message().find("42000 ms"), std::string::npos) << st.error().message();
}

TEST_P(CliZfsTest, ToolThatCannotStartKeepsTheRunnersCode) {
  runner_.Expect({"zfs"}, Result<sys::ProcessResult>(NotFound("/sbin/zfs: no such file")));
  auto st = zfs_->DestroyDataset(Ds("tank/a"), Recursive::kNo);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(st.error().message().find("destroy dataset 'tank/a'"), std::string::npos) << st.error().message();
}

TEST_P(CliZfsTest, KilledBySignalIsAnError) {
  runner_.Expect({"zfs"}, FakeProcessRunner::Signaled(11));
  auto st = zfs_->DestroyDataset(Ds("tank/a"), Recursive::kNo);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kInternal);
  EXPECT_NE(st.error().message().find("signal 11"), std::string::npos) << st.error().message();
}

TEST_P(CliZfsTest, SilentFailureSaysSo) {
  runner_.Expect({"zpool", "destroy"}, FakeProcessRunner::Exited(1));
  auto st = zfs_->DestroyPool(Pool("tank"), Force::kNo);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kInternal);
  EXPECT_NE(st.error().message().find("destroy pool 'tank': zpool exited 1: (no output)"), std::string::npos)
      << st.error().message();
}

TEST_P(CliZfsTest, SilentImportListingFailure) {
  // zfs-fuse: `zpool import -d EMPTYDIR` exits 1 with no output at all (checked
  // on the lab machine; `zpool import` without -d does the same, README.md).
  // OpenZFS says "no pools available to import" instead, so there a silent
  // exit 1 stays an error.
  runner_.Expect({"zpool", "import"}, FakeProcessRunner::Exited(1));
  auto pools = zfs_->ListImportable({"/srv/empty"});
  if (IsOpenZfs()) {
    ASSERT_FALSE(pools);
    EXPECT_NE(pools.error().message().find("exited 1: (no output)"), std::string::npos)
        << pools.error().message();
  } else {
    ASSERT_TRUE(pools) << pools.error().message();
    EXPECT_TRUE(pools->empty());
  }
}

TEST_P(CliZfsTest, FailedImportListingIsAnError) {
  runner_.Expect({"zpool", "import"}, FakeProcessRunner::Exited(1, "", "cannot open '/srv/x': Permission denied\n"));
  auto pools = zfs_->ListImportable({"/srv/x"});
  ASSERT_FALSE(pools);
  EXPECT_EQ(pools.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_NE(pools.error().message().find("list importable pools"), std::string::npos) << pools.error().message();
}

TEST_P(CliZfsTest, UnparsableOutputIsAnError) {
  runner_.Expect({"zpool", "list"}, FakeProcessRunner::Exited(0, "garbage\n"));
  auto pools = zfs_->ListPools();
  ASSERT_FALSE(pools);
}

}  // namespace
}  // namespace pk::zfs

namespace pk::zfs {
namespace {

TEST(CliZfsRenameTest, OpenZfsRenamesInOneCommand) {
  FakeProcessRunner runner;
  runner.Expect({"zfs", "rename"}, FakeProcessRunner::Exited(0));
  auto zfs = MakeCliZfsForDialect(runner, Dialect::kOpenZfs2, ZfsToolPaths{kZpool, kZfs});
  ASSERT_TRUE(zfs->RenameDataset(Ds("tank/a"), Ds("tank/b c")));
  EXPECT_EQ(AllArgv(runner), (std::vector<Argv>{{kZfs, "rename", "tank/a", "tank/b c"}}));
}

// zfs-fuse keeps a mounted filesystem busy: unmount, rename, mount the new tree.
TEST(CliZfsRenameTest, ZfsFuseUnmountsRenamesAndMounts) {
  FakeProcessRunner runner;
  runner.Expect({"zfs", "get"}, FakeProcessRunner::Exited(0, "tank/a\ttype\tfilesystem\t-\ntank/a\tmounted\tyes\t-\n"));
  runner.Expect({"zfs", "umount"}, FakeProcessRunner::Exited(0));
  runner.Expect({"zfs", "rename"}, FakeProcessRunner::Exited(0));
  runner.Expect({"zfs", "get"}, FakeProcessRunner::Exited(0,
      "tank/b c\tcanmount\ton\tdefault\ntank/b c\tmounted\tno\t-\ntank/b c\tmountpoint\t/m/b c\tinherited from tank\n"));
  runner.Expect({"zfs", "mount"}, FakeProcessRunner::Exited(0));
  auto zfs = MakeCliZfsForDialect(runner, Dialect::kZfsFuse, ZfsToolPaths{kZpool, kZfs});
  ASSERT_TRUE(zfs->RenameDataset(Ds("tank/a"), Ds("tank/b c")));
  auto argv = AllArgv(runner);
  ASSERT_EQ(argv.size(), 5u);
  EXPECT_EQ(argv[1], (Argv{kZfs, "umount", "tank/a"}));
  EXPECT_EQ(argv[2], (Argv{kZfs, "rename", "tank/a", "tank/b c"}));
  EXPECT_EQ(argv[4], (Argv{kZfs, "mount", "tank/b c"}));
  EXPECT_TRUE(runner.UnmetExpectations().empty());
}

TEST(CliZfsRenameTest, ZfsFuseFailedRenameMountsTheOldTreeBack) {
  FakeProcessRunner runner;
  runner.Expect({"zfs", "get"}, FakeProcessRunner::Exited(0, "tank/a\ttype\tfilesystem\t-\ntank/a\tmounted\tyes\t-\n"));
  runner.Expect({"zfs", "umount"}, FakeProcessRunner::Exited(0));
  runner.Expect({"zfs", "rename"}, FakeProcessRunner::Exited(1, "", "cannot rename to 'tank/b': dataset already exists\n"));
  runner.Expect({"zfs", "get"}, FakeProcessRunner::Exited(0,
      "tank/a\tcanmount\ton\tdefault\ntank/a\tmounted\tno\t-\ntank/a\tmountpoint\t/m/a\tinherited from tank\n"));
  runner.Expect({"zfs", "mount", "tank/a"}, FakeProcessRunner::Exited(0));
  auto zfs = MakeCliZfsForDialect(runner, Dialect::kZfsFuse, ZfsToolPaths{kZpool, kZfs});
  auto st = zfs->RenameDataset(Ds("tank/a"), Ds("tank/b"));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_NE(st.error().message().find("remounted the filesystems the rename had unmounted: 'tank/a'"), std::string::npos)
      << st.error().message();
  EXPECT_TRUE(runner.UnmetExpectations().empty());
}

TEST(CliZfsBusyTest, DestroyRetriesWhileBusy) {
  FakeProcessRunner runner;
  runner.Expect({"zfs", "destroy"}, FakeProcessRunner::Exited(1, "", "cannot destroy 'tank/a': dataset is busy\n"));
  runner.Expect({"zfs", "destroy"}, FakeProcessRunner::Exited(0));
  auto zfs = MakeCliZfsForDialect(runner, Dialect::kZfsFuse, ZfsToolPaths{kZpool, kZfs},
                                  ZfsOptions{std::chrono::seconds(42), std::chrono::seconds(5)});
  ASSERT_TRUE(zfs->DestroyDataset(Ds("tank/a"), Recursive::kNo));
  EXPECT_EQ(runner.calls().size(), 2u);
}

TEST(CliZfsBusyTest, OtherFailuresAreNotRetried) {
  FakeProcessRunner runner;
  runner.Expect({"zfs", "destroy"}, FakeProcessRunner::Exited(1, "", "cannot open 'tank/a': dataset does not exist\n"));
  auto zfs = MakeCliZfsForDialect(runner, Dialect::kZfsFuse, ZfsToolPaths{kZpool, kZfs});
  EXPECT_EQ(zfs->DestroyDataset(Ds("tank/a"), Recursive::kNo).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(runner.calls().size(), 1u);
}

// ------------------------------------------------------------ quotas

TEST_P(CliZfsTest, GetQuotaReadsOneSubjectWithZfsGetNeverAListing) {
  std::string out = IsOpenZfs() ? "userused@424201\t1048576\nuserquota@424201\t2097152\n"
                                  "userobjused@424201\t3\nuserobjquota@424201\tnone\n"
                                : Golden("zfs-fuse/zfs-get-userused-userquota.out");
  runner_.Expect({"zfs", "get"}, FakeProcessRunner::Exited(0, out));
  auto q = zfs_->GetQuota(Ds("tank/home"), {QuotaKind::kUser, 424201});
  ASSERT_TRUE(q) << q.error().message();
  std::string props = IsOpenZfs() ? "userused@424201,userquota@424201,userobjused@424201,userobjquota@424201"
                                  : "userused@424201,userquota@424201";
  EXPECT_EQ(OnlyCall(), (Argv{kZfs, "get", "-H", "-p", "-o", "property,value", props, "tank/home"}));
  EXPECT_EQ(q->id, 424201u);
  EXPECT_EQ(q->quota, 2097152u);
  if (IsOpenZfs()) {
    EXPECT_EQ(q->used, 1048576u);
    EXPECT_EQ(q->objused, 3u);
    EXPECT_EQ(q->objquota, 0u);
  } else {
    EXPECT_EQ(q->used, 0u);  // the captured subject had a quota and wrote nothing
    EXPECT_FALSE(q->objused.has_value());
  }
}

TEST_P(CliZfsTest, GetQuotaOfGroupAndMissingDataset) {
  runner_.Expect({"zfs", "get"}, FakeProcessRunner::Exited(1, "", Golden("zfs-fuse/err-zfs-get-missing.err")));
  auto q = zfs_->GetQuota(Ds("tank/nope"), {QuotaKind::kGroup, 7});
  ASSERT_FALSE(q);
  EXPECT_EQ(q.error().code(), ErrorCode::kNotFound) << q.error().message();
  EXPECT_NE(q.error().message().find("get group quota of 7 on 'tank/nope'"), std::string::npos) << q.error().message();
  EXPECT_TRUE(OnlyCall()[6].starts_with("groupused@7,groupquota@7"));
}

TEST_P(CliZfsTest, SetAndClearQuotaArgv) {
  AllSucceed();
  ASSERT_TRUE(zfs_->SetQuota(Ds("tank/home"), {QuotaKind::kUser, 42}, 2097152));
  ASSERT_TRUE(zfs_->SetQuota(Ds("tank/home"), {QuotaKind::kGroup, 43}, 1024));
  ASSERT_TRUE(zfs_->ClearQuota(Ds("tank/home"), {QuotaKind::kUser, 42}));
  auto calls = AllArgv(runner_);
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0], (Argv{kZfs, "set", "userquota@42=2097152", "tank/home"}));
  EXPECT_EQ(calls[1], (Argv{kZfs, "set", "groupquota@43=1024", "tank/home"}));
  if (IsOpenZfs()) {
    EXPECT_EQ(calls[2], (Argv{kZfs, "set", "userquota@42=none", "userobjquota@42=none", "tank/home"}));
  } else {
    EXPECT_EQ(calls[2], (Argv{kZfs, "set", "userquota@42=none", "tank/home"}));
  }
  auto zero = zfs_->SetQuota(Ds("tank/home"), {QuotaKind::kUser, 42}, 0);
  ASSERT_FALSE(zero);
  EXPECT_EQ(zero.error().code(), ErrorCode::kInvalidArgument);
  auto objects = zfs_->SetObjectQuota(Ds("tank/home"), {QuotaKind::kUser, 42}, 100);
  if (IsOpenZfs()) {
    ASSERT_TRUE(objects);
    EXPECT_EQ(AllArgv(runner_).back(), (Argv{kZfs, "set", "userobjquota@42=100", "tank/home"}));
  } else {
    ASSERT_FALSE(objects);
    EXPECT_EQ(objects.error().code(), ErrorCode::kUnimplemented);
    EXPECT_EQ(AllArgv(runner_).size(), 3u);
  }
}

TEST_P(CliZfsTest, SetQuotaKeepsTheToolsWords) {
  runner_.Expect({"zfs", "set"}, FakeProcessRunner::Exited(1, "", "cannot set property for 'tank/home': bad numeric value 'x'\n"));
  auto r = zfs_->SetQuota(Ds("tank/home"), {QuotaKind::kUser, 42}, 5);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message().find("bad numeric value"), std::string::npos);
}

TEST_P(CliZfsTest, ListQuotas) {
  if (IsOpenZfs()) {
    // The documented -H -p -n form: tab-separated, numeric ids, "none" for no quota.
    runner_.Expect({"zfs", "userspace"},
                   FakeProcessRunner::Exited(0, "POSIX User\t0\t17408\tnone\t9\tnone\n"
                                                "POSIX User\t424201\t2093568\t2097152\t5\t100\n"
                                                "SMB User\tS-1-5-21-1\t512\tnone\t1\tnone\n"));
    auto rows = zfs_->ListQuotas(Ds("tank/home"), QuotaKind::kUser);
    ASSERT_TRUE(rows) << rows.error().message();
    EXPECT_EQ(OnlyCall(), (Argv{kZfs, "userspace", "-H", "-p", "-n", "-o",
                                "type,name,used,quota,objused,objquota", "tank/home"}));
    ASSERT_EQ(rows->size(), 2u);
    EXPECT_EQ((*rows)[1].id, 424201u);
    EXPECT_EQ((*rows)[1].used, 2093568u);
    EXPECT_EQ((*rows)[1].quota, 2097152u);
    EXPECT_EQ((*rows)[1].objquota, 100u);
    EXPECT_EQ((*rows)[0].quota, 0u);
    return;
  }
  // zfs-fuse: the built-in listing (captured) names the subjects; one batched
  // zfs get reads exact numbers.
  runner_.Expect({"zfs", "userspace"}, FakeProcessRunner::Exited(0, Golden("zfs-fuse/zfs-userspace-builtin.out")));
  runner_.Expect({"zfs", "get"}, FakeProcessRunner::Exited(0, "groupused@424207\t279552\ngroupquota@424207\t0\n"
                                                              "groupused@root\t39424\ngroupquota@root\t0\n"
                                                              "groupused@424204\t9216\ngroupquota@424204\t1048576\n"));
  auto rows = zfs_->ListQuotas(Ds("tank/home"), QuotaKind::kGroup);
  ASSERT_TRUE(rows) << rows.error().message();
  auto calls = AllArgv(runner_);
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0], (Argv{kZfs, "userspace", "tank/home"}));
  EXPECT_EQ(calls[1], (Argv{kZfs, "get", "-H", "-p", "-o", "property,value",
                            "groupused@424207,groupquota@424207,groupused@root,groupquota@root,"
                            "groupused@424204,groupquota@424204",
                            "tank/home"}));
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[0].id, 424207u);
  EXPECT_EQ((*rows)[0].used, 279552u);
  EXPECT_EQ((*rows)[1].zfs_name, "root");
  EXPECT_FALSE((*rows)[1].id.has_value());
  EXPECT_EQ((*rows)[2].quota, 1048576u);
}

TEST(ParseSizeTest, AcceptsPlainBytesAndBinaryUnits) {
  EXPECT_EQ(ParseSize("1048576"), 1048576u);
  EXPECT_EQ(ParseSize("512K"), 512u << 10);
  EXPECT_EQ(ParseSize("512M"), 512ull << 20);
  EXPECT_EQ(ParseSize("10G"), 10ull << 30);
  EXPECT_EQ(ParseSize("10g"), 10ull << 30);
  EXPECT_EQ(ParseSize("10GB"), 10ull << 30);
  EXPECT_EQ(ParseSize("10GiB"), 10ull << 30);
  EXPECT_EQ(ParseSize("1T"), 1ull << 40);
  EXPECT_EQ(ParseSize("1.5G"), 3ull << 29);
  EXPECT_EQ(ParseSize("2.5K"), 2560u);
  EXPECT_EQ(ParseSize("100B"), 100u);
}

TEST(ParseSizeTest, RefusesMalformedNegativeAndOverflowingSizesNamingTheValue) {
  for (const char* bad : {"", "-1", "-10G", "1.5.G", "1..5G", "G", "10X", "10 G", "1.5", "1.G", " 10G", "10G ",
                          "0x10", "99999999999999999999", "20E", "16384P", "1e9", "10GG", "+5"}) {
    auto r = ParseSize(bad);
    ASSERT_FALSE(r) << "'" << bad << "' parsed as " << *r;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message().find(std::string("'") + bad + "'"), std::string::npos) << r.error().message();
  }
}

}  // namespace
}  // namespace pk::zfs
