// Tests of the real PosixProcessRunner. The children are ordinary system tools
// (/bin/sh, /bin/cat, /usr/bin/env); production code never runs a shell, but
// a shell is the simplest way to make a test child misbehave on purpose.
#include "sys/process_runner.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pk::sys {
namespace {

using ::testing::HasSubstr;

Command Shell(std::string script, std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  Command command;
  command.program = "/bin/sh";
  command.args = {"-c", std::move(script)};
  command.env = DefaultToolEnvironment();
  command.timeout = timeout;
  return command;
}

// True once `pid` no longer runs: gone (ESRCH), or a zombie waiting for its
// new parent (init may be slow or absent in a container) to reap it.
bool ProcessGone(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;
  const auto paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z';
}

// Polls ProcessGone for up to 5 s (bounded wait for the kernel, not a timing assertion).
bool WaitUntilGone(pid_t pid) {
  const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < limit) {
    if (ProcessGone(pid)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return ProcessGone(pid);
}

// No child of the test process is left unreaped.
void ExpectNoChildren() {
  errno = 0;
  const pid_t r = ::waitpid(-1, nullptr, WNOHANG);
  EXPECT_TRUE(r == 0 || (r == -1 && errno == ECHILD)) << "waitpid(-1) reaped a zombie: " << r;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "pk_process_runner_XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data()) != nullptr ? tmpl : "";
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class ProcessRunnerTest : public ::testing::Test {
 protected:
  void TearDown() override { ExpectNoChildren(); }
  std::unique_ptr<ProcessRunner> runner_ = MakePosixProcessRunner();
};

TEST(CommandTest, ToStringJoinsAndQuotes) {
  Command command;
  command.program = "/sbin/zpool";
  command.args = {"import", "-o", "cachefile=none", "my pool", ""};
  EXPECT_EQ(command.ToString(), "/sbin/zpool import -o cachefile=none 'my pool' ''");
}

TEST(ExitStatusTest, ToString) {
  EXPECT_EQ((ExitStatus{ExitStatus::Kind::kExited, 1, 0}).ToString(), "exited 1");
  EXPECT_EQ((ExitStatus{ExitStatus::Kind::kSignaled, 0, 9}).ToString(), "killed by signal 9 (SIGKILL)");
  EXPECT_EQ((ExitStatus{ExitStatus::Kind::kSignaled, 0, 15}).ToString(), "killed by signal 15 (SIGTERM)");
}

TEST(DefaultToolEnvironmentTest, FixedLocaleAndPath) {
  EXPECT_EQ(DefaultToolEnvironment(),
            (std::vector<std::string>{"LC_ALL=C",
                                      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}));
}

TEST_F(ProcessRunnerTest, CapturesExitCode) {
  auto result = runner_->Run(Shell("exit 3"));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_EQ(result->status.kind, ExitStatus::Kind::kExited);
  EXPECT_EQ(result->status.code, 3);
  EXPECT_FALSE(result->status.Success());
  EXPECT_FALSE(result->timed_out);
}

TEST_F(ProcessRunnerTest, CapturesStdoutAndStderr) {
  auto result = runner_->Run(Shell("printf 'to out\\n'; printf 'to err\\n' >&2"));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_TRUE(result->status.Success());
  EXPECT_EQ(result->out, "to out\n");
  EXPECT_EQ(result->err, "to err\n");
}

TEST_F(ProcessRunnerTest, PassesStdin) {
  Command command;
  command.program = "/bin/cat";
  command.stdin_data = "line one\nline two\n";
  auto result = runner_->Run(command);
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_TRUE(result->status.Success());
  EXPECT_EQ(result->out, "line one\nline two\n");
}

TEST_F(ProcessRunnerTest, EmptyStdinIsImmediateEof) {
  Command command;
  command.program = "/bin/cat";
  command.stdin_data = "";
  auto result = runner_->Run(command);
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_TRUE(result->status.Success());
  EXPECT_EQ(result->out, "");
}

TEST_F(ProcessRunnerTest, NoStdinIsDevNull) {
  Command command;
  command.program = "/bin/cat";  // would block forever on an inherited terminal
  auto result = runner_->Run(command);
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_TRUE(result->status.Success());
  EXPECT_EQ(result->out, "");
}

TEST_F(ProcessRunnerTest, LargeStdinIsWrittenWhileOutputIsRead) {
  // cat echoes as it reads: writing all of stdin before reading would deadlock.
  std::string data(8 * 1024 * 1024, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>('a' + i % 26);
  Command command;
  command.program = "/bin/cat";
  command.stdin_data = data;
  auto result = runner_->Run(command);
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_TRUE(result->status.Success());
  EXPECT_EQ(result->out.size(), data.size());
  EXPECT_TRUE(result->out == data);
}

TEST_F(ProcessRunnerTest, ChildIgnoringStdinDoesNotRaiseSigpipe) {
  // The child exits without reading; our writes hit EPIPE, which must neither
  // kill the test process nor fail Run().
  Command command;
  command.program = "/bin/true";
  command.stdin_data = std::string(4 * 1024 * 1024, 'x');
  auto result = runner_->Run(command);
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_TRUE(result->status.Success());
  sigset_t pending;
  sigemptyset(&pending);
  sigpending(&pending);
  EXPECT_EQ(sigismember(&pending, SIGPIPE), 0) << "a SIGPIPE was left pending";
}

TEST_F(ProcessRunnerTest, TenMegabytesOnBothPipesDoesNotDeadlock) {
  constexpr size_t kSize = 10 * 1024 * 1024;
  auto result = runner_->Run(Shell(
      "head -c 10485760 /dev/zero & head -c 10485760 /dev/zero | tr '\\000' e >&2; wait"));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_TRUE(result->status.Success()) << result->status.ToString();
  EXPECT_FALSE(result->timed_out);
  EXPECT_EQ(result->out.size(), kSize);
  EXPECT_EQ(result->err.size(), kSize);
  EXPECT_EQ(result->out.find_first_not_of('\0'), std::string::npos);
  EXPECT_EQ(result->err.find_first_not_of('e'), std::string::npos);
}

TEST_F(ProcessRunnerTest, TimeoutKillsWholeProcessGroup) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string pid_file = dir.path() + "/grandchild.pid";
  auto result = runner_->Run(
      Shell("sleep 1000 & echo $! > " + pid_file + "; sleep 1000", std::chrono::milliseconds(1500)));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_TRUE(result->timed_out);
  EXPECT_EQ(result->status.kind, ExitStatus::Kind::kSignaled);
  EXPECT_EQ(result->status.signal, SIGKILL);

  std::ifstream in(pid_file);
  pid_t grandchild = 0;
  ASSERT_TRUE(in >> grandchild) << "the child did not record its grandchild's pid";
  ASSERT_GT(grandchild, 0);
  EXPECT_TRUE(WaitUntilGone(grandchild)) << "grandchild " << grandchild << " survived the timeout";
  if (!ProcessGone(grandchild)) ::kill(grandchild, SIGKILL);  // don't leak it past the test
}

TEST_F(ProcessRunnerTest, GrandchildHoldingPipesIsBoundedByTimeout) {
  // The direct child exits at once, but its background grandchild keeps
  // stdout open; the timeout still ends Run() and kills the grandchild.
  auto result = runner_->Run(Shell("sleep 1000 & exit 0", std::chrono::milliseconds(500)));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_TRUE(result->timed_out);
  EXPECT_EQ(result->status.kind, ExitStatus::Kind::kExited);
  EXPECT_EQ(result->status.code, 0);
}

TEST_F(ProcessRunnerTest, ChildClosingItsPipesIsBoundedByTimeout) {
  auto result =
      runner_->Run(Shell("exec >/dev/null 2>&1; sleep 1000", std::chrono::milliseconds(500)));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_TRUE(result->timed_out);
  EXPECT_EQ(result->status.kind, ExitStatus::Kind::kSignaled);
  EXPECT_EQ(result->status.signal, SIGKILL);
}

TEST_F(ProcessRunnerTest, ChildClosingItsPipesThenExitingIsNotATimeout) {
  auto result = runner_->Run(Shell("exec >/dev/null 2>&1; sleep 0.2; exit 4"));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_FALSE(result->timed_out);
  EXPECT_EQ(result->status.code, 4);
}

TEST_F(ProcessRunnerTest, ReportsDeathBySignal) {
  auto result = runner_->Run(Shell("kill -TERM $$; sleep 10"));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_EQ(result->status.kind, ExitStatus::Kind::kSignaled);
  EXPECT_EQ(result->status.signal, SIGTERM);
  EXPECT_EQ(result->status.ToString(), "killed by signal 15 (SIGTERM)");
  EXPECT_FALSE(result->timed_out);
}

TEST_F(ProcessRunnerTest, ChildDoesNotInheritBlockedSignals) {
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  sigset_t old;
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &term, &old), 0);
  auto result = runner_->Run(Shell("kill -TERM $$; sleep 10"));
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_EQ(result->status.kind, ExitStatus::Kind::kSignaled);
  EXPECT_EQ(result->status.signal, SIGTERM);
}

TEST_F(ProcessRunnerTest, ChildLeadsItsOwnProcessGroup) {
  Command command;
  command.program = "/bin/cat";
  command.args = {"/proc/self/stat"};
  auto result = runner_->Run(command);
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  // "pid (comm) state ppid pgrp ..."
  const std::string& stat = result->out;
  const long pid = std::strtol(stat.c_str(), nullptr, 10);
  std::istringstream rest(stat.substr(stat.rfind(')') + 1));
  std::string state;
  long ppid = 0, pgrp = 0;
  ASSERT_TRUE(rest >> state >> ppid >> pgrp) << stat;
  EXPECT_EQ(pgrp, pid);
  EXPECT_NE(pgrp, static_cast<long>(::getpgrp()));
}

TEST_F(ProcessRunnerTest, EnvironmentIsExactlyTheGivenOne) {
  Command command;
  command.program = "/usr/bin/env";
  command.env = {"ONLY=this", "AND=that one"};
  auto result = runner_->Run(command);
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_TRUE(result->status.Success());
  EXPECT_EQ(result->out, "ONLY=this\nAND=that one\n");
}

TEST_F(ProcessRunnerTest, EmptyEnvironment) {
  Command command;
  command.program = "/usr/bin/env";
  auto result = runner_->Run(command);
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_EQ(result->out, "");
}

TEST_F(ProcessRunnerTest, RefusesRelativeProgram) {
  Command command;
  command.program = "sh";
  command.args = {"-c", "true"};
  auto result = runner_->Run(command);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(result.error().message(), HasSubstr("'sh'"));
}

TEST_F(ProcessRunnerTest, RefusesMalformedEnvironmentAndTimeout) {
  Command command;
  command.program = "/bin/true";
  command.env = {"NOEQUALS"};
  auto result = runner_->Run(command);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument);

  command.env = {};
  command.timeout = std::chrono::milliseconds(0);
  result = runner_->Run(command);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(ProcessRunnerTest, MissingProgramIsNotFound) {
  Command command;
  command.program = "/nonexistent/poolkeeper-no-such-tool";
  auto result = runner_->Run(command);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), ErrorCode::kNotFound);
  EXPECT_THAT(result.error().message(), HasSubstr("/nonexistent/poolkeeper-no-such-tool"));
}

TEST_F(ProcessRunnerTest, ConcurrentRunsDoNotInterfere) {
  // Each thread's pipes are O_CLOEXEC, so no child inherits another run's
  // pipe ends (which would hold EOF back until that other child exits).
  constexpr int kThreads = 8;
  std::vector<std::string> outputs(kThreads);
  std::vector<char> ok(kThreads, 0);  // not vector<bool>: threads write distinct elements
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      Command command;
      command.program = "/bin/cat";
      command.stdin_data = std::string(256 * 1024 + i, static_cast<char>('A' + i));
      auto result = runner_->Run(command);
      if (result.has_value() && result->status.Success()) {
        ok[i] = 1;
        outputs[i] = std::move(result->out);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int i = 0; i < kThreads; ++i) {
    EXPECT_TRUE(ok[i]) << "run " << i;
    EXPECT_EQ(outputs[i], std::string(256 * 1024 + i, static_cast<char>('A' + i))) << "run " << i;
  }
}

TEST(CommandTest, SecretArgumentsAreNeverShown) {
  Command c{.program = "/usr/sbin/tgtadm", .args = {"--user", "alice", "--password", "s3cret-s3cret"}};
  c.secret_args = {3};
  EXPECT_EQ(c.ToString(), "/usr/sbin/tgtadm --user alice --password ***");
}

}  // namespace
}  // namespace pk::sys
