// SMART (issue 20 item 3): the recorded `smartctl -j` outputs of ATA, SCSI
// and NVMe disks, healthy and failing, a sleeping disk, a device smartctl
// does not know; SmartReader's command (-n standby, timeout) and its failures.
#include "hw/smart.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "hw/internal/test_data.h"
#include "testing/fake_process_runner.h"

namespace pk::hw {
namespace {

using internal::ReadHwData;
using testing::FakeProcessRunner;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

SmartReport Parse(const std::string& file) {
  auto r = ParseSmartctl(ReadHwData("smart/" + file), file);
  EXPECT_TRUE(r) << file << ": " << r.error().message();
  return r.value_or(SmartReport{});
}

TEST(ParseSmartctl, AtaHealthy) {
  auto r = Parse("ata_healthy.json");
  EXPECT_EQ(r.state, SmartReport::State::kOk);
  EXPECT_EQ(r.protocol, "ATA");
  EXPECT_EQ(r.passed, true);
  EXPECT_EQ(r.temperature_c, 35);
  EXPECT_EQ(r.reallocated_sectors, 0u);
  EXPECT_EQ(r.pending_sectors, 0u);
  EXPECT_EQ(r.power_on_hours, 31245u);
  EXPECT_EQ(r.failed_self_tests, 0u);
  EXPECT_THAT(r.reasons, ElementsAre());
}

TEST(ParseSmartctl, AtaFailing) {
  auto r = Parse("ata_failing.json");
  EXPECT_EQ(r.state, SmartReport::State::kFailing);
  EXPECT_EQ(r.passed, false);
  EXPECT_EQ(r.reallocated_sectors, 1944u);
  EXPECT_EQ(r.pending_sectors, 16u);
  EXPECT_EQ(r.offline_uncorrectable, 3u);
  EXPECT_EQ(r.failed_self_tests, 1u);
  EXPECT_THAT(r.reasons, ElementsAre("the drive's SMART health check failed", "1944 reallocated sectors",
                                     "16 pending sectors", "3 offline uncorrectable sectors",
                                     "1 failed self-test(s) in the log"));
}

TEST(ParseSmartctl, ScsiGrownDefectsAndHealthy) {
  auto bad = Parse("scsi_grown_defects.json");
  EXPECT_EQ(bad.state, SmartReport::State::kFailing);
  EXPECT_EQ(bad.protocol, "SCSI");
  EXPECT_EQ(bad.grown_defects, 57u);
  EXPECT_EQ(bad.failed_self_tests, 1u);
  EXPECT_EQ(bad.self_test_status, "Failed in segment --> 3");
  EXPECT_THAT(bad.reasons, ElementsAre("57 grown defects", "1 failed self-test(s) in the log"));
  auto ok = Parse("scsi_healthy.json");
  EXPECT_EQ(ok.state, SmartReport::State::kOk);
  EXPECT_EQ(ok.grown_defects, 0u);
  EXPECT_EQ(ok.temperature_c, 38);
}

TEST(ParseSmartctl, NvmeCriticalWarningAndHealthy) {
  auto bad = Parse("nvme_critical.json");
  EXPECT_EQ(bad.state, SmartReport::State::kFailing);
  EXPECT_EQ(bad.protocol, "NVMe");
  EXPECT_EQ(bad.critical_warning, 5u);
  EXPECT_THAT(bad.critical_warnings, ElementsAre("available spare below threshold", "NVM subsystem reliability degraded"));
  EXPECT_EQ(bad.media_errors, 3u);
  EXPECT_EQ(bad.temperature_c, 71);
  EXPECT_EQ(bad.failed_self_tests, 1u);
  EXPECT_THAT(bad.reasons, ElementsAre("the drive's SMART health check failed", "3 media errors",
                                       "critical warning: available spare below threshold",
                                       "critical warning: NVM subsystem reliability degraded",
                                       "1 failed self-test(s) in the log"));
  auto ok = Parse("nvme_healthy.json");
  EXPECT_EQ(ok.state, SmartReport::State::kOk);
  EXPECT_EQ(ok.percentage_used, 3u);
  EXPECT_EQ(ok.self_test_status, "No self-test in progress");
}

TEST(ParseSmartctl, StandbyUnsupportedAndBroken) {
  auto sleeping = Parse("ata_standby.json");
  EXPECT_EQ(sleeping.state, SmartReport::State::kStandby);
  EXPECT_THAT(sleeping.message, HasSubstr("STANDBY"));
  auto virtio = Parse("real-virtio-unable.json");
  EXPECT_EQ(virtio.state, SmartReport::State::kUnsupported);
  EXPECT_THAT(virtio.message, HasSubstr("Unable to detect device type"));
  auto open_failed = ParseSmartctl(
      R"({"smartctl":{"messages":[{"string":"Smartctl open device: /dev/sdx failed: No such device","severity":"error"}],"exit_status":2}})",
      "x");
  ASSERT_TRUE(open_failed);
  EXPECT_EQ(open_failed->state, SmartReport::State::kError);
  EXPECT_THAT(open_failed->message, HasSubstr("No such device"));
  EXPECT_THAT(ParseSmartctl("<html>", "smartctl -j -a /dev/sdx").error().message(),
              HasSubstr("smartctl -j -a /dev/sdx: not a JSON object"));
}

TEST(SmartReader, RunsSmartctlWithStandbyAndATimeout) {
  FakeProcessRunner runner;
  runner.Expect({"smartctl", "-j", "-a", "-n", "standby", "/dev/sdb"},
                FakeProcessRunner::Exited(64, ReadHwData("smart/scsi_grown_defects.json")));
  runner.Expect({"smartctl", "-j", "-a", "-n", "standby", "/dev/sde"},
                FakeProcessRunner::Exited(2, ReadHwData("smart/ata_standby.json")));
  runner.Expect({"smartctl"}, FakeProcessRunner::TimedOut());
  runner.Expect({"smartctl"}, FakeProcessRunner::Exited(1, "garbage", "smartctl: bad option\n"));
  SmartReader reader(runner, {.smartctl = "/usr/sbin/smartctl", .timeout = std::chrono::seconds(7)});
  auto now = std::chrono::system_clock::now();
  auto r = reader.Read("/dev/sdb", now);
  EXPECT_EQ(r.state, SmartReport::State::kFailing);  // a non-zero exit with good JSON is still read
  EXPECT_EQ(r.read_at, now);
  EXPECT_EQ(reader.Read("/dev/sde", now).state, SmartReport::State::kStandby);
  auto slow = reader.Read("/dev/sdf", now);
  EXPECT_EQ(slow.state, SmartReport::State::kError);
  EXPECT_THAT(slow.message, HasSubstr("SMART of /dev/sdf: smartctl did not answer within 7 s"));
  auto broken = reader.Read("/dev/sdg", now);
  EXPECT_EQ(broken.state, SmartReport::State::kError);
  EXPECT_THAT(broken.message, HasSubstr("bad option"));
  auto calls = runner.calls();
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_EQ(calls[0].timeout, std::chrono::seconds(7));
  EXPECT_EQ(calls[0].program, "/usr/sbin/smartctl");
}

TEST(SmartReader, SelfTest) {
  FakeProcessRunner runner;
  runner.Expect({"smartctl", "-j", "-t", "short", "/dev/sda"}, FakeProcessRunner::Exited(0, "{}"));
  runner.Expect({"smartctl", "-j", "-t", "long", "/dev/sda"},
                FakeProcessRunner::Exited(4, R"({"smartctl":{"messages":[{"string":"Can't start self-test without aborting current test","severity":"error"}]}})"));
  SmartReader reader(runner, {});
  EXPECT_TRUE(reader.StartSelfTest("/dev/sda", SelfTest::kShort));
  auto refused = reader.StartSelfTest("/dev/sda", SelfTest::kLong);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(refused.error().message(), HasSubstr("start long self-test on /dev/sda"));
  EXPECT_THAT(refused.error().message(), HasSubstr("without aborting current test"));
  EXPECT_EQ(ParseSelfTest("long"), SelfTest::kLong);
  EXPECT_THAT(ParseSelfTest("conveyance").error().message(), HasSubstr("expected short or long"));
}

}  // namespace
}  // namespace pk::hw
