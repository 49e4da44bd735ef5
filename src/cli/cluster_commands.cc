// `poolkeeper cluster ...`: the HA cluster of heads (issue 5), read from and
// changed through Pacemaker's and Corosync's own tools on this head (not
// through poolkeeperd: the cluster's view is Pacemaker's). `status`, `init`,
// `join`, `fence add`, `takeover`, `failback`, `standby`, `unstandby`,
// `maintenance` here; `pool add|remove` in cluster_pool_commands.cc. The
// logic is cluster::ClusterAdmin's; this file parses arguments and prints.
#include <iostream>
#include <iterator>

#include "cli/cli.h"
#include "cli/cluster_cli.h"
#include "cli/render.h"
#include "cluster/pacemaker.h"
#include "sys/files.h"
#include "base/json.h"

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
    // Where it goes on failback; whether a move (crm_resource --move) pinned
    // it elsewhere, or it runs away from its preferred head (a takeover or a
    // failover: stickiness keeps it there until failback).
    std::string prefers = p.preferred_head.empty() ? "-" : p.preferred_head;
    if (!p.moved_to.empty()) {
      prefers += fmt::format(" (pinned to {})", p.moved_to);
    } else if (!p.preferred_head.empty() && p.owners.size() == 1 && p.owners[0] != p.preferred_head) {
      prefers += fmt::format(" (away: on {})", p.owners[0]);
    }
    std::string vips = p.vips.empty() ? "-" : fmt::format("{}", fmt::join(p.vips, ","));
    pools.push_back({p.pool, p.group.empty() ? p.resource : p.group, owner, state, prefers, vips, failure});
  }
  out += "\n";
  out += pools.empty() ? "no pools in the cluster\n"
                       : RenderTable({"POOL", "RESOURCE", "OWNER", "STATE", "PREFERS", "VIPS", "LAST FAILURE"}, pools);
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

void RunClusterAdmin(const Globals& g, const ClusterCliOptions& o, int& rc,
                     const std::function<Result<cluster::Changes>(cluster::ClusterAdmin&)>& command) {
  auto runner = sys::MakePosixProcessRunner();
  auto fs = sys::MakeRealFileSystem();
  auto env = cluster::MakeHeadEnvironment(*runner);
  cluster::AdminOptions options;
  options.wait = std::chrono::seconds(o.wait_seconds);
  cluster::ClusterAdmin admin(*runner, *fs, *env, options);
  auto changes = command(admin);
  if (!changes) {
    rc = Fail(changes.error());
    return;
  }
  if (g.json) {
    fmt::print("{}\n", DumpJson(json{{"changes", *changes}}, 2));
  } else {
    for (const auto& line : *changes) fmt::print("{}\n", line);
  }
  rc = kExitOk;
}

void AddClusterCommands(CLI::App& app, Cli& cli, int& rc) {
  const Globals& g = cli.globals();
  auto* cluster = app.add_subcommand("cluster", "the HA cluster of heads (Corosync/Pacemaker)")->require_subcommand(1);
  auto* status = cluster->add_subcommand("status", "heads, quorum, fencing, and each pool's owner, state and last failure");
  status->callback([&] {
    auto runner = sys::MakePosixProcessRunner();
    cluster::PacemakerFacts pcmk(*runner);
    auto s = pcmk.Status();
    if (!s) {
      rc = Fail(s.error());
      return;
    }
    fmt::print("{}", g.json ? DumpJson(s->ToJson(), 2) + "\n" : RenderClusterStatus(*s));
    rc = kExitOk;
  });

  auto& options = cli.Options<ClusterCliOptions>();
  cluster->add_option("--wait", options.wait_seconds, "seconds a command waits for Pacemaker to carry it out (default 120)")
      ->check(CLI::Range(1, 3600));

  struct InitArgs {
    std::string name;
    std::vector<std::string> heads;
    std::string qdevice, bundle;
  };
  auto& init_args = cli.Options<InitArgs>();
  auto* init = cluster->add_subcommand("init", "write corosync.conf and the authkey for two heads (two_node), three heads, "
                                                "or two heads and a quorum device; start the cluster stack on this head");
  init->add_option("--name", init_args.name, "cluster name")->required();
  init->add_option("--head", init_args.heads, "HEAD=ADDRESS, one per head (this head among them)")->required();
  init->add_option("--qdevice", init_args.qdevice, "corosync-qnetd address[:port] (two heads only)");
  init->add_option("--bundle", init_args.bundle, "where to write the join bundle (default /etc/corosync/poolkeeper-join.json)");
  init->callback([&] {
    RunClusterAdmin(g, options, rc, [&](cluster::ClusterAdmin& admin) -> Result<cluster::Changes> {
      cluster::InitRequest req;
      req.spec.cluster_name = init_args.name;
      for (const auto& h : init_args.heads) {
        PK_ASSIGN_OR_RETURN(auto head, cluster::ParseHeadAddress(h));
        req.spec.heads.push_back(head);
      }
      if (!init_args.qdevice.empty()) {
        std::string host = init_args.qdevice;
        cluster::QuorumDevice dev;
        // "[v6]:port", "v4:port" or a bare address.
        if (host.starts_with("[")) {
          auto close = host.find(']');
          if (close == std::string::npos) return InvalidArgument(fmt::format("--qdevice '{}': no closing ']'", host));
          if (close + 1 < host.size() && host[close + 1] == ':') dev.port = std::atoi(host.c_str() + close + 2);
          host = host.substr(1, close - 1);
        } else if (std::count(host.begin(), host.end(), ':') == 1) {
          dev.port = std::atoi(host.c_str() + host.find(':') + 1);
          host.resize(host.find(':'));
        }
        auto addr = cluster::CanonicalAddress(host);
        if (!addr) return std::unexpected(addr.error().WithContext("--qdevice"));
        dev.host = *addr;
        req.spec.qdevice = dev;
      }
      req.bundle_path = init_args.bundle;
      return admin.Init(req);
    });
  });

  auto& bundle = cli.Options<std::string>();
  auto* join = cluster->add_subcommand("join", "join the cluster that `cluster init` described in BUNDLE; start the stack here");
  join->add_option("bundle", bundle, "the join bundle written by `cluster init` (copy it here first)")->required();
  join->callback([&] {
    RunClusterAdmin(g, options, rc, [&](cluster::ClusterAdmin& admin) { return admin.Join(bundle); });
  });

  auto* fence = cluster->add_subcommand("fence", "fencing devices")->require_subcommand(1);
  struct FenceArgs {
    std::string head, agent = "ipmilan", ip, username;
    bool password_stdin = false, lanplus = false;
    std::vector<std::string> params;
    std::optional<int> delay;
  };
  auto& fence_args = cli.Options<FenceArgs>();
  auto* fence_add = fence->add_subcommand("add", "a fence device that powers HEAD off (fence_ipmilan for real heads)");
  fence_add->add_option("head", fence_args.head, "the head this device fences")->required();
  fence_add->add_option("--agent", fence_args.agent, "ipmilan (default), pkha (the HA lab's), or any fence_NAME");
  fence_add->add_option("--ip", fence_args.ip, "BMC address (ipmilan)");
  fence_add->add_option("--username", fence_args.username, "BMC user (ipmilan)");
  fence_add->add_flag("--password-stdin", fence_args.password_stdin, "read the BMC password from stdin");
  fence_add->add_flag("--lanplus", fence_args.lanplus, "IPMI v2.0 (lanplus=1)");
  fence_add->add_option("--param", fence_args.params, "further agent parameter KEY=VALUE (repeatable)");
  fence_add->add_option("--delay", fence_args.delay,
                        "seconds fencing HEAD waits (pcmk_delay_base); default: the first head's device waits 2 s, so "
                        "after a split the heads never shoot each other");
  fence_add->callback([&] {
    RunClusterAdmin(g, options, rc, [&](cluster::ClusterAdmin& admin) -> Result<cluster::Changes> {
      PK_ASSIGN_OR_RETURN(auto head, cluster::HeadName::Parse(fence_args.head));
      cluster::FenceAddRequest req{cluster::FenceDeviceSpec{head, fence_args.agent, {}, 0}, fence_args.delay};
      auto& dev = req.device;
      if (!dev.agent.starts_with("fence_")) dev.agent = "fence_" + dev.agent;
      if (dev.agent == "fence_ipmilan") {
        if (fence_args.ip.empty() || fence_args.username.empty() || !fence_args.password_stdin) {
          return InvalidArgument("fence add --agent ipmilan: give --ip, --username and --password-stdin");
        }
      }
      if (!fence_args.ip.empty()) {
        PK_ASSIGN_OR_RETURN(auto ip, cluster::CanonicalAddress(fence_args.ip));
        dev.params.emplace_back("ip", ip);
      }
      if (!fence_args.username.empty()) dev.params.emplace_back("username", fence_args.username);
      if (fence_args.password_stdin) {
        std::string pw((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
        while (!pw.empty() && (pw.back() == '\n' || pw.back() == '\r')) pw.pop_back();
        if (pw.empty()) return InvalidArgument("fence add: --password-stdin read an empty password");
        dev.params.emplace_back("password", pw);
      }
      if (fence_args.lanplus) dev.params.emplace_back("lanplus", "1");
      for (const auto& kv : fence_args.params) {
        auto eq = kv.find('=');
        if (eq == std::string::npos || eq == 0) return InvalidArgument(fmt::format("--param '{}': write KEY=VALUE", kv));
        dev.params.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
      }
      return admin.FenceAdd(req);
    });
  });

  struct MoveArgs {
    std::string pool, to;
  };
  auto& move_args = cli.Options<MoveArgs>();
  auto* takeover = cluster->add_subcommand("takeover", "move POOL (its IPs first, then the pool) to another head");
  takeover->add_option("pool", move_args.pool, "pool name")->required();
  takeover->add_option("--to", move_args.to, "target head (default: the only other head that can run it)");
  takeover->callback([&] {
    RunClusterAdmin(g, options, rc, [&](cluster::ClusterAdmin& admin) -> Result<cluster::Changes> {
      PK_ASSIGN_OR_RETURN(auto pool, zfs::PoolName::Parse(move_args.pool));
      std::optional<cluster::HeadName> to;
      if (!move_args.to.empty()) {
        PK_ASSIGN_OR_RETURN(auto head, cluster::HeadName::Parse(move_args.to));
        to = head;
      }
      return admin.Takeover(pool, to);
    });
  });

  auto* failback = cluster->add_subcommand("failback", "clear moves and return every pool to its preferred head");
  failback->callback([&] { RunClusterAdmin(g, options, rc, [](cluster::ClusterAdmin& a) { return a.Failback(); }); });

  auto& standby_head = cli.Options<std::string>();
  for (bool on : {true, false}) {
    auto* sub = cluster->add_subcommand(on ? "standby" : "unstandby",
                                        on ? "move every pool off HEAD and keep it from running any"
                                           : "let HEAD run pools again (they stay where they are until failback)");
    sub->add_option("head", standby_head, "head name")->required();
    sub->callback([&, on] {
      RunClusterAdmin(g, options, rc, [&](cluster::ClusterAdmin& admin) -> Result<cluster::Changes> {
        PK_ASSIGN_OR_RETURN(auto head, cluster::HeadName::Parse(standby_head));
        return on ? admin.Standby(head) : admin.Unstandby(head);
      });
    });
  }

  auto& mode = cli.Options<std::string>();
  auto* maintenance = cluster->add_subcommand("maintenance", "on: Pacemaker leaves every resource alone; off: manages again");
  maintenance->add_option("mode", mode, "on or off")->required()->check(CLI::IsMember({"on", "off"}));
  maintenance->callback([&] {
    RunClusterAdmin(g, options, rc, [&](cluster::ClusterAdmin& admin) { return admin.Maintenance(mode == "on"); });
  });

  AddClusterPoolCommands(*cluster, cli, options, rc);
}

}  // namespace pk::cli
