// Issue 24 item 1: the snapshot scheduler on a FakeClock: slots, catch-up
// once, pruning by the grid, holds, the retention hook, failures reported.
#include "protect/scheduler.h"

#include <filesystem>
#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "testing/fake_clock.h"
#include "testing/fake_zfs.h"

namespace pk::protect {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// FakeZfs with snapshots (name -> holds), failures on demand.
class SnapZfs : public testing::FakeZfs {
 public:
  Result<std::vector<zfs::Dataset>> ListDatasets(const zfs::ListOptions& o) override {
    std::lock_guard lock(mu);
    ++lists;
    if (!fail_list.empty()) return std::unexpected(Error(ErrorCode::kInternal, fail_list));
    std::vector<zfs::Dataset> out;
    for (const auto& [name, refs] : snaps) {
      if (o.root && !name.starts_with(*o.root + "@") && !name.starts_with(*o.root + "/")) continue;
      zfs::Dataset d{name, zfs::DatasetType::kSnapshot, {}};
      d.properties["userrefs"] = {std::to_string(refs), zfs::PropertySource::kNone, ""};
      out.push_back(d);
    }
    return out;
  }
  Status CreateSnapshot(const zfs::SnapshotName& s, zfs::Recursive) override {
    std::lock_guard lock(mu);
    ++creates;
    if (!fail_create.empty()) return std::unexpected(Error(ErrorCode::kInternal, "snapshot '" + s.str() + "': " + fail_create));
    snaps[s.str()] = 0;
    return OkStatus();
  }
  Status DestroySnapshot(const zfs::SnapshotName& s, zfs::Recursive) override {
    std::lock_guard lock(mu);
    if (snaps.at(s.str()) > 0) return std::unexpected(Error(ErrorCode::kFailedPrecondition, "dataset is busy"));
    if (!fail_destroy.empty()) return std::unexpected(Error(ErrorCode::kInternal, "destroy '" + s.str() + "': " + fail_destroy));
    snaps.erase(s.str());
    return OkStatus();
  }
  std::vector<std::string> Names(const std::string& prefix = "") {
    std::lock_guard lock(mu);
    std::vector<std::string> out;
    for (const auto& [name, refs] : snaps) {
      if (name.starts_with(prefix)) out.push_back(name);
    }
    return out;
  }

  std::mutex mu;
  std::map<std::string, int> snaps;  // guarded by mu
  std::string fail_list, fail_create, fail_destroy;
  int lists = 0, creates = 0;
};

class KeepOne : public RetentionHook {
 public:
  explicit KeepOne(std::string name) : name_(std::move(name)) {}
  std::optional<std::string> WhyKeep(const zfs::SnapshotName& s) override {
    if (s.str() == name_) return "replication 'offsite' still needs it";
    return std::nullopt;
  }

 private:
  std::string name_;
};

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("pk_protect_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    events_ = std::move(*events::EventLog::Open(*fs_, (dir_ / "events.jsonl").string()));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::vector<Target> Targets(const std::string& policy = "schedule=every 1m;keep=3") {
    return {{ds_, Policy::Parse(policy), "local"}};
  }
  std::vector<std::string> Events(const std::string& state = "") const {
    std::vector<std::string> out;
    for (const auto& e : events_->Since(0)) {
      if (state.empty() || e.state == state) out.push_back(e.resource + " " + e.state + ": " + e.reason);
    }
    return out;
  }

  std::unique_ptr<sys::FileSystem> fs_ = sys::MakeRealFileSystem();
  std::filesystem::path dir_;
  std::unique_ptr<events::EventLog> events_;
  SnapZfs zfs_;
  testing::FakeClock clock_;  // starts at 2027-01-15T08:00:00Z
  zfs::DatasetName ds_ = *zfs::DatasetName::Parse("tank/a");
};

// Issue 24 item 1: "every 1m, keep 3" for five minutes: one snapshot per
// minute, named PREFIX-UTC, and the three newest remain.
TEST_F(SchedulerTest, TakesOnEachSlotAndKeepsTheGrid) {
  Scheduler s(zfs_, *events_, clock_);
  auto targets = Targets();
  for (int second = 0; second <= 300; second += 20) {
    ASSERT_TRUE(s.RunOnce(targets));
    clock_.Advance(20s);
  }
  EXPECT_EQ(zfs_.creates, 6);  // 08:00 (the first, at once) and 08:01 .. 08:05
  EXPECT_THAT(zfs_.Names(), ElementsAre("tank/a@auto-20270115T080300Z", "tank/a@auto-20270115T080400Z",
                                        "tank/a@auto-20270115T080500Z"));
  EXPECT_EQ(Events("taken").size(), 6u);
  EXPECT_THAT(Events("pruned"), ElementsAre(HasSubstr("'tank/a@auto-20270115T080000Z' pruned"),
                                            HasSubstr("'tank/a@auto-20270115T080100Z' pruned"),
                                            HasSubstr("'tank/a@auto-20270115T080200Z' pruned")));
  auto st = s.Statuses();
  ASSERT_EQ(st.size(), 1u);
  EXPECT_EQ(st[0].last_snapshot, "tank/a@auto-20270115T080500Z");
  EXPECT_EQ(st[0].snapshots, 3u);
  EXPECT_EQ(st[0].last_error, "");
  ASSERT_TRUE(st[0].next_run);
  EXPECT_EQ(*st[0].next_run, clock_.Now() - 20s + 60s);  // 08:06
}

// Issue 24 item 1: missed runs (daemon or pool away for ten slots) are caught up once.
TEST_F(SchedulerTest, CatchesUpAMissedRunOnceNotNTimes) {
  Scheduler s(zfs_, *events_, clock_);
  auto targets = Targets("schedule=every 1m;keep=100");
  ASSERT_TRUE(s.RunOnce(targets));
  ASSERT_EQ(zfs_.creates, 1);
  clock_.Advance(10min + 30s);  // away
  ASSERT_TRUE(s.RunOnce(targets));
  ASSERT_TRUE(s.RunOnce(targets));
  EXPECT_EQ(zfs_.creates, 2);
  EXPECT_THAT(zfs_.Names(), ElementsAre("tank/a@auto-20270115T080000Z", "tank/a@auto-20270115T081030Z"));
  // A new scheduler (a restarted daemon, or the other head) reads the last run from the pool.
  Scheduler again(zfs_, *events_, clock_);
  clock_.Advance(20s);
  ASSERT_TRUE(again.RunOnce(targets));
  EXPECT_EQ(zfs_.creates, 2);
  clock_.Advance(20s);  // 08:11:10: the 08:11 slot is due
  ASSERT_TRUE(again.RunOnce(targets));
  EXPECT_EQ(zfs_.creates, 3);
}

// Issue 24 item 1: a held snapshot (`zfs hold`) survives pruning; the hook's
// answer (replication's, later) keeps one too; other prefixes are never touched.
TEST_F(SchedulerTest, PrunesOnlyItsOwnUnheldUnneededSnapshots) {
  zfs_.snaps["tank/a@auto-20270115T074000Z"] = 1;  // held
  zfs_.snaps["tank/a@auto-20270115T074100Z"] = 0;  // the hook keeps it
  zfs_.snaps["tank/a@auto-20270115T074200Z"] = 0;  // pruned
  zfs_.snaps["tank/a@manual"] = 0;
  zfs_.snaps["tank/a@hourly-20270115T070000Z"] = 0;
  zfs_.snaps["tank/a/b@auto-20270115T070000Z"] = 0;  // a child's: its own policy's business
  KeepOne hook("tank/a@auto-20270115T074100Z");
  Scheduler s(zfs_, *events_, clock_);
  s.SetRetentionHook(&hook);
  ASSERT_TRUE(s.RunOnce(Targets("schedule=every 1m;keep=1")));
  EXPECT_THAT(zfs_.Names(), ElementsAre("tank/a/b@auto-20270115T070000Z", "tank/a@auto-20270115T074000Z",
                                        "tank/a@auto-20270115T074100Z", "tank/a@auto-20270115T080000Z",
                                        "tank/a@hourly-20270115T070000Z", "tank/a@manual"));
  EXPECT_THAT(Events("pruned"), ElementsAre(HasSubstr("'tank/a@auto-20270115T074200Z' pruned")));
  EXPECT_TRUE(Events("failed").empty());
  // Released: the next slot's pass prunes it.
  zfs_.snaps["tank/a@auto-20270115T074000Z"] = 0;
  clock_.Advance(60s);
  ASSERT_TRUE(s.RunOnce(Targets("schedule=every 1m;keep=1")));
  EXPECT_THAT(zfs_.Names("tank/a@auto-"), ElementsAre("tank/a@auto-20270115T074100Z", "tank/a@auto-20270115T080100Z"));
}

// Issue 24 item 1: failures are events with the reason and the status's last
// error; a failed snapshot is retried at the next slot, not on every pass.
TEST_F(SchedulerTest, FailuresAreReportedAndRetriedAtTheNextSlot) {
  Scheduler s(zfs_, *events_, clock_);
  auto targets = Targets();
  zfs_.fail_create = "out of space";
  EXPECT_FALSE(s.RunOnce(targets));
  clock_.Advance(20s);
  (void)s.RunOnce(targets);  // same slot: not retried
  EXPECT_EQ(zfs_.creates, 1);
  EXPECT_THAT(Events("failed"), ElementsAre(AllOf(HasSubstr("snapshot:tank/a failed"), HasSubstr("out of space"),
                                                  HasSubstr("retried at 2027-01-15T08:01:00Z"))));
  EXPECT_THAT(s.Statuses()[0].last_error, HasSubstr("out of space"));
  zfs_.fail_create.clear();
  clock_.Advance(40s);
  ASSERT_TRUE(s.RunOnce(targets));
  EXPECT_EQ(zfs_.creates, 2);
  EXPECT_EQ(s.Statuses()[0].last_error, "");

  zfs_.fail_list = "pool I/O error";
  clock_.Advance(60s);
  EXPECT_FALSE(s.RunOnce(targets));
  EXPECT_THAT(Events("failed").back(), HasSubstr("pool I/O error"));
  zfs_.fail_list.clear();

  zfs_.fail_destroy = "permission denied";
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(60s);
    (void)s.RunOnce(targets);
  }
  EXPECT_THAT(Events("failed").back(), HasSubstr("pruning 'tank/a@auto-20270115T080100Z' failed: destroy"));
  EXPECT_THAT(s.Statuses()[0].last_error, HasSubstr("permission denied"));
}

TEST_F(SchedulerTest, AnUnparsablePolicyIsReportedOnceAndNothingIsTaken) {
  Scheduler s(zfs_, *events_, clock_);
  auto targets = Targets("schedule=sometimes;keep=3");
  EXPECT_FALSE(s.RunOnce(targets));
  EXPECT_FALSE(s.RunOnce(targets));
  EXPECT_EQ(zfs_.creates, 0);
  EXPECT_THAT(Events("failed"), ElementsAre(HasSubstr("snapshot schedule 'sometimes'")));
  // Cleared: it leaves the status.
  ASSERT_TRUE(s.RunOnce({}));
  EXPECT_TRUE(s.Statuses().empty());
}

// The loop: a pass at Start, then one at each slot of the clock (and none between).
TEST_F(SchedulerTest, StartRunsAtEachSlot) {
  Scheduler s(zfs_, *events_, clock_);
  const auto t0 = clock_.Now();
  s.Start([this] { return Targets(); }, 1h);
  auto creates = [&] {
    std::lock_guard lock(zfs_.mu);
    return zfs_.creates;
  };
  // Steps the clock a second at a time (giving the loop a moment each step)
  // until the n-th snapshot; the wall-clock second it came at.
  auto second_of = [&](int n) {
    for (int step = 0; step < 200; ++step) {
      for (int i = 0; i < 50 && creates() < n; ++i) std::this_thread::sleep_for(1ms);
      if (creates() >= n) break;
      clock_.Advance(1s);
    }
    return std::chrono::duration_cast<std::chrono::seconds>(clock_.Now() - t0).count();
  };
  EXPECT_EQ(second_of(1), 0);
  clock_.Advance(58s);  // no slot in between: nothing may run
  EXPECT_EQ(creates(), 1);
  EXPECT_EQ(second_of(2), 61);  // the 08:01:00 slot (+200 ms) seen at the first whole second past it
  clock_.Advance(57s);
  EXPECT_EQ(second_of(3), 121);
  EXPECT_EQ(creates(), 3);
  s.Stop();
}

// Issue 17 item 6: the policy of a pool made elsewhere and not adopted is shown, never run.
TEST_F(SchedulerTest, AHeldPoolsPolicyTakesAndPrunesNothing) {
  Scheduler s(zfs_, *events_, clock_);
  auto targets = Targets();
  targets[0].held = "held: pool not adopted (run poolkeeper pool adopt tank)";
  ASSERT_TRUE(s.RunOnce(targets));
  EXPECT_EQ(zfs_.creates, 0);
  EXPECT_EQ(zfs_.lists, 0);
  auto st = s.Statuses();
  ASSERT_EQ(st.size(), 1u);
  EXPECT_EQ(st[0].last_error, targets[0].held);
  EXPECT_FALSE(st[0].next_run);
}

}  // namespace
}  // namespace pk::protect
