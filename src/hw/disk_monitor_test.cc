// The daemon's disk cache (issue 20 items 2, 3): pools matched again when the
// inventory changes without re-reading hardware, SMART polled one disk at a
// time on the injected clock, self-tests by disk id, file disks without SMART.
#include "hw/disk_monitor.h"

#include <atomic>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "hw/internal/test_data.h"
#include "testing/fake_clock.h"
#include "testing/fake_process_runner.h"

namespace pk::hw {
namespace {

using internal::HwData;
using internal::ReadHwData;
using testing::FakeProcessRunner;
using ::testing::HasSubstr;

class CountingSource : public BlockSource {
 public:
  Result<std::vector<BlockDevice>> Read() override {
    ++reads;
    return ParseLsblk(ReadHwData("lsblk/jbod.json"));
  }
  std::atomic<int> reads{0};
};

class DiskMonitorTest : public ::testing::Test {
 protected:
  DiskMonitorTest()
      : reader_(source_, {.sys_root = HwData("sysfs/jbod"), .dev_root = HwData("sysfs/jbod"), .chassis_file = "",
                          .vdev_id_file = ""}),
        smart_(runner_, {}) {}

  std::unique_ptr<DiskMonitor> Make(std::chrono::milliseconds smart_period) {
    DiskMonitorOptions o{.rescan_period = std::chrono::hours(24), .smart_period = smart_period,
                         .smart_spacing = std::chrono::seconds(2), .clock = &clock_};
    // Only sdb "has" SMART in this test; the others are as the lab's file disks.
    o.has_smart = [](const std::string& node) { return node.ends_with("/dev/sdb") || node.ends_with("/dev/nvme0n1"); };
    return std::make_unique<DiskMonitor>(reader_, &smart_, [this] {
      std::lock_guard lock(mu_);
      return pools_;
    }, o);
  }
  void SetPools(uint64_t generation, std::vector<zfs::PoolStatus> pools) {
    std::lock_guard lock(mu_);
    pools_ = {generation, std::move(pools)};
  }
  static void WaitFor(const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }

  CountingSource source_;
  TopologyReader reader_;
  FakeProcessRunner runner_;
  SmartReader smart_;
  testing::FakeClock clock_;
  std::mutex mu_;
  PoolsView pools_;
};

TEST_F(DiskMonitorTest, PoolsRematchedWithoutRereadingHardware) {
  auto m = Make(std::chrono::milliseconds(0));
  m->Start();
  EXPECT_EQ(source_.reads.load(), 1);
  EXPECT_EQ(m->Current()->Find("sdb")->pool, "");
  zfs::PoolStatus p;
  p.name = "tank";
  zfs::Vdev leaf;
  leaf.name = leaf.path = "sdb";
  leaf.state = "ONLINE";
  p.root.children = {leaf};
  SetPools(7, {p});
  auto view = m->Current();
  EXPECT_EQ(view->Find("sdb")->pool, "tank");
  EXPECT_EQ(view->Find("sdb")->vdev, "sdb");
  EXPECT_EQ(m->Current(), view) << "same generations: the same view";
  EXPECT_EQ(source_.reads.load(), 1);
  ASSERT_TRUE(m->Rescan());
  EXPECT_EQ(source_.reads.load(), 2);
  EXPECT_NE(m->Current(), view);
  // A disk without SMART says so, no smartctl run.
  auto sda = m->Current()->Find("sda");
  EXPECT_EQ(sda->smart.state, SmartReport::State::kUnsupported);
  EXPECT_THAT(sda->smart.message, HasSubstr("not a block device"));
  EXPECT_TRUE(runner_.calls().empty());
}

TEST_F(DiskMonitorTest, SmartPolledOneDiskAtATimeOnTheClock) {
  runner_.Expect({"smartctl", "-j", "-a", "-n", "standby"}, [](const sys::Command& c) -> Result<sys::ProcessResult> {
    std::string file = c.args.back().ends_with("sdb") ? "smart/scsi_grown_defects.json" : "smart/nvme_healthy.json";
    return FakeProcessRunner::Exited(0, ReadHwData(file));
  }, FakeProcessRunner::Times::kAlways);
  auto m = Make(std::chrono::hours(1));
  m->Start();
  // Disks in bay order: sda, sdb, sdc, nvme0n1 (0:0:12:0 bays, then the PCI slot).
  // sda has no SMART: skipped without a run; sdb is read at once.
  WaitFor([&] { return runner_.calls().size() >= 1; });
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_EQ(runner_.calls().size(), 1u) << "one disk at a time, spaced by the clock";
  EXPECT_EQ(m->Current()->Find("sdb")->smart.state, SmartReport::State::kFailing);
  for (int i = 0; i < 4 && runner_.calls().size() < 2; ++i) {
    clock_.Advance(std::chrono::seconds(2));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  WaitFor([&] { return runner_.calls().size() >= 2; });
  EXPECT_EQ(runner_.calls().size(), 2u);
  EXPECT_EQ(runner_.calls()[1].args.back(), "/dev/nvme0n1");
  WaitFor([&] { return m->Current()->Find("nvme0n1")->smart.state == SmartReport::State::kOk; });
  EXPECT_EQ(m->Current()->Find("nvme0n1")->smart.state, SmartReport::State::kOk);
  // The next round only after the period.
  clock_.Advance(std::chrono::seconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_EQ(runner_.calls().size(), 2u);
  m->Stop();
}

TEST_F(DiskMonitorTest, SelfTestByIdNotFoundAndNoSmart) {
  runner_.Expect({"smartctl", "-j", "-t", "short", "/dev/sdb"}, FakeProcessRunner::Exited(0, "{}"));
  auto m = Make(std::chrono::milliseconds(0));
  m->Start();
  EXPECT_TRUE(m->StartSelfTest("wwn-0x5000c500a1b2c3e5", SelfTest::kShort));
  auto missing = m->StartSelfTest("wwn-0xdeadbeef", SelfTest::kShort);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_THAT(missing.error().message(), HasSubstr("disk 'wwn-0xdeadbeef' not found"));
  auto no_smart = m->StartSelfTest("sda", SelfTest::kLong);
  ASSERT_FALSE(no_smart);
  EXPECT_EQ(no_smart.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(no_smart.error().message(), HasSubstr("long self-test on disk 'sda'"));
  EXPECT_EQ(runner_.calls().size(), 1u);
}

}  // namespace
}  // namespace pk::hw
