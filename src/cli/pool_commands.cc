// `poolkeeper pool ...`: list, status, create, import, adopt, export, destroy
// and the node-local switches (skip, unskip, unlock, delay); `plan` and the
// verbs on a pool's disks are in pool_disk_commands.cc.
#include <cstdlib>

#include "cli/pool_cli.h"
#include "cli/render.h"

namespace pk::cli {
namespace {

std::string PoolTable(const json& j) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& p : j["pools"]) {
    rows.push_back({p["name"], HumanSize(p.value("size", 0ULL)), HumanSize(p.value("allocated", 0ULL)),
                    HumanSize(p.value("free", 0ULL)), p.value("health", ""), p.value("guid", ""),
                    p.value("altroot", "").empty() ? "-" : p.value("altroot", "")});
  }
  if (rows.empty()) return "no pools available\n";
  return RenderTable({"NAME", "SIZE", "ALLOC", "FREE", "HEALTH", "GUID", "ALTROOT"}, rows);
}

std::string ImportableTable(const json& j) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& p : j["pools"]) rows.push_back({p["name"], p.value("guid", ""), p.value("state", ""), p.value("status", "")});
  if (rows.empty()) return "no pools available to import\n";
  return RenderTable({"NAME", "GUID", "STATE", "STATUS"}, rows);
}

// What `pool adopt` shows: each share per protocol with its definition, each
// migration with its source (issue 17 item 6).
std::string AdoptText(const json& j, bool done) {
  const std::string pool = j.value("pool", "");
  std::string out;
  if (done) {
    out = fmt::format("adopted pool '{}'\n", pool);
  } else if (j.value("adopted", false)) {
    out = fmt::format("pool '{}' is adopted here already; it serves:\n", pool);
  } else {
    out = fmt::format("pool '{}' is not adopted here; adopting it serves:\n", pool);
  }
  std::vector<std::vector<std::string>> rows;
  const json none = json::array();
  const json& shares = j.contains("shares") && j["shares"].is_array() ? j["shares"] : none;
  const json& migrations = j.contains("migrations") && j["migrations"].is_array() ? j["migrations"] : none;
  for (const auto& s : shares) {
    if (!s.is_object()) continue;
    rows.push_back({s.value("protocol", ""), s.value("dataset", ""), s.value("state", ""),
                    s.contains("definition") && !s["definition"].is_null() ? s["definition"].dump() : "-"});
  }
  for (const auto& m : migrations) {
    if (!m.is_object()) continue;
    rows.push_back({"migration", m.value("dataset", ""), m.value("state", ""), "from " + m.value("source", "")});
  }
  out += rows.empty() ? "  no shares and no migrations\n" : RenderTable({"WHAT", "DATASET", "STATE", "DEFINITION"}, rows);
  if (!done && !j.value("adopted", false)) {
    out += fmt::format("run 'poolkeeper pool adopt {} --yes' to adopt it and serve them\n", pool);
  }
  return out;
}

struct PoolOptions {
  std::string name, new_name, mountpoint, altroot, cachefile, seconds;
  std::vector<std::string> vdevs, props, dirs;
  ProfileOptions profile;
  bool force = false, readonly = false, yes = false;
};

// The node-local switches: `pool skip|unskip|unlock|delay`.
void AddSwitchCommands(CLI::App& pool, Cli& cli, PoolOptions& o, int& rc) {
  for (const char* verb : {"skip", "unskip", "unlock"}) {
    auto* cmd = pool.add_subcommand(verb, std::string(verb) == "skip"     ? "never import this pool until unskip"
                                          : std::string(verb) == "unskip" ? "clear the skip switch"
                                                                          : "clear a crash-loop lock and start the pool");
    cmd->add_option("pool", o.name, "pool name")->required();
    cmd->callback([&, verb = std::string(verb)] {
      rc = cli.Request("POST", "/v1/pools/" + Seg(o.name) + "?action=" + verb, ServiceView);
    });
  }
  auto* delay = pool.add_subcommand("delay", "wait SECONDS before importing this pool at start");
  delay->add_option("pool", o.name, "pool name")->required();
  delay->add_option("seconds", o.seconds, "whole seconds, 0 to 86400")->required();
  delay->callback([&] {
    rc = cli.Run(
        [&]() -> Result<std::string> {
          char* end = nullptr;
          long v = std::strtol(o.seconds.c_str(), &end, 10);
          if (o.seconds.empty() || *end != '\0') {
            return InvalidArgument(fmt::format("delay '{}' for pool '{}' is not a whole number of seconds", o.seconds, o.name));
          }
          return cli.Call("POST", "/v1/pools/" + Seg(o.name) + "?action=delay", {{"seconds", v}});
        },
        ServiceView);
  });
}

}  // namespace

void AddPoolCommands(CLI::App& app, Cli& cli, int& rc) {
  auto* pool = app.add_subcommand("pool", "pools: list, status, create, import, adopt, export, destroy, skip, unskip, delay, unlock, plan, "
                                  "replace, attach, detach, online, offline, add, remove, scrub, scrub-policy")
                   ->require_subcommand(1);
  auto& o = cli.Options<PoolOptions>();
  AddSwitchCommands(*pool, cli, o, rc);
  AddScrubPolicyCommands(*pool, cli, rc);
  AddPoolPlanCommand(*pool, cli, rc);
  AddPoolDiskCommands(*pool, cli, rc);

  pool->add_subcommand("list", "list imported pools")->callback([&] {
    rc = cli.Request("GET", "/v1/pools", PoolTable);
  });

  auto* status = pool->add_subcommand("status", "show a pool like zpool status, with what Poolkeeper knows");
  status->add_option("pool", o.name, "pool name")->required();
  status->callback([&] {
    rc = cli.Request("GET", "/v1/pools/" + Seg(o.name), RenderPoolStatus);
  });

  auto* create = pool->add_subcommand(
      "create", "create a pool: NAME VDEV... (mirror, raidz1/2/3, spare, log, cache), or NAME --profile P DISK...");
  create->add_option("pool", o.name, "pool name")->required();
  create->add_option("vdevs", o.vdevs, "vdev specification as for zpool create; with --profile, the disks")->required();
  AddProfileOptions(*create, o.profile);
  create->add_option("-m,--mountpoint", o.mountpoint, "mountpoint of the root dataset");
  create->add_option("-R,--altroot", o.altroot, "alternate root");
  create->add_option("-O,--property", o.props, "root dataset property PROPERTY=VALUE")->allow_extra_args(false);
  create->add_flag("-f,--force", o.force, "use devices even if they appear in use");
  create->callback([&] {
    rc = cli.Run(
        [&]() -> Result<std::string> {
          PK_ASSIGN_OR_RETURN(auto props, PropertyObject(o.props));
          json body = {{"name", o.name}, {"properties", props}, {"force", o.force}};
          if (o.profile.profile.empty()) {
            body["vdevs"] = o.vdevs;
          } else {
            PK_ASSIGN_OR_RETURN(auto plan, PlanBody(o.vdevs, o.profile));
            body.update(plan);
          }
          if (!o.mountpoint.empty()) body["mountpoint"] = o.mountpoint;
          if (!o.altroot.empty()) body["altroot"] = o.altroot;
          return cli.Call("POST", "/v1/pools", body);
        },
        Done("created pool"));
  });

  auto* import = pool->add_subcommand("import", "import a pool by name or GUID; without one, list importable pools");
  import->add_option("pool", o.name, "pool name or numeric GUID");
  import->add_option("new_name", o.new_name, "import under this name");
  import->add_option("-d,--dir", o.dirs, "search directory (repeatable)")->allow_extra_args(false);
  import->add_option("--cachefile", o.cachefile, "none, default, or an absolute path");
  import->add_option("-R,--altroot", o.altroot, "alternate root");
  import->add_flag("--readonly", o.readonly, "import read-only");
  import->add_flag("-f,--force", o.force, "import even if the pool seems in use elsewhere");
  import->callback([&] {
    if (o.name.empty()) {
      rc = cli.Request("POST", "/v1/import-scan", ImportableTable, {{"search_dirs", o.dirs}});
      return;
    }
    json body = {{"search_dirs", o.dirs}, {"readonly", o.readonly}, {"force", o.force}};
    bool numeric = o.name.find_first_not_of("0123456789") == std::string::npos;
    body[numeric ? "guid" : "name"] = o.name;
    if (!o.new_name.empty()) body["new_name"] = o.new_name;
    if (!o.cachefile.empty()) body["cachefile"] = o.cachefile;
    if (!o.altroot.empty()) body["altroot"] = o.altroot;
    rc = cli.Request("POST", "/v1/imports", Done("imported pool"), body);
  });

  auto* adopt = pool->add_subcommand(
      "adopt", "show what a pool made elsewhere would serve here; with --yes, adopt it and serve it");
  adopt->add_option("pool", o.name, "pool name")->required();
  adopt->add_flag("-y,--yes", o.yes, "adopt the pool: serve its shares and run its migrations");
  adopt->callback([&] {
    const std::string target = "/v1/pools/" + Seg(o.name) + "?action=adopt";
    rc = cli.Run([&] { return o.yes ? cli.Call("POST", target, json::object()) : cli.Call("GET", target); },
                 [yes = o.yes](const json& j) { return AdoptText(j, yes); });
  });

  auto* exp = pool->add_subcommand("export", "export a pool");
  exp->add_option("pool", o.name, "pool name")->required();
  exp->add_flag("-f,--force", o.force, "unmount busy filesystems");
  exp->callback([&] {
    rc = cli.Request("POST", "/v1/pools/" + Seg(o.name) + "?action=export", Done("exported pool"),
                     {{"force", o.force}});
  });

  auto* destroy = pool->add_subcommand("destroy", "destroy a pool and all its data");
  destroy->add_option("pool", o.name, "pool name")->required();
  destroy->add_flag("-f,--force", o.force, "unmount busy filesystems");
  destroy->callback([&] {
    rc = cli.Request("DELETE", "/v1/pools/" + Seg(o.name) + (o.force ? "?force=true" : ""), Done("destroyed pool"));
  });
}

}  // namespace pk::cli
