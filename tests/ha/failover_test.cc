// Unplanned failures in the HA lab (issue 5): a pool on the shared disks is a
// Pacemaker resource using ocf:poolkeeper:pool, running on h1. Then:
//   kill      h1's cluster stack dies (its zfs-fuse keeps the pool imported):
//             h2 must fence h1, then serve the pool;
//   poweroff  every process of h1 dies: h2 fences (finds nothing) and serves it;
//   cut       h1's link goes down: both heads try to fence; the device that
//             fences h1 waits 2 s, so h1 wins, h2 is powered off and h1 keeps
//             serving the pool.
// In every case a watcher polling both heads must never see the pool (by GUID)
// imported on both at once, and exactly one head serves it at the end.
//
// Needs the HA lab (fixture ha_lab: `scripts/lab ha up`); skips, saying why,
// when the cluster stack is not installed or the lab is not up.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sys/process_runner.h"
#include "tests/ha/ha_lab.h"

namespace pk {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Records every round in which both heads had the pool imported (same GUID).
class GuidWatcher {
 public:
  GuidWatcher(const HaLab& lab, std::string pool) : lab_(lab), pool_(std::move(pool)), thread_([this] { Run(); }) {}
  ~GuidWatcher() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::vector<std::string> both() {
    std::lock_guard lock(mu_);
    return both_;
  }
  int rounds() {
    std::lock_guard lock(mu_);
    return rounds_;
  }

 private:
  void Run() {
    while (!stop_) {
      std::string a = lab_.ImportedGuid("h1", pool_);
      std::string b = lab_.ImportedGuid("h2", pool_);
      std::lock_guard lock(mu_);
      ++rounds_;
      if (!a.empty() && a == b) both_.push_back(fmt::format("round {}: guid {} on h1 and h2", rounds_, a));
    }
  }
  const HaLab& lab_;
  std::string pool_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<std::string> both_;  // guarded by mu_
  int rounds_ = 0;                 // guarded by mu_
  std::thread thread_;             // last: starts once the rest is built
};

// A pool on two shared disks run by Pacemaker through ocf:poolkeeper:pool,
// preferring h1; removed afterwards with both heads up again, whatever happened.
class HaPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* tool : {"/usr/sbin/corosync", "/usr/sbin/pacemakerd", "/usr/sbin/crm_resource"}) {
      if (::access(tool, X_OK) != 0) GTEST_SKIP() << tool << " is not installed: the cluster stack cannot run (scripts/deps)";
    }
    if (::geteuid() != 0) GTEST_SKIP() << "the HA lab needs root";
    auto status = lab_.Lab({"status"});
    if (status.out.find(": off") != std::string::npos || status.out.find("Online: [ h1 h2 ]") == std::string::npos) {
      GTEST_SKIP() << "the HA lab is not up with both heads online ('scripts/lab ha up'): " << status.out << status.err;
    }
    pool_ = fmt::format("hafo{}", ::getpid() % 100000);
    resource_ = "pool-" + pool_;
  }

  void TearDown() override {
    if (pool_.empty()) return;
    for (const char* head : {"h2", "h1"}) {
      auto r = lab_.Exec(head, {"crm_resource", "--resource", resource_, "--meta", "--set-parameter",
                                "target-role", "--parameter-value", "Stopped"}, 30s);
      if (!r.status.Success()) continue;
      auto deadline = Clock::now() + 60s;
      while (!lab_.RunningOn(head, resource_).empty() && Clock::now() < deadline) std::this_thread::sleep_for(300ms);
      lab_.Exec(head, {"crm_resource", "--clear", "--resource", resource_});
      lab_.Exec(head, {"cibadmin", "--delete", "-o", "constraints", "--xml-text",
                       fmt::format("<rsc_location id=\"{}-prefers-h1\"/>", resource_)});
      lab_.Exec(head, {"cibadmin", "--delete", "-o", "resources", "--xml-text",
                       fmt::format("<primitive id=\"{}\"/>", resource_)});
      break;
    }
    for (const char* head : {"h1", "h2"}) {
      if (!lab_.ImportedGuid(head, pool_).empty()) lab_.Exec(head, {"zpool", "destroy", "-f", pool_});
    }
    lab_.Lab({"heal", "h1"});
    auto status = lab_.Lab({"status"}).out;
    for (const char* head : {"h1", "h2"}) {
      if (status.find(std::string(head) + ": off") == std::string::npos) continue;
      auto booted = lab_.Lab({"boot", head}, 120s);
      EXPECT_TRUE(booted.status.Success()) << "boot " << head << ": " << Describe(booted);
    }
    // Both heads members again before the next test.
    auto deadline = Clock::now() + 60s;
    while (lab_.Lab({"status"}).out.find("Online: [ h1 h2 ]") == std::string::npos && Clock::now() < deadline) {
      std::this_thread::sleep_for(500ms);
    }
  }

  // Creates the pool on h1, exports it, defines the resource and waits until
  // h1 serves it. Returns the pool's GUID ("" after a failed assertion).
  std::string StartPoolOnH1() {
    const std::string disks = lab_.dir() + "/disks";
    for (const char* d : {"d2.img", "d3.img"}) {
      std::filesystem::remove(disks + "/" + d);
      auto t = lab_.Exec("h1", {"truncate", "-s", "256M", disks + "/" + d});
      EXPECT_TRUE(t.status.Success()) << Describe(t);
    }
    auto created = lab_.Exec("h1", {"zpool", "create", "-m", mountpoint(), pool_, "mirror", disks + "/d2.img",
                                    disks + "/d3.img"});
    EXPECT_TRUE(created.status.Success()) << Describe(created);
    const std::string guid = lab_.ImportedGuid("h1", pool_);
    EXPECT_FALSE(guid.empty());
    auto exported = lab_.Exec("h1", {"zpool", "export", pool_});
    EXPECT_TRUE(exported.status.Success()) << Describe(exported);

    auto rsc = lab_.Exec("h1", {"cibadmin", "--create", "-o", "resources", "--xml-text", fmt::format(R"(
<primitive id="{0}" class="ocf" provider="poolkeeper" type="pool">
  <instance_attributes id="{0}-ia">
    <nvpair id="{0}-pool" name="pool" value="{1}"/>
    <nvpair id="{0}-dirs" name="search_dirs" value="{2}"/>
  </instance_attributes>
  <operations>
    <op id="{0}-start" name="start" interval="0" timeout="60s"/>
    <op id="{0}-stop" name="stop" interval="0" timeout="30s"/>
    <op id="{0}-monitor" name="monitor" interval="2s" timeout="20s"/>
  </operations>
</primitive>)", resource_, pool_, disks)});
    EXPECT_TRUE(rsc.status.Success()) << Describe(rsc);
    auto pref = lab_.Exec("h1", {"cibadmin", "--create", "-o", "constraints", "--xml-text",
                                 fmt::format(R"(<rsc_location id="{0}-prefers-h1" rsc="{0}" node="h1" score="50"/>)", resource_)});
    EXPECT_TRUE(pref.status.Success()) << Describe(pref);

    auto deadline = Clock::now() + 90s;
    while (!(lab_.RunningOn("h1", resource_) == "h1" && lab_.ServiceState("h1", pool_) == "online") &&
           Clock::now() < deadline) {
      std::this_thread::sleep_for(300ms);
    }
    EXPECT_EQ(lab_.RunningOn("h1", resource_), "h1");
    EXPECT_EQ(lab_.ServiceState("h1", pool_), "online");
    EXPECT_EQ(lab_.ImportedGuid("h1", pool_), guid);
    EXPECT_EQ(lab_.ImportedGuid("h2", pool_), "");
    return ::testing::Test::HasFailure() ? "" : guid;
  }

  std::string mountpoint() const { return lab_.dir() + "/mnt/" + pool_; }
  // The lab's fence log (a host file: the heads may be off).
  std::string FenceLog() const {
    std::ifstream in(lab_.dir() + "/fence.log");
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }

  // Waits until `survivor` serves the pool and `fenced` is powered off; returns when that was.
  Clock::time_point WaitServedBy(const std::string& survivor, const std::string& fenced, const std::string& guid,
                                 Clock::time_point deadline) {
    auto done = [&] {
      return lab_.ServiceState(survivor, pool_) == "online" && lab_.ImportedGuid(survivor, pool_) == guid &&
             lab_.Lab({"status"}).out.find(fenced + ": off") != std::string::npos;
    };
    while (!done() && Clock::now() < deadline) std::this_thread::sleep_for(50ms);
    return Clock::now();
  }

  // After the event: exactly `survivor` serves the pool, `fenced` was powered off, never both.
  void ExpectOneOwner(const std::string& survivor, const std::string& fenced, const std::string& guid,
                      GuidWatcher& watcher, size_t fence_log_before) {
    EXPECT_EQ(lab_.ServiceState(survivor, pool_), "online");
    EXPECT_EQ(lab_.ImportedGuid(survivor, pool_), guid);
    EXPECT_EQ(lab_.RunningOn(survivor, resource_), survivor);
    EXPECT_EQ(lab_.ImportedGuid(fenced, pool_), "") << "the fenced head still has the pool";
    EXPECT_NE(lab_.Lab({"status"}).out.find(fenced + ": off"), std::string::npos) << fenced << " was not powered off";
    auto both = watcher.both();
    EXPECT_TRUE(both.empty()) << "imported on both heads: " << both.front();
    EXPECT_GT(watcher.rounds(), 3) << "the watcher hardly ran";
    std::printf("watcher: %d rounds polling both heads, pool never imported on both\n", watcher.rounds());
    std::string log = FenceLog();
    log = log.substr(std::min(fence_log_before, log.size()));
    EXPECT_NE(log.find("fenced " + fenced), std::string::npos) << "fence log: " << log;
    EXPECT_EQ(log.find("fenced " + survivor), std::string::npos) << "both heads were fenced: " << log;
    // `poolkeeper cluster status` on the survivor says the same.
    auto status = lab_.Exec(survivor, {lab_.dir() + "/bin/poolkeeper", "--json", "cluster", "status"}, 30s);
    ASSERT_TRUE(status.status.Success()) << Describe(status);
    auto j = nlohmann::json::parse(status.out, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << status.out;
    EXPECT_EQ(j["dc"], survivor);
    EXPECT_TRUE(j["quorum"].get<bool>());
    EXPECT_TRUE(j["fencing_enabled"].get<bool>());
    bool listed = false;
    for (const auto& p : j["pools"]) {
      if (p["pool"] != pool_) continue;
      listed = true;
      EXPECT_EQ(p["owners"], nlohmann::json::array({survivor}));
      EXPECT_EQ(p["role"], "Started");
    }
    EXPECT_TRUE(listed) << status.out;
    for (const auto& h : j["heads"]) {
      if (h["name"] == fenced) {
        EXPECT_FALSE(h["online"].get<bool>()) << status.out;
      }
    }
    ASSERT_FALSE(j["fence_history"].empty());
    EXPECT_EQ(j["fence_history"][0]["target"], fenced);
    EXPECT_EQ(j["fence_history"][0]["status"], "success");
  }

  HaLab lab_;
  std::string pool_;
  std::string resource_;
};

struct Scenario {
  const char* name;
  const char* action;    // scripts/lab ha ACTION h1
  const char* survivor;  // the head that serves the pool afterwards
  const char* fenced;    // the head that must have been fenced
};

class FailoverTest : public HaPoolTest, public ::testing::WithParamInterface<Scenario> {};

TEST_P(FailoverTest, OneHeadServesThePoolAfterwardsAndNeverBoth) {
  const Scenario& sc = GetParam();
  const std::string guid = StartPoolOnH1();
  ASSERT_FALSE(guid.empty());
  GuidWatcher watcher(lab_, pool_);
  const size_t fence_log_before = FenceLog().size();
  const auto t0 = Clock::now();
  auto failed = lab_.Lab({sc.action, "h1"});
  ASSERT_TRUE(failed.status.Success()) << Describe(failed);
  const auto t1 = WaitServedBy(sc.survivor, sc.fenced, guid, t0 + 120s);
  std::this_thread::sleep_for(2s);  // keep watching a little after the takeover
  watcher.Stop();
  ExpectOneOwner(sc.survivor, sc.fenced, guid, watcher, fence_log_before);
  double seconds = std::chrono::duration<double>(t1 - t0).count();
  std::printf("%s h1: pool served by %s, %s powered off, after %.2f s\n", sc.action, sc.survivor, sc.fenced, seconds);
  RecordProperty("failover_seconds", fmt::format("{:.2f}", seconds));
}

// Printed by gtest for a failing case.
void PrintTo(const Scenario& sc, std::ostream* os) { *os << sc.action << " h1"; }

INSTANTIATE_TEST_SUITE_P(Failures, FailoverTest,
                         ::testing::Values(Scenario{"Kill", "kill", "h2", "h1"},
                                           Scenario{"PowerOff", "poweroff", "h2", "h1"},
                                           Scenario{"Cut", "cut", "h1", "h2"}),
                         [](const ::testing::TestParamInfo<Scenario>& info) { return std::string(info.param.name); });

// A planned move whose stop cannot export (a process on h1 keeps the pool's
// filesystem busy): the agent's clean export fails, its forced export fails
// too (zfs-fuse cannot unmount a busy FUSE mount), so the stop fails before its
// timeout, Pacemaker fences h1 and h2 imports the pool: it still ends up on
// exactly one head.
TEST_F(HaPoolTest, StopThatCannotExportEscalatesAndThePoolEndsOnOneHead) {
  const std::string guid = StartPoolOnH1();
  ASSERT_FALSE(guid.empty());
  // The holder: a process inside h1 whose working directory is in the pool;
  // it ends when h1 is fenced (or after its own 120 s).
  std::thread holder([&] { lab_.Exec("h1", {"/usr/bin/env", "--chdir=" + mountpoint(), "sleep", "120"}, 130s); });
  auto busy_deadline = Clock::now() + 10s;
  while (Clock::now() < busy_deadline) {
    auto fuser = lab_.Exec("h1", {"/usr/bin/find", "/proc", "-mindepth", "2", "-maxdepth", "2", "-name", "cwd",
                                  "-lname", mountpoint()}, 10s);
    if (!fuser.out.empty()) break;
    std::this_thread::sleep_for(100ms);
  }
  GuidWatcher watcher(lab_, pool_);
  const size_t fence_log_before = FenceLog().size();
  const auto t0 = Clock::now();
  auto moved = lab_.Exec("h1", {"crm_resource", "--move", "--resource", resource_, "--node", "h2"});
  ASSERT_TRUE(moved.status.Success()) << Describe(moved);
  const auto t1 = WaitServedBy("h2", "h1", guid, t0 + 120s);
  std::this_thread::sleep_for(2s);
  watcher.Stop();
  holder.join();
  ExpectOneOwner("h2", "h1", guid, watcher, fence_log_before);
  // The agent said why it gave up (h1's Pacemaker log survives the power-off).
  std::ifstream log(lab_.dir() + "/heads/h1/log/pacemaker/pacemaker.log");
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("ocf-exit-reason:stop pool '" + pool_ + "'"), std::string::npos);
  EXPECT_NE(text.find("forced export failed"), std::string::npos);
  std::printf("busy stop on h1: escalated, h1 fenced, pool served by h2 after %.2f s\n",
              std::chrono::duration<double>(t1 - t0).count());
}

// Partitions, PK_HA_CUT_ROUNDS rounds (default 10): each round puts the pool
// on h1 or h2 (alternately), cuts h1 or h2 (every combination in turn), and
// checks that exactly one head holds the pool afterwards. The device fencing h1
// waits 2 s, so h1 always wins and h2 is powered off: a pool on h2 moves to h1.
// The GUID watcher runs through all rounds.
TEST_F(HaPoolTest, PartitionsNeverLeaveThePoolOnTwoHeads) {
  const int rounds = std::stoi(Env("PK_HA_CUT_ROUNDS", "10"));
  const std::string guid = StartPoolOnH1();
  ASSERT_FALSE(guid.empty());
  GuidWatcher watcher(lab_, pool_);
  std::vector<double> times;
  for (int round = 0; round < rounds; ++round) {
    const std::string owner = round % 2 == 0 ? "h1" : "h2";
    const std::string victim = (round / 2) % 2 == 0 ? "h1" : "h2";
    if (lab_.RunningOn("h1", resource_) != owner) {
      auto moved = lab_.Exec("h1", {"crm_resource", "--move", "--resource", resource_, "--node", owner});
      ASSERT_TRUE(moved.status.Success()) << Describe(moved);
      auto deadline = Clock::now() + 60s;
      while (!(lab_.RunningOn("h1", resource_) == owner && lab_.ServiceState(owner, pool_) == "online") &&
             Clock::now() < deadline) {
        std::this_thread::sleep_for(200ms);
      }
      lab_.Exec("h1", {"crm_resource", "--clear", "--resource", resource_});
      ASSERT_EQ(lab_.ServiceState(owner, pool_), "online") << "round " << round << ": the move to " << owner;
    }
    const size_t fence_log_before = FenceLog().size();
    const auto t0 = Clock::now();
    auto cut = lab_.Lab({"cut", victim});
    ASSERT_TRUE(cut.status.Success()) << Describe(cut);
    const auto t1 = WaitServedBy("h1", "h2", guid, t0 + 120s);
    times.push_back(std::chrono::duration<double>(t1 - t0).count());
    EXPECT_EQ(lab_.ServiceState("h1", pool_), "online") << "round " << round;
    EXPECT_EQ(lab_.ImportedGuid("h2", pool_), "") << "round " << round;
    std::string log = FenceLog().substr(fence_log_before);
    EXPECT_NE(log.find("fenced h2"), std::string::npos) << "round " << round << ": " << log;
    EXPECT_EQ(log.find("fenced h1"), std::string::npos) << "round " << round << ": both heads were fenced: " << log;
    std::printf("round %d: pool on %s, cut %s: pool served by h1, h2 powered off after %.2f s\n", round,
                owner.c_str(), victim.c_str(), times.back());
    lab_.Lab({"heal", victim});
    auto booted = lab_.Lab({"boot", "h2"}, 120s);
    ASSERT_TRUE(booted.status.Success()) << Describe(booted);
    auto deadline = Clock::now() + 60s;
    while (lab_.Lab({"status"}).out.find("Online: [ h1 h2 ]") == std::string::npos && Clock::now() < deadline) {
      std::this_thread::sleep_for(300ms);
    }
    ASSERT_NE(lab_.Lab({"status"}).out.find("Online: [ h1 h2 ]"), std::string::npos) << "round " << round;
    if (::testing::Test::HasFailure()) break;
  }
  watcher.Stop();
  auto both = watcher.both();
  EXPECT_TRUE(both.empty()) << "imported on both heads: " << both.front();
  std::printf("%zu partitions, %d watcher rounds: pool never imported on both heads\n", times.size(), watcher.rounds());
}

}  // namespace
}  // namespace pk
