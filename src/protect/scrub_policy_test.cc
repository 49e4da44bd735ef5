// Issue 24 item 3: the scrub schedule a pool carries, and when it is due.
#include "protect/scrub_policy.h"

#include <stdlib.h>
#include <time.h>

#include <set>

#include <gtest/gtest.h>

namespace pk::protect {
namespace {

using namespace std::chrono_literals;

Seconds At(int64_t epoch) { return Seconds(std::chrono::seconds(epoch)); }

TEST(ScrubPolicyTest, ParsesTheScheduleWordsToTheirCanonicalForm) {
  EXPECT_EQ(ScrubPolicy::Parse("monthly")->str(), "every 30d");
  EXPECT_EQ(ScrubPolicy::Parse("weekly")->str(), "every 1w");
  EXPECT_EQ(ScrubPolicy::Parse(" weekly  at 02:30 ")->str(), "every 1w at 02:30");
  EXPECT_EQ(ScrubPolicy::Parse("every 14d")->str(), "every 2w");
  EXPECT_EQ(ScrubPolicy::Parse("every 1m")->str(), "every 1m");
  EXPECT_EQ(ScrubPolicy::Parse("every 35d at 23:59")->minute_of_day, 23 * 60 + 59);
  EXPECT_TRUE(ScrubPolicy::Parse("off")->off);
  EXPECT_EQ(ScrubPolicy::Parse("off")->str(), "off");
}

TEST(ScrubPolicyTest, RefusesWhatDoesNotParseNamingTheValue) {
  for (const char* bad : {"", "fortnightly", "every", "every 0d", "every 367d", "every 3x", "every -1d",
                          "every 1h at 02:00", "monthly at 25:00", "monthly at 2:00", "monthly on 02:00",
                          "off now", "every 1d at"}) {
    auto p = ScrubPolicy::Parse(bad);
    ASSERT_FALSE(p) << bad;
    EXPECT_NE(p.error().message().find(std::string("scrub schedule '") + bad + "'"), std::string::npos)
        << p.error().message();
  }
}

TEST(ScrubPolicyTest, ShortIntervalsCountFromTheLastScanAndDaysGoToTheMinuteOfTheDay) {
  const Seconds since = At(1'800'000'000);  // 2027-01-15T08:00:00Z
  EXPECT_EQ(*ScrubDue(*ScrubPolicy::Parse("every 1m"), since, 42), since + 60s);
  EXPECT_EQ(*ScrubDue(*ScrubPolicy::Parse("every 6h"), since, 42), since + 6h);
  // 30 days later at 02:00 UTC: 08:00 has passed that day, so the next day's 02:00.
  auto policy = *ScrubPolicy::Parse("monthly at 02:00");
  EXPECT_EQ(*ScrubDue(policy, since, 42), std::chrono::floor<std::chrono::days>(since + std::chrono::days(31)) + 2h);
  auto evening = *ScrubPolicy::Parse("monthly at 20:00");
  EXPECT_EQ(*ScrubDue(evening, since, 42), std::chrono::floor<std::chrono::days>(since + std::chrono::days(30)) + 20h);
  EXPECT_FALSE(ScrubDue(*ScrubPolicy::Parse("off"), since, 42));
}

TEST(ScrubPolicyTest, PoolsWithoutATimeOfDayAreStaggeredByTheirGuid) {
  const Seconds since = At(1'800'000'000);
  ScrubPolicy monthly;
  std::set<int> minutes;
  for (uint64_t guid = 1; guid <= 100; ++guid) {
    int m = StaggerMinute(guid * 0x1000);  // GUIDs differing in higher bits only
    ASSERT_GE(m, 0);
    ASSERT_LT(m, 24 * 60);
    minutes.insert(m);
    auto due = *ScrubDue(monthly, since, guid * 0x1000);
    EXPECT_EQ(due - std::chrono::floor<std::chrono::days>(due), std::chrono::minutes(m));
    EXPECT_GE(due, since + std::chrono::days(30));
    EXPECT_LT(due, since + std::chrono::days(31));
  }
  EXPECT_GT(minutes.size(), 90u);  // spread over the day
  EXPECT_EQ(StaggerMinute(0x1234567890abcdefULL), StaggerMinute(0x1234567890abcdefULL));
}

TEST(ScrubPolicyTest, ReadsZpoolsTimesInTheLocalZone) {
  const char* old = getenv("TZ");
  std::string saved = old ? old : "";
  setenv("TZ", "UTC", 1);
  tzset();
  EXPECT_EQ(*ParseZpoolTime("Mon Dec  7 14:02:11 2026"), At(1796652131));
  EXPECT_EQ(*ParseZpoolTime("Tue Jan 12 03:04:05 2027 "), At(1799723045));
  EXPECT_FALSE(ParseZpoolTime(""));
  EXPECT_FALSE(ParseZpoolTime("yesterday"));
  EXPECT_FALSE(ParseZpoolTime("Mon Dec  7 14:02:11 2026 and more"));
  if (old) setenv("TZ", saved.c_str(), 1);
  else unsetenv("TZ");
  tzset();
}

}  // namespace
}  // namespace pk::protect
