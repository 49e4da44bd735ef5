#include "cluster/pool_agent.h"

#include <atomic>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "cluster/pacemaker.h"
#include "supervisor/policy.h"
#include "testing/fake_clock.h"
#include "testing/fake_process_runner.h"

namespace pk::cluster {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

using pk::testing::FakeClock;  // time moves only when the agent sleeps (or a fake answer takes time)

// A scripted poolkeeperd: each Service() call answers the next view (the last
// one repeats); actions are recorded and can switch to another script.
class FakePoolControl : public PoolControl {
 public:
  Result<ServiceView> Service(const zfs::PoolName&) override {
    calls.push_back("service");
    if (views.empty()) return NotFound("pool 'tank' is not managed");
    auto v = views.front();
    if (views.size() > 1) views.pop_front();
    if (!v) return std::unexpected(v.error());
    return *v;
  }
  Result<bool> Imported(const zfs::PoolName&) override {
    calls.push_back("imported");
    return imported;
  }
  Status Enable(const zfs::PoolName&, const nlohmann::json& policy) override {
    calls.push_back("enable");
    enabled_with = policy;
    return Then(on_enable);
  }
  Status Start(const zfs::PoolName&, zfs::Force force) override {
    calls.push_back(force == zfs::Force::kYes ? "start-forced" : "start");
    return Then(on_start);
  }
  Status Stop(const zfs::PoolName&) override {
    calls.push_back("stop");
    return Then(on_stop);
  }
  Status Disable(const zfs::PoolName&) override {
    calls.push_back("disable");
    return OkStatus();
  }
  // The event log: without `events`, it does not answer (the agent polls).
  // With it, each wait returns the next seq after `event_delay` on `clock`.
  Result<uint64_t> LastEventSeq() override {
    if (!events) return Unavailable("no event log");
    return seq;
  }
  Result<uint64_t> WaitForEvent(uint64_t after) override {
    calls.push_back("wait-event");
    if (!events || wait_fails) return Unavailable("poolkeeperd: connection reset");
    if (clock) clock->Advance(event_delay);
    seq = std::max(seq, after) + 1;
    return seq;
  }
  Status Export(const zfs::PoolName&, zfs::Force force, std::chrono::milliseconds timeout) override {
    calls.push_back(force == zfs::Force::kYes ? "force-export" : "export");
    Status result = force == zfs::Force::kYes ? force_export_result : export_result;
    if (force == zfs::Force::kYes) force_export_timeout = timeout;
    if (!result) return result;
    imported = false;
    return OkStatus();
  }

  using Script = std::deque<Result<ServiceView>>;
  Status Then(const std::optional<Script>& next) {
    if (next) views = *next;
    return OkStatus();
  }

  Script views;
  std::optional<Script> on_enable, on_start, on_stop;
  Result<bool> imported = false;
  Status force_export_result = OkStatus();
  Status export_result = OkStatus();
  std::chrono::milliseconds force_export_timeout{0};
  nlohmann::json enabled_with;
  std::vector<std::string> calls;
  bool events = false;
  bool wait_fails = false;
  uint64_t seq = 40;
  FakeClock* clock = nullptr;
  std::chrono::milliseconds event_delay{5};
};

class FakeFacts : public ClusterFacts {
 public:
  // Called on the agent's prefetch thread; read after the agent returned.
  Result<bool> FencingEnabled() override {
    ++asked;
    return fencing;
  }
  Result<ClusterStatus> Status() override {
    ++asked;
    return status;
  }
  std::string LocalHead() override { return "h2"; }
  std::string LocalHostId() override { return hostid; }
  Result<std::map<std::string, std::string>> ExchangeHostIds(const std::string& mine) override {
    exchanged_with = mine;
    if (published) (*published)["h2"] = mine;
    return published;
  }
  std::string hostid = "0x504b0002";
  Result<std::map<std::string, std::string>> published = std::map<std::string, std::string>{{"h1", "0x504b0001"}};
  std::string exchanged_with;
  Result<bool> fencing = true;
  // h1 was powered off by h2's fence device; h2 is this head.
  Result<ClusterStatus> status = FencedH1();
  std::atomic<int> asked = 0;

  static ClusterStatus FencedH1() {
    ClusterStatus c;
    c.fencing_enabled = true;
    HeadStatus h1, h2;
    h1.name = "h1";
    h2.name = "h2";
    h2.online = true;
    c.heads = {h1, h2};
    c.fence_history = {FenceEvent{"off", "h1", "h2", "success", "2026-12-07 03:00:00Z"}};
    return c;
  }
};

// The refusal as zfs-fuse words it when h1 (hostid 0x0a580001) used the
// pool last, with the label clause the adapter adds (zfs::LabelClause).
constexpr const char* kInUseByH1 =
    "cannot import 'tank': pool may be in use from other system, it was last accessed by h1 (hostid: 0xa580001) on Mon Dec "
    " 7 03:00:00 2026; label of '/jbod/d0': last imported by host 'h1' (hostid 0x0a580001), state active, txg 42";

ServiceView View(std::string state, std::string reason = "", std::string health = "") {
  return ServiceView{std::move(state), std::move(reason), std::move(health)};
}

std::map<std::string, std::string> Env(std::map<std::string, std::string> extra = {}) {
  std::map<std::string, std::string> env = {{"OCF_RESKEY_pool", "tank"}, {"OCF_RESKEY_CRM_meta_timeout", "30000"}};
  for (auto& [k, v] : extra) env[k] = v;
  return env;
}

class PoolAgentTest : public ::testing::Test {
 protected:
  PoolAgent Agent(std::map<std::string, std::string> extra = {}) {
    auto p = PoolAgentParams::FromEnvironment(Env(std::move(extra)));
    EXPECT_TRUE(p) << p.error().message();
    start_ = clock_.SteadyNow();
    return PoolAgent(*p, daemon_, facts_, clock_);
  }
  std::chrono::milliseconds Elapsed() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.SteadyNow() - start_);
  }

  FakeClock clock_;
  FakePoolControl daemon_;
  FakeFacts facts_;
  std::chrono::steady_clock::time_point start_;
};

// ---- parameters -------------------------------------------------------------

TEST(PoolAgentParamsTest, ReadsEveryParameterAndBuildsThePolicy) {
  auto p = PoolAgentParams::FromEnvironment(Env({{"OCF_RESKEY_search_dirs", "/lab/disks:/more"},
                                                 {"OCF_RESKEY_force_import", "never"},
                                                 {"OCF_RESKEY_export_timeout", "7"},
                                                 {"OCF_RESKEY_socket", "/run/pk.sock"}}));
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->pool.str(), "tank");
  EXPECT_THAT(p->search_dirs, ElementsAre("/lab/disks", "/more"));
  EXPECT_EQ(p->force_import, ForceImportParam::kNever);
  EXPECT_EQ(p->socket, "/run/pk.sock");
  EXPECT_EQ(p->op_timeout, 30000ms);
  auto j = p->PolicyJson();
  EXPECT_EQ(j["force"], "never");
  EXPECT_EQ(j["import_timeout_seconds"], 24) << "80% of the start's 30 s";
  EXPECT_EQ(j["export_timeout_seconds"], 7);
  EXPECT_EQ(j["search_dirs"], nlohmann::json::array({"/lab/disks", "/more"}));

  auto d = PoolAgentParams::FromEnvironment({{"OCF_RESKEY_pool", "tank"}});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->force_import, ForceImportParam::kIfFenced);
  EXPECT_EQ(d->PolicyJson()["force"], "if-fenced");
  // What the agent enables is a policy poolkeeperd accepts.
  for (const auto& params : {*p, *d}) {
    auto j = params.PolicyJson();
    j["pool"] = "tank";
    auto policy = supervisor::PoolPolicy::FromJson(j);
    ASSERT_TRUE(policy) << policy.error().message();
    EXPECT_EQ(policy->force, params.force_import == ForceImportParam::kIfFenced ? supervisor::ForceImport::kIfFenced
                                                                                 : supervisor::ForceImport::kNever);
    EXPECT_EQ(policy->search_dirs, params.search_dirs);
    EXPECT_TRUE(policy->cluster) << "a cluster pool is never imported by its daemon at boot";
  }
  EXPECT_EQ(d->op_timeout, 60000ms);
  EXPECT_EQ(d->socket, "/run/poolkeeper/poolkeeperd.sock");
}

TEST(PoolAgentParamsTest, RefusesBadParametersNamingThem) {
  auto message = [](std::map<std::string, std::string> env) {
    auto p = PoolAgentParams::FromEnvironment(env);
    EXPECT_FALSE(p);
    return p ? std::string() : p.error().message();
  };
  EXPECT_THAT(message({}), HasSubstr("parameter pool is required"));
  EXPECT_THAT(message({{"OCF_RESKEY_pool", "-x"}}), HasSubstr("parameter pool"));
  EXPECT_THAT(message(Env({{"OCF_RESKEY_force_import", "always"}})), HasSubstr("force_import: 'always'"));
  EXPECT_THAT(message(Env({{"OCF_RESKEY_search_dirs", "/ok:relative"}})), HasSubstr("search_dirs: 'relative'"));
  EXPECT_THAT(message(Env({{"OCF_RESKEY_export_timeout", "0"}})), HasSubstr("OCF_RESKEY_export_timeout"));
  EXPECT_THAT(message(Env({{"OCF_RESKEY_CRM_meta_timeout", "20s"}})), HasSubstr("OCF_RESKEY_CRM_meta_timeout"));
  EXPECT_THAT(message(Env({{"OCF_RESKEY_socket", "pk.sock"}})), HasSubstr("socket: 'pk.sock'"));
}

// ---- start ------------------------------------------------------------------

TEST_F(PoolAgentTest, StartEnablesAndWaitsUntilTheServiceServes) {
  daemon_.on_enable = FakePoolControl::Script{View("importing"), View("mounting"), View("sharing"),
                                         View("online", "2 filesystems mounted", "ONLINE")};
  auto out = Agent({{"OCF_RESKEY_search_dirs", "/lab/disks"}}).Start();
  EXPECT_EQ(out.code, OcfCode::kSuccess) << out.message;
  EXPECT_THAT(out.message, HasSubstr("online"));
  EXPECT_EQ(daemon_.enabled_with["search_dirs"], nlohmann::json::array({"/lab/disks"}));
  EXPECT_EQ(std::count(daemon_.calls.begin(), daemon_.calls.end(), "start-forced"), 0);
  // Asked once, while the import ran (force_import=if_fenced), never acted on.
  EXPECT_EQ(facts_.asked, 1);
}

// Issue 17 item 7: heads cloned from one image share a hostid, which defeats
// multihost and the forced-import proof. Such a head publishes its hostid,
// sees the twin and imports nothing (OCF_ERR_INSTALLED: Pacemaker keeps the
// pool off this head).
TEST_F(PoolAgentTest, StartRefusesOnAHeadWhoseHostidAnotherHeadHas) {
  daemon_.on_enable = FakePoolControl::Script{View("online", "", "ONLINE")};
  facts_.published = std::map<std::string, std::string>{{"h1", "0x504B0002"}};
  auto out = Agent().Start();
  EXPECT_EQ(out.code, OcfCode::kErrInstalled) << out.message;
  EXPECT_THAT(out.message, HasSubstr("hostid 0x504b0002 is also head 'h1''s"));
  EXPECT_EQ(std::count(daemon_.calls.begin(), daemon_.calls.end(), "enable"), 0) << "nothing may be imported";
  EXPECT_EQ(facts_.exchanged_with, "0x504b0002");
}

TEST_F(PoolAgentTest, StartGoesOnWhenTheHostidsCannotBeExchangedOrThereIsNone) {
  for (bool none : {false, true}) {
    daemon_ = FakePoolControl{};
    daemon_.on_enable = FakePoolControl::Script{View("online", "", "ONLINE")};
    facts_.published = std::unexpected(Error(ErrorCode::kUnavailable, "crm_attribute: Connection to cluster failed"));
    if (none) facts_.hostid = "";
    auto out = Agent().Start();
    EXPECT_EQ(out.code, OcfCode::kSuccess) << out.message;
  }
}

TEST(HostIdTwinTest, AnotherHeadWithTheSameHostid) {
  std::map<std::string, std::string> published = {{"h1", "0x504b0001"}, {"h2", "0x504b0002"}, {"h3", "0x504B0001"}};
  EXPECT_EQ(HostIdTwin("h1", "0x504b0001", published), "h3");
  EXPECT_EQ(HostIdTwin("h2", "0x504b0002", published), std::nullopt);
  EXPECT_EQ(HostIdTwin("h4", "0x504b0004", {}), std::nullopt);
}

TEST_F(PoolAgentTest, StartOfAServingPoolChangesNothing) {
  daemon_.views = {View("online", "", "ONLINE")};
  auto out = Agent().Start();
  EXPECT_EQ(out.code, OcfCode::kSuccess);
  EXPECT_THAT(daemon_.calls, ElementsAre("service"));
  EXPECT_EQ(facts_.asked, 0) << "nothing to import: Pacemaker is not asked";
}

TEST_F(PoolAgentTest, StartForcesOnlyWhenThePoolIsInUseElsewhereAndTheClusterFences) {
  daemon_.on_enable = FakePoolControl::Script{
      View("importing"),
      View("failed", std::string("import pool 'tank': zpool exited 1: ") + kInUseByH1)};
  daemon_.on_start = FakePoolControl::Script{View("importing"), View("online", "", "ONLINE")};
  auto out = Agent().Start();
  EXPECT_EQ(out.code, OcfCode::kSuccess) << out.message;
  EXPECT_THAT(out.message, HasSubstr("forced import"));
  EXPECT_THAT(out.message, HasSubstr("last used by head 'h1' (hostid 0x0a580001), which Pacemaker fenced (off by h2"));
  EXPECT_EQ(std::count(daemon_.calls.begin(), daemon_.calls.end(), "start-forced"), 1);
  EXPECT_EQ(facts_.asked, 1);
}

TEST_F(PoolAgentTest, StartNeverForcesWithoutFencing) {
  facts_.status->fencing_enabled = false;
  daemon_.on_enable = FakePoolControl::Script{View("failed", kInUseByH1)};
  auto out = Agent().Start();
  EXPECT_EQ(out.code, OcfCode::kErrGeneric);
  EXPECT_THAT(out.message, HasSubstr("stonith-enabled=false"));
  EXPECT_EQ(std::count(daemon_.calls.begin(), daemon_.calls.end(), "start-forced"), 0);
}

TEST_F(PoolAgentTest, StartNeverForcesWhenAskedNeverOrForOtherFailures) {
  daemon_.on_enable = FakePoolControl::Script{View("failed", "cannot import 'tank': pool may be in use from other system")};
  auto never = Agent({{"OCF_RESKEY_force_import", "never"}}).Start();
  EXPECT_EQ(never.code, OcfCode::kErrGeneric);
  EXPECT_THAT(never.message, HasSubstr("in use from other system"));
  EXPECT_EQ(facts_.asked, 0) << "force_import=never: Pacemaker is not even asked";

  daemon_.on_enable = FakePoolControl::Script{View("failed", "cannot import 'tank': I/O error")};
  auto io = Agent().Start();
  EXPECT_EQ(io.code, OcfCode::kErrGeneric);
  EXPECT_THAT(io.message, HasSubstr("I/O error"));
  EXPECT_EQ(std::count(daemon_.calls.begin(), daemon_.calls.end(), "start-forced"), 0);
}

TEST_F(PoolAgentTest, StartForcesAtMostOnce) {
  daemon_.on_enable = FakePoolControl::Script{View("failed", kInUseByH1)};
  daemon_.on_start = FakePoolControl::Script{View("failed", kInUseByH1)};
  auto out = Agent().Start();
  EXPECT_EQ(out.code, OcfCode::kErrGeneric);
  EXPECT_EQ(std::count(daemon_.calls.begin(), daemon_.calls.end(), "start-forced"), 1);
}

TEST_F(PoolAgentTest, StartThatNeverServesFailsBeforeTheOperationTimeout) {
  daemon_.on_enable = FakePoolControl::Script{View("importing", "importing from /lab")};
  auto out = Agent().Start();
  EXPECT_EQ(out.code, OcfCode::kErrGeneric);
  EXPECT_THAT(out.message, HasSubstr("not serving within 30000 ms"));
  EXPECT_THAT(out.message, HasSubstr("importing from /lab"));
  EXPECT_LT(Elapsed(), 30000ms);
  EXPECT_GE(Elapsed(), 25000ms);
}

TEST_F(PoolAgentTest, StartOfASuspendedPoolFails) {
  daemon_.on_enable = FakePoolControl::Script{View("online", "", "SUSPENDED")};
  auto out = Agent().Start();
  EXPECT_EQ(out.code, OcfCode::kErrGeneric);
  EXPECT_THAT(out.message, HasSubstr("SUSPENDED"));
}

TEST_F(PoolAgentTest, StartWaitsForADaemonThatIsStillStarting) {
  daemon_.views = {Unavailable("poolkeeperd: connect: no such file"), Unavailable("poolkeeperd: connect"),
                   NotFound("not managed")};
  daemon_.on_enable = FakePoolControl::Script{View("online", "", "ONLINE")};
  auto out = Agent().Start();
  EXPECT_EQ(out.code, OcfCode::kSuccess) << out.message;
}

TEST_F(PoolAgentTest, StartWaitsOnTheEventLogNotOnAPollingPeriod) {
  daemon_.events = true;
  daemon_.clock = &clock_;
  daemon_.on_enable = FakePoolControl::Script{View("importing"), View("mounting"), View("sharing"),
                                         View("online", "2 filesystems mounted", "ONLINE")};
  auto out = Agent().Start();
  EXPECT_EQ(out.code, OcfCode::kSuccess) << out.message;
  // One long poll per state change, each ending when the event arrives (5 ms
  // here); no 200 ms polling period between them.
  EXPECT_EQ(std::count(daemon_.calls.begin(), daemon_.calls.end(), "wait-event"), 3);
  EXPECT_EQ(Elapsed(), 15ms);
}

TEST_F(PoolAgentTest, ForcedStartAfterFencingWaitsOnEventsAndAsksPacemakerOnce) {
  daemon_.events = true;
  daemon_.clock = &clock_;
  daemon_.on_enable = FakePoolControl::Script{
      View("importing"), View("failed", kInUseByH1)};
  daemon_.on_start = FakePoolControl::Script{View("importing"), View("online", "", "ONLINE")};
  auto out = Agent().Start();
  EXPECT_EQ(out.code, OcfCode::kSuccess) << out.message;
  EXPECT_THAT(out.message, HasSubstr("forced import"));
  EXPECT_EQ(facts_.asked, 1);
  EXPECT_THAT(daemon_.calls, ElementsAre("service", "enable", "service", "wait-event", "service", "start-forced",
                                         "service", "wait-event", "service"));
  EXPECT_EQ(Elapsed(), 10ms);
}

TEST_F(PoolAgentTest, StartPollsWhenTheEventLogStopsAnswering) {
  daemon_.events = true;
  daemon_.wait_fails = true;
  daemon_.on_enable = FakePoolControl::Script{View("importing"), View("mounting"), View("online", "", "ONLINE")};
  auto out = Agent().Start();
  EXPECT_EQ(out.code, OcfCode::kSuccess) << out.message;
  // The first failed wait switches to polling for the rest of the operation.
  EXPECT_EQ(std::count(daemon_.calls.begin(), daemon_.calls.end(), "wait-event"), 1);
  EXPECT_EQ(Elapsed(), 2 * PoolAgent::kPoll);
}

TEST_F(PoolAgentTest, LongPollsStopBeforeTheDeadline) {
  // No event ever comes: each long poll lasts its full second. The agent
  // must still report before Pacemaker's timeout (30 s, 3 s margin).
  daemon_.events = true;
  daemon_.clock = &clock_;
  daemon_.event_delay = PoolControl::kEventWait;
  daemon_.on_enable = FakePoolControl::Script{View("importing", "importing from /lab")};
  auto out = Agent().Start();
  EXPECT_EQ(out.code, OcfCode::kErrGeneric);
  EXPECT_THAT(out.message, HasSubstr("not serving within 30000 ms"));
  EXPECT_LE(Elapsed(), 27000ms);
  EXPECT_GE(Elapsed(), 26000ms);
}

// ---- stop -------------------------------------------------------------------

TEST_F(PoolAgentTest, StopExportsCleanlyAndDisables) {
  daemon_.views = {View("online", "", "ONLINE")};
  daemon_.imported = true;
  daemon_.on_stop = FakePoolControl::Script{View("stopping"), View("stopping"), View("exported", "exported")};
  auto out = Agent().Stop();
  EXPECT_EQ(out.code, OcfCode::kSuccess) << out.message;
  EXPECT_THAT(daemon_.calls, ElementsAre("service", "stop", "service", "service", "service", "disable"));
}

TEST_F(PoolAgentTest, StopWaitsOnTheEventLog) {
  daemon_.events = true;
  daemon_.clock = &clock_;
  daemon_.views = {View("online", "", "ONLINE")};
  daemon_.imported = true;
  daemon_.on_stop = FakePoolControl::Script{View("stopping"), View("exported", "exported")};
  auto out = Agent().Stop();
  EXPECT_EQ(out.code, OcfCode::kSuccess) << out.message;
  EXPECT_THAT(daemon_.calls, ElementsAre("service", "stop", "service", "wait-event", "service", "disable"));
  EXPECT_EQ(Elapsed(), 5ms);
}

TEST_F(PoolAgentTest, StopEscalatesToAForcedExportWhenTheExportFails) {
  daemon_.views = {View("online", "", "ONLINE")};
  daemon_.imported = true;
  daemon_.on_stop = FakePoolControl::Script{View("stopping"), View("failed", "export pool 'tank': pool is busy")};
  auto out = Agent().Stop();
  EXPECT_EQ(out.code, OcfCode::kSuccess) << out.message;
  EXPECT_THAT(out.message, HasSubstr("exported with force after: export pool 'tank': pool is busy"));
  EXPECT_THAT(daemon_.calls, ::testing::Contains("force-export"));
  EXPECT_EQ(daemon_.calls.back(), "disable");
}

TEST_F(PoolAgentTest, StopEscalatesAtHalfTheTimeWhenTheExportHangs) {
  daemon_.views = {View("online", "", "ONLINE")};
  daemon_.imported = true;
  daemon_.on_stop = FakePoolControl::Script{View("stopping", "exporting")};
  auto out = Agent().Stop();
  EXPECT_EQ(out.code, OcfCode::kSuccess) << out.message;
  // 30 s operation, 3 s margin: the clean stop gets 13.5 s, the forced export what is left.
  EXPECT_GE(Elapsed(), 13500ms);
  EXPECT_LT(Elapsed(), 14000ms);
  EXPECT_GT(daemon_.force_export_timeout, 12000ms);
  EXPECT_LE(daemon_.force_export_timeout, 13500ms);
}

TEST_F(PoolAgentTest, StopFailsSoThatPacemakerFencesWhenEvenTheForcedExportFails) {
  daemon_.views = {View("online", "", "ONLINE")};
  daemon_.imported = true;
  daemon_.on_stop = FakePoolControl::Script{View("failed", "export pool 'tank': pool is busy")};
  daemon_.force_export_result = Unavailable("export pool 'tank': zpool timed out");
  auto out = Agent().Stop();
  EXPECT_EQ(out.code, OcfCode::kErrGeneric);
  EXPECT_THAT(out.message, HasSubstr("pool is busy; forced export failed: export pool 'tank': zpool timed out"));
  EXPECT_LT(Elapsed(), 30000ms);
  EXPECT_EQ(std::count(daemon_.calls.begin(), daemon_.calls.end(), "disable"), 0);
}

TEST_F(PoolAgentTest, StopOfAPoolNotHereSucceedsWithoutTouchingIt) {
  daemon_.views = {NotFound("pool 'tank' is not managed")};
  daemon_.imported = false;
  auto out = Agent().Stop();
  EXPECT_EQ(out.code, OcfCode::kSuccess) << out.message;
  EXPECT_EQ(std::count(daemon_.calls.begin(), daemon_.calls.end(), "stop"), 0);
  EXPECT_EQ(std::count(daemon_.calls.begin(), daemon_.calls.end(), "force-export"), 0);
}

TEST_F(PoolAgentTest, StopOfAnUnmanagedImportedPoolExportsCleanlyFirst) {
  daemon_.views = {NotFound("pool 'tank' is not managed")};
  daemon_.imported = true;
  auto out = Agent().Stop();
  EXPECT_EQ(out.code, OcfCode::kSuccess) << out.message;
  EXPECT_THAT(daemon_.calls, ElementsAre("service", "imported", "export", "disable"));

  daemon_.calls.clear();
  daemon_.imported = true;
  daemon_.export_result = FailedPrecondition("export pool 'tank': pool is busy");
  auto busy = Agent().Stop();
  EXPECT_EQ(busy.code, OcfCode::kSuccess) << busy.message;
  EXPECT_THAT(busy.message, HasSubstr("exported with force after: export pool 'tank': pool is busy"));
  EXPECT_THAT(daemon_.calls, ElementsAre("service", "imported", "export", "force-export", "disable"));
}

TEST_F(PoolAgentTest, StopOfAFailedImportIsNotAnExport) {
  daemon_.views = {View("failed", "cannot import 'tank': I/O error")};
  daemon_.on_stop = FakePoolControl::Script{View("failed", "cannot import 'tank': I/O error")};
  daemon_.imported = false;
  auto out = Agent().Stop();
  EXPECT_EQ(out.code, OcfCode::kSuccess) << out.message;
  EXPECT_EQ(std::count(daemon_.calls.begin(), daemon_.calls.end(), "force-export"), 0);
}

TEST_F(PoolAgentTest, StopWithoutTheDaemonFails) {
  daemon_.views = {Unavailable("poolkeeperd: connect: connection refused")};
  auto out = Agent().Stop();
  EXPECT_EQ(out.code, OcfCode::kErrGeneric);
  EXPECT_THAT(out.message, HasSubstr("connection refused"));
  EXPECT_LT(Elapsed(), 30000ms);
}

// ---- monitor ----------------------------------------------------------------

TEST(MapMonitorTest, DecisionTable) {
  struct Case {
    std::string state, health;
    bool imported;
    OcfCode want;
  };
  const Case cases[] = {
      {"online", "ONLINE", true, OcfCode::kSuccess},
      {"degraded", "DEGRADED", true, OcfCode::kSuccess},
      {"online", "SUSPENDED", true, OcfCode::kErrGeneric},
      {"degraded", "FAULTED", true, OcfCode::kErrGeneric},
      {"online", "UNAVAIL", true, OcfCode::kErrGeneric},
      {"online", "ONLINE", false, OcfCode::kSuccess},     // the view lags the service just after an import
      {"importing", "", false, OcfCode::kSuccess},        // held here while it comes up
      {"mounting", "", true, OcfCode::kSuccess},
      {"sharing", "", true, OcfCode::kSuccess},
      {"failed", "SUSPENDED", true, OcfCode::kErrGeneric},
      {"failed", "", false, OcfCode::kNotRunning},        // a failed import holds nothing
      {"stopping", "", true, OcfCode::kErrGeneric},
      {"locked", "", false, OcfCode::kNotRunning},
      {"exported", "", false, OcfCode::kNotRunning},
      {"disabled", "", false, OcfCode::kNotRunning},
      {"waiting", "", false, OcfCode::kNotRunning},
      {"disabled", "", true, OcfCode::kErrGeneric},       // imported behind the service's back
      {"exported", "", true, OcfCode::kErrGeneric},
  };
  for (const auto& c : cases) {
    auto out = MapMonitor("tank", View(c.state, "why", c.health), c.imported);
    EXPECT_EQ(out.code, c.want) << c.state << "/" << c.health << "/imported=" << c.imported << ": " << out.message;
    EXPECT_THAT(out.message, HasSubstr("'tank'"));
  }
}

TEST_F(PoolAgentTest, MonitorOfAnUnmanagedPool) {
  daemon_.views = {NotFound("not managed")};
  daemon_.imported = false;
  EXPECT_EQ(Agent().Monitor().code, OcfCode::kNotRunning);
  daemon_.imported = true;
  auto out = Agent().Monitor();
  EXPECT_EQ(out.code, OcfCode::kErrGeneric);
  EXPECT_THAT(out.message, HasSubstr("not managed by poolkeeperd"));
}

TEST_F(PoolAgentTest, MonitorWithoutTheDaemonIsAFailureWithinItsTime) {
  daemon_.views = {Unavailable("poolkeeperd: connect: connection refused")};
  auto out = Agent({{"OCF_RESKEY_CRM_meta_timeout", "20000"}}).Monitor();
  EXPECT_EQ(out.code, OcfCode::kErrGeneric);
  EXPECT_LE(Elapsed(), 10000ms);
}

TEST_F(PoolAgentTest, MonitorNeverChangesAnything) {
  daemon_.views = {View("online", "", "ONLINE")};
  daemon_.imported = true;
  EXPECT_EQ(Agent().Monitor().code, OcfCode::kSuccess);
  EXPECT_THAT(daemon_.calls, ElementsAre("service", "imported"));
}

// ---- helpers ----------------------------------------------------------------

TEST(ImportRefusedAsInUseTest, KnowsBothFlavours) {
  EXPECT_TRUE(ImportRefusedAsInUse("cannot import 'tank': pool may be in use from other system, it was last accessed by h1"));
  EXPECT_TRUE(ImportRefusedAsInUse("cannot import 'tank': pool was previously in use from another system."));
  EXPECT_TRUE(ImportRefusedAsInUse("The pool was last accessed by another system."));
  EXPECT_FALSE(ImportRefusedAsInUse("cannot import 'tank': no such pool available"));
  EXPECT_FALSE(ImportRefusedAsInUse("cannot import 'tank': I/O error"));
}

TEST(PacemakerFactsTest, ReadsStonithEnabledThroughCrmAttribute) {
  testing::FakeProcessRunner runner;
  const std::vector<std::string> argv = {"/usr/sbin/crm_attribute", "--type", "crm_config", "--name", "stonith-enabled", "--query", "--quiet", "--default", "true"};
  runner.Expect(argv, testing::FakeProcessRunner::Exited(0, "true\n"));
  runner.Expect(argv, testing::FakeProcessRunner::Exited(0, "false\n"));
  runner.Expect(argv, testing::FakeProcessRunner::Exited(102, "", "crm_attribute: Connection to cluster failed\n"));
  PacemakerFacts facts(runner);
  EXPECT_EQ(facts.FencingEnabled(), true);
  EXPECT_EQ(facts.FencingEnabled(), false);
  auto down = facts.FencingEnabled();
  ASSERT_FALSE(down);
  EXPECT_THAT(down.error().message(), HasSubstr("Connection to cluster failed"));
  EXPECT_TRUE(runner.UnmetExpectations().empty());
}

TEST(PacemakerFactsTest, PublishesThisHeadsHostidAndReadsEveryHeads) {
  testing::FakeProcessRunner runner;
  auto dir = std::filesystem::temp_directory_path() / ("pk-hostid-test." + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "hostid", std::ios::binary).write("\x02\x00\x4b\x50", 4);
  PacemakerTools tools;
  tools.hostid_file = (dir / "hostid").string();
  PacemakerFacts facts(runner, tools);
  EXPECT_EQ(facts.LocalHostId(), "0x504b0002");
  runner.Expect({"/usr/sbin/crm_attribute", "--type", "nodes", "--node", facts.LocalHead(), "--name", "pk-hostid",
                 "--update", "0x504b0002"},
                testing::FakeProcessRunner::Exited(0));
  runner.Expect({"/usr/sbin/cibadmin", "--query", "--scope", "nodes"},
                testing::FakeProcessRunner::Exited(0, R"(<nodes>
  <node id="1" uname="h1"><instance_attributes id="nodes-1"><nvpair id="nodes-1-pk-hostid" name="pk-hostid" value="0x504b0001"/></instance_attributes></node>
  <node id="2" uname="h2"><instance_attributes id="nodes-2"><nvpair id="nodes-2-standby" name="standby" value="off"/><nvpair id="nodes-2-pk-hostid" name="pk-hostid" value="0x504b0002"/></instance_attributes></node>
  <node id="3" uname="h3"/>
</nodes>)"));
  auto ids = facts.ExchangeHostIds("0x504b0002");
  ASSERT_TRUE(ids) << ids.error().ToString();
  EXPECT_EQ(*ids, (std::map<std::string, std::string>{{"h1", "0x504b0001"}, {"h2", "0x504b0002"}}));
  EXPECT_TRUE(runner.UnmetExpectations().empty());
  std::filesystem::remove(dir / "hostid");
  EXPECT_EQ(facts.LocalHostId(), "") << "no /etc/hostid: none of its own";
  std::filesystem::remove_all(dir);
}

TEST(PacemakerFactsTest, ParsesPacemakerBooleans) {
  EXPECT_EQ(ParsePacemakerBool("yes"), true);
  EXPECT_EQ(ParsePacemakerBool(" 0\n"), false);
  EXPECT_FALSE(ParsePacemakerBool("maybe"));
}

TEST(PoolAgentMetadataTest, DescribesTheActionsAndParameters) {
  auto xml = PoolAgentMetadata();
  for (const char* s : {"<resource-agent name=\"pool\"", "name=\"pool\" unique=\"1\" required=\"1\"", "name=\"force_import\"",
                        "<action name=\"start\"", "<action name=\"stop\"", "<action name=\"monitor\"",
                        "<action name=\"meta-data\"", "<action name=\"validate-all\""}) {
    EXPECT_THAT(xml, HasSubstr(s));
  }
}

// Issue 17 item 7: the forced-import decision, branch by branch.
TEST(DecideForcedImportTest, ForcesOnlyWithProofThatTheLastImporterWasFenced) {
  const ClusterStatus fenced = FakeFacts::FencedH1();
  auto yes = DecideForcedImport(kInUseByH1, fenced, "h2");
  EXPECT_TRUE(yes.force) << yes.why;
  EXPECT_THAT(yes.why, HasSubstr("Pacemaker fenced (off by h2 at 2026-12-07 03:00:00Z)"));
  // OpenZFS words it differently; FQDNs compare by their first label.
  auto openzfs = DecideForcedImport(
      "cannot import 'tank': pool was previously in use from another system.\nLast accessed by h1.lab (hostid=a580001) at "
      "Mon Dec  7 03:00:00 2026; label of '/dev/sdb1': last imported by host 'h1.lab' (hostid 0x0a580001), state active, "
      "txg 9",
      fenced, "h2");
  EXPECT_TRUE(openzfs.force) << openzfs.why;
  // OpenZFS names nobody when the importer had no hostid; the label does.
  auto unnamed = DecideForcedImport(
      "pool was previously in use from another system. Last accessed by another system; label of '/dev/sdb1': last "
      "imported by host 'h1' (hostid none), state active, txg 9",
      fenced, "h2");
  EXPECT_TRUE(unnamed.force) << unnamed.why;
  EXPECT_THAT(unnamed.why, HasSubstr("head 'h1', which Pacemaker fenced")) << unnamed.why;

  struct Case {
    std::string name;
    std::string refusal;
    std::function<void(ClusterStatus&)> change;
    std::string words;
  } cases[] = {
      {"fencing disabled", kInUseByH1, [](ClusterStatus& c) { c.fencing_enabled = false; }, "stonith-enabled=false"},
      {"no label", "cannot import 'tank': pool may be in use from other system, it was last accessed by h1 (hostid: 0x1)",
       [](ClusterStatus&) {}, "label could not be read"},
      {"label without a host", "in use from other system; label of '/d0': last imported by host '' (hostid none), state "
       "active, txg 1", [](ClusterStatus&) {}, "records no host name"},
      {"label and refusal disagree", "it was last accessed by h1 (hostid: 0x1); label of '/d0': last imported by host "
       "'stranger' (hostid 0x00000009), state active, txg 1", [](ClusterStatus&) {}, "the refusal names 'h1' but the label"},
      {"not a head", "it was last accessed by stranger (hostid: 0x1); label of '/d0': last imported by host 'stranger' "
       "(hostid 0x00000001), state active, txg 1", [](ClusterStatus&) {}, "not a head of this cluster"},
      {"this head", "it was last accessed by h2 (hostid: 0x2); label of '/d0': last imported by host 'h2' (hostid "
       "0x00000002), state active, txg 1", [](ClusterStatus&) {}, "this head"},
      {"online", kInUseByH1, [](ClusterStatus& c) { c.heads[0].online = true; }, "online and may still use it"},
      {"unclean", kInUseByH1, [](ClusterStatus& c) { c.heads[0].unclean = true; }, "lost but not fenced yet"},
      {"never fenced", kInUseByH1, [](ClusterStatus& c) { c.fence_history.clear(); }, "no successful fencing of it"},
      {"fencing failed", kInUseByH1, [](ClusterStatus& c) { c.fence_history[0].status = "failed"; },
       "no successful fencing of it"},
      {"another head fenced", kInUseByH1, [](ClusterStatus& c) { c.fence_history[0].target = "h3"; },
       "no successful fencing of it"},
  };
  for (const auto& c : cases) {
    ClusterStatus cluster = fenced;
    c.change(cluster);
    auto d = DecideForcedImport(c.refusal, cluster, "h2");
    EXPECT_FALSE(d.force) << c.name;
    EXPECT_THAT(d.why, HasSubstr(c.words)) << c.name;
  }
}

TEST(ParseLastImporterTest, BothDialects) {
  auto fuse = ParseLastImporter(kInUseByH1);
  ASSERT_TRUE(fuse);
  EXPECT_EQ(fuse->host, "h1");
  EXPECT_EQ(fuse->hostid, "0xa580001");
  auto ozfs = ParseLastImporter("Last accessed by node-b.example.com (hostid=7f0101aa) at Mon");
  ASSERT_TRUE(ozfs);
  EXPECT_EQ(ozfs->host, "node-b");
  EXPECT_EQ(ozfs->hostid, "7f0101aa");
  EXPECT_FALSE(ParseLastImporter("pool may be in use from other system"));
}

// Issue 17 item 7: a pool in use by a head that is online is never forced.
TEST_F(PoolAgentTest, StartRefusesToForceWhileTheLastImporterIsOnline) {
  facts_.status->heads[0].online = true;
  daemon_.on_enable = FakePoolControl::Script{View("failed", kInUseByH1)};
  auto out = Agent().Start();
  EXPECT_EQ(out.code, OcfCode::kErrGeneric);
  EXPECT_THAT(out.message, HasSubstr("not forcing the import: it was last used by head 'h1'"));
  EXPECT_EQ(std::count(daemon_.calls.begin(), daemon_.calls.end(), "start-forced"), 0);
}

}  // namespace
}  // namespace pk::cluster
