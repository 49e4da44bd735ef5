// The kernel NFS backend against a fake runner (exportfs) and real files in a
// temporary directory (the exports file, a stand-in for /proc/fs/nfsd/threads).
// Its run against the real kernel server is in the OpenZFS guest
// (tests/openzfs/guest-run, kernel NFS step).
#include "share/nfs_kernel.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "testing/fake_clock.h"
#include "testing/fake_configfs.h"
#include "testing/fake_process_runner.h"

namespace pk::share {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
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

// issue 17 item 4: a '"' in a path would make exportfs read a quoted token
// running into the client list; every such character is an octal escape.
TEST(KernelNfsTest, EscapesQuotesAndControlCharactersInPaths) {
  auto text = RenderKernelExports({NfsShare("tank/q", "/tank/a\"b *(rw,no_root_squash)\"\r\x7f", {"10.0.0.1(ro)"})});
  EXPECT_THAT(text, HasSubstr("\n/tank/a\\042b\\040*(rw,no_root_squash)\\042\\015\\177 10.0.0.1(ro,"));
  EXPECT_THAT(text, Not(HasSubstr("\"")));
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
  // Withdrawing a path releases nfsd's NLM locks on its filesystem (the export
  // caches, NFSv4 clients and file cache of this fake /proc hold nothing).
  ASSERT_TRUE(backend_->Stop());
  EXPECT_EQ(Exports(), "");
  EXPECT_TRUE(runner_.UnmetExpectations().empty());
  EXPECT_THAT(attributes_.mutations(), ElementsAre("write /proc/fs/nfsd/unlock_filesystem=/tank/home\n"));
}

TEST_F(KernelNfsBackendTest, ReleasesOnlyWhenAPathIsWithdrawn) {
  runner_.Expect({"exportfs", "-ra"}, FakeProcessRunner::Exited(0), FakeProcessRunner::Times::kAlways);
  runner_.Expect({"exportfs", "-v"}, FakeProcessRunner::Exited(0, std::string(kExportfsV)),
                 FakeProcessRunner::Times::kAlways);
  auto home = NfsShare("tank/home", "/tank/home", {"*"});
  auto other = NfsShare("tank/other", "/tank/other", {"*"});
  backend_->Reconcile({home, other});
  backend_->Reconcile({home, other});  // nothing withdrawn: nothing released
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

  // The export caches as the guest's kernel listed them after a withdrawal
  // (entries behind "# " are expired but still held; a negative nfsd.fh
  // entry names no path).
  constexpr std::string_view kExportCache =
      "#path domain(flags)\n"
      "/var/tmp/pk\\040lab/tank/home\t127.0.0.1(rw,no_root_squash,sync,wdelay,no_subtree_check,sec=1)\n"
      "# /var/tmp/pk-lab/mnt\t127.0.0.1(ro,insecure,no_root_squash,sync,no_wdelay,no_subtree_check,v4root,"
      "uuid=8188ca07:1bb94878:96c481fb:86160dab,sec=390003:390004:390005:1)\n"
      "# /tank/gone\t127.0.0.1(rw)\n";
  EXPECT_THAT(ExportCachePaths(kExportCache, ExportCacheKind::kExport),
              ElementsAre("/var/tmp/pk lab/tank/home", "/var/tmp/pk-lab/mnt", "/tank/gone"));
  constexpr std::string_view kFhCache =
      "#domain fsidtype fsid [path]\n"
      "# 127.0.0.1 6 0x666e6b700000000078563412efcdab90 /var/tmp/pk-lab/mnt/pkit1960x0/export\n"
      "127.0.0.1 1 0x00000000 /\n"
      "# 127.0.0.1 7 0x00009d010000000007ca88817848b91bfb81c496ab0d1686\n";
  EXPECT_THAT(ExportCachePaths(kFhCache, ExportCacheKind::kFh),
              ElementsAre("/var/tmp/pk-lab/mnt/pkit1960x0/export", "/"));
  EXPECT_TRUE(ExportCachePaths("#path domain(flags)\n", ExportCacheKind::kExport).empty());

  EXPECT_THAT(PoolMountPoints(kMountinfo, "tank"), ElementsAre("/var/tmp/pk lab/tank/home", "/tank/other"));
  EXPECT_THAT(PoolMountPoints(std::string(kMountinfo) + "94 22 0:45 / /tank2 rw - zfs tank2 rw\n", "tank2"),
              ElementsAre("/tank2"));
  EXPECT_TRUE(PoolMountPoints(kMountinfo, "tan").empty());  // tank's datasets are not tan's

  EXPECT_EQ(ParseFlushTime("1796457289\n"), 1796457289);
  EXPECT_EQ(ParseFlushTime("\n"), std::nullopt);
  EXPECT_EQ(ParseFlushTime("12x\n"), std::nullopt);

  EXPECT_EQ(FileCacheInodes("total inodes:  1\nhash buckets:  256\nlru entries:   2\n"), 1);
  EXPECT_EQ(FileCacheInodes("total entries: 7\n"), 7);
  EXPECT_EQ(FileCacheInodes("hash buckets: 256\n"), std::nullopt);
}

// A fake /proc: a pool's root and two datasets mounted, three NFSv4 clients
// (one holding state on /tank/home, one on /tank/other, one on nothing), the
// export caches with their flush files, nfsd's file cache, and a wall clock
// that the backend's sleeps advance. Flushing a cache behaves as in the kernel
// (net/sunrpc/cache.c, write_flush): when its flush time is behind the clock,
// the flush time becomes the current second and the cache is swept (a fresh
// request may re-create an nfsd.export entry: `recreate_`); when it is not, the flush
// time only moves a second ahead and nothing is swept, which the backend must
// never cause (`unswept_flushes_`).
class KernelNfsReleaseTest : public KernelNfsBackendTest {
 protected:
  static constexpr int64_t kExportTime = 1796457289;  // when the fixture's `exportfs -ra` ran
  static constexpr std::string_view kExportHeader = "#path domain(flags)\n";
  static constexpr std::string_view kFhHeader = "#domain fsidtype fsid [path]\n";

  void SetUp() override {
    KernelNfsBackendTest::SetUp();
    options_.clients_dir = "/proc/fs/nfsd/clients";
    options_.export_cache_file = "/proc/net/rpc/nfsd.export/content";
    options_.export_flush_file = "/proc/net/rpc/nfsd.export/flush";
    options_.fh_cache_file = "/proc/net/rpc/nfsd.fh/content";
    options_.fh_flush_file = "/proc/net/rpc/nfsd.fh/flush";
    options_.filecache_file = "/proc/fs/nfsd/filecache";
    options_.mountinfo_file = "/proc/self/mountinfo";
    options_.clock = &clock_;
    attributes_.AddKernelAttribute(options_.mountinfo_file,
                                   "90 22 0:41 / /tank rw - zfs tank rw\n"
                                   "91 90 0:42 / /tank/home rw - zfs tank/home rw\n"
                                   "92 90 0:43 / /tank/other rw - zfs tank/other rw\n");
    AddClient("3", "Linux NFSv4.2 client-a", std::string(kStatesOn42));
    AddClient("4", "Linux NFSv4.2 client-b",
              "- 0x02: { type: open, access: r, deny: --, superblock: \"00:2b:9\", filename: \"/o\", owner: \"x\" }\n");
    AddClient("5", "Linux NFSv4.1 client-c", "");
    attributes_.AddKernelAttribute(options_.export_cache_file, std::string(kExportHeader));
    attributes_.AddKernelAttribute(options_.fh_cache_file, std::string(kFhHeader));
    // `exportfs -ra` flushed every cache in this very second.
    attributes_.AddKernelAttribute(options_.export_flush_file, std::to_string(kExportTime) + "\n");
    attributes_.AddKernelAttribute(options_.fh_flush_file, std::to_string(kExportTime) + "\n");
    flush_time_[options_.export_flush_file] = flush_time_[options_.fh_flush_file] = kExportTime;
    attributes_.AddKernelAttribute(options_.filecache_file, "total inodes:  0\nhash buckets:  256\n");
    attributes_.on_write = [this](const std::string& path, const std::string& value) {
      // Expiring a client drops its state, as the kernel does.
      if (path.ends_with("/ctl") && value == "expire\n") {
        attributes_.AddKernelAttribute(path.substr(0, path.size() - 4) + "/states", "");
      }
      if (path == options_.export_flush_file || path == options_.fh_flush_file) KernelFlush(path);
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
  void TearDown() override {
    EXPECT_EQ(unswept_flushes_, 0) << "a flush while the cache's flush time was not behind the clock";
    KernelNfsBackendTest::TearDown();
  }
  void AddClient(const std::string& id, const std::string& name, const std::string& states) {
    std::string dir = "/proc/fs/nfsd/clients/" + id;
    attributes_.AddKernelAttribute(dir + "/info", "clientid: 0x" + id + "\nname: \"" + name + "\"\nminor version: 2\n");
    attributes_.AddKernelAttribute(dir + "/states", states);
    attributes_.AddKernelAttribute(dir + "/ctl", "");
  }
  int64_t NowSeconds() const {
    return std::chrono::duration_cast<std::chrono::seconds>(clock_.Now().time_since_epoch()).count();
  }
  void KernelFlush(const std::string& flush_file) {
    int64_t& t = flush_time_[flush_file];
    if (t >= NowSeconds()) {
      ++t;
      ++unswept_flushes_;
      return;
    }
    t = NowSeconds();
    ++sweeps_;
    if (flush_file == options_.fh_flush_file) {
      attributes_.AddKernelAttribute(options_.fh_cache_file, std::string(kFhHeader));
      return;
    }
    attributes_.AddKernelAttribute(options_.export_cache_file, std::string(kExportHeader) + recreate_.value_or(""));
    recreate_.reset();
  }
  // What the caches list: nfsd.export lines, nfsd.fh lines.
  void SetCaches(const std::string& exports, const std::string& fhs) {
    attributes_.AddKernelAttribute(options_.export_cache_file, std::string(kExportHeader) + exports);
    attributes_.AddKernelAttribute(options_.fh_cache_file, std::string(kFhHeader) + fhs);
  }
  std::vector<std::string> FlushWrites() const {
    std::vector<std::string> writes;
    for (const auto& m : attributes_.mutations()) {
      if (m.find("/flush=") != std::string::npos) writes.push_back(m);
    }
    return writes;
  }

  Share home_, other_;
  pk::testing::FakeClock clock_{std::chrono::system_clock::time_point(std::chrono::seconds(kExportTime)) +
                            std::chrono::milliseconds(400)};
  // The backend's sleeps so far (each advances the fake clock).
  std::chrono::milliseconds Slept() const {
    std::chrono::milliseconds total{0};
    for (auto d : clock_.sleeps()) total += d;
    return total;
  }
  std::map<std::string, int64_t> flush_time_;
  std::optional<std::string> recreate_;  // an nfsd.export entry made again right after the next sweep
  int sweeps_ = 0;
  int unswept_flushes_ = 0;
};

TEST_F(KernelNfsReleaseTest, ExpiresOnlyTheClientsHoldingStateOnTheWithdrawnFilesystem) {
  auto results = backend_->Reconcile({other_});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].status);
  // client-a held a file on /tank/home (0:42): expired; client-b holds one on
  // /tank/other, still exported, and client-c nothing: left alone. The export
  // caches list nothing of /tank/home: no flush.
  EXPECT_THAT(attributes_.mutations(), ElementsAre("write /proc/fs/nfsd/unlock_filesystem=/tank/home\n",
                                                   "write /proc/fs/nfsd/clients/3/ctl=expire\n"));
  EXPECT_EQ(Slept(), options_.poll);  // one look after the expiry finds nothing held
}

TEST_F(KernelNfsReleaseTest, FlushesTheExportCachesOnlyOnceTheirFlushTimeIsBehindTheClock) {
  // As in the guest: `exportfs -ra` flushed in this second, and entries made
  // meanwhile (or left by a flush within the same second) are listed behind
  // "# ", holding the dataset. A flush now would not sweep them (and would
  // push the sweep a second further): the backend waits for the next second,
  // then flushes nfsd.fh and nfsd.export once.
  SetCaches("# /tank/home\t127.0.0.1(rw,sec=1)\n/tank/other\t127.0.0.1(rw,sec=1)\n",
            "# 127.0.0.1 6 0x666e6b70000000000000000000002a /tank/home\n");
  EXPECT_TRUE(backend_->Reconcile({other_})[0].status);
  EXPECT_THAT(FlushWrites(), ElementsAre(fmt::format("write {}={}\n", options_.fh_flush_file, kExportTime + 1),
                                         fmt::format("write {}={}\n", options_.export_flush_file, kExportTime + 1)));
  EXPECT_EQ(sweeps_, 2);
  EXPECT_EQ(attributes_.Value(options_.export_cache_file), kExportHeader);
  // 750 ms until the clock passed the flush time, then one look at swept caches.
  EXPECT_EQ(Slept(), std::chrono::milliseconds(1000));
}

TEST_F(KernelNfsReleaseTest, FlushesAgainAtMostOnceASecondWhileEntriesAreRecreated) {
  // A client still mounted re-creates an entry after the first sweep.
  clock_.Advance(std::chrono::seconds(1));
  SetCaches("# /tank/home\t127.0.0.1(rw,sec=1)\n", "");
  recreate_ = "# /tank/home\t127.0.0.1(rw,sec=1)\n";
  EXPECT_TRUE(backend_->Reconcile({other_})[0].status);
  EXPECT_EQ(sweeps_, 4);
  EXPECT_THAT(FlushWrites(), ElementsAre(fmt::format("write {}={}\n", options_.fh_flush_file, kExportTime + 1),
                                         fmt::format("write {}={}\n", options_.export_flush_file, kExportTime + 1),
                                         fmt::format("write {}={}\n", options_.fh_flush_file, kExportTime + 2),
                                         fmt::format("write {}={}\n", options_.export_flush_file, kExportTime + 2)));
}

TEST_F(KernelNfsReleaseTest, WaitsLongerForTheClockWhenOnlyTheCachesHold) {
  // Others flushed in a burst (OpenZFS's exportfs -ra at every mount and
  // unmount): the flush time is 20 s ahead, and nothing but the clock lets
  // the kernel sweep. The release waits past release_timeout, then flushes once.
  flush_time_[options_.export_flush_file] = flush_time_[options_.fh_flush_file] = kExportTime + 20;
  attributes_.AddKernelAttribute(options_.export_flush_file, std::to_string(kExportTime + 20) + "\n");
  attributes_.AddKernelAttribute(options_.fh_flush_file, std::to_string(kExportTime + 20) + "\n");
  SetCaches("# /tank/home\t127.0.0.1(rw,sec=1)\n", "");
  EXPECT_TRUE(backend_->Reconcile({other_})[0].status);
  EXPECT_THAT(FlushWrites(), ElementsAre(fmt::format("write {}={}\n", options_.fh_flush_file, kExportTime + 21),
                                         fmt::format("write {}={}\n", options_.export_flush_file, kExportTime + 21)));
  EXPECT_EQ(sweeps_, 2);
  EXPECT_GT(Slept(), options_.release_timeout);
  EXPECT_LT(Slept(), options_.release_timeout + options_.cache_sweep_wait);
}

TEST_F(KernelNfsReleaseTest, GivesUpWhenTheCachesCannotBeSweptWithinTheLongerWait) {
  flush_time_[options_.export_flush_file] = flush_time_[options_.fh_flush_file] = kExportTime + 60;
  attributes_.AddKernelAttribute(options_.export_flush_file, std::to_string(kExportTime + 60) + "\n");
  attributes_.AddKernelAttribute(options_.fh_flush_file, std::to_string(kExportTime + 60) + "\n");
  SetCaches("# /tank/home\t127.0.0.1(rw,sec=1)\n", "");
  EXPECT_TRUE(backend_->Reconcile({other_})[0].status);  // bounded; the pool export that follows fails "busy"
  EXPECT_TRUE(FlushWrites().empty());
  EXPECT_EQ(Slept(), options_.release_timeout + options_.cache_sweep_wait - options_.poll);
}

TEST_F(KernelNfsReleaseTest, EntriesOfThePoolsOtherMountsHoldItButThoseAStillServedPathNeedsDoNot) {
  clock_.Advance(std::chrono::seconds(1));
  // /tank (the pool's root, an NFSv4 pseudo-root entry) and /tank/other stay
  // while /tank/other is served: withdrawing /tank/home flushes nothing.
  SetCaches("# /tank\t127.0.0.1(ro,v4root,sec=1)\n/tank/other\t127.0.0.1(rw,sec=1)\n", "");
  EXPECT_TRUE(backend_->Reconcile({other_})[0].status);
  EXPECT_TRUE(FlushWrites().empty());
  // Once nothing of the pool is served, the pool root's entry holds the pool.
  SetCaches("# /tank\t127.0.0.1(ro,v4root,sec=1)\n# /\t127.0.0.1(ro,v4root,fsid=0,sec=1)\n", "");
  ASSERT_TRUE(backend_->Stop());
  EXPECT_EQ(FlushWrites().size(), 2u);
  EXPECT_EQ(sweeps_, 2);
}

TEST_F(KernelNfsReleaseTest, WaitsForTheV3FileCacheOnlyUpToItsSettleTime) {
  // Files of other exports stay open: the wait ends at filecache_settle.
  attributes_.AddKernelAttribute(options_.filecache_file, "total inodes:  2\n");
  EXPECT_TRUE(backend_->Reconcile({other_})[0].status);
  EXPECT_EQ(Slept(), options_.filecache_settle);
}

TEST_F(KernelNfsReleaseTest, GivesUpAfterTheReleaseTimeoutNamingWhatStillHolds) {
  // A client whose expiry the kernel refuses keeps its state, and an entry
  // comes back after every sweep: bounded, logged, not an error here (the
  // pool export that follows fails "busy"); flushes stay one a second.
  attributes_.on_write = [this](const std::string& path, const std::string&) -> Status {
    if (path.ends_with("/ctl")) return FailedPrecondition("write " + path + ": Device or resource busy");
    if (path == options_.export_flush_file || path == options_.fh_flush_file) {
      recreate_ = "/tank/home\t127.0.0.1(rw,sec=1)\n";
      KernelFlush(path);
    }
    return OkStatus();
  };
  SetCaches("/tank/home\t127.0.0.1(rw,sec=1)\n", "");
  auto results = backend_->Reconcile({other_});
  EXPECT_TRUE(results[0].status);
  EXPECT_EQ(Slept(), options_.release_timeout - options_.poll);
  EXPECT_EQ(options_.release_timeout / options_.poll, 40);
  EXPECT_EQ(sweeps_, 2 * 10);  // seconds 1..10 after the export (the last look is at +10.15 s)
}

TEST_F(KernelNfsReleaseTest, StopReleasesEveryExportedFilesystem) {
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
