// Topology (issue 20 item 2) on the recorded JBOD tree: identities, bays from
// SES and PCI slots (named by the chassis file), bays from the chassis file
// and vdev_id.conf for hardware that reports none, pool and vdev matched
// through by-id, bare names, by-path and partitions; and the lab chassis.
#include "hw/topology.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "hw/enclosures.h"
#include "hw/internal/test_data.h"
#include "hw/lab_chassis.h"
#include "testing/fake_process_runner.h"

namespace pk::hw {
namespace {

using internal::HwData;
using internal::ReadHwData;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

zfs::Vdev Leaf(const std::string& name, const std::string& state = "ONLINE") {
  zfs::Vdev v;
  v.name = name;
  v.path = name;
  v.type = "disk";
  v.state = state;
  return v;
}

// tank: mirror-0 of sda (by its partition's by-id name, as OpenZFS prints it)
// and sdb (bare name); spare sdc (by-path); log nvme0n1 (/dev path).
zfs::PoolStatus Tank() {
  zfs::PoolStatus p;
  p.name = "tank";
  zfs::Vdev mirror;
  mirror.name = "mirror-0";
  mirror.type = "mirror";
  mirror.children = {Leaf("wwn-0x5000c500a1b2c3d4-part1"), Leaf("sdb", "FAULTED")};
  p.root.children = {mirror};
  p.spares = {Leaf("/dev/disk/by-path/pci-0000:03:00.0-sas-phy3-lun-0", "AVAIL")};
  p.logs = {Leaf("/dev/nvme0n1")};
  return p;
}

class FixedSource : public BlockSource {
 public:
  explicit FixedSource(std::vector<BlockDevice> d) : d_(std::move(d)) {}
  Result<std::vector<BlockDevice>> Read() override { return d_; }
  std::vector<BlockDevice> d_;
};

std::vector<BlockDevice> JbodLsblk() {
  auto got = ParseLsblk(ReadHwData("lsblk/jbod.json"));
  EXPECT_TRUE(got);
  return got.value_or(std::vector<BlockDevice>{});
}

std::string WriteTemp(const std::string& name, const std::string& text) {
  std::string path = std::filesystem::temp_directory_path() / (name + "-" + std::to_string(::getpid()));
  std::ofstream(path) << text;
  return path;
}

TEST(Topology, JbodBaysIdentitiesAndPools) {
  FixedSource source(JbodLsblk());
  std::string conf = WriteTemp("pk-chassis", "chassis shelf-1 ses 0x500605b000000001\nchassis front pci-slots\n"
                                             "label shelf-1 4 shelf-1 bay 4 (cache)\n");
  TopologyReader reader(source, {.sys_root = HwData("sysfs/jbod"), .dev_root = HwData("sysfs/jbod"),
                                 .chassis_file = conf, .vdev_id_file = ""});
  auto t = reader.Read({Tank()}, {});
  ASSERT_TRUE(t) << t.error().message();
  EXPECT_THAT(t->warnings, ElementsAre());
  ASSERT_EQ(t->disks.size(), 4u);
  // Sorted by bay label: "front bay 5", "shelf-1 bay 1", "shelf-1 bay 2", "shelf-1 bay 4 (cache)".
  const Disk& nvme = t->disks[0];
  EXPECT_EQ(nvme.id, "wwn-eui.36344630528123450025384500000001");
  ASSERT_TRUE(nvme.bay);
  EXPECT_EQ(nvme.bay->label, "front bay 5");
  EXPECT_EQ(nvme.bay->source, "pci-slot");
  EXPECT_EQ(nvme.bay->fault_led, false);
  EXPECT_EQ(nvme.pool, "tank");
  EXPECT_EQ(nvme.vdev, "logs");

  const Disk& sda = t->disks[1];
  EXPECT_EQ(sda.id, "wwn-0x5000c500a1b2c3d4");
  EXPECT_EQ(sda.device.serial, "ZC1A2B3C");
  EXPECT_THAT(sda.by_id, ElementsAre("scsi-35000c500a1b2c3d4", "wwn-0x5000c500a1b2c3d4"));
  EXPECT_THAT(sda.by_path, ElementsAre("pci-0000:03:00.0-sas-phy0-lun-0"));
  ASSERT_TRUE(sda.bay);
  EXPECT_EQ(sda.bay->chassis, "shelf-1");
  EXPECT_EQ(sda.bay->slot, "1");
  EXPECT_EQ(sda.bay->label, "shelf-1 bay 1");
  EXPECT_EQ(sda.bay->status, "OK");
  EXPECT_EQ(sda.pool, "tank");
  EXPECT_EQ(sda.vdev, "mirror-0");
  EXPECT_EQ(sda.vdev_path, "wwn-0x5000c500a1b2c3d4-part1");

  const Disk& sdb = t->disks[2];
  ASSERT_TRUE(sdb.bay && t->disks[3].bay);
  EXPECT_EQ(sdb.bay->label, "shelf-1 bay 2");
  EXPECT_EQ(sdb.bay->fault_led, true);
  EXPECT_EQ(sdb.vdev_state, "FAULTED");
  const Disk& sdc = t->disks[3];
  EXPECT_EQ(sdc.bay->label, "shelf-1 bay 4 (cache)");
  EXPECT_EQ(sdc.bay->locate_led, true);
  EXPECT_EQ(sdc.vdev, "spares");

  // Enclosures: every disk slot (the fan left out), the empty one too; the PCI slot with its disk.
  ASSERT_EQ(t->enclosures.size(), 2u);
  EXPECT_EQ(t->enclosures[0].chassis, "shelf-1");
  EXPECT_EQ(t->enclosures[0].vendor, "LSI");
  ASSERT_EQ(t->enclosures[0].bays.size(), 4u);
  EXPECT_FALSE(t->enclosures[0].bays[2].occupied);
  EXPECT_EQ(t->enclosures[0].bays[2].status, "not installed");
  EXPECT_EQ(t->enclosures[1].chassis, "front");
  ASSERT_EQ(t->enclosures[1].bays.size(), 1u);  // slot 6 holds no NVMe
  EXPECT_NE(t->Find("sdb"), nullptr);
  EXPECT_NE(t->Find("scsi-35000c500a1b2c3d4"), nullptr);
  EXPECT_EQ(t->Find("sdq"), nullptr);
  std::filesystem::remove(conf);
}

TEST(Topology, SysfsSourceGivesTheSameDisksWithoutSerials) {
  SysBlockSource source(SysTree(HwData("sysfs/jbod")));
  TopologyReader reader(source, {.sys_root = HwData("sysfs/jbod"), .dev_root = HwData("sysfs/jbod"),
                                 .chassis_file = "", .vdev_id_file = ""});
  auto t = reader.Read({Tank()}, {});
  ASSERT_TRUE(t) << t.error().message();
  ASSERT_EQ(t->disks.size(), 4u);
  ASSERT_TRUE(t->disks[0].bay && t->disks[3].bay);
  EXPECT_EQ(t->disks[0].bay->label, "0:0:12:0 bay 1");  // no chassis file: the enclosure's sysfs name
  EXPECT_EQ(t->disks[0].id, "wwn-0x5000c500a1b2c3d4");
  EXPECT_EQ(t->disks[0].pool, "tank");
  EXPECT_EQ(t->disks[3].bay->label, "pci slot 5");
}

// Hardware that reports no bays: the chassis file's bay lines place disks,
// then vdev_id.conf's aliases and channels.
TEST(Topology, ChassisFileAndVdevIdForSilentHardware) {
  TopologyInputs in;
  in.devices = JbodLsblk();
  auto conf = ParseChassisConf("chassis shelf-2\nbay shelf-2 17 /dev/disk/by-path/pci-0000:03:00.0-sas-phy0-lun-0\n"
                               "bay shelf-2 18 /dev/disk/by-path/pci-0000:09:00.0-sas-phy0-lun-0\n",
                               "chassis.conf");
  ASSERT_TRUE(conf);
  in.chassis = *conf;
  auto vdev_id = ParseVdevIdConf("alias front-nvme /dev/disk/by-id/nvme-eui.36344630528123450025384500000001\n"
                                 "channel 03:00.0 0 A\n",
                                 "vdev_id.conf");
  ASSERT_TRUE(vdev_id);
  in.vdev_id = *vdev_id;
  auto t = BuildTopology(SysTree(HwData("sysfs/jbod")), in, {});
  auto bay = [&](const std::string& id) { return t.Find(id)->bay.value_or(Bay{}).label; };
  EXPECT_EQ(bay("sda"), "shelf-2 bay 17");
  EXPECT_EQ(t.Find("sda")->bay->source, "chassis-file");
  EXPECT_EQ(bay("sdb"), "A1");  // vdev_id channel A, phy 1
  EXPECT_EQ(bay("sdc"), "A3");
  EXPECT_EQ(bay("nvme0n1"), "front-nvme");
  // The chassis's bays, the empty one (no such disk) too.
  ASSERT_EQ(t.enclosures.size(), 1u);
  ASSERT_EQ(t.enclosures[0].bays.size(), 2u);
  EXPECT_TRUE(t.enclosures[0].bays[0].occupied);
  EXPECT_FALSE(t.enclosures[0].bays[1].occupied);
}

TEST(Topology, BadChassisFileIsAWarningAndNotUsed) {
  FixedSource source(JbodLsblk());
  std::string conf = WriteTemp("pk-chassis-bad", "chassis shelf-1 ses 0:0:12:0\nlabel shelf-1 1 \xff\xfe\n");
  TopologyReader reader(source, {.sys_root = HwData("sysfs/jbod"), .dev_root = HwData("sysfs/jbod"),
                                 .chassis_file = conf, .vdev_id_file = ""});
  auto t = reader.Read({}, {});
  ASSERT_TRUE(t);
  ASSERT_EQ(t->warnings.size(), 1u);
  EXPECT_THAT(t->warnings[0], HasSubstr(conf + " line 2: not UTF-8"));
  EXPECT_THAT(t->warnings[0], HasSubstr("not used"));
  EXPECT_EQ(t->disks[0].bay->chassis, "0:0:12:0");  // line 1 was not applied either
  std::filesystem::remove(conf);
}

TEST(NaturalLess, NumbersAsNumbers) {
  EXPECT_TRUE(NaturalLess("shelf-1 bay 2", "shelf-1 bay 10"));
  EXPECT_FALSE(NaturalLess("shelf-1 bay 10", "shelf-1 bay 2"));
  EXPECT_TRUE(NaturalLess("bay 02", "bay 3"));
  EXPECT_TRUE(NaturalLess("a", "ab"));
  EXPECT_FALSE(NaturalLess("a", "a"));
}

// The lab chassis (the zfs-fuse host lab's bays): file disks read through the
// same sysfs code as real hardware; a pulled disk vanishes and its slot empties.
TEST(LabChassis, FileDisksInBaysThroughTheSysfsReaders) {
  namespace fs = std::filesystem;
  fs::path root = fs::temp_directory_path() / ("pk-lab-chassis-" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "disks");
  for (const char* d : {"d1.img", "d2.img"}) {
    std::ofstream(root / "disks" / d).close();
    fs::resize_file(root / "disks" / d, 64 << 20);
  }
  auto lab = LabChassis::Create((root / "chassis").string(), "lab:0", 4);
  ASSERT_TRUE(lab) << lab.error().message();
  ASSERT_TRUE(lab->Insert(1, (root / "disks/d1.img").string(), "LAB0001"));
  ASSERT_TRUE(lab->Insert(3, (root / "disks/d2.img").string(), "LAB0002"));
  EXPECT_EQ(lab->Insert(5, (root / "disks/d2.img").string(), "X").error().code(), ErrorCode::kNotFound);
  std::ofstream(lab->SlotDir(3) + "/fault") << "1\n";

  zfs::PoolStatus p;
  p.name = "labpool";
  zfs::Vdev mirror;
  mirror.name = "mirror-0";
  mirror.children = {Leaf((root / "disks/d1.img").string()), Leaf((root / "disks/d2.img").string())};
  p.root.children = {mirror};
  std::string conf = WriteTemp("pk-lab-conf", "chassis lab ses lab:0\n");
  SysBlockSource source(SysTree((root / "chassis").string()));
  TopologyReader reader(source, {.sys_root = (root / "chassis").string(), .dev_root = (root / "chassis").string(),
                                 .chassis_file = conf, .vdev_id_file = ""});
  auto t = reader.Read({p}, {});
  ASSERT_TRUE(t) << t.error().message();
  EXPECT_THAT(t->warnings, ElementsAre());
  ASSERT_EQ(t->disks.size(), 2u);
  EXPECT_EQ(t->disks[0].id, "serial-LAB0001");
  EXPECT_EQ(t->disks[0].bay->label, "lab bay 1");
  EXPECT_EQ(t->disks[0].device.transport, "lab");
  EXPECT_EQ(t->disks[0].device.size_bytes, 64u << 20);
  EXPECT_EQ(t->disks[0].pool, "labpool");
  EXPECT_EQ(t->disks[0].vdev, "mirror-0");
  EXPECT_THAT(t->disks[0].by_id, ElementsAre("lab-LAB0001"));
  EXPECT_EQ(t->disks[1].bay->label, "lab bay 3");
  EXPECT_EQ(t->disks[1].bay->fault_led, true);

  ASSERT_TRUE(lab->Pull(1));
  t = reader.Read({p}, {});
  ASSERT_TRUE(t);
  ASSERT_EQ(t->disks.size(), 1u);
  EXPECT_EQ(t->disks[0].id, "serial-LAB0002");
  EXPECT_FALSE(t->enclosures[0].bays[0].occupied);
  EXPECT_EQ(t->enclosures[0].bays[0].status, "not installed");
  // Moved to bay 2: the same disk (serial), another bay.
  ASSERT_TRUE(lab->Insert(2, (root / "disks/d1.img").string(), "LAB0001"));
  t = reader.Read({p}, {});
  ASSERT_TRUE(t);
  EXPECT_EQ(t->Find("serial-LAB0001")->bay->label, "lab bay 2");
  fs::remove_all(root);
  fs::remove(conf);
}

}  // namespace
}  // namespace pk::hw

namespace pk::hw {
namespace {

// Hostile enclosure values (issue 20 item 2): a slot name with a control
// character and an LED file that is no LED state are warnings naming the
// file; the bay is still listed, under its component's name.
TEST(ReadSesEnclosures, HostileValuesNamedAndSkipped) {
  namespace fs = std::filesystem;
  fs::path root = fs::temp_directory_path() / ("pk-hw-encl-" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::path slot = root / "sys/class/enclosure/0:0:1:0/Slot01";
  fs::create_directories(slot);
  std::ofstream(slot / "type") << "array device\n";
  std::ofstream(slot / "slot") << "1\a\n";
  std::ofstream(slot / "fault") << "yes\n";
  std::ofstream(slot / "status") << std::string(5000, 'x');
  std::vector<std::string> warnings;
  auto got = ReadSesEnclosures(SysTree(root.string()), &warnings);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].bays.size(), 1u);
  EXPECT_EQ(got[0].bays[0].slot, "Slot01");
  EXPECT_FALSE(got[0].bays[0].fault_led.has_value());
  EXPECT_EQ(got[0].bays[0].status, "");
  ASSERT_EQ(warnings.size(), 3u);
  EXPECT_THAT(warnings[0], HasSubstr("Slot01/slot: value holds control character 0x07"));
  EXPECT_THAT(warnings[1], HasSubstr("Slot01/fault: 'yes' is not an LED state"));
  EXPECT_THAT(warnings[2], HasSubstr("Slot01/status: value of"));
  fs::remove_all(root);
}

}  // namespace
}  // namespace pk::hw
