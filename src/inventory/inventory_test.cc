// Inventory over the real CLI adapter and a fake process runner whose answers
// change between refreshes, as ZFS's would.
#include "inventory/inventory.h"

#include <future>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include "inventory/scan_events.h"
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
    runner_.Expect({"zpool", "status"}, [this](const sys::Command& c) -> Result<sys::ProcessResult> {
      if (c.args.back() == "stuck" && on_stuck_status_) on_stuck_status_();
      if (c.args.back() == "broken") return FakeProcessRunner::Exited(0, "garbage\n");
      std::string out = StatusOf(c.args.back());
      if (!scan_line_.empty()) out.insert(out.find("config:"), scan_line_ + "\n");
      return FakeProcessRunner::Exited(0, out);
    }, FakeProcessRunner::Times::kAlways);
    // `zfs get ... -o FIELDS PROPS [ROOT...]`: answer the rows of `tree_` under
    // each ROOT (all rows without one).
    runner_.Expect({"zfs", "get"}, [this](const sys::Command& c) -> Result<sys::ProcessResult> {
      bool recursive = std::find(c.args.begin(), c.args.end(), "-r") != c.args.end();
      auto o = std::find(c.args.begin(), c.args.end(), "-o");
      std::vector<std::string> roots(o + 3, c.args.end());
      std::string out;
      for (const auto& name : tree_) {
        bool match = roots.empty() || std::any_of(roots.begin(), roots.end(), [&](const std::string& root) {
          return name == root || (recursive && (name.starts_with(root + "/") || name.starts_with(root + "@")));
        });
        if (match) out += name + "\ttype\t" + (name.find('@') != std::string::npos ? "snapshot" : "filesystem") + "\t-\n";
      }
      if (!roots.empty() && out.empty()) {
        return FakeProcessRunner::Exited(1, "", "cannot open '" + roots.front() + "': dataset does not exist\n");
      }
      return FakeProcessRunner::Exited(0, out);
    }, FakeProcessRunner::Times::kAlways);
  }

  // The tool runs since `from` (an index into the runner's calls), as "zpool status tank".
  std::vector<std::string> CallsSince(size_t from) const {
    std::vector<std::string> out;
    auto calls = runner_.calls();
    for (size_t i = from; i < calls.size(); ++i) {
      std::string line = calls[i].program.substr(calls[i].program.rfind('/') + 1) + " " + calls[i].args.front();
      if (calls[i].args.front() != "list" || calls[i].program.ends_with("zfs")) line += " " + calls[i].args.back();
      out.push_back(line);
    }
    return out;
  }

  std::vector<std::string> Names() const {
    std::vector<std::string> names;
    for (const auto& [n, d] : inventory_.Current()->datasets) names.push_back(n);
    return names;
  }

  std::function<void()> on_stuck_status_;  // runs inside `zpool status stuck`
  std::string scan_line_;                  // inserted into every `zpool status` when set
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
  EXPECT_EQ(view->generation, 2u) << "the lists, then the pool's status";
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

// Issue 20 (left over from item 1): a pool's status memory goes with the
// pool. A scrub that finished before the pool was exported is no new scrub
// when the pool is imported again: the first read after the re-import is a
// first read (on_status not called), so no scan event is made up from it.
TEST_F(InventoryTest, AReimportedPoolsOldScrubIsNoNewEvent) {
  std::vector<std::string> told;  // the scan events the daemon would append, "POOL: STATE"
  InventoryOptions o;
  o.on_status = [&](const std::string& pool, const zfs::PoolStatus& before, const zfs::PoolStatus& after) {
    for (const auto& e : ScanTransitions(pool, before.scan_progress, after.scan_progress)) {
      told.push_back(fmt::format("{}: {}", pool, e.state));
    }
  };
  Inventory inventory(*zfs_, o);
  ASSERT_TRUE(inventory.RefreshAll());  // first read: not told
  scan_line_ = " scrub: scrub completed after 0h0m with 0 errors on Mon Dec  7 11:09:07 2026";
  ASSERT_TRUE(inventory.RefreshAll());  // the scrub ran meanwhile: told
  EXPECT_EQ(told, (std::vector<std::string>{"tank: scrub-running", "tank: scrub-finished"}));
  told.clear();
  pools_ = "";  // exported
  ASSERT_TRUE(inventory.RefreshPool("tank"));
  pools_ = "tank\t1G\t1M\t1G\tONLINE\t1\t-\n";  // imported again, the old scrub in its status
  scan_line_ = " scrub: scrub completed after 0h0m with 0 errors on Mon Dec  7 11:09:07 2026";
  ASSERT_TRUE(inventory.RefreshPool("tank"));
  ASSERT_TRUE(inventory.RefreshAll());
  EXPECT_TRUE(told.empty()) << fmt::format("{}", fmt::join(told, "; "));
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

// Issue 19 item 6: a dataset write costs one refresh of what changed: the
// subtree, its ancestors, and `zpool list`, with ten pools imported, and no
// `zpool status` (before: also a `zpool status` of every pool, 10 more runs).
TEST_F(InventoryTest, AWriteCostsOneRefreshOfWhatChanged) {
  for (int i = 1; i < 10; ++i) pools_ += "p" + std::to_string(i) + "\t1G\t1M\t1G\tONLINE\t1\t-\n";
  tree_ = {"tank", "tank/a", "tank/a/b"};
  ASSERT_TRUE(inventory_.RefreshAll());
  ASSERT_EQ(inventory_.Current()->pools.size(), 10u);
  size_t before = runner_.calls().size();
  tree_.push_back("tank/a/b/new");
  ASSERT_TRUE(inventory_.RefreshTree("tank/a/b/new"));
  EXPECT_EQ(CallsSince(before), (std::vector<std::string>{"zfs get tank/a/b/new", "zfs get tank/a/b",
                                                          "zfs get tank/a", "zfs get tank", "zpool list"}));
  EXPECT_EQ(inventory_.Current()->datasets.count("tank/a/b/new"), 1u);
  EXPECT_EQ(inventory_.Current()->pools.size(), 10u);
  EXPECT_EQ(inventory_.Current()->FindPool("p3")->status.root.children.size(), 1u)
      << "a tree refresh keeps the pools' statuses";
}

// Issue 19 item 6: a pool operation re-reads that pool's status, not every pool's.
TEST_F(InventoryTest, APoolRefreshReadsOnlyThatPoolsStatus) {
  pools_ += "other\t1G\t1M\t1G\tONLINE\t1\t-\n";
  ASSERT_TRUE(inventory_.RefreshAll());
  size_t before = runner_.calls().size();
  ASSERT_TRUE(inventory_.RefreshPool("tank"));
  EXPECT_EQ(CallsSince(before), (std::vector<std::string>{"zpool list", "zfs get tank", "zpool status tank"}));
}

// Issue 19 item 6: while a periodic refresh hangs in `zpool status` of one
// pool, a write's refresh of another pool's datasets (and a pool refresh of
// that other pool) returns: no status read holds the lock they wait on.
TEST_F(InventoryTest, AHungPoolStatusDoesNotDelayAWrite) {
  pools_ += "stuck\t1G\t1M\t1G\tONLINE\t1\t-\n";
  std::promise<void> entered, release;
  std::shared_future<void> released = release.get_future().share();
  on_stuck_status_ = [&] {
    entered.set_value();
    released.wait();
  };
  std::thread periodic([&] { (void)inventory_.RefreshAll(); });
  auto hung = entered.get_future();
  bool reached = hung.wait_for(std::chrono::seconds(30)) == std::future_status::ready;
  if (reached) {
    tree_.push_back("tank/new");
    auto write = std::async(std::launch::async, [&] {
      return inventory_.RefreshTree("tank/new") && inventory_.RefreshPool("tank");
    });
    bool returned = write.wait_for(std::chrono::seconds(30)) == std::future_status::ready;
    EXPECT_TRUE(returned) << "a write's refresh waited for another pool's hung `zpool status`";
    release.set_value();
    EXPECT_TRUE(write.get());
    EXPECT_EQ(inventory_.Current()->datasets.count("tank/new"), 1u);
  } else {
    release.set_value();
  }
  periodic.join();
  ASSERT_TRUE(reached) << "the full refresh never asked for the status of 'stuck'";
  EXPECT_EQ(inventory_.Current()->FindPool("stuck")->status.root.children.size(), 1u)
      << "the hung status is published once it answers";
}

}  // namespace
}  // namespace pk::inventory
