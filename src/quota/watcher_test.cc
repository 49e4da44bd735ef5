#include "quota/watcher.h"

#include <atomic>
#include <filesystem>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "testing/fake_clock.h"
#include "testing/fake_zfs.h"

namespace pk::quota {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ThresholdsTest, ParsesAndRefuses) {
  EXPECT_THAT(*ParseThresholds("80,95"), ElementsAre(80, 95));
  EXPECT_TRUE(ParseThresholds("none")->empty());
  for (const char* bad : {"95,80", "0", "101", "80,", "eighty", "80;95", "-5", "80,80"}) {
    auto r = ParseThresholds(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(r.error().message(), HasSubstr(std::string("'") + bad + "'"));
  }
}

class WatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("pk_quota_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    events_ = std::move(*events::EventLog::Open(*fs_, (dir_ / "events.jsonl").string()));
    zfs_.AddImportedPool("tank");
    ASSERT_TRUE(zfs_.SetQuota(ds_, {zfs::QuotaKind::kUser, 1000}, 1000));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::vector<std::string> Events() const {
    std::vector<std::string> out;
    for (const auto& e : events_->Since(0)) out.push_back(e.resource + " " + e.state + ": " + e.reason);
    return out;
  }

  std::unique_ptr<sys::FileSystem> fs_ = sys::MakeRealFileSystem();
  std::filesystem::path dir_;
  std::unique_ptr<events::EventLog> events_;
  testing::FakeZfs zfs_{zfs::Dialect::kOpenZfs2};
  zfs::DatasetName ds_ = *zfs::DatasetName::Parse("tank");
};

TEST_F(WatcherTest, CrossingAThresholdRaisesOneEventEachWay) {
  Watcher w(zfs_, *events_);
  std::vector<WarnTarget> targets = {{ds_, {80, 95}}};
  zfs_.SetQuotaUsage("tank", zfs::QuotaKind::kUser, 1000, 500);
  ASSERT_TRUE(w.Check(targets));
  EXPECT_TRUE(Events().empty());
  zfs_.SetQuotaUsage("tank", zfs::QuotaKind::kUser, 1000, 830);
  ASSERT_TRUE(w.Check(targets));
  ASSERT_TRUE(w.Check(targets));  // no change: no second event
  zfs_.SetQuotaUsage("tank", zfs::QuotaKind::kUser, 1000, 960);
  ASSERT_TRUE(w.Check(targets));
  zfs_.SetQuotaUsage("tank", zfs::QuotaKind::kUser, 1000, 100);
  ASSERT_TRUE(w.Check(targets));
  EXPECT_THAT(Events(), ElementsAre("quota:tank/user:1000 warning: user 1000 uses 83% of its quota on 'tank' (threshold 80%)",
                                    "quota:tank/user:1000 warning: user 1000 uses 96% of its quota on 'tank' (threshold 95%)",
                                    "quota:tank/user:1000 ok: user 1000 is back under 80% of its quota on 'tank' (10%)"));
}

// Issue 19 item 3: Start() checks once per period of the injected clock, on
// the watcher's event loop, and not before the first period is over.
TEST_F(WatcherTest, StartChecksOncePerPeriodOfTheClock) {
  testing::FakeClock clock;
  Watcher w(zfs_, *events_, clock);
  std::atomic<int> asked{0};
  w.Start(std::chrono::seconds(10), [&] {
    ++asked;
    return std::vector<WarnTarget>{};
  });
  auto wait_for = [&](int n) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (asked < n && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  };
  clock.Advance(std::chrono::seconds(9));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(asked.load(), 0) << "no check before the first period is over";
  clock.Advance(std::chrono::seconds(1));
  wait_for(1);
  EXPECT_EQ(asked.load(), 1);
  clock.Advance(std::chrono::seconds(10));
  wait_for(2);
  EXPECT_EQ(asked.load(), 2);
  w.Stop();
}

}  // namespace
}  // namespace pk::quota
