// Disk lifecycle through the real adapter against the lab's ZFS (issue 20
// item 1; the refusals are item 4): mirror attach/detach, replace with a
// resilver to ONLINE, offline/online, add and remove spares, cache and log,
// scrub start/stop/pause with the progress `zpool status` shows, and bad input
// that gets a clear error and changes nothing (the vdev tree is compared
// before and after).
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/lab.h"

namespace pk::integration {
namespace {

using ::testing::HasSubstr;

zfs::VdevRef Ref(const std::string& text) { return zfs::VdevRef::Parse(text).value(); }
zfs::DevicePath Dev(const std::string& text) { return zfs::DevicePath::Parse(text).value(); }

// The vdev tree as "  name STATE" lines, sections included: what must not change.
std::string Tree(const zfs::PoolStatus& st) {
  std::string out;
  std::function<void(const zfs::Vdev&, int)> walk = [&](const zfs::Vdev& v, int depth) {
    out += std::string(static_cast<size_t>(depth) * 2, ' ') + v.name + " " + v.state + "\n";
    for (const auto& c : v.children) walk(c, depth + 1);
  };
  walk(st.root, 0);
  for (const auto& [title, section] : {std::pair{"logs", &st.logs}, {"cache", &st.caches}, {"spares", &st.spares}}) {
    if (section->empty()) continue;
    out += std::string(title) + "\n";
    for (const auto& v : *section) walk(v, 1);
  }
  return out;
}

// Leaves of the data tree ("path STATE"), in order.
std::vector<std::string> Leaves(const zfs::PoolStatus& st) {
  std::vector<std::string> out;
  std::function<void(const zfs::Vdev&)> walk = [&](const zfs::Vdev& v) {
    if (v.children.empty() && v.type != "root") out.push_back(v.name + " " + v.state);
    for (const auto& c : v.children) walk(c);
  };
  walk(st.root);
  return out;
}

std::vector<std::string> Names(const std::vector<zfs::Vdev>& section) {
  std::vector<std::string> out;
  for (const auto& v : section) out.push_back(v.name);
  return out;
}

class DiskTest : public LabTest {
 protected:
  zfs::PoolStatus Status(const zfs::PoolName& pool) {
    auto st = zfs().GetPoolStatus(pool);
    EXPECT_TRUE(st) << st.error().ToString();
    return st ? *st : zfs::PoolStatus{};
  }

  // Polls status until `done` holds (a resilver's end), at most 60 s.
  zfs::PoolStatus WaitFor(const zfs::PoolName& pool, const std::function<bool(const zfs::PoolStatus&)>& done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    zfs::PoolStatus st = Status(pool);
    while (!done(st) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      st = Status(pool);
    }
    return st;
  }

  // A sparse file of `bytes` in the test's disk directory (removed with it).
  std::string SizedDisk(const std::string& leaf, uint64_t bytes) {
    std::string path = disk_dir() + "/" + leaf;
    std::error_code ec;
    { std::ofstream(path).flush(); }
    std::filesystem::resize_file(path, bytes, ec);
    EXPECT_FALSE(ec) << path << ": " << ec.message();
    return path;
  }

  // `op` fails with `code` and a message holding each fragment, and the pool's
  // vdev tree is as before.
  void ExpectRefusedUnchanged(const zfs::PoolName& pool, const ::pk::Status& result, ErrorCode code,
                              const std::vector<std::string>& fragments, const std::string& tree_before) {
    ASSERT_FALSE(result) << "expected a refusal";
    EXPECT_EQ(ErrorCodeName(result.error().code()), ErrorCodeName(code)) << result.error().ToString();
    for (const auto& f : fragments) EXPECT_THAT(result.error().message(), HasSubstr(f));
    EXPECT_EQ(Tree(Status(pool)), tree_before) << "a refused change changed the pool";
  }
};

// issue 20 item 1: attach makes a mirror (resilvered), detach undoes it;
// item 4: detaching the last side is refused and changes nothing.
TEST_F(DiskTest, MirrorAttachAndDetach) {
  auto disks = NewDisks(2);
  auto pool = MustCreatePool({disks[0]});
  ASSERT_TRUE(WriteFileSynced(MountDir(pool.str()) + "/data", std::string(1 << 20, 'x')));

  auto attached = zfs().AttachDevice(pool, Ref(disks[0]), Dev(disks[1]), zfs::Force::kNo);
  ASSERT_TRUE(attached) << attached.error().ToString();
  auto st = WaitFor(pool, [](const zfs::PoolStatus& s) {
    return s.scan_progress.kind == zfs::ScanProgress::Kind::kResilver &&
           s.scan_progress.state == zfs::ScanProgress::State::kFinished;
  });
  ASSERT_EQ(st.root.children.size(), 1u) << Tree(st);
  EXPECT_EQ(st.root.children[0].type, "mirror") << Tree(st);
  EXPECT_THAT(Leaves(st), ::testing::ElementsAre(disks[0] + " ONLINE", disks[1] + " ONLINE"));
  EXPECT_EQ(st.scan_progress.errors, 0u);
  EXPECT_FALSE(st.scan_progress.end_time.empty());

  auto detached = zfs().DetachDevice(pool, Ref(disks[1]));
  ASSERT_TRUE(detached) << detached.error().ToString();
  st = Status(pool);
  EXPECT_THAT(Leaves(st), ::testing::ElementsAre(disks[0] + " ONLINE"));

  ExpectRefusedUnchanged(pool, zfs().DetachDevice(pool, Ref(disks[0])), ErrorCode::kFailedPrecondition,
                         {"detach '" + disks[0] + "' from pool '" + pool.str() + "'", "only applicable to mirror"},
                         Tree(st));
}

// issue 20 item 1: replace resilvers the new disk to ONLINE and the old one leaves the pool.
TEST_F(DiskTest, ReplaceResilversToOnline) {
  auto disks = NewDisks(3);
  auto pool = MustCreatePool({"mirror", disks[0], disks[1]});
  ASSERT_TRUE(WriteFileSynced(MountDir(pool.str()) + "/data", std::string(4 << 20, 'y')));

  auto replaced = zfs().ReplaceDevice(pool, Ref(disks[1]), Dev(disks[2]), zfs::Force::kNo);
  ASSERT_TRUE(replaced) << replaced.error().ToString();
  auto st = WaitFor(pool, [&](const zfs::PoolStatus& s) {
    return Leaves(s) == std::vector<std::string>{disks[0] + " ONLINE", disks[2] + " ONLINE"};
  });
  EXPECT_THAT(Leaves(st), ::testing::ElementsAre(disks[0] + " ONLINE", disks[2] + " ONLINE")) << Tree(st);
  EXPECT_EQ(st.state, "ONLINE");
  EXPECT_EQ(st.scan_progress.kind, zfs::ScanProgress::Kind::kResilver);
  EXPECT_EQ(st.scan_progress.state, zfs::ScanProgress::State::kFinished) << st.scan;
}

// issue 20 item 1: offline (also -t) degrades the pool, online brings it back
// (with -e too: zfs-fuse's zpool takes it as well).
TEST_F(DiskTest, OfflineAndOnline) {
  auto disks = NewDisks(2);
  auto pool = MustCreatePool({"mirror", disks[0], disks[1]});
  for (auto temporary : {zfs::Temporary::kNo, zfs::Temporary::kYes}) {
    SCOPED_TRACE(temporary == zfs::Temporary::kYes ? "offline -t" : "offline");
    auto off = zfs().OfflineDevice(pool, Ref(disks[1]), temporary);
    ASSERT_TRUE(off) << off.error().ToString();
    auto st = Status(pool);
    EXPECT_EQ(st.state, "DEGRADED");
    EXPECT_THAT(Leaves(st), ::testing::ElementsAre(disks[0] + " ONLINE", disks[1] + " OFFLINE"));
    auto on = zfs().OnlineDevice(pool, Ref(disks[1]),
                                 temporary == zfs::Temporary::kYes ? zfs::Expand::kYes : zfs::Expand::kNo);
    ASSERT_TRUE(on) << on.error().ToString();
    st = WaitFor(pool, [](const zfs::PoolStatus& s) { return s.state == "ONLINE"; });
    EXPECT_EQ(st.state, "ONLINE");
    EXPECT_THAT(Leaves(st), ::testing::ElementsAre(disks[0] + " ONLINE", disks[1] + " ONLINE"));
  }
  // Offlining the other side too would leave no replica: refused, nothing changes.
  ASSERT_TRUE(zfs().OfflineDevice(pool, Ref(disks[1]), zfs::Temporary::kNo));
  ExpectRefusedUnchanged(pool, zfs().OfflineDevice(pool, Ref(disks[0]), zfs::Temporary::kNo),
                         ErrorCode::kFailedPrecondition, {pool.str(), disks[0], "no valid replicas"},
                         Tree(Status(pool)));
}

// issue 20 item 1: add spare, log and cache (a dry run first changes nothing),
// then remove the spare, the cache and the log.
TEST_F(DiskTest, AddAndRemoveSpareLogAndCache) {
  auto disks = NewDisks(4);
  auto pool = MustCreatePool({disks[0]});
  // zfs-fuse takes no file as a cache device (tests/data/zfs-fuse/err-zpool-create-cache-file.err).
  auto cache = AttachLoop(disks[3]);
  ASSERT_TRUE(cache) << cache.error().ToString();
  auto spec = zfs::VdevSpec::ParseAddition({"spare", disks[1], "log", disks[2], "cache", *cache});
  ASSERT_TRUE(spec) << spec.error().ToString();

  std::string before = Tree(Status(pool));
  auto dry = zfs().AddVdevs(pool, *spec, zfs::Force::kNo, zfs::DryRun::kYes);
  ASSERT_TRUE(dry) << dry.error().ToString();
  EXPECT_THAT(*dry, HasSubstr("would update '" + pool.str() + "'"));
  EXPECT_EQ(Tree(Status(pool)), before) << "a dry run changed the pool";

  auto added = zfs().AddVdevs(pool, *spec, zfs::Force::kNo, zfs::DryRun::kNo);
  ASSERT_TRUE(added) << added.error().ToString();
  auto st = Status(pool);
  EXPECT_THAT(Names(st.spares), ::testing::ElementsAre(disks[1])) << Tree(st);
  ASSERT_EQ(st.logs.size(), 1u) << Tree(st);
  EXPECT_EQ(st.logs[0].name, disks[2]);
  ASSERT_EQ(st.caches.size(), 1u) << Tree(st);
  EXPECT_THAT(st.caches[0].name, HasSubstr(cache->substr(std::string("/dev/").size())));

  for (const auto& dev : {disks[1], *cache, disks[2]}) {
    auto removed = zfs().RemoveDevice(pool, Ref(dev));
    ASSERT_TRUE(removed) << dev << ": " << removed.error().ToString();
  }
  st = Status(pool);
  EXPECT_TRUE(st.spares.empty()) << Tree(st);
  EXPECT_TRUE(st.caches.empty()) << Tree(st);
  EXPECT_TRUE(st.logs.empty()) << Tree(st);
  EXPECT_THAT(Leaves(st), ::testing::ElementsAre(disks[0] + " ONLINE"));

  // A data disk is not removable: zpool's own refusal, nothing changes.
  ExpectRefusedUnchanged(pool, zfs().RemoveDevice(pool, Ref(disks[0])), ErrorCode::kFailedPrecondition,
                         {"remove '" + disks[0] + "' from pool '" + pool.str() + "'"}, Tree(st));
}

// issue 20 item 1: scrub start and stop and what `zpool status` shows of it;
// pause and top-level removal are OpenZFS only: zfs-fuse says Unimplemented.
TEST_F(DiskTest, ScrubStartStopPauseAndProgress) {
  auto disks = NewDisks(2);
  auto pool = MustCreatePool({"mirror", disks[0], disks[1]});
  ASSERT_TRUE(WriteFileSynced(MountDir(pool.str()) + "/data", std::string(8 << 20, 'z')));
  auto st = Status(pool);
  EXPECT_EQ(st.scan_progress.kind, zfs::ScanProgress::Kind::kNone) << st.scan;

  auto started = zfs().Scrub(pool, zfs::ScrubAction::kStart);
  ASSERT_TRUE(started) << started.error().ToString();
  st = WaitFor(pool, [](const zfs::PoolStatus& s) {
    return s.scan_progress.state == zfs::ScanProgress::State::kFinished;
  });
  // While it runs, the progress has a percentage (and on OpenZFS bytes and a
  // rate); zfs-fuse finishes a pool this small before `zpool status` can see it
  // running (tests/data/zfs-fuse/zpool-status-scrub-running.constructed.out
  // covers that wording), so what is checked here is the finished scan.
  EXPECT_EQ(st.scan_progress.kind, zfs::ScanProgress::Kind::kScrub) << st.scan;
  EXPECT_EQ(st.scan_progress.state, zfs::ScanProgress::State::kFinished) << st.scan;
  EXPECT_EQ(st.scan_progress.errors, 0u) << st.scan;
  EXPECT_FALSE(st.scan_progress.end_time.empty()) << st.scan;
  EXPECT_TRUE(st.scan_progress.elapsed_seconds) << st.scan;

  // Stopping when no scrub runs is no error on either dialect.
  auto stopped = zfs().Scrub(pool, zfs::ScrubAction::kStop);
  if (zfs().dialect() == zfs::Dialect::kZfsFuse) {
    ASSERT_TRUE(stopped) << stopped.error().ToString();
  }

  std::string before = Tree(Status(pool));
  auto paused = zfs().Scrub(pool, zfs::ScrubAction::kPause);
  auto top = zfs().RemoveDevice(pool, Ref("mirror-0"));
  if (zfs().dialect() == zfs::Dialect::kZfsFuse) {
    ASSERT_FALSE(paused);
    EXPECT_EQ(paused.error().code(), ErrorCode::kUnimplemented);
    EXPECT_THAT(paused.error().message(), HasSubstr("pause the scrub of pool '" + pool.str() + "'"));
    EXPECT_THAT(paused.error().message(), HasSubstr("zfs-fuse"));
    ASSERT_FALSE(top);
    EXPECT_EQ(top.error().code(), ErrorCode::kUnimplemented);
    EXPECT_THAT(top.error().message(), HasSubstr("top-level"));
    EXPECT_EQ(Tree(Status(pool)), before);
  }
}

// Sets an OpenZFS module parameter for the test's life and puts it back.
class ModuleParameter {
 public:
  ModuleParameter(std::string name, const std::string& value)
      : path_("/sys/module/zfs/parameters/" + std::move(name)) {
    std::ifstream in(path_);
    std::getline(in, old_);
    std::ofstream(path_) << value << "\n";
  }
  ~ModuleParameter() { std::ofstream(path_) << old_ << "\n"; }
  ModuleParameter(const ModuleParameter&) = delete;
  ModuleParameter& operator=(const ModuleParameter&) = delete;

 private:
  std::string path_;
  std::string old_;
};

// issue 20 item 1, the verbs zfs-fuse lacks, on OpenZFS (the guest suite):
// a scrub held running (zfs_scan_suspend_progress) shows its progress, is
// paused and resumed and stopped; `online -e` grows a grown disk; a top-level
// mirror is removed.
TEST_F(DiskTest, OpenZfsScrubPauseExpandAndTopLevelRemove) {
  if (zfs().dialect() != zfs::Dialect::kOpenZfs2) {
    GTEST_SKIP() << "scrub pause, online -e growth and top-level removal are OpenZFS's (zfs-fuse: see ScrubStartStopPauseAndProgress)";
  }
  // 512 MiB disks: OpenZFS removes a top-level vdev only when the rest can
  // take its whole size beside the pool's slop space (at least 128 MiB), which
  // a pool of 128 MiB disks never has ("out of space").
  constexpr uint64_t kBig = 512ull << 20;
  std::vector<std::string> disks;
  for (int i = 0; i < 4; ++i) disks.push_back(SizedDisk("big" + std::to_string(i) + ".img", kBig));
  auto pool = MustCreatePool({"mirror", disks[0], disks[1], "mirror", disks[2], disks[3]});
  ASSERT_TRUE(WriteFileSynced(MountDir(pool.str()) + "/data", std::string(16 << 20, 'p')));
  {
    ModuleParameter hold("zfs_scan_suspend_progress", "1");
    auto started = zfs().Scrub(pool, zfs::ScrubAction::kStart);
    ASSERT_TRUE(started) << started.error().ToString();
    auto st = Status(pool);
    EXPECT_EQ(st.scan_progress.kind, zfs::ScanProgress::Kind::kScrub) << st.scan;
    EXPECT_EQ(st.scan_progress.state, zfs::ScanProgress::State::kScanning) << st.scan;
    EXPECT_FALSE(st.scan_progress.start_time.empty()) << st.scan;
    EXPECT_TRUE(st.scan_progress.total_bytes) << st.scan;
    EXPECT_TRUE(st.scan_progress.percent_done) << st.scan;

    auto paused = zfs().Scrub(pool, zfs::ScrubAction::kPause);
    ASSERT_TRUE(paused) << paused.error().ToString();
    st = Status(pool);
    EXPECT_EQ(st.scan_progress.state, zfs::ScanProgress::State::kPaused) << st.scan;
    EXPECT_FALSE(st.scan_progress.end_time.empty()) << st.scan;  // paused since

    ASSERT_TRUE(zfs().Scrub(pool, zfs::ScrubAction::kStart));  // resumes a paused scrub
    EXPECT_EQ(Status(pool).scan_progress.state, zfs::ScanProgress::State::kScanning);
    auto stopped = zfs().Scrub(pool, zfs::ScrubAction::kStop);
    ASSERT_TRUE(stopped) << stopped.error().ToString();
    st = Status(pool);
    EXPECT_EQ(st.scan_progress.state, zfs::ScanProgress::State::kCanceled) << st.scan;
  }

  // Grow both sides of the first mirror, then `online -e` them: the pool grows.
  auto size_before = zfs().ListPools();
  ASSERT_TRUE(size_before);
  uint64_t before = 0;
  for (const auto& p : *size_before) if (p.name == pool.str()) before = p.size;
  for (int i : {0, 1}) {
    std::error_code ec;
    std::filesystem::resize_file(disks[static_cast<size_t>(i)], 2 * kBig, ec);
    ASSERT_FALSE(ec) << ec.message();
    auto grown = zfs().OnlineDevice(pool, Ref(disks[static_cast<size_t>(i)]), zfs::Expand::kYes);
    ASSERT_TRUE(grown) << grown.error().ToString();
  }
  auto size_after = zfs().ListPools();
  ASSERT_TRUE(size_after);
  uint64_t after = 0;
  for (const auto& p : *size_after) if (p.name == pool.str()) after = p.size;
  EXPECT_GT(after, before) << "online -e did not grow the pool";

  // Top-level removal: mirror-1 leaves, its data evacuated to mirror-0.
  auto removed = zfs().RemoveDevice(pool, Ref("mirror-1"));
  ASSERT_TRUE(removed) << removed.error().ToString();
  auto st = WaitFor(pool, [](const zfs::PoolStatus& s) { return s.root.children.size() == 1; });
  ASSERT_EQ(st.root.children.size(), 1u) << Tree(st);
  EXPECT_EQ(st.root.children[0].name, "mirror-0");
}

// issue 20 item 4: bad input gets a clear error naming the pool and the
// device and the cause, and changes nothing.
TEST_F(DiskTest, BadInputIsRefusedAndChangesNothing) {
  auto disks = NewDisks(4);
  auto pool = MustCreatePool({"mirror", disks[0], disks[1]});
  std::string before = Tree(Status(pool));

  // A disk of another imported pool.
  auto other = MustCreatePool({disks[2]});
  std::string other_before = Tree(Status(other));
  ExpectRefusedUnchanged(pool, zfs().AttachDevice(pool, Ref(disks[0]), Dev(disks[2]), zfs::Force::kNo),
                         ErrorCode::kFailedPrecondition,
                         {"attach '" + disks[2] + "'", "pool '" + pool.str() + "'",
                          "is part of active pool '" + other.str() + "'"},
                         before);
  EXPECT_EQ(Tree(Status(other)), other_before);

  // A disk of an exported pool.
  auto exported = MustCreatePool({disks[3]});
  auto ex = RetryWhileBusy("export", [&] { return zfs().ExportPool(exported, zfs::Force::kNo); });
  ASSERT_TRUE(ex) << ex.error().ToString();
  ExpectRefusedUnchanged(pool, zfs().ReplaceDevice(pool, Ref(disks[1]), Dev(disks[3]), zfs::Force::kNo),
                         ErrorCode::kFailedPrecondition,
                         {"replace '" + disks[1] + "' in pool '" + pool.str() + "'",
                          "is part of exported pool '" + exported.str() + "'"},
                         before);
  // Re-import it so TearDown destroys it (its disk stays in this test's directory).
  zfs::ImportOptions io;
  io.name = exported;
  io.search_dirs = {disk_dir()};
  auto im = zfs().ImportPool(io);
  EXPECT_TRUE(im) << im.error().ToString();

  // A smaller disk.
  std::string small = SizedDisk("small.img", 100ull << 20);
  ExpectRefusedUnchanged(pool, zfs().ReplaceDevice(pool, Ref(disks[1]), Dev(small), zfs::Force::kNo),
                         ErrorCode::kFailedPrecondition, {pool.str(), "small.img", "device is too small"}, before);

  // An unknown device.
  std::string nope = disk_dir() + "/nope.img";
  ExpectRefusedUnchanged(pool, zfs().DetachDevice(pool, Ref(nope)), ErrorCode::kNotFound,
                         {"detach '" + nope + "' from pool '" + pool.str() + "'", "no such device in pool"}, before);
  ExpectRefusedUnchanged(pool, zfs().OfflineDevice(pool, Ref(nope), zfs::Temporary::kNo), ErrorCode::kNotFound,
                         {nope, pool.str(), "no such device in pool"}, before);

  // The last side of a mirror (after detaching the other).
  ASSERT_TRUE(zfs().DetachDevice(pool, Ref(disks[1])));
  std::string single = Tree(Status(pool));
  ExpectRefusedUnchanged(pool, zfs().DetachDevice(pool, Ref(disks[0])), ErrorCode::kFailedPrecondition,
                         {disks[0], pool.str(), "only applicable to mirror and replacing vdevs"}, single);

  // A path that is not absolute never reaches zpool: refused when it is parsed.
  auto relative = zfs::DevicePath::Parse("small.img");
  ASSERT_FALSE(relative);
  EXPECT_EQ(relative.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(relative.error().message(), HasSubstr("'small.img': must be an absolute path"));
  EXPECT_FALSE(zfs::VdevRef::Parse("-f"));
}

}  // namespace
}  // namespace pk::integration
