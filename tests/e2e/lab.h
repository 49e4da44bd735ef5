// e2e::Lab: the set-up every end-to-end suite shares (issue 19 item 7): the
// build and lab directories from the environment ctest sets, a process runner,
// a fresh work directory for the suite's daemon, the daemon's options, the CLI
// client, lab pools made for the suite, and the clean-up of all of them.
// Every step returns pk::Status, naming what failed.
//
// A suite that sets up once per suite derives from LabSuite<Self> and defines
// `static Status SetUpLab()` (and, if it needs one, `static void
// TearDownLab()`, run before the lab's own clean-up); a test whose suite
// set-up failed fails with that error. A suite that sets up per test keeps
// an e2e::Lab member and calls Open()/Close() from SetUp()/TearDown().
//
// Thread-safety: none; a suite uses its lab from the test thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "base/error.h"
#include "sys/process_runner.h"
#include "tests/e2e/harness.h"

namespace pk::e2e {

class Lab {
 public:
  // Reads PK_BUILD_DIR (required: ctest sets it), PK_SOURCE_DIR (required when
  // `needs_source`) and PK_LAB_DIR, and makes the work directory
  // LAB/TAG-daemon-XXXXXX with the daemon's options inside it.
  Status Open(const std::string& tag, bool needs_source = false);

  const std::string& lab_dir() const { return lab_; }
  const std::string& build_dir() const { return build_; }
  const std::string& source_dir() const { return source_; }
  const std::string& work() const { return work_; }
  // A program of the build tree: "src/cli/poolkeeper" -> BUILD/src/cli/poolkeeper.
  std::string Binary(const std::string& relative) const { return build_ + "/" + relative; }
  sys::ProcessRunner& runner() { return *runner_; }

  // The daemon's options (SuiteDaemonOptions); change them before StartDaemon().
  PoolkeeperdOptions& options() { return options_; }
  // The real CLI against options().socket.
  CliClient cli() { return CliClient(runner_.get(), Binary("src/cli/poolkeeper"), options_.socket); }
  Poolkeeperd& daemon() { return daemon_; }
  // Starts the daemon with options(); the error ends with the daemon's log.
  Status StartDaemon() { return StartSuitePoolkeeperd(daemon_, options_); }

  // A single-disk pool under the lab (CreateLabPool), destroyed by Close().
  Result<LabPool> CreatePool(const std::string& name, off_t bytes = kDiskBytes);
  // Runs `command` to a successful exit (RunOk); its stdout.
  Result<std::string> Run(const sys::Command& command) { return RunOk(*runner_, command); }

  // Stops the daemon (if running), re-imports and destroys the pools
  // CreatePool made, and removes the work directory unless a test failed (then
  // the daemon log's end is printed). What could not be cleaned fails the test.
  void Close();

 private:
  std::unique_ptr<sys::ProcessRunner> runner_ = sys::MakePosixProcessRunner();
  std::string lab_, build_, source_, work_;
  PoolkeeperdOptions options_;
  Poolkeeperd daemon_;
  std::vector<LabPool> pools_;
};

template <class Suite>
class LabSuite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { setup_ = Suite::SetUpLab(); }
  static void TearDownTestSuite() {
    Suite::TearDownLab();
    lab_.Close();
  }
  static void TearDownLab() {}

  void SetUp() override {
    if (!setup_) GTEST_FAIL() << "suite set-up failed: " << setup_.error().message();
  }

  static inline Lab lab_;
  static inline Status setup_ = OkStatus();
};

}  // namespace pk::e2e
