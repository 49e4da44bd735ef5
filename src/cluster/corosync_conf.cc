#include "cluster/corosync_conf.h"
#include "base/json.h"
#include "base/text.h"

#include <cctype>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace pk::cluster {
namespace {

constexpr std::string_view kB64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string Base64(std::string_view in) {
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint32_t{static_cast<unsigned char>(in[i])} << 16) |
                 (uint32_t{static_cast<unsigned char>(in[i + 1])} << 8) | static_cast<unsigned char>(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kB64[(v >> s) & 63];
  }
  if (size_t rest = in.size() - i; rest > 0) {
    uint32_t v = uint32_t{static_cast<unsigned char>(in[i])} << 16;
    if (rest == 2) v |= uint32_t{static_cast<unsigned char>(in[i + 1])} << 8;
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += rest == 2 ? kB64[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

Result<std::string> Unbase64(std::string_view in) {
  std::string out;
  uint32_t v = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    auto at = kB64.find(c);
    if (at == std::string_view::npos) return InvalidArgument(fmt::format("'{}' is not base64", c));
    v = (v << 6) | static_cast<uint32_t>(at);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((v >> bits) & 0xff);
    }
  }
  return out;
}

}  // namespace

Status ValidateCorosyncSpec(const CorosyncSpec& spec) {
  const auto& n = spec.cluster_name;
  if (n.empty() || n.size() > 32) return InvalidArgument(fmt::format("cluster name '{}' must have 1 to 32 characters", n));
  for (char c : n) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
      return InvalidArgument(fmt::format("cluster name '{}' has '{}': only letters, digits, '-' and '_' are allowed", n, c));
    }
  }
  if (spec.heads.size() < 2 || spec.heads.size() > 3) {
    return InvalidArgument(fmt::format("a cluster has two or three heads, not {}", spec.heads.size()));
  }
  if (spec.qdevice && spec.heads.size() != 2) {
    return InvalidArgument("a quorum device is for two heads; three heads have a majority of their own");
  }
  std::set<std::string> names, addrs;
  bool v6 = spec.heads[0].address.find(':') != std::string::npos;
  for (const auto& h : spec.heads) {
    if (!names.insert(h.name.str()).second) return InvalidArgument(fmt::format("head '{}' is given twice", h.name.str()));
    if (!addrs.insert(h.address).second) {
      return InvalidArgument(fmt::format("address {} is given for two heads (head '{}')", h.address, h.name.str()));
    }
    if ((h.address.find(':') != std::string::npos) != v6) {
      return InvalidArgument(fmt::format("head '{}' has {}: all heads must use the same address family", h.name.str(), h.address));
    }
  }
  if (spec.qdevice) {
    if (addrs.contains(spec.qdevice->host)) {
      return InvalidArgument(fmt::format("quorum device {} is one of the heads: it must be a third machine", spec.qdevice->host));
    }
    if (spec.qdevice->port < 1 || spec.qdevice->port > 65535) {
      return InvalidArgument(fmt::format("quorum device port {} is not from 1 to 65535", spec.qdevice->port));
    }
  }
  return OkStatus();
}

Result<std::string> RenderCorosyncConf(const CorosyncSpec& spec) {
  PK_TRY(ValidateCorosyncSpec(spec));
  std::string out = fmt::format(
      "# Written by `poolkeeper cluster init`; every head has the same file.\n"
      "totem {{\n"
      "    version: 2\n"
      "    cluster_name: {}\n"
      "    transport: knet\n"
      "    crypto_cipher: aes256\n"
      "    crypto_hash: sha256\n"
      "    # one LAN: a head is lost after {} ms without the token (corosync's default is 3000)\n"
      "    token: {}\n"
      "}}\n"
      "nodelist {{\n",
      spec.cluster_name, kCorosyncTokenMs, kCorosyncTokenMs);
  for (size_t i = 0; i < spec.heads.size(); ++i) {
    out += fmt::format("    node {{\n        name: {}\n        nodeid: {}\n        ring0_addr: {}\n    }}\n",
                       spec.heads[i].name.str(), i + 1, spec.heads[i].address);
  }
  out += "}\nquorum {\n    provider: corosync_votequorum\n";
  if (spec.qdevice) {
    // ffsplit: on a split the quorum device's vote goes to one half only.
    out += fmt::format(
        "    device {{\n        model: net\n        votes: 1\n        timeout: {}\n        sync_timeout: {}\n"
        "        net {{\n            host: {}\n"
        "            port: {}\n            algorithm: ffsplit\n            tls: off\n        }}\n    }}\n",
        kQdeviceTimeoutMs, kQdeviceSyncTimeoutMs, spec.qdevice->host, spec.qdevice->port);
  } else if (spec.heads.size() == 2) {
    // two_node: one head keeps quorum when the other is gone (fencing decides
    // who survives a split); it implies wait_for_all at start.
    out += "    two_node: 1\n";
  }
  out +=
      "}\n"
      "logging {\n"
      "    to_stderr: no\n"
      "    to_syslog: yes\n"
      "    to_logfile: yes\n"
      "    logfile: /var/log/corosync/corosync.log\n"
      "    timestamp: on\n"
      "}\n";
  return out;
}

Result<CorosyncSpec> ParseCorosyncConf(std::string_view text) {
  CorosyncSpec spec;
  std::vector<std::string> path;  // open sections
  std::string name, addr;
  std::optional<QuorumDevice> dev;
  size_t line_no = 0, pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string line(Trim(text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos)));
    ++line_no;
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    if (line.empty() || line[0] == '#') continue;
    if (line.back() == '{') {
      path.emplace_back(Trim(line.substr(0, line.size() - 1)));
      if (path.size() == 2 && path[0] == "nodelist" && path[1] == "node") name.clear(), addr.clear();
      continue;
    }
    if (line == "}") {
      if (path.empty()) return InvalidArgument(fmt::format("corosync.conf line {}: '}}' closes nothing", line_no));
      if (path.size() == 2 && path[0] == "nodelist" && path[1] == "node") {
        if (name.empty() || addr.empty()) {
          return InvalidArgument(fmt::format("corosync.conf line {}: a node without name or ring0_addr", line_no));
        }
        auto head = HeadName::Parse(name);
        if (!head) return std::unexpected(head.error().WithContext(fmt::format("corosync.conf line {}", line_no)));
        spec.heads.push_back({*head, addr});
      }
      path.pop_back();
      continue;
    }
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key(Trim(std::string_view(line).substr(0, colon)));
    std::string value(Trim(std::string_view(line).substr(colon + 1)));
    if (path == std::vector<std::string>{"totem"} && key == "cluster_name") spec.cluster_name = value;
    if (path == std::vector<std::string>{"nodelist", "node"}) {
      if (key == "name") name = value;
      if (key == "ring0_addr") {
        auto canon = CanonicalAddress(value);
        addr = canon ? *canon : value;  // a host name stays as written
      }
    }
    if (path == std::vector<std::string>{"quorum", "device", "net"}) {
      if (!dev) dev.emplace();
      if (key == "host") dev->host = value;
      if (key == "port") dev->port = std::atoi(value.c_str());
    }
  }
  if (!path.empty()) return InvalidArgument(fmt::format("corosync.conf: section '{}' is not closed", path.back()));
  spec.qdevice = dev;
  return spec;
}

Result<CorosyncHead> ParseHeadAddress(std::string_view text) {
  auto eq = text.find('=');
  if (eq == std::string_view::npos) return InvalidArgument(fmt::format("'{}': write HEAD=ADDRESS, e.g. h1=10.0.0.11", text));
  PK_ASSIGN_OR_RETURN(auto name, HeadName::Parse(text.substr(0, eq)));
  auto addr = CanonicalAddress(text.substr(eq + 1));
  if (!addr) return std::unexpected(addr.error().WithContext(fmt::format("head '{}'", name.str())));
  return CorosyncHead{name, *addr};
}

std::string RenderJoinBundle(const JoinBundle& b) {
  nlohmann::json j = {{"format", "poolkeeper-cluster-join/1"}, {"corosync_conf", b.corosync_conf}, {"authkey", Base64(b.authkey)}};
  return DumpJson(j, 2) + "\n";
}

Result<JoinBundle> ParseJoinBundle(std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("format", "") != "poolkeeper-cluster-join/1" ||
      !j.contains("corosync_conf") || !j["corosync_conf"].is_string() || !j.contains("authkey") || !j["authkey"].is_string()) {
    return InvalidArgument("not a join bundle written by `poolkeeper cluster init`");
  }
  JoinBundle b;
  b.corosync_conf = j["corosync_conf"].get<std::string>();
  PK_ASSIGN_OR_RETURN(b.authkey, Unbase64(j["authkey"].get<std::string>()));
  if (b.authkey.size() < 128) return InvalidArgument(fmt::format("join bundle: the authkey has {} bytes, fewer than 128", b.authkey.size()));
  return b;
}

}  // namespace pk::cluster
