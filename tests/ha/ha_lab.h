// The HA lab as the tests under tests/ha drive it: `scripts/lab ha ...` run
// with the test's PK_HA_LAB_DIR, commands inside a head, and what a head has
// imported or runs. Thread-safety: const members may be called concurrently
// (the GUID watchers do).
#pragma once

#include <chrono>
#include <memory>
#include <sstream>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sys/process_runner.h"

namespace pk {

using namespace std::chrono_literals;

inline std::string Env(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

class HaLab {
 public:
  HaLab()
      : runner_(sys::MakePosixProcessRunner()),
        lab_(Env("PK_HA_LAB_DIR", "/var/tmp/pk-ha-lab")),
        script_(Env("PK_SOURCE_DIR", ".") + "/scripts/lab") {}

  const std::string& dir() const { return lab_; }

  sys::ProcessResult Lab(std::vector<std::string> args, std::chrono::milliseconds timeout = 120s,
                         std::optional<std::string> input = std::nullopt) const {
    sys::Command c;
    c.stdin_data = std::move(input);
    c.program = script_;
    c.args = {"ha"};
    c.args.insert(c.args.end(), args.begin(), args.end());
    c.env = sys::DefaultToolEnvironment();
    c.env.push_back("PK_HA_LAB_DIR=" + lab_);
    c.env.push_back("PK_HA_BIN_DIR=" + Env("PK_HA_BIN_DIR", Env("PK_BUILD_DIR", "build") + "/src"));
    c.timeout = timeout;
    auto r = runner_->Run(c);
    if (!r) {
      sys::ProcessResult failed;
      failed.status.code = 127;
      failed.err = r.error().message();
      return failed;
    }
    return *r;
  }
  sys::ProcessResult Exec(const std::string& head, std::vector<std::string> argv,
                          std::chrono::milliseconds timeout = 60s,
                          std::optional<std::string> input = std::nullopt) const {
    argv.insert(argv.begin(), {"exec", head});
    return Lab(argv, timeout, std::move(input));
  }
  // Runs argv in the lab's client namespace.
  sys::ProcessResult Client(std::vector<std::string> argv, std::chrono::milliseconds timeout = 60s) const {
    argv.insert(argv.begin(), "client");
    return Lab(argv, timeout);
  }

  // The heads' copy of the `poolkeeper` CLI, run inside `head`.
  // `input` is its stdin (e.g. a secret for --chap-secret-stdin).
  sys::ProcessResult Pk(const std::string& head, std::vector<std::string> args,
                        std::chrono::milliseconds timeout = 200s,
                        std::optional<std::string> input = std::nullopt) const {
    args.insert(args.begin(), lab_ + "/bin/poolkeeper");
    return Exec(head, args, timeout, std::move(input));
  }
  // `poolkeeper --json cluster status` on `head`; an empty object when it fails.
  nlohmann::json ClusterStatus(const std::string& head) const {
    auto r = Pk(head, {"--json", "cluster", "status"}, 30s);
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    return r.status.Success() && j.is_object() ? j : nlohmann::json::object();
  }

  // GUID of `pool` if `head` has it imported, "" if not (or the head is off).
  std::string ImportedGuid(const std::string& head, const std::string& pool) const {
    auto r = Exec(head, {"zpool", "list", "-H", "-o", "name,guid", pool}, 20s);
    if (!r.status.Success()) return "";
    std::istringstream in(r.out);
    std::string name, guid;
    in >> name >> guid;
    return name == pool ? guid : "";
  }

  // The head Pacemaker reports `resource` started on, "" if none.
  std::string RunningOn(const std::string& from, const std::string& resource) const {
    auto r = Exec(from, {"crm_resource", "--locate", "--resource", resource}, 20s);
    auto at = r.out.find("is running on: ");
    if (!r.status.Success() || at == std::string::npos) return "";
    std::string rest = r.out.substr(at + 15);
    return rest.substr(0, rest.find_first_of(" \n"));
  }

  std::string ServiceState(const std::string& head, const std::string& pool) const {
    auto r = Pk(head, {"--json", "service", "status", pool}, 20s);
    auto at = r.out.find("\"state\":\"");
    if (!r.status.Success() || at == std::string::npos) return "";
    return r.out.substr(at + 9, r.out.find('"', at + 9) - at - 9);
  }

 private:
  std::unique_ptr<sys::ProcessRunner> runner_;
  std::string lab_;
  std::string script_;
};

inline std::string Describe(const sys::ProcessResult& r) {
  return fmt::format("{}; stdout: {}; stderr: {}", r.status.ToString(), r.out, r.err);
}

}  // namespace pk
