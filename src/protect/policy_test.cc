// Issue 24 item 1: the snapshot policy's syntax, its schedule arithmetic and
// the retention grid (a pure function).
#include "protect/policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "protect/policies.h"

namespace pk::protect {
namespace {

using namespace std::chrono;
using ::testing::HasSubstr;

Seconds At(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0) {
  return Seconds(sys_days(year(y) / month(mo) / day(d))) + hours(h) + minutes(mi) + seconds(s);
}

TEST(PolicyTest, ParsesAndWritesTheCanonicalForm) {
  auto p = Policy::Parse("schedule=every 15m; keep=keep 24 hourly, 30 daily,12 monthly ;prefix=auto.x");
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->ToProperty(), "schedule=every 15m;keep=24 hourly,30 daily,12 monthly;prefix=auto.x");
  EXPECT_EQ(Policy::Parse(p->ToProperty())->ToProperty(), p->ToProperty());
  EXPECT_EQ(Policy::Parse("keep=3;schedule=hourly")->ToProperty(), "schedule=every 1h;keep=3;prefix=auto");
  EXPECT_EQ(Policy::Parse("schedule=daily;keep=7 daily")->ToProperty(), "schedule=daily at 00:00;keep=7 daily;prefix=auto");
  EXPECT_EQ(Policy::Parse("schedule=daily at 02:30;keep=2 weekly,1 yearly")->schedule.minute_of_day, 150);
  EXPECT_EQ(Policy::Parse("schedule=every 2d;keep=5 latest")->ToProperty(), "schedule=every 2d;keep=5;prefix=auto");
}

// Issue 24 item 1 (bad input): a schedule that does not parse, retention zero,
// unknown keys: InvalidArgument naming the value and the cause.
TEST(PolicyTest, RefusesBadPolicies) {
  struct Case {
    const char* value;
    const char* why;
  } cases[] = {
      {"schedule=every 0m;keep=3", "whole number"},
      {"schedule=every 15;keep=3", "unknown unit"},
      {"schedule=every 15s;keep=3", "unknown unit"},
      {"schedule=every -5m;keep=3", "whole number"},
      {"schedule=every 367d;keep=3", "whole number"},
      {"schedule=daily at 25:00;keep=3", "HH:MM"},
      {"schedule=daily at 2:00;keep=3", "HH:MM"},
      {"schedule=weekly;keep=3", "not a schedule"},
      {"schedule=*/5 * * * *;keep=3", "not a schedule"},
      {"schedule=hourly;keep=0", "retention zero"},
      {"schedule=hourly;keep=0 daily", "retention zero"},
      {"schedule=hourly;keep=3 fortnightly", "unknown period"},
      {"schedule=hourly;keep=3 daily,4 daily", "twice"},
      {"schedule=hourly;keep=", "empty"},
      {"schedule=hourly;keep=3,", "not 'N PERIOD'"},
      {"schedule=hourly;keep=10001", "count from 1 to 10000"},
      {"schedule=hourly;keep=3;color=red", "unknown key 'color'"},
      {"schedule=hourly;keep=3;schedule=daily", "twice"},
      {"schedule=hourly", "'keep' is missing"},
      {"keep=3", "'schedule' is missing"},
      {"schedule=hourly;keep=3;prefix=-x", "snapshot prefix"},
      {"schedule=hourly;keep=3;prefix=a b", "snapshot prefix"},
      {"schedule=hourly;keep=3;prefix=a@b", "snapshot prefix"},
      {"schedule=hourly;keep=3;prefix=", "snapshot prefix"},
      {"schedule=hourly;;keep=3", "not KEY=VALUE"},
      {"", "not KEY=VALUE"},
  };
  for (const auto& c : cases) {
    auto p = Policy::Parse(c.value);
    ASSERT_FALSE(p) << c.value;
    EXPECT_EQ(p.error().code(), ErrorCode::kInvalidArgument) << c.value;
    EXPECT_THAT(p.error().message(), HasSubstr(c.why)) << c.value;
  }
}

TEST(ScheduleTest, SlotsAreUtcAndAligned) {
  auto every15 = *Schedule::Parse("every 15m");
  EXPECT_EQ(every15.LastSlot(At(2026, 12, 7, 11, 14, 59)), At(2026, 12, 7, 11, 0));
  EXPECT_EQ(every15.LastSlot(At(2026, 12, 7, 11, 15)), At(2026, 12, 7, 11, 15));
  EXPECT_EQ(every15.NextSlot(At(2026, 12, 7, 11, 15)), At(2026, 12, 7, 11, 30));
  auto at2 = *Schedule::Parse("daily at 02:00");
  EXPECT_EQ(at2.LastSlot(At(2026, 12, 7, 1, 59)), At(2026, 12, 6, 2, 0));
  EXPECT_EQ(at2.LastSlot(At(2026, 12, 7, 2, 0)), At(2026, 12, 7, 2, 0));
  EXPECT_EQ(at2.NextSlot(At(2026, 12, 7, 2, 0)), At(2026, 12, 8, 2, 0));
  EXPECT_EQ(Schedule::Parse("hourly")->NextSlot(At(2026, 12, 31, 23, 30)), At(2027, 1, 1, 0, 0));
}

TEST(LabelTest, RoundTripsAndIgnoresOtherNames) {
  Seconds t = At(2026, 12, 7, 11, 9, 5);
  EXPECT_EQ(SnapshotLabel("auto", t), "auto-20261207T110905Z");
  EXPECT_EQ(LabelTime("auto", "auto-20261207T110905Z"), t);
  EXPECT_EQ(LabelTime("auto", "auto-x-20261207T110905Z"), std::nullopt);   // another prefix
  EXPECT_EQ(LabelTime("auto-x", "auto-20261207T110905Z"), std::nullopt);
  EXPECT_EQ(LabelTime("auto", "auto-20261307T110905Z"), std::nullopt);     // month 13
  EXPECT_EQ(LabelTime("auto", "auto-20260231T110905Z"), std::nullopt);     // 31 February
  EXPECT_EQ(LabelTime("auto", "auto-20261207T110905"), std::nullopt);
  EXPECT_EQ(LabelTime("auto", "manual"), std::nullopt);
}

std::vector<int> Kept(const std::vector<Seconds>& times, const char* keep) {
  auto kept = KeepByGrid(times, *Retention::Parse(keep));
  std::vector<int> out;
  for (size_t i = 0; i < kept.size(); ++i) {
    if (kept[i]) out.push_back(static_cast<int>(i));
  }
  return out;
}

TEST(GridTest, LatestKeepsTheNewestN) {
  std::vector<Seconds> t;
  for (int i = 0; i < 6; ++i) t.push_back(At(2026, 12, 7, 10, i));
  EXPECT_EQ(Kept(t, "3"), (std::vector<int>{3, 4, 5}));
  std::vector<Seconds> shuffled = {t[4], t[0], t[5], t[2]};
  EXPECT_EQ(Kept(shuffled, "2"), (std::vector<int>{0, 2}));
  EXPECT_EQ(Kept(t, "10"), (std::vector<int>{0, 1, 2, 3, 4, 5}));
  EXPECT_TRUE(Kept({}, "3").empty());
}

TEST(GridTest, KeepsTheNewestOfEachPeriodAndUnitesTheRules) {
  // Every 30 minutes for three days.
  std::vector<Seconds> t;
  for (int i = 0; i < 144; ++i) t.push_back(At(2026, 12, 5) + minutes(30 * i));
  auto kept = Kept(t, "4 hourly,3 daily");
  // Hourly: the :30 snapshot of the last four hours (indices 143, 141, 139, 137);
  // daily: the last of each day (143 for Dec 7, 95 for Dec 6, 47 for Dec 5).
  EXPECT_EQ(kept, (std::vector<int>{47, 95, 137, 139, 141, 143}));
}

TEST(GridTest, PeriodsWithoutSnapshotsDoNotCount) {
  // Two snapshots, a month apart: `2 daily` keeps both (an outage does not eat history).
  std::vector<Seconds> t = {At(2026, 11, 1, 12), At(2026, 12, 1, 12), At(2026, 12, 1, 13)};
  EXPECT_EQ(Kept(t, "2 daily"), (std::vector<int>{0, 2}));
}

TEST(GridTest, WeeksStartOnMondayMonthsAndYearsAreCalendar) {
  // 2026-12-06 is a Sunday, 2026-12-07 a Monday.
  std::vector<Seconds> t = {At(2026, 12, 5), At(2026, 12, 6), At(2026, 12, 7)};
  EXPECT_EQ(Kept(t, "2 weekly"), (std::vector<int>{1, 2}));
  std::vector<Seconds> m = {At(2026, 10, 31, 23), At(2026, 11, 1), At(2026, 11, 30), At(2026, 12, 1)};
  EXPECT_EQ(Kept(m, "2 monthly"), (std::vector<int>{2, 3}));
  std::vector<Seconds> y = {At(2025, 12, 31), At(2026, 1, 1), At(2026, 6, 1)};
  EXPECT_EQ(Kept(y, "5 yearly"), (std::vector<int>{0, 2}));
}

TEST(TargetsTest, FilesystemsThatSeeAPolicyLocalOrInherited) {
  auto ds = [](std::string name, zfs::DatasetType type, std::string value, zfs::PropertySource source,
               std::string from = "") {
    zfs::Dataset d{name, type, {}};
    d.properties[kScheduleProperty] = {value, source, from};
    return std::pair{name, d};
  };
  std::map<std::string, zfs::Dataset> all = {
      ds("tank", zfs::DatasetType::kFilesystem, "-", zfs::PropertySource::kNone),
      ds("tank/a", zfs::DatasetType::kFilesystem, "schedule=hourly;keep=3", zfs::PropertySource::kLocal),
      ds("tank/a/b", zfs::DatasetType::kFilesystem, "schedule=hourly;keep=3", zfs::PropertySource::kInherited, "tank/a"),
      ds("tank/a/off", zfs::DatasetType::kFilesystem, "none", zfs::PropertySource::kLocal),
      ds("tank/a@s", zfs::DatasetType::kSnapshot, "schedule=hourly;keep=3", zfs::PropertySource::kInherited, "tank/a"),
      ds("tank/bad", zfs::DatasetType::kFilesystem, "schedule=sometimes;keep=3", zfs::PropertySource::kLocal),
  };
  auto targets = TargetsOf(all);
  ASSERT_EQ(targets.size(), 3u);
  EXPECT_EQ(targets[0].dataset.str(), "tank/a");
  EXPECT_EQ(targets[0].source, "local");
  EXPECT_EQ(targets[1].dataset.str(), "tank/a/b");
  EXPECT_EQ(targets[1].source, "tank/a");
  EXPECT_TRUE(targets[1].policy);
  EXPECT_EQ(targets[2].dataset.str(), "tank/bad");
  EXPECT_FALSE(targets[2].policy);
}

}  // namespace
}  // namespace pk::protect
