#include "daemon/config.h"

#include <gtest/gtest.h>

namespace pk::daemon {
namespace {

TEST(ConfigTest, DefaultsWhenEmpty) {
  auto c = Config::Parse("", "test");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->state_dir, "/var/lib/poolkeeper");
  EXPECT_EQ(c->refresh_interval_seconds, 30);
  EXPECT_TRUE(c->tcp_listen.empty());
}

TEST(ConfigTest, ReadsEveryKey) {
  auto c = Config::Parse(
      "# comment\nstate_dir = /tmp/s\nsocket=\"/tmp/s.sock\"\ntcp_listen = 127.0.0.1:8470 # api\n"
      "refresh_interval_seconds = 5\ntool_timeout_seconds = 9\nlog_level = debug\n",
      "f");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->state_dir, "/tmp/s");
  EXPECT_EQ(c->socket, "/tmp/s.sock");
  EXPECT_EQ(c->tcp_listen, "127.0.0.1:8470");
  EXPECT_EQ(c->refresh_interval_seconds, 5);
  EXPECT_EQ(c->tool_timeout_seconds, 9);
  EXPECT_EQ(c->log_level, "debug");
}

TEST(ConfigTest, ErrorsNameTheLine) {
  auto unknown = Config::Parse("state_dir = /x\nbogus = 1\n", "f.conf");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().message(), "f.conf line 2: unknown key 'bogus'");
  auto bad = Config::Parse("refresh_interval_seconds = soon\n", "f.conf");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("line 1"), std::string::npos);
  EXPECT_FALSE(Config::Parse("state_dir = relative\n", "f"));
  EXPECT_FALSE(Config::Parse("no equals sign\n", "f"));
}

}  // namespace
}  // namespace pk::daemon
