// FakeDaemonLauncher: a sys::DaemonLauncher for unit tests (STYLE rule 5).
// Launch() starts nothing: it records the command and log path and returns a
// daemon that "runs" until stopped. Each daemon's state is owned by the
// launcher, so a test can read it after the code under test destroyed its
// handle. Signals are recorded and may trigger a hook (e.g. a fake server
// that rereads its configuration on SIGHUP).
//
// Thread-safety: none; a test drives it from one thread.
#pragma once

#include <signal.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sys/daemon_launcher.h"

namespace pk::testing {

struct FakeServerProcessState {
  bool running = true;
  int stopped_with = 0;      // the signal Stop() was asked to send while it ran
  std::vector<int> signals;  // Signal() calls, in order
};

class FakeServerProcess final : public sys::ServerProcess {
 public:
  FakeServerProcess(pid_t pid, std::shared_ptr<FakeServerProcessState> state, std::function<void(int)> on_signal)
      : pid_(pid), state_(std::move(state)), on_signal_(std::move(on_signal)) {}
  pid_t pid() const override { return pid_; }
  bool Running() override { return state_->running; }
  std::optional<sys::ExitStatus> Exit() override {
    if (state_->running) return std::nullopt;
    return sys::ExitStatus{};
  }
  sys::ExitStatus Stop(int signal, std::chrono::milliseconds) override {
    if (state_->running) state_->stopped_with = signal;
    state_->running = false;
    return {};
  }
  Status Signal(int signal) override {
    state_->signals.push_back(signal);
    if (on_signal_) on_signal_(signal);
    return OkStatus();
  }

 private:
  pid_t pid_;
  std::shared_ptr<FakeServerProcessState> state_;
  std::function<void(int)> on_signal_;
};

class FakeDaemonLauncher final : public sys::DaemonLauncher {
 public:
  // Called at launch with the command; returns the new daemon's signal hook (or nullptr).
  std::function<std::function<void(int)>(const sys::Command&)> on_launch;

  Result<std::unique_ptr<sys::ServerProcess>> Launch(const sys::Command& command, const std::string& log_path) override {
    launched.push_back(command);
    logs.push_back(log_path);
    daemons.push_back(std::make_shared<FakeServerProcessState>());
    return std::unique_ptr<sys::ServerProcess>(std::make_unique<FakeServerProcess>(
        1000 + static_cast<pid_t>(launched.size()), daemons.back(), on_launch ? on_launch(command) : nullptr));
  }

  Result<std::unique_ptr<sys::ServerProcess>> LaunchRecorded(const std::string& name, const sys::Command& command,
                                                      const std::string& log_path) override {
    recorded.push_back(name);
    return Launch(command, log_path);
  }

  // Adopt(NAME, command) answers a daemon put into `adoptable` (as a killed
  // earlier poolkeeperd would have left it) when its command matches; a
  // mismatch "stops" it and adopts nothing, as the real launcher does.
  struct Adoptable {
    sys::Command command;
    std::shared_ptr<FakeServerProcessState> state = std::make_shared<FakeServerProcessState>();
    pid_t pid = 500;
  };
  Result<std::unique_ptr<sys::ServerProcess>> Adopt(const std::string& name, const sys::Command& command) override {
    adopt_asked.push_back(name);
    auto it = adoptable.find(name);
    if (it == adoptable.end() || !it->second.state->running) return std::unique_ptr<sys::ServerProcess>();
    Adoptable a = it->second;
    adoptable.erase(it);
    if (a.command.program != command.program || a.command.args != command.args) {
      a.state->running = false;
      a.state->stopped_with = SIGTERM;
      return std::unique_ptr<sys::ServerProcess>();
    }
    return std::unique_ptr<sys::ServerProcess>(
        std::make_unique<FakeServerProcess>(a.pid, a.state, on_launch ? on_launch(command) : nullptr));
  }

  std::vector<sys::Command> launched;
  std::vector<std::string> logs;
  std::vector<std::shared_ptr<FakeServerProcessState>> daemons;
  std::vector<std::string> recorded;     // names given to LaunchRecorded, in order
  std::vector<std::string> adopt_asked;  // names given to Adopt, in order
  std::map<std::string, Adoptable> adoptable;
};

}  // namespace pk::testing
