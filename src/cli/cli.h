// The CLI's plumbing shared by its command files: global flags, exit codes,
// option storage and `Cli`, which calls the daemon and prints JSON or the
// human form.
//
// Option storage, the one pattern of every command file: each noun's
// Add*Commands keeps its commands' options in a struct of its own (one per
// noun, or one per command where they share nothing), made by
// `cli.Options<T>()`. The Cli owns it and outlives parsing and the command's
// callback, so CLI11 writes it while parsing and the callback, capturing it
// by reference, reads it after. No function statics, no option struct shared
// across nouns.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "api/client.h"
#include "base/json.h"
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

// Prints a failed command's error; returns its exit code.
inline int Fail(const Error& e) {
  fmt::print(stderr, "poolkeeper: {}\n", e.message());
  return ExitCodeFor(e);
}

// A name as one percent-encoded URL path segment.
inline std::string Seg(const std::string& s) { return api::PercentEncode(s); }

// Parses "k=v" words into a JSON object; a word without '=' is bad usage.
inline Result<json> PropertyObject(const std::vector<std::string>& words) {
  json o = json::object();
  for (const auto& w : words) {
    auto eq = w.find('=');
    if (eq == std::string::npos) return InvalidArgument(fmt::format("'{}' is not PROPERTY=VALUE", w));
    o[w.substr(0, eq)] = w.substr(eq + 1);
  }
  return o;
}

struct Globals {
  bool json = false;
  std::string socket = "/run/poolkeeper/poolkeeperd.sock";
};

class Cli {
 public:
  // Keeps a reference: the globals are complete only once parsing has finished,
  // which is before any command's callback runs.
  explicit Cli(const Globals& g) : g_(g) {}

  const Globals& globals() const { return g_; }

  // A default-constructed T that lives as long as this Cli: a command's
  // options (see the top of this file).
  template <class T>
  T& Options() {
    auto options = std::make_shared<T>();
    T& ref = *options;
    options_.push_back(std::move(options));
    return ref;
  }

  using Human = std::function<std::string(const json&)>;

  // Runs `call`; prints its JSON (--json: indented on a terminal, as the daemon
  // sent it otherwise), or `human(json)`; returns the exit code.
  int Run(const std::function<Result<std::string>()>& call, const Human& human) { return Print(call(), human); }

  // The usual command: one call to the daemon, its answer printed as Run does.
  int Request(std::string_view method, const std::string& target, const Human& human, const json& body = nullptr) {
    return Print(Call(method, target, body), human);
  }

  // Prints an answer (or its error) as Run does, flushed (for commands that
  // repeat, such as --follow); returns the exit code.
  int Print(const Result<std::string>& r, const Human& human) {
    if (!r) return Fail(r.error());
    if (g_.json && !::isatty(STDOUT_FILENO)) {
      std::fwrite(r->data(), 1, r->size(), stdout);
      std::fputc('\n', stdout);
    } else {
      auto parsed = json::parse(*r, nullptr, /*allow_exceptions=*/false);
      if (parsed.is_discarded()) {
        fmt::print(stderr, "poolkeeper: the daemon sent an answer that is not JSON\n");
        return kExitFailure;
      }
      fmt::print("{}", g_.json ? DumpJson(parsed, 2) + "\n" : human(parsed));
    }
    std::fflush(stdout);
    return kExitOk;
  }

  // One call to the daemon. When nothing answers on the socket, the error says
  // what to check (issue 21 item 6); the exit code stays kExitUnavailable.
  Result<std::string> Call(std::string_view method, const std::string& target, const json& body = nullptr) {
    api::ApiClient client(api::Endpoint{api::Transport::kUnix, g_.socket, "", 0}, "");
    auto r = client.CallRaw(method, target, body);
    if (!r && r.error().code() == ErrorCode::kUnavailable && r.error().message().starts_with("cannot connect to ")) {
      return Unavailable(r.error().message() + " (is poolkeeperd running? systemctl status poolkeeperd)");
    }
    return r;
  }

 private:
  const Globals& g_;
  std::vector<std::shared_ptr<void>> options_;
};

// Each noun's commands, one file each (NOUN_commands.cc), registered from
// main in the order `poolkeeper --help` lists them; `rc` is the exit code.
void AddPoolCommands(CLI::App& app, Cli& cli, int& rc);
void AddDatasetCommands(CLI::App& app, Cli& cli, int& rc);
void AddSnapshotCommands(CLI::App& app, Cli& cli, int& rc);
// `snapshot policy set|show|clear` under the `snapshot` command (protect_commands.cc).
void AddSnapshotPolicyCommands(CLI::App& snapshot, Cli& cli, int& rc);
// `disk list|show|selftest|enclosures` (disk_commands.cc, issue 20 items 2, 3).
void AddHardwareDiskCommands(CLI::App& app, Cli& cli, int& rc);
// `pool scrub-policy set|show|clear` under the `pool` command (protect_commands.cc).
void AddScrubPolicyCommands(CLI::App& pool, Cli& cli, int& rc);
// `service ...` and `resource ...` (service_commands.cc).
void AddServiceCommands(CLI::App& app, Cli& cli, int& rc);
void AddResourceCommands(CLI::App& app, Cli& cli, int& rc);
void AddEventCommands(CLI::App& app, Cli& cli, int& rc);
void AddQuotaCommands(CLI::App& app, Cli& cli, int& rc);
void AddShareCommands(CLI::App& app, Cli& cli, int& rc);
// `ocf pool ACTION`: the OCF resource agent (ocf_commands.cc); rc is the OCF exit code.
void AddOcfCommands(CLI::App& app, Cli& cli, int& rc);
// `cluster ...` (cluster_commands.cc, cluster_pool_commands.cc), through Pacemaker's tools on this head.
void AddClusterCommands(CLI::App& app, Cli& cli, int& rc);
// `migrate start|status|list|cancel`: shadow migration (migrate_commands.cc).
void AddMigrateCommands(CLI::App& app, Cli& cli, int& rc);

}  // namespace pk::cli
