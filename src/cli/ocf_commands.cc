// `poolkeeper ocf pool ACTION`: the OCF resource agent ocf:poolkeeper:pool.
// Pacemaker runs $OCF_ROOT/resource.d/poolkeeper/pool (a two-line wrapper that
// execs this) with the parameters as OCF_RESKEY_* variables; the exit code is
// the OCF code and stderr carries the reason for Pacemaker's log. The logic is
// cluster::PoolAgent; this file wires it to the local poolkeeperd's API.
#include <unistd.h>

#include <map>

#include "cli/cli.h"
#include "base/clock.h"
#include "cluster/pacemaker.h"
#include "cluster/pool_agent.h"

extern char** environ;

namespace pk::cli {
namespace {

using namespace std::chrono_literals;

// The agent's view of poolkeeperd, over its unix socket.
class ApiPoolControl : public cluster::PoolControl {
 public:
  explicit ApiPoolControl(std::string socket) : socket_(std::move(socket)) {}

  Result<cluster::ServiceView> Service(const zfs::PoolName& pool) override {
    PK_ASSIGN_OR_RETURN(auto j, Client(10s).Call("GET", "/v1/services/" + Seg(pool.str())));
    return cluster::ServiceView{j.value("state", ""), j.value("reason", ""), j.value("health", "")};
  }
  // From the daemon's inventory (GET /v1/pools never runs a tool; GET
  // /v1/pools/{pool} would run `zpool status`, which a stuck pool blocks).
  Result<bool> Imported(const zfs::PoolName& pool) override {
    PK_ASSIGN_OR_RETURN(auto j, Client(10s).Call("GET", "/v1/pools"));
    for (const auto& p : j.value("pools", json::array())) {
      if (p.value("name", "") == pool.str()) return true;
    }
    return false;
  }
  Status Enable(const zfs::PoolName& pool, const json& policy) override {
    return Post("/v1/services/" + Seg(pool.str()) + "?action=enable", policy, 30s);
  }
  Status Start(const zfs::PoolName& pool, zfs::Force force) override {
    json body = json::object();
    if (force == zfs::Force::kYes) body["force_import"] = true;
    return Post("/v1/services/" + Seg(pool.str()) + "?action=start", body, 30s);
  }
  Status Stop(const zfs::PoolName& pool) override {
    return Post("/v1/services/" + Seg(pool.str()) + "?action=stop", nullptr, 30s);
  }
  Status Disable(const zfs::PoolName& pool) override {
    return Post("/v1/services/" + Seg(pool.str()) + "?action=disable", nullptr, 30s);
  }
  Status Export(const zfs::PoolName& pool, zfs::Force force, std::chrono::milliseconds timeout) override {
    return Post("/v1/pools/" + Seg(pool.str()) + "?action=export", json{{"force", force == zfs::Force::kYes}}, timeout);
  }
  // GET /v1/events: `after` past the newest event answers at once with none.
  Result<uint64_t> LastEventSeq() override {
    PK_ASSIGN_OR_RETURN(auto j, Client(10s).Call("GET", fmt::format("/v1/events?after={}&limit=1", INT64_MAX)));
    return j.value("last_seq", uint64_t{0});
  }
  // The long poll (wait in whole seconds: kEventWait).
  Result<uint64_t> WaitForEvent(uint64_t after_seq) override {
    static_assert(cluster::PoolControl::kEventWait == 1s);
    PK_ASSIGN_OR_RETURN(auto j, Client(10s).Call("GET", fmt::format("/v1/events?after={}&wait=1&limit=1", after_seq)));
    return j.value("last_seq", after_seq);
  }

 private:
  api::ApiClient Client(std::chrono::milliseconds timeout) const {
    return api::ApiClient(api::Endpoint{api::Transport::kUnix, socket_, "", 0}, "", timeout);
  }
  Status Post(const std::string& target, const json& body, std::chrono::milliseconds timeout) {
    PK_TRY(Client(timeout).Call("POST", target, body));
    return OkStatus();
  }
  std::string socket_;
};

std::map<std::string, std::string> OcfEnvironment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    if (!kv.starts_with("OCF_")) continue;
    size_t eq = kv.find('=');
    if (eq != std::string_view::npos) env.emplace(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return env;
}

int Report(const cluster::AgentOutcome& out) {
  if (!out.message.empty()) fmt::print(stderr, "poolkeeper ocf pool: {}: {}\n", cluster::OcfCodeName(out.code), out.message);
  // Pacemaker keeps this line as the operation's exit reason (crm_mon, `poolkeeper cluster status`).
  if (out.code != cluster::OcfCode::kSuccess && out.code != cluster::OcfCode::kNotRunning && !out.message.empty()) {
    fmt::print(stderr, "ocf-exit-reason:{}\n", out.message);
  }
  return static_cast<int>(out.code);
}

int RunPoolAgent(const std::string& action) {
  using cluster::OcfCode;
  if (action == "meta-data") {
    fmt::print("{}", cluster::PoolAgentMetadata());
    return static_cast<int>(OcfCode::kSuccess);
  }
  if (action != "start" && action != "stop" && action != "monitor" && action != "validate-all") {
    return Report({OcfCode::kErrUnimplemented, fmt::format("action '{}' is not implemented", action)});
  }
  auto params = cluster::PoolAgentParams::FromEnvironment(OcfEnvironment());
  if (!params) return Report({OcfCode::kErrConfigured, params.error().message()});
  if (action == "validate-all") return Report({OcfCode::kSuccess, ""});
  if (::geteuid() != 0) return Report({OcfCode::kErrPerm, "poolkeeperd's socket is root only"});

  ApiPoolControl daemon(params->socket);
  auto runner = sys::MakePosixProcessRunner();
  cluster::PacemakerFacts facts(*runner);
  cluster::PoolAgent agent(*params, daemon, facts, RealClock());
  if (action == "start") return Report(agent.Start());
  if (action == "stop") return Report(agent.Stop());
  return Report(agent.Monitor());
}

}  // namespace

void AddOcfCommands(CLI::App& app, Cli& cli, int& rc) {
  auto* ocf = app.add_subcommand("ocf", "OCF resource agents run by Pacemaker (exit codes are OCF codes)")
                  ->require_subcommand(1);
  auto* pool = ocf->add_subcommand("pool", "ocf:poolkeeper:pool: start|stop|monitor|meta-data|validate-all "
                                           "(parameters in OCF_RESKEY_pool, OCF_RESKEY_search_dirs, ...)");
  auto& action = cli.Options<std::string>();
  pool->add_option("action", action, "the OCF action")->required();
  pool->callback([&] { rc = RunPoolAgent(action); });
}

}  // namespace pk::cli
