// poolkeeper: the command-line client of poolkeeperd. Parses the command line
// (CLI11), calls the API, and prints JSON (--json) or aligned human output.
// Exit codes: 0 ok, 1 failure, 2 bad usage or invalid argument, 3 not found,
// 4 daemon unreachable.
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <functional>
#include <optional>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "api/client.h"
#include "cli/cli.h"
#include "cli/migrate_commands.h"
#include "cli/render.h"
#include "base/json.h"

namespace pk::cli {
namespace {

using nlohmann::json;

// Options of every command, filled by CLI11 and read by the command's action.
struct Args {
  std::string name, name2, mountpoint, altroot, cachefile, new_name, type, root, recursive_mode, force_mode;
  std::vector<std::string> words, props, dirs, after;
  bool force = false, parents = false, recursive = false, recursive_all = false, readonly = false, follow = false;
  std::optional<int> import_timeout, mount_timeout, export_timeout, mount_parallelism, delay;
  std::string profile;
  bool nspf = false;
  std::optional<int> spares, log_devices, cache_devices, width;
  std::vector<std::string> enclosures;
  std::vector<std::string> start_argv, stop_argv, check_argv;
  uint64_t after_seq = 0;
  std::string user, group, filter, sort;
  bool groups = false;
  std::optional<uint64_t> objects;
  // Disk lifecycle (issue 20 item 1).
  std::string device, new_device;
  bool expand = false, temporary = false, dry_run = false, stop = false, pause = false;
};


// Parses "k=v" words into a JSON object; a word without '=' is bad usage.
Result<json> PropertyObject(const std::vector<std::string>& words) {
  json o = json::object();
  for (const auto& w : words) {
    auto eq = w.find('=');
    if (eq == std::string::npos) return InvalidArgument(fmt::format("'{}' is not PROPERTY=VALUE", w));
    o[w.substr(0, eq)] = w.substr(eq + 1);
  }
  return o;
}

std::string Prop(const json& d, const char* name) {
  auto props = d.find("properties");
  if (props == d.end() || !props->contains(name)) return "-";
  return (*props)[name].value("value", "-");
}


std::string Done(const json& j, const std::string& verb) {
  for (const char* k : {"pool", "dataset", "snapshot", "destroyed", "exported", "imported", "rolled_back"}) {
    if (j.contains(k)) return fmt::format("{} '{}'\n", verb, j[k].get<std::string>());
  }
  return verb + "\n";
}

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

std::string DatasetTable(const json& j) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& d : j["datasets"]) {
    rows.push_back({d["name"], d.value("type", ""), HumanSize(Prop(d, "used")), HumanSize(Prop(d, "available")),
                    HumanSize(Prop(d, "referenced")), Prop(d, "mountpoint")});
  }
  if (rows.empty()) return "no datasets\n";
  return RenderTable({"NAME", "TYPE", "USED", "AVAIL", "REFER", "MOUNTPOINT"}, rows);
}

// Epoch seconds ("1795316338") as local time, like `zfs list -o creation`.
std::string LocalTime(const std::string& epoch) {
  char* end = nullptr;
  long long v = std::strtoll(epoch.c_str(), &end, 10);
  if (epoch.empty() || *end != '\0') return epoch;
  std::time_t t = static_cast<std::time_t>(v);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a %b %e %H:%M %Y", &tm);
  return buf;
}

std::string SnapshotTable(const json& j) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& d : j["snapshots"]) {
    rows.push_back({d["name"], HumanSize(Prop(d, "used")), HumanSize(Prop(d, "referenced")), LocalTime(Prop(d, "creation"))});
  }
  if (rows.empty()) return "no snapshots\n";
  return RenderTable({"NAME", "USED", "REFER", "CREATION"}, rows);
}

std::string PropertyTable(const json& d) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& [name, p] : d["properties"].items()) {
    std::string source = p.value("source", "");
    if (source == "inherited") source = "inherited from " + p.value("inherited_from", "");
    if (source == "none") source = "-";
    std::string value = p.value("value", "");
    rows.push_back({d["name"], name, IsSizeProperty(name) ? HumanSize(value) : value, source});
  }
  return RenderTable({"NAME", "PROPERTY", "VALUE", "SOURCE"}, rows);
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

void AddSwitchCommands(CLI::App& pool, Cli& cli, Args& a, int& rc);

// Options shared by `pool plan` and `pool create --profile`.
void AddProfileOptions(CLI::App& cmd, Args& a) {
  cmd.add_option("--profile", a.profile, "stripe, mirror2, mirror3, raidz1, raidz2, raidz3");
  cmd.add_flag("--nspf", a.nspf, "no single point of failure: survive the loss of any one enclosure");
  cmd.add_option("--spares", a.spares, "hot spares");
  cmd.add_option("--log", a.log_devices, "log devices (1, or an even number for mirrors)");
  cmd.add_option("--cache", a.cache_devices, "cache devices");
  cmd.add_option("--width", a.width, "disks per raidz vdev (default: chosen)");
  cmd.add_option("-e,--enclosure", a.enclosures, "DISK=ENCLOSURE (repeatable)")->allow_extra_args(false);
}

Result<json> PlanBody(const Args& a) {
  json body = {{"disks", a.words}, {"nspf", a.nspf}};
  if (!a.profile.empty()) body["profile"] = a.profile;
  if (a.spares) body["spares"] = *a.spares;
  if (a.log_devices) body["log_devices"] = *a.log_devices;
  if (a.cache_devices) body["cache_devices"] = *a.cache_devices;
  if (a.width) body["width"] = *a.width;
  json enc = json::object();
  for (const auto& e : a.enclosures) {
    auto eq = e.rfind('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == e.size()) {
      return InvalidArgument(fmt::format("enclosure '{}' is not DISK=ENCLOSURE", e));
    }
    enc[e.substr(0, eq)] = e.substr(eq + 1);
  }
  if (!enc.empty()) body["enclosures"] = enc;
  return body;
}

std::string Rated(const json& r) { return std::string(r.value("score", 0), '*'); }

std::string LayoutText(const json& plan) {
  std::string out;
  for (const auto& v : plan["vdevs"]) {
    out += "  " + v.value("type", "");
    for (const auto& m : v["members"]) {
      out += " " + m.value("path", "");
      if (m.contains("enclosure")) out += "(" + m.value("enclosure", "") + ")";
    }
    out += "\n";
  }
  for (const char* section : {"spares", "cache", "unused"}) {
    if (plan[section].empty()) continue;
    out += fmt::format("  {}:", section);
    for (const auto& m : plan[section]) out += " " + m.value("path", "");
    out += "\n";
  }
  for (const auto& l : plan["logs"]) {
    out += "  log:";
    for (const auto& m : l) out += " " + m.value("path", "");
    out += "\n";
  }
  const auto& c = plan["capacity"];
  out += fmt::format("  raw {}: usable {}, parity {}, padding {}, spares {}, reserved {} (slop {}, labels {}, metaslab rounding {})\n",
                     HumanSize(c.value("raw", 0ULL)), HumanSize(c.value("usable", 0ULL)), HumanSize(c.value("parity", 0ULL)),
                     HumanSize(c.value("padding", 0ULL)), HumanSize(c.value("spares", 0ULL)), HumanSize(c.value("reserved", 0ULL)),
                     HumanSize(c.value("slop", 0ULL)), HumanSize(c.value("labels", 0ULL)), HumanSize(c.value("metaslab_rounding", 0ULL)));
  for (const char* r : {"performance", "capacity", "availability"}) {
    out += fmt::format("  {}: {} {}\n", r, Rated(plan["ratings"][r]), plan["ratings"][r].value("reason", ""));
  }
  for (const auto& n : plan["notes"]) out += "  note: " + n.get<std::string>() + "\n";
  return out;
}

std::string PlanTable(const json& j) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& p : j["profiles"]) {
    if (!p.value("possible", false)) {
      rows.push_back({p.value("profile", ""), "-", "-", "-", "-", "-", "-", "not possible: " + p.value("reason", "")});
      continue;
    }
    const auto& plan = p["plan"];
    const auto& c = plan["capacity"];
    std::string layout = fmt::format("{} x {}", plan["vdevs"].size(), plan["vdevs"].empty() ? "" : plan["vdevs"][0].value("type", ""));
    if (plan.value("width", 0) > 1) layout += fmt::format(" of {}", plan.value("width", 0));
    rows.push_back({p.value("profile", ""), HumanSize(c.value("usable", 0ULL)),
                    HumanSize(c.value("parity", 0ULL) + c.value("padding", 0ULL)), HumanSize(c.value("reserved", 0ULL)),
                    Rated(plan["ratings"]["performance"]), Rated(plan["ratings"]["capacity"]),
                    Rated(plan["ratings"]["availability"]), layout});
  }
  std::string out = RenderTable({"PROFILE", "USABLE", "PARITY", "RESERVED", "PERF", "CAPACITY", "AVAIL", "LAYOUT"}, rows, {1, 2, 3});
  if (j.contains("chosen")) out += fmt::format("\n{}:\n{}", j["chosen"].value("profile", ""), LayoutText(j["chosen"]));
  return out;
}

void AddPlanCommand(CLI::App& pool, Cli& cli, Args& a, int& rc) {
  auto* plan = pool.add_subcommand("plan", "every storage profile these disks allow, side by side, with honest capacity");
  plan->add_option("disks", a.words, "disk devices or files")->required();
  AddProfileOptions(*plan, a);
  plan->callback([&] {
    rc = cli.Run(
        [&]() -> Result<std::string> {
          PK_ASSIGN_OR_RETURN(auto body, PlanBody(a));
          return cli.Call("POST", "/v1/pool-plans", body);
        },
        PlanTable);
  });
}

// `pool replace|attach|detach|online|offline|add|remove|scrub` (issue 20 item 1):
// POST /v1/pools/POOL?action=VERB with the verb's body.
void AddDiskCommands(CLI::App& pool, Cli& cli, Args& a, int& rc) {
  auto post = [&cli, &a, &rc](const std::string& verb, json body, std::string done) {
    rc = cli.Run([&] { return cli.Call("POST", "/v1/pools/" + Seg(a.name) + "?action=" + verb, body); },
                 [done](const json& j) {
                   if (j.value("dry_run", false)) return j.value("layout", std::string());
                   return fmt::format("{} in pool '{}'\n", done, j.value("pool", ""));
                 });
  };
  auto* replace = pool.add_subcommand("replace", "replace a disk: POOL OLD [NEW] (without NEW: the disk now at OLD's path)");
  replace->add_option("pool", a.name, "pool name")->required();
  replace->add_option("device", a.device, "the disk to replace: path or vdev GUID")->required();
  replace->add_option("new_device", a.new_device, "the new disk (absolute path)");
  replace->add_flag("-f,--force", a.force, "use the new disk even if it seems in use");
  replace->callback([&a, post] {
    json body = {{"device", a.device}, {"force", a.force}};
    if (!a.new_device.empty()) body["new_device"] = a.new_device;
    post("replace", body, fmt::format("replacing '{}' (resilver started)", a.device));
  });
  auto* attach = pool.add_subcommand("attach", "mirror a disk: POOL EXISTING NEW");
  attach->add_option("pool", a.name, "pool name")->required();
  attach->add_option("device", a.device, "a disk of the pool (path or vdev GUID)")->required();
  attach->add_option("new_device", a.new_device, "the new disk (absolute path)")->required();
  attach->add_flag("-f,--force", a.force, "use the new disk even if it seems in use");
  attach->callback([&a, post] {
    post("attach", {{"device", a.device}, {"new_device", a.new_device}, {"force", a.force}},
         fmt::format("attached '{}' to '{}' (resilver started)", a.new_device, a.device));
  });
  // The verbs on one disk of a pool: POOL DEVICE.
  auto disk_verb = [&pool, &a](const char* verb, const char* help) {
    auto* cmd = pool.add_subcommand(verb, help);
    cmd->add_option("pool", a.name, "pool name")->required();
    cmd->add_option("device", a.device, "the disk (path or vdev GUID)")->required();
    return cmd;
  };
  auto* detach = disk_verb("detach", "detach a disk from a mirror: POOL DEVICE");
  detach->callback([&a, post] { post("detach", {{"device", a.device}}, fmt::format("detached '{}'", a.device)); });
  auto* online = disk_verb("online", "bring a disk online: POOL DEVICE [-e]");
  online->add_flag("-e,--expand", a.expand, "grow to the disk's whole size");
  online->callback([&a, post] {
    post("online", {{"device", a.device}, {"expand", a.expand}}, fmt::format("'{}' is online", a.device));
  });
  auto* offline = disk_verb("offline", "take a disk offline: POOL DEVICE [-t]");
  offline->add_flag("-t,--temporary", a.temporary, "only until the next import");
  offline->callback([&a, post] {
    post("offline", {{"device", a.device}, {"temporary", a.temporary}}, fmt::format("'{}' is offline", a.device));
  });
  auto* add = pool.add_subcommand("add", "add vdevs, spares, log or cache: POOL VDEV... (as zpool add), or POOL --profile P DISK...");
  add->add_option("pool", a.name, "pool name")->required();
  add->add_option("vdevs", a.words, "vdev words: mirror A B, spare S, log L, cache C; with --profile, the disks")->required();
  AddProfileOptions(*add, a);
  add->add_flag("-f,--force", a.force, "use disks even if they seem in use or differ in size");
  add->add_flag("-n,--dry-run", a.dry_run, "show the resulting layout, change nothing");
  add->callback([&a, &rc, post] {
    json body = {{"force", a.force}, {"dry_run", a.dry_run}};
    if (a.profile.empty()) {
      body["vdevs"] = a.words;
    } else {
      auto plan = PlanBody(a);
      if (!plan) {
        std::fprintf(stderr, "poolkeeper: %s\n", plan.error().message().c_str());
        rc = 2;
        return;
      }
      body.update(*plan);
    }
    post("add", body, "added vdevs");
  });
  auto* remove = pool.add_subcommand("remove", "remove a spare, cache or log device (or, on OpenZFS, a top-level vdev)");
  remove->add_option("pool", a.name, "pool name")->required();
  remove->add_option("device", a.device, "the device (path, vdev GUID or top-level name such as mirror-1)")->required();
  remove->callback([&a, post] { post("remove", {{"device", a.device}}, fmt::format("removed '{}'", a.device)); });
  auto* scrub = pool.add_subcommand("scrub", "start a scrub; --stop or --pause one (progress: pool status)");
  scrub->add_option("pool", a.name, "pool name")->required();
  auto* stop = scrub->add_flag("--stop", a.stop, "stop the running scrub");
  scrub->add_flag("--pause", a.pause, "pause the running scrub (OpenZFS)")->excludes(stop);
  scrub->callback([&a, post] {
    std::string what = a.stop ? "stop" : a.pause ? "pause" : "start";
    post("scrub", {{"scrub", what}}, what == "start" ? "scrub started" : what == "stop" ? "scrub stopped" : "scrub paused");
  });
}

void AddPoolCommands(CLI::App& app, Cli& cli, Args& a, int& rc) {
  auto* pool = app.add_subcommand("pool", "pools: list, status, create, import, adopt, export, destroy, skip, unskip, delay, unlock, plan, "
                                  "replace, attach, detach, online, offline, add, remove, scrub, scrub-policy")
                   ->require_subcommand(1);
  AddSwitchCommands(*pool, cli, a, rc);
  AddScrubPolicyCommands(*pool, cli, rc);
  AddPlanCommand(*pool, cli, a, rc);
  AddDiskCommands(*pool, cli, a, rc);

  pool->add_subcommand("list", "list imported pools")->callback([&] {
    rc = cli.Run([&] { return cli.Call("GET", "/v1/pools"); }, PoolTable);
  });

  auto* status = pool->add_subcommand("status", "show a pool like zpool status, with what Poolkeeper knows");
  status->add_option("pool", a.name, "pool name")->required();
  status->callback([&] {
    rc = cli.Run([&] { return cli.Call("GET", "/v1/pools/" + Seg(a.name)); }, RenderPoolStatus);
  });

  auto* create = pool->add_subcommand(
      "create", "create a pool: NAME VDEV... (mirror, raidz1/2/3, spare, log, cache), or NAME --profile P DISK...");
  create->add_option("pool", a.name, "pool name")->required();
  create->add_option("vdevs", a.words, "vdev specification as for zpool create; with --profile, the disks")->required();
  AddProfileOptions(*create, a);
  create->add_option("-m,--mountpoint", a.mountpoint, "mountpoint of the root dataset");
  create->add_option("-R,--altroot", a.altroot, "alternate root");
  create->add_option("-O,--property", a.props, "root dataset property PROPERTY=VALUE")->allow_extra_args(false);
  create->add_flag("-f,--force", a.force, "use devices even if they appear in use");
  create->callback([&] {
    rc = cli.Run(
        [&]() -> Result<std::string> {
          PK_ASSIGN_OR_RETURN(auto props, PropertyObject(a.props));
          json body = {{"name", a.name}, {"properties", props}, {"force", a.force}};
          if (a.profile.empty()) {
            body["vdevs"] = a.words;
          } else {
            PK_ASSIGN_OR_RETURN(auto plan, PlanBody(a));
            body.update(plan);
          }
          if (!a.mountpoint.empty()) body["mountpoint"] = a.mountpoint;
          if (!a.altroot.empty()) body["altroot"] = a.altroot;
          return cli.Call("POST", "/v1/pools", body);
        },
        [](const json& j) { return Done(j, "created pool"); });
  });

  auto* import = pool->add_subcommand("import", "import a pool by name or GUID; without one, list importable pools");
  import->add_option("pool", a.name, "pool name or numeric GUID");
  import->add_option("new_name", a.new_name, "import under this name");
  import->add_option("-d,--dir", a.dirs, "search directory (repeatable)")->allow_extra_args(false);
  import->add_option("--cachefile", a.cachefile, "none, default, or an absolute path");
  import->add_option("-R,--altroot", a.altroot, "alternate root");
  import->add_flag("--readonly", a.readonly, "import read-only");
  import->add_flag("-f,--force", a.force, "import even if the pool seems in use elsewhere");
  import->callback([&] {
    if (a.name.empty()) {
      rc = cli.Run([&] { return cli.Call("POST", "/v1/import-scan", {{"search_dirs", a.dirs}}); }, ImportableTable);
      return;
    }
    json body = {{"search_dirs", a.dirs}, {"readonly", a.readonly}, {"force", a.force}};
    bool numeric = !a.name.empty() && a.name.find_first_not_of("0123456789") == std::string::npos;
    body[numeric ? "guid" : "name"] = a.name;
    if (!a.new_name.empty()) body["new_name"] = a.new_name;
    if (!a.cachefile.empty()) body["cachefile"] = a.cachefile;
    if (!a.altroot.empty()) body["altroot"] = a.altroot;
    rc = cli.Run([&] { return cli.Call("POST", "/v1/imports", body); },
                 [](const json& j) { return Done(j, "imported pool"); });
  });

  auto* adopt = pool->add_subcommand(
      "adopt", "show what a pool made elsewhere would serve here; with --yes, adopt it and serve it");
  adopt->add_option("pool", a.name, "pool name")->required();
  adopt->add_flag("-y,--yes", a.force, "adopt the pool: serve its shares and run its migrations");
  adopt->callback([&] {
    const std::string target = "/v1/pools/" + Seg(a.name) + "?action=adopt";
    const bool yes = a.force;
    rc = cli.Run([&] { return yes ? cli.Call("POST", target, json::object()) : cli.Call("GET", target); },
                 [yes](const json& j) { return AdoptText(j, yes); });
  });

  auto* exp = pool->add_subcommand("export", "export a pool");
  exp->add_option("pool", a.name, "pool name")->required();
  exp->add_flag("-f,--force", a.force, "unmount busy filesystems");
  exp->callback([&] {
    rc = cli.Run([&] { return cli.Call("POST", "/v1/pools/" + Seg(a.name) + "?action=export", {{"force", a.force}}); },
                 [](const json& j) { return Done(j, "exported pool"); });
  });

  auto* destroy = pool->add_subcommand("destroy", "destroy a pool and all its data");
  destroy->add_option("pool", a.name, "pool name")->required();
  destroy->add_flag("-f,--force", a.force, "unmount busy filesystems");
  destroy->callback([&] {
    rc = cli.Run([&] { return cli.Call("DELETE", "/v1/pools/" + Seg(a.name) + (a.force ? "?force=true" : "")); },
                 [](const json& j) { return Done(j, "destroyed pool"); });
  });
}

std::string RecursiveQuery(const Args& a) {
  if (a.recursive_all) return "?recursive=dependents";
  if (a.recursive) return "?recursive=yes";
  return "";
}

void AddDatasetCommands(CLI::App& app, Cli& cli, Args& a, int& rc) {
  auto* ds = app.add_subcommand("dataset", "datasets: list, create, get, set, inherit, destroy, rename")->require_subcommand(1);

  auto* list = ds->add_subcommand("list", "list datasets (from the daemon's inventory)");
  list->add_option("root", a.root, "only this dataset and its descendants");
  list->add_option("-t,--type", a.type, "filesystem, volume, snapshot, comma-separated, or all");
  list->callback([&] {
    std::string q = "?type=" + Seg(a.type.empty() ? "filesystem,volume" : a.type);
    if (!a.root.empty()) q += "&root=" + Seg(a.root);
    rc = cli.Run([&] { return cli.Call("GET", "/v1/datasets" + q); }, DatasetTable);
  });

  auto* create = ds->add_subcommand("create", "create a filesystem with create-time properties");
  create->add_option("dataset", a.name, "dataset name")->required();
  create->add_option("-o,--property", a.props, "PROPERTY=VALUE set at creation (repeatable)")->allow_extra_args(false);
  create->add_flag("-p,--parents", a.parents, "create missing parents");
  create->callback([&] {
    rc = cli.Run(
        [&]() -> Result<std::string> {
          PK_ASSIGN_OR_RETURN(auto props, PropertyObject(a.props));
          return cli.Call("POST", "/v1/datasets", {{"name", a.name}, {"properties", props}, {"parents", a.parents}});
        },
        [](const json& j) { return Done(j, "created dataset"); });
  });

  auto* get = ds->add_subcommand("get", "show properties with their source");
  get->add_option("dataset", a.name, "dataset or snapshot name")->required();
  get->add_option("properties", a.words, "property names (default all)");
  get->callback([&] {
    std::string q;
    for (const auto& p : a.words) q += (q.empty() ? "" : ",") + p;
    rc = cli.Run([&] { return cli.Call("GET", "/v1/datasets/" + Seg(a.name) + (q.empty() ? "" : "?properties=" + Seg(q))); },
                 PropertyTable);
  });

  auto* set = ds->add_subcommand("set", "set properties: DATASET PROPERTY=VALUE...");
  set->add_option("dataset", a.name, "dataset or snapshot name")->required();
  set->add_option("assignments", a.words, "PROPERTY=VALUE")->required();
  set->callback([&] {
    rc = cli.Run(
        [&]() -> Result<std::string> {
          PK_ASSIGN_OR_RETURN(auto props, PropertyObject(a.words));
          return cli.Call("PATCH", "/v1/datasets/" + Seg(a.name), {{"properties", props}});
        },
        [](const json& j) { return Done(j, "updated"); });
  });

  auto* inherit = ds->add_subcommand("inherit", "clear a local property so it is inherited");
  inherit->add_option("dataset", a.name, "dataset name")->required();
  inherit->add_option("property", a.name2, "property name")->required();
  inherit->add_flag("-r,--recursive", a.recursive, "also on descendants");
  inherit->callback([&] {
    rc = cli.Run([&] {
      return cli.Call("POST", "/v1/datasets/" + Seg(a.name) + "?action=inherit", {{"property", a.name2}, {"recursive", a.recursive}});
    }, [](const json& j) { return Done(j, "updated"); });
  });

  auto* destroy = ds->add_subcommand("destroy", "destroy a dataset");
  destroy->add_option("dataset", a.name, "dataset name")->required();
  destroy->add_flag("-r,--recursive", a.recursive, "with descendants and snapshots");
  destroy->add_flag("-R,--recursive-dependents", a.recursive_all, "also clones outside the tree");
  destroy->callback([&] {
    rc = cli.Run([&] { return cli.Call("DELETE", "/v1/datasets/" + Seg(a.name) + RecursiveQuery(a)); },
                 [](const json& j) { return Done(j, "destroyed"); });
  });

  auto* rename = ds->add_subcommand("rename", "rename a dataset");
  rename->add_option("dataset", a.name, "current name")->required();
  rename->add_option("new_name", a.name2, "new name")->required();
  rename->callback([&] {
    rc = cli.Run([&] { return cli.Call("POST", "/v1/datasets/" + Seg(a.name) + "?action=rename", {{"new_name", a.name2}}); },
                 [](const json& j) { return Done(j, "renamed to"); });
  });
}

void AddSnapshotCommands(CLI::App& app, Cli& cli, Args& a, int& rc) {
  auto* snap = app.add_subcommand("snapshot", "snapshots: create, list, destroy, rollback, policy (schedules)")->require_subcommand(1);

  auto* create = snap->add_subcommand("create", "create DATASET@SNAPSHOT");
  create->add_option("snapshot", a.name, "DATASET@SNAPSHOT")->required();
  create->add_flag("-r,--recursive", a.recursive, "of descendants too");
  create->callback([&] {
    rc = cli.Run([&] { return cli.Call("POST", "/v1/snapshots", {{"name", a.name}, {"recursive", a.recursive}}); },
                 [](const json& j) { return Done(j, "created snapshot"); });
  });

  auto* list = snap->add_subcommand("list", "list snapshots");
  list->add_option("dataset", a.root, "only of this dataset");
  list->add_flag("-r,--recursive", a.recursive, "and of its descendants");
  list->callback([&] {
    std::string q = "?recursive=" + std::string(a.recursive || a.root.empty() ? "true" : "false");
    if (!a.root.empty()) q += "&dataset=" + Seg(a.root);
    rc = cli.Run([&] { return cli.Call("GET", "/v1/snapshots" + q); }, SnapshotTable);
  });

  auto* destroy = snap->add_subcommand("destroy", "destroy a snapshot");
  destroy->add_option("snapshot", a.name, "DATASET@SNAPSHOT")->required();
  destroy->add_flag("-r,--recursive", a.recursive, "same-named snapshots of descendants too");
  destroy->callback([&] {
    rc = cli.Run([&] { return cli.Call("DELETE", "/v1/snapshots/" + Seg(a.name) + RecursiveQuery(a)); },
                 [](const json& j) { return Done(j, "destroyed"); });
  });

  auto* rollback = snap->add_subcommand("rollback", "roll a dataset back to a snapshot");
  rollback->add_option("snapshot", a.name, "DATASET@SNAPSHOT")->required();
  rollback->add_flag("-r,--destroy-newer", a.recursive, "destroy later snapshots");
  rollback->callback([&] {
    rc = cli.Run([&] {
      return cli.Call("POST", "/v1/snapshots/" + Seg(a.name) + "?action=rollback", {{"destroy_newer", a.recursive}});
    }, [](const json& j) { return Done(j, "rolled back to"); });
  });

  AddSnapshotPolicyCommands(*snap, cli, rc);
}

std::string ServiceTable(const json& j) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : j["services"]) {
    rows.push_back({s.value("resource", ""), s.value("state", ""), s.value("since", ""), s.value("reason", "")});
  }
  if (rows.empty()) return "no managed pools ('poolkeeper service enable POOL' to add one)\n";
  return RenderTable({"RESOURCE", "STATE", "SINCE", "REASON"}, rows);
}

std::string ServiceView(const json& s) {
  std::string out = fmt::format("{:>8}: {}\n{:>8}: {}\n{:>8}: {}\n{:>8}: {}\n", "resource", s.value("resource", ""), "state",
                                s.value("state", ""), "reason", s.value("reason", ""), "since", s.value("since", ""));
  if (s.contains("start_at")) out += fmt::format("{:>8}: {}\n", "start at", s.value("start_at", ""));
  if (!s.value("health", "").empty()) out += fmt::format("{:>8}: {}\n", "health", s.value("health", ""));
  const char* section = s.contains("exec") ? "exec" : "policy";
  out += fmt::format("  {}:\n", section);
  for (const auto& [k, v] : s[section].items()) {
    if (k == "pool") continue;
    out += fmt::format("    {}: {}\n", k, v.is_string() ? v.get<std::string>() : DumpJson(v));
  }
  return out;
}

std::string EventLines(const json& j) {
  std::string out;
  for (const auto& e : j["events"]) {
    std::string prev = e.value("previous", "");
    out += fmt::format("{}  {}  {}{}: {}\n", e.value("time", ""), e.value("resource", ""),
                       prev.empty() ? "" : prev + " -> ", e.value("state", ""), e.value("reason", ""));
  }
  return out;
}

void AddServiceCommands(CLI::App& app, Cli& cli, Args& a, int& rc) {
  auto* svc = app.add_subcommand("service", "pool services: list, status, enable, disable, start, stop, restart")
                  ->require_subcommand(1);
  svc->add_subcommand("list", "every managed pool with its state and reason")->callback([&] {
    rc = cli.Run([&] { return cli.Call("GET", "/v1/services"); }, ServiceTable);
  });
  auto* status = svc->add_subcommand("status", "one pool service: state, reason, policy");
  status->add_option("pool", a.name, "pool name")->required();
  status->callback([&] { rc = cli.Run([&] { return cli.Call("GET", "/v1/services/" + Seg(a.name)); }, ServiceView); });

  auto* enable = svc->add_subcommand("enable", "manage a pool: import it now and at every start, with this policy");
  enable->add_option("pool", a.name, "pool name")->required();
  enable->add_option("-d,--dir", a.dirs, "search directory for the import (repeatable)")->allow_extra_args(false);
  enable->add_option("--cachefile", a.cachefile, "none (default) or an absolute path of the pool's own");
  enable->add_option("-R,--altroot", a.altroot, "alternate root");
  enable->add_flag("--readonly", a.readonly, "import read-only");
  enable->add_option("--force", a.force_mode, "never (default) or if-fenced");
  enable->add_option("--import-timeout", a.import_timeout, "seconds before a hanging import is killed");
  enable->add_option("--mount-timeout", a.mount_timeout, "seconds per filesystem mount");
  enable->add_option("--export-timeout", a.export_timeout, "seconds before a hanging export is killed");
  enable->add_option("--mount-parallelism", a.mount_parallelism, "filesystems mounted at once");
  enable->add_option("--after", a.after, "start after this resource, e.g. pool:tank (repeatable)")->allow_extra_args(false);
  enable->add_option("--delay", a.delay, "seconds to wait before importing");
  enable->callback([&] {
    json body = json::object();
    if (!a.dirs.empty()) body["search_dirs"] = a.dirs;
    if (!a.cachefile.empty()) body["cachefile"] = a.cachefile;
    if (!a.altroot.empty()) body["altroot"] = a.altroot;
    if (a.readonly) body["read_only"] = true;
    if (!a.force_mode.empty()) body["force"] = a.force_mode;
    if (a.import_timeout) body["import_timeout_seconds"] = *a.import_timeout;
    if (a.mount_timeout) body["mount_timeout_seconds"] = *a.mount_timeout;
    if (a.export_timeout) body["export_timeout_seconds"] = *a.export_timeout;
    if (a.mount_parallelism) body["mount_parallelism"] = *a.mount_parallelism;
    if (!a.after.empty()) body["after"] = a.after;
    if (a.delay) body["delay_seconds"] = *a.delay;
    rc = cli.Run([&] { return cli.Call("POST", "/v1/services/" + Seg(a.name) + "?action=enable", body); }, ServiceView);
  });
  for (const char* verb : {"disable", "start", "stop", "restart"}) {
    auto* cmd = svc->add_subcommand(verb, fmt::format("{} a pool service", verb));
    cmd->add_option("pool", a.name, "pool name")->required();
    cmd->callback([&, verb = std::string(verb)] {
      rc = cli.Run([&] { return cli.Call("POST", "/v1/services/" + Seg(a.name) + "?action=" + verb); }, ServiceView);
    });
  }
}

void AddResourceCommands(CLI::App& app, Cli& cli, Args& a, int& rc) {
  auto* res = app.add_subcommand("resource", "exec resources: programs started after (and stopped before) pools")
                  ->require_subcommand(1);
  res->add_subcommand("list", "exec resources with their state")->callback([&] {
    rc = cli.Run([&] { return cli.Call("GET", "/v1/resources"); }, [](const json& j) {
      return ServiceTable(json{{"services", j["resources"]}});
    });
  });
  auto* add = res->add_subcommand("add", "add (or update) and start an exec resource");
  add->add_option("name", a.name, "resource name (letters, digits, _-.)")->required();
  add->add_option("--start", a.start_argv, "start command, one argument per --start (argv[0] absolute)")
      ->required()->allow_extra_args(false);
  add->add_option("--stop", a.stop_argv, "stop command, one argument per --stop")->allow_extra_args(false);
  add->add_option("--check", a.check_argv, "check command, one argument per --check")->allow_extra_args(false);
  add->add_option("--after", a.after, "start after this resource, e.g. pool:tank (repeatable)")->allow_extra_args(false);
  add->add_option("--timeout", a.import_timeout, "seconds each command may run");
  add->callback([&] {
    json body = {{"name", a.name}, {"start", a.start_argv}, {"stop", a.stop_argv}, {"check", a.check_argv}, {"after", a.after}};
    if (a.import_timeout) body["timeout_seconds"] = *a.import_timeout;
    rc = cli.Run([&] { return cli.Call("POST", "/v1/resources", body); }, ServiceView);
  });
  for (const char* verb : {"start", "stop", "remove"}) {
    auto* cmd = res->add_subcommand(verb, fmt::format("{} an exec resource", verb));
    cmd->add_option("name", a.name, "resource name")->required();
    cmd->callback([&, verb = std::string(verb)] {
      if (verb == "remove") {
        rc = cli.Run([&] { return cli.Call("DELETE", "/v1/resources/" + Seg(a.name)); },
                     [](const json& j) { return fmt::format("removed {}\n", j.value("removed", "")); });
      } else {
        rc = cli.Run([&] { return cli.Call("POST", "/v1/resources/" + Seg(a.name) + "?action=" + verb); }, ServiceView);
      }
    });
  }
}

void AddSwitchCommands(CLI::App& pool, Cli& cli, Args& a, int& rc) {
  for (const char* verb : {"skip", "unskip", "unlock"}) {
    auto* cmd = pool.add_subcommand(verb, std::string(verb) == "skip"     ? "never import this pool until unskip"
                                          : std::string(verb) == "unskip" ? "clear the skip switch"
                                                                          : "clear a crash-loop lock and start the pool");
    cmd->add_option("pool", a.name, "pool name")->required();
    cmd->callback([&, verb = std::string(verb)] {
      rc = cli.Run([&] { return cli.Call("POST", "/v1/pools/" + Seg(a.name) + "?action=" + verb); }, ServiceView);
    });
  }
  auto* delay = pool.add_subcommand("delay", "wait SECONDS before importing this pool at start");
  delay->add_option("pool", a.name, "pool name")->required();
  delay->add_option("seconds", a.name2, "whole seconds, 0 to 86400")->required();
  delay->callback([&] {
    rc = cli.Run(
        [&]() -> Result<std::string> {
          char* end = nullptr;
          long v = std::strtol(a.name2.c_str(), &end, 10);
          if (a.name2.empty() || *end != '\0') {
            return InvalidArgument(fmt::format("delay '{}' for pool '{}' is not a whole number of seconds", a.name2, a.name));
          }
          return cli.Call("POST", "/v1/pools/" + Seg(a.name) + "?action=delay", {{"seconds", v}});
        },
        ServiceView);
  });
}

void AddEventCommands(CLI::App& app, Cli& cli, Args& a, int& rc, const Globals& g) {
  auto* events = app.add_subcommand("events", "state changes of pool services (persistent, newest last)");
  events->add_flag("-f,--follow", a.follow, "keep printing new events as they happen");
  events->add_option("--after", a.after_seq, "only events after this sequence number");
  events->callback([&] {
    uint64_t after = a.after_seq;
    do {
      std::string target = fmt::format("/v1/events?after={}{}", after, a.follow ? "&wait=30" : "");
      auto r = cli.Call("GET", target);
      if (!r) {
        fmt::print(stderr, "poolkeeper: {}\n", r.error().message());
        rc = ExitCodeFor(r.error());
        return;
      }
      auto j = json::parse(*r, nullptr, false);
      if (j.is_discarded()) {
        rc = kExitFailure;
        return;
      }
      if (g.json) {
        for (const auto& e : j["events"]) fmt::print("{}\n", DumpJson(e));
      } else {
        fmt::print("{}", EventLines(j));
      }
      std::fflush(stdout);
      if (!j["events"].empty()) after = j["events"].back().value("seq", after);
    } while (a.follow);
    rc = kExitOk;
  });
}

std::string QuotaPercent(const json& q) {
  if (!q.contains("percent") || q["percent"].is_null()) return "-";
  return fmt::format("{:.0f}%", q["percent"].get<double>());
}

std::string QuotaRow(const json& q) {
  std::string kind = q.value("kind", "");
  std::string id = q.contains("id") && !q["id"].is_null() ? std::to_string(q["id"].get<uint64_t>()) : "?";
  uint64_t quota = q.value("quota", 0ULL);
  std::string out = fmt::format("{} '{}' ({} {}) on '{}': used {}, quota {}", kind, q.value("name", ""),
                                kind == "group" ? "gid" : "uid", id, q.value("dataset", ""),
                                HumanSize(q.value("used", 0ULL)), quota ? HumanSize(quota) : "none");
  if (quota) out += " (" + QuotaPercent(q) + ")";
  if (q.contains("objused")) {
    out += fmt::format(", objects {} of {}", q.value("objused", 0ULL),
                       q.value("objquota", 0ULL) ? std::to_string(q.value("objquota", 0ULL)) : "no limit");
  }
  return out + "\n";
}

std::string QuotaTable(const json& j) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& q : j["quotas"]) {
    rows.push_back({q.value("name", ""), q.contains("id") && !q["id"].is_null() ? std::to_string(q["id"].get<uint64_t>()) : "-",
                    HumanSize(q.value("used", 0ULL)),
                    q.value("quota", 0ULL) ? HumanSize(q.value("quota", 0ULL)) : "none", QuotaPercent(q)});
  }
  if (rows.empty()) return fmt::format("no {} quotas or usage on '{}'\n", j.value("kind", ""), j.value("dataset", ""));
  return RenderTable({"NAME", "ID", "USED", "QUOTA", "%"}, rows, {1, 2, 3, 4});
}

// "?user=U" or "?group=G" (both given goes to the daemon, which refuses it).
std::string SubjectQuery(const Args& a) {
  std::string q;
  if (!a.user.empty()) q += "user=" + Seg(a.user);
  if (!a.group.empty()) q += std::string(q.empty() ? "" : "&") + "group=" + Seg(a.group);
  return q.empty() ? "" : "?" + q;
}

void AddQuotaCommands(CLI::App& app, Cli& cli, Args& a, int& rc) {
  auto* quota = app.add_subcommand("quota", "user and group quotas of a filesystem: set, get, clear, list")
                    ->require_subcommand(1);
  auto subject = [&](CLI::App* cmd) {
    auto* u = cmd->add_option("-u,--user", a.user, "user name or numeric uid");
    auto* g = cmd->add_option("-g,--group", a.group, "group name or numeric gid");
    u->excludes(g);
    g->excludes(u);
  };
  auto* warn = quota->add_subcommand("warn", "warn (as events) when a user or group passes these percentages of its quota");
  warn->add_option("dataset", a.name, "filesystem")->required();
  warn->add_option("thresholds", a.name2, "e.g. 80,95; 'none' to stop warning")->required();
  warn->callback([&] {
    rc = cli.Run(
        [&] {
          return cli.Call("PATCH", "/v1/datasets/" + Seg(a.name),
                          {{"properties", {{"org.poolkeeper:quota-warn", a.name2}}}});
        },
        [](const json& j) { return Done(j, "quota warnings set on"); });
  });
  auto* set = quota->add_subcommand("set", "set a quota: DATASET (--user U | --group G) SIZE (e.g. 10G, 512M)");
  set->add_option("dataset", a.name, "filesystem")->required();
  subject(set);
  set->add_option("size", a.name2, "bytes, or with K/M/G/T/P (binary)");
  set->add_option("--objects", a.objects, "object quota (OpenZFS only)");
  set->callback([&] {
    rc = cli.Run([&]() -> Result<std::string> {
      if (a.user.empty() && a.group.empty()) return InvalidArgument("quota set: give --user or --group");
      json body = {};
      if (!a.user.empty()) body["user"] = a.user;
      if (!a.group.empty()) body["group"] = a.group;
      if (!a.name2.empty()) body["quota"] = a.name2;
      if (a.objects) body["objects"] = *a.objects;
      return cli.Call("PUT", "/v1/quotas/" + Seg(a.name), body);
    }, QuotaRow);
  });
  auto* get = quota->add_subcommand("get", "one user's or group's usage and quota (no listing)");
  get->add_option("dataset", a.name, "filesystem")->required();
  subject(get);
  get->callback([&] {
    rc = cli.Run([&]() -> Result<std::string> {
      if (a.user.empty() && a.group.empty()) return InvalidArgument("quota get: give --user or --group");
      return cli.Call("GET", "/v1/quotas/" + Seg(a.name) + SubjectQuery(a));
    }, QuotaRow);
  });
  auto* clear = quota->add_subcommand("clear", "remove a user's or group's quota");
  clear->add_option("dataset", a.name, "filesystem")->required();
  subject(clear);
  clear->callback([&] {
    rc = cli.Run([&]() -> Result<std::string> {
      if (a.user.empty() && a.group.empty()) return InvalidArgument("quota clear: give --user or --group");
      return cli.Call("DELETE", "/v1/quotas/" + Seg(a.name) + SubjectQuery(a));
    }, [](const json& j) {
      return fmt::format("cleared {} quota of {} on '{}'\n", j.value("kind", ""), j.value("id", 0ULL), j.value("dataset", ""));
    });
  });
  auto* list = quota->add_subcommand("list", "usage and quota of every user (or --group) side by side");
  list->add_option("dataset", a.name, "filesystem")->required();
  list->add_flag("--group", a.groups, "groups instead of users");
  list->add_option("--filter", a.filter, "only names (or ids) containing this");
  list->add_option("--sort", a.sort, "name (default), used, quota or percent (largest first)");
  list->callback([&] {
    std::string q = std::string("?kind=") + (a.groups ? "group" : "user");
    if (!a.filter.empty()) q += "&filter=" + Seg(a.filter);
    if (!a.sort.empty()) q += "&sort=" + Seg(a.sort);
    rc = cli.Run([&] { return cli.Call("GET", "/v1/quotas/" + Seg(a.name) + q); }, QuotaTable);
  });
}

}  // namespace
}  // namespace pk::cli

int main(int argc, char** argv) {
  using namespace pk::cli;
  CLI::App app{"poolkeeper: manage ZFS pools, datasets and snapshots through poolkeeperd"};
  app.require_subcommand(1);
  Globals g;
  if (const char* env = std::getenv("POOLKEEPER_SOCKET")) g.socket = env;
  app.add_flag("--json", g.json, "print JSON instead of tables");
  app.add_option("--socket", g.socket, "poolkeeperd's API socket (env POOLKEEPER_SOCKET)");
  // --json may follow the subcommand too, as in `poolkeeper pool list --json`.
  std::vector<std::string> args(argv + 1, argv + argc);
  std::erase_if(args, [&](const std::string& s) { return s == "--json" && (g.json = true); });
  int rc = kExitOk;
  Args a;
  Cli cli(g);
  AddPoolCommands(app, cli, a, rc);
  AddDatasetCommands(app, cli, a, rc);
  AddSnapshotCommands(app, cli, a, rc);
  AddServiceCommands(app, cli, a, rc);
  AddResourceCommands(app, cli, a, rc);
  AddEventCommands(app, cli, a, rc, g);
  AddQuotaCommands(app, cli, a, rc);
  AddShareCommands(app, cli, rc);
  AddOcfCommands(app, rc);
  AddClusterCommands(app, g, rc);
  AddMigrateCommands(app, g.socket, g.json, rc);
  AddHardwareDiskCommands(app, cli, rc);
  std::reverse(args.begin(), args.end());  // CLI11's vector form takes arguments in reverse
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  return rc;
}
