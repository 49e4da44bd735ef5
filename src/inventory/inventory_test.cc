// Inventory over the real CLI adapter and a fake process runner whose answers
// change between refreshes, as ZFS's would.
#include "inventory/inventory.h"

#include <gtest/gtest.h>

#include "testing/fake_process_runner.h"

namespace pk::inventory {
namespace {

using pk::testing::FakeProcessRunner;

std::string StatusOf(const std::string& pool) {
  return "  pool: " + pool + "\n state: ONLINE\nconfig:\n\n\tNAME  STATE  READ WRITE CKSUM\n\t" + pool +
         "  ONLINE  0 0 0\n\t  /d/" + pool + ".img  ONLINE  0 0 0\n\nerrors: No known data errors\n";
}

class InventoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    runner_.Expect({"zpool", "list"}, [this](const sys::Command&) -> Result<sys::ProcessResult> {
      return FakeProcessRunner::Exited(0, pools_);
    }, FakeProcessRunner::Times::kAlways);
    runner_.Expect({"zpool", "status"}, [](const sys::Command& c) -> Result<sys::ProcessResult> {
      if (c.args.back() == "broken") return FakeProcessRunner::Exited(0, "garbage\n");
      return FakeProcessRunner::Exited(0, StatusOf(c.args.back()));
    }, FakeProcessRunner::Times::kAlways);
    // `zfs get ... [ROOT]`: answer the rows of `tree_` under ROOT (all without one).
    runner_.Expect({"zfs", "get"}, [this](const sys::Command& c) -> Result<sys::ProcessResult> {
      bool recursive = std::find(c.args.begin(), c.args.end(), "-r") != c.args.end();
      const std::string& last = c.args.back();
      bool has_root = last.find(',') == std::string::npos && last != "all";
      std::string out;
      for (const auto& name : tree_) {
        bool match = !has_root || name == last ||
                     (recursive && (name.starts_with(last + "/") || name.starts_with(last + "@")));
        if (match) out += name + "\ttype\t" + (name.find('@') != std::string::npos ? "snapshot" : "filesystem") + "\t-\n";
      }
      if (has_root && out.empty()) {
        return FakeProcessRunner::Exited(1, "", "cannot open '" + last + "': dataset does not exist\n");
      }
      return FakeProcessRunner::Exited(0, out);
    }, FakeProcessRunner::Times::kAlways);
  }

  std::vector<std::string> Names() const {
    std::vector<std::string> names;
    for (const auto& [n, d] : inventory_.Current()->datasets) names.push_back(n);
    return names;
  }

  std::string pools_ = "tank\t1G\t1M\t1G\tONLINE\t1\t-\n";
  std::vector<std::string> tree_ = {"tank", "tank/a", "tank/a@s1", "tank/b"};
  FakeProcessRunner runner_;
  std::unique_ptr<zfs::Zfs> zfs_ = zfs::MakeCliZfsForDialect(runner_, zfs::Dialect::kZfsFuse, {"/sbin/zpool", "/sbin/zfs"});
  Inventory inventory_{*zfs_, {}};
};

TEST_F(InventoryTest, EmptyBeforeFirstRefresh) {
  EXPECT_EQ(inventory_.Current()->generation, 0u);
  EXPECT_TRUE(inventory_.Current()->datasets.empty());
}

TEST_F(InventoryTest, RefreshAllReadsEverything) {
  ASSERT_TRUE(inventory_.RefreshAll());
  auto view = inventory_.Current();
  EXPECT_EQ(view->generation, 1u);
  ASSERT_EQ(view->pools.size(), 1u);
  EXPECT_EQ(view->pools[0].status.root.children.size(), 1u);
  EXPECT_EQ(Names(), (std::vector<std::string>{"tank", "tank/a", "tank/a@s1", "tank/b"}));
  EXPECT_EQ(view->datasets.at("tank/a@s1").type, zfs::DatasetType::kSnapshot);
}

TEST_F(InventoryTest, RefreshTreeMergesOnlyThatSubtree) {
  ASSERT_TRUE(inventory_.RefreshAll());
  auto before = inventory_.Current();
  tree_ = {"tank", "tank/a", "tank/a/new", "tank/b", "tank/c"};  // s1 destroyed, a/new and c created
  ASSERT_TRUE(inventory_.RefreshTree("tank/a"));
  EXPECT_EQ(Names(), (std::vector<std::string>{"tank", "tank/a", "tank/a/new", "tank/b"}))
      << "tank/c is outside the refreshed tree and waits for the next full refresh";
  EXPECT_EQ(before->datasets.size(), 4u) << "readers keep their own view";
  ASSERT_TRUE(inventory_.RefreshAll());
  EXPECT_EQ(Names().size(), 5u);
}

TEST_F(InventoryTest, RefreshTreeOfADestroyedDatasetRemovesIt) {
  ASSERT_TRUE(inventory_.RefreshAll());
  tree_ = {"tank", "tank/b"};
  ASSERT_TRUE(inventory_.RefreshTree("tank/a"));
  EXPECT_EQ(Names(), (std::vector<std::string>{"tank", "tank/b"}));
}

TEST_F(InventoryTest, RefreshPoolDropsAnExportedPool) {
  ASSERT_TRUE(inventory_.RefreshAll());
  pools_ = "";
  tree_ = {};
  ASSERT_TRUE(inventory_.RefreshPool("tank"));
  EXPECT_TRUE(inventory_.Current()->pools.empty());
  EXPECT_TRUE(Names().empty());
}

TEST_F(InventoryTest, AnUnreadablePoolDoesNotHideTheOthers) {
  pools_ += "broken\t1G\t1M\t1G\tONLINE\t2\t-\n";
  ASSERT_TRUE(inventory_.RefreshAll());
  auto view = inventory_.Current();
  ASSERT_EQ(view->pools.size(), 2u);
  EXPECT_NE(view->FindPool("broken")->status.errors.find("status of pool 'broken'"), std::string::npos);
  EXPECT_NE(view->FindPool("tank"), nullptr);
}

TEST_F(InventoryTest, FailedRefreshKeepsTheViewAndSaysWhy) {
  ASSERT_TRUE(inventory_.RefreshAll());
  pools_ = "not\ta\tvalid\tline\n";
  EXPECT_FALSE(inventory_.RefreshAll());
  auto view = inventory_.Current();
  EXPECT_EQ(view->datasets.size(), 4u);
  EXPECT_NE(view->last_error.find("zpool list line"), std::string::npos) << view->last_error;
}

}  // namespace
}  // namespace pk::inventory
