// Issue 17 item 7 on OpenZFS: multihost protection (MMP) and the forced
// import's proof, with two hosts on one shared disk. Runs inside the OpenZFS
// guest only (tests/openzfs/openzfs-suite boots a second guest, the "peer":
// tests/openzfs/mmp-peer is its job). The two talk through files in
// PK_MMP_PEER (the peer's job directory, which this guest sees in its own
// share): `go`, `active` (the peer has the pool imported and writes it),
// `crash` (the peer powers off without exporting), and `../peer-gone` (the
// host saw the peer's qemu end). The shared disk is PK_MMP_PEER/jbod/mmp.img.
//
//  - A pool imported on the peer with multihost=on refuses an import here,
//    plain and forced (-f), while the peer is alive; the refusal carries the
//    label the adapter read (`zdb -l`): host pk-peer, its hostid.
//  - The agent's rule does not even consider forcing that refusal.
//  - Once the peer is gone (powered off with the pool imported: a crashed
//    head), the import is refused as "in use from another system", the label
//    names pk-peer, the forced-import rule allows it only when Pacemaker
//    reports pk-peer fenced, and then the forced import succeeds.
//  - EnableMultihost (what the daemon does for a cluster pool after each
//    import) turns multihost on, and without a hostid fails naming /etc/hostid.
//
// Without PK_MMP_PEER (a filtered run, or outside the guest) every test skips.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cluster/pool_agent.h"
#include "sys/process_runner.h"
#include "zfs/label.h"
#include "zfs/zfs.h"

namespace pk {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* kPool = "pkmmp";            // made by the peer
constexpr const char* kPeerHostid = "0x00bee002";  // the peer's (mmp-peer)
constexpr const char* kHostid = "0x00bee001";      // this guest's

class MmpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* peer = std::getenv("PK_MMP_PEER");
    if (!peer || !*peer) GTEST_SKIP() << "no peer guest (PK_MMP_PEER unset): runs in the openzfs suite only";
    peer_ = peer;
    runner_ = sys::MakePosixProcessRunner();
    auto setup = zfs::DetectZfs(*runner_);
    ASSERT_TRUE(setup) << setup.error().message();
    setup_ = *setup;
    auto zfs = zfs::MakeCliZfs(*runner_);
    ASSERT_TRUE(zfs) << zfs.error().message();
    zfs_ = std::move(*zfs);
    ASSERT_EQ(zfs_->dialect(), zfs::Dialect::kOpenZfs2);
    jbod_ = peer_ + "/jbod";
  }

  sys::ProcessResult Run(std::vector<std::string> argv) {
    sys::Command c{argv.front(), {argv.begin() + 1, argv.end()}, sys::DefaultToolEnvironment(), std::nullopt, 120s};
    auto r = runner_->Run(c);
    EXPECT_TRUE(r) << c.ToString();
    return r ? *r : sys::ProcessResult{};
  }

  // Waits until `path` exists, at most `limit`.
  bool WaitFor(const std::string& path, std::chrono::seconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!fs::exists(path)) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(200ms);
    }
    return true;
  }

  zfs::ImportOptions Import(zfs::Force force) {
    zfs::ImportOptions o;
    o.name = *zfs::PoolName::Parse(kPool);
    o.search_dirs = {jbod_};
    o.cachefile = zfs::ImportOptions::Cachefile::kNone;
    o.mount = zfs::Mount::kNo;
    o.force = force;
    return o;
  }

  std::string peer_;
  std::string jbod_;  // the shared disk's directory
  std::unique_ptr<sys::ProcessRunner> runner_;
  std::unique_ptr<zfs::Zfs> zfs_;
  zfs::ZfsSetup setup_;
};

// Pacemaker as it would look after pk-guest fenced pk-peer.
cluster::ClusterStatus PeerFenced() {
  cluster::ClusterStatus c;
  c.fencing_enabled = true;
  c.quorum = true;
  cluster::HeadStatus self, peer;
  self.name = "pk-guest";
  self.online = true;
  peer.name = "pk-peer";
  c.heads = {self, peer};
  c.fence_history = {cluster::FenceEvent{"off", "pk-peer", "pk-guest", "success", "now"}};
  return c;
}

TEST_F(MmpTest, AnActivePoolIsRefusedEvenForcedAndTakenOnlyOnceItsHostIsGoneAndFenced) {
  ASSERT_EQ(Run({"/sbin/zgenhostid", "-f", kHostid}).status.code, 0);
  std::ofstream(peer_ + "/go") << "go\n";
  ASSERT_TRUE(WaitFor(peer_ + "/active", 600s)) << "the peer guest never had " << kPool << " imported";

  // The peer writes the pool (MMP): refused, also forced.
  auto started = std::chrono::steady_clock::now();
  auto plain = zfs_->ImportPool(Import(zfs::Force::kNo));
  ASSERT_FALSE(plain) << "imported a pool that the peer has imported";
  auto forced = zfs_->ImportPool(Import(zfs::Force::kYes));
  ASSERT_FALSE(forced) << "a forced import took a pool that the peer has imported with multihost=on";
  std::fprintf(stderr, "[ mmp      ] refusals took %.1f s\n  plain: %s\n  forced: %s\n",
               std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(),
               plain.error().message().c_str(), forced.error().message().c_str());
  for (const auto* e : {&plain, &forced}) {
    EXPECT_THAT(e->error().message(), HasSubstr("pool is imported on"));
    auto label = zfs::FindLabelImporter(e->error().message());
    ASSERT_TRUE(label) << e->error().message();
    EXPECT_EQ(label->host, "pk-peer");
    EXPECT_EQ(label->hostid, kPeerHostid);
  }
  // The agent does not consider forcing an MMP refusal at all.
  EXPECT_FALSE(cluster::ImportRefusedAsInUse(forced.error().message()));

  // The peer dies with the pool imported.
  std::ofstream(peer_ + "/crash") << "crash\n";
  ASSERT_TRUE(WaitFor(peer_ + "/../peer-gone", 300s)) << "the peer guest did not power off";
  // Each look at a pool last written by another host now waits out the
  // activity check (~60 s per `zpool import` under TCG with the default 20
  // intervals); 2 intervals still see a live writer, and keep this short.
  std::ofstream("/sys/module/zfs/parameters/zfs_multihost_import_intervals") << "2\n";
  auto stale = zfs_->ImportPool(Import(zfs::Force::kNo));
  ASSERT_FALSE(stale) << "imported a pool last used by another host without -f";
  std::fprintf(stderr, "[ mmp      ] after the peer's death: %s\n", stale.error().message().c_str());
  EXPECT_TRUE(cluster::ImportRefusedAsInUse(stale.error().message())) << stale.error().message();
  auto label = zfs::FindLabelImporter(stale.error().message());
  ASSERT_TRUE(label) << stale.error().message();
  EXPECT_EQ(label->host, "pk-peer");
  EXPECT_EQ(label->hostid, kPeerHostid);

  // The rule: not while Pacemaker shows the peer online or unfenced.
  auto online = PeerFenced();
  online.heads[1].online = true;
  EXPECT_FALSE(cluster::DecideForcedImport(stale.error().message(), online, "pk-guest").force);
  auto unfenced = PeerFenced();
  unfenced.fence_history.clear();
  EXPECT_FALSE(cluster::DecideForcedImport(stale.error().message(), unfenced, "pk-guest").force);
  auto decision = cluster::DecideForcedImport(stale.error().message(), PeerFenced(), "pk-guest");
  ASSERT_TRUE(decision.force) << decision.why;
  EXPECT_THAT(decision.why, HasSubstr("'pk-peer' (hostid 0x00bee002)"));

  // With the proof, the forced import succeeds (MMP sees no activity).
  started = std::chrono::steady_clock::now();
  auto taken = zfs_->ImportPool(Import(zfs::Force::kYes));
  ASSERT_TRUE(taken) << taken.error().message();
  std::fprintf(stderr, "[ mmp      ] forced import after the peer's death took %.1f s\n",
               std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  auto mine = zfs::ReadLabel(*runner_, setup_, jbod_ + "/mmp.img");
  ASSERT_TRUE(mine) << mine.error().message();
  EXPECT_EQ(mine->hostname, "pk-guest");
  ASSERT_TRUE(mine->hostid);
  EXPECT_EQ(zfs::HostidText(*mine->hostid), kHostid);

  // What the daemon does after importing a cluster pool.
  ASSERT_TRUE(zfs::EnableMultihost(*runner_, setup_, *zfs::PoolName::Parse(kPool)));
  auto get = Run({"/sbin/zpool", "get", "-H", "-o", "value", "multihost", kPool});
  EXPECT_EQ(get.out, "on\n");
  // Without a hostid, multihost cannot be turned on: the error says where to fix it.
  ASSERT_EQ(Run({"/sbin/zpool", "set", "multihost=off", kPool}).status.code, 0);
  fs::rename("/etc/hostid", "/etc/hostid.pk-mmp");
  auto none = zfs::EnableMultihost(*runner_, setup_, *zfs::PoolName::Parse(kPool));
  fs::rename("/etc/hostid.pk-mmp", "/etc/hostid");
  ASSERT_FALSE(none) << "multihost turned on without a hostid";
  EXPECT_EQ(none.error().code(), ErrorCode::kFailedPrecondition) << none.error().message();
  EXPECT_THAT(none.error().message(), HasSubstr("/etc/hostid"));
  EXPECT_THAT(none.error().message(), HasSubstr("'pkmmp'"));
  EXPECT_EQ(Run({"/sbin/zpool", "destroy", "-f", kPool}).status.code, 0);
}

}  // namespace
}  // namespace pk
