#include "cluster/names.h"

#include <gtest/gtest.h>

namespace pk::cluster {
namespace {

TEST(HeadNameTest, AcceptsHostNamesAndRefusesTheRest) {
  EXPECT_TRUE(HeadName::Parse("h1"));
  EXPECT_TRUE(HeadName::Parse("head-a.example_1"));
  for (const char* bad : {"", "-h1", "h 1", "h1;rm", "h/1", ".h"}) {
    auto r = HeadName::Parse(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  }
  EXPECT_FALSE(HeadName::Parse(std::string(64, 'a')));
}

TEST(VipTest, ParsesIpv4AndIpv6WithPrefix) {
  auto v4 = Vip::Parse("10.88.0.50/24");
  ASSERT_TRUE(v4) << v4.error().message();
  EXPECT_EQ(v4->address(), "10.88.0.50");
  EXPECT_EQ(v4->prefix(), 24);
  EXPECT_EQ(v4->family(), Vip::Family::kIpv4);
  auto v6 = Vip::Parse("FD00:0::5/64");
  ASSERT_TRUE(v6) << v6.error().message();
  EXPECT_EQ(v6->address(), "fd00::5");
  EXPECT_EQ(v6->str(), "fd00::5/64");
}

TEST(VipTest, RefusesWhatCannotFloatNamingTheCause) {
  struct Case {
    const char* text;
    const char* words;
  } cases[] = {
      {"10.88.0.50", "no prefix length"},
      {"10.88.0.300/24", "not an IPv4 or IPv6 address"},
      {"10.88.0.50/33", "prefix length '33'"},
      {"10.88.0.50/", "prefix length ''"},
      {"10.88.0.50/2x", "prefix length '2x'"},
      {"fd00::5/129", "from 1 to 128"},
      {"127.0.0.5/8", "loopback"},
      {"0.0.0.0/8", "unspecified"},
      {"10.88.0.0/24", "network or broadcast"},
      {"10.88.0.255/24", "network or broadcast"},
      {"vip.example/24", "not an IPv4 or IPv6 address"},
  };
  for (const auto& c : cases) {
    auto r = Vip::Parse(c.text);
    ASSERT_FALSE(r) << c.text;
    EXPECT_NE(r.error().message().find(c.words), std::string::npos) << r.error().message();
    EXPECT_NE(r.error().message().find(std::string(c.text)), std::string::npos) << r.error().message();
  }
}

TEST(VipTest, ListsSplitOnCommasAndRefuseDuplicates) {
  auto l = Vip::ParseList("10.88.0.50/24,fd00::5/64");
  ASSERT_TRUE(l) << l.error().message();
  ASSERT_EQ(l->size(), 2u);
  EXPECT_EQ((*l)[1].address(), "fd00::5");
  auto dup = Vip::ParseList("10.88.0.50/24,10.88.0.50/16");
  ASSERT_FALSE(dup);
  EXPECT_NE(dup.error().message().find("twice"), std::string::npos);
  EXPECT_FALSE(Vip::ParseList("10.88.0.50/24,"));
}

TEST(VipTest, SameSubnet) {
  auto v = Vip::Parse("10.88.0.50/24");
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->SameSubnet("10.88.0.11"));
  EXPECT_FALSE(v->SameSubnet("10.88.1.11"));
  EXPECT_FALSE(v->SameSubnet("fd00::1"));
  auto v6 = Vip::Parse("fd00::5/64");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->SameSubnet("fd00::abcd"));
  EXPECT_FALSE(v6->SameSubnet("fd01::5"));
}

}  // namespace
}  // namespace pk::cluster
