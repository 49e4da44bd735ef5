// ClusterAdmin against a small simulated cluster: a FakeProcessRunner that
// answers crm_mon, cibadmin, crm_resource and crm_attribute from an
// in-memory CIB and placement, an in-memory FileSystem and head.
#include "cluster/admin.h"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "testing/fake_clock.h"
#include "testing/fake_process_runner.h"

namespace pk::cluster {
namespace {

using testing::FakeProcessRunner;

class MemFs : public sys::FileSystem {
 public:
  Result<std::string> ReadFile(const std::string& p) override {
    auto it = files.find(p);
    if (it == files.end()) return NotFound(fmt::format("read '{}': No such file or directory", p));
    return it->second;
  }
  Status WriteFileAtomic(const std::string& p, std::string_view c, mode_t) override {
    files[p] = std::string(c);
    return OkStatus();
  }
  Result<bool> Exists(const std::string& p) override { return files.contains(p); }
  Status MakeDirs(const std::string&, mode_t) override { return OkStatus(); }
  Status Remove(const std::string& p) override {
    if (!files.erase(p)) return NotFound(p);
    return OkStatus();
  }
  Status AppendDurably(const std::string&, std::string_view) override { return Internal("unused"); }
  Status CreateSparseFile(const std::string&, uint64_t, mode_t) override { return Internal("unused"); }
  Result<DeviceInfo> StatDevice(const std::string&) override { return Internal("unused"); }
  std::map<std::string, std::string> files;
};

class FakeHead : public HeadEnvironment {
 public:
  Result<std::vector<LocalAddress>> LocalAddresses() override { return addresses; }
  Result<bool> AddressAnswers(const std::string& a) override { return answering.contains(a); }
  bool SystemdRunning() override { return false; }
  std::vector<LocalAddress> addresses{{"lo", "127.0.0.1", 8}, {"eth0", "10.88.0.11", 24}};
  std::set<std::string> answering;
};

struct SimHead {
  bool online = true, standby = false;
};

// The cluster as the tools see it.
class Sim {
 public:
  Sim() {
    runner.SetDefaultHandler([this](const sys::Command& c) { return Answer(c); });
  }

  std::map<std::string, SimHead> heads{{"h1", {}}, {"h2", {}}};
  bool quorum = true;
  // crm_mon reads that still show h1 joining (no DC, h1 pending, the others
  // unclean, no quorum), as right after h1 started; -1: for ever.
  int joining_reads = 0;
  std::vector<std::string> resources, constraints;  // CIB elements
  std::map<std::string, std::string> owner;          // pool primitive -> head
  std::vector<std::string> changes;                  // every mutating call
  std::set<std::string> stopped;                     // resources with target-role Stopped
  FakeProcessRunner runner;

  std::string ConfigXml() const {
    return fmt::format("<configuration><resources>{}</resources><constraints>{}</constraints></configuration>",
                       fmt::join(resources, ""), fmt::join(constraints, ""));
  }
  bool CanRun(const std::string& h) const { return heads.at(h).online && !heads.at(h).standby; }
  void Place() {
    auto cfg = ParseCibConfig(ConfigXml());
    for (const auto& p : cfg->pools) {
      std::string& o = owner[p.primitive];
      if (stopped.contains(p.resource())) {
        o.clear();
        continue;
      }
      if (!o.empty() && CanRun(o)) continue;
      o.clear();
      if (!p.preferred_head.empty() && CanRun(p.preferred_head)) o = p.preferred_head;
      for (const auto& [n, h] : heads) {
        if (o.empty() && CanRun(n)) o = n;
      }
    }
  }

 private:
  std::string MonXml() {
    std::string nodes, rsc;
    if (joining_reads != 0) {
      if (joining_reads > 0) --joining_reads;
      for (const auto& [n, h] : heads) {
        nodes += n == "h1" ? R"(<node name="h1" online="true" standby="true" pending="true"/>)"
                           : fmt::format(R"(<node name="{}" online="true" unclean="true"/>)", n);
      }
      return fmt::format(R"(<pacemaker-result><summary><current_dc present="false"/>)"
                         R"(<cluster_options stonith-enabled="true" maintenance-mode="false"/></summary>)"
                         R"(<nodes>{}</nodes><resources/></pacemaker-result>)", nodes);
    }
    for (const auto& [n, h] : heads) {
      nodes += fmt::format(R"(<node name="{}" online="{}" standby="{}"/>)", n, h.online, h.standby);
    }
    auto cfg = ParseCibConfig(ConfigXml());
    for (const auto& p : cfg->pools) {
      std::string o = owner[p.primitive];
      rsc += fmt::format(R"(<resource id="{}" resource_agent="ocf:poolkeeper:pool" role="{}" active="{}">{}</resource>)",
                         p.primitive, o.empty() ? "Stopped" : "Started", !o.empty(),
                         o.empty() ? "" : fmt::format(R"(<node name="{}"/>)", o));
    }
    return fmt::format(R"(<pacemaker-result><summary><current_dc present="true" name="h1" with_quorum="{}"/>)"
                       R"(<cluster_options stonith-enabled="true" maintenance-mode="false"/></summary>)"
                       R"(<nodes>{}</nodes><resources>{}</resources></pacemaker-result>)",
                       quorum, nodes, rsc);
  }

  Result<sys::ProcessResult> Answer(const sys::Command& c) {
    std::string tool = c.program.substr(c.program.rfind('/') + 1);
    const auto& a = c.args;
    auto has = [&](const std::string& w) { return std::find(a.begin(), a.end(), w) != a.end(); };
    auto after = [&](const std::string& w) { return std::string(*(std::find(a.begin(), a.end(), w) + 1)); };
    if (tool == "crm_mon") return FakeProcessRunner::Exited(0, MonXml());
    if (tool == "crm_resource" && has("--locate")) {
      auto cfg = ParseCibConfig(ConfigXml());
      for (const auto& p : cfg->pools) {
        for (const auto& ip : p.vip_resources) {
          if (ip == after("--resource") && !owner[p.primitive].empty()) {
            return FakeProcessRunner::Exited(0, fmt::format("resource {} is running on: {}\n", ip, owner[p.primitive]));
          }
        }
      }
      return FakeProcessRunner::Exited(0, "resource is NOT running\n");
    }
    if (tool == "cibadmin" && has("--query")) {
      if (after("--scope") == "resources") return FakeProcessRunner::Exited(0, "<resources>" + fmt::format("{}", fmt::join(resources, "")) + "</resources>");
      return FakeProcessRunner::Exited(0, ConfigXml());
    }
    changes.push_back(tool + " " + fmt::format("{}", fmt::join(a, " ")));
    if (tool == "cibadmin" && has("--create")) {
      std::string xml = has("--xml-text") ? after("--xml-text") : c.stdin_data.value_or("");
      (after("--scope") == "resources" ? resources : constraints).push_back(xml);
      if (xml.find(R"(name="target-role" value="Stopped")") != std::string::npos) {
        std::string id = xml.substr(xml.find("id=\"") + 4);
        stopped.insert(id.substr(0, id.find('"')));
      }
      Place();
    } else if (tool == "cibadmin" && has("--delete")) {
      std::string xml = after("--xml-text");
      std::string id = xml.substr(xml.find("id=\"") + 4);
      id.resize(id.find('"'));
      auto& v = after("--scope") == "resources" ? resources : constraints;
      std::erase_if(v, [&](const std::string& e) { return e.find(fmt::format("id=\"{}\"", id)) != std::string::npos; });
    } else if (tool == "crm_resource" && has("--move")) {
      auto cfg = ParseCibConfig(ConfigXml());
      for (const auto& p : cfg->pools) {
        if (p.resource() == after("--resource")) owner[p.primitive] = after("--node");
      }
      constraints.push_back(fmt::format(R"(<rsc_location id="cli-prefer-{0}" rsc="{0}" node="{1}" score="INFINITY"/>)",
                                        after("--resource"), after("--node")));
    } else if (tool == "crm_resource" && has("--clear")) {
      std::erase_if(constraints, [&](const std::string& e) { return e.find("cli-prefer-" + after("--resource")) != std::string::npos; });
    } else if (tool == "crm_resource" && has("--delete-parameter")) {
      stopped.erase(after("--resource"));
      Place();
    } else if (tool == "crm_resource" && has("target-role")) {
      stopped.insert(after("--resource"));
      Place();
    } else if (tool == "crm_attribute" && has("standby")) {
      heads[after("--node")].standby = after("--update") == "on";
      Place();
    }
    return FakeProcessRunner::Exited(0);
  }
};

class AdminTest : public ::testing::Test {
 protected:
  AdminTest() {
    AdminOptions o;
    o.wait = std::chrono::seconds(5);
    o.clock = &clock_;
    admin_ = std::make_unique<ClusterAdmin>(sim_.runner, fs_, head_, o);
  }
  zfs::PoolName Pool(const char* n) { return *zfs::PoolName::Parse(n); }
  HeadName Head(const char* n) { return *HeadName::Parse(n); }
  Result<Changes> AddTank(const char* vips = "10.88.0.50/24", const char* prefer = "h1") {
    return admin_->PoolAdd({{Pool("tank"), *Vip::ParseList(vips), {}, ""}, Head(prefer)});
  }

  Sim sim_;
  MemFs fs_;
  FakeHead head_;
  pk::testing::FakeClock clock_;
  std::unique_ptr<ClusterAdmin> admin_;
};

TEST_F(AdminTest, PoolAddCreatesPreferenceThenGroupAndWaitsForTheOwner) {
  auto r = AddTank();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(sim_.owner["pool-tank-pool"], "h1");
  ASSERT_EQ(sim_.changes.size(), 4u);
  EXPECT_NE(sim_.changes[0].find("IPaddr2"), std::string::npos);
  EXPECT_NE(sim_.changes[0].find(R"(name="target-role" value="Stopped")"), std::string::npos);
  EXPECT_EQ(sim_.changes[1], "crm_resource --cleanup --resource pool-tank");  // no fail counts of an earlier pool-tank
  EXPECT_NE(sim_.changes[2].find("pool-tank-prefers-h1"), std::string::npos);
  EXPECT_NE(sim_.changes[3].find("--delete-parameter target-role"), std::string::npos);
  EXPECT_NE(r->back().find("runs on h1"), std::string::npos);
}

TEST_F(AdminTest, PoolAddRefusalsChangeNothing) {
  ASSERT_TRUE(AddTank());
  sim_.changes.clear();
  auto again = AddTank("10.88.0.51/24");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);
  auto in_cib = admin_->PoolAdd({{Pool("other"), *Vip::ParseList("10.88.0.50/24"), {}, ""}, std::nullopt});
  ASSERT_FALSE(in_cib);
  EXPECT_NE(in_cib.error().message().find("VIP 10.88.0.50 is already configured as resource pool-tank-vip1"), std::string::npos)
      << in_cib.error().message();
  head_.answering.insert("10.88.0.77");
  auto answering = admin_->PoolAdd({{Pool("other"), *Vip::ParseList("10.88.0.77/24"), {}, ""}, std::nullopt});
  ASSERT_FALSE(answering);
  EXPECT_NE(answering.error().message().find("VIP 10.88.0.77 answers on the network"), std::string::npos);
  auto local = admin_->PoolAdd({{Pool("other"), *Vip::ParseList("10.88.0.11/24"), {}, ""}, std::nullopt});
  ASSERT_FALSE(local);
  EXPECT_NE(local.error().message().find("already an address of this head (eth0)"), std::string::npos);
  auto subnet = admin_->PoolAdd({{Pool("other"), *Vip::ParseList("192.168.5.5/24"), {}, ""}, std::nullopt});
  ASSERT_FALSE(subnet);
  EXPECT_NE(subnet.error().message().find("no interface of this head"), std::string::npos);
  auto unknown = admin_->PoolAdd({{Pool("other"), *Vip::ParseList("10.88.0.52/24"), {}, ""}, Head("h9")});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(unknown.error().message().find("head 'h9' is not in the cluster (heads: h1, h2)"), std::string::npos);
  sim_.quorum = false;
  auto no_quorum = admin_->PoolAdd({{Pool("other"), *Vip::ParseList("10.88.0.52/24"), {}, ""}, std::nullopt});
  ASSERT_FALSE(no_quorum);
  EXPECT_NE(no_quorum.error().message().find("no quorum"), std::string::npos);
  EXPECT_TRUE(sim_.changes.empty()) << fmt::format("{}", fmt::join(sim_.changes, "\n"));
}

TEST_F(AdminTest, TakeoverMovesAndFailbackReturnsToThePreferredHead) {
  ASSERT_TRUE(AddTank());
  auto moved = admin_->Takeover(Pool("tank"), std::nullopt);
  ASSERT_TRUE(moved) << moved.error().message();
  EXPECT_EQ(sim_.owner["pool-tank-pool"], "h2");
  EXPECT_NE(moved->front().find("moved from h1 to h2"), std::string::npos);
  // No pin left: it would bring the pool back to h2 by itself after a later failure there.
  EXPECT_EQ(sim_.ConfigXml().find("cli-prefer"), std::string::npos);
  auto same = admin_->Takeover(Pool("tank"), Head("h2"));
  ASSERT_TRUE(same);
  EXPECT_NE(same->front().find("already runs on h2"), std::string::npos);
  auto back = admin_->Failback();
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(sim_.owner["pool-tank-pool"], "h1");
  EXPECT_EQ(sim_.ConfigXml().find("cli-prefer"), std::string::npos);
  auto nothing = admin_->Failback();
  ASSERT_TRUE(nothing);
  EXPECT_NE(nothing->front().find("nothing changed"), std::string::npos);
}

TEST_F(AdminTest, ACommandRightAfterTheHeadStartedWaitsForItToJoin) {
  ASSERT_TRUE(AddTank());
  ASSERT_TRUE(admin_->Takeover(Pool("tank"), Head("h2")));
  sim_.joining_reads = 4;  // about 2 s of "no DC yet"
  auto back = admin_->Failback();
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(sim_.owner["pool-tank-pool"], "h1");
  sim_.joining_reads = -1;
  sim_.changes.clear();
  auto never = admin_->Takeover(Pool("tank"), Head("h2"));
  ASSERT_FALSE(never);
  EXPECT_EQ(never.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(never.error().message().find("no DC elected after 5 s: this head or another is still joining the cluster "
                                         "(heads: h1 joining, h2 unclean (lost, not fenced yet)); nothing changed"),
            std::string::npos)
      << never.error().message();
  EXPECT_TRUE(sim_.changes.empty());
}

TEST_F(AdminTest, TakeoverRefusesStandbyOfflineAndUnknown) {
  ASSERT_TRUE(AddTank());
  sim_.heads["h2"].standby = true;
  sim_.changes.clear();
  auto standby = admin_->Takeover(Pool("tank"), Head("h2"));
  ASSERT_FALSE(standby);
  EXPECT_NE(standby.error().message().find("head h2 is in standby and cannot take the pool"), std::string::npos);
  auto none = admin_->Takeover(Pool("tank"), std::nullopt);
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message().find("no other head can take the pool (h2 in standby)"), std::string::npos);
  sim_.heads["h2"] = {false, false};
  auto offline = admin_->Takeover(Pool("tank"), Head("h2"));
  ASSERT_FALSE(offline);
  EXPECT_NE(offline.error().message().find("h2 is offline"), std::string::npos);
  auto pool = admin_->Takeover(Pool("nosuch"), Head("h2"));
  ASSERT_FALSE(pool);
  EXPECT_EQ(pool.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(pool.error().message().find("takeover 'nosuch': the pool is not in the cluster"), std::string::npos);
  EXPECT_TRUE(sim_.changes.empty());
}

TEST_F(AdminTest, StandbyMovesPoolsAwayAndRefusesWhenNobodyCouldTakeThem) {
  ASSERT_TRUE(AddTank());
  auto s = admin_->Standby(Head("h1"));
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(sim_.owner["pool-tank-pool"], "h2");
  EXPECT_NE(s->back().find("moved from h1 to h2"), std::string::npos);
  sim_.changes.clear();
  auto last = admin_->Standby(Head("h2"));
  ASSERT_FALSE(last);
  EXPECT_NE(last.error().message().find("no other head can take its pools (h1 in standby)"), std::string::npos);
  EXPECT_TRUE(sim_.changes.empty());
  auto un = admin_->Unstandby(Head("h1"));
  ASSERT_TRUE(un);
  EXPECT_FALSE(sim_.heads["h1"].standby);
  EXPECT_EQ(sim_.owner["pool-tank-pool"], "h2");  // stays until failback
}

TEST_F(AdminTest, PoolRemoveStopsThenDeletesConstraintsAndGroup) {
  ASSERT_TRUE(AddTank());
  ASSERT_TRUE(admin_->Takeover(Pool("tank"), Head("h2")));
  sim_.changes.clear();
  auto r = admin_->PoolRemove(Pool("tank"));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(sim_.resources.empty());
  EXPECT_TRUE(sim_.constraints.empty());
  // Stopped, failures cleared, then deleted: nothing of it stays in the CIB's status either.
  ASSERT_GE(sim_.changes.size(), 3u);
  EXPECT_NE(sim_.changes[0].find("target-role"), std::string::npos);
  EXPECT_EQ(sim_.changes[1], "crm_resource --cleanup --resource pool-tank");
  EXPECT_NE(sim_.changes.back().find("cibadmin --delete --scope resources"), std::string::npos);
}

TEST_F(AdminTest, PoolRemoveWithAHeadOfflineSaysThatHeadWasNotChecked) {
  ASSERT_TRUE(AddTank());
  auto all = admin_->PoolRemove(Pool("tank"));
  ASSERT_TRUE(all) << all.error().message();
  EXPECT_NE(all->back().find("pool tank is exported on every head"), std::string::npos) << all->back();
  ASSERT_TRUE(AddTank());
  sim_.heads["h2"] = {false, false};
  auto one = admin_->PoolRemove(Pool("tank"));
  ASSERT_TRUE(one) << one.error().message();
  EXPECT_EQ(one->back().find("every head"), std::string::npos) << one->back();
  EXPECT_NE(one->back().find("exported on every online head; not checked on h2 (offline"), std::string::npos)
      << one->back();
}

// An init of h1 (this machine) and h2: corosync-keygen writes its key, corosync is not running.
InitRequest ExpectInitOfTwoHeadsFor(Sim& sim, MemFs& fs) {
  sim.runner.Expect({"corosync-keygen"}, [&fs](const sys::Command& c) {
    fs.files[c.args.back()] = std::string(256, 'k');
    return Result<sys::ProcessResult>(FakeProcessRunner::Exited(0));
  });
  sim.runner.Expect({"corosync-cfgtool"}, FakeProcessRunner::Exited(1, "", "Could not initialize corosync configuration API"));
  InitRequest req;
  req.spec = {"pkha", {{*HeadName::Parse("h1"), "10.88.0.11"}, {*HeadName::Parse("h2"), "10.88.0.12"}}, std::nullopt};
  return req;
}

TEST_F(AdminTest, InitWritesConfigKeyAndBundleAndRefusesASecondTime) {
  InitRequest req = ExpectInitOfTwoHeadsFor(sim_, fs_);
  auto r = admin_->Init(req);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_NE(fs_.files["/etc/corosync/corosync.conf"].find("two_node: 1"), std::string::npos);
  EXPECT_EQ(fs_.files["/etc/corosync/authkey"], std::string(256, 'k'));
  EXPECT_FALSE(fs_.files.contains("/etc/corosync/authkey.poolkeeper-new"));
  auto bundle = ParseJoinBundle(fs_.files["/etc/corosync/poolkeeper-join.json"]);
  ASSERT_TRUE(bundle);
  EXPECT_EQ(bundle->corosync_conf, fs_.files["/etc/corosync/corosync.conf"]);
  // Issue 17 item 7: a head without a hostid gets one from its node id (h1 = 1).
  EXPECT_EQ(fs_.files["/etc/hostid"], std::string("\x01\x00\x4b\x50", 4));
  EXPECT_NE(std::find(r->begin(), r->end(), "wrote /etc/hostid: hostid 0x504b0001 (node id 1; distinct per head, for "
                      "the pools' labels and multihost)"), r->end());

  auto before = fs_.files;
  sim_.changes.clear();
  auto again = admin_->Init(req);
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message().find("already initialised: /etc/corosync/corosync.conf configures a cluster (cluster 'pkha', heads h1, h2)"),
            std::string::npos) << again.error().message();
  EXPECT_EQ(fs_.files, before);
  EXPECT_TRUE(sim_.changes.empty());
}

// Issue 17 item 7: a head's own non-zero hostid is kept.
TEST_F(AdminTest, InitKeepsAnExistingHostid) {
  fs_.files["/etc/hostid"] = std::string("\x02\x88\x0a\x0a", 4);
  InitRequest req = ExpectInitOfTwoHeadsFor(sim_, fs_);
  auto r = admin_->Init(req);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(fs_.files["/etc/hostid"], std::string("\x02\x88\x0a\x0a", 4));
  EXPECT_NE(std::find(r->begin(), r->end(), "kept this head's hostid 0x0a0a8802 (/etc/hostid)"), r->end());
}

TEST_F(AdminTest, InitRefusesWhenNoHeadIsThisMachine) {
  InitRequest req;
  req.spec = {"pkha", {{Head("h5"), "10.9.0.1"}, {Head("h6"), "10.9.0.2"}}, std::nullopt};
  auto r = admin_->Init(req);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("none of the heads' addresses (h5 10.9.0.1, h6 10.9.0.2) is on this machine"),
            std::string::npos) << r.error().message();
  EXPECT_TRUE(fs_.files.empty());
}

TEST_F(AdminTest, FenceAddDelaysTheFirstHeadsDeviceOnly) {
  CorosyncSpec spec{"pkha", {{Head("h1"), "10.88.0.11"}, {Head("h2"), "10.88.0.12"}}, std::nullopt};
  fs_.files["/etc/corosync/corosync.conf"] = *RenderCorosyncConf(spec);
  fs_.files["/usr/sbin/fence_pkha"] = "#!/bin/sh\n";
  auto h1 = admin_->FenceAdd({{Head("h1"), "fence_pkha", {}, 0}, std::nullopt});
  ASSERT_TRUE(h1) << h1.error().message();
  EXPECT_NE(h1->back().find("fencing h1 waits 2 s"), std::string::npos);
  auto both = admin_->FenceAdd({{Head("h2"), "fence_pkha", {}, 0}, 3});
  ASSERT_FALSE(both);
  EXPECT_NE(both.error().message().find("fence-h1 already has a delay"), std::string::npos);
  auto h2 = admin_->FenceAdd({{Head("h2"), "fence_pkha", {}, 0}, std::nullopt});
  ASSERT_TRUE(h2) << h2.error().message();
  EXPECT_NE(h2->back().find("fencing h2 does not wait"), std::string::npos);
  auto dup = admin_->FenceAdd({{Head("h2"), "fence_pkha", {}, 0}, std::nullopt});
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code(), ErrorCode::kAlreadyExists);
  auto missing = admin_->FenceAdd({{Head("h1"), "fence_ipmilan", {{"password", "s3cret"}}, 0}, std::nullopt});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("fence_ipmilan is not installed"), std::string::npos);
  // The password went through stdin, never argv.
  for (const auto& c : sim_.runner.calls()) {
    EXPECT_EQ(c.ToString().find("s3cret"), std::string::npos);
  }
}

// A floating IP that was on the other head leaves an entry with its MAC (its
// gratuitous ARP updates an entry this head's earlier probe of the address
// created): STALE, then DELAY after a connect nobody answers. In the HA lab
// that made `pool add` refuse a free VIP as "answers on the network".
TEST(HeadEnvTest, OnlyAConfirmedNeighbourEntryAnswers) {
  EXPECT_TRUE(NeighbourConfirmed("10.88.0.100 dev eth0 lladdr 82:66:bd:fa:c4:7d REACHABLE \n"));
  EXPECT_TRUE(NeighbourConfirmed("10.88.0.1 dev eth0 lladdr 82:66:bd:fa:c4:7e PERMANENT\n"));
  EXPECT_FALSE(NeighbourConfirmed("10.88.0.200 dev eth0 lladdr 82:66:bd:fa:c4:7d STALE \n"));
  EXPECT_FALSE(NeighbourConfirmed("10.88.0.200 dev eth0 lladdr 82:66:bd:fa:c4:7d DELAY \n"));
  EXPECT_FALSE(NeighbourConfirmed("10.88.0.200 dev eth0 lladdr 82:66:bd:fa:c4:7d PROBE \n"));
  EXPECT_FALSE(NeighbourConfirmed("10.88.0.11 dev eth0 INCOMPLETE \n"));
  EXPECT_FALSE(NeighbourConfirmed("10.88.0.11 dev eth0 FAILED \n"));
  EXPECT_FALSE(NeighbourConfirmed(""));
}

TEST(HeadEnvTest, ParsesIpAddrOutput) {
  auto a = ParseIpAddrOutput(
      "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n"
      "2: eth0@if5    inet 10.88.0.11/24 scope global eth0\\       valid_lft forever preferred_lft forever\n"
      "2: eth0@if5    inet6 fe80::1/64 scope link \\       valid_lft forever preferred_lft forever\n");
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[1].interface, "eth0");
  EXPECT_EQ(a[1].address, "10.88.0.11");
  EXPECT_EQ(a[1].prefix, 24);
  EXPECT_EQ(a[2].address, "fe80::1");
}

}  // namespace
}  // namespace pk::cluster
