#include "cluster/cib.h"

#include <algorithm>
#include <functional>
#include <set>

#include <fmt/format.h>

#include "cluster/internal/xml.h"

namespace pk::cluster {
namespace {

using internal::XmlElement;

std::string Nvpair(const XmlElement& e, std::string_view set, const std::string& name) {
  for (const auto* ia : e.Children(set)) {
    for (const auto* nv : ia->Children("nvpair")) {
      if (nv->Attr("name") == name) return nv->Attr("value");
    }
  }
  return "";
}

bool IsPoolPrimitive(const XmlElement& p) {
  return p.Attr("class") == "ocf" && p.Attr("provider") == "poolkeeper" && p.Attr("type") == "pool";
}
bool IsIpPrimitive(const XmlElement& p) {
  return p.Attr("class") == "ocf" && p.Attr("provider") == "heartbeat" && (p.Attr("type") == "IPaddr2" || p.Attr("type") == "IPaddr");
}

std::string IpOf(const XmlElement& p) {
  std::string ip = Nvpair(p, "instance_attributes", "ip");
  auto canon = CanonicalAddress(ip);
  return canon ? *canon : ip;
}

void Walk(const XmlElement& e, const std::function<void(const XmlElement&)>& f) {
  f(e);
  for (const auto& c : e.children) Walk(*c, f);
}

// Cluster properties Pacemaker maintains itself.
bool SelfMaintained(const std::string& name) {
  static const std::set<std::string> kNames = {"dc-version", "cluster-infrastructure", "cluster-name", "have-watchdog",
                                               "last-lrm-refresh"};
  return kNames.contains(name);
}

void Canonical(const XmlElement& e, std::string& out) {
  if (e.name == "status") return;
  if (e.name == "nvpair" && SelfMaintained(e.Attr("name"))) return;
  out += "<" + e.name;
  if (e.name != "cib") {
    for (const auto& [k, v] : e.attributes) out += fmt::format(" {}=\"{}\"", k, XmlEscape(v));
  }
  out += ">";
  for (const auto& c : e.children) Canonical(*c, out);
  out += XmlEscape(e.Text()) + "</" + e.name + ">";
}

std::string Op(const std::string& rsc, const std::string& name, const std::string& interval, const std::string& timeout) {
  return fmt::format(R"(<op id="{0}-{1}-{2}" name="{1}" interval="{2}" timeout="{3}"/>)", rsc, name, interval, timeout);
}

}  // namespace

const CibPool* CibConfig::FindPool(std::string_view pool) const {
  for (const auto& p : pools) {
    if (p.pool == pool) return &p;
  }
  return nullptr;
}

bool CibConfig::HasId(std::string_view id) const {
  return std::find(resource_ids.begin(), resource_ids.end(), id) != resource_ids.end();
}

Result<CibConfig> ParseCibConfig(std::string_view xml) {
  auto root = internal::ParseXml(xml);
  if (!root) return std::unexpected(root.error().WithContext("CIB configuration XML"));
  CibConfig cfg;
  const XmlElement* resources = nullptr;
  Walk(**root, [&](const XmlElement& e) {
    if (e.name == "resources" && !resources) resources = &e;
    if (e.name == "rsc_location") {
      cfg.locations.push_back({e.Attr("id"), e.Attr("rsc"), e.Attr("node"), e.Attr("score")});
    }
  });
  if (!resources) return cfg;
  Walk(*resources, [&](const XmlElement& e) {
    if (e.name == "primitive" || e.name == "group" || e.name == "clone") cfg.resource_ids.push_back(e.Attr("id"));
    if (e.name == "primitive" && e.Attr("class") == "stonith") {
      cfg.fence_devices.push_back({e.Attr("id"), e.Attr("type"), Nvpair(e, "instance_attributes", "pcmk_host_list"),
                                   Nvpair(e, "instance_attributes", "pcmk_delay_base")});
    }
    if (e.name == "primitive" && IsIpPrimitive(e)) cfg.ip_owners[IpOf(e)] = e.Attr("id");
  });
  auto add_pool = [&](const XmlElement& p, const XmlElement* group) {
    CibPool pool;
    pool.group = group ? group->Attr("id") : "";
    pool.primitive = p.Attr("id");
    pool.pool = Nvpair(p, "instance_attributes", "pool");
    if (group) {
      for (const auto* m : group->Children("primitive")) {
        if (IsIpPrimitive(*m)) {
          std::string mask = Nvpair(*m, "instance_attributes", "cidr_netmask");
          pool.vips.push_back(IpOf(*m) + (mask.empty() ? "" : "/" + mask));
          pool.vip_resources.push_back(m->Attr("id"));
        }
      }
    }
    for (const auto& l : cfg.locations) {
      if (l.rsc == pool.resource() && !l.node.empty() && l.id.rfind("cli-", 0) != 0 && l.score != "-INFINITY" &&
          !l.score.starts_with("-")) {
        pool.preferred_head = l.node;
      }
    }
    cfg.pools.push_back(std::move(pool));
  };
  for (const auto& c : resources->children) {
    if (c->name == "primitive" && IsPoolPrimitive(*c)) add_pool(*c, nullptr);
    if (c->name == "group") {
      for (const auto* m : c->Children("primitive")) {
        if (IsPoolPrimitive(*m)) add_pool(*m, c.get());
      }
    }
  }
  return cfg;
}

std::string StableConfiguration(std::string_view cib_xml) {
  auto root = internal::ParseXml(cib_xml);
  if (!root) return "unparsable: " + std::string(cib_xml);
  std::string out;
  Canonical(**root, out);
  return out;
}

std::string XmlEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

Result<std::string> PoolGroupId(const zfs::PoolName& pool) {
  for (char c : pool.str()) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return InvalidArgument(fmt::format("pool '{}': '{}' cannot be part of a Pacemaker resource id", pool.str(), c));
    }
  }
  return "pool-" + pool.str();
}

Result<std::string> PoolGroupXml(const PoolGroupSpec& spec) {
  PK_ASSIGN_OR_RETURN(auto group, PoolGroupId(spec.pool));
  const std::string prim = group + "-pool";
  std::string dirs;
  for (const auto& d : spec.search_dirs) dirs += (dirs.empty() ? "" : ":") + d;
  std::string out = fmt::format(R"(<group id="{0}"><primitive id="{1}" class="ocf" provider="poolkeeper" type="pool">)"
                                R"(<instance_attributes id="{1}-ia"><nvpair id="{1}-pool" name="pool" value="{2}"/>)",
                                group, prim, XmlEscape(spec.pool.str()));
  if (!dirs.empty()) out += fmt::format(R"(<nvpair id="{0}-dirs" name="search_dirs" value="{1}"/>)", prim, XmlEscape(dirs));
  // Timeouts: the agent's own defaults (poolkeeper ocf pool meta-data).
  out += "</instance_attributes><operations>" + Op(prim, "start", "0", "60s") + Op(prim, "stop", "0", "30s") +
         Op(prim, "monitor", "2s", "20s") + "</operations></primitive>";
  for (size_t i = 0; i < spec.vips.size(); ++i) {
    const std::string ip = fmt::format("{}-vip{}", group, i + 1);
    out += fmt::format(R"(<primitive id="{0}" class="ocf" provider="heartbeat" type="IPaddr2">)"
                       R"(<instance_attributes id="{0}-ia"><nvpair id="{0}-ip" name="ip" value="{1}"/>)"
                       R"(<nvpair id="{0}-mask" name="cidr_netmask" value="{2}"/>)",
                       ip, spec.vips[i].address(), spec.vips[i].prefix());
    if (!spec.nic.empty()) out += fmt::format(R"(<nvpair id="{0}-nic" name="nic" value="{1}"/>)", ip, XmlEscape(spec.nic));
    out += "</instance_attributes><operations>" + Op(ip, "start", "0", "20s") + Op(ip, "stop", "0", "20s") +
           Op(ip, "monitor", "10s", "20s") + "</operations></primitive>";
  }
  return out + "</group>";
}

std::string PreferenceId(const std::string& rsc, const HeadName& head) { return rsc + "-prefers-" + head.str(); }

std::string PreferenceXml(const std::string& rsc, const HeadName& head) {
  return fmt::format(R"(<rsc_location id="{}" rsc="{}" node="{}" score="50"/>)", PreferenceId(rsc, head), rsc, head.str());
}

std::string FenceDeviceId(const HeadName& target) { return "fence-" + target.str(); }

std::string FenceDeviceXml(const FenceDeviceSpec& spec) {
  const std::string id = FenceDeviceId(spec.target);
  std::string out = fmt::format(R"(<primitive id="{0}" class="stonith" type="{1}"><instance_attributes id="{0}-ia">)"
                                R"(<nvpair id="{0}-hl" name="pcmk_host_list" value="{2}"/>)",
                                id, XmlEscape(spec.agent), spec.target.str());
  for (const auto& [k, v] : spec.params) {
    out += fmt::format(R"(<nvpair id="{0}-{1}" name="{1}" value="{2}"/>)", id, XmlEscape(k), XmlEscape(v));
  }
  if (spec.delay_seconds > 0) {
    out += fmt::format(R"(<nvpair id="{0}-delay" name="pcmk_delay_base" value="{1}s"/>)", id, spec.delay_seconds);
  }
  return out + fmt::format(R"(</instance_attributes><operations><op id="{0}-monitor-60s" name="monitor" interval="60s"/>)"
                           R"(</operations></primitive>)",
                           id);
}

std::string FenceNotSelfXml(const HeadName& target) {
  return fmt::format(R"(<rsc_location id="{0}-not-self" rsc="{0}" node="{1}" score="-INFINITY"/>)", FenceDeviceId(target),
                     target.str());
}

}  // namespace pk::cluster
