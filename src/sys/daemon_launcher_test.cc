// Tests of the real PosixDaemonLauncher's records and adoption (issue 18
// item 1) with real processes (/bin/sleep). A launcher that "dies" is a
// forked child that launches and then _exit()s without running destructors,
// as a SIGKILLed poolkeeperd would: its server keeps running, reparented.
#include "sys/daemon_launcher.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace pk::sys {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

Command Sleep(const std::string& seconds) {
  return Command{.program = "/bin/sleep", .args = {seconds}, .env = DefaultToolEnvironment()};
}

// Gone, or a zombie its new parent has not reaped yet.
bool Gone(pid_t pid) { return !ProcessStartTime(pid).has_value(); }

bool WaitGone(pid_t pid) {
  for (int i = 0; i < 500 && !Gone(pid); ++i) std::this_thread::sleep_for(milliseconds(10));
  return Gone(pid);
}

class DaemonRecordsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pk-daemon-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    records_ = dir_ + "/children";
    log_ = dir_ + "/out.log";
  }
  void TearDown() override {
    for (pid_t pid : strays_) {
      if (!Gone(pid)) ::kill(pid, SIGKILL);
    }
    fs::remove_all(dir_);
  }

  // Launches `command` recorded as `name` in a child process that then dies
  // without cleaning up; returns the server's pid (left running).
  pid_t LaunchInDyingDaemon(const std::string& name, const Command& command) {
    int fds[2];
    EXPECT_EQ(::pipe(fds), 0);
    pid_t child = ::fork();
    if (child == 0) {
      ::close(fds[0]);
      auto launcher = MakePosixDaemonLauncher(records_);
      auto d = launcher->LaunchRecorded(name, command, log_);
      pid_t pid = d ? (*d)->pid() : -1;
      (void)!::write(fds[1], &pid, sizeof pid);
      ::_exit(0);  // no destructors: the handle never stops its server
    }
    ::close(fds[1]);
    pid_t pid = -1;
    EXPECT_EQ(::read(fds[0], &pid, sizeof pid), static_cast<ssize_t>(sizeof pid));
    ::close(fds[0]);
    int status = 0;
    ::waitpid(child, &status, 0);
    if (pid > 0) strays_.push_back(pid);
    return pid;
  }

  std::string dir_, records_, log_;
  std::vector<pid_t> strays_;
};

// issue 18 item 1: a server recorded by a daemon that died is adopted by the
// next one (same pid), which can signal and stop it; the record goes with it.
TEST_F(DaemonRecordsTest, AServerLeftByAKilledDaemonIsAdoptedAndStoppable) {
  pid_t pid = LaunchInDyingDaemon("sleeper", Sleep("300"));
  ASSERT_GT(pid, 0);
  ASSERT_FALSE(Gone(pid)) << "the server died with its launcher";
  EXPECT_EQ(::getsid(pid), pid) << "a server leads its own session";
  auto records = ReadDaemonRecords(records_);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].name, "sleeper");
  EXPECT_EQ(records[0].pid, pid);
  EXPECT_EQ(records[0].start_time, ProcessStartTime(pid).value_or(0));

  auto launcher = MakePosixDaemonLauncher(records_);
  auto adopted = launcher->Adopt("sleeper", Sleep("300"));
  ASSERT_TRUE(adopted) << adopted.error().message();
  ASSERT_NE(*adopted, nullptr) << "not adopted";
  EXPECT_EQ((*adopted)->pid(), pid);
  EXPECT_TRUE((*adopted)->Running());
  EXPECT_TRUE((*adopted)->Signal(0));
  (*adopted)->Stop(SIGTERM, std::chrono::seconds(5));
  EXPECT_TRUE(WaitGone(pid));
  EXPECT_FALSE((*adopted)->Running());
  EXPECT_TRUE(ReadDaemonRecords(records_).empty()) << "the record outlived its process";
}

// An adopted process that exits by itself is seen through its pidfd (it is
// not our child: waitpid cannot see it).
TEST_F(DaemonRecordsTest, AnAdoptedServerThatExitsIsSeenToExit) {
  pid_t pid = LaunchInDyingDaemon("sleeper", Sleep("300"));
  ASSERT_GT(pid, 0);
  auto launcher = MakePosixDaemonLauncher(records_);
  auto adopted = launcher->Adopt("sleeper", Sleep("300"));
  ASSERT_TRUE(adopted && *adopted);
  EXPECT_TRUE((*adopted)->Running());
  ::kill(pid, SIGKILL);
  bool exited = false;
  for (int i = 0; i < 500 && !exited; ++i) {
    exited = !(*adopted)->Running();
    if (!exited) std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_TRUE(exited);
  EXPECT_TRUE((*adopted)->Exit().has_value());
  EXPECT_TRUE(ReadDaemonRecords(records_).empty());
}

// issue 18 item 1 (pid reuse): a record whose pid now belongs to a process
// started at another time is not adopted, and that process is left alone.
TEST_F(DaemonRecordsTest, AReusedPidIsNotAdopted) {
  auto own = MakePosixDaemonLauncher();
  auto other = own->Launch(Sleep("300"), log_);
  ASSERT_TRUE(other);
  pid_t pid = (*other)->pid();
  auto start = ProcessStartTime(pid);
  ASSERT_TRUE(start);
  fs::create_directories(records_);
  std::ofstream(records_ + "/sleeper") << "pid=" << pid << "\nstart_time=" << (*start + 1)
                                       << "\ncommand_hash=" << CommandHash(Sleep("300")) << "\n";
  auto launcher = MakePosixDaemonLauncher(records_);
  auto adopted = launcher->Adopt("sleeper", Sleep("300"));
  ASSERT_TRUE(adopted);
  EXPECT_EQ(*adopted, nullptr) << "adopted a process that only shares the recorded pid";
  EXPECT_TRUE((*other)->Running()) << "the unrelated process was signalled";
  EXPECT_FALSE(fs::exists(records_ + "/sleeper"));
}

// issue 18 item 1 ("replaces them cleanly"): a recorded server started with
// another configuration is stopped, so a new one can take its port.
TEST_F(DaemonRecordsTest, AServerWithAnotherConfigurationIsStoppedNotAdopted) {
  pid_t pid = LaunchInDyingDaemon("sleeper", Sleep("300"));
  ASSERT_GT(pid, 0);
  auto launcher = MakePosixDaemonLauncher(records_);
  auto adopted = launcher->Adopt("sleeper", Sleep("301"));
  ASSERT_TRUE(adopted);
  EXPECT_EQ(*adopted, nullptr);
  EXPECT_TRUE(WaitGone(pid)) << "the old server still runs beside the new one";
  EXPECT_TRUE(ReadDaemonRecords(records_).empty());
}

// A server this daemon stops (a deliberate stop) drops its record, so the
// next daemon adopts nothing.
TEST_F(DaemonRecordsTest, AStoppedServerLeavesNoRecord) {
  auto launcher = MakePosixDaemonLauncher(records_);
  auto d = launcher->LaunchRecorded("sleeper", Sleep("300"), log_);
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(ReadDaemonRecords(records_).size(), 1u);
  (*d)->Stop(SIGTERM, std::chrono::seconds(5));
  EXPECT_TRUE(ReadDaemonRecords(records_).empty());
  auto again = launcher->Adopt("sleeper", Sleep("300"));
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, nullptr);
  EXPECT_FALSE(launcher->LaunchRecorded("../x", Sleep("1"), log_)) << "a record name with '/' was accepted";
}

}  // namespace
}  // namespace pk::sys
