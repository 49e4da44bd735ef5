// `poolkeeper cluster ...` in the HA lab (issue 5), from a bare lab
// (`scripts/lab ha up --bare`: heads with zfs-fuse and poolkeeperd, no
// cluster): init on h1, join on h2, fence devices, then pools as resource
// groups with a floating IP moved by takeover, failback, standby, with
// maintenance on and off and pool remove; active-active with a head powered
// off; and bad input, each refusal leaving the CIB and corosync.conf as they
// were. Every placement is read from crm_mon XML (`poolkeeper --json cluster
// status`) and checked on the heads: the pool imported (by GUID) on exactly
// one head, its VIP on that head only, nothing of it left on the other.
//
// The tests run in order and build on each other (the cluster formed by the
// first is used by the rest).
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cluster/cib.h"
#include "tests/ha/ha_lab.h"

namespace pk {
namespace {

using Clock = std::chrono::steady_clock;
const std::vector<std::string> kHeads = {"h1", "h2"};

class ClusterCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access("/usr/sbin/corosync", X_OK) != 0 || ::access("/usr/sbin/pacemakerd", X_OK) != 0) {
      GTEST_SKIP() << "corosync/pacemaker not installed: the cluster stack cannot run (scripts/deps)";
    }
    if (::geteuid() != 0) GTEST_SKIP() << "the HA lab needs root";
    if (!std::filesystem::exists(lab_.dir() + "/bare")) {
      GTEST_SKIP() << "the HA lab is not up bare ('scripts/lab ha up --bare') in " << lab_.dir();
    }
  }

  sys::ProcessResult Pk(const std::string& head, std::vector<std::string> args, std::chrono::milliseconds t = 200s) const {
    return lab_.Pk(head, std::move(args), t);
  }
  nlohmann::json Status(const std::string& head) const { return lab_.ClusterStatus(head); }
  // The pool's owners according to crm_mon, asked on `head`.
  std::vector<std::string> Owners(const std::string& head, const std::string& pool) const {
    auto s = Status(head);
    for (const auto& p : s.value("pools", nlohmann::json::array())) {
      if (p.value("pool", "") == pool && p.value("active", false)) return p.value("owners", std::vector<std::string>{});
    }
    return {};
  }
  bool HasAddress(const std::string& head, const std::string& ip) const {
    auto r = lab_.Exec(head, {"ip", "-o", "addr", "show"}, 20s);
    return r.out.find(" " + ip + "/") != std::string::npos;
  }
  // Whether the head's poolkeeperd has the pool's service up (a service the
  // agent stopped stays listed, disabled).
  bool Serving(const std::string& head, const std::string& pool) const {
    std::string state = lab_.ServiceState(head, pool);
    return !(state.empty() || state == "disabled" || state == "exported" || state == "stopped");
  }
  bool Mounted(const std::string& head, const std::string& pool) const {
    return lab_.Exec(head, {"findmnt", "-rn", lab_.dir() + "/mnt/" + pool}, 20s).status.Success();
  }
  std::string Config(const std::string& head) const {
    return cluster::StableConfiguration(lab_.Exec(head, {"cibadmin", "--query"}, 30s).out);
  }
  std::string CorosyncConf(const std::string& head) const {
    std::ifstream in(lab_.dir() + "/heads/" + head + "/etc/corosync/corosync.conf");
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }

  // Waits until crm_mon says `pool` runs on `head` only; then checks the
  // heads: imported with `guid` and holding `vip` there, nothing on the others.
  void ExpectServedBy(const std::string& head, const std::string& pool, const std::string& guid, const std::string& vip,
                      std::chrono::seconds wait = 90s) {
    auto deadline = Clock::now() + wait;
    while (Owners(head, pool) != std::vector<std::string>{head} && Clock::now() < deadline) std::this_thread::sleep_for(500ms);
    EXPECT_EQ(Owners(head, pool), std::vector<std::string>{head})
        << pool << "\n" << Pk(head, {"cluster", "status"}, 30s).out
        << lab_.Exec(head, {"crm_mon", "-1", "--include=failcounts"}, 30s).out;
    for (const auto& h : kHeads) {
      bool here = h == head;
      EXPECT_EQ(lab_.ImportedGuid(h, pool), here ? guid : "") << pool << " on " << h;
      EXPECT_EQ(HasAddress(h, vip), here) << vip << " on " << h;
      EXPECT_EQ(Serving(h, pool), here) << pool << " as a service on " << h;
      EXPECT_EQ(Mounted(h, pool), here) << pool << " mounted on " << h;
    }
  }

  // A pool on two shared disks, created on h1 and exported. Returns its GUID.
  std::string MakePool(const std::string& pool, int first_disk) {
    const std::string disks = lab_.dir() + "/disks";
    std::vector<std::string> files;
    for (int i = first_disk; i < first_disk + 2; ++i) {
      files.push_back(fmt::format("{}/{}-{}.img", disks, pool, i));
      std::filesystem::remove(files.back());
      EXPECT_TRUE(lab_.Exec("h1", {"truncate", "-s", "256M", files.back()}).status.Success());
    }
    auto created = lab_.Exec("h1", {"zpool", "create", "-m", lab_.dir() + "/mnt/" + pool, pool, "mirror", files[0], files[1]});
    EXPECT_TRUE(created.status.Success()) << Describe(created);
    std::string guid = lab_.ImportedGuid("h1", pool);
    EXPECT_TRUE(lab_.Exec("h1", {"zpool", "export", pool}).status.Success());
    return guid;
  }

  HaLab lab_;
};

// Shared by the tests that follow the first.
std::string g_tank_guid;

TEST_F(ClusterCliTest, A_InitOnH1JoinOnH2AndFencing) {
  auto init = Pk("h1", {"cluster", "init", "--name", "pkcli", "--head", "h1=10.88.0.11", "--head", "h2=10.88.0.12",
                        "--bundle", lab_.dir() + "/join.json"});
  ASSERT_TRUE(init.status.Success()) << Describe(init);
  std::cout << init.out;
  EXPECT_NE(init.out.find("wrote /etc/corosync/corosync.conf"), std::string::npos);
  EXPECT_NE(CorosyncConf("h1").find("two_node: 1"), std::string::npos);

  // Init again: refused, corosync.conf untouched.
  const std::string conf = CorosyncConf("h1");
  auto again = Pk("h1", {"cluster", "init", "--name", "other", "--head", "h1=10.88.0.11", "--head", "h2=10.88.0.12"});
  EXPECT_EQ(again.status.code, 1) << Describe(again);
  EXPECT_NE(again.err.find("this head is already initialised"), std::string::npos) << again.err;
  EXPECT_EQ(CorosyncConf("h1"), conf);

  auto join = Pk("h2", {"cluster", "join", lab_.dir() + "/join.json"});
  ASSERT_TRUE(join.status.Success()) << Describe(join);
  std::cout << join.out;
  EXPECT_EQ(CorosyncConf("h2"), conf);
  auto rejoin = Pk("h2", {"cluster", "join", lab_.dir() + "/join.json"});
  EXPECT_EQ(rejoin.status.code, 1) << Describe(rejoin);
  EXPECT_NE(rejoin.err.find("already initialised"), std::string::npos) << rejoin.err;

  // Quorum with both heads.
  auto deadline = Clock::now() + 90s;
  while (!Status("h1").value("quorum", false) && Clock::now() < deadline) std::this_thread::sleep_for(500ms);
  ASSERT_TRUE(Status("h1").value("quorum", false)) << Status("h1").dump();

  const std::string cib = Config("h1");
  auto unknown = Pk("h1", {"cluster", "fence", "add", "h9", "--agent", "pkha"});
  EXPECT_EQ(unknown.status.code, 3) << Describe(unknown);
  EXPECT_NE(unknown.err.find("head 'h9' is not in the cluster (heads: h1, h2)"), std::string::npos) << unknown.err;
  auto ipmi = Pk("h1", {"cluster", "fence", "add", "h1", "--ip", "10.88.0.201", "--username", "admin", "--password-stdin"});
  EXPECT_NE(ipmi.status.code, 0);
  EXPECT_EQ(Config("h1"), cib);

  // Fencing from either head: h1's device from h2, h2's from h1.
  auto f1 = Pk("h2", {"cluster", "fence", "add", "h1", "--agent", "pkha"});
  ASSERT_TRUE(f1.status.Success()) << Describe(f1);
  EXPECT_NE(f1.out.find("fencing h1 waits 2 s"), std::string::npos) << f1.out;
  auto f2 = Pk("h1", {"cluster", "fence", "add", "h2", "--agent", "pkha"});
  ASSERT_TRUE(f2.status.Success()) << Describe(f2);
  std::cout << f1.out << f2.out;
  auto s = Status("h1");
  EXPECT_TRUE(s.value("fencing_enabled", false)) << s.dump();
}

TEST_F(ClusterCliTest, B_PoolAddTakeoverFailbackStandbyMaintenanceRemove) {
  g_tank_guid = MakePool("clitank", 0);
  ASSERT_FALSE(g_tank_guid.empty());
  auto add = Pk("h2", {"cluster", "pool", "add", "clitank", "--vip", "10.88.0.50/24", "--prefer", "h1", "-d",
                       lab_.dir() + "/disks"});
  ASSERT_TRUE(add.status.Success()) << Describe(add);
  std::cout << add.out;
  ExpectServedBy("h1", "clitank", g_tank_guid, "10.88.0.50");

  auto t0 = Clock::now();
  auto take = Pk("h1", {"cluster", "takeover", "clitank", "--to", "h2"});
  ASSERT_TRUE(take.status.Success()) << Describe(take);
  std::cout << take.out << fmt::format("takeover (command) took {:.1f} s\n", std::chrono::duration<double>(Clock::now() - t0).count());
  ExpectServedBy("h2", "clitank", g_tank_guid, "10.88.0.50");

  auto back = Pk("h2", {"cluster", "failback"});
  ASSERT_TRUE(back.status.Success()) << Describe(back);
  std::cout << back.out;
  ExpectServedBy("h1", "clitank", g_tank_guid, "10.88.0.50");
  EXPECT_EQ(lab_.Exec("h1", {"cibadmin", "--query", "--scope", "constraints"}).out.find("cli-"), std::string::npos);

  auto standby = Pk("h2", {"cluster", "standby", "h1"});
  ASSERT_TRUE(standby.status.Success()) << Describe(standby);
  std::cout << standby.out;
  ExpectServedBy("h2", "clitank", g_tank_guid, "10.88.0.50");
  auto unstandby = Pk("h1", {"cluster", "unstandby", "h1"});
  ASSERT_TRUE(unstandby.status.Success()) << Describe(unstandby);
  std::this_thread::sleep_for(3s);  // pools stay where they are: nothing should move
  ExpectServedBy("h2", "clitank", g_tank_guid, "10.88.0.50", 5s);

  auto on = Pk("h1", {"cluster", "maintenance", "on"});
  ASSERT_TRUE(on.status.Success()) << Describe(on);
  EXPECT_TRUE(Status("h1").value("maintenance", false));
  auto off = Pk("h2", {"cluster", "maintenance", "off"});
  ASSERT_TRUE(off.status.Success()) << Describe(off);
  EXPECT_FALSE(Status("h1").value("maintenance", true));
  ExpectServedBy("h2", "clitank", g_tank_guid, "10.88.0.50");
  ASSERT_TRUE(Pk("h1", {"cluster", "failback"}).status.Success());
  ExpectServedBy("h1", "clitank", g_tank_guid, "10.88.0.50");
}

TEST_F(ClusterCliTest, C_BadInputLeavesTheClusterConfigurationUnchanged) {
  ASSERT_FALSE(g_tank_guid.empty()) << "needs the pool of the previous test";
  const std::string cib = Config("h1");
  const std::string conf = CorosyncConf("h1");
  struct Case {
    std::string head;
    std::vector<std::string> args;
    int code;
    std::string words;
  } cases[] = {
      {"h1", {"takeover", "nosuch"}, 3, "takeover 'nosuch': the pool is not in the cluster"},
      {"h1", {"takeover", "clitank", "--to", "h9"}, 3, "head 'h9' is not in the cluster (heads: h1, h2)"},
      {"h2", {"pool", "remove", "nosuch"}, 3, "pool remove 'nosuch': the pool is not in the cluster"},
      {"h1", {"standby", "h9"}, 3, "head 'h9' is not in the cluster"},
      {"h1", {"pool", "add", "clitwo", "--vip", "10.88.0.300/24"}, 2, "VIP '10.88.0.300/24': '10.88.0.300' is not an IPv4 or IPv6 address"},
      {"h1", {"pool", "add", "clitwo", "--vip", "10.88.0.51"}, 2, "has no prefix length"},
      {"h1", {"pool", "add", "clitwo", "--vip", "10.88.0.50/24"}, 1, "VIP 10.88.0.50 is already configured as resource pool-clitank-vip1"},
      {"h1", {"pool", "add", "clitwo", "--vip", "10.88.0.100/24"}, 1, "VIP 10.88.0.100 answers on the network"},
      {"h2", {"pool", "add", "clitwo", "--vip", "10.88.0.12/24"}, 1, "VIP 10.88.0.12 is already an address of this head"},
      {"h1", {"pool", "add", "clitwo", "--vip", "10.88.0.51/24", "--prefer", "h9"}, 3, "head 'h9' is not in the cluster"},
      {"h1", {"pool", "add", "clitank", "--vip", "10.88.0.51/24"}, 1, "already in the cluster as pool-clitank"},
      {"h1", {"pool", "add", "bad/name", "--vip", "10.88.0.51/24"}, 2, "bad/name"},
      {"h1", {"pool", "add", "nosuch", "--vip", "10.88.0.52/24", "-d", lab_.dir() + "/disks"}, 3,
       "no pool 'nosuch' is imported on this head or importable from"},
      {"h1", {"init", "--name", "x", "--head", "h1=10.88.0.11", "--head", "h2=10.88.0.12"}, 1, "already initialised"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args = {"cluster"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    auto r = Pk(c.head, args, 60s);
    EXPECT_EQ(r.status.code, c.code) << fmt::format("{}: {}", fmt::join(c.args, " "), Describe(r));
    EXPECT_NE(r.err.find(c.words), std::string::npos) << fmt::format("{}: {}", fmt::join(c.args, " "), r.err);
    EXPECT_EQ(Config("h1"), cib) << fmt::format("{} changed the CIB", fmt::join(c.args, " "));
  }
  // Takeover to a head in standby (h2 runs nothing, so its standby moves nothing).
  ASSERT_TRUE(Pk("h1", {"cluster", "standby", "h2"}).status.Success());
  const std::string standby_cib = Config("h1");
  auto to_standby = Pk("h1", {"cluster", "takeover", "clitank", "--to", "h2"}, 60s);
  EXPECT_EQ(to_standby.status.code, 1) << Describe(to_standby);
  EXPECT_NE(to_standby.err.find("head h2 is in standby and cannot take the pool; nothing changed"), std::string::npos)
      << to_standby.err;
  auto last = Pk("h2", {"cluster", "standby", "h1"}, 60s);
  EXPECT_EQ(last.status.code, 1) << Describe(last);
  EXPECT_NE(last.err.find("no other head can take its pools"), std::string::npos) << last.err;
  EXPECT_EQ(Config("h1"), standby_cib);
  ASSERT_TRUE(Pk("h1", {"cluster", "unstandby", "h2"}).status.Success());
  EXPECT_EQ(CorosyncConf("h1"), conf);
  ExpectServedBy("h1", "clitank", g_tank_guid, "10.88.0.50", 10s);
}

TEST_F(ClusterCliTest, D_ActiveActiveAndAHeadPoweredOff) {
  ASSERT_FALSE(g_tank_guid.empty()) << "needs the pool of the earlier tests";
  const std::string two_guid = MakePool("clitwo", 0);
  ASSERT_FALSE(two_guid.empty());
  auto add = Pk("h1", {"cluster", "pool", "add", "clitwo", "--vip", "10.88.0.51/24", "--prefer", "h2", "-d",
                       lab_.dir() + "/disks"});
  ASSERT_TRUE(add.status.Success()) << Describe(add);
  std::cout << add.out;
  ExpectServedBy("h1", "clitank", g_tank_guid, "10.88.0.50");
  ExpectServedBy("h2", "clitwo", two_guid, "10.88.0.51");

  // h1 dies: h2 fences it and carries both.
  auto t0 = Clock::now();
  ASSERT_TRUE(lab_.Lab({"poweroff", "h1"}).status.Success());
  auto deadline = Clock::now() + 120s;
  // The group's IP starts after its pool: wait for both.
  while ((Owners("h2", "clitank") != std::vector<std::string>{"h2"} || !HasAddress("h2", "10.88.0.50")) &&
         Clock::now() < deadline) {
    std::this_thread::sleep_for(500ms);
  }
  std::cout << fmt::format("h1 powered off: h2 serves clitank after {:.1f} s\n",
                           std::chrono::duration<double>(Clock::now() - t0).count());
  EXPECT_EQ(Owners("h2", "clitank"), std::vector<std::string>{"h2"});
  EXPECT_EQ(Owners("h2", "clitwo"), std::vector<std::string>{"h2"});
  EXPECT_EQ(lab_.ImportedGuid("h2", "clitank"), g_tank_guid);
  EXPECT_EQ(lab_.ImportedGuid("h2", "clitwo"), two_guid);
  EXPECT_TRUE(HasAddress("h2", "10.88.0.50"));
  EXPECT_TRUE(HasAddress("h2", "10.88.0.51"));
  // Takeover to the dead head is refused.
  auto to_dead = Pk("h2", {"cluster", "takeover", "clitank", "--to", "h1"}, 60s);
  EXPECT_EQ(to_dead.status.code, 1) << Describe(to_dead);
  EXPECT_NE(to_dead.err.find("head h1 is offline"), std::string::npos) << to_dead.err;

  // h1 comes back (its corosync.conf kept): it rejoins, runs nothing until failback.
  auto booted = lab_.Lab({"boot", "h1"}, 120s);
  ASSERT_TRUE(booted.status.Success()) << Describe(booted);
  deadline = Clock::now() + 120s;
  auto online = [&] {
    for (const auto& h : Status("h2").value("heads", nlohmann::json::array())) {
      if (h.value("name", "") == "h1") return h.value("online", false);
    }
    return false;
  };
  while (!online() && Clock::now() < deadline) std::this_thread::sleep_for(500ms);
  ASSERT_TRUE(online()) << Status("h2").dump();
  auto back = Pk("h1", {"cluster", "failback"});
  ASSERT_TRUE(back.status.Success()) << Describe(back);
  std::cout << back.out;
  ExpectServedBy("h1", "clitank", g_tank_guid, "10.88.0.50");
  ExpectServedBy("h2", "clitwo", two_guid, "10.88.0.51");

  for (const char* pool : {"clitwo", "clitank"}) {
    auto rm = Pk("h2", {"cluster", "pool", "remove", pool});
    EXPECT_TRUE(rm.status.Success()) << Describe(rm);
    std::cout << rm.out;
    for (const auto& h : kHeads) {
      EXPECT_EQ(lab_.ImportedGuid(h, pool), "") << pool << " on " << h;
      EXPECT_FALSE(Serving(h, pool)) << pool << " on " << h;
      EXPECT_FALSE(Mounted(h, pool)) << pool << " on " << h;
    }
  }
  EXPECT_FALSE(HasAddress("h1", "10.88.0.50"));
  EXPECT_FALSE(HasAddress("h2", "10.88.0.51"));
  auto cfg = cluster::ParseCibConfig(lab_.Exec("h1", {"cibadmin", "--query", "--scope", "configuration"}).out);
  ASSERT_TRUE(cfg);
  EXPECT_TRUE(cfg->pools.empty());
}

}  // namespace
}  // namespace pk
