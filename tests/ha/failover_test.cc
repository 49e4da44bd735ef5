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

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cluster/cib.h"
#include "cluster/names.h"
#include "sys/process_runner.h"
#include "tests/ha/ha_lab.h"
#include "zfs/names.h"

namespace pk {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Records every moment both heads had the pool imported (same GUID).
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
  // Reads h1, h2, h1, h2, ... (each read takes a moment). Two reads in a row
  // that both show the pool cannot tell an overlap from a move between them
  // (the first head exported right after its read, the second imported
  // before its own). So a read showing the pool on one head counts as "both"
  // when the other head's reads just before and just after it show the pool
  // too: that head had it throughout (no head exports and imports the same
  // pool again within one read), so both had it at that moment.
  void Run() {
    const char* heads[2] = {"h1", "h2"};
    std::string before, middle;  // the two previous reads
    for (int i = 0; !stop_; ++i) {
      std::string now = lab_.ImportedGuid(heads[i % 2], pool_);
      std::lock_guard lock(mu_);
      if (i % 2 == 1) ++rounds_;
      if (i >= 2 && !now.empty() && before == now && middle == now) {
        both_.push_back(fmt::format("round {}: guid {} on {} (read before and after) and on {}", rounds_, now,
                                    heads[i % 2], heads[(i + 1) % 2]));
      }
      before = std::move(middle);
      middle = now;
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

constexpr const char* kVip = "10.88.0.200";

// A pool on two shared disks run by the cluster as `poolkeeper cluster pool
// add` makes it (the group pool-POOL: ocf:poolkeeper:pool, then an IPaddr2
// floating IP), preferring h1; removed afterwards with `cluster pool remove`
// and both heads up again, whatever happened.
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
    group_ = "pool-" + pool_;       // cluster::PoolGroupId
    resource_ = group_ + "-pool";  // its ocf:poolkeeper:pool member
  }

  void TearDown() override {
    if (pool_.empty()) return;
    // Both heads members again first: `cluster pool remove` needs quorum, and
    // a head that boots later must find nothing to stop.
    for (const char* head : {"h1", "h2"}) lab_.Lab({"heal", head});
    auto status = lab_.Lab({"status"}).out;
    for (const char* head : {"h1", "h2"}) {
      if (status.find(std::string(head) + ": off") == std::string::npos) continue;
      auto booted = lab_.Lab({"boot", head}, 120s);
      EXPECT_TRUE(booted.status.Success()) << "boot " << head << ": " << Describe(booted);
    }
    auto deadline = Clock::now() + 60s;
    while (lab_.Lab({"status"}).out.find("Online: [ h1 h2 ]") == std::string::npos && Clock::now() < deadline) {
      std::this_thread::sleep_for(500ms);
    }
    // The product's removal, on a head that runs (one may still be going
    // down): IPs down, pool exported, failures cleared, constraints and group deleted.
    std::string on = "h1";
    if (lab_.Lab({"status"}).out.find("h1: off") != std::string::npos) on = "h2";
    auto removed = lab_.Pk(on, {"cluster", "pool", "remove", pool_}, 150s);
    if (removed.err.find("is not running") != std::string::npos) {
      on = on == "h1" ? "h2" : "h1";
      removed = lab_.Pk(on, {"cluster", "pool", "remove", pool_}, 150s);
    }
    if (!removed.status.Success() && removed.err.find("the pool is not in the cluster") == std::string::npos) {
      ADD_FAILURE() << "cluster pool remove " << pool_ << " on " << on << ": " << Describe(removed);
      // Still leave a clean cluster: Pacemaker stops a deleted (orphaned) group.
      lab_.Exec(on, {"cibadmin", "--delete-all", "--xpath", fmt::format("//rsc_location[@rsc='{}']", group_)});
      lab_.Exec(on, {"cibadmin", "--delete", "-o", "resources", "--xml-text", fmt::format("<group id=\"{}\"/>", group_)});
      auto stopped = Clock::now() + 60s;
      while ((!lab_.ImportedGuid("h1", pool_).empty() || !lab_.ImportedGuid("h2", pool_).empty()) &&
             Clock::now() < stopped) {
        std::this_thread::sleep_for(500ms);
      }
    }
    for (const char* head : {"h1", "h2"}) {
      if (!lab_.ImportedGuid(head, pool_).empty()) lab_.Exec(head, {"zpool", "destroy", "-f", pool_});
    }
  }

  // Creates the pool on h1, exports it, and adds it to the cluster with
  // `poolkeeper cluster pool add POOL --vip VIP --prefer h1`; waits until h1
  // serves it. Returns the pool's GUID ("" after a failed assertion).
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
    BeforeExport();
    if (!lab_.ImportedGuid("h1", pool_).empty()) {
      auto exported = lab_.Exec("h1", {"zpool", "export", pool_});
      EXPECT_TRUE(exported.status.Success()) << Describe(exported);
    }

    auto added = lab_.Pk("h1", {"cluster", "pool", "add", pool_, "--vip", std::string(kVip) + "/24", "--prefer", "h1",
                                "-d", disks}, 150s);
    EXPECT_TRUE(added.status.Success()) << Describe(added);
    std::printf("%s", added.out.c_str());

    auto deadline = Clock::now() + 90s;
    while (!(lab_.RunningOn("h1", group_) == "h1" && lab_.ServiceState("h1", pool_) == "online") &&
           Clock::now() < deadline) {
      std::this_thread::sleep_for(300ms);
    }
    EXPECT_EQ(lab_.RunningOn("h1", group_), "h1");
    EXPECT_EQ(lab_.ServiceState("h1", pool_), "online");
    EXPECT_EQ(lab_.ImportedGuid("h1", pool_), guid);
    EXPECT_EQ(lab_.ImportedGuid("h2", pool_), "");
    EXPECT_TRUE(HasVip("h1")) << kVip << " is not on h1";
    return ::testing::Test::HasFailure() ? "" : guid;
  }

  // Called with the new pool imported on h1 (outside the cluster), before it
  // is exported for Pacemaker; may export it itself.
  virtual void BeforeExport() {}

  bool HasVip(const std::string& head) const {
    return lab_.Exec(head, {"ip", "-o", "addr", "show", "dev", "eth0"}, 20s).out.find(std::string(kVip) + "/") !=
           std::string::npos;
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
  std::string group_;     // the pool's resource group (what moves)
  std::string resource_;  // its ocf:poolkeeper:pool member
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
  // The planned move, asked on h2: the command returns once h2 runs the
  // group, here only after h1's stop failed and h1 was fenced.
  auto moved = lab_.Pk("h2", {"cluster", "takeover", pool_, "--to", "h2"}, 150s);
  EXPECT_TRUE(moved.status.Success()) << Describe(moved);
  std::printf("%s", moved.out.c_str());
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

// Issue 17 item 7 (zfs-fuse flavour): a forced import of a cluster pool is
// refused while the last importer the pool's label records is a head that is
// not fenced. The pool runs on h1; h2 manages it too (it ran there once, so
// h2's service policy says `cluster`); `pool import --force` on h2 is tried
// unforced, refused as in use, and then not forced: the label (zdb -l of a
// member, as zfs-fuse records it: h1's hostname and hostid) names h1, which
// Pacemaker shows online. The pool stays on h1 only.
TEST_F(HaPoolTest, ForcedImportIsRefusedWhileTheLabelsLastImporterIsAnUnfencedHead) {
  const std::string guid = StartPoolOnH1();
  ASSERT_FALSE(guid.empty());
  for (const auto& [to, cmd] : {std::pair{"h2", std::vector<std::string>{"cluster", "takeover", pool_, "--to", "h2"}},
                                std::pair{"h1", std::vector<std::string>{"cluster", "failback"}}}) {
    auto moved = lab_.Pk("h1", cmd, 150s);
    ASSERT_TRUE(moved.status.Success()) << Describe(moved);
    auto deadline = Clock::now() + 90s;
    while (lab_.ServiceState(to, pool_) != "online" && Clock::now() < deadline) std::this_thread::sleep_for(300ms);
    ASSERT_EQ(lab_.ServiceState(to, pool_), "online") << "the pool did not move to " << to;
  }
  ASSERT_EQ(lab_.ImportedGuid("h1", pool_), guid);
  GuidWatcher watcher(lab_, pool_);
  auto hostid = lab_.Exec("h1", {"hostid"}, 10s).out;  // "0a0a8801\n"
  ASSERT_FALSE(hostid.empty());
  hostid = "0x" + hostid.substr(0, hostid.find('\n'));
  auto forced = lab_.Pk("h2", {"pool", "import", pool_, "-d", lab_.dir() + "/disks", "--force"}, 60s);
  watcher.Stop();
  EXPECT_FALSE(forced.status.Success()) << "h2 force-imported a pool h1 serves: " << Describe(forced);
  EXPECT_NE(forced.err.find("not forcing"), std::string::npos) << forced.err;
  EXPECT_NE(forced.err.find("last imported by host 'h1' (hostid " + hostid + ")"), std::string::npos) << forced.err;
  EXPECT_NE(forced.err.find("head 'h1' (hostid " + hostid + "), which is online and may still use it"),
            std::string::npos) << forced.err;
  EXPECT_EQ(lab_.ImportedGuid("h2", pool_), "");
  EXPECT_EQ(lab_.ImportedGuid("h1", pool_), guid);
  EXPECT_EQ(lab_.ServiceState("h1", pool_), "online");
  auto both = watcher.both();
  EXPECT_TRUE(both.empty()) << "imported on both heads: " << both.front();
}

// A pool that is on no disk (its JBOD gone, or added by hand past `pool
// add`'s check): the agent's start fails at once with the reason, and
// Pacemaker shows the pool failed on each head and stopped, never started;
// nothing of it (IP, service) stays on either head.
TEST_F(HaPoolTest, StartOfAPoolOnNoDiskFailsWithTheReasonAndPacemakerShowsItStopped) {
  // A name of its own: Pacemaker keeps a resource's failures after it is removed.
  pool_ = fmt::format("hagh{}", ::getpid() % 100000);
  group_ = "pool-" + pool_;
  resource_ = group_ + "-pool";
  const std::string disks = lab_.dir() + "/disks";
  // The agent alone, as Pacemaker runs it: start fails (OCF_ERR_GENERIC)
  // naming the pool and the cause, monitor says not running, stop succeeds.
  auto agent = [&](const std::string& action) {
    return lab_.Exec("h1", {"/usr/bin/env", "OCF_RESKEY_pool=" + pool_, "OCF_RESKEY_search_dirs=" + disks,
                            "OCF_RESKEY_CRM_meta_timeout=30000", lab_.dir() + "/bin/poolkeeper", "ocf", "pool", action}, 40s);
  };
  auto start = agent("start");
  EXPECT_EQ(start.status.code, 1) << Describe(start);
  const std::string reason_prefix = "ocf-exit-reason:start pool '" + pool_ + "': ";
  EXPECT_NE(start.err.find(reason_prefix), std::string::npos) << start.err;
  EXPECT_NE(start.err.find("no such pool"), std::string::npos) << start.err;
  auto monitor = agent("monitor");
  EXPECT_EQ(monitor.status.code, 7) << Describe(monitor);
  auto stop = agent("stop");
  EXPECT_EQ(stop.status.code, 0) << Describe(stop);
  EXPECT_NE(lab_.ServiceState("h1", pool_), "failed") << "the stop left the service enabled";

  // In the cluster: the group as `pool add` builds it (without its pool check).
  auto vip = cluster::Vip::Parse(std::string(kVip) + "/24");
  auto name = zfs::PoolName::Parse(pool_);
  ASSERT_TRUE(vip && name);
  auto xml = cluster::PoolGroupXml({*name, {*vip}, {disks}, ""});
  ASSERT_TRUE(xml) << xml.error().message();
  auto created = lab_.Exec("h1", {"cibadmin", "--create", "-o", "resources", "--xml-text", *xml});
  ASSERT_TRUE(created.status.Success()) << Describe(created);
  // Until it failed on both heads, the pool must never be shown started.
  std::vector<std::string> seen_started;
  nlohmann::json pool;
  auto deadline = Clock::now() + 90s;
  while (Clock::now() < deadline) {
    auto s = lab_.ClusterStatus("h2");
    pool = nullptr;
    for (const auto& p : s.value("pools", nlohmann::json::array())) {
      if (p.value("pool", "") == pool_) pool = p;
    }
    if (pool.is_object() && pool.value("role", "") == "Started" && !pool.value("failed", false)) {
      seen_started.push_back(pool.dump());
    }
    std::set<std::string> failed_on;
    for (const auto& f : s.value("failures", nlohmann::json::array())) {
      if (f.value("resource", "") == resource_ && f.value("task", "") == "start") failed_on.insert(f.value("head", ""));
    }
    if (failed_on.size() == 2 && pool.is_object() && pool.value("role", "") == "Stopped") break;
    std::this_thread::sleep_for(300ms);
  }
  EXPECT_TRUE(seen_started.empty()) << "shown started: " << seen_started.front();
  ASSERT_TRUE(pool.is_object()) << "the pool is not in `cluster status`";
  EXPECT_EQ(pool.value("role", ""), "Stopped") << pool.dump();
  EXPECT_FALSE(pool.value("active", true)) << pool.dump();
  EXPECT_EQ(pool["owners"], nlohmann::json::array()) << pool.dump();
  ASSERT_TRUE(pool["last_failure"].is_object()) << pool.dump();
  EXPECT_EQ(pool["last_failure"].value("task", ""), "start");
  EXPECT_EQ(pool["last_failure"].value("exit_code", 0), 1);
  const std::string reason = pool["last_failure"].value("exit_reason", "");
  EXPECT_NE(reason.find("start pool '" + pool_ + "'"), std::string::npos) << pool.dump();
  EXPECT_NE(reason.find("no such pool"), std::string::npos) << pool.dump();
  EXPECT_EQ(lab_.RunningOn("h1", group_), "");
  EXPECT_EQ(lab_.RunningOn("h1", group_ + "-vip1"), "");
  for (const char* head : {"h1", "h2"}) {
    EXPECT_FALSE(HasVip(head)) << kVip << " on " << head;
    const std::string state = lab_.ServiceState(head, pool_);
    EXPECT_TRUE(state.empty() || state == "disabled") << pool_ << " as a service on " << head << ": " << state;
  }
  auto text = lab_.Pk("h1", {"cluster", "status"}, 30s);
  std::printf("%s", text.out.c_str());
  EXPECT_NE(text.out.find("Stopped"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("no such pool"), std::string::npos) << text.out;
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
    if (lab_.RunningOn("h1", group_) != owner) {
      auto moved = lab_.Exec("h1", {"crm_resource", "--move", "--resource", group_, "--node", owner});
      ASSERT_TRUE(moved.status.Success()) << Describe(moved);
      auto deadline = Clock::now() + 60s;
      while (!(lab_.RunningOn("h1", group_) == owner && lab_.ServiceState(owner, pool_) == "online") &&
             Clock::now() < deadline) {
        std::this_thread::sleep_for(200ms);
      }
      lab_.Exec("h1", {"crm_resource", "--clear", "--resource", group_});
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


// ---- Real clients through a floating IP (issue 5) ----
//
// The pool carries an iSCSI LUN (tgt) and an NFS export (ganesha) and runs in
// a Pacemaker group with a floating IP (ocf:heartbeat:IPaddr2) after it.
// Two pk_seq_client writers in the client namespace write sequence-numbered
// records through the floating IP (iSCSI WRITE with FUA; NFSv3 WRITE then
// COMMIT), journal every acknowledged record, and reconnect when the head
// goes away. After the pool moved, every acknowledged record must read back
// through the floating IP from the other head, the LU must show the same
// identity (serial, NAA) and the head left must hold nothing of the pool.

// A pk_seq_client journal (format at the top of tests/tools/pk_seq_client.cc).
struct Journal {
  std::vector<std::pair<uint64_t, double>> acks;  // seq, time
  std::vector<double> fails;
  std::vector<std::pair<double, std::string>> connects;  // time, identity

  static Journal Read(const std::string& path) {
    Journal j;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream s(line);
      std::string kind;
      s >> kind;
      if (kind == "ack") {
        uint64_t seq = 0;
        double t = 0;
        if (s >> seq >> t) j.acks.emplace_back(seq, t);
      } else if (kind == "fail") {
        uint64_t seq = 0;
        double t = 0;
        if (s >> seq >> t) j.fails.push_back(t);
      } else if (kind == "connect") {
        double t = 0;
        std::string id;
        if (s >> t) {
          std::getline(s >> std::ws, id);
          j.connects.emplace_back(t, id);
        }
      }
    }
    return j;
  }
  size_t AcksAfter(double t) const {
    return static_cast<size_t>(std::count_if(acks.begin(), acks.end(), [t](const auto& a) { return a.second > t; }));
  }
  bool ReconnectedAfter(double t) const {
    return std::any_of(connects.begin(), connects.end(), [t](const auto& c) { return c.first > t; });
  }
  // Seconds from `t` to the first acknowledged write after the first failure
  // following `t` (the client's outage end); 0 when no write failed.
  double OutageEnd(double t) const {
    auto fail = std::find_if(fails.begin(), fails.end(), [t](double f) { return f > t; });
    if (fail == fails.end()) return 0;
    for (const auto& a : acks) {
      if (a.second > *fail) return a.second - t;
    }
    return -1;
  }
};

double WallNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// One pk_seq_client writer running in the client namespace until Stop().
class Writer {
 public:
  // `extra`: more pk_seq_client options for every run (e.g. --chap-file).
  Writer(const HaLab& lab, std::string tool, std::string url, std::string dir, std::string name,
         std::vector<std::string> extra = {})
      : lab_(lab), tool_(std::move(tool)), url_(std::move(url)), journal_(dir + "/" + name + ".journal"),
        stop_file_(dir + "/" + name + ".stop"), extra_(std::move(extra)) {
    std::filesystem::remove(journal_);
    std::filesystem::remove(stop_file_);
    thread_ = std::thread([this] {
      result_ = lab_.Client(WithExtra({tool_, "write", url_, "--journal", journal_, "--stop-file", stop_file_,
                                       "--timeout", "3", "--give-up", "150"}),
                            600s);
    });
  }
  ~Writer() { Stop(); }
  void Stop() {
    if (!thread_.joinable()) return;
    std::ofstream(stop_file_).put('\n');
    thread_.join();
  }
  Journal journal() const { return Journal::Read(journal_); }
  const sys::ProcessResult& result() const { return result_; }  // after Stop()
  sys::ProcessResult Verify() const {
    return lab_.Client(WithExtra({tool_, "verify", url_, "--journal", journal_}), 120s);
  }
  // A verify without the extra options (e.g. without CHAP).
  sys::ProcessResult VerifyWithoutExtra() const {
    return lab_.Client({tool_, "verify", url_, "--journal", journal_}, 120s);
  }

 private:
  std::vector<std::string> WithExtra(std::vector<std::string> argv) const {
    argv.insert(argv.end(), extra_.begin(), extra_.end());
    return argv;
  }

  const HaLab& lab_;
  std::string tool_, url_, journal_, stop_file_;
  std::vector<std::string> extra_;
  sys::ProcessResult result_;
  std::thread thread_;
};

class ClientFailoverTest : public HaPoolTest {
 protected:
  void SetUp() override {
    HaPoolTest::SetUp();
    if (IsSkipped() || pool_.empty()) return;
    tool_ = std::filesystem::absolute(Env("PK_BUILD_DIR", "build") + "/tests/tools/pk_seq_client").string();
    if (::access(tool_.c_str(), X_OK) != 0) GTEST_SKIP() << tool_ << " is not built";
    work_ = lab_.dir() + "/client/" + pool_;
    std::filesystem::create_directories(work_);
    iqn_ = "iqn.2026-12.org.poolkeeper.lab:" + pool_;
  }

  void TearDown() override {
    iscsi_.reset();
    nfs_.reset();
    HaPoolTest::TearDown();
    if (!work_.empty()) std::filesystem::remove_all(work_);
  }

  // The shares, defined in the pool while h1 has it imported; then exported
  // through h1's poolkeeperd (shares first).
  void BeforeExport() override {
    for (const char* fs : {"lun", "nfs"}) {
      auto c = lab_.Exec("h1", {"zfs", "create", pool_ + "/" + fs});
      EXPECT_TRUE(c.status.Success()) << Describe(c);
    }
    // Made with zpool create on h1: adopted there before its shares are
    // defined (issue 17 item 6); the cluster's heads then serve it as theirs.
    auto adopted = lab_.Pk("h1", {"pool", "adopt", pool_, "--yes"});
    EXPECT_TRUE(adopted.status.Success()) << Describe(adopted);
    // With CHAP: its secret lives in the pool (issue 17 item 5), so the head
    // that takes the pool over serves the same account.
    auto lun = lab_.Pk("h1", {"share", "create", "iscsi", pool_ + "/lun", "--size", lun_size_, "--iqn", iqn_,
                              "--chap-user", kChapUser, "--chap-secret-stdin"},
                       200s, std::string(kChapSecret) + "\n");
    EXPECT_TRUE(lun.status.Success()) << Describe(lun);
    auto nfs = lab_.Pk("h1", {"share", "create", "nfs", pool_ + "/nfs", "--client", "10.88.0.0/24(rw,no_root_squash)"});
    EXPECT_TRUE(nfs.status.Success()) << Describe(nfs);
    auto exported = lab_.Pk("h1", {"pool", "export", pool_});
    EXPECT_TRUE(exported.status.Success()) << Describe(exported);
  }

  std::string IscsiUrl() const { return fmt::format("iscsi://{}/{}/1", kVip, iqn_); }
  std::string ChapFile() const { return work_ + "/iscsi.chap"; }
  static constexpr const char* kChapUser = "pkha";
  static constexpr const char* kChapSecret = "ha-secret-1234";
  std::string NfsUrl() const {
    return fmt::format("nfs://{}{}/nfs/seq.bin?mountport=20048&nfsport=2049&version=3", kVip, mountpoint());
  }

  // Both writers running and acknowledged through h1.
  void StartWriters() {
    auto vip_deadline = Clock::now() + 60s;
    while (!HasVip("h1") && Clock::now() < vip_deadline) std::this_thread::sleep_for(200ms);
    ASSERT_TRUE(HasVip("h1")) << "the floating IP is not on h1";
    std::ofstream(ChapFile()) << kChapUser << "\n" << kChapSecret << "\n";
    iscsi_ = std::make_unique<Writer>(lab_, tool_, IscsiUrl(), work_, "iscsi",
                                      std::vector<std::string>{"--chap-file", ChapFile()});
    nfs_ = std::make_unique<Writer>(lab_, tool_, NfsUrl(), work_, "nfs");
    auto deadline = Clock::now() + 60s;
    while ((iscsi_->journal().acks.size() < 20 || nfs_->journal().acks.size() < 20) && Clock::now() < deadline) {
      std::this_thread::sleep_for(200ms);
    }
    ASSERT_GE(iscsi_->journal().acks.size(), 20u) << "iSCSI writer: " << Describe(iscsi_->result());
    ASSERT_GE(nfs_->journal().acks.size(), 20u) << "NFS writer: " << Describe(nfs_->result());
  }

  // Waits until both writers reconnected after `t0` and wrote 20 more records.
  void WaitClientsBack(double t0) {
    auto deadline = Clock::now() + 150s;
    auto back = [&](const Writer& w) {
      Journal j = w.journal();
      if (!j.ReconnectedAfter(t0)) return false;
      return j.AcksAfter(j.connects.back().first) >= 20;
    };
    while (!(back(*iscsi_) && back(*nfs_)) && Clock::now() < deadline) std::this_thread::sleep_for(200ms);
    EXPECT_TRUE(back(*iscsi_)) << "the iSCSI client did not come back through " << kVip;
    EXPECT_TRUE(back(*nfs_)) << "the NFS client did not come back through " << kVip;
  }

  // Stops the writers; every acknowledged record reads back through the
  // floating IP; the LU kept its identity; prints the outages.
  void StopAndVerify(double t0, const std::string& what) {
    iscsi_->Stop();
    nfs_->Stop();
    for (const auto* w : {iscsi_.get(), nfs_.get()}) {
      EXPECT_TRUE(w->result().status.Success()) << Describe(w->result());
      auto v = w->Verify();
      EXPECT_TRUE(v.status.Success()) << Describe(v);
      std::printf("%s", v.out.c_str());
    }
    // The head serving the pool now still asks for CHAP: no login without it.
    auto anonymous = iscsi_->VerifyWithoutExtra();
    EXPECT_FALSE(anonymous.status.Success()) << "a login without CHAP was let in\n" << Describe(anonymous);
    EXPECT_NE(anonymous.err.find("login"), std::string::npos) << Describe(anonymous);
    Journal ji = iscsi_->journal(), jn = nfs_->journal();
    ASSERT_GE(ji.connects.size(), 2u);
    for (const auto& c : ji.connects) EXPECT_EQ(c.second, ji.connects.front().second) << "the LU's identity changed";
    EXPECT_NE(ji.connects.front().second.find("naa=0x6"), std::string::npos) << ji.connects.front().second;
    ASSERT_GE(jn.connects.size(), 2u);
    const bool same_fh = jn.connects.back().second == jn.connects.front().second;
    std::printf("%s: iSCSI %zu records acknowledged, %zu failed attempts, outage ended %.2f s after t0; LU %s\n",
                what.c_str(), ji.acks.size(), ji.fails.size(), ji.OutageEnd(t0), ji.connects.front().second.c_str());
    std::printf("%s: NFS %zu records acknowledged, %zu failed attempts, outage ended %.2f s after t0; file handle %s "
                "after the move (%s -> %s)\n",
                what.c_str(), jn.acks.size(), jn.fails.size(), jn.OutageEnd(t0),
                same_fh ? "unchanged" : "CHANGED", jn.connects.front().second.c_str(), jn.connects.back().second.c_str());
    RecordProperty("nfs_handle_survives", same_fh ? "yes" : "no");
  }

  // Nothing of the pool is left on `head`: not imported, no tgt target, no
  // NFS export, no floating IP.
  void ExpectNothingLeftOn(const std::string& head) {
    EXPECT_EQ(lab_.ImportedGuid(head, pool_), "");
    EXPECT_FALSE(HasVip(head)) << head << " still has " << kVip;
    auto targets = lab_.Exec(head, {"tgtadm", "-C", "20", "--lld", "iscsi", "--mode", "target", "--op", "show"});
    EXPECT_EQ(targets.out.find(iqn_), std::string::npos) << head << " still has the target: " << targets.out;
    auto exports = lab_.Exec(head, {"showmount", "--no-headers", "-e", "127.0.0.1"}, 20s);
    EXPECT_EQ(exports.out.find(mountpoint()), std::string::npos) << head << " still exports: " << exports.out;
    auto shares = lab_.Pk(head, {"--json", "share", "list"});
    EXPECT_EQ(shares.out.find(pool_), std::string::npos) << head << " still lists shares: " << shares.out;
  }

  std::string tool_, work_, iqn_;
  std::string lun_size_ = "32M";  // set before StartPoolOnH1
  std::unique_ptr<Writer> iscsi_, nfs_;
};

class ClientUnplannedTest : public ClientFailoverTest, public ::testing::WithParamInterface<Scenario> {};

// kill / poweroff of the owner: h2 fences h1 and takes the pool, its target
// (same IQN and LU identity), its export and the floating IP; both clients
// reconnect and lose no acknowledged write.
TEST_P(ClientUnplannedTest, ClientsReconnectThroughTheFloatingIpAndLoseNoAcknowledgedWrite) {
  const Scenario& sc = GetParam();
  const std::string guid = StartPoolOnH1();
  ASSERT_FALSE(guid.empty());
  ASSERT_NO_FATAL_FAILURE(StartWriters());
  GuidWatcher watcher(lab_, pool_);
  const size_t fence_log_before = FenceLog().size();
  const double t0 = WallNow();
  auto failed = lab_.Lab({sc.action, "h1"});
  ASSERT_TRUE(failed.status.Success()) << Describe(failed);
  WaitServedBy(sc.survivor, sc.fenced, guid, Clock::now() + 120s);
  WaitClientsBack(t0);
  watcher.Stop();
  ExpectOneOwner(sc.survivor, sc.fenced, guid, watcher, fence_log_before);
  EXPECT_TRUE(HasVip(sc.survivor)) << kVip << " is not on " << sc.survivor;
  EXPECT_EQ(lab_.RunningOn(sc.survivor, group_ + "-vip1"), sc.survivor);
  StopAndVerify(t0, std::string(sc.action) + " h1");
}

INSTANTIATE_TEST_SUITE_P(Failures, ClientUnplannedTest,
                         ::testing::Values(Scenario{"Kill", "kill", "h2", "h1"},
                                           Scenario{"PowerOff", "poweroff", "h2", "h1"}),
                         [](const ::testing::TestParamInfo<Scenario>& info) { return std::string(info.param.name); });

// The planned moves of `poolkeeper cluster`, with both writers running across
// all of them: takeover h1 -> h2, failback (h2 -> h1), standby h1 (-> h2),
// unstandby h1 (nothing moves), standby h2 (-> h1: h1 runs pools again),
// unstandby h2. Each command is run on one head or the other. After each
// move the new head serves the pool (its GUID, the floating IP, Pacemaker and
// `cluster status` agree), the head it left holds nothing of it (not
// imported, no target, no export, no IP), both clients came back through the
// floating IP to the same IQN and LU (serial, NAA), and every record
// acknowledged so far reads back; a watcher never sees the pool on both heads.
TEST_F(ClientFailoverTest, PlannedTakeoverFailbackStandbyLoseNoAcknowledgedWriteAndLeaveNothingBehind) {
  lun_size_ = "64M";  // room for the records of five moves
  const std::string guid = StartPoolOnH1();
  ASSERT_FALSE(guid.empty());
  ASSERT_NO_FATAL_FAILURE(StartWriters());
  GuidWatcher watcher(lab_, pool_);
  struct Step {
    std::string on;                 // the head the command runs on
    std::vector<std::string> args;  // after `poolkeeper cluster`
    std::string from, to;           // from == to: nothing moves
  };
  const Step steps[] = {
      {"h1", {"takeover", pool_, "--to", "h2"}, "h1", "h2"},
      {"h2", {"failback"}, "h2", "h1"},
      {"h2", {"standby", "h1"}, "h1", "h2"},
      {"h1", {"unstandby", "h1"}, "h2", "h2"},
      {"h1", {"standby", "h2"}, "h2", "h1"},
      {"h2", {"unstandby", "h2"}, "h1", "h1"},
  };
  const double first = WallNow();
  for (const auto& step : steps) {
    std::vector<std::string> args = {"cluster"};
    args.insert(args.end(), step.args.begin(), step.args.end());
    const std::string what = fmt::format("cluster {} (on {})", fmt::join(step.args, " "), step.on);
    const size_t reconnects_before = iscsi_->journal().connects.size();
    const double t0 = WallNow();
    auto r = lab_.Pk(step.on, args, 150s);
    ASSERT_TRUE(r.status.Success()) << what << ": " << Describe(r);
    std::printf("%s:\n%s", what.c_str(), r.out.c_str());
    const std::string& to = step.to;
    const std::string other = to == "h1" ? "h2" : "h1";
    auto deadline = Clock::now() + 60s;
    while (!(lab_.ServiceState(to, pool_) == "online" && HasVip(to)) && Clock::now() < deadline) {
      std::this_thread::sleep_for(200ms);
    }
    EXPECT_EQ(lab_.ServiceState(to, pool_), "online") << what;
    EXPECT_EQ(lab_.ImportedGuid(to, pool_), guid) << what;
    EXPECT_TRUE(HasVip(to)) << what << ": " << kVip << " is not on " << to;
    auto status = lab_.ClusterStatus(other);
    bool listed = false;
    for (const auto& p : status.value("pools", nlohmann::json::array())) {
      if (p.value("pool", "") != pool_) continue;
      listed = true;
      EXPECT_EQ(p.value("owners", std::vector<std::string>{}), std::vector<std::string>{to}) << what << ": " << p.dump();
      EXPECT_EQ(p.value("role", ""), "Started") << what << ": " << p.dump();
      // What an admin reads there besides: the group, its floating IP, the
      // preferred head; a takeover leaves no pin (stickiness keeps the pool).
      EXPECT_EQ(p.value("group", ""), group_) << what;
      EXPECT_EQ(p.value("vips", std::vector<std::string>{}), std::vector<std::string>{std::string(kVip) + "/24"}) << what;
      EXPECT_EQ(p.value("preferred_head", ""), "h1") << what;
      EXPECT_EQ(p.value("moved_to", ""), "") << what << ": " << p.dump();
    }
    EXPECT_TRUE(listed) << what << ": cluster status: " << status.dump();
    if (step.args[0] == "takeover") {
      auto text = lab_.Pk(other, {"cluster", "status"}, 30s);
      EXPECT_NE(text.out.find("h1 (away: on h2)"), std::string::npos) << text.out;
      EXPECT_NE(text.out.find(std::string(kVip) + "/24"), std::string::npos) << text.out;
      std::printf("%s", text.out.c_str());
    }
    if (step.from != step.to) {
      WaitClientsBack(t0);
      ExpectNothingLeftOn(step.from);
    } else {
      // Nothing moved: the clients kept their connections and kept writing.
      std::this_thread::sleep_for(2s);
      EXPECT_EQ(iscsi_->journal().connects.size(), reconnects_before) << what << " moved the pool";
      EXPECT_GE(iscsi_->journal().AcksAfter(t0), 20u) << what;
      EXPECT_GE(nfs_->journal().AcksAfter(t0), 20u) << what;
    }
    // Every record acknowledged so far reads back through the floating IP.
    for (const auto* w : {iscsi_.get(), nfs_.get()}) {
      auto v = w->Verify();
      EXPECT_TRUE(v.status.Success()) << what << ": " << Describe(v);
    }
    Journal ji = iscsi_->journal(), jn = nfs_->journal();
    for (const auto& c : ji.connects) EXPECT_EQ(c.second, ji.connects.front().second) << what << ": the LU's identity changed";
    std::printf("%s: pool on %s; outage iSCSI %.2f s, NFS %.2f s; %zu + %zu records acknowledged so far, all read back\n",
                what.c_str(), to.c_str(), ji.OutageEnd(t0), jn.OutageEnd(t0), ji.acks.size(), jn.acks.size());
    if (::testing::Test::HasFatalFailure()) break;
  }
  watcher.Stop();
  auto both = watcher.both();
  EXPECT_TRUE(both.empty()) << "imported on both heads: " << both.front();
  std::printf("watcher: %d rounds polling both heads, pool never imported on both\n", watcher.rounds());
  StopAndVerify(first, "planned moves");
}

}  // namespace
}  // namespace pk
