#include "cluster/crm_mon.h"

#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cluster/cib.h"
#include "cluster/internal/xml.h"
#include "cluster/pacemaker.h"
#include "testing/fake_process_runner.h"

namespace pk::cluster {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string Golden(const std::string& name) {
  std::ifstream in(std::string(PK_TEST_DATA_DIR) + "/pacemaker/" + name);
  EXPECT_TRUE(in) << "missing golden file " << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A pool on no disk (pool-gone, pool `gone`): its start failed on both heads
// with the agent's reason, which crm_mon escapes twice; the pool is stopped.
TEST(CrmMonTest, PoolOnNoDiskIsStoppedWithItsStartFailureAndReason) {
  auto s = ParseClusterStatus(Golden("crm_mon-no-such-pool.xml"), Golden("cib-resources-no-such-pool.xml"));
  ASSERT_TRUE(s) << s.error().message();
  const PoolStatus* gone = nullptr;
  for (const auto& p : s->pools) {
    if (p.pool == "gone") gone = &p;
  }
  ASSERT_NE(gone, nullptr);
  EXPECT_EQ(gone->role, "Stopped");
  EXPECT_FALSE(gone->active);
  EXPECT_TRUE(gone->owners.empty());
  ASSERT_TRUE(gone->last_failure);
  EXPECT_EQ(gone->last_failure->task, "start");
  EXPECT_EQ(gone->last_failure->exit_code, 1);
  EXPECT_EQ(gone->last_failure->exit_reason,
            "start pool 'gone': import pool 'gone': zpool exited 1: cannot import 'gone': no such pool available");
  int starts = 0;
  for (const auto& f : s->failures) starts += f.resource == "pool-gone" && f.task == "start";
  EXPECT_EQ(starts, 2) << "one failed start per head";
}

// A pool group as `cluster pool add` makes it, preferring h1, moved to h2 by
// a takeover; its IP failed a monitor on h1 before: status shows the group,
// its floating IP, the preference, the takeover and the IP's failure.
TEST(CrmMonTest, PoolGroupShowsItsIpsPreferenceTakeoverAndTheIpsFailure) {
  auto group = PoolGroupXml({*zfs::PoolName::Parse("tank"), {*Vip::Parse("10.88.0.50/24")}, {}, ""});
  ASSERT_TRUE(group);
  const std::string config =
      "<configuration><resources>" + *group + "</resources><constraints>" + PreferenceXml("pool-tank", *HeadName::Parse("h1")) +
      R"(<rsc_location id="cli-prefer-pool-tank" rsc="pool-tank" role="Started" node="h2" score="INFINITY"/>)"
      "</constraints></configuration>";
  const std::string mon = R"(<pacemaker-result><summary><current_dc present="true" name="h1" with_quorum="true"/></summary>
<resources><group id="pool-tank" number_resources="2">
<resource id="pool-tank-pool" resource_agent="ocf:poolkeeper:pool" role="Started" active="true"><node name="h2"/></resource>
<resource id="pool-tank-vip1" resource_agent="ocf:heartbeat:IPaddr2" role="Started" active="true"><node name="h2"/></resource>
</group></resources><failures>
<failure op_key="pool-tank-pool_start_0" node="h1" exitstatus="error" exitreason="older" exitcode="1" last-rc-change="2026-12-04 17:00:00Z" task="start"/>
<failure op_key="pool-tank-vip1_monitor_10000" node="h1" exitstatus="not running" exitreason="" exitcode="7" last-rc-change="2026-12-04 17:05:00Z" task="monitor"/>
</failures></pacemaker-result>)";
  auto s = ParseClusterStatus(mon, config);
  ASSERT_TRUE(s) << s.error().message();
  ASSERT_EQ(s->pools.size(), 1u);
  const auto& p = s->pools[0];
  EXPECT_EQ(p.pool, "tank");
  EXPECT_EQ(p.group, "pool-tank");
  EXPECT_THAT(p.vips, ElementsAre("10.88.0.50/24"));
  EXPECT_EQ(p.preferred_head, "h1");
  EXPECT_EQ(p.moved_to, "h2");
  EXPECT_THAT(p.owners, ElementsAre("h2"));
  ASSERT_TRUE(p.last_failure);
  EXPECT_EQ(p.last_failure->resource, "pool-tank-vip1");
  EXPECT_EQ(p.last_failure->task, "monitor");
  auto j = s->ToJson()["pools"][0];
  EXPECT_EQ(j["vips"], nlohmann::json::array({"10.88.0.50/24"}));
  EXPECT_EQ(j["preferred_head"], "h1");
  EXPECT_EQ(j["moved_to"], "h2");
  EXPECT_EQ(j["group"], "pool-tank");
}

TEST(CrmMonTest, TwoHeadsWithThePoolOnH1) {
  auto s = ParseClusterStatus(Golden("crm_mon-two-heads.xml"), Golden("cib-resources.xml"));
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->pacemakerd, "running");
  EXPECT_EQ(s->dc, "h2");
  EXPECT_TRUE(s->quorum);
  EXPECT_TRUE(s->fencing_enabled);
  EXPECT_FALSE(s->maintenance);
  ASSERT_EQ(s->heads.size(), 2u);
  EXPECT_EQ(s->heads[0].name, "h1");
  EXPECT_TRUE(s->heads[0].online);
  EXPECT_FALSE(s->heads[0].dc);
  EXPECT_EQ(s->heads[0].resources_running, 2);
  EXPECT_TRUE(s->heads[1].dc);

  ASSERT_EQ(s->pools.size(), 1u);
  EXPECT_EQ(s->pools[0].pool, "tank");
  EXPECT_EQ(s->pools[0].resource, "pool-tank");
  EXPECT_THAT(s->pools[0].owners, ElementsAre("h1"));
  EXPECT_EQ(s->pools[0].role, "Started");
  EXPECT_TRUE(s->pools[0].active);
  EXPECT_FALSE(s->pools[0].last_failure);

  ASSERT_EQ(s->fence_devices.size(), 2u);
  EXPECT_EQ(s->fence_devices[0].id, "fence-h1");
  EXPECT_EQ(s->fence_devices[0].agent, "stonith:fence_pkha");
  EXPECT_EQ(s->fence_devices[0].targets, "h1");
  EXPECT_EQ(s->fence_devices[0].running_on, "h2");
  ASSERT_EQ(s->fence_history.size(), 2u);
  EXPECT_EQ(s->fence_history[0].target, "h1");
  EXPECT_EQ(s->fence_history[0].by, "h2");
  EXPECT_EQ(s->fence_history[0].status, "success");
  EXPECT_EQ(s->fence_history[0].completed, "2026-11-22 05:50:01Z");
  EXPECT_TRUE(s->failures.empty());
}

TEST(CrmMonTest, AfterFailoverWithAFailedPool) {
  auto s = ParseClusterStatus(Golden("crm_mon-failover.xml"), Golden("cib-resources.xml"));
  ASSERT_TRUE(s) << s.error().message();
  ASSERT_EQ(s->heads.size(), 2u);
  EXPECT_FALSE(s->heads[0].online);
  EXPECT_FALSE(s->heads[0].unclean) << "h1 was fenced";
  EXPECT_TRUE(s->heads[1].online);

  ASSERT_EQ(s->pools.size(), 2u);
  EXPECT_EQ(s->pools[0].pool, "tank");
  EXPECT_THAT(s->pools[0].owners, ElementsAre("h2"));
  EXPECT_EQ(s->pools[1].pool, "nosuchpool");
  EXPECT_EQ(s->pools[1].resource, "pool-bad");
  EXPECT_TRUE(s->pools[1].owners.empty());
  EXPECT_EQ(s->pools[1].role, "Stopped");
  ASSERT_TRUE(s->pools[1].last_failure);
  EXPECT_EQ(s->pools[1].last_failure->task, "start");
  EXPECT_EQ(s->pools[1].last_failure->exit_code, 1);
  EXPECT_EQ(s->pools[1].last_failure->exit_status, "error");

  ASSERT_EQ(s->failures.size(), 1u);
  EXPECT_EQ(s->failures[0].resource, "pool-bad");
  EXPECT_EQ(s->failures[0].head, "h2");
  EXPECT_EQ(s->fence_history.front().completed, "2026-11-22 05:51:21Z");

  auto j = s->ToJson();
  EXPECT_EQ(j["pools"][0]["owners"], nlohmann::json::array({"h2"}));
  EXPECT_EQ(j["pools"][1]["last_failure"]["head"], s->pools[1].last_failure->head);
  EXPECT_EQ(j["heads"][0]["online"], false);
  EXPECT_EQ(j["dc"], "h2");
}

TEST(CrmMonTest, RepeatedFailuresAreListedOncePerHead) {
  auto s = ParseClusterStatus(Golden("crm_mon-failed-start.xml"), Golden("cib-resources.xml"));
  ASSERT_TRUE(s) << s.error().message();
  ASSERT_EQ(s->failures.size(), 2u);
  EXPECT_EQ(s->failures[0].head, "h1");
  EXPECT_EQ(s->failures[1].head, "h2");
  EXPECT_EQ(s->failures[0].when, "2026-11-22 05:51:09Z");
  ASSERT_EQ(s->pools.size(), 2u);
  EXPECT_THAT(s->pools[0].owners, ElementsAre("h1"));
  ASSERT_TRUE(s->pools[1].last_failure);
  EXPECT_EQ(s->pools[1].last_failure->task, "start");
}

TEST(CrmMonTest, ResourceIdsWithUnderscoresAndGroups) {
  const char* mon = R"(<pacemaker-result api-version="2.25">
  <summary><current_dc present="false"/><cluster_options stonith-enabled="false" maintenance-mode="true"/></summary>
  <nodes><node name="a" online="true" unclean="true"/></nodes>
  <resources><group id="g" number_resources="1">
    <resource id="pool_x_y" resource_agent="ocf:poolkeeper:pool" role="Started" active="true" failed="true">
      <node name="a"/><node name="b"/>
    </resource></group></resources>
  <failures><failure op_key="pool_x_y_monitor_2000" node="a" exitstatus="error" exitreason="pool &apos;x&apos; is SUSPENDED" exitcode="1" last-rc-change="2026-11-22 06:00:00Z" task="monitor"/></failures>
  <status code="0" message="OK"/></pacemaker-result>)";
  const char* cib = R"(<resources><group id="g"><primitive id="pool_x_y" class="ocf" provider="poolkeeper" type="pool">
    <instance_attributes id="i"><nvpair id="n" name="pool" value="x"/></instance_attributes></primitive></group></resources>)";
  auto s = ParseClusterStatus(mon, cib);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->dc, "");
  EXPECT_FALSE(s->quorum);
  EXPECT_FALSE(s->fencing_enabled);
  EXPECT_TRUE(s->maintenance);
  EXPECT_TRUE(s->heads[0].unclean);
  ASSERT_EQ(s->pools.size(), 1u);
  EXPECT_EQ(s->pools[0].pool, "x");
  EXPECT_THAT(s->pools[0].owners, ElementsAre("a", "b"));
  ASSERT_TRUE(s->pools[0].last_failure);
  EXPECT_EQ(s->pools[0].last_failure->resource, "pool_x_y");
  EXPECT_EQ(s->pools[0].last_failure->exit_reason, "pool 'x' is SUSPENDED");
}

TEST(CrmMonTest, RefusesWhatIsNotCrmMonOutput) {
  auto bad = ParseClusterStatus("<pacemaker-result><summary>", "<resources/>");
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message(), HasSubstr("crm_mon XML"));
  EXPECT_THAT(bad.error().message(), HasSubstr("line 1"));
  auto other = ParseClusterStatus("<cib/>", "<resources/>");
  ASSERT_FALSE(other);
  EXPECT_THAT(other.error().message(), HasSubstr("not <pacemaker-result>"));
  auto failed = ParseClusterStatus(R"(<pacemaker-result><status code="102" message="Not connected"/></pacemaker-result>)",
                                   "<resources/>");
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code(), ErrorCode::kUnavailable);
  auto missing = ParseClusterStatus(Golden("crm_mon-two-heads.xml"), "<resources/>");
  ASSERT_FALSE(missing);
  EXPECT_THAT(missing.error().message(), HasSubstr("no primitive 'pool-tank'"));
}

TEST(CrmMonTest, StatusRunsCrmMonAndCibadmin) {
  testing::FakeProcessRunner runner;
  runner.Expect({"/usr/sbin/crm_mon", "-1", "--output-as=xml", "--fence-history=2"},
                testing::FakeProcessRunner::Exited(0, Golden("crm_mon-failover.xml")));
  runner.Expect({"/usr/sbin/cibadmin", "--query", "--scope", "configuration"},
                testing::FakeProcessRunner::Exited(0, Golden("cib-resources.xml")));
  PacemakerFacts pcmk(runner);
  auto s = pcmk.Status();
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->pools.size(), 2u);
  EXPECT_TRUE(runner.UnmetExpectations().empty());

  runner.Expect({"/usr/sbin/crm_mon"}, testing::FakeProcessRunner::Exited(102, "", "crm_mon: Connection to cluster failed: Transport endpoint is not connected\n"));
  auto down = pcmk.Status();
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().code(), ErrorCode::kUnavailable);
  EXPECT_THAT(down.error().message(), HasSubstr("read cluster status: crm_mon exited 102: crm_mon: Connection to cluster failed"));

  // As crm_mon really answers on a machine without a cluster: XML on stdout (captured on the host).
  runner.Expect({"/usr/sbin/crm_mon"}, testing::FakeProcessRunner::Exited(102, R"(<pacemaker-result api-version="2.25" request="crm_mon -1 --output-as=xml --fence-history=2">
  <status code="102" message="Not connected">
    <errors>
      <error>error: Could not connect to launcher: Connection refused</error>
      <error>crm_mon: Connection to cluster failed: Connection refused</error>
    </errors>
  </status>
</pacemaker-result>
)"));
  auto none = pcmk.Status();
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(none.error().message(),
            "read cluster status: crm_mon: Not connected (code 102): error: Could not connect to launcher: Connection "
            "refused; crm_mon: Connection to cluster failed: Connection refused");
}

}  // namespace
}  // namespace pk::cluster
