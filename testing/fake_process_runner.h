// FakeProcessRunner: a sys::ProcessRunner for unit tests that runs nothing.
//
// It records every Command it is asked to run (calls()) and answers from
// expectations set up by the test:
//
//   FakeProcessRunner runner;
//   runner.Expect({"zpool", "list"}, FakeProcessRunner::Exited(0, "tank\n"));
//   runner.Expect({"zpool", "import"}, FakeProcessRunner::Exited(1, "", "no such pool\n"));
//   runner.Expect({"zfs"}, [](const sys::Command& c) { ... return result; },
//                 FakeProcessRunner::Times::kAlways);
//
// Matching: an expectation's argv prefix matches a Command whose argv
// (program, then args) starts with it. The first element matches the program
// either exactly ("/sbin/zpool") or by its last path component ("zpool"), so
// tests need not care where a tool is installed. Expectations are tried in the
// order they were added; the first match answers. A Times::kOnce expectation
// (the default) is used up by its match, so queuing several for the same
// prefix answers successive calls in order. A Command nothing matches gets the
// default handler's answer; without one, an Internal error naming the command.
//
// Thread-safety: all members may be called concurrently. Handlers run without
// the internal lock held, so they may call back into the fake.
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "base/error.h"
#include "sys/process_runner.h"

namespace pk::testing {

class FakeProcessRunner : public sys::ProcessRunner {
 public:
  using Handler = std::function<Result<sys::ProcessResult>(const sys::Command&)>;
  enum class Times { kOnce, kAlways };

  // A result with exit status `code` and the given output.
  static sys::ProcessResult Exited(int code, std::string out = "", std::string err = "");
  // A result of being killed by `signal`.
  static sys::ProcessResult Signaled(int signal, std::string out = "", std::string err = "");
  // A result of the timeout killing the group (SIGKILL, timed_out).
  static sys::ProcessResult TimedOut(std::string out = "", std::string err = "");

  // Answers matching Commands with a canned result (or error, e.g. NotFound to
  // simulate a missing tool).
  void Expect(std::vector<std::string> argv_prefix, Result<sys::ProcessResult> answer,
              Times times = Times::kOnce);
  // Answers matching Commands by calling `handler`.
  void Expect(std::vector<std::string> argv_prefix, Handler handler, Times times = Times::kOnce);
  // Answers Commands no expectation matches.
  void SetDefaultHandler(Handler handler);

  // Every Command passed to Run(), in call order (a copy).
  std::vector<sys::Command> calls() const;
  // Descriptions of kOnce expectations not used yet ("zpool import"); empty
  // when the code under test ran everything the test expected.
  std::vector<std::string> UnmetExpectations() const;

  Result<sys::ProcessResult> Run(const sys::Command& command) override;

 private:
  struct Expectation {
    std::vector<std::string> argv_prefix;
    Handler handler;
    Times times;
  };

  mutable std::mutex mu_;
  std::vector<sys::Command> calls_;         // guarded by mu_
  std::vector<Expectation> expectations_;   // guarded by mu_
  Handler default_handler_;                 // guarded by mu_
};

}  // namespace pk::testing
