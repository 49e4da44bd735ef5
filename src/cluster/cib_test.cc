#include "cluster/cib.h"

#include <gtest/gtest.h>

namespace pk::cluster {
namespace {

constexpr const char* kConfig = R"(<configuration>
  <crm_config><cluster_property_set id="cib-bootstrap-options">
    <nvpair id="o1" name="dc-version" value="2.1.5"/>
    <nvpair id="o2" name="stonith-enabled" value="true"/>
  </cluster_property_set></crm_config>
  <nodes/>
  <resources>
    <primitive id="fence-h1" class="stonith" type="fence_pkha"><instance_attributes id="f1">
      <nvpair id="f1a" name="pcmk_host_list" value="h1"/><nvpair id="f1b" name="pcmk_delay_base" value="2s"/>
    </instance_attributes></primitive>
    <group id="pool-tank">
      <primitive id="pool-tank-pool" class="ocf" provider="poolkeeper" type="pool"><instance_attributes id="a">
        <nvpair id="a1" name="pool" value="tank"/></instance_attributes></primitive>
      <primitive id="pool-tank-vip1" class="ocf" provider="heartbeat" type="IPaddr2"><instance_attributes id="b">
        <nvpair id="b1" name="ip" value="10.88.0.50"/><nvpair id="b2" name="cidr_netmask" value="24"/></instance_attributes></primitive>
    </group>
    <primitive id="legacy" class="ocf" provider="poolkeeper" type="pool"><instance_attributes id="c">
      <nvpair id="c1" name="pool" value="old"/></instance_attributes></primitive>
    <primitive id="web-ip" class="ocf" provider="heartbeat" type="IPaddr2"><instance_attributes id="d">
      <nvpair id="d1" name="ip" value="10.88.0.60"/></instance_attributes></primitive>
  </resources>
  <constraints>
    <rsc_location id="pool-tank-prefers-h1" rsc="pool-tank" node="h1" score="50"/>
    <rsc_location id="cli-prefer-pool-tank" rsc="pool-tank" node="h2" score="INFINITY" role="Started"/>
    <rsc_location id="fence-h1-not-self" rsc="fence-h1" node="h1" score="-INFINITY"/>
  </constraints>
</configuration>)";

TEST(CibTest, ReadsPoolsVipsPreferencesAndFenceDevices) {
  auto cfg = ParseCibConfig(kConfig);
  ASSERT_TRUE(cfg) << cfg.error().message();
  ASSERT_EQ(cfg->pools.size(), 2u);
  const auto* tank = cfg->FindPool("tank");
  ASSERT_NE(tank, nullptr);
  EXPECT_EQ(tank->resource(), "pool-tank");
  EXPECT_EQ(tank->primitive, "pool-tank-pool");
  EXPECT_EQ(tank->vips, std::vector<std::string>{"10.88.0.50/24"});
  EXPECT_EQ(tank->vip_resources, std::vector<std::string>{"pool-tank-vip1"});
  EXPECT_EQ(tank->preferred_head, "h1");  // not the cli- move, not a ban
  const auto* old = cfg->FindPool("old");
  ASSERT_NE(old, nullptr);
  EXPECT_EQ(old->resource(), "legacy");
  EXPECT_EQ(cfg->ip_owners.at("10.88.0.60"), "web-ip");
  EXPECT_EQ(cfg->ip_owners.at("10.88.0.50"), "pool-tank-vip1");
  ASSERT_EQ(cfg->fence_devices.size(), 1u);
  EXPECT_EQ(cfg->fence_devices[0].delay_base, "2s");
  EXPECT_TRUE(cfg->HasId("pool-tank"));
  EXPECT_FALSE(cfg->HasId("pool-x"));
}

TEST(CibTest, StableConfigurationIgnoresVersionsAndSelfMaintainedProperties) {
  std::string a = R"(<cib epoch="5" num_updates="1"><configuration><crm_config><cluster_property_set id="o">)"
                  R"(<nvpair id="v" name="dc-version" value="1"/></cluster_property_set></crm_config></configuration>)"
                  R"(<status><node_state id="1"/></status></cib>)";
  std::string b = R"(<cib epoch="9" num_updates="4"><configuration><crm_config><cluster_property_set id="o">)"
                  R"(<nvpair id="v" name="dc-version" value="2"/></cluster_property_set></crm_config></configuration>)"
                  R"(<status/></cib>)";
  EXPECT_EQ(StableConfiguration(a), StableConfiguration(b));
  std::string c = R"(<cib epoch="9"><configuration><crm_config/><resources><primitive id="x"/></resources></configuration></cib>)";
  EXPECT_NE(StableConfiguration(a), StableConfiguration(c));
}

TEST(CibTest, PoolGroupPutsThePoolFirstThenOneIpaddr2PerVip) {
  auto pool = zfs::PoolName::Parse("tank");
  ASSERT_TRUE(pool);
  auto vips = Vip::ParseList("10.88.0.50/24,fd00::5/64");
  ASSERT_TRUE(vips);
  auto xml = PoolGroupXml({*pool, *vips, {"/srv/disks"}, ""});
  ASSERT_TRUE(xml) << xml.error().message();
  auto p = xml->find(R"(type="pool")");
  auto ip1 = xml->find(R"(value="10.88.0.50")");
  auto ip2 = xml->find(R"(value="fd00::5")");
  ASSERT_NE(p, std::string::npos);
  EXPECT_LT(p, ip1);
  EXPECT_LT(ip1, ip2);
  EXPECT_NE(xml->find(R"(name="search_dirs" value="/srv/disks")"), std::string::npos);
  // It reads back as the pool with both VIPs.
  auto cfg = ParseCibConfig("<resources>" + *xml + "</resources>");
  ASSERT_TRUE(cfg) << cfg.error().message();
  ASSERT_NE(cfg->FindPool("tank"), nullptr);
  EXPECT_EQ(cfg->FindPool("tank")->vips, (std::vector<std::string>{"10.88.0.50/24", "fd00::5/64"}));
  auto colon = zfs::PoolName::Parse("a:b");
  if (colon) {
    EXPECT_FALSE(PoolGroupId(*colon));
  }
}

TEST(CibTest, FenceDeviceXmlEscapesParametersAndCarriesTheDelay) {
  auto head = HeadName::Parse("h1");
  ASSERT_TRUE(head);
  std::string xml = FenceDeviceXml({*head, "fence_ipmilan", {{"ip", "10.0.0.5"}, {"password", "a\"<b"}}, 2});
  EXPECT_NE(xml.find(R"(value="a&quot;&lt;b")"), std::string::npos);
  EXPECT_NE(xml.find(R"(name="pcmk_delay_base" value="2s")"), std::string::npos);
  EXPECT_NE(xml.find(R"(name="pcmk_host_list" value="h1")"), std::string::npos);
  auto cfg = ParseCibConfig("<resources>" + xml + "</resources>");
  ASSERT_TRUE(cfg);
  ASSERT_EQ(cfg->fence_devices.size(), 1u);
  EXPECT_EQ(cfg->fence_devices[0].host_list, "h1");
  EXPECT_NE(FenceNotSelfXml(*head).find(R"(score="-INFINITY")"), std::string::npos);
}

}  // namespace
}  // namespace pk::cluster
