#include "cluster/pacemaker.h"

#include <sys/utsname.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <fstream>

#include <fmt/format.h>

#include "cluster/internal/xml.h"

namespace pk::cluster {

namespace {
// The node attribute each head publishes its hostid in (issue 17 item 7).
constexpr const char* kHostIdAttribute = "pk-hostid";
}  // namespace

Result<bool> ParsePacemakerBool(std::string_view text) {
  std::string t;
  for (char c : text) {
    if (!std::isspace(static_cast<unsigned char>(c))) t.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  if (t == "true" || t == "on" || t == "yes" || t == "y" || t == "1") return true;
  if (t == "false" || t == "off" || t == "no" || t == "n" || t == "0") return false;
  return InvalidArgument(fmt::format("'{}' is not a Pacemaker boolean", text));
}

Result<std::string> RunTool(sys::ProcessRunner& runner, const std::string& program, std::vector<std::string> args,
                            std::chrono::milliseconds timeout, const std::string& what,
                            std::optional<std::string> stdin_data) {
  sys::Command c;
  c.stdin_data = std::move(stdin_data);
  c.program = program;
  c.args = std::move(args);
  c.env = sys::DefaultToolEnvironment();
  c.timeout = timeout;
  auto r = runner.Run(c);
  if (!r) return std::unexpected(r.error().WithContext(what));
  if (r->timed_out || !r->status.Success()) {
    // crm_mon --output-as=xml reports its errors on stdout, as XML.
    std::string err = r->err.empty() ? r->out : r->err;
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
    return Unavailable(fmt::format("{}: {} {}{}: {}", what, program.substr(program.rfind('/') + 1), r->status.ToString(),
                                   r->timed_out ? " (timed out)" : "", err));
  }
  return std::move(r->out);
}

Result<std::string> PacemakerFacts::Run(const std::string& program, std::vector<std::string> args,
                                        const std::string& what) {
  return RunTool(runner_, program, std::move(args), tools_.timeout, what);
}

Result<bool> PacemakerFacts::FencingEnabled() {
  PK_ASSIGN_OR_RETURN(auto out, Run(tools_.crm_attribute,
                                    {"--type", "crm_config", "--name", "stonith-enabled", "--query", "--quiet",
                                     "--default", "true"},
                                    "read cluster property stonith-enabled"));
  auto value = ParsePacemakerBool(out);
  if (!value) return std::unexpected(value.error().WithContext("cluster property stonith-enabled"));
  return *value;
}

std::string PacemakerFacts::LocalHead() {
  struct utsname u {};
  if (::uname(&u) != 0) return "";
  std::string name = u.nodename;
  if (size_t dot = name.find('.'); dot != std::string::npos) name.resize(dot);
  return name;
}

std::string PacemakerFacts::LocalHostId() {
  std::ifstream in(tools_.hostid_file, std::ios::binary);
  unsigned char bytes[4] = {};
  if (!in.read(reinterpret_cast<char*>(bytes), 4)) return "";
  uint32_t id = bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (static_cast<uint32_t>(bytes[3]) << 24);
  return id == 0 ? "" : fmt::format("0x{:08x}", id);
}

Result<std::map<std::string, std::string>> PacemakerFacts::ExchangeHostIds(const std::string& mine) {
  PK_TRY(Run(tools_.crm_attribute, {"--type", "nodes", "--node", LocalHead(), "--name", kHostIdAttribute, "--update", mine},
             "publish this head's hostid"));
  PK_ASSIGN_OR_RETURN(auto xml, Run(tools_.cibadmin, {"--query", "--scope", "nodes"}, "read the heads' hostids"));
  return ParseNodeHostIds(xml);
}

Result<std::map<std::string, std::string>> ParseNodeHostIds(std::string_view nodes_xml) {
  PK_ASSIGN_OR_RETURN(auto root, internal::ParseXml(nodes_xml));
  std::map<std::string, std::string> out;
  for (const auto* node : root->Children("node")) {
    for (const auto* attrs : node->Children("instance_attributes")) {
      for (const auto* nv : attrs->Children("nvpair")) {
        if (nv->Attr("name") == kHostIdAttribute) out[node->Attr("uname")] = nv->Attr("value");
      }
    }
  }
  return out;
}

Result<ClusterStatus> PacemakerFacts::Status() {
  auto mon = Run(tools_.crm_mon, {"-1", "--output-as=xml", "--fence-history=2"}, "read cluster status");
  if (!mon) {
    // crm_mon --output-as=xml says why on stdout, as XML; its words are better than the raw XML.
    size_t at = mon.error().message().find("<pacemaker-result");
    if (at != std::string::npos) {
      auto parsed = ParseClusterStatus(mon.error().message().substr(at), "<resources/>");
      if (!parsed) return std::unexpected(parsed.error().WithContext("read cluster status"));
    }
    return std::unexpected(mon.error());
  }
  PK_ASSIGN_OR_RETURN(auto cib, Run(tools_.cibadmin, {"--query", "--scope", "configuration"}, "read cluster configuration"));
  return ParseClusterStatus(*mon, cib);
}

}  // namespace pk::cluster
