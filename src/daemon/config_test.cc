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

TEST(ConfigTest, ShareServersAreNamedOrChosen) {
  auto c = Config::Parse("iscsi_server = lio\nnfs_server = kernel\nnfs_exports_file = /etc/exports.d/pk.exports\n", "f");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->iscsi_server, "lio");
  EXPECT_EQ(c->nfs_server, "kernel");
  EXPECT_EQ(c->nfs_exports_file, "/etc/exports.d/pk.exports");
  auto bad = Config::Parse("\niscsi_server = scst\n", "f.conf");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message(), "f.conf line 2: iscsi_server must be auto, on, tgt, lio or off (not 'scst')");
  bad = Config::Parse("nfs_server = lio\n", "f.conf");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message(), "f.conf line 1: nfs_server must be auto, on, ganesha, kernel or off (not 'lio')");
  EXPECT_FALSE(Config::Parse("smb_server = kernel\n", "f"));
  EXPECT_FALSE(Config::Parse("nfs_exports_file = exports\n", "f"));
}

TEST(ConfigTest, AutoPicksTheKernelServersWhenTheHeadHasThem) {
  ServerFacts none;
  ServerFacts userspace{.tgt_installed = true, .ganesha_installed = true};
  ServerFacts kernel{.tgt_installed = true, .lio_present = true, .ganesha_installed = true, .kernel_nfs_present = true};
  EXPECT_EQ(ChooseIscsiServer("auto", kernel), IscsiServer::kLio);
  EXPECT_EQ(ChooseIscsiServer("auto", userspace), IscsiServer::kTgt);
  EXPECT_EQ(ChooseIscsiServer("auto", none), IscsiServer::kOff);
  EXPECT_EQ(ChooseNfsServer("auto", kernel), NfsServer::kKernel);
  EXPECT_EQ(ChooseNfsServer("auto", userspace), NfsServer::kGanesha);
  EXPECT_EQ(ChooseNfsServer("auto", none), NfsServer::kOff);
  // on: as auto, but a missing userspace server is still configured (its shares fail with the reason).
  EXPECT_EQ(ChooseIscsiServer("on", none), IscsiServer::kTgt);
  EXPECT_EQ(ChooseNfsServer("on", none), NfsServer::kGanesha);
  EXPECT_EQ(ChooseIscsiServer("on", kernel), IscsiServer::kLio);
  // A named server is used whatever the head has; off is off.
  EXPECT_EQ(ChooseIscsiServer("tgt", kernel), IscsiServer::kTgt);
  EXPECT_EQ(ChooseIscsiServer("lio", none), IscsiServer::kLio);
  EXPECT_EQ(ChooseNfsServer("ganesha", kernel), NfsServer::kGanesha);
  EXPECT_EQ(ChooseNfsServer("kernel", none), NfsServer::kKernel);
  EXPECT_EQ(ChooseIscsiServer("off", kernel), IscsiServer::kOff);
  EXPECT_EQ(ChooseNfsServer("off", kernel), NfsServer::kOff);
  EXPECT_EQ(IscsiServerName(IscsiServer::kLio), "lio");
  EXPECT_EQ(NfsServerName(NfsServer::kKernel), "kernel");
}

}  // namespace
}  // namespace pk::daemon
