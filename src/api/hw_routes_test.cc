// The disk routes (issue 20 items 2, 3) over the daemon's disk cache on the
// recorded JBOD tree: the list, one disk by id, 404 naming a bad id, enclosures,
// self-tests (bad test kind refused before smartctl runs), unavailable when
// the daemon watches no disks.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "api/internal/test_request.h"
#include "api/router.h"
#include "testing/fake_process_runner.h"
#include "testing/fake_zfs.h"

namespace pk::api {
namespace {

using nlohmann::json;
using pk::testing::FakeProcessRunner;
using ::testing::HasSubstr;

// The recorded JBOD tree (tests/data/hw/README.md).
const std::string kJbod = std::string(PK_TEST_DATA_DIR) + "/hw/sysfs/jbod";

class HwRoutesTest : public ::testing::Test {
 protected:
  HttpResponse Call(std::string method, std::string path, std::string body = "",
                    std::map<std::string, std::string> query = {}) {
    return router_.Handle(internal::RootRequest(std::move(method), std::move(path), std::move(body), std::move(query)));
  }
  void SetUp() override {
    monitor_.Start();
    router_.SetDisks(&monitor_);
  }

  testing::FakeZfs zfs_;
  inventory::Inventory inventory_{zfs_, {}};
  Router router_{zfs_, inventory_, nullptr, nullptr, nullptr, {"secret-token-0123456789", "test"}};
  FakeProcessRunner runner_;
  hw::SysBlockSource source_{hw::SysTree(kJbod)};
  hw::TopologyReader reader_{source_, {.sys_root = kJbod,
                                       .dev_root = kJbod,
                                       .chassis_file = "", .vdev_id_file = ""}};
  hw::SmartReader smart_{runner_, {}};
  hw::DiskMonitor monitor_{reader_, &smart_, nullptr,
                           {.smart_period = std::chrono::milliseconds(0),
                            .has_smart = [](const std::string& node) { return node.ends_with("/dev/sdb"); }}};
};

TEST_F(HwRoutesTest, ListShowEnclosures) {
  auto list = Call("GET", "/v1/disks");
  ASSERT_EQ(list.status, 200) << list.body;
  auto j = json::parse(list.body);
  ASSERT_EQ(j["disks"].size(), 4u);
  EXPECT_EQ(j["disks"][0]["id"], "wwn-0x5000c500a1b2c3d4");
  EXPECT_EQ(j["disks"][0]["bay"]["label"], "0:0:12:0 bay 1");
  EXPECT_EQ(j["disks"][0]["smart"]["state"], "unsupported");

  auto one = Call("GET", "/v1/disks/wwn-0x5000c500a1b2c3e5");
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(json::parse(one.body)["name"], "sdb");
  EXPECT_EQ(json::parse(one.body)["bay"]["fault_led"], true);

  auto missing = Call("GET", "/v1/disks/wwn-0xnothere");
  EXPECT_EQ(missing.status, 404);
  EXPECT_THAT(missing.body, HasSubstr("disk 'wwn-0xnothere' not found"));

  auto encl = Call("GET", "/v1/enclosures");
  ASSERT_EQ(encl.status, 200) << encl.body;
  auto e = json::parse(encl.body)["enclosures"];
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0]["bays"][1]["disk"], "wwn-0x5000c500a1b2c3e5");
  EXPECT_EQ(e[0]["bays"][2]["disk"], nullptr);
  EXPECT_EQ(e[0]["bays"][2]["occupied"], false);
  EXPECT_EQ(Call("GET", "/v1/disks", "", {{"refresh", "true"}}).status, 200);
}

TEST_F(HwRoutesTest, SelfTest) {
  runner_.Expect({"smartctl", "-j", "-t", "long", "/dev/sdb"}, FakeProcessRunner::Exited(0, "{}"));
  auto ok = Call("POST", "/v1/disks/sdb", R"({"test":"long"})", {{"action", "selftest"}});
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(json::parse(ok.body)["test"], "long");
  auto bad = Call("POST", "/v1/disks/sdb", R"({"test":"conveyance"})", {{"action", "selftest"}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_THAT(bad.body, HasSubstr("disk 'sdb': self-test 'conveyance': expected short or long"));
  auto unknown_field = Call("POST", "/v1/disks/sdb", R"({"tset":"long"})", {{"action", "selftest"}});
  EXPECT_EQ(unknown_field.status, 400);
  auto missing = Call("POST", "/v1/disks/sdq", "{}", {{"action", "selftest"}});
  EXPECT_EQ(missing.status, 404);
  auto no_smart = Call("POST", "/v1/disks/sda", "{}", {{"action", "selftest"}});
  EXPECT_EQ(no_smart.status, 409) << no_smart.body;
  EXPECT_EQ(runner_.calls().size(), 1u);
}

TEST(HwRoutesWithoutDisks, Unavailable) {
  testing::FakeZfs zfs;
  inventory::Inventory inventory{zfs, {}};
  Router router{zfs, inventory, nullptr, nullptr, nullptr, {"t", "test"}};
  EXPECT_EQ(router.Handle(internal::RootRequest("GET", "/v1/disks")).status, 503);
}

}  // namespace
}  // namespace pk::api
