// End-to-end tests of scrub schedules (issue 24 item 3) on a real zfs-fuse
// mirror, driven through the real `poolkeeper` CLI and poolkeeperd:
//
//  - AScheduledScrubRepairsACorruptedMirrorSideAndNamesTheDisk: the issue's
//    acceptance. Garbage is written over most of one side's file vdev; the
//    pool's schedule (`every 1m`) starts one scrub by itself; it repairs the
//    damage, the file reads back unchanged, and the scan's end event names
//    that disk and its checksum errors.
//  - AHeldPoolIsNotScrubbed: a pool made with zpool and not adopted shows its
//    schedule as held, naming `pool adopt` (issue 17 item 6).
//  - BadInputChangesNothing: a schedule that does not parse, a time of day on
//    an interval of hours, a pool that is not there: clear errors, the
//    property unchanged; `off` and `clear` (back to the default, monthly).
//
// One daemon (pool status read every 2 s) and one 128 MiB two-way mirror for
// the suite (e2e::Lab), destroyed at the suite's end whatever happened.
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <thread>
#include <random>
#include <string>
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

constexpr const char* kProperty = "org.poolkeeper:scrub-schedule";
constexpr off_t kDataBytes = 24 << 20;

class ScrubScheduleTest : public LabSuite<ScrubScheduleTest> {
 protected:
  friend class LabSuite<ScrubScheduleTest>;

  static Status SetUpLab() {
    std::string name = "scr" + std::to_string(::getpid());
    PK_TRY(lab_.Open(name));
    PK_ASSIGN_OR_RETURN(pool_, lab_.CreatePool(name));
    // The second side of the mirror: a file of the same size beside the first (removed with it).
    side_ = pool_.disk_dir + "/side.img";
    {
      std::ofstream f(side_, std::ios::binary);
      if (!f) return Internal("cannot create " + side_);
    }
    if (::truncate(side_.c_str(), kDiskBytes) != 0) return Internal("cannot size " + side_);
    PK_TRY(lab_.Run(ZfsTool("zpool", {"attach", pool_.name, pool_.disk, side_})));
    // Data the scrub reads, and its copy to compare with.
    std::string data(kDataBytes, '\0');
    std::mt19937_64 random(42);
    for (auto& c : data) c = static_cast<char>(random());
    data_ = data;
    {
      std::ofstream f(pool_.mnt + "/data.bin", std::ios::binary);
      f.write(data.data(), static_cast<std::streamsize>(data.size()));
      if (!f) return Internal("cannot write " + pool_.mnt + "/data.bin");
    }
    ::sync();
    lab_.options().refresh_interval_seconds = 2;
    cli_ = lab_.cli();
    PK_TRY(lab_.StartDaemon());
    return AdoptPool(cli_, pool_.name);
  }

  static std::string ZfsValue() {
    auto got = lab_.Run(ZfsTool("zfs", {"get", "-H", "-o", "value,source", kProperty, pool_.name}));
    PK_EXPECT_OK(got);
    std::string out = got.value_or("");
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }
  static std::vector<json> Events(const std::string& state) {
    std::vector<json> out;
    for (const auto& e : cli_.JsonLines({"events"})) {
      if (e.value("resource", "") == "scan:" + pool_.name && e.value("state", "") == state) out.push_back(e);
    }
    return out;
  }

  static inline LabPool pool_;
  static inline std::string side_;
  static inline std::string data_;
  static inline CliClient cli_;
};

// Issue 24 item 3, acceptance: "A scrub finds injected corruption on a mirror
// disk (write garbage into one side's file vdev) and repairs it; the event
// ... say[s] which disk."
TEST_F(ScrubScheduleTest, AScheduledScrubRepairsACorruptedMirrorSideAndNamesTheDisk) {
  // The attach's resilver is the pool's last scan: the schedule counts from its end.
  WaitForJson(cli_, {"pool", "scrub-policy", "show", pool_.name}, [](const json& j) {
    return j["status"].is_object() && j["status"].value("state", "") == "scheduled";
  });
  // Garbage over one side, clear of its labels (the first and last 4 MiB).
  {
    std::fstream f(side_, std::ios::binary | std::ios::in | std::ios::out);
    ASSERT_TRUE(f) << side_;
    std::mt19937_64 random(7);
    std::string garbage(1 << 20, '\0');
    for (off_t at = 4 << 20; at + static_cast<off_t>(garbage.size()) <= kDiskBytes - (4 << 20); at += garbage.size()) {
      for (auto& c : garbage) c = static_cast<char>(random());
      f.seekp(at);
      f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
    }
    ASSERT_TRUE(f);
  }
  ::sync();

  auto r = cli_.Run({"pool", "scrub-policy", "set", pool_.name, "every 1m"});
  ASSERT_EQ(r.code, kExitOk) << r;
  EXPECT_THAT(r.out, HasSubstr("every 1m"));
  EXPECT_EQ(ZfsValue(), "every 1m\tlocal");

  // Within the minute after the resilver, one scrub starts by itself and ends.
  auto finished = [&] { return Events("scrub-finished"); };
  auto deadline = std::chrono::steady_clock::now() + 150s;
  while (finished().empty() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(2s);
  auto ends = finished();
  ASSERT_FALSE(ends.empty()) << "no scrub-finished event on scan:" << pool_.name;
  auto requested = Events("scrub-requested");
  ASSERT_EQ(requested.size(), 1u);
  EXPECT_THAT(requested[0].value("reason", ""), HasSubstr("scheduled scrub of pool '" + pool_.name + "' started"));
  EXPECT_THAT(requested[0].value("reason", ""), HasSubstr("every 1m"));
  const std::string end = ends[0].value("reason", "");
  EXPECT_THAT(end, HasSubstr("disks with errors: " + side_ + " ("));
  EXPECT_THAT(end, HasSubstr("checksum"));
  EXPECT_THAT(end, ::testing::Not(HasSubstr(pool_.disk + " (")));
  EXPECT_THAT(end, HasSubstr("finished with 0 errors"));  // everything repaired from the good side

  // Repaired: the data reads back unchanged, and zpool says so.
  std::ifstream f(pool_.mnt + "/data.bin", std::ios::binary);
  std::string back((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(back == data_) << "the data changed";
  auto status = lab_.Run(ZfsTool("zpool", {"status", pool_.name}));
  PK_ASSERT_OK(status);
  EXPECT_THAT(*status, HasSubstr("with 0 errors"));

  // The next run counts from this scrub's end: a minute away, not at once again.
  auto show = cli_.Json({"pool", "scrub-policy", "show", pool_.name});
  EXPECT_EQ(show.value("schedule", ""), "every 1m");
  EXPECT_EQ(show.value("source", ""), "local");
  EXPECT_FALSE(show["status"]["last_scan_end"].is_null()) << show.dump();
  EXPECT_FALSE(show["status"]["next_run"].is_null()) << show.dump();

  // Off: no further scrub.
  r = cli_.Run({"pool", "scrub-policy", "set", pool_.name, "off"});
  ASSERT_EQ(r.code, kExitOk) << r;
  auto off = WaitForJson(cli_, {"pool", "scrub-policy", "show", pool_.name}, [](const json& j) {
    return j["status"].is_object() && j["status"].value("state", "") == "off";
  });
  EXPECT_EQ(off.value("schedule", ""), "off");
}

TEST_F(ScrubScheduleTest, AHeldPoolIsNotScrubbed) {
  auto foreign = lab_.CreatePool("scf" + std::to_string(::getpid()));
  PK_ASSERT_OK(foreign);
  // A minute's schedule on a pool made a minute ago at most: due at once, were it ours.
  PK_ASSERT_OK(lab_.Run(ZfsTool("zfs", {"set", std::string(kProperty) + "=every 1m", foreign->name})));
  auto show = WaitForJson(cli_, {"pool", "scrub-policy", "show", foreign->name}, [](const json& j) {
    return j["status"].is_object() && j["status"].value("state", "") == "held";
  });
  EXPECT_THAT(show["status"].value("reason", ""), HasSubstr("pool adopt " + foreign->name)) << show.dump();
  EXPECT_EQ(show.value("schedule", ""), "every 1m");
  std::this_thread::sleep_for(3s);
  auto status = lab_.Run(ZfsTool("zpool", {"status", foreign->name}));
  PK_ASSERT_OK(status);
  EXPECT_THAT(*status, HasSubstr("none requested")) << *status;  // never scanned
}

TEST_F(ScrubScheduleTest, BadInputChangesNothing) {
  auto r = cli_.Run({"pool", "scrub-policy", "set", pool_.name, "weekly at 03:00"});
  ASSERT_EQ(r.code, kExitOk) << r;
  EXPECT_EQ(ZfsValue(), "every 1w at 03:00\tlocal");

  for (const char* bad : {"fortnightly", "every 6h at 03:00", "every 0d", "monthly at 24:00", "every 1d;rm -rf /"}) {
    r = cli_.Run({"pool", "scrub-policy", "set", pool_.name, bad});
    EXPECT_EQ(r.code, kExitUsage) << bad << ": " << r;
    EXPECT_THAT(r.err, HasSubstr(std::string("scrub schedule '") + bad + "'")) << r;
    EXPECT_THAT(r.err, HasSubstr(pool_.name)) << r;
    EXPECT_EQ(ZfsValue(), "every 1w at 03:00\tlocal") << "after " << bad;
  }
  r = cli_.Run({"pool", "scrub-policy", "set", "nosuchpool" + std::to_string(::getpid()), "weekly"});
  EXPECT_EQ(r.code, kExitNotFound) << r;
  EXPECT_THAT(r.err, HasSubstr("nosuchpool")) << r;

  // Clear: the default again, and the status says so.
  r = cli_.Run({"pool", "scrub-policy", "clear", pool_.name});
  ASSERT_EQ(r.code, kExitOk) << r;
  EXPECT_THAT(r.out, HasSubstr("default"));
  auto show = cli_.Json({"pool", "scrub-policy", "show", pool_.name});
  EXPECT_EQ(show.value("schedule", ""), "every 30d");
  EXPECT_EQ(show.value("source", ""), "default");
  auto all = cli_.Json({"pool", "scrub-policy", "show"});
  bool listed = false;
  for (const auto& p : all["policies"]) listed |= p.value("pool", "") == pool_.name;
  EXPECT_TRUE(listed) << all.dump();
}

}  // namespace
}  // namespace pk::e2e
