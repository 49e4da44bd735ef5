// Scrub/resilver start and end events from two status reads (issue 20 item 1).
#include "inventory/scan_events.h"

#include <gtest/gtest.h>

#include "inventory/inventory.h"
#include "testing/fake_process_runner.h"

namespace pk::inventory {
namespace {

using Kind = zfs::ScanProgress::Kind;
using State = zfs::ScanProgress::State;

zfs::ScanProgress Scan(Kind kind, State state, std::string start = "", std::string end = "") {
  zfs::ScanProgress p;
  p.kind = kind;
  p.state = state;
  p.start_time = std::move(start);
  p.end_time = std::move(end);
  return p;
}

TEST(ScanEventsTest, NothingHappenedIsNoEvent) {
  auto none = Scan(Kind::kNone, State::kNone);
  EXPECT_TRUE(ScanTransitions("tank", none, none).empty());
  auto done = Scan(Kind::kScrub, State::kFinished, "", "Mon Dec  7 11:09:07 2026");
  EXPECT_TRUE(ScanTransitions("tank", done, done).empty());
  auto running = Scan(Kind::kScrub, State::kScanning, "Sun Nov 22 05:39:07 2026");
  running.percent_done = 10;
  auto later = running;
  later.percent_done = 20;
  EXPECT_TRUE(ScanTransitions("tank", running, later).empty());  // progress is not an event
}

TEST(ScanEventsTest, StartSeenThenEnd) {
  auto none = Scan(Kind::kNone, State::kNone);
  auto running = Scan(Kind::kScrub, State::kScanning, "Sun Nov 22 05:39:07 2026");
  running.percent_done = 29.8;
  auto started = ScanTransitions("tank", none, running);
  ASSERT_EQ(started.size(), 1u);
  EXPECT_EQ(started[0].state, "scrub-running");
  EXPECT_EQ(started[0].previous, "");
  EXPECT_EQ(started[0].reason, "scrub of pool 'tank' running since Sun Nov 22 05:39:07 2026, 29.80% done (started)");

  auto done = Scan(Kind::kScrub, State::kFinished, "", "Sun Nov 22 05:40:07 2026");
  done.errors = 0;
  done.processed_bytes = 0;
  done.elapsed_seconds = 60;
  auto ended = ScanTransitions("tank", running, done);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].state, "scrub-finished");
  EXPECT_EQ(ended[0].previous, "scrub-running");
  EXPECT_EQ(ended[0].reason, "scrub of pool 'tank' finished with 0 errors on Sun Nov 22 05:40:07 2026, 0B repaired in 60 s");
}

TEST(ScanEventsTest, ScanBetweenTwoReadsGivesStartAndEnd) {
  // zfs-fuse: a second scrub finished before the next read; only its end time differs.
  auto first = Scan(Kind::kScrub, State::kFinished, "", "Mon Dec  7 11:09:07 2026");
  first.errors = 0;
  auto second = Scan(Kind::kScrub, State::kFinished, "", "Mon Dec  7 11:09:14 2026");
  second.errors = 0;
  auto events = ScanTransitions("tank", first, second);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].state, "scrub-running");
  EXPECT_EQ(events[0].previous, "scrub-finished");
  EXPECT_EQ(events[1].state, "scrub-finished");
  EXPECT_EQ(events[1].previous, "scrub-running");
  EXPECT_NE(events[1].reason.find("11:09:14"), std::string::npos) << events[1].reason;
}

TEST(ScanEventsTest, ResilverAfterScrubAndCancelAndPause) {
  auto scrub = Scan(Kind::kScrub, State::kFinished, "", "Mon Dec  7 11:09:07 2026");
  auto resilver = Scan(Kind::kResilver, State::kScanning, "Mon Dec  7 11:10:00 2026");
  auto r = ScanTransitions("tank", scrub, resilver);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].state, "resilver-running");
  auto canceled = Scan(Kind::kResilver, State::kCanceled, "", "Mon Dec  7 11:11:00 2026");
  auto c = ScanTransitions("tank", resilver, canceled);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].state, "resilver-canceled");
  EXPECT_EQ(c[0].reason, "resilver of pool 'tank' canceled on Mon Dec  7 11:11:00 2026");
  auto running = Scan(Kind::kScrub, State::kScanning, "Mon Dec  7 11:12:00 2026");
  auto paused = Scan(Kind::kScrub, State::kPaused, "Mon Dec  7 11:12:00 2026", "Mon Dec  7 11:13:00 2026");
  auto p = ScanTransitions("tank", running, paused);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].state, "scrub-paused");
  EXPECT_EQ(p[0].previous, "scrub-running");
}

// The inventory tells each status read after the first, with the one it replaced.
TEST(ScanEventsTest, InventoryTellsStatusChangesAfterTheFirstRead) {
  using pk::testing::FakeProcessRunner;
  const std::string head = "  pool: tank\n state: ONLINE\n scrub: ";
  const std::string tail =
      "\nconfig:\n\n\tNAME        STATE     READ WRITE CKSUM\n\ttank        ONLINE       0     0     0\n"
      "\t  /d/a.img  ONLINE       0     0     0\n\nerrors: No known data errors\n";
  FakeProcessRunner runner;
  runner.Expect({"zpool", "list"}, FakeProcessRunner::Exited(0, "tank\t250M\t1M\t249M\tONLINE\t42\t-\n"),
                FakeProcessRunner::Times::kAlways);
  runner.Expect({"zpool", "status"}, FakeProcessRunner::Exited(0, head + "none requested" + tail));
  runner.Expect({"zpool", "status"},
                FakeProcessRunner::Exited(0, head + "scrub completed after 0h0m with 0 errors on Mon Dec  7 11:09:07 2026" + tail),
                FakeProcessRunner::Times::kAlways);
  runner.Expect({"zfs", "get"}, FakeProcessRunner::Exited(0, "tank\ttype\tfilesystem\t-\n"), FakeProcessRunner::Times::kAlways);
  auto zfs = zfs::MakeCliZfsForDialect(runner, zfs::Dialect::kZfsFuse, {"/sbin/zpool", "/sbin/zfs"});
  std::vector<ScanEvent> told;
  InventoryOptions options;
  options.on_status = [&](const std::string& pool, const zfs::PoolStatus& before, const zfs::PoolStatus& after) {
    for (auto& e : ScanTransitions(pool, before.scan_progress, after.scan_progress)) told.push_back(e);
  };
  Inventory inventory(*zfs, options);
  ASSERT_TRUE(inventory.RefreshAll());
  EXPECT_TRUE(told.empty()) << "the first read is no change";
  ASSERT_TRUE(inventory.RefreshPool("tank"));
  ASSERT_EQ(told.size(), 2u);
  EXPECT_EQ(told[0].state, "scrub-running");
  EXPECT_EQ(told[1].state, "scrub-finished");
  EXPECT_EQ(told[1].reason, "scrub of pool 'tank' finished with 0 errors on Mon Dec  7 11:09:07 2026 in 0 s");
  ASSERT_TRUE(inventory.RefreshPool("tank"));
  EXPECT_EQ(told.size(), 2u) << "the same finished scrub read again is no event";
}

// Issue 24 item 3: the scrub's end names the disk it found errors on.
TEST(ScanEventsTest, AFinishedScrubNamesTheDisksWithErrors) {
  zfs::PoolStatus before, after;
  before.scan_progress = Scan(Kind::kScrub, State::kScanning, "Mon Dec  7 11:09:00 2026");
  after.scan_progress = Scan(Kind::kScrub, State::kFinished, "", "Mon Dec  7 11:09:07 2026");
  zfs::Vdev mirror{"mirror-0", "mirror"};
  zfs::Vdev d0{"/lab/d0.img", "file", "/lab/d0.img", "ONLINE"};
  zfs::Vdev d1{"/lab/d1.img", "file", "/lab/d1.img", "ONLINE"};
  d1.checksum_errors = 12;
  mirror.children = {d0, d1};
  after.root.children = {mirror};
  auto events = ScanTransitions("tank", before, after);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_NE(events[0].reason.find("disks with errors: /lab/d1.img (12 checksum)"), std::string::npos) << events[0].reason;
  EXPECT_EQ(events[0].reason.find("d0.img"), std::string::npos) << events[0].reason;

  after.root.children[0].children[1].checksum_errors = 0;
  events = ScanTransitions("tank", before, after);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_NE(events[0].reason.find("no disk has errors"), std::string::npos) << events[0].reason;
}

}  // namespace
}  // namespace pk::inventory
