// The chassis file and vdev_id.conf (issue 20 item 2): the documented
// statements, and hostile or wrong lines refused naming the file and line.
#include "hw/chassis.h"

#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pk::hw {
namespace {

using ::testing::HasSubstr;

constexpr const char* kConf = R"(# the lab's shelves
chassis shelf-1 ses 0:0:12:0
chassis nvme pci-slots
chassis shelf-2          # a JBOD with no SES
bay shelf-2 1 /dev/disk/by-path/pci-0000:00:1f.2-ata-1
bay shelf-2 2 /dev/disk/by-path/pci-0000:00:1f.2-ata-2
label shelf-2 2   front, second from left
label shelf-1 3 shelf-1 bay 3 (spare)
)";

TEST(ChassisConf, Statements) {
  auto c = ParseChassisConf(kConf, "chassis.conf");
  ASSERT_TRUE(c) << c.error().message();
  ASSERT_EQ(c->chassis.size(), 3u);
  EXPECT_EQ(c->chassis[0].kind, ChassisConf::Chassis::Kind::kSes);
  EXPECT_EQ(c->chassis[0].enclosure, "0:0:12:0");
  EXPECT_EQ(c->FindSes("0:0:12:0", "")->name, "shelf-1");
  EXPECT_EQ(c->FindSes("0:0:9:0", "0x5"), nullptr);
  EXPECT_EQ(c->FindPci()->name, "nvme");
  ASSERT_EQ(c->bays.size(), 2u);
  EXPECT_EQ(c->bays[1].device, "/dev/disk/by-path/pci-0000:00:1f.2-ata-2");
  EXPECT_EQ(c->LabelOf("shelf-2", "2"), "front, second from left");
  EXPECT_EQ(c->LabelOf("shelf-2", "1"), "shelf-2 bay 1");
  EXPECT_EQ(c->LabelOf("shelf-1", "3"), "shelf-1 bay 3 (spare)");
}

TEST(ChassisConf, BadLinesNameFileAndLine) {
  struct Case {
    std::string text;
    std::string says;
  } cases[] = {
      {"chassis a\nbay b 1 /dev/x\n", "chassis.conf line 2: chassis 'b' is not named"},
      {"chassis a\nbay a 1 dev/x\n", "line 2: device 'dev/x' must be an absolute path"},
      {"chassis a\nchassis a\n", "line 2: chassis 'a' is named twice"},
      {"chassis a b c d e\n", "line 1: expected 'chassis NAME"},
      {"chassis a\nbay a 1 /dev/x\nbay a 2 /dev/x\n", "line 3: device '/dev/x' is in two bays"},
      {"chassis a\nbay a 1 /dev/x\nbay a 1 /dev/y\n", "line 3: bay 1 of chassis 'a' is given twice"},
      {"chassis a/b\n", "line 1: chassis name 'a/b' may hold only"},
      {"chassis " + std::string(65, 'x') + "\n", "must be 1-64 characters"},
      {"chassis a\nlabel a 1 " + std::string(129, 'L') + "\n", "line 2: label of 129 bytes is too long"},
      {"chassis a\nlabel a 1 bad\x1b[2Jlabel\n", "line 2: control character 0x1b"},
      {"# ok\nchassis \xc3\x28\n", "chassis.conf line 2: not UTF-8"},
      {"shelf a\n", "line 1: unknown statement 'shelf'"},
  };
  for (const auto& c : cases) {
    auto got = ParseChassisConf(c.text, "chassis.conf");
    ASSERT_FALSE(got) << c.text;
    EXPECT_THAT(got.error().message(), HasSubstr(c.says)) << c.text;
    EXPECT_EQ(got.error().code(), ErrorCode::kInvalidArgument);
  }
}

TEST(VdevIdConf, AliasesAndSasChannels) {
  auto c = ParseVdevIdConf(R"(# /etc/zfs/vdev_id.conf
multipath no
topology sas_direct
phys_per_port 4
slot bay
alias d1 /dev/disk/by-id/wwn-0x5000c500a1b2c3d4
channel 03:00.0 0 A
channel 03:00.0 1 B
slot 1 7 A
)", "vdev_id.conf");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->aliases.at("/dev/disk/by-id/wwn-0x5000c500a1b2c3d4"), "d1");
  EXPECT_EQ(c->NameFromByPath({"pci-0000:03:00.0-sas-phy3-lun-0"}), "A3");
  EXPECT_EQ(c->NameFromByPath({"pci-0000:03:00.0-sas-phy1-lun-0"}), "A7");  // slot 1 -> 7 on A
  EXPECT_EQ(c->NameFromByPath({"pci-0000:03:00.0-sas-phy5-lun-0"}), "B5");
  EXPECT_EQ(c->NameFromByPath({"pci-0000:04:00.0-sas-phy5-lun-0"}), "");
  EXPECT_EQ(c->NameFromByPath({"pci-0000:00:1f.2-ata-1"}), "");
  // A phy number out of range is no phy (the fuzz target found std::stoi throwing here).
  EXPECT_EQ(c->NameFromByPath({"pci-0000:03:00.0-sas-phy99999999999-lun-0", "pci-0000:03:00.0-sas-phy3"}), "A3");

  auto bad = ParseVdevIdConf("alias d1\n", "vdev_id.conf");
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message(), HasSubstr("vdev_id.conf line 1: expected 'alias NAME DEVLINK'"));
  bad = ParseVdevIdConf("channel 03:00.0 x A\n", "vdev_id.conf");
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message(), HasSubstr("port 'x' is not a whole number"));
  bad = ParseVdevIdConf("frobnicate yes\n", "vdev_id.conf");
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message(), HasSubstr("unknown keyword 'frobnicate'"));
}

TEST(LoadChassisConf, AbsentIsNoneAndUnreadableIsAnError) {
  auto none = LoadChassisConf("/nonexistent/poolkeeper/chassis.conf");
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());
  auto dir = LoadChassisConf("/");
  EXPECT_FALSE(dir && dir->has_value() && !(*dir)->chassis.empty());
}

// The documented format (packaging/chassis.conf) stays true: the file parses
// as shipped (comments only), and so does its example with the '#' removed.
TEST(ChassisConf, ShippedExampleParses) {
  std::ifstream in(std::string(PK_TEST_DATA_DIR) + "/../../packaging/chassis.conf");
  std::stringstream text;
  text << in.rdbuf();
  ASSERT_FALSE(text.str().empty());
  ASSERT_TRUE(ParseChassisConf(text.str(), "packaging/chassis.conf"));
  std::string example, line;
  bool in_example = false;
  while (std::getline(text, line)) {
    if (line == "# Example:") in_example = true;
    else if (in_example && line.starts_with("#   ")) example += line.substr(4) + "\n";
  }
  auto c = ParseChassisConf(example, "example");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->chassis.size(), 3u);
  EXPECT_EQ(c->LabelOf("shelf-1", "24"), "shelf-1 bay 24 (hot spare)");
}

}  // namespace
}  // namespace pk::hw
