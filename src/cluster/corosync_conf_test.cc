#include "cluster/corosync_conf.h"

#include <gtest/gtest.h>

namespace pk::cluster {
namespace {

CorosyncHead Head(const char* name, const char* addr) { return {*HeadName::Parse(name), addr}; }

TEST(CorosyncConfTest, TwoHeadsGetTwoNodeAndReadBack) {
  CorosyncSpec spec{"pkha", {Head("h1", "10.88.0.11"), Head("h2", "10.88.0.12")}, std::nullopt};
  auto text = RenderCorosyncConf(spec);
  ASSERT_TRUE(text) << text.error().message();
  EXPECT_NE(text->find("two_node: 1"), std::string::npos);
  EXPECT_NE(text->find("crypto_cipher: aes256"), std::string::npos);
  EXPECT_EQ(text->find("device {"), std::string::npos);
  auto back = ParseCorosyncConf(*text);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->cluster_name, "pkha");
  ASSERT_EQ(back->heads.size(), 2u);
  EXPECT_EQ(back->heads[1].name.str(), "h2");
  EXPECT_EQ(back->heads[1].address, "10.88.0.12");
  EXPECT_FALSE(back->qdevice);
}

// The text of section `name` (from "name {" to its closing brace, one level).
std::string Section(const std::string& text, const std::string& name) {
  size_t open = text.find(name + " {");
  if (open == std::string::npos) return "";
  int depth = 0;
  for (size_t i = text.find('{', open); i < text.size(); ++i) {
    if (text[i] == '{') ++depth;
    if (text[i] == '}' && --depth == 0) return text.substr(open, i + 1 - open);
  }
  return "";
}

TEST(CorosyncConfTest, DetectionTimingIsForOneLan) {
  CorosyncSpec two{"c2", {Head("a", "10.0.0.1"), Head("b", "10.0.0.2")}, std::nullopt};
  auto t = RenderCorosyncConf(two);
  ASSERT_TRUE(t) << t.error().message();
  // A head is lost after 1 s without the token, not corosync's default 3 s.
  EXPECT_NE(Section(*t, "totem").find("\n    token: 1000\n"), std::string::npos) << *t;
  EXPECT_EQ(t->find("consensus"), std::string::npos) << "consensus stays 1.2 * token";
  EXPECT_EQ(t->find("timeout"), std::string::npos) << "no quorum device, no device timeouts";

  CorosyncSpec qd{"c2", {Head("a", "10.0.0.1"), Head("b", "10.0.0.2")}, QuorumDevice{"10.0.0.9", 5403}};
  auto q = RenderCorosyncConf(qd);
  ASSERT_TRUE(q) << q.error().message();
  EXPECT_NE(Section(*q, "totem").find("\n    token: 1000\n"), std::string::npos) << *q;
  std::string device = Section(Section(*q, "quorum"), "device");
  EXPECT_NE(device.find("\n        timeout: 3000\n"), std::string::npos) << *q;
  EXPECT_NE(device.find("\n        sync_timeout: 5000\n"), std::string::npos) << *q;
  // The device's timeouts stay above the token, as corosync-qdevice needs.
  EXPECT_GT(kQdeviceTimeoutMs, kCorosyncTokenMs);
  EXPECT_GT(kQdeviceSyncTimeoutMs, kQdeviceTimeoutMs);
  // The reader still finds the device.
  auto back = ParseCorosyncConf(*q);
  ASSERT_TRUE(back && back->qdevice);
  EXPECT_EQ(back->qdevice->host, "10.0.0.9");
}

TEST(CorosyncConfTest, ThreeHeadsHaveNoTwoNodeAndTwoPlusQdeviceHaveADevice) {
  CorosyncSpec three{"c3", {Head("a", "10.0.0.1"), Head("b", "10.0.0.2"), Head("c", "10.0.0.3")}, std::nullopt};
  auto t = RenderCorosyncConf(three);
  ASSERT_TRUE(t) << t.error().message();
  EXPECT_EQ(t->find("two_node"), std::string::npos);
  CorosyncSpec qd{"c2", {Head("a", "10.0.0.1"), Head("b", "10.0.0.2")}, QuorumDevice{"10.0.0.9", 5403}};
  auto q = RenderCorosyncConf(qd);
  ASSERT_TRUE(q) << q.error().message();
  EXPECT_EQ(q->find("two_node"), std::string::npos);
  EXPECT_NE(q->find("algorithm: ffsplit"), std::string::npos);
  auto back = ParseCorosyncConf(*q);
  ASSERT_TRUE(back && back->qdevice);
  EXPECT_EQ(back->qdevice->host, "10.0.0.9");
  EXPECT_EQ(back->qdevice->port, 5403);
}

TEST(CorosyncConfTest, RefusesBadShapes) {
  auto msg = [](CorosyncSpec s) {
    auto r = RenderCorosyncConf(s);
    return r ? std::string("accepted") : r.error().message();
  };
  EXPECT_NE(msg({"c", {Head("a", "10.0.0.1")}, std::nullopt}).find("two or three heads, not 1"), std::string::npos);
  EXPECT_NE(msg({"c", {Head("a", "10.0.0.1"), Head("a", "10.0.0.2")}, std::nullopt}).find("head 'a' is given twice"),
            std::string::npos);
  EXPECT_NE(msg({"c", {Head("a", "10.0.0.1"), Head("b", "10.0.0.1")}, std::nullopt}).find("address 10.0.0.1"), std::string::npos);
  EXPECT_NE(msg({"c", {Head("a", "10.0.0.1"), Head("b", "fd00::1")}, std::nullopt}).find("address family"), std::string::npos);
  EXPECT_NE(msg({"c", {Head("a", "10.0.0.1"), Head("b", "10.0.0.2"), Head("c", "10.0.0.3")}, QuorumDevice{"10.0.0.9", 5403}})
                .find("quorum device is for two heads"),
            std::string::npos);
  EXPECT_NE(msg({"bad name", {Head("a", "10.0.0.1"), Head("b", "10.0.0.2")}, std::nullopt}).find("cluster name"),
            std::string::npos);
}

TEST(CorosyncConfTest, ReadsTheDistributionDefaultAsOneNode) {
  // Debian's shipped /etc/corosync/corosync.conf: one node on loopback, not a cluster.
  auto spec = ParseCorosyncConf(R"(totem {
	version: 2
	cluster_name: debian
	crypto_cipher: none
	crypto_hash: none
}
nodelist {
	node {
		name: node1
		nodeid: 1
		ring0_addr: 127.0.0.1
	}
}
)");
  ASSERT_TRUE(spec) << spec.error().message();
  EXPECT_EQ(spec->heads.size(), 1u);
  EXPECT_FALSE(ParseCorosyncConf("totem {\n"));
  EXPECT_FALSE(ParseCorosyncConf("}\n"));
}

TEST(CorosyncConfTest, HeadAddressArgumentsAndJoinBundleRoundTrip) {
  auto h = ParseHeadAddress("h1=10.88.0.11");
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_EQ(h->name.str(), "h1");
  EXPECT_FALSE(ParseHeadAddress("h1"));
  EXPECT_FALSE(ParseHeadAddress("h1=nowhere"));
  std::string key(256, '\0');
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<char>(i * 7);
  for (size_t len : {256u, 257u, 258u}) {
    std::string k = key + std::string(len - 256, 'x');
    auto b = ParseJoinBundle(RenderJoinBundle({"totem {\n}\n", k}));
    ASSERT_TRUE(b) << b.error().message();
    EXPECT_EQ(b->authkey, k);
    EXPECT_EQ(b->corosync_conf, "totem {\n}\n");
  }
  EXPECT_FALSE(ParseJoinBundle("{}"));
  EXPECT_FALSE(ParseJoinBundle(RenderJoinBundle({"x", "short"})));
}

}  // namespace
}  // namespace pk::cluster
