#include "testing/fake_process_runner.h"

#include <signal.h>

#include <utility>

namespace pk::testing {
namespace {

bool ProgramMatches(const std::string& wanted, const std::string& program) {
  if (wanted == program) return true;
  return program.size() > wanted.size() && program.ends_with(wanted) &&
         program[program.size() - wanted.size() - 1] == '/';
}

bool Matches(const std::vector<std::string>& prefix, const sys::Command& command) {
  if (prefix.empty()) return true;
  if (!ProgramMatches(prefix[0], command.program)) return false;
  if (prefix.size() - 1 > command.args.size()) return false;
  for (size_t i = 1; i < prefix.size(); ++i) {
    if (prefix[i] != command.args[i - 1]) return false;
  }
  return true;
}

std::string Join(const std::vector<std::string>& words) {
  std::string text;
  for (const auto& word : words) {
    if (!text.empty()) text += ' ';
    text += word;
  }
  return text.empty() ? "<any command>" : text;
}

}  // namespace

sys::ProcessResult FakeProcessRunner::Exited(int code, std::string out, std::string err) {
  sys::ProcessResult result;
  result.status.kind = sys::ExitStatus::Kind::kExited;
  result.status.code = code;
  result.out = std::move(out);
  result.err = std::move(err);
  return result;
}

sys::ProcessResult FakeProcessRunner::Signaled(int signal, std::string out, std::string err) {
  sys::ProcessResult result;
  result.status.kind = sys::ExitStatus::Kind::kSignaled;
  result.status.signal = signal;
  result.out = std::move(out);
  result.err = std::move(err);
  return result;
}

sys::ProcessResult FakeProcessRunner::TimedOut(std::string out, std::string err) {
  sys::ProcessResult result = Signaled(SIGKILL, std::move(out), std::move(err));
  result.timed_out = true;
  return result;
}

void FakeProcessRunner::Expect(std::vector<std::string> argv_prefix,
                               Result<sys::ProcessResult> answer, Times times) {
  Expect(std::move(argv_prefix),
         Handler([answer = std::move(answer)](const sys::Command&) { return answer; }), times);
}

void FakeProcessRunner::Expect(std::vector<std::string> argv_prefix, Handler handler, Times times) {
  std::lock_guard lock(mu_);
  expectations_.push_back(Expectation{std::move(argv_prefix), std::move(handler), times});
}

void FakeProcessRunner::SetDefaultHandler(Handler handler) {
  std::lock_guard lock(mu_);
  default_handler_ = std::move(handler);
}

std::vector<sys::Command> FakeProcessRunner::calls() const {
  std::lock_guard lock(mu_);
  return calls_;
}

std::vector<std::string> FakeProcessRunner::UnmetExpectations() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> unmet;
  for (const auto& expectation : expectations_) {
    if (expectation.times == Times::kOnce) unmet.push_back(Join(expectation.argv_prefix));
  }
  return unmet;
}

Result<sys::ProcessResult> FakeProcessRunner::Run(const sys::Command& command) {
  Handler handler;
  {
    std::lock_guard lock(mu_);
    calls_.push_back(command);
    for (auto it = expectations_.begin(); it != expectations_.end(); ++it) {
      if (!Matches(it->argv_prefix, command)) continue;
      handler = it->handler;
      if (it->times == Times::kOnce) expectations_.erase(it);
      break;
    }
    if (!handler) handler = default_handler_;
  }
  if (!handler) {
    return Internal("FakeProcessRunner: unexpected command: " + command.ToString());
  }
  return handler(command);
}

}  // namespace pk::testing
