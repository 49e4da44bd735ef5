// End-to-end tests of snapshot schedules with retention (issue 24 item 1) on a
// real zfs-fuse pool, driven through the real `poolkeeper` CLI and poolkeeperd:
//
//  - EveryMinuteKeepThreeForFiveMinutesThenADaemonDownThreeMinutes: the
//    issue's acceptance. `every 1m, keep 3` on a filesystem with a child that
//    inherits it runs for five minutes: exactly the newest three slot
//    snapshots exist on each (plus, on the parent, the first one, held with
//    `zfs hold`, which survives pruning, and a manual snapshot no schedule
//    owns); every run is an event. Then the daemon is down for three minutes
//    and comes back: the three missed runs are caught up by one snapshot.
//    About nine minutes: it is the acceptance, the other tests are short.
//  - InheritanceOptOutAndClear: a child follows its parent's policy, `--none`
//    opts it out, `clear` (zfs inherit) brings the parent's back.
//  - BadInputChangesNothing: a schedule that does not parse, retention zero, a
//    bad prefix, a snapshot instead of a filesystem, a missing dataset: clear
//    errors, the property unchanged; a policy written by hand with an unknown
//    key is shown with its error and nothing is taken.
//
// One daemon and one 128 MiB single-disk pool for the suite (e2e::Lab),
// destroyed at the suite's end whatever happened. The long test waits for
// wall-clock minutes because the schedule is in wall-clock minutes; what it
// asserts is the set of snapshots ZFS lists, never the length of a sleep.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/e2e/harness.h"
#include "tests/e2e/lab.h"

namespace pk::e2e {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using namespace std::chrono_literals;
using SysClock = std::chrono::system_clock;

constexpr const char* kProperty = "org.poolkeeper:snapshot-schedule";

class SnapshotScheduleTest : public LabSuite<SnapshotScheduleTest> {
 protected:
  friend class LabSuite<SnapshotScheduleTest>;

  static Status SetUpLab() {
    pool_ = "snp" + std::to_string(::getpid());
    PK_TRY(lab_.Open(pool_));
    PK_TRY(lab_.CreatePool(pool_));
    for (const char* ds : {"/acc", "/acc/child", "/inh", "/inh/child", "/bad"}) {
      PK_TRY(lab_.Run(ZfsTool("zfs", {"create", pool_ + ds})));
    }
    cli_ = lab_.cli();
    PK_TRY(lab_.StartDaemon());
    return AdoptPool(cli_, pool_);  // made with zpool create: schedules run on adopted pools only
  }
  static void TearDownLab() {
    // A held snapshot must be released before the pool goes.
    (void)lab_.Run(ZfsTool("zfs", {"release", "pktest", held_}));
  }

  static std::string ZfsValue(const std::string& dataset) {
    auto got = lab_.Run(ZfsTool("zfs", {"get", "-H", "-o", "value", kProperty, dataset}));
    PK_EXPECT_OK(got);
    std::string out = got.value_or("");
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }
  // The snapshots of `dataset` itself (not its children), by their part after '@'.
  static std::vector<std::string> Snapshots(const std::string& dataset) {
    auto got = lab_.Run(ZfsTool("zfs", {"list", "-H", "-t", "snapshot", "-o", "name", "-r", dataset}));
    PK_EXPECT_OK(got);
    std::vector<std::string> out;
    std::istringstream lines(got.value_or(""));
    for (std::string line; std::getline(lines, line);) {
      if (line.starts_with(dataset + "@")) out.push_back(line.substr(dataset.size() + 1));
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  static std::vector<json> Events(const std::string& resource, const std::string& state) {
    auto r = cli_.Run({"--json", "events"});
    EXPECT_EQ(r.code, kExitOk) << r;
    std::vector<json> out;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) {
      auto e = json::parse(line, nullptr, false);
      if (!e.is_discarded() && e.value("resource", "") == resource && e.value("state", "") == state) out.push_back(e);
    }
    return out;
  }
  // "auto-20261207T110900Z" for the minute slot `t` falls in.
  static std::string MinuteOf(SysClock::time_point t) {
    auto day = std::chrono::floor<std::chrono::days>(t);
    std::chrono::year_month_day ymd(day);
    std::chrono::hh_mm_ss hms(std::chrono::floor<std::chrono::minutes>(t - day));
    char out[32];
    std::snprintf(out, sizeof out, "%04d%02u%02uT%02d%02d", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                  static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
                  static_cast<int>(hms.minutes().count()));
    return out;
  }
  // Waits until the wall clock is `second` seconds into a minute.
  static SysClock::time_point WaitUntilSecond(int second) {
    auto now = SysClock::now();
    auto minute = std::chrono::floor<std::chrono::minutes>(now);
    auto target = minute + std::chrono::seconds(second);
    if (target <= now) target += 1min;
    std::this_thread::sleep_until(target);
    return SysClock::now();
  }

  static inline std::string pool_;
  static inline std::string held_;
  static inline CliClient cli_;
};

// Issue 24 item 1, acceptance: "a schedule every minute with retention 3 runs
// for 5 minutes: exactly the expected snapshots exist; a held snapshot survives
// pruning; a daemon down for 3 minutes catches up once".
TEST_F(SnapshotScheduleTest, EveryMinuteKeepThreeForFiveMinutesThenADaemonDownThreeMinutes) {
  const std::string acc = pool_ + "/acc", child = pool_ + "/acc/child";
  PK_ASSERT_OK(lab_.Run(ZfsTool("zfs", {"snapshot", acc + "@manual"})));
  WaitUntilSecond(10);  // well clear of a slot, so the first run is not also a slot's
  auto r = cli_.Run({"snapshot", "policy", "set", acc, "--schedule", "every 1m", "--keep", "3"});
  ASSERT_EQ(r.code, kExitOk) << r;
  EXPECT_EQ(ZfsValue(acc), "schedule=every 1m;keep=3;prefix=auto");
  // The first run is at once (the policy has no snapshot yet), on the child too.
  auto first = WaitForJson(cli_, {"snapshot", "policy", "show", acc}, [](const json& j) {
    return j["status"].is_object() && !j["status"].value("last_snapshot", "").empty();
  });
  held_ = first["status"].value("last_snapshot", "");
  ASSERT_THAT(held_, HasSubstr("@auto-"));
  PK_ASSERT_OK(lab_.Run(ZfsTool("zfs", {"hold", "pktest", held_})));
  WaitForJson(cli_, {"snapshot", "policy", "show", child}, [](const json& j) {
    return j["status"].is_object() && !j["status"].value("last_snapshot", "").empty();
  });

  // Five minutes; checked 20 s into the minute, away from the slot's run.
  auto start = SysClock::now();
  SysClock::time_point now;
  do now = WaitUntilSecond(20);
  while (now < start + 5min);
  std::vector<std::string> expected;
  for (int back = 2; back >= 0; --back) expected.push_back(MinuteOf(now - std::chrono::minutes(back)));
  auto own = [&](const std::string& ds) {
    std::vector<std::string> minutes;
    for (const auto& s : Snapshots(ds)) {
      if (s.starts_with("auto-") && ds + "@" + s != held_) minutes.push_back(s.substr(5, 13));
    }
    return minutes;
  };
  EXPECT_EQ(own(acc), expected) << "snapshots of " << acc << " 20 s into " << MinuteOf(now);
  EXPECT_EQ(own(child), expected) << "snapshots of " << child;
  auto all = Snapshots(acc);
  EXPECT_EQ(all.size(), 5u) << ::testing::PrintToString(all);  // 3 + the held one + manual
  EXPECT_NE(std::find(all.begin(), all.end(), held_.substr(acc.size() + 1)), all.end()) << "the held snapshot was pruned";
  EXPECT_NE(std::find(all.begin(), all.end(), "manual"), all.end());
  // Every run an event: one taken per minute (6 or 7: the first, then each slot), pruned = taken - 3 - the held one.
  auto taken = Events("snapshot:" + acc, "taken"), pruned = Events("snapshot:" + acc, "pruned");
  // 6, or 5 when a loaded machine ran the first pass only in the next slot's minute.
  EXPECT_GE(taken.size(), 5u);
  EXPECT_EQ(pruned.size(), taken.size() - 4);
  EXPECT_TRUE(Events("snapshot:" + acc, "failed").empty());
  auto status = cli_.Json({"snapshot", "policy", "show"});
  bool listed = false;
  for (const auto& p : status["policies"]) {
    if (p.value("dataset", "") != acc) continue;
    listed = true;
    EXPECT_EQ(p.value("source", ""), "local");
    EXPECT_EQ(p.value("last_error", "x"), "");
    EXPECT_FALSE(p["next_run"].is_null());
    EXPECT_FALSE(p["last_run"].is_null());
  }
  EXPECT_TRUE(listed) << status.dump();

  // Down for three minutes (three slots missed), then back: one catch-up snapshot.
  auto before = own(acc);
  lab_.daemon().Stop();
  auto stopped = SysClock::now();
  std::this_thread::sleep_until(stopped + 3min);
  // The daemon runs its first pass as soon as it starts, which can be before
  // StartDaemon has seen it ready on a loaded machine: its minute is the spawn's.
  auto restarting = SysClock::now();
  PK_ASSERT_OK(lab_.StartDaemon());
  // The restarted daemon's first passes catch up (it rescans every 10 s).
  WaitForJson(cli_, {"snapshot", "policy", "show", acc}, [&](const json& j) {
    std::string last = j["status"].is_object() ? j["status"].value("last_snapshot", "") : "";
    return last.size() > acc.size() + 6 && last.substr(acc.size() + 6, 13) > before.back();
  }, 40s);
  auto checked = SysClock::now();
  auto after = own(acc);
  std::vector<std::string> made_after_stop;
  for (const auto& m : after) {
    if (m > before.back()) made_after_stop.push_back(m);
  }
  // The three missed slots were caught up by one snapshot, named for when it
  // ran: nothing is named for a minute the daemon was down, and there is at
  // most one per minute it has run since (a slot that passed before this
  // check adds its own run).
  ASSERT_FALSE(made_after_stop.empty());
  EXPECT_GE(made_after_stop.front(), MinuteOf(restarting)) << "a snapshot was made for a minute of the outage: "
                                                           << ::testing::PrintToString(after);
  auto running_minutes = std::chrono::floor<std::chrono::minutes>(checked) -
                         std::chrono::floor<std::chrono::minutes>(restarting) + 1min;
  EXPECT_LE(made_after_stop.size(), static_cast<size_t>(running_minutes.count())) << ::testing::PrintToString(after);
  if (running_minutes == 1min) {
    EXPECT_EQ(made_after_stop.size(), 1u) << ::testing::PrintToString(after);
  }
  EXPECT_EQ(after.size(), 3u) << ::testing::PrintToString(after);
  auto still = Snapshots(acc);
  EXPECT_NE(std::find(still.begin(), still.end(), held_.substr(acc.size() + 1)), still.end());
}

// Issue 24 item 1: children inherit unless they override; `clear` is `zfs inherit`.
TEST_F(SnapshotScheduleTest, InheritanceOptOutAndClear) {
  const std::string inh = pool_ + "/inh", child = pool_ + "/inh/child";
  ASSERT_EQ(cli_.Run({"snapshot", "policy", "set", inh, "--schedule", "daily at 02:00", "--keep", "7 daily, 4 weekly",
                      "--prefix", "nightly"}).code, kExitOk);
  auto shown = cli_.Json({"snapshot", "policy", "show", child});
  EXPECT_EQ(shown.value("policy", ""), "schedule=daily at 02:00;keep=7 daily,4 weekly;prefix=nightly");
  EXPECT_EQ(shown.value("source", ""), inh);
  // Both get their first snapshot at once, with the policy's prefix.
  WaitForJson(cli_, {"snapshot", "policy", "show", child}, [](const json& j) {
    return j["status"].is_object() && j["status"].value("last_snapshot", "").find("@nightly-") != std::string::npos;
  });
  auto human = cli_.Run({"snapshot", "policy", "show", child});
  EXPECT_THAT(human.out, HasSubstr("inherited from " + inh));
  EXPECT_THAT(human.out, HasSubstr("next run:"));

  ASSERT_EQ(cli_.Run({"snapshot", "policy", "set", child, "--none"}).code, kExitOk);
  EXPECT_EQ(ZfsValue(child), "none");
  WaitForJson(cli_, {"snapshot", "policy", "show"}, [&](const json& j) {
    for (const auto& p : j["policies"]) {
      if (p.value("dataset", "") == child) return false;
    }
    return true;
  });
  ASSERT_EQ(cli_.Run({"snapshot", "policy", "clear", child}).code, kExitOk);
  EXPECT_EQ(cli_.Json({"snapshot", "policy", "show", child}).value("source", ""), inh);
  ASSERT_EQ(cli_.Run({"snapshot", "policy", "clear", inh}).code, kExitOk);
  EXPECT_EQ(ZfsValue(inh), "-");
  EXPECT_EQ(cli_.Json({"snapshot", "policy", "show", child}).value("policy", "x"), "");
  EXPECT_THAT(cli_.Run({"snapshot", "policy", "show", child}).out, HasSubstr("no snapshot schedule"));
}

// Issue 24 item 1 (bad input): clear errors naming the object and the cause, nothing written.
TEST_F(SnapshotScheduleTest, BadInputChangesNothing) {
  const std::string bad = pool_ + "/bad";
  struct Case {
    std::vector<std::string> args;
    int code;
    std::string message;
  } cases[] = {
      {{bad, "--schedule", "every 0m", "--keep", "3"}, kExitUsage, "snapshot schedule 'every 0m'"},
      {{bad, "--schedule", "sometimes", "--keep", "3"}, kExitUsage, "snapshot schedule 'sometimes': not a schedule"},
      {{bad, "--schedule", "daily at 24:00", "--keep", "3"}, kExitUsage, "HH:MM"},
      {{bad, "--schedule", "hourly", "--keep", "0"}, kExitUsage, "retention zero"},
      {{bad, "--schedule", "hourly", "--keep", "3 fortnightly"}, kExitUsage, "unknown period 'fortnightly'"},
      {{bad, "--schedule", "hourly", "--keep", "3", "--prefix", "a b"}, kExitUsage, "snapshot prefix 'a b'"},
      {{bad, "--schedule", "hourly"}, kExitUsage, "give --schedule and --keep"},
      {{bad + "@s", "--schedule", "hourly", "--keep", "3"}, kExitUsage, bad + "@s"},
      {{pool_ + "/missing", "--schedule", "hourly", "--keep", "3"}, kExitNotFound, pool_ + "/missing"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args = {"snapshot", "policy", "set"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    auto r = cli_.Run(args);
    EXPECT_EQ(r.code, c.code) << r;
    EXPECT_THAT(r.err, HasSubstr(c.message)) << r;
    EXPECT_THAT(r.err, HasSubstr(c.code == kExitNotFound ? pool_ + "/missing" : bad)) << "names the dataset: " << r;
  }
  EXPECT_EQ(ZfsValue(bad), "-");
  EXPECT_TRUE(Snapshots(bad).empty());

  // Written by hand, with an unknown key: shown with its error, nothing taken.
  PK_ASSERT_OK(lab_.Run(ZfsTool("zfs", {"set", std::string(kProperty) + "=schedule=hourly;keep=3;color=red", bad})));
  auto shown = cli_.Json({"snapshot", "policy", "show", bad});
  EXPECT_THAT(shown.value("error", ""), HasSubstr("unknown key 'color'"));
  EXPECT_TRUE(Snapshots(bad).empty());
  PK_EXPECT_OK(lab_.Run(ZfsTool("zfs", {"inherit", kProperty, bad})));
}

}  // namespace
}  // namespace pk::e2e
