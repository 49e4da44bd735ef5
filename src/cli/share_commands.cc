// `poolkeeper share create|list|show|set|delete`: shares bound to pools (issue 4).
// Options map one to one onto the definition's fields; `set` sends only the
// options given (and `--reset FIELD` to return a field to its default), so the
// daemon's one validation path sees exactly what the administrator typed.
#include <iostream>
#include <optional>

#include "cli/cli.h"
#include "cli/render.h"
#include "base/json.h"

namespace pk::cli {
namespace {

struct ShareArgs {
  std::string protocol, dataset, pool;
  std::optional<std::string> iqn, size, file, chap_user, pseudo, name;
  std::optional<int> lun;
  std::vector<std::string> initiators, clients, valid_users, reset;
  bool read_only = false, writable = false, guest = false, no_guest = false, chap_secret_stdin = false;
};

void AddFieldOptions(CLI::App* cmd, ShareArgs& s) {
  cmd->add_option("--iqn", s.iqn, "iscsi: target name (default iqn.2026-11.org.poolkeeper:POOL.DATASET)");
  cmd->add_option("--lun", s.lun, "iscsi: LUN number 1..255 (default 1)");
  cmd->add_option("--size", s.size, "iscsi on a filesystem: size of the new LUN file (e.g. 10G)");
  cmd->add_option("--file", s.file, "iscsi on a filesystem: LUN file name in the dataset (default lun.img)");
  cmd->add_option("--chap-user", s.chap_user, "iscsi: CHAP user (the secret is read from stdin: --chap-secret-stdin)");
  cmd->add_flag("--chap-secret-stdin", s.chap_secret_stdin, "iscsi: read the CHAP secret (12..16 characters) from stdin");
  cmd->add_option("--initiator", s.initiators, "iscsi: allowed initiator (IQN, IPv4 address or network, ALL); repeatable");
  cmd->add_option("--client", s.clients, "nfs: client spec as in exports(5), e.g. '10.0.0.0/8(rw,root_squash)'; repeatable");
  cmd->add_option("--pseudo", s.pseudo, "nfs: NFSv4 pseudo path (default /DATASET)");
  cmd->add_option("--name", s.name, "smb: share name (default the dataset's last component)");
  cmd->add_option("--valid-user", s.valid_users, "smb: user allowed to connect; repeatable (default any authenticated user)");
  auto* ro = cmd->add_flag("--read-only", s.read_only, "read-only share (iscsi LUN, smb share)");
  auto* rw = cmd->add_flag("--writable", s.writable, "writable share (the default)");
  ro->excludes(rw);
  auto* guest = cmd->add_flag("--guest", s.guest, "smb: allow guest access");
  auto* no_guest = cmd->add_flag("--no-guest", s.no_guest, "smb: refuse guest access (the default)");
  guest->excludes(no_guest);
}

// The definition fields the options give.
Result<json> Fields(const ShareArgs& s) {
  json f = json::object();
  if (s.iqn) f["iqn"] = *s.iqn;
  if (s.lun) f["lun"] = *s.lun;
  if (s.size) f["size"] = *s.size;
  if (s.file) f["file"] = *s.file;
  if (s.chap_user) f["chap_user"] = *s.chap_user;
  if (s.chap_secret_stdin) {
    std::string secret;
    if (!std::getline(std::cin, secret)) return InvalidArgument("--chap-secret-stdin: nothing on stdin");
    f["chap_secret"] = secret;
  }
  if (!s.initiators.empty()) f["initiators"] = s.initiators;
  if (!s.clients.empty()) f["clients"] = s.clients;
  if (s.pseudo) f["pseudo"] = *s.pseudo;
  if (s.name) f["name"] = *s.name;
  if (!s.valid_users.empty()) f["valid_users"] = s.valid_users;
  if (s.read_only || s.writable) f["read_only"] = s.read_only;
  if (s.guest || s.no_guest) f["guest_ok"] = s.guest;
  for (const auto& field : s.reset) f[field] = nullptr;
  return f;
}

std::string Summary(const json& share) {
  const json& d = share["definition"];
  if (d.is_null()) return "-";
  const std::string protocol = share.value("protocol", "");
  if (protocol == "iscsi") {
    std::string acl = fmt::format("{}", fmt::join(d.value("initiators", std::vector<std::string>{}), ","));
    return fmt::format("{} lun {} {}{}{} acl {}", d.value("iqn", ""), d.value("lun", 0), HumanSize(d.value("size", 0ULL)),
                       d.value("read_only", false) ? " ro" : "", d.value("chap_user", "").empty() ? "" : " chap", acl);
  }
  if (protocol == "nfs") {
    return fmt::format("{} {}", d.value("pseudo", ""), fmt::join(d.value("clients", std::vector<std::string>{}), " "));
  }
  std::string users = fmt::format("{}", fmt::join(d.value("valid_users", std::vector<std::string>{}), ","));
  return fmt::format("[{}]{}{}{}", d.value("name", ""), d.value("read_only", false) ? " ro" : "",
                     d.value("guest_ok", false) ? " guest" : "", users.empty() ? "" : " users " + users);
}

std::string ShareTable(const json& j) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : j["shares"]) {
    rows.push_back({s.value("protocol", ""), s.value("dataset", ""), s.value("state", ""), Summary(s),
                    s.value("state", "") == "serving" ? "" : s.value("reason", "")});
  }
  if (rows.empty()) return "no shares defined\n";
  return RenderTable({"PROTOCOL", "DATASET", "STATE", "DEFINITION", "REASON"}, rows);
}

std::string ShareDetail(const json& s) {
  std::string out = fmt::format("{} share of '{}'\n  state:  {}{}\n  path:   {}\n", s.value("protocol", ""),
                                s.value("dataset", ""), s.value("state", ""),
                                s.value("reason", "").empty() ? "" : " (" + s.value("reason", "") + ")", s.value("path", ""));
  if (s["definition"].is_object()) {
    for (const auto& [k, v] : s["definition"].items()) out += fmt::format("  {}: {}\n", k, v.is_string() ? v.get<std::string>() : DumpJson(v));
  }
  if (s.contains("identity")) {
    for (const auto& [k, v] : s["identity"].items()) out += fmt::format("  {}: {}\n", k, v.get<std::string>());
  }
  // issue 17 item 8: e.g. an iSCSI LUN open to every initiator.
  if (s.contains("warnings") && s["warnings"].is_array()) {
    for (const auto& w : s["warnings"]) out += fmt::format("warning: {}\n", w.is_string() ? w.get<std::string>() : w.dump());
  }
  return out;
}

}  // namespace

void AddShareCommands(CLI::App& app, Cli& cli, int& rc) {
  auto& s = cli.Options<ShareArgs>();
  auto* share = app.add_subcommand("share", "shares defined in the pool's own properties: iSCSI, NFS, SMB")->require_subcommand(1);
  auto target = [&s](CLI::App* cmd) {
    cmd->add_option("protocol", s.protocol, "iscsi, nfs or smb")->required();
    cmd->add_option("dataset", s.dataset, "the shared filesystem (or volume, iscsi)")->required();
  };
  auto* create = share->add_subcommand("create", "define a share on a dataset and serve it");
  target(create);
  AddFieldOptions(create, s);
  create->callback([&] {
    rc = cli.Run([&]() -> Result<std::string> {
      PK_ASSIGN_OR_RETURN(json body, Fields(s));
      body["protocol"] = s.protocol;
      body["dataset"] = s.dataset;
      return cli.Call("POST", "/v1/shares", body);
    }, ShareDetail);
  });
  auto* list = share->add_subcommand("list", "every share of the imported pools, with its state");
  list->add_option("--pool", s.pool, "only this pool's shares");
  list->add_option("--protocol", s.protocol, "only iscsi, nfs or smb");
  list->callback([&] {
    std::string q;
    if (!s.pool.empty()) q += "pool=" + Seg(s.pool);
    if (!s.protocol.empty()) q += std::string(q.empty() ? "" : "&") + "protocol=" + Seg(s.protocol);
    rc = cli.Request("GET", "/v1/shares" + (q.empty() ? "" : "?" + q), ShareTable);
  });
  auto* show = share->add_subcommand("show", "one share: definition, identity, state");
  target(show);
  show->callback([&] { rc = cli.Request("GET", "/v1/shares/" + Seg(s.protocol) + "/" + Seg(s.dataset), ShareDetail); });
  auto* set = share->add_subcommand("set", "change fields of a share (only the options given)");
  target(set);
  AddFieldOptions(set, s);
  set->add_option("--reset", s.reset, "return a field to its default (e.g. --reset initiators); repeatable");
  set->callback([&] {
    rc = cli.Run([&]() -> Result<std::string> {
      PK_ASSIGN_OR_RETURN(json body, Fields(s));
      if (body.empty()) return InvalidArgument("share set: nothing to change (give options or --reset FIELD)");
      return cli.Call("PATCH", "/v1/shares/" + Seg(s.protocol) + "/" + Seg(s.dataset), body);
    }, ShareDetail);
  });
  auto* users = share->add_subcommand("smb-user", "SMB accounts of this head's smbd (a Unix account of the same name must exist)")
                    ->require_subcommand(1);
  auto* user_set = users->add_subcommand("set", "add an SMB user or change its password (read from stdin)");
  user_set->add_option("user", s.name, "account name")->required();
  user_set->callback([&] {
    rc = cli.Run([&]() -> Result<std::string> {
      std::string password;
      if (!std::getline(std::cin, password)) return InvalidArgument("smb-user set: give the password on stdin");
      return cli.Call("PUT", "/v1/smb-users/" + Seg(*s.name), {{"password", password}});
    }, [](const json& j) { return fmt::format("SMB password set for '{}'\n", j.value("smb_user", "")); });
  });
  auto* user_del = users->add_subcommand("delete", "remove an SMB user from this head's passdb");
  user_del->add_option("user", s.name, "account name")->required();
  user_del->callback([&] {
    rc = cli.Request("DELETE", "/v1/smb-users/" + Seg(*s.name),
                     [](const json& j) { return fmt::format("SMB user '{}' removed\n", j.value("deleted", "")); });
  });
  auto* del = share->add_subcommand("delete", "stop serving a share and remove its definition (data stays)");
  target(del);
  del->callback([&] {
    rc = cli.Request("DELETE", "/v1/shares/" + Seg(s.protocol) + "/" + Seg(s.dataset),
                     [](const json& j) { return fmt::format("deleted share {}\n", j.value("deleted", "")); });
  });
}

}  // namespace pk::cli
