// Disks, bays and SMART through a real poolkeeperd and the real CLI on the
// zfs-fuse host lab (issue 20 items 2, 3, "zfs-fuse host lab"): a lab chassis
// (hw::LabChassis: a pretend SES enclosure of file disks under the suite's
// work directory) holds a real mirror pool's two file disks in bays 1 and 2
// and a blank disk in bay 4; the chassis file names the enclosure "shelf-1".
//
//  - ListsTheLabPoolsDisksWithTheirBays: `poolkeeper disk list` shows the
//    pool's disks with their bay labels and vdev, the blank one without a
//    pool; `disk show` by id; `disk enclosures` with the empty bays.
//  - LedsAndPresenceFollowTheChassisFiles: a fault LED flipped in the tree and
//    a pulled disk show after `disk list --rescan`.
//  - BadInput: an unknown id is exit 3 naming it; a self-test on a file disk
//    is refused saying it has no SMART; a bad self-test kind is a usage error.
#include <unistd.h>

#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "hw/lab_chassis.h"
#include "tests/e2e/harness.h"
#include "tests/e2e/lab.h"

namespace pk::e2e {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

class DiskTopologyTest : public LabSuite<DiskTopologyTest> {
 protected:
  friend class LabSuite<DiskTopologyTest>;

  static Status SetUpLab() {
    pool_.name = "dsk" + std::to_string(::getpid());
    PK_TRY(lab_.Open(pool_.name));
    pool_.disk_dir = lab_.lab_dir() + "/disks/" + pool_.name;
    pool_.mnt = lab_.lab_dir() + "/mnt/" + pool_.name;
    PK_TRY(MakeDirectories({pool_.disk_dir, pool_.mnt}));
    for (int i = 1; i <= 3; ++i) PK_TRY(CreateSparseFile(Disk(i)));
    PK_TRY(lab_.Run(ZfsTool("zpool", {"create", "-m", pool_.mnt, pool_.name, "mirror", Disk(1), Disk(2)})));
    created_ = true;
    PK_ASSIGN_OR_RETURN(auto chassis, hw::LabChassis::Create(lab_.work() + "/chassis", "lab:0", 6));
    chassis_ = std::make_unique<hw::LabChassis>(std::move(chassis));
    PK_TRY(chassis_->Insert(1, Disk(1), "LABD1" + std::to_string(::getpid())));
    PK_TRY(chassis_->Insert(2, Disk(2), "LABD2" + std::to_string(::getpid())));
    PK_TRY(chassis_->Insert(4, Disk(3), "LABD3" + std::to_string(::getpid())));
    std::string conf = lab_.work() + "/chassis.conf";
    std::ofstream(conf) << "# the lab chassis\nchassis shelf-1 ses lab:0\nlabel shelf-1 4 shelf-1 bay 4 (blank)\n";
    lab_.options().config = lab_.work() + "/poolkeeperd.conf";
    std::ofstream(lab_.options().config) << "iscsi_server = off\nnfs_server = off\nsmb_server = off\n"
                                         << "disk_source = sysfs\nsys_root = " << chassis_->root()
                                         << "\ndev_root = " << chassis_->root() << "\nchassis_file = " << conf
                                         << "\nvdev_id_file = /nonexistent/vdev_id.conf\n";
    cli_ = lab_.cli();
    return lab_.StartDaemon();
  }
  static void TearDownLab() {
    if (created_) {
      lab_.daemon().Stop();
      EXPECT_TRUE(DestroyLabPool(lab_.runner(), pool_)) << "pool " << pool_.name;
    }
  }
  static std::string Disk(int i) { return pool_.disk_dir + "/d" + std::to_string(i) + ".img"; }
  static std::string Id(int i) { return "serial-LABD" + std::to_string(i) + std::to_string(::getpid()); }
  static const json* Find(const json& list, const std::string& id) {
    for (const auto& d : list["disks"]) {
      if (d["id"] == id) return &d;
    }
    return nullptr;
  }

  static inline LabPool pool_;
  static inline bool created_ = false;
  static inline std::unique_ptr<hw::LabChassis> chassis_;
  static inline CliClient cli_;
};

TEST_F(DiskTopologyTest, ListsTheLabPoolsDisksWithTheirBays) {
  // The inventory's first refresh runs in the background: wait until the pool is matched.
  json list = WaitForJson(cli_, {"disk", "list"}, [](const json& j) {
    const json* d = Find(j, Id(1));
    return d && (*d)["pool"] == pool_.name;
  });
  ASSERT_EQ(list["disks"].size(), 3u) << list.dump(2);
  const json& d1 = *Find(list, Id(1));
  EXPECT_EQ(d1["bay"]["label"], "shelf-1 bay 1");
  EXPECT_EQ(d1["bay"]["source"], "ses");
  EXPECT_EQ(d1["vdev"], "mirror-0");
  EXPECT_EQ(d1["vdev_path"], Disk(1));
  EXPECT_EQ(d1["vdev_state"], "ONLINE");
  EXPECT_EQ(d1["size"], kDiskBytes);
  EXPECT_EQ(d1["smart"]["state"], "unsupported");  // a file disk: no smartctl run
  const json& d2 = *Find(list, Id(2));
  EXPECT_EQ(d2["bay"]["label"], "shelf-1 bay 2");
  EXPECT_EQ(d2["pool"], pool_.name);
  const json& d3 = *Find(list, Id(3));
  EXPECT_EQ(d3["bay"]["label"], "shelf-1 bay 4 (blank)");
  EXPECT_EQ(d3["pool"], nullptr);

  CliResult table = cli_.Run({"disk", "list"});
  ASSERT_EQ(table.code, kExitOk) << table;
  EXPECT_THAT(table.out, HasSubstr("shelf-1 bay 1"));
  EXPECT_THAT(table.out, HasSubstr(pool_.name + " mirror-0 ONLINE"));

  CliResult show = cli_.Run({"disk", "show", Id(2)});
  ASSERT_EQ(show.code, kExitOk) << show;
  EXPECT_THAT(show.out, HasSubstr("shelf-1 bay 2 (chassis shelf-1, slot 2, from ses)"));
  EXPECT_THAT(show.out, HasSubstr("lab-LABD2"));

  json encl = cli_.Json({"disk", "enclosures"});
  ASSERT_EQ(encl["enclosures"].size(), 1u) << encl.dump(2);
  const json& bays = encl["enclosures"][0]["bays"];
  ASSERT_EQ(bays.size(), 6u);
  EXPECT_EQ(bays[0]["disk"], Id(1));
  EXPECT_EQ(bays[2]["occupied"], false);
  EXPECT_EQ(bays[2]["status"], "not installed");
}

TEST_F(DiskTopologyTest, LedsAndPresenceFollowTheChassisFiles) {
  std::ofstream(chassis_->SlotDir(2) + "/fault") << "1\n";
  json list = cli_.Json({"disk", "list", "--rescan"});
  ASSERT_NE(Find(list, Id(2)), nullptr) << list.dump(2);
  EXPECT_EQ((*Find(list, Id(2)))["bay"]["fault_led"], true);
  EXPECT_EQ((*Find(list, Id(1)))["bay"]["fault_led"], false);

  ASSERT_TRUE(chassis_->Pull(4));
  list = cli_.Json({"disk", "list", "--rescan"});
  EXPECT_EQ(Find(list, Id(3)), nullptr) << list.dump(2);
  json encl = cli_.Json({"disk", "enclosures"});
  EXPECT_EQ(encl["enclosures"][0]["bays"][3]["occupied"], false);
  EXPECT_EQ(encl["enclosures"][0]["bays"][3]["disk"], nullptr);
  // Put back, in bay 5 this time: the same disk (serial), another bay.
  ASSERT_TRUE(chassis_->Insert(5, Disk(3), "LABD3" + std::to_string(::getpid())));
  list = cli_.Json({"disk", "list", "--rescan"});
  ASSERT_NE(Find(list, Id(3)), nullptr) << list.dump(2);
  EXPECT_EQ((*Find(list, Id(3)))["bay"]["label"], "shelf-1 bay 5");
}

TEST_F(DiskTopologyTest, BadInput) {
  CliResult missing = cli_.Run({"disk", "show", "wwn-0xnosuchdisk"});
  EXPECT_EQ(missing.code, kExitNotFound) << missing;
  EXPECT_THAT(missing.err, HasSubstr("disk 'wwn-0xnosuchdisk' not found"));
  CliResult no_smart = cli_.Run({"disk", "selftest", Id(1)});
  EXPECT_EQ(no_smart.code, kExitFailure) << no_smart;
  EXPECT_THAT(no_smart.err, HasSubstr("has no SMART"));
  CliResult bad_kind = cli_.Run({"disk", "selftest", Id(1), "--test", "conveyance"});
  EXPECT_EQ(bad_kind.code, kExitUsage) << bad_kind;
  EXPECT_THAT(bad_kind.err, HasSubstr("self-test 'conveyance': expected short or long"));
}

}  // namespace
}  // namespace pk::e2e
