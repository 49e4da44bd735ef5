// The kernel NFS backend against a fake runner (exportfs) and real files in a
// temporary directory (the exports file, a stand-in for /proc/fs/nfsd/threads).
// Its run against the real kernel server is in the OpenZFS guest
// (tests/openzfs/guest-run, kernel NFS step).
#include "share/nfs_kernel.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "testing/fake_configfs.h"
#include "testing/fake_process_runner.h"

namespace pk::share {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using pk::testing::FakeProcessRunner;

Share NfsShare(const std::string& dataset, const std::string& path, std::vector<std::string> clients) {
  NfsDefinition d;
  for (const auto& c : clients) d.clients.push_back(*NfsClient::Parse(c));
  return Share{.pool = dataset.substr(0, dataset.find('/')), .dataset = dataset, .guid = 42, .path = path,
               .volume = false, .definition = d};
}

// `exportfs -v` as nfs-utils 2.6 prints it: a short path and its client on one
// line; a long path alone, its client on the next, indented (written in that
// format; the real output is checked in the guest).
constexpr std::string_view kExportfsV =
    "/tank/home    \t127.0.0.1(sync,wdelay,hide,no_subtree_check,sec=sys,rw,secure,no_root_squash,no_all_squash)\n"
    "/tank/a\\040very\\040long\\040dataset\\040name\\040that\\040wraps\n"
    "\t\t10.0.0.0/8(sync,wdelay,hide,no_subtree_check,sec=sys,ro,secure,root_squash,no_all_squash)\n"
    "/tank/home    \t10.0.0.0/8(sync,wdelay,hide,no_subtree_check,sec=sys,ro,secure,root_squash,no_all_squash)\n";

// The fsid of guid 42 (NfsShare's).
const std::string kFsid42 = "706b6e66-0000-0000-0000-00000000002a";

TEST(KernelNfsTest, FsidIsAUuidCarryingTheWholeGuid) {
  EXPECT_EQ(KernelNfsFsid(42), kFsid42);
  EXPECT_EQ(KernelNfsFsid(0x1234567890abcdefULL), "706b6e66-0000-0000-1234-567890abcdef");
  EXPECT_EQ(KernelNfsFsid(~0ULL), "706b6e66-0000-0000-ffff-ffffffffffff");
}

TEST(KernelNfsTest, RendersOneLinePerShareWithEscapes) {
  auto text = RenderKernelExports({NfsShare("tank/home", "/tank/home", {"127.0.0.1(rw,no_root_squash)", "10.0.0.0/8"}),
                                   NfsShare("tank/my data", "/tank/my data#1", {"*(ro)"})});
  EXPECT_THAT(text, HasSubstr("# share nfs:tank/home\n"
                              "/tank/home 127.0.0.1(rw,no_root_squash,sec=sys,no_subtree_check,fsid=" + kFsid42 + ") "
                              "10.0.0.0/8(ro,root_squash,sec=sys,no_subtree_check,fsid=" + kFsid42 + ")\n"));
  EXPECT_THAT(text, HasSubstr("# share nfs:tank/my data\n/tank/my\\040data\\0431 *(ro,root_squash,sec=sys,no_subtree_check,fsid=" +
                              kFsid42 + ")\n"));
}

TEST(KernelNfsTest, ParsesExportfsPathsIncludingWrappedAndEscaped) {
  EXPECT_THAT(ParseExportfsPaths(kExportfsV),
              ElementsAre("/tank/home", "/tank/a very long dataset name that wraps"));
  EXPECT_TRUE(ParseExportfsPaths("").empty());
}

class KernelNfsBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("pk-nfs-kernel-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    options_.exports_file = (dir_ / "exports.d/poolkeeper.exports").string();
    options_.threads_file = (dir_ / "threads").string();
    options_.unlock_filesystem_file = "/proc/fs/nfsd/unlock_filesystem";
    attributes_.AddKernelAttribute(options_.unlock_filesystem_file, "");
    SetThreads("8\n");
    backend_ = *MakeKernelNfsBackend(options_, runner_, *fs_, attributes_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void SetThreads(const std::string& text) { std::ofstream(options_.threads_file) << text; }
  std::string Exports() {
    std::ifstream in(options_.exports_file);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::filesystem::path dir_;
  KernelNfsOptions options_;
  FakeProcessRunner runner_;
  pk::testing::FakeConfigFs attributes_;
  std::unique_ptr<sys::FileSystem> fs_ = sys::MakeRealFileSystem();
  std::unique_ptr<Backend> backend_;
};

TEST_F(KernelNfsBackendTest, ServesWhatTheKernelExportsAndNamesWhatItRefused) {
  runner_.Expect({"exportfs", "-ra"},
                 FakeProcessRunner::Exited(0, "", "exportfs: Failed to stat /tank/gone: No such file or directory\n"));
  runner_.Expect({"exportfs", "-v"}, FakeProcessRunner::Exited(0, std::string(kExportfsV)),
                 FakeProcessRunner::Times::kAlways);
  auto results = backend_->Reconcile({NfsShare("tank/home", "/tank/home", {"127.0.0.1(rw)"}),
                                      NfsShare("tank/gone", "/tank/gone", {"*"})});
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].id, "nfs:tank/home");
  EXPECT_TRUE(results[0].status) << results[0].status.error().ToString();
  EXPECT_EQ(results[1].id, "nfs:tank/gone");
  ASSERT_FALSE(results[1].status);
  EXPECT_EQ(results[1].status.error().code(), ErrorCode::kUnavailable);
  EXPECT_THAT(results[1].status.error().message(), HasSubstr("Failed to stat /tank/gone"));
  EXPECT_THAT(Exports(), HasSubstr("/tank/home 127.0.0.1(rw,root_squash,sec=sys,no_subtree_check,fsid=" + kFsid42 + ")\n"));
  EXPECT_THAT(Exports(), HasSubstr("/tank/gone *(ro,"));

  auto served = backend_->Served();
  ASSERT_TRUE(served) << served.error().ToString();
  EXPECT_THAT(*served, ElementsAre("nfs:tank/home"));
  EXPECT_TRUE(runner_.UnmetExpectations().empty());
}

TEST_F(KernelNfsBackendTest, ServerNotRunningFailsEveryShareWithoutTouchingExports) {
  SetThreads("0\n");
  auto results = backend_->Reconcile({NfsShare("tank/home", "/tank/home", {"*"})});
  ASSERT_EQ(results.size(), 1u);
  ASSERT_FALSE(results[0].status);
  EXPECT_EQ(results[0].status.error().code(), ErrorCode::kUnavailable);
  EXPECT_THAT(results[0].status.error().message(), HasSubstr("nfs-server.service"));
  EXPECT_FALSE(std::filesystem::exists(options_.exports_file));
  EXPECT_FALSE(backend_->Health());
}

TEST_F(KernelNfsBackendTest, StopWithdrawsOnlyPoolkeepersExports) {
  runner_.Expect({"exportfs", "-ra"}, FakeProcessRunner::Exited(0), FakeProcessRunner::Times::kAlways);
  runner_.Expect({"exportfs", "-v"}, FakeProcessRunner::Exited(0, std::string(kExportfsV)));
  ASSERT_TRUE(backend_->Reconcile({NfsShare("tank/home", "/tank/home", {"*"})})[0].status);
  // Withdrawing a path flushes the kernel's export cache and releases nfsd's
  // state on its filesystem (both keep it busy).
  runner_.Expect({"exportfs", "-f"}, FakeProcessRunner::Exited(0));
  ASSERT_TRUE(backend_->Stop());
  EXPECT_EQ(Exports(), "");
  EXPECT_TRUE(runner_.UnmetExpectations().empty());
  EXPECT_THAT(attributes_.mutations(), ElementsAre("write /proc/fs/nfsd/unlock_filesystem=/tank/home\n"));
}

TEST_F(KernelNfsBackendTest, ReconcileFlushesOnlyWhenAPathIsWithdrawn) {
  runner_.Expect({"exportfs", "-ra"}, FakeProcessRunner::Exited(0), FakeProcessRunner::Times::kAlways);
  runner_.Expect({"exportfs", "-v"}, FakeProcessRunner::Exited(0, std::string(kExportfsV)),
                 FakeProcessRunner::Times::kAlways);
  auto home = NfsShare("tank/home", "/tank/home", {"*"});
  auto other = NfsShare("tank/other", "/tank/other", {"*"});
  backend_->Reconcile({home, other});
  backend_->Reconcile({home, other});  // nothing withdrawn: no flush (an unexpected -f would fail)
  runner_.Expect({"exportfs", "-f"}, FakeProcessRunner::Exited(0));
  EXPECT_TRUE(attributes_.mutations().empty());
  auto results = backend_->Reconcile({home});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].status) << results[0].status.error().ToString();
  EXPECT_TRUE(runner_.UnmetExpectations().empty());
  EXPECT_THAT(attributes_.mutations(), ElementsAre("write /proc/fs/nfsd/unlock_filesystem=/tank/other\n"));
}

// /proc/fs/nfsd/clients/ID/states as kernel 6.1 prints it (captured in the
// OpenZFS guest: an NFSv4.2 client with a file open on a dataset at 0:42).
constexpr std::string_view kStatesOn42 =
    "- 0x0000000199f9126bbecbca5801000000: { type: open, access: rw, deny: --, superblock: \"00:2a:3\", "
    "filename: \"/f4\", owner: \"open id:\\x00\\x00\\x00/\\x00\\x22\\xb5\\x02CB\" }\n";

TEST(KernelNfsTest, ParsesTheKernelsViewsOfMountsStatesCachesAndFiles) {
  constexpr std::string_view kMountinfo =
      "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
      "91 22 0:42 / /var/tmp/pk\\040lab/tank/home rw,relatime shared:50 - zfs tank/home rw,xattr,posixacl\n"
      "92 22 0:43 / /tank/other rw shared:51 - zfs tank/other rw\n"
      "93 92 0:44 / /tank/other rw shared:52 - zfs tank/over rw\n";
  EXPECT_EQ(MountDeviceOf(kMountinfo, "/var/tmp/pk lab/tank/home"), (DeviceNumber{0, 42}));
  EXPECT_EQ(MountDeviceOf(kMountinfo, "/tank/other"), (DeviceNumber{0, 44}));  // the mount on top
  EXPECT_EQ(MountDeviceOf(kMountinfo, "/tank"), std::nullopt);
  EXPECT_EQ(MountDeviceOf("garbage\n", "/tank"), std::nullopt);

  EXPECT_TRUE(StatesHoldDevice(kStatesOn42, {0, 42}));
  EXPECT_FALSE(StatesHoldDevice(kStatesOn42, {0, 43}));
  EXPECT_FALSE(StatesHoldDevice(kStatesOn42, {2, 42}));
  EXPECT_TRUE(StatesHoldDevice("- 0x01: { type: deleg, access: r, superblock: \"fd:10:13649\", filename: \"x\" }\n",
                               {0xfd, 0x10}));
  EXPECT_FALSE(StatesHoldDevice("", {0, 42}));

  constexpr std::string_view kExportCache =
      "#path domain(flags)\n"
      "/var/tmp/pk\\040lab/tank/home\t127.0.0.1(rw,no_root_squash,sync,wdelay,no_subtree_check,sec=1)\n"
      "# /tank/gone\t127.0.0.1(rw)\n";
  EXPECT_TRUE(ExportCacheLists(kExportCache, "/var/tmp/pk lab/tank/home"));
  // An expired entry is listed behind "# " and still holds its path.
  EXPECT_TRUE(ExportCacheLists(kExportCache, "/tank/gone"));
  EXPECT_FALSE(ExportCacheLists(kExportCache, "/tank"));
  EXPECT_FALSE(ExportCacheLists("#path domain(flags)\n", "path"));

  EXPECT_EQ(FileCacheInodes("total inodes:  1\nhash buckets:  256\nlru entries:   2\n"), 1);
  EXPECT_EQ(FileCacheInodes("total entries: 7\n"), 7);
  EXPECT_EQ(FileCacheInodes("hash buckets: 256\n"), std::nullopt);
}

// A fake /proc: two datasets mounted, three NFSv4 clients (one holding state
// on /tank/home, one on /tank/other, one on nothing), the export cache and
// nfsd's file cache.
class KernelNfsReleaseTest : public KernelNfsBackendTest {
 protected:
  void SetUp() override {
    KernelNfsBackendTest::SetUp();
    options_.clients_dir = "/proc/fs/nfsd/clients";
    options_.export_cache_file = "/proc/net/rpc/nfsd.export/content";
    options_.filecache_file = "/proc/fs/nfsd/filecache";
    options_.mountinfo_file = "/proc/self/mountinfo";
    options_.sleep = [this](std::chrono::milliseconds d) { slept_ += d; };
    attributes_.AddKernelAttribute(options_.mountinfo_file,
                                   "91 22 0:42 / /tank/home rw - zfs tank/home rw\n"
                                   "92 22 0:43 / /tank/other rw - zfs tank/other rw\n");
    AddClient("3", "Linux NFSv4.2 client-a", std::string(kStatesOn42));
    AddClient("4", "Linux NFSv4.2 client-b",
              "- 0x02: { type: open, access: r, deny: --, superblock: \"00:2b:9\", filename: \"/o\", owner: \"x\" }\n");
    AddClient("5", "Linux NFSv4.1 client-c", "");
    attributes_.AddKernelAttribute(options_.export_cache_file, "#path domain(flags)\n");
    attributes_.AddKernelAttribute(options_.filecache_file, "total inodes:  0\nhash buckets:  256\n");
    // Expiring a client drops its state, as the kernel does.
    attributes_.on_write = [this](const std::string& path, const std::string& value) {
      if (path.ends_with("/ctl") && value == "expire\n") {
        attributes_.AddKernelAttribute(path.substr(0, path.size() - 4) + "/states", "");
      }
      return OkStatus();
    };
    backend_ = *MakeKernelNfsBackend(options_, runner_, *fs_, attributes_);
    runner_.Expect({"exportfs", "-ra"}, FakeProcessRunner::Exited(0), FakeProcessRunner::Times::kAlways);
    runner_.Expect({"exportfs", "-v"}, FakeProcessRunner::Exited(0, "/tank/home\t*(rw)\n/tank/other\t*(rw)\n"),
                   FakeProcessRunner::Times::kAlways);
    home_ = NfsShare("tank/home", "/tank/home", {"*"});
    other_ = NfsShare("tank/other", "/tank/other", {"*"});
    EXPECT_TRUE(backend_->Reconcile({home_, other_})[0].status);
    attributes_.TakeMutations();
  }
  void AddClient(const std::string& id, const std::string& name, const std::string& states) {
    std::string dir = "/proc/fs/nfsd/clients/" + id;
    attributes_.AddKernelAttribute(dir + "/info", "clientid: 0x" + id + "\nname: \"" + name + "\"\nminor version: 2\n");
    attributes_.AddKernelAttribute(dir + "/states", states);
    attributes_.AddKernelAttribute(dir + "/ctl", "");
  }
  int Flushes() const {
    int n = 0;
    for (const auto& c : runner_.calls()) n += c.args == std::vector<std::string>{"-f"};
    return n;
  }

  Share home_, other_;
  std::chrono::milliseconds slept_{0};
};

TEST_F(KernelNfsReleaseTest, ExpiresOnlyTheClientsHoldingStateOnTheWithdrawnFilesystem) {
  runner_.Expect({"exportfs", "-f"}, FakeProcessRunner::Exited(0), FakeProcessRunner::Times::kAlways);
  auto results = backend_->Reconcile({other_});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].status);
  // client-a held a file on /tank/home (0:42): expired; client-b holds one on
  // /tank/other, still exported, and client-c nothing: left alone.
  EXPECT_THAT(attributes_.mutations(), ElementsAre("write /proc/fs/nfsd/unlock_filesystem=/tank/home\n",
                                                   "write /proc/fs/nfsd/clients/3/ctl=expire\n"));
  EXPECT_EQ(Flushes(), 1);
  EXPECT_EQ(slept_, options_.poll);  // one look after the expiry finds nothing held
}

TEST_F(KernelNfsReleaseTest, ReflushesTheExportCacheWhileItStillListsTheWithdrawnPath) {
  // Requests in flight re-create the entry once; the second flush clears it.
  attributes_.AddKernelAttribute(options_.export_cache_file, "/tank/home\t*(rw,sec=1)\n/tank/other\t*(rw,sec=1)\n");
  int flushes = 0;
  runner_.Expect(
      {"exportfs", "-f"},
      [&](const sys::Command&) -> Result<sys::ProcessResult> {
        if (++flushes == 2) attributes_.AddKernelAttribute(options_.export_cache_file, "/tank/other\t*(rw,sec=1)\n");
        return FakeProcessRunner::Exited(0);
      },
      FakeProcessRunner::Times::kAlways);
  EXPECT_TRUE(backend_->Reconcile({other_})[0].status);
  EXPECT_EQ(flushes, 2);
  EXPECT_EQ(slept_, options_.poll);
}

TEST_F(KernelNfsReleaseTest, WaitsForTheV3FileCacheOnlyUpToItsSettleTime) {
  runner_.Expect({"exportfs", "-f"}, FakeProcessRunner::Exited(0), FakeProcessRunner::Times::kAlways);
  // Files of other exports stay open: the wait ends at filecache_settle.
  attributes_.AddKernelAttribute(options_.filecache_file, "total inodes:  2\n");
  EXPECT_TRUE(backend_->Reconcile({other_})[0].status);
  EXPECT_EQ(slept_, options_.filecache_settle);
}

TEST_F(KernelNfsReleaseTest, GivesUpAfterTheReleaseTimeoutNamingWhatStillHolds) {
  runner_.Expect({"exportfs", "-f"}, FakeProcessRunner::Exited(0), FakeProcessRunner::Times::kAlways);
  // A client whose expiry the kernel refuses keeps its state: bounded, logged, not an error here
  // (the pool export that follows fails "busy").
  attributes_.on_write = [](const std::string& path, const std::string&) -> Status {
    if (path.ends_with("/ctl")) return FailedPrecondition("write " + path + ": Device or resource busy");
    return OkStatus();
  };
  auto results = backend_->Reconcile({other_});
  EXPECT_TRUE(results[0].status);
  EXPECT_EQ(slept_, options_.release_timeout - options_.poll);
  EXPECT_EQ(options_.release_timeout / options_.poll, 40);
}

TEST_F(KernelNfsReleaseTest, StopReleasesEveryExportedFilesystem) {
  runner_.Expect({"exportfs", "-f"}, FakeProcessRunner::Exited(0), FakeProcessRunner::Times::kAlways);
  ASSERT_TRUE(backend_->Stop());
  EXPECT_THAT(attributes_.mutations(), ElementsAre("write /proc/fs/nfsd/unlock_filesystem=/tank/home\n",
                                                   "write /proc/fs/nfsd/unlock_filesystem=/tank/other\n",
                                                   "write /proc/fs/nfsd/clients/3/ctl=expire\n",
                                                   "write /proc/fs/nfsd/clients/4/ctl=expire\n"));
}

TEST(KernelNfsOptionsTest, RelativePathsAreRefused) {
  FakeProcessRunner runner;
  auto fs = sys::MakeRealFileSystem();
  KernelNfsOptions o;
  o.exportfs_path = "exportfs";
  pk::testing::FakeConfigFs attributes;
  auto b = MakeKernelNfsBackend(o, runner, *fs, attributes);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace pk::share
