// End-to-end test of `scripts/demo stop` after a crash (issue 18 acceptance:
// "scripts/demo stop after a SIGKILL of the demo's daemon exports the pool and
// leaves no process behind"; item 4).
//
// The real demo runs in a lab directory of its own (PK_LAB_DIR), beside the
// other suites' labs: it adopts the machine's zfs-fuse (its `lab down` never
// stops a daemon it did not start), and its pool, socket, ports, NFS
// namespace and SMB user come from PK_DEMO_* (from this test's pid, as the
// share suites pick theirs) instead of the fixed ones a user's demo takes.
// The build step is skipped (ctest runs from a built tree).
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "sys/daemon_launcher.h"
#include "sys/process_runner.h"
#include "tests/e2e/harness.h"
#include "tests/e2e/share_lab.h"

namespace pk::e2e {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

class DemoTest : public ::testing::Test {
 protected:
  // A stop succeeded, or failed (exit 1) only because zfs-fuse refused the
  // pool's destroy: seen in about one run in three, after the daemon's stop,
  // "umount: ...: not mounted" / "no mount point specified" for the dataset
  // with a blank in its mountpoint, even after the script's retries; the stop
  // says so and `lab down` exports the pool. Either way nothing may be left
  // (each test checks below). True when it was that refusal.
  bool OnlyTheDestroyWasRefused(const sys::ProcessResult& stop) {
    if (stop.status.Success()) return false;
    EXPECT_EQ(stop.status.code, 1) << stop.status.ToString();
    EXPECT_THAT(stop.err, HasSubstr("demo stop: pool destroy " + pool_)) << stop.out << stop.err;
    EXPECT_THAT(stop.err, HasSubstr("umount")) << stop.err;
    EXPECT_THAT(stop.err, HasSubstr("(1 problem(s), above)")) << stop.err;
    return true;
  }

  void SetUp() override {
    runner_ = sys::MakePosixProcessRunner();
    source_ = EnvOr("PK_SOURCE_DIR", "");
    std::string build = EnvOr("PK_BUILD_DIR", "");
    ASSERT_FALSE(source_.empty() || build.empty()) << "PK_SOURCE_DIR / PK_BUILD_DIR not set (run through ctest)";
    // The demo runs the binaries of <repo>/build.
    ASSERT_EQ(fs::weakly_canonical(build), fs::weakly_canonical(source_ + "/build"))
        << "scripts/demo uses <repo>/build; this build is elsewhere";
    lab_ = fmt::format("{}-demo{}", EnvOr("PK_LAB_DIR", "/var/tmp/poolkeeper-lab"), ::getpid());
    pool_ = fmt::format("demo{}", ::getpid());
    head_ = ShareHeadFor(0);
    env_ = ToolEnv();
    env_.insert(env_.end(), {"PK_LAB_DIR=" + lab_, "PK_DEMO_BUILD=no", "PK_DEMO_POOL=" + pool_,
                             "PK_DEMO_SOCKET=" + lab_ + "/demo-state/api.sock",
                             "PK_DEMO_PORTAL=" + head_.IscsiPortal(),
                             fmt::format("PK_DEMO_TGT_CONTROL_PORT={}", head_.tgt_control_port),
                             fmt::format("PK_DEMO_SMB_PORT={}", head_.smb_port),
                             "PK_DEMO_NFS_NETNS=" + head_.nfs_netns,
                             fmt::format("PK_DEMO_SMB_USER=pkdemo{}", ::getpid())});
  }

  void TearDown() override {
    if (!HasFailure()) return;
    // Leave the machine as found: the demo's own stop once more, then
    // whatever it still left (processes this test started: they name its lab).
    (void)Demo({"stop"});
    for (const auto& p : ProcessesMentioning(lab_)) ::kill(std::stoi(p), SIGKILL);
    if (PoolImported(*runner_, pool_)) (void)runner_->Run(ZfsTool("zpool", {"export", "-f", pool_}));
    sys::Command down{.program = source_ + "/scripts/lab", .args = {"down"}, .env = env_};
    down.timeout = std::chrono::seconds(120);
    (void)runner_->Run(down);
    (void)runner_->Run({.program = "/usr/sbin/userdel", .args = {fmt::format("pkdemo{}", ::getpid())}, .env = ToolEnv()});
  }

  sys::ProcessResult Demo(std::vector<std::string> args, const std::vector<std::string>& extra_env = {}) {
    sys::Command c{.program = source_ + "/scripts/demo", .args = std::move(args), .env = env_};
    c.env.insert(c.env.end(), extra_env.begin(), extra_env.end());
    c.timeout = std::chrono::seconds(240);
    auto r = runner_->Run(c);
    EXPECT_TRUE(r) << c.ToString() << ": " << r.error().message();
    return r ? *r : sys::ProcessResult{};
  }

  std::unique_ptr<sys::ProcessRunner> runner_;
  std::string source_, lab_, pool_;
  ShareHead head_;
  std::vector<std::string> env_;
};

// issue 18 item 4 (acceptance: scripts/demo stop after a SIGKILL).
TEST_F(DemoTest, StopAfterSigkillOfTheDaemonLeavesNothing) {
  auto up = Demo({});
  ASSERT_TRUE(up.status.Success()) << up.status.ToString() << "\n" << up.out << up.err;
  const std::string pidfile = lab_ + "/demo-poolkeeperd.pid";
  const pid_t daemon = std::stoi(ReadWholeFile(pidfile));
  ASSERT_GT(daemon, 0);
  // The servers the demo's shares run on, as the daemon recorded them.
  std::vector<pid_t> servers;
  std::vector<std::string> names;
  for (const auto& r : sys::ReadDaemonRecords(lab_ + "/demo-state/children")) {
    servers.push_back(r.pid);
    names.push_back(r.name);
  }
  EXPECT_THAT(names, ::testing::IsSupersetOf({"tgtd", "ganesha", "rpcbind", "smbd"}));

  // The crash: the data plane must outlive it (else this test would not
  // exercise the adoption path of `demo stop`).
  ASSERT_EQ(::kill(daemon, SIGKILL), 0);
  for (int i = 0; i < 100 && sys::ProcessStartTime(daemon); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_FALSE(sys::ProcessStartTime(daemon).has_value()) << "poolkeeperd survived SIGKILL";
  for (pid_t pid : servers) ASSERT_TRUE(sys::ProcessStartTime(pid).has_value()) << "server pid " << pid << " died with the daemon";
  ASSERT_TRUE(PoolImported(*runner_, pool_));

  auto stop = Demo({"stop"});
  EXPECT_THAT(stop.out, HasSubstr("starting it to adopt and stop what it left")) << stop.out;
  if (!OnlyTheDestroyWasRefused(stop)) {
    // The daemon's own stop removed the pool: `lab down` found nothing to export.
    EXPECT_THAT(stop.out + stop.err, Not(HasSubstr("could not export"))) << stop.out << stop.err;
    EXPECT_THAT(stop.out + stop.err, Not(HasSubstr("exporting pool " + pool_))) << stop.out << stop.err;
  }

  // Process listing: nothing the demo started is left (servers by recorded
  // pid, and anything naming the demo's lab: poolkeeperd, its servers' configs).
  for (pid_t pid : servers) EXPECT_FALSE(sys::ProcessStartTime(pid).has_value()) << "server pid " << pid << " left";
  EXPECT_THAT(ProcessesMentioning(lab_), IsEmpty());
  EXPECT_THAT(ProcessesMentioning(head_.nfs_netns), IsEmpty());
  // Mount listing: no mount under the demo's lab; the pool is gone; so are
  // the NFS namespace and the lab directory.
  EXPECT_THAT(MountsBelow(lab_), IsEmpty());
  EXPECT_FALSE(PoolImported(*runner_, pool_));
  EXPECT_FALSE(fs::exists("/run/netns/" + head_.nfs_netns));
  EXPECT_FALSE(fs::exists(lab_));
}

// issue 18 (a killed run of scripts/demo reported exit code 0): `demo stop`
// that had to SIGKILL its daemon (here: no grace after SIGTERM, so the
// daemon is still stopping its servers) printed "stopped" and exited 0 while
// the servers it had started could be left. Its exit status now says what
// happened: 1, naming the daemon and the SIGKILL; the next `demo stop`
// restarts the daemon to adopt what it left, stops it, and exits 0 with
// nothing left behind.
TEST_F(DemoTest, AStopThatHadToKillTheDaemonFailsAndTheNextStopCleansUp) {
  auto up = Demo({});
  ASSERT_TRUE(up.status.Success()) << up.status.ToString() << "\n" << up.out << up.err;
  const pid_t daemon = std::stoi(ReadWholeFile(lab_ + "/demo-poolkeeperd.pid"));
  ASSERT_GT(daemon, 0);

  auto killed = Demo({"stop"}, {"PK_DEMO_STOP_GRACE=0"});
  EXPECT_EQ(killed.status.kind, sys::ExitStatus::Kind::kExited) << killed.status.ToString();
  EXPECT_EQ(killed.status.code, 1) << "a stop that SIGKILLed the daemon reported " << killed.status.ToString() << "\n"
                                   << killed.out << killed.err;
  EXPECT_THAT(killed.err, HasSubstr(fmt::format("poolkeeperd (pid {}) did not exit within 0 s of SIGTERM and was killed",
                                                daemon)))
      << killed.err;
  EXPECT_THAT(killed.err, HasSubstr("demo: stop incomplete")) << killed.err;
  EXPECT_THAT(killed.out, Not(HasSubstr(fmt::format("poolkeeperd (pid {}) stopped", daemon)))) << killed.out;

  auto again = Demo({"stop"});
  OnlyTheDestroyWasRefused(again);
  EXPECT_THAT(again.out, HasSubstr("starting it to adopt and stop what it left")) << again.out;
  EXPECT_THAT(ProcessesMentioning(lab_), IsEmpty());
  EXPECT_THAT(ProcessesMentioning(head_.nfs_netns), IsEmpty());
  EXPECT_THAT(MountsBelow(lab_), IsEmpty());
  EXPECT_FALSE(PoolImported(*runner_, pool_));
  EXPECT_FALSE(fs::exists(lab_));
}

}  // namespace
}  // namespace pk::e2e
