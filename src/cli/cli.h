// The CLI's plumbing shared by its command files: global flags, exit codes
// and `Cli`, which calls the daemon and prints JSON or the human form.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <functional>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "api/client.h"
#include "base/error.h"

namespace pk::cli {

using nlohmann::json;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr int kExitNotFound = 3;
constexpr int kExitUnavailable = 4;

inline int ExitCodeFor(const Error& e) {
  switch (e.code()) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kOutOfRange: return kExitUsage;
    case ErrorCode::kNotFound: return kExitNotFound;
    case ErrorCode::kUnavailable: return kExitUnavailable;
    default: return kExitFailure;
  }
}

// A name as one percent-encoded URL path segment.
inline std::string Seg(const std::string& s) { return api::PercentEncode(s); }

struct Globals {
  bool json = false;
  std::string socket = "/run/poolkeeper/poolkeeperd.sock";
};

class Cli {
 public:
  // Keeps a reference: the globals are complete only once parsing has finished,
  // which is before any command's callback runs.
  explicit Cli(const Globals& g) : g_(g) {}

  // Runs `call`; prints its JSON (--json: indented on a terminal, as the daemon
  // sent it otherwise), or `human(json)`.
  int Run(const std::function<Result<std::string>()>& call, const std::function<std::string(const json&)>& human) {
    auto r = call();
    if (!r) {
      fmt::print(stderr, "poolkeeper: {}\n", r.error().message());
      return ExitCodeFor(r.error());
    }
    if (g_.json && !::isatty(STDOUT_FILENO)) {
      std::fwrite(r->data(), 1, r->size(), stdout);
      std::fputc('\n', stdout);
      return kExitOk;
    }
    auto parsed = json::parse(*r, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) {
      fmt::print(stderr, "poolkeeper: the daemon sent an answer that is not JSON\n");
      return kExitFailure;
    }
    fmt::print("{}", g_.json ? parsed.dump(2) + "\n" : human(parsed));
    return kExitOk;
  }

  Result<std::string> Call(std::string_view method, const std::string& target, const json& body = nullptr) {
    api::ApiClient client(api::Endpoint{api::Transport::kUnix, g_.socket, "", 0}, "");
    return client.CallRaw(method, target, body);
  }

 private:
  const Globals& g_;
};

// Commands defined in their own files.
void AddShareCommands(CLI::App& app, Cli& cli, int& rc);
// `snapshot policy set|show|clear` under the `snapshot` command (protect_commands.cc).
void AddSnapshotPolicyCommands(CLI::App& snapshot, Cli& cli, int& rc);
// `disk list|show|selftest|enclosures` (disk_commands.cc, issue 20 items 2, 3).
void AddHardwareDiskCommands(CLI::App& app, Cli& cli, int& rc);
// `pool scrub-policy set|show|clear` under the `pool` command (protect_commands.cc).
void AddScrubPolicyCommands(CLI::App& pool, Cli& cli, int& rc);
// `ocf pool ACTION`: the OCF resource agent (ocf_commands.cc); rc is the OCF exit code.
void AddOcfCommands(CLI::App& app, int& rc);
// `cluster ...` (cluster_commands.cc, cluster_pool_commands.cc), through Pacemaker's tools on this head.
void AddClusterCommands(CLI::App& app, const Globals& g, int& rc);

}  // namespace pk::cli
