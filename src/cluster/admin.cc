#include "cluster/admin.h"

#include <algorithm>
#include <thread>

#include <fmt/format.h>

#include "cluster/pacemaker.h"

namespace pk::cluster {
namespace {

using namespace std::chrono_literals;

const PoolStatus* FindPoolStatus(const ClusterStatus& s, const CibPool& p) {
  for (const auto& ps : s.pools) {
    if (ps.resource == p.primitive) return &ps;
  }
  return nullptr;
}

const HeadStatus* FindHead(const ClusterStatus& s, std::string_view name) {
  for (const auto& h : s.heads) {
    if (h.name == name) return &h;
  }
  return nullptr;
}

std::string HeadNames(const ClusterStatus& s) {
  std::vector<std::string> names;
  for (const auto& h : s.heads) names.push_back(h.name);
  return fmt::format("{}", fmt::join(names, ", "));
}

std::string Why(const HeadStatus& h) {
  if (h.unclean) return "unclean (lost, not fenced yet)";
  if (!h.online) return "offline";
  if (h.pending) return "joining";  // Pacemaker also reports a joining head as in standby
  if (h.standby) return "in standby";
  if (h.maintenance) return "in maintenance";
  return "online";
}

std::string HeadStates(const ClusterStatus& s) {
  std::vector<std::string> v;
  for (const auto& h : s.heads) v.push_back(h.name + " " + Why(h));
  return fmt::format("{}", fmt::join(v, ", "));
}

Result<const HeadStatus*> KnownHead(const ClusterStatus& s, const HeadName& head) {
  const auto* h = FindHead(s, head.str());
  if (!h) return NotFound(fmt::format("head '{}' is not in the cluster (heads: {})", head.str(), HeadNames(s)));
  return h;
}

std::string Owner(const PoolStatus* ps) { return ps && ps->owners.size() == 1 ? ps->owners[0] : ""; }

}  // namespace

bool HeadCanRun(const HeadStatus& h) { return h.online && !h.standby && !h.maintenance && !h.unclean && !h.pending; }

ClusterAdmin::ClusterAdmin(sys::ProcessRunner& runner, sys::FileSystem& fs, HeadEnvironment& env, AdminOptions options)
    : runner_(runner),
      fs_(fs),
      env_(env),
      o_(std::move(options)),
      pacemaker_(runner, PacemakerTools{o_.crm_attribute, o_.crm_mon, o_.cibadmin, o_.tool_timeout, o_.hostid_path}) {
  if (!o_.clock) o_.clock = &RealClock();
}

Result<std::string> ClusterAdmin::Tool(const std::string& program, std::vector<std::string> args, const std::string& what) {
  return RunTool(runner_, program, std::move(args), o_.tool_timeout, what);
}

Result<CibConfig> ClusterAdmin::Config() {
  PK_ASSIGN_OR_RETURN(auto xml, Tool(o_.cibadmin, {"--query", "--scope", "configuration"}, "read cluster configuration"));
  return ParseCibConfig(xml);
}

Result<ClusterStatus> ClusterAdmin::QuorateStatus(const std::string& action) {
  PK_ASSIGN_OR_RETURN(auto s, ReadStatus());
  // A head that has just started (or rejoined) finds or elects the DC and
  // then joins: until then its view of quorum and of the other heads is not
  // settled ("no quorum, the other head unclean"). Wait for it, as
  // crm_resource does, instead of judging a view about to change.
  auto joining = [](const ClusterStatus& st) {
    return st.dc.empty() || std::any_of(st.heads.begin(), st.heads.end(), [](const auto& h) { return h.online && h.pending; });
  };
  if (joining(s)) {
    auto joined = WaitFor([&]() -> Result<bool> {
      PK_ASSIGN_OR_RETURN(s, ReadStatus());
      return !joining(s);
    }, action + ": wait for the heads to join the cluster");
    if (!joined) {
      return FailedPrecondition(fmt::format("{}: {} after {} s: this head or another is still joining the cluster "
                                            "(heads: {}); nothing changed", action, s.dc.empty() ? "no DC elected" : "no settled membership",
                                            std::chrono::duration_cast<std::chrono::seconds>(o_.wait).count(),
                                            HeadStates(s)));
    }
  }
  if (!s.quorum) {
    return FailedPrecondition(fmt::format("{}: the cluster has no quorum (heads: {}); nothing changed", action, HeadStates(s)));
  }
  return s;
}

Status ClusterAdmin::WaitFor(const std::function<Result<bool>()>& done, const std::string& what) {
  auto deadline = o_.clock->SteadyNow() + o_.wait;
  std::string last;
  while (true) {
    auto r = done();
    if (r && *r) return OkStatus();
    if (!r) last = r.error().message();
    if (o_.clock->SteadyNow() >= deadline) {
      return DeadlineExceeded(fmt::format("{}: not done after {} s{}", what,
                                          std::chrono::duration_cast<std::chrono::seconds>(o_.wait).count(),
                                          last.empty() ? "" : " (" + last + ")"));
    }
    o_.clock->SleepFor(500ms);
  }
}

// --- init / join -----------------------------------------------------------

Result<CorosyncHead> ClusterAdmin::ThisHead(const CorosyncSpec& spec) {
  PK_ASSIGN_OR_RETURN(auto local, env_.LocalAddresses());
  std::vector<CorosyncHead> mine;
  for (const auto& h : spec.heads) {
    for (const auto& a : local) {
      if (a.address == h.address) mine.push_back(h);
    }
  }
  if (mine.size() == 1) return mine[0];
  std::vector<std::string> heads, addrs;
  for (const auto& h : spec.heads) heads.push_back(h.name.str() + " " + h.address);
  for (const auto& a : local) addrs.push_back(a.address);
  if (mine.empty()) {
    return FailedPrecondition(fmt::format("none of the heads' addresses ({}) is on this machine (its addresses: {})",
                                          fmt::join(heads, ", "), fmt::join(addrs, ", ")));
  }
  return FailedPrecondition(fmt::format("several heads' addresses are on this machine ({})", fmt::join(heads, ", ")));
}

Status ClusterAdmin::RefuseInitialised(const std::string& action) {
  const std::string conf = o_.corosync_dir + "/corosync.conf";
  const std::string key = o_.corosync_dir + "/authkey";
  std::string described;
  if (auto text = fs_.ReadFile(conf)) {
    if (auto spec = ParseCorosyncConf(*text); spec && spec->heads.size() > 1) {
      std::vector<std::string> names;
      for (const auto& h : spec->heads) names.push_back(h.name.str());
      described = fmt::format(" (cluster '{}', heads {})", spec->cluster_name, fmt::join(names, ", "));
    }
    if (!described.empty()) {
      return FailedPrecondition(fmt::format("{}: this head is already initialised: {} configures a cluster{}; nothing changed",
                                            action, conf, described));
    }
  }
  PK_ASSIGN_OR_RETURN(bool has_key, fs_.Exists(key));
  if (has_key) {
    return FailedPrecondition(fmt::format("{}: this head is already initialised: {} exists; nothing changed", action, key));
  }
  if (Tool(o_.corosync_cfgtool, {"-s"}, "corosync status")) {
    return FailedPrecondition(fmt::format("{}: corosync is running on this head; nothing changed", action));
  }
  return OkStatus();
}

Result<std::string> ClusterAdmin::EnsureHostid(const CorosyncHead& me, const CorosyncSpec& spec) {
  if (auto text = fs_.ReadFile(o_.hostid_path); text && text->size() >= 4) {
    uint32_t id = 0;
    for (int i = 3; i >= 0; --i) id = (id << 8) | static_cast<unsigned char>((*text)[i]);
    if (id != 0) return fmt::format("kept this head's hostid 0x{:08x} ({})", id, o_.hostid_path);
  }
  uint32_t nodeid = 0;
  for (size_t i = 0; i < spec.heads.size(); ++i) {
    if (spec.heads[i].name == me.name) nodeid = static_cast<uint32_t>(i + 1);  // as RenderCorosyncConf numbers them
  }
  const uint32_t id = kHostidBase | nodeid;
  std::string bytes;
  for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<char>((id >> (8 * i)) & 0xff));
  PK_TRY_CONTEXT(fs_.WriteFileAtomic(o_.hostid_path, bytes, 0644), "write this head's hostid");
  return fmt::format("wrote {}: hostid 0x{:08x} (node id {}; distinct per head, for the pools' labels and multihost)",
                     o_.hostid_path, id, nodeid);
}

Result<Changes> ClusterAdmin::Install(const std::string& conf, const std::string& authkey, const CorosyncHead& me,
                                      const CorosyncSpec& spec) {
  Changes out;
  PK_ASSIGN_OR_RETURN(auto hostid, EnsureHostid(me, spec));
  out.push_back(std::move(hostid));
  const std::string key_path = o_.corosync_dir + "/authkey";
  PK_TRY(fs_.MakeDirs(o_.corosync_dir, 0755));
  PK_TRY(fs_.WriteFileAtomic(key_path, authkey, 0400));
  if (auto w = fs_.WriteFileAtomic(o_.corosync_dir + "/corosync.conf", conf, 0644); !w) {
    (void)fs_.Remove(key_path);  // nothing half-applied
    return std::unexpected(w.error());
  }
  out.push_back(fmt::format("wrote {}/corosync.conf and {} ({} bytes) for head {} ({})", o_.corosync_dir, key_path,
                            authkey.size(), me.name.str(), me.address));
  if (env_.SystemdRunning()) {
    PK_TRY(Tool(o_.systemctl, {"enable", "--now", "corosync.service", "pacemaker.service"}, "start the cluster stack"));
    out.push_back("enabled and started corosync.service and pacemaker.service");
  } else {
    out.push_back("systemd does not run here: this machine's init starts corosync and pacemaker");
  }
  auto up = WaitFor([&]() -> Result<bool> {
    PK_TRY(Tool(o_.cibadmin, {"--query", "--scope", "crm_config"}, "query the CIB"));
    return true;
  }, "wait for Pacemaker on this head");
  if (!up) {
    return std::unexpected(up.error().WithContext(fmt::format(
        "{}: corosync.conf and the authkey are written, but Pacemaker does not answer; start corosync and pacemaker "
        "(see /var/log/corosync/corosync.log)", me.name.str())));
  }
  out.push_back(fmt::format("Pacemaker answers on {}", me.name.str()));
  return out;
}

Result<Changes> ClusterAdmin::Init(const InitRequest& req) {
  PK_ASSIGN_OR_RETURN(auto conf, RenderCorosyncConf(req.spec));
  PK_ASSIGN_OR_RETURN(auto me, ThisHead(req.spec));
  PK_TRY(RefuseInitialised("init"));
  const std::string bundle_path = req.bundle_path.empty() ? o_.corosync_dir + "/poolkeeper-join.json" : req.bundle_path;
  // The key is generated beside its final place, read, and the copy removed:
  // corosync-keygen refuses nothing and writes with the right mode.
  const std::string tmp_key = o_.corosync_dir + "/authkey.poolkeeper-new";
  PK_TRY(fs_.MakeDirs(o_.corosync_dir, 0755));
  (void)fs_.Remove(tmp_key);
  PK_TRY(Tool(o_.corosync_keygen, {"-l", "-k", tmp_key}, "generate the cluster's authkey"));
  auto key = fs_.ReadFile(tmp_key);
  (void)fs_.Remove(tmp_key);
  if (!key) return std::unexpected(key.error().WithContext("read the new authkey"));
  PK_TRY_CONTEXT(fs_.WriteFileAtomic(bundle_path, RenderJoinBundle({conf, *key}), 0600), "write the join bundle");
  PK_ASSIGN_OR_RETURN(auto out, Install(conf, *key, me, req.spec));
  out.insert(out.begin() + 1, fmt::format("wrote the join bundle {} (corosync.conf + authkey: copy it to the other heads "
                                          "and run `poolkeeper cluster join {}` there)", bundle_path, bundle_path));
  // Cluster-wide defaults; fencing devices come with `fence add`. crm_attribute
  // needs the controller, which starts a moment after the CIB answers.
  PK_TRY(WaitFor([&]() -> Result<bool> {
    PK_TRY(Tool(o_.crm_attribute, {"--type", "crm_config", "--name", "stonith-enabled", "--update", "true"},
                "enable fencing"));
    PK_TRY(Tool(o_.crm_attribute, {"--type", "rsc_defaults", "--name", "resource-stickiness", "--update", "100"},
                "set resource stickiness"));
    return true;
  }, "set the cluster's defaults"));
  out.push_back("set stonith-enabled=true and resource-stickiness=100 (a moved pool stays until failback)");
  std::vector<std::string> names;
  for (const auto& h : req.spec.heads) names.push_back(h.name.str());
  out.push_back(fmt::format("cluster '{}': heads {}{}", req.spec.cluster_name, fmt::join(names, ", "),
                            req.spec.qdevice ? fmt::format(", quorum device {}:{}", req.spec.qdevice->host, req.spec.qdevice->port)
                            : req.spec.heads.size() == 2 ? " (two_node)" : ""));
  return out;
}

Result<Changes> ClusterAdmin::Join(const std::string& bundle_path) {
  PK_ASSIGN_OR_RETURN(auto text, fs_.ReadFile(bundle_path));
  auto bundle = ParseJoinBundle(text);
  if (!bundle) return std::unexpected(bundle.error().WithContext(bundle_path));
  auto spec = ParseCorosyncConf(bundle->corosync_conf);
  if (!spec) return std::unexpected(spec.error().WithContext(bundle_path));
  PK_ASSIGN_OR_RETURN(auto me, ThisHead(*spec));
  PK_TRY(RefuseInitialised("join"));
  PK_ASSIGN_OR_RETURN(auto out, Install(bundle->corosync_conf, bundle->authkey, me, *spec));
  auto member = WaitFor([&]() -> Result<bool> {
    PK_ASSIGN_OR_RETURN(auto s, ReadStatus());
    const auto* h = FindHead(s, me.name.str());
    return h && h->online && !s.dc.empty();
  }, fmt::format("wait for {} to be an online member", me.name.str()));
  if (!member) return std::unexpected(member.error());
  out.push_back(fmt::format("joined cluster '{}' as {}", spec->cluster_name, me.name.str()));
  return out;
}

// --- fencing ----------------------------------------------------------------

Result<Changes> ClusterAdmin::FenceAdd(const FenceAddRequest& req) {
  auto dev = req.device;
  PK_ASSIGN_OR_RETURN(auto conf_text, fs_.ReadFile(o_.corosync_dir + "/corosync.conf"));
  PK_ASSIGN_OR_RETURN(auto spec, ParseCorosyncConf(conf_text));
  auto it = std::find_if(spec.heads.begin(), spec.heads.end(), [&](const auto& h) { return h.name == dev.target; });
  if (it == spec.heads.end()) {
    std::vector<std::string> names;
    for (const auto& h : spec.heads) names.push_back(h.name.str());
    return NotFound(fmt::format("fence add: head '{}' is not in the cluster (heads: {}); nothing changed", dev.target.str(),
                                fmt::join(names, ", ")));
  }
  if (dev.agent.empty() || dev.agent.find('/') != std::string::npos || !dev.agent.starts_with("fence_")) {
    return InvalidArgument(fmt::format("fence add: '{}' is not a fence agent name (fence_ipmilan, ...)", dev.agent));
  }
  PK_ASSIGN_OR_RETURN(bool installed, fs_.Exists(o_.fence_agent_dir + "/" + dev.agent));
  if (!installed) {
    return NotFound(fmt::format("fence add: fence agent {} is not installed on this head ({}/{} missing; Debian: fence-agents); "
                                "nothing changed", dev.agent, o_.fence_agent_dir, dev.agent));
  }
  PK_ASSIGN_OR_RETURN(auto cfg, Config());
  const std::string id = FenceDeviceId(dev.target);
  if (cfg.HasId(id)) return AlreadyExists(fmt::format("fence add: head '{}' already has fence device {}; nothing changed", dev.target.str(), id));
  std::string delayed;
  for (const auto& d : cfg.fence_devices) {
    if (!d.delay_base.empty() && d.delay_base != "0" && d.delay_base != "0s") delayed = d.id;
  }
  if (req.delay) {
    if (*req.delay < 0 || *req.delay > 60) return InvalidArgument(fmt::format("fence add: delay {} s is not from 0 to 60", *req.delay));
    if (*req.delay > 0 && !delayed.empty()) {
      return FailedPrecondition(fmt::format("fence add: {} already has a delay; a delay on both devices would let both heads "
                                            "shoot at once after a split; nothing changed", delayed));
    }
    dev.delay_seconds = *req.delay;
  } else {
    // The device fencing the first head waits, so after a split the first head shoots first and survives.
    dev.delay_seconds = delayed.empty() && it == spec.heads.begin() ? kDefaultFenceDelaySeconds : 0;
  }
  // Through stdin: the device's XML may carry a password.
  PK_TRY(RunTool(runner_, o_.cibadmin, {"--create", "--scope", "resources", "--xml-pipe"}, o_.tool_timeout,
                 "add fence device " + id, FenceDeviceXml(dev)));
  if (auto c = Tool(o_.cibadmin, {"--create", "--scope", "constraints", "--xml-text", FenceNotSelfXml(dev.target)},
                    "keep " + id + " off " + dev.target.str());
      !c) {
    (void)Tool(o_.cibadmin, {"--delete", "--scope", "resources", "--xml-text", fmt::format(R"(<primitive id="{}"/>)", id)},
               "roll back " + id);
    return std::unexpected(c.error());
  }
  PK_TRY(Tool(o_.crm_attribute, {"--type", "crm_config", "--name", "stonith-enabled", "--update", "true"}, "enable fencing"));
  std::vector<std::string> shown;
  for (const auto& [k, v] : dev.params) {
    bool secret = k.find("passw") != std::string::npos;
    shown.push_back(k + "=" + (secret ? "***" : v));
  }
  return Changes{fmt::format("added fence device {} ({}{}{}): fences {}, never runs on {}", id, dev.agent,
                             shown.empty() ? "" : ", ", fmt::join(shown, ", "), dev.target.str(), dev.target.str()),
                 dev.delay_seconds > 0
                     ? fmt::format("fencing {} waits {} s (pcmk_delay_base): after a split {} shoots first", dev.target.str(),
                                   dev.delay_seconds, dev.target.str())
                     : fmt::format("fencing {} does not wait", dev.target.str())};
}

// --- pools --------------------------------------------------------------------

Result<Changes> ClusterAdmin::PoolAdd(const PoolAddRequest& req) {
  const auto& g = req.group;
  const std::string what = fmt::format("pool add '{}'", g.pool.str());
  PK_ASSIGN_OR_RETURN(auto group_id, PoolGroupId(g.pool));
  PK_ASSIGN_OR_RETURN(auto s, QuorateStatus(what));
  PK_ASSIGN_OR_RETURN(auto cfg, Config());
  if (const auto* p = cfg.FindPool(g.pool.str())) {
    return AlreadyExists(fmt::format("{}: the pool is already in the cluster as {}; nothing changed", what, p->resource()));
  }
  if (cfg.HasId(group_id)) return AlreadyExists(fmt::format("{}: resource id {} is taken; nothing changed", what, group_id));
  if (req.prefer) {
    auto h = KnownHead(s, *req.prefer);
    if (!h) return std::unexpected(h.error().WithContext(what));
  }
  if (g.vips.empty()) return InvalidArgument(fmt::format("{}: give at least one --vip", what));
  PK_ASSIGN_OR_RETURN(auto local, env_.LocalAddresses());
  for (const auto& vip : g.vips) {
    if (auto at = cfg.ip_owners.find(vip.address()); at != cfg.ip_owners.end()) {
      return FailedPrecondition(fmt::format("{}: VIP {} is already configured as resource {}; nothing changed", what,
                                            vip.address(), at->second));
    }
    bool subnet = false;
    for (const auto& a : local) {
      if (a.address == vip.address()) {
        return FailedPrecondition(fmt::format("{}: VIP {} is already an address of this head ({}); nothing changed", what,
                                              vip.address(), a.interface));
      }
      subnet = subnet || (a.address.find(':') == vip.address().find(':') && a.prefix == vip.prefix() && vip.SameSubnet(a.address));
    }
    if (!subnet && g.nic.empty()) {
      return FailedPrecondition(fmt::format("{}: no interface of this head has an address in the subnet of VIP {}; "
                                            "IPaddr2 would not know where to put it (give --nic); nothing changed", what, vip.str()));
    }
    PK_ASSIGN_OR_RETURN(bool answers, env_.AddressAnswers(vip.address()));
    if (answers) {
      return FailedPrecondition(fmt::format("{}: VIP {} answers on the network: another machine uses it; nothing changed",
                                            what, vip.address()));
    }
  }
  if (req.check_pool) {
    if (auto c = req.check_pool(g); !c) return std::unexpected(c.error().WithContext(what));
  }
  PK_ASSIGN_OR_RETURN(auto xml, PoolGroupXml(g));
  // The group is created stopped: a constraint may only name an existing
  // resource, and a group started before its preference would stay wherever
  // it started (stickiness). Then the preference, then it may start.
  const std::string stopped = fmt::format(R"(<meta_attributes id="{0}-meta"><nvpair id="{0}-meta-target-role" )"
                                          R"(name="target-role" value="Stopped"/></meta_attributes>)", group_id);
  xml.insert(xml.find('>') + 1, stopped);
  Changes out;
  PK_TRY(Tool(o_.cibadmin, {"--create", "--scope", "resources", "--xml-text", xml}, what + ": add the resource group"));
  auto rollback = [&](const Error& e) -> Result<Changes> {
    (void)Tool(o_.cibadmin, {"--delete", "--scope", "resources", "--xml-text", fmt::format(R"(<group id="{}"/>)", group_id)},
               what + ": roll back");
    return std::unexpected(e);
  };
  // Pacemaker keeps the fail counts of a removed resource: a pool removed
  // after failed starts and added again would never start. The group starts clean.
  if (auto c = Tool(o_.crm_resource, {"--cleanup", "--resource", group_id}, what + ": clear old failures of " + group_id);
      !c) {
    return rollback(c.error());
  }
  if (req.prefer) {
    if (auto c = Tool(o_.cibadmin, {"--create", "--scope", "constraints", "--xml-text", PreferenceXml(group_id, *req.prefer)},
                      what + ": add the location preference");
        !c) {
      return rollback(c.error());
    }
  }
  if (auto c = Tool(o_.crm_resource, {"--resource", group_id, "--meta", "--delete-parameter", "target-role"},
                    what + ": let the group start");
      !c) {
    if (req.prefer) {
      (void)Tool(o_.cibadmin, {"--delete", "--scope", "constraints", "--xml-text",
                               fmt::format(R"(<rsc_location id="{}"/>)", PreferenceId(group_id, *req.prefer))}, "roll back");
    }
    return rollback(c.error());
  }
  std::vector<std::string> vips;
  for (const auto& v : g.vips) vips.push_back(v.str());
  out.push_back(fmt::format("added resource group {}: ocf:poolkeeper:pool (pool {}), then IPaddr2 {} (the IPs start after "
                            "the pool and stop before it)", group_id, g.pool.str(), fmt::join(vips, ", ")));
  if (req.prefer) out.push_back(fmt::format("{} prefers head {}", group_id, req.prefer->str()));
  std::string owner;
  auto started = WaitFor([&]() -> Result<bool> {
    PK_ASSIGN_OR_RETURN(auto st, ReadStatus());
    PK_ASSIGN_OR_RETURN(auto c, Config());
    const auto* p = c.FindPool(g.pool.str());
    const auto* ps = p ? FindPoolStatus(st, *p) : nullptr;
    if (ps && ps->failed && ps->last_failure) {
      return FailedPrecondition(fmt::format("start failed on {}: {}", ps->last_failure->head, ps->last_failure->exit_reason));
    }
    owner = Owner(ps);
    if (owner.empty()) return false;
    return GroupRunsOn(*p, owner);
  }, what + ": wait for the pool and its IPs to start");
  if (!started) return std::unexpected(started.error().WithContext("the group is added (`poolkeeper cluster status` shows why it does not run)"));
  out.push_back(fmt::format("pool {} runs on {}", g.pool.str(), owner));
  return out;
}

Result<Changes> ClusterAdmin::PoolRemove(const zfs::PoolName& pool) {
  const std::string what = fmt::format("pool remove '{}'", pool.str());
  PK_ASSIGN_OR_RETURN(auto s, QuorateStatus(what));
  PK_ASSIGN_OR_RETURN(auto cfg, Config());
  const auto* p = cfg.FindPool(pool.str());
  if (!p) return NotFound(fmt::format("{}: the pool is not in the cluster", what));
  const std::string rsc = p->resource();
  const std::string was = Owner(FindPoolStatus(s, *p));
  PK_TRY(Tool(o_.crm_resource, {"--resource", rsc, "--meta", "--set-parameter", "target-role", "--parameter-value", "Stopped"},
              what + ": stop " + rsc));
  PK_TRY(WaitFor([&]() -> Result<bool> {
    PK_ASSIGN_OR_RETURN(auto st, ReadStatus());
    const auto* ps = FindPoolStatus(st, *p);
    return !ps || ps->owners.empty();
  }, what + ": wait for the pool to stop"));
  Changes out{fmt::format("stopped {}{} (its IPs went down, then the pool was exported)", rsc, was.empty() ? "" : " on " + was)};
  // Its failures and fail counts would outlive the resource (and keep a pool
  // added again under the same name from starting).
  PK_TRY(Tool(o_.crm_resource, {"--cleanup", "--resource", rsc}, what + ": clear the failures of " + rsc));
  out.push_back("cleared the failure history of " + rsc);
  for (const auto& l : cfg.locations) {
    if (l.rsc != rsc) continue;
    PK_TRY(Tool(o_.cibadmin, {"--delete", "--scope", "constraints", "--xml-text", fmt::format(R"(<rsc_location id="{}"/>)", l.id)},
                what + ": remove constraint " + l.id));
    out.push_back("removed constraint " + l.id);
  }
  std::string elem = p->group.empty() ? "primitive" : "group";
  PK_TRY(Tool(o_.cibadmin, {"--delete", "--scope", "resources", "--xml-text", fmt::format(R"(<{} id="{}"/>)", elem, rsc)},
              what + ": remove " + rsc));
  // Pacemaker stopped it (so exported it) on every head it could reach; an
  // offline head was not checked: say so rather than claim every head.
  std::vector<std::string> offline;
  for (const auto& h : s.heads) {
    if (!h.online) offline.push_back(h.name);
  }
  if (offline.empty()) {
    out.push_back(fmt::format("removed {} from the cluster; pool {} is exported on every head", rsc, pool.str()));
  } else {
    out.push_back(fmt::format("removed {} from the cluster; pool {} is exported on every online head; not checked on {} "
                              "(offline: when it comes back, its poolkeeperd does not import a cluster pool by itself; "
                              "check there with `poolkeeper pool list`)",
                              rsc, pool.str(), fmt::join(offline, ", ")));
  }
  return out;
}

Result<bool> ClusterAdmin::GroupRunsOn(const CibPool& p, const std::string& head) {
  PK_ASSIGN_OR_RETURN(auto st, ReadStatus());
  const auto* ps = FindPoolStatus(st, p);
  if (!ps || !ps->active || Owner(ps) != head) return false;
  for (const auto& ip : p.vip_resources) {
    PK_ASSIGN_OR_RETURN(auto out, Tool(o_.crm_resource, {"--locate", "--resource", ip}, "locate " + ip));
    if (out.find("is running on: " + head) == std::string::npos) return false;
  }
  return true;
}

Result<std::string> ClusterAdmin::MoveAndWait(const CibPool& p, const std::string& from, const std::string& to) {
  auto t0 = o_.clock->SteadyNow();
  PK_TRY(Tool(o_.crm_resource, {"--move", "--resource", p.resource(), "--node", to}, fmt::format("move {} to {}", p.resource(), to)));
  PK_TRY(WaitFor([&] { return GroupRunsOn(p, to); }, fmt::format("wait for pool {} and its IPs to run on {}", p.pool, to)));
  double secs = std::chrono::duration<double>(o_.clock->SteadyNow() - t0).count();
  return fmt::format("pool {}: moved from {} to {} in {:.1f} s", p.pool, from.empty() ? "nowhere" : from, to, secs);
}

Result<Changes> ClusterAdmin::Takeover(const zfs::PoolName& pool, const std::optional<HeadName>& to) {
  const std::string what = fmt::format("takeover '{}'", pool.str());
  PK_ASSIGN_OR_RETURN(auto s, QuorateStatus(what));
  PK_ASSIGN_OR_RETURN(auto cfg, Config());
  const auto* p = cfg.FindPool(pool.str());
  if (!p) return NotFound(fmt::format("{}: the pool is not in the cluster", what));
  const std::string owner = Owner(FindPoolStatus(s, *p));
  std::string target;
  if (to) {
    PK_ASSIGN_OR_RETURN(const auto* h, KnownHead(s, *to));
    if (!HeadCanRun(*h)) {
      return FailedPrecondition(fmt::format("{}: head {} is {} and cannot take the pool; nothing changed", what, h->name, Why(*h)));
    }
    target = h->name;
  } else {
    std::vector<std::string> candidates;
    for (const auto& h : s.heads) {
      if (h.name != owner && HeadCanRun(h)) candidates.push_back(h.name);
    }
    if (candidates.empty()) {
      std::vector<std::string> v;
      for (const auto& h : s.heads) {
        if (h.name != owner) v.push_back(h.name + " " + Why(h));
      }
      return FailedPrecondition(fmt::format("{}: no other head can take the pool ({}); nothing changed", what, fmt::join(v, ", ")));
    }
    if (candidates.size() > 1) {
      return FailedPrecondition(fmt::format("{}: heads {} can take it: say which with --to", what, fmt::join(candidates, ", ")));
    }
    target = candidates[0];
  }
  if (target == owner) return Changes{fmt::format("pool {} already runs on {}; nothing changed", pool.str(), owner)};
  PK_ASSIGN_OR_RETURN(auto line, MoveAndWait(*p, owner, target));
  // The move's constraint goes at once (as pcs does): resource stickiness
  // keeps the pool where it is now, and a pinned pool would return to the
  // target by itself after a later failure there, a second outage nobody asked for.
  PK_TRY(Tool(o_.crm_resource, {"--clear", "--resource", p->resource()}, "clear moves of " + p->resource()));
  return Changes{line, fmt::format("pool {} stays on {} until `poolkeeper cluster failback` (or a failure of {})",
                                   pool.str(), target, target)};
}

Result<Changes> ClusterAdmin::Failback() {
  PK_ASSIGN_OR_RETURN(auto s, QuorateStatus("failback"));
  PK_ASSIGN_OR_RETURN(auto cfg, Config());
  Changes out;
  for (const auto& p : cfg.pools) {
    const std::string owner = Owner(FindPoolStatus(s, p));
    bool moved_by_cli = std::any_of(cfg.locations.begin(), cfg.locations.end(),
                                    [&](const auto& l) { return l.rsc == p.resource() && l.id.starts_with("cli-"); });
    if (p.preferred_head.empty()) {
      if (moved_by_cli) {
        PK_TRY(Tool(o_.crm_resource, {"--clear", "--resource", p.resource()}, "clear moves of " + p.resource()));
        out.push_back(fmt::format("pool {}: cleared earlier moves; it has no preferred head and stays on {}", p.pool,
                                  owner.empty() ? "-" : owner));
      }
      continue;
    }
    const auto* pref = FindHead(s, p.preferred_head);
    if (!pref || !HeadCanRun(*pref)) {
      out.push_back(fmt::format("pool {}: stays on {}: its preferred head {} is {}", p.pool, owner.empty() ? "-" : owner,
                                p.preferred_head, pref ? Why(*pref) : "unknown"));
      continue;
    }
    if (owner == p.preferred_head) {
      if (moved_by_cli) {
        PK_TRY(Tool(o_.crm_resource, {"--clear", "--resource", p.resource()}, "clear moves of " + p.resource()));
        out.push_back(fmt::format("pool {}: cleared earlier moves; already on its preferred head {}", p.pool, owner));
      }
      continue;
    }
    PK_ASSIGN_OR_RETURN(auto line, MoveAndWait(p, owner, p.preferred_head));
    // The move's own constraint goes; stickiness keeps the pool where it is now.
    PK_TRY(Tool(o_.crm_resource, {"--clear", "--resource", p.resource()}, "clear moves of " + p.resource()));
    out.push_back(line + " (its preferred head)");
  }
  if (out.empty()) out.push_back("every pool is on its preferred head; nothing changed");
  return out;
}

Result<Changes> ClusterAdmin::Standby(const HeadName& head) {
  const std::string what = fmt::format("standby {}", head.str());
  PK_ASSIGN_OR_RETURN(auto s, QuorateStatus(what));
  PK_ASSIGN_OR_RETURN(const auto* h, KnownHead(s, head));
  if (h->standby) return Changes{fmt::format("head {} is already in standby; nothing changed", head.str())};
  std::vector<std::string> others;
  bool other_can_run = false;
  for (const auto& o : s.heads) {
    if (o.name == head.str()) continue;
    other_can_run = other_can_run || HeadCanRun(o);
    others.push_back(o.name + " " + Why(o));
  }
  PK_ASSIGN_OR_RETURN(auto cfg, Config());
  std::vector<const CibPool*> leaving;
  for (const auto& p : cfg.pools) {
    if (Owner(FindPoolStatus(s, p)) == head.str()) leaving.push_back(&p);
  }
  if (!other_can_run && !leaving.empty()) {
    return FailedPrecondition(fmt::format("{}: no other head can take its pools ({}): they would stop; nothing changed", what,
                                          fmt::join(others, ", ")));
  }
  auto t0 = o_.clock->SteadyNow();
  PK_TRY(Tool(o_.crm_attribute, {"--type", "nodes", "--node", head.str(), "--name", "standby", "--update", "on"}, what));
  Changes out{fmt::format("head {} is in standby: it runs no pool until `poolkeeper cluster unstandby {}`", head.str(), head.str())};
  PK_TRY(WaitFor([&]() -> Result<bool> {
    PK_ASSIGN_OR_RETURN(auto st, ReadStatus());
    for (const auto* p : leaving) {
      const auto* ps = FindPoolStatus(st, *p);
      if (!ps || !ps->active || Owner(ps).empty() || Owner(ps) == head.str()) return false;
      PK_ASSIGN_OR_RETURN(bool there, GroupRunsOn(*p, Owner(ps)));
      if (!there) return false;
    }
    return true;
  }, what + ": wait for its pools to move"));
  PK_ASSIGN_OR_RETURN(auto after, ReadStatus());
  double secs = std::chrono::duration<double>(o_.clock->SteadyNow() - t0).count();
  for (const auto* p : leaving) {
    out.push_back(fmt::format("pool {}: moved from {} to {} ({:.1f} s after the standby)", p->pool, head.str(),
                              Owner(FindPoolStatus(after, *p)), secs));
  }
  return out;
}

Result<Changes> ClusterAdmin::Unstandby(const HeadName& head) {
  const std::string what = fmt::format("unstandby {}", head.str());
  PK_ASSIGN_OR_RETURN(auto s, QuorateStatus(what));
  PK_ASSIGN_OR_RETURN(const auto* h, KnownHead(s, head));
  if (!h->standby) return Changes{fmt::format("head {} is not in standby; nothing changed", head.str())};
  PK_TRY(Tool(o_.crm_attribute, {"--type", "nodes", "--node", head.str(), "--name", "standby", "--update", "off"}, what));
  return Changes{fmt::format("head {} may run pools again; pools stay where they are until `poolkeeper cluster failback`", head.str())};
}

Result<Changes> ClusterAdmin::Maintenance(bool on) {
  // No quorum needed: maintenance is what an admin turns on when things are wrong.
  PK_ASSIGN_OR_RETURN(auto s, ReadStatus());
  if (s.maintenance == on) return Changes{fmt::format("maintenance is already {}; nothing changed", on ? "on" : "off")};
  PK_TRY(Tool(o_.crm_attribute, {"--type", "crm_config", "--name", "maintenance-mode", "--update", on ? "true" : "false"},
              fmt::format("maintenance {}", on ? "on" : "off")));
  return Changes{on ? "maintenance on: Pacemaker no longer starts, stops or monitors anything; pools stay where they are"
                    : "maintenance off: Pacemaker manages the pools again (it probes them first)"};
}

}  // namespace pk::cluster
