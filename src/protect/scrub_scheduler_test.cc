// Issue 24 item 3: the scrub scheduler on a FakeClock: due pools are scrubbed
// once, one at a time, never while another scan runs, a missed scrub once.
#include "protect/scrub_scheduler.h"

#include <stdlib.h>
#include <time.h>

#include <filesystem>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "testing/fake_clock.h"
#include "testing/fake_zfs.h"

namespace pk::protect {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using State = zfs::ScanProgress::State;
using Kind = zfs::ScanProgress::Kind;

class ScrubZfs : public testing::FakeZfs {
 public:
  Status Scrub(const zfs::PoolName& pool, zfs::ScrubAction action) override {
    if (!fail.empty()) return std::unexpected(Error(ErrorCode::kFailedPrecondition, fail));
    started.push_back(pool.str() + " " + std::string(zfs::ScrubActionName(action)));
    return OkStatus();
  }
  std::vector<std::string> started;
  std::string fail;
};

// ctime's form in UTC (the test runs with TZ=UTC), as zpool status prints it.
std::string ZpoolTime(std::chrono::system_clock::time_point t) {
  time_t s = std::chrono::system_clock::to_time_t(t);
  struct tm tm {};
  gmtime_r(&s, &tm);
  char buf[64];
  strftime(buf, sizeof buf, "%a %b %e %H:%M:%S %Y", &tm);
  return buf;
}

class ScrubSchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("TZ", "UTC", 1);
    tzset();
    dir_ = std::filesystem::temp_directory_path() / ("pk_scrub_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    events_ = std::move(*events::EventLog::Open(*fs_, (dir_ / "events.jsonl").string()));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A pool created `age` ago, never scanned, with `policy` ("" = none set).
  ScrubTarget Pool(const std::string& name, std::chrono::seconds age, const std::string& policy = "") {
    ScrubTarget t{*zfs::PoolName::Parse(name)};
    t.guid = std::hash<std::string>{}(name);
    t.health = "ONLINE";
    t.created = std::chrono::floor<std::chrono::seconds>(clock_.Now()) - age;
    if (!policy.empty()) {
      t.policy = ScrubPolicy::Parse(policy);
      t.source = "local";
    }
    return t;
  }
  static void Scanned(ScrubTarget& t, State state, std::chrono::system_clock::time_point end, Kind kind = Kind::kScrub) {
    t.scan.kind = kind;
    t.scan.state = state;
    if (state != State::kScanning) t.scan.end_time = ZpoolTime(end);
  }
  std::vector<std::string> Events(const std::string& state) const {
    std::vector<std::string> out;
    for (const auto& e : events_->Since(0)) {
      if (e.state == state) out.push_back(e.resource + ": " + e.reason);
    }
    return out;
  }
  ScrubStatus StatusOf(const ScrubScheduler& s, const std::string& pool) const {
    for (const auto& st : s.Statuses()) {
      if (st.pool == pool) return st;
    }
    ADD_FAILURE() << "no status for " << pool;
    return {};
  }

  std::unique_ptr<sys::FileSystem> fs_ = sys::MakeRealFileSystem();
  std::filesystem::path dir_;
  std::unique_ptr<events::EventLog> events_;
  ScrubZfs zfs_;
  testing::FakeClock clock_;  // 2027-01-15T08:00:00Z
};

TEST_F(ScrubSchedulerTest, ANewPoolWaitsItsIntervalAndAnOldOneIsScrubbedOnce) {
  ScrubScheduler s(zfs_, *events_, clock_);
  auto young = Pool("young", std::chrono::days(3));
  auto old = Pool("old", std::chrono::days(400));  // monthly by default: a year of missed scrubs
  ASSERT_TRUE(s.RunOnce({old, young}));
  EXPECT_THAT(zfs_.started, ElementsAre("old start"));
  EXPECT_EQ(StatusOf(s, "young").state, "scheduled");
  EXPECT_EQ(StatusOf(s, "young").source, "default");
  EXPECT_EQ(StatusOf(s, "young").policy, "every 30d");
  ASSERT_EQ(Events("scrub-requested").size(), 1u);
  EXPECT_THAT(Events("scrub-requested")[0], HasSubstr("scan:old: scheduled scrub of pool 'old' started"));

  // The status read from before the start does not start a second one.
  clock_.Advance(1min);
  ASSERT_TRUE(s.RunOnce({old, young}));
  EXPECT_EQ(zfs_.started.size(), 1u);
  EXPECT_EQ(StatusOf(s, "old").state, "scanning");

  // It finished: the next one is a month away, not one per missed month.
  Scanned(old, State::kFinished, clock_.Now());
  clock_.Advance(1h);
  ASSERT_TRUE(s.RunOnce({old, young}));
  EXPECT_EQ(zfs_.started.size(), 1u);
  EXPECT_EQ(StatusOf(s, "old").state, "scheduled");
  EXPECT_GE(*StatusOf(s, "old").next_run, clock_.Now() + std::chrono::days(29));
}

TEST_F(ScrubSchedulerTest, OneScanAtATimeMostOverdueFirst) {
  ScrubScheduler s(zfs_, *events_, clock_);
  auto a = Pool("a", std::chrono::days(40), "every 1h");
  auto b = Pool("b", std::chrono::days(50), "every 1h");
  ASSERT_TRUE(s.RunOnce({a, b}));
  EXPECT_THAT(zfs_.started, ElementsAre("b start"));
  EXPECT_EQ(StatusOf(s, "a").state, "due");
  EXPECT_THAT(StatusOf(s, "a").reason, HasSubstr("waiting for the scan of pool 'b'"));

  Scanned(b, State::kScanning, clock_.Now());
  clock_.Advance(1min);
  ASSERT_TRUE(s.RunOnce({a, b}));
  EXPECT_EQ(zfs_.started.size(), 1u);

  Scanned(b, State::kFinished, clock_.Now());
  clock_.Advance(1min);
  ASSERT_TRUE(s.RunOnce({a, b}));
  EXPECT_THAT(zfs_.started, ElementsAre("b start", "a start"));
}

TEST_F(ScrubSchedulerTest, AResilverAnywherePausedScrubsAndUnhealthyPoolsStartNothing) {
  ScrubScheduler s(zfs_, *events_, clock_);
  auto resilvering = Pool("r", std::chrono::days(1), "off");
  Scanned(resilvering, State::kScanning, clock_.Now(), Kind::kResilver);
  auto due = Pool("due", std::chrono::days(40));
  ASSERT_TRUE(s.RunOnce({resilvering, due}));
  EXPECT_TRUE(zfs_.started.empty());
  EXPECT_EQ(StatusOf(s, "r").state, "scanning");
  EXPECT_THAT(StatusOf(s, "due").reason, HasSubstr("waiting for the scan of pool 'r'"));

  auto paused = Pool("p", std::chrono::days(40));
  Scanned(paused, State::kPaused, clock_.Now() - std::chrono::days(35));
  auto faulted = Pool("f", std::chrono::days(40));
  faulted.health = "FAULTED";
  auto off = Pool("o", std::chrono::days(40), "off");
  ASSERT_TRUE(s.RunOnce({paused, faulted, off}));
  EXPECT_TRUE(zfs_.started.empty());
  EXPECT_EQ(StatusOf(s, "p").state, "paused");
  EXPECT_EQ(StatusOf(s, "f").state, "not-scheduled");
  EXPECT_THAT(StatusOf(s, "f").reason, HasSubstr("FAULTED"));
  EXPECT_EQ(StatusOf(s, "o").state, "off");
}

TEST_F(ScrubSchedulerTest, AFailedStartIsReportedAndTriedAgainAfterAnHour) {
  ScrubScheduler s(zfs_, *events_, clock_);
  auto pool = Pool("tank", std::chrono::days(40));
  zfs_.fail = "pool I/O is currently suspended";
  EXPECT_FALSE(s.RunOnce({pool}));
  ASSERT_EQ(Events("scrub-request-failed").size(), 1u);
  EXPECT_THAT(Events("scrub-request-failed")[0], HasSubstr("pool 'tank' could not start: pool I/O is currently suspended"));
  EXPECT_THAT(StatusOf(s, "tank").last_error, HasSubstr("suspended"));

  zfs_.fail.clear();
  clock_.Advance(30min);
  ASSERT_TRUE(s.RunOnce({pool}));
  EXPECT_TRUE(zfs_.started.empty());
  EXPECT_THAT(StatusOf(s, "tank").last_error, HasSubstr("suspended"));
  clock_.Advance(31min);
  ASSERT_TRUE(s.RunOnce({pool}));
  EXPECT_THAT(zfs_.started, ElementsAre("tank start"));
  EXPECT_EQ(Events("scrub-request-failed").size(), 1u);
}

// Issue 17 item 6: a pool made elsewhere and not adopted is never scrubbed by schedule.
TEST_F(ScrubSchedulerTest, AHeldPoolIsNotScrubbed) {
  ScrubScheduler s(zfs_, *events_, clock_);
  auto pool = Pool("foreign", std::chrono::days(400));
  pool.held = "held: pool not adopted (run poolkeeper pool adopt foreign)";
  ASSERT_TRUE(s.RunOnce({pool}));
  EXPECT_TRUE(zfs_.started.empty());
  EXPECT_EQ(StatusOf(s, "foreign").state, "held");
  EXPECT_THAT(StatusOf(s, "foreign").reason, HasSubstr("pool adopt foreign"));
}

TEST_F(ScrubSchedulerTest, APolicyThatDoesNotParseIsReportedOnceAndNothingStarts) {
  ScrubScheduler s(zfs_, *events_, clock_);
  auto pool = Pool("tank", std::chrono::days(40), "sometimes");
  EXPECT_FALSE(pool.policy);
  ASSERT_TRUE(s.RunOnce({pool}));
  ASSERT_TRUE(s.RunOnce({pool}));
  EXPECT_TRUE(zfs_.started.empty());
  EXPECT_EQ(StatusOf(s, "tank").state, "error");
  EXPECT_EQ(Events("scrub-schedule-invalid").size(), 1u);
}

TEST_F(ScrubSchedulerTest, TargetsComeFromTheInventorysPoolsAndRootDatasets) {
  inventory::Snapshot view;
  inventory::PoolEntry tank, fresh;
  tank.summary.name = "tank";
  tank.summary.guid = 7;
  tank.status.name = "tank";
  tank.status.state = "DEGRADED";
  fresh.summary.name = "fresh";  // no status read yet: left out
  view.pools = {fresh, tank};
  zfs::Dataset root{"tank", zfs::DatasetType::kFilesystem, {}};
  root.properties["creation"] = {"1799000000", zfs::PropertySource::kNone, ""};
  root.properties[kScrubProperty] = {"weekly at 03:00", zfs::PropertySource::kLocal, ""};
  view.datasets["tank"] = root;
  auto targets = ScrubTargetsOf(view);
  ASSERT_EQ(targets.size(), 1u);
  EXPECT_EQ(targets[0].pool.str(), "tank");
  EXPECT_EQ(targets[0].guid, 7u);
  EXPECT_EQ(targets[0].health, "DEGRADED");
  EXPECT_EQ(targets[0].source, "local");
  EXPECT_EQ(targets[0].policy->str(), "every 1w at 03:00");
  EXPECT_EQ(*targets[0].created, Seconds(std::chrono::seconds(1799000000)));

  auto held = ScrubTargetsOf(view, [](const std::string& pool) -> std::optional<std::string> { return "held " + pool; });
  EXPECT_EQ(held[0].held, "held tank");

  // Inherited values do not count: the schedule is the pool's own.
  view.datasets["tank"].properties[kScrubProperty].source = zfs::PropertySource::kInherited;
  EXPECT_EQ(ScrubTargetsOf(view)[0].source, "default");
}

}  // namespace
}  // namespace pk::protect
