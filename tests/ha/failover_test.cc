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
#include <mutex>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "sys/process_runner.h"

namespace pk {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string Env(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

class HaLab {
 public:
  HaLab()
      : runner_(sys::MakePosixProcessRunner()),
        lab_(Env("PK_HA_LAB_DIR", "/var/tmp/pk-ha-lab")),
        script_(Env("PK_SOURCE_DIR", ".") + "/scripts/lab") {}

  const std::string& dir() const { return lab_; }

  sys::ProcessResult Lab(std::vector<std::string> args, std::chrono::milliseconds timeout = 120s) const {
    sys::Command c;
    c.program = script_;
    c.args = {"ha"};
    c.args.insert(c.args.end(), args.begin(), args.end());
    c.env = sys::DefaultToolEnvironment();
    c.env.push_back("PK_HA_LAB_DIR=" + lab_);
    c.env.push_back("PK_HA_BIN_DIR=" + Env("PK_HA_BIN_DIR", Env("PK_BUILD_DIR", "build") + "/src"));
    c.timeout = timeout;
    auto r = runner_->Run(c);
    if (!r) {
      sys::ProcessResult failed;
      failed.status.code = 127;
      failed.err = r.error().message();
      return failed;
    }
    return *r;
  }
  sys::ProcessResult Exec(const std::string& head, std::vector<std::string> argv,
                          std::chrono::milliseconds timeout = 60s) const {
    argv.insert(argv.begin(), {"exec", head});
    return Lab(argv, timeout);
  }

  // GUID of `pool` if `head` has it imported, "" if not (or the head is off).
  std::string ImportedGuid(const std::string& head, const std::string& pool) const {
    auto r = Exec(head, {"zpool", "list", "-H", "-o", "name,guid", pool}, 20s);
    if (!r.status.Success()) return "";
    std::istringstream in(r.out);
    std::string name, guid;
    in >> name >> guid;
    return name == pool ? guid : "";
  }

  // The head Pacemaker reports `resource` started on, "" if none.
  std::string RunningOn(const std::string& from, const std::string& resource) const {
    auto r = Exec(from, {"crm_resource", "--locate", "--resource", resource}, 20s);
    auto at = r.out.find("is running on: ");
    if (!r.status.Success() || at == std::string::npos) return "";
    std::string rest = r.out.substr(at + 15);
    return rest.substr(0, rest.find_first_of(" \n"));
  }

  std::string ServiceState(const std::string& head, const std::string& pool) const {
    auto r = Exec(head, {lab_ + "/bin/poolkeeper", "--json", "service", "status", pool}, 20s);
    auto at = r.out.find("\"state\":\"");
    if (!r.status.Success() || at == std::string::npos) return "";
    return r.out.substr(at + 9, r.out.find('"', at + 9) - at - 9);
  }

 private:
  std::unique_ptr<sys::ProcessRunner> runner_;
  std::string lab_;
  std::string script_;
};

std::string Describe(const sys::ProcessResult& r) {
  return fmt::format("{}; stdout: {}; stderr: {}", r.status.ToString(), r.out, r.err);
}

struct Scenario {
  const char* name;
  const char* action;    // scripts/lab ha ACTION h1
  const char* survivor;  // the head that serves the pool afterwards
  const char* fenced;    // the head that must have been fenced
};

class FailoverTest : public ::testing::TestWithParam<Scenario> {
 protected:
  void SetUp() override {
    for (const char* tool : {"/usr/sbin/corosync", "/usr/sbin/pacemakerd", "/usr/sbin/crm_resource"}) {
      if (::access(tool, X_OK) != 0) GTEST_SKIP() << tool << " is not installed: the cluster stack cannot run (scripts/deps)";
    }
    if (::geteuid() != 0) GTEST_SKIP() << "the HA lab needs root";
    auto status = lab_.Lab({"status"});
    if (status.out.find("h1: off") != std::string::npos || status.out.find("Online: [ h1 h2 ]") == std::string::npos) {
      GTEST_SKIP() << "the HA lab is not up with both heads online ('scripts/lab ha up'): " << status.out << status.err;
    }
    pool_ = fmt::format("hafo{}", ::getpid() % 100000);
    resource_ = "pool-" + pool_;
  }

  void TearDown() override {
    if (pool_.empty()) return;
    // Whatever happened: no resource, no pool, both heads up for the next test.
    for (const char* head : {"h2", "h1"}) {
      auto r = lab_.Exec(head, {"crm_resource", "--resource", resource_, "--meta", "--set-parameter",
                                "target-role", "--parameter-value", "Stopped"}, 30s);
      if (!r.status.Success()) continue;
      auto deadline = Clock::now() + 60s;
      while (!lab_.RunningOn(head, resource_).empty() && Clock::now() < deadline) std::this_thread::sleep_for(300ms);
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

  HaLab lab_;
  std::string pool_;
  std::string resource_;
};

TEST_P(FailoverTest, OneHeadServesThePoolAfterwardsAndNeverBoth) {
  const Scenario& sc = GetParam();
  const std::string survivor = sc.survivor;
  const std::string fenced = sc.fenced;
  const std::string disks = lab_.dir() + "/disks";
  // A fresh pool on two shared disks, created on h1 and exported again.
  for (const char* d : {"d2.img", "d3.img"}) {
    std::filesystem::remove(disks + "/" + d);
    auto t = lab_.Exec("h1", {"truncate", "-s", "256M", disks + "/" + d});
    ASSERT_TRUE(t.status.Success()) << Describe(t);
  }
  auto created = lab_.Exec("h1", {"zpool", "create", "-m", lab_.dir() + "/mnt/" + pool_, pool_, "mirror",
                                  disks + "/d2.img", disks + "/d3.img"});
  ASSERT_TRUE(created.status.Success()) << Describe(created);
  const std::string guid = lab_.ImportedGuid("h1", pool_);
  ASSERT_FALSE(guid.empty());
  auto exported = lab_.Exec("h1", {"zpool", "export", pool_});
  ASSERT_TRUE(exported.status.Success()) << Describe(exported);

  // The Pacemaker resource, preferring h1.
  auto rsc = lab_.Exec("h1", {"cibadmin", "--create", "-o", "resources", "--xml-text", fmt::format(R"(
<primitive id="{0}" class="ocf" provider="poolkeeper" type="pool">
  <instance_attributes id="{0}-ia">
    <nvpair id="{0}-pool" name="pool" value="{1}"/>
    <nvpair id="{0}-dirs" name="search_dirs" value="{2}"/>
  </instance_attributes>
  <operations>
    <op id="{0}-start" name="start" interval="0" timeout="60s"/>
    <op id="{0}-stop" name="stop" interval="0" timeout="60s"/>
    <op id="{0}-monitor" name="monitor" interval="2s" timeout="20s"/>
  </operations>
</primitive>)", resource_, pool_, disks)});
  ASSERT_TRUE(rsc.status.Success()) << Describe(rsc);
  auto pref = lab_.Exec("h1", {"cibadmin", "--create", "-o", "constraints", "--xml-text",
                               fmt::format(R"(<rsc_location id="{0}-prefers-h1" rsc="{0}" node="h1" score="50"/>)", resource_)});
  ASSERT_TRUE(pref.status.Success()) << Describe(pref);

  auto deadline = Clock::now() + 90s;
  while (!(lab_.RunningOn("h1", resource_) == "h1" && lab_.ServiceState("h1", pool_) == "online") &&
         Clock::now() < deadline) {
    std::this_thread::sleep_for(300ms);
  }
  ASSERT_EQ(lab_.RunningOn("h1", resource_), "h1");
  ASSERT_EQ(lab_.ServiceState("h1", pool_), "online");
  ASSERT_EQ(lab_.ImportedGuid("h1", pool_), guid);
  ASSERT_EQ(lab_.ImportedGuid("h2", pool_), "");

  // The watcher: every round asks both heads which GUID they have imported.
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<std::string> both;  // guarded by mu
  int rounds = 0;                 // guarded by mu
  std::thread watcher([&] {
    while (!stop) {
      std::string a = lab_.ImportedGuid("h1", pool_);
      std::string b = lab_.ImportedGuid("h2", pool_);
      std::lock_guard lock(mu);
      ++rounds;
      if (!a.empty() && a == b) both.push_back(fmt::format("round {}: guid {} on h1 and h2", rounds, a));
    }
  });

  const size_t fence_log_before = lab_.Exec("h2", {"cat", lab_.dir() + "/fence.log"}).out.size();
  const auto t0 = Clock::now();
  auto failed = lab_.Lab({sc.action, "h1"});
  ASSERT_TRUE(failed.status.Success()) << Describe(failed);
  // Served by the survivor, and the other head powered off.
  auto done = [&] {
    return lab_.ServiceState(survivor, pool_) == "online" && lab_.ImportedGuid(survivor, pool_) == guid &&
           lab_.Lab({"status"}).out.find(fenced + ": off") != std::string::npos;
  };
  deadline = t0 + 120s;
  while (!done() && Clock::now() < deadline) std::this_thread::sleep_for(50ms);
  const auto t1 = Clock::now();
  // Keep watching a little after the takeover.
  std::this_thread::sleep_for(2s);
  stop = true;
  watcher.join();

  EXPECT_EQ(lab_.ServiceState(survivor, pool_), "online");
  EXPECT_EQ(lab_.ImportedGuid(survivor, pool_), guid);
  EXPECT_EQ(lab_.RunningOn(survivor, resource_), survivor);
  EXPECT_EQ(lab_.ImportedGuid(fenced, pool_), "") << "the fenced head still has the pool";
  EXPECT_NE(lab_.Lab({"status"}).out.find(fenced + ": off"), std::string::npos) << fenced << " was not powered off";
  {
    std::lock_guard lock(mu);
    EXPECT_TRUE(both.empty()) << "imported on both heads: " << both.front();
    EXPECT_GT(rounds, 3) << "the watcher hardly ran";
    std::printf("watcher: %d rounds polling both heads, pool never imported on both\n", rounds);
  }
  std::string fence_log;
  {
    auto r = lab_.Exec(survivor, {"cat", lab_.dir() + "/fence.log"});
    fence_log = r.out.substr(std::min(fence_log_before, r.out.size()));
  }
  EXPECT_NE(fence_log.find("fenced " + fenced), std::string::npos) << "fence log: " << fence_log;
  EXPECT_EQ(fence_log.find("fenced " + survivor), std::string::npos) << "both heads were fenced: " << fence_log;
  double seconds = std::chrono::duration<double>(t1 - t0).count();
  std::printf("%s h1: pool served by %s, %s powered off, after %.2f s\n", sc.action, survivor.c_str(), fenced.c_str(),
              seconds);
  RecordProperty("failover_seconds", fmt::format("{:.2f}", seconds));
}

INSTANTIATE_TEST_SUITE_P(Failures, FailoverTest,
                         ::testing::Values(Scenario{"Kill", "kill", "h2", "h1"},
                                           Scenario{"PowerOff", "poweroff", "h2", "h1"},
                                           Scenario{"Cut", "cut", "h1", "h2"}),
                         [](const ::testing::TestParamInfo<Scenario>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace pk
