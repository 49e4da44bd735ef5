// The sources of the disk list (issue 20 item 2): lsblk's JSON (recorded and
// captured) and /sys/block of the recorded JBOD tree; hostile values refused
// naming the file.
#include "hw/block_sources.h"

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "hw/internal/test_data.h"
#include "testing/fake_process_runner.h"

namespace pk::hw {
namespace {

using internal::HwData;
using internal::ReadHwData;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ParseLsblk, JbodDisksWithIdentitiesNotRomOrZram) {
  auto got = ParseLsblk(ReadHwData("lsblk/jbod.json"));
  ASSERT_TRUE(got) << got.error().message();
  ASSERT_EQ(got->size(), 4u);
  const BlockDevice& sda = (*got)[0];
  EXPECT_EQ(sda.name, "sda");
  EXPECT_EQ(sda.devnode, "/dev/sda");
  EXPECT_EQ(sda.serial, "ZC1A2B3C");
  EXPECT_EQ(sda.wwn, "0x5000c500a1b2c3d4");
  EXPECT_EQ(sda.model, "ST4000NM0025");
  EXPECT_EQ(sda.vendor, "SEAGATE");  // lsblk pads it; trimmed
  EXPECT_EQ(sda.size_bytes, 4000787030016u);
  EXPECT_EQ(sda.rotational, true);
  EXPECT_EQ(sda.transport, "sas");
  EXPECT_EQ(sda.hctl, "0:0:0:0");
  EXPECT_THAT(sda.partitions, ElementsAre("sda1"));
  EXPECT_EQ((*got)[2].rotational, false);
  EXPECT_EQ((*got)[3].name, "nvme0n1");
  EXPECT_EQ((*got)[3].transport, "nvme");
  EXPECT_EQ((*got)[3].wwn, "eui.36344630528123450025384500000001");
}

// A size out of range is refused, never an exception (std::stoull threw on it).
TEST(ParseLsblk, ASizeOutOfRangeIsAnError) {
  auto got = ParseLsblk(R"({"blockdevices":[{"name":"sda","type":"disk","size":"99999999999999999999"}]})", "test");
  EXPECT_FALSE(got) << "parsed a size beyond 64 bits";
}

TEST(ParseLsblk, CapturedVirtioHost) {
  auto got = ParseLsblk(ReadHwData("lsblk/host-firecracker.json"));
  ASSERT_TRUE(got) << got.error().message();
  ASSERT_EQ(got->size(), 1u);  // vda; zram0 is no disk
  EXPECT_EQ((*got)[0].name, "vda");
  EXPECT_GT((*got)[0].size_bytes, 0u);
}

TEST(ParseLsblk, HostileOrBrokenInput) {
  EXPECT_THAT(ParseLsblk("not json").error().message(), HasSubstr("not a JSON object"));
  EXPECT_THAT(ParseLsblk(R"({"x":1})").error().message(), HasSubstr("blockdevices"));
  auto ctrl = ParseLsblk(R"({"blockdevices":[{"name":"sdq","type":"disk","serial":"AB\u0007CD","size":1}]})");
  ASSERT_FALSE(ctrl);
  EXPECT_THAT(ctrl.error().message(), HasSubstr("sdq.serial"));
  EXPECT_THAT(ctrl.error().message(), HasSubstr("control character 0x07"));
  auto size = ParseLsblk(R"({"blockdevices":[{"name":"sdq","type":"disk","size":"4T"}]})");
  ASSERT_FALSE(size);
  EXPECT_THAT(size.error().message(), HasSubstr("sdq.size"));
  auto name = ParseLsblk(R"({"blockdevices":[{"name":"../../etc","type":"disk"}]})");
  ASSERT_FALSE(name);
  std::string long_model(5000, 'M');
  auto too_long = ParseLsblk(R"({"blockdevices":[{"name":"sdq","type":"disk","model":")" + long_model + "\"}]}");
  ASSERT_FALSE(too_long);
  EXPECT_THAT(too_long.error().message(), HasSubstr("too long"));
}

TEST(ReadSysBlock, RecordedJbodTree) {
  std::vector<std::string> warnings;
  auto got = ReadSysBlock(SysTree(HwData("sysfs/jbod")), &warnings);
  EXPECT_THAT(warnings, ElementsAre());
  ASSERT_EQ(got.size(), 4u);  // loop0 left out
  EXPECT_EQ(got[0].name, "nvme0n1");
  EXPECT_EQ(got[0].transport, "nvme");
  EXPECT_EQ(got[0].serial, "S64FNE0R812345");
  EXPECT_EQ(got[0].size_bytes, 1875385008ull * 512);
  EXPECT_EQ(got[1].name, "sda");
  EXPECT_EQ(got[1].wwn, "0x5000c500a1b2c3d4");  // naa. written as lsblk does
  EXPECT_EQ(got[1].hctl, "0:0:0:0");
  EXPECT_EQ(got[1].transport, "sas");
  EXPECT_EQ(got[1].vendor, "SEAGATE");
  EXPECT_EQ(got[1].rotational, true);
  EXPECT_THAT(got[1].partitions, ElementsAre("sda1"));
  EXPECT_EQ(got[3].rotational, false);
}

// A value that is not UTF-8, holds a control character or is endless is
// refused, naming the file; the disk is still listed without it.
TEST(ReadSysBlock, HostileValuesNamedAndSkipped) {
  namespace fs = std::filesystem;
  fs::path root = fs::temp_directory_path() / ("pk-hw-hostile-" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "sys/block/sdz/device");
  fs::create_directories(root / "sys/block/sdz/queue");
  std::ofstream(root / "sys/block/sdz/size") << "2048\n";
  std::ofstream(root / "sys/block/sdz/device/model") << "EVIL\xff\xfe";
  std::ofstream(root / "sys/block/sdz/device/vendor") << "ES\x1b[31mC";
  std::ofstream(root / "sys/block/sdz/queue/rotational") << std::string(100000, '1');
  std::vector<std::string> warnings;
  auto got = ReadSysBlock(SysTree(root.string()), &warnings);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].size_bytes, 2048u * 512);
  EXPECT_EQ(got[0].model, "");
  EXPECT_EQ(got[0].vendor, "");
  EXPECT_FALSE(got[0].rotational.has_value());
  ASSERT_EQ(warnings.size(), 3u);
  EXPECT_THAT(warnings[0], HasSubstr("queue/rotational"));
  EXPECT_THAT(warnings[0], HasSubstr("too long"));
  EXPECT_THAT(warnings[1], HasSubstr("device/model: value is not UTF-8"));
  EXPECT_THAT(warnings[2], HasSubstr("device/vendor: value holds control character 0x1b"));
  fs::remove_all(root);
}

TEST(LsblkSource, RunsLsblkAndNamesItsFailure) {
  testing::FakeProcessRunner runner;
  runner.Expect({"lsblk", "-J", "-b", "-O"}, testing::FakeProcessRunner::Exited(0, ReadHwData("lsblk/jbod.json")));
  runner.Expect({"lsblk"}, testing::FakeProcessRunner::Exited(1, "", "lsblk: failed to access sysfs directory\n"));
  LsblkSource source(runner);
  auto got = source.Read();
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(got->size(), 4u);
  auto failed = source.Read();
  ASSERT_FALSE(failed);
  EXPECT_THAT(failed.error().message(), HasSubstr("list disks"));
  EXPECT_THAT(failed.error().message(), HasSubstr("failed to access sysfs"));
}

}  // namespace
}  // namespace pk::hw
