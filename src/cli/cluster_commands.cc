// `poolkeeper cluster ...`: the HA cluster of heads (issue 5), read from
// Pacemaker's own tools on this head (not through poolkeeperd: the cluster's
// view is Pacemaker's). `status` is the first command; init, join, fence,
// pool add/remove, takeover, failback, standby and maintenance follow.
#include "cli/cli.h"
#include "cli/render.h"
#include "cluster/pacemaker.h"

namespace pk::cli {
namespace {

std::string YesNo(bool b) { return b ? "yes" : "no"; }

std::string HeadState(const cluster::HeadStatus& h) {
  if (h.unclean) return "unclean";
  if (h.pending) return "pending";
  if (!h.online) return "offline";
  if (h.maintenance) return "maintenance";
  if (h.standby) return "standby";
  return "online";
}

std::string RenderClusterStatus(const cluster::ClusterStatus& s) {
  std::string out = fmt::format("cluster: quorum {}, DC {}, fencing {}, maintenance {}\n", YesNo(s.quorum),
                                s.dc.empty() ? "none" : s.dc, s.fencing_enabled ? "enabled" : "DISABLED",
                                s.maintenance ? "on" : "off");
  std::vector<std::vector<std::string>> heads;
  for (const auto& h : s.heads) heads.push_back({h.name, HeadState(h), h.dc ? "yes" : "", std::to_string(h.resources_running)});
  out += RenderTable({"HEAD", "STATE", "DC", "RESOURCES"}, heads);
  std::vector<std::vector<std::string>> pools;
  for (const auto& p : s.pools) {
    std::string owner = p.owners.empty() ? "-" : fmt::format("{}", fmt::join(p.owners, ","));
    if (p.owners.size() > 1) owner += " (ACTIVE ON SEVERAL HEADS)";
    std::string state = p.role;
    if (p.failed) state += " (failed)";
    if (!p.managed) state += " (unmanaged)";
    if (p.blocked) state += " (blocked)";
    std::string failure = "-";
    if (p.last_failure) {
      const auto& f = *p.last_failure;
      failure = fmt::format("{} on {} at {}: {} ({}){}", f.task, f.head, f.when, f.exit_status, f.exit_code,
                            f.exit_reason.empty() ? "" : ": " + f.exit_reason);
    }
    pools.push_back({p.pool, p.resource, owner, state, failure});
  }
  out += "\n";
  out += pools.empty() ? "no pools in the cluster\n" : RenderTable({"POOL", "RESOURCE", "OWNER", "STATE", "LAST FAILURE"}, pools);
  std::vector<std::vector<std::string>> devices;
  for (const auto& d : s.fence_devices) {
    devices.push_back({d.id, d.agent, d.targets.empty() ? "-" : d.targets, d.running_on.empty() ? "stopped" : d.running_on});
  }
  out += "\n";
  out += devices.empty() ? "no fence devices\n" : RenderTable({"FENCE DEVICE", "AGENT", "TARGETS", "RUNNING ON"}, devices);
  if (!s.fence_history.empty()) {
    const auto& e = s.fence_history.front();
    out += fmt::format("last fencing: {} {} by {}: {} at {}\n", e.target, e.action, e.by, e.status, e.completed);
  }
  return out;
}

}  // namespace

void AddClusterCommands(CLI::App& app, const Globals& g, int& rc) {
  auto* cluster = app.add_subcommand("cluster", "the HA cluster of heads (Corosync/Pacemaker)")->require_subcommand(1);
  auto* status = cluster->add_subcommand("status", "heads, quorum, fencing, and each pool's owner, state and last failure");
  status->callback([&g, &rc] {
    auto runner = sys::MakePosixProcessRunner();
    cluster::PacemakerFacts pcmk(*runner);
    auto s = pcmk.Status();
    if (!s) {
      fmt::print(stderr, "poolkeeper: {}\n", s.error().message());
      rc = ExitCodeFor(s.error());
      return;
    }
    fmt::print("{}", g.json ? s->ToJson().dump(2) + "\n" : RenderClusterStatus(*s));
    rc = kExitOk;
  });
}

}  // namespace pk::cli
