#include "cluster/crm_mon.h"

#include <algorithm>
#include <charconv>
#include <map>

#include <fmt/format.h>

#include "cluster/cib.h"
#include "cluster/internal/xml.h"

namespace pk::cluster {
namespace {

using internal::XmlElement;

constexpr std::string_view kPoolAgent = "ocf:poolkeeper:pool";

// Primitives anywhere under `e` (groups, clones), depth first.
void Primitives(const XmlElement& e, std::vector<const XmlElement*>& out) {
  for (const auto& c : e.children) {
    if (c->name == "primitive") out.push_back(c.get());
    Primitives(*c, out);
  }
}

// crm_mon's <resource> elements anywhere under `e` (inside <group>, <clone>).
void Resources(const XmlElement& e, std::vector<const XmlElement*>& out) {
  for (const auto& c : e.children) {
    if (c->name == "resource") {
      out.push_back(c.get());
    } else {
      Resources(*c, out);
    }
  }
}

// The value of nvpair `name` in a primitive's instance_attributes.
std::string InstanceAttribute(const XmlElement& primitive, const std::string& name) {
  for (const auto* ia : primitive.Children("instance_attributes")) {
    for (const auto* nv : ia->Children("nvpair")) {
      if (nv->Attr("name") == name) return nv->Attr("value");
    }
  }
  return "";
}

// A whole-number attribute; 0 when absent or not a number.
int IntAttr(const XmlElement& e, const std::string& key) {
  std::string v = e.Attr(key, "0");
  int out = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  return ec == std::errc() && end == v.data() + v.size() ? out : 0;
}

// crm_mon 2.1.5 escapes an operation's exit reason once more than XML needs
// (the CIB holds `'` as `&apos;`, and crm_mon prints `&amp;apos;`), so the
// parsed attribute still carries entities: decoded here, once.
std::string DecodeEntities(std::string_view s) {
  static constexpr std::pair<std::string_view, char> kEntities[] = {
      {"&apos;", '\''}, {"&quot;", '"'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}};
  std::string out;
  for (size_t i = 0; i < s.size();) {
    bool decoded = false;
    if (s[i] == '&') {
      for (const auto& [entity, c] : kEntities) {
        if (s.substr(i, entity.size()) == entity) {
          out += c;
          i += entity.size();
          decoded = true;
          break;
        }
      }
    }
    if (!decoded) out += s[i++];
  }
  return out;
}

}  // namespace

Result<ClusterStatus> ParseClusterStatus(std::string_view crm_mon_xml, std::string_view cib_xml) {
  auto mon = internal::ParseXml(crm_mon_xml);
  if (!mon) return std::unexpected(mon.error().WithContext("crm_mon XML"));
  if ((*mon)->name != "pacemaker-result") {
    return InvalidArgument(fmt::format("crm_mon XML: root element is <{}>, not <pacemaker-result>", (*mon)->name));
  }
  if (const auto* st = (*mon)->Child("status"); st && st->Attr("code", "0") != "0") {
    std::vector<std::string> errors;
    if (const auto* errs = st->Child("errors")) {
      for (const auto* e : errs->Children("error")) errors.push_back(e->Text());
    }
    return Unavailable(fmt::format("crm_mon: {} (code {}){}{}", st->Attr("message", "error"), st->Attr("code"),
                                   errors.empty() ? "" : ": ", fmt::join(errors, "; ")));
  }
  auto cib = internal::ParseXml(cib_xml);
  if (!cib) return std::unexpected(cib.error().WithContext("CIB resources XML"));
  PK_ASSIGN_OR_RETURN(auto config, ParseCibConfig(cib_xml));

  std::map<std::string, const XmlElement*> primitives;
  {
    std::vector<const XmlElement*> all;
    if ((*cib)->name == "primitive") all.push_back(cib->get());
    Primitives(**cib, all);
    for (const auto* p : all) primitives[p->Attr("id")] = p;
  }

  ClusterStatus s;
  const XmlElement& root = **mon;
  if (const auto* p = root.Child("pacemakerd")) s.pacemakerd = p->Attr("state");
  const XmlElement* summary = root.Child("summary");
  if (!summary) return InvalidArgument("crm_mon XML: no <summary>");
  if (const auto* dc = summary->Child("current_dc"); dc && dc->BoolAttr("present")) {
    s.dc = dc->Attr("name");
    s.quorum = dc->BoolAttr("with_quorum");
  }
  if (const auto* o = summary->Child("cluster_options")) {
    s.fencing_enabled = o->BoolAttr("stonith-enabled");
    s.maintenance = o->BoolAttr("maintenance-mode");
  }
  if (const auto* nodes = root.Child("nodes")) {
    for (const auto* n : nodes->Children("node")) {
      HeadStatus h;
      h.name = n->Attr("name");
      h.online = n->BoolAttr("online");
      h.standby = n->BoolAttr("standby");
      h.maintenance = n->BoolAttr("maintenance");
      h.unclean = n->BoolAttr("unclean");
      h.pending = n->BoolAttr("pending");
      h.dc = n->BoolAttr("is_dc");
      h.resources_running = IntAttr(*n, "resources_running");
      s.heads.push_back(std::move(h));
    }
  }
  if (const auto* failures = root.Child("failures")) {
    for (const auto* f : failures->Children("failure")) {
      ResourceFailure r;
      std::string key = f->Attr("op_key");
      // op_key is RESOURCE_TASK_INTERVAL; the resource id may contain '_'.
      size_t cut = key.rfind('_');
      cut = cut == std::string::npos || cut == 0 ? std::string::npos : key.rfind('_', cut - 1);
      r.resource = cut == std::string::npos ? key : key.substr(0, cut);
      r.head = f->Attr("node");
      r.task = f->Attr("task");
      r.exit_status = f->Attr("exitstatus");
      r.exit_code = IntAttr(*f, "exitcode");
      r.exit_reason = DecodeEntities(f->Attr("exitreason"));
      r.when = f->Attr("last-rc-change");
      bool dup = std::any_of(s.failures.begin(), s.failures.end(), [&](const ResourceFailure& o) {
        return o.resource == r.resource && o.head == r.head && o.task == r.task && o.when == r.when;
      });
      if (!dup) s.failures.push_back(std::move(r));
    }
  }
  if (const auto* fh = root.Child("fence_history")) {
    for (const auto* e : fh->Children("fence_event")) {
      s.fence_history.push_back(
          {e->Attr("action"), e->Attr("target"), e->Attr("delegate"), e->Attr("status"), e->Attr("completed")});
    }
  }
  std::vector<const XmlElement*> resources;
  if (const auto* r = root.Child("resources")) Resources(*r, resources);
  for (const auto* r : resources) {
    std::string id = r->Attr("id");
    std::string agent = r->Attr("resource_agent");
    std::vector<std::string> on;
    for (const auto* n : r->Children("node")) on.push_back(n->Attr("name"));
    auto prim = primitives.find(id);
    if (agent.starts_with("stonith:")) {
      FenceDevice d{id, agent, "", on.empty() ? "" : on.front()};
      if (prim != primitives.end()) d.targets = InstanceAttribute(*prim->second, "pcmk_host_list");
      s.fence_devices.push_back(std::move(d));
      continue;
    }
    if (agent != kPoolAgent) continue;
    PoolStatus p;
    p.resource = id;
    if (prim == primitives.end()) {
      return InvalidArgument(fmt::format("CIB resources XML: no primitive '{}' for the crm_mon resource", id));
    }
    p.pool = InstanceAttribute(*prim->second, "pool");
    p.owners = std::move(on);
    p.role = r->Attr("role");
    p.active = r->BoolAttr("active");
    p.failed = r->BoolAttr("failed");
    p.managed = r->BoolAttr("managed", true);
    p.blocked = r->BoolAttr("blocked");
    std::vector<std::string> members = {id};
    for (const auto& c : config.pools) {
      if (c.primitive != id) continue;
      p.group = c.group;
      p.vips = c.vips;
      p.preferred_head = c.preferred_head;
      members.insert(members.end(), c.vip_resources.begin(), c.vip_resources.end());
      for (const auto& l : config.locations) {
        if (l.rsc == c.resource() && l.id.starts_with("cli-prefer-")) p.moved_to = l.node;
      }
    }
    for (const auto& f : s.failures) {
      if (std::find(members.begin(), members.end(), f.resource) == members.end()) continue;
      if (!p.last_failure || f.when > p.last_failure->when) p.last_failure = f;
    }
    s.pools.push_back(std::move(p));
  }
  return s;
}

nlohmann::json ClusterStatus::ToJson() const {
  using nlohmann::json;
  auto failure = [](const ResourceFailure& f) {
    return json{{"resource", f.resource}, {"head", f.head},           {"task", f.task},  {"exit_status", f.exit_status},
                {"exit_code", f.exit_code}, {"exit_reason", f.exit_reason}, {"when", f.when}};
  };
  json j = {{"pacemakerd", pacemakerd},
            {"dc", dc.empty() ? json(nullptr) : json(dc)},
            {"quorum", quorum},
            {"fencing_enabled", fencing_enabled},
            {"maintenance", maintenance},
            {"heads", json::array()},
            {"pools", json::array()},
            {"fence_devices", json::array()},
            {"fence_history", json::array()},
            {"failures", json::array()}};
  for (const auto& h : heads) {
    j["heads"].push_back({{"name", h.name}, {"online", h.online}, {"standby", h.standby}, {"maintenance", h.maintenance},
                          {"unclean", h.unclean}, {"pending", h.pending}, {"dc", h.dc},
                          {"resources_running", h.resources_running}});
  }
  for (const auto& p : pools) {
    j["pools"].push_back({{"pool", p.pool}, {"resource", p.resource}, {"owners", p.owners}, {"role", p.role},
                          {"active", p.active}, {"failed", p.failed}, {"managed", p.managed}, {"blocked", p.blocked},
                          {"group", p.group}, {"vips", p.vips}, {"preferred_head", p.preferred_head},
                          {"moved_to", p.moved_to},
                          {"last_failure", p.last_failure ? failure(*p.last_failure) : json(nullptr)}});
  }
  for (const auto& d : fence_devices) {
    j["fence_devices"].push_back({{"id", d.id}, {"agent", d.agent}, {"targets", d.targets}, {"running_on", d.running_on}});
  }
  for (const auto& e : fence_history) {
    j["fence_history"].push_back(
        {{"action", e.action}, {"target", e.target}, {"by", e.by}, {"status", e.status}, {"completed", e.completed}});
  }
  for (const auto& f : failures) j["failures"].push_back(failure(f));
  return j;
}

}  // namespace pk::cluster
