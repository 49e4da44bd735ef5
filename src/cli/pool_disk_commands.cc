// `poolkeeper pool plan` (storage profiles side by side) and the verbs on a
// pool's disks: replace, attach, detach, online, offline, add, remove, scrub.
#include <cstdio>

#include "cli/pool_cli.h"
#include "cli/render.h"

namespace pk::cli {
namespace {

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

}  // namespace

void AddProfileOptions(CLI::App& cmd, ProfileOptions& p) {
  cmd.add_option("--profile", p.profile, "stripe, mirror2, mirror3, raidz1, raidz2, raidz3");
  cmd.add_flag("--nspf", p.nspf, "no single point of failure: survive the loss of any one enclosure");
  cmd.add_option("--spares", p.spares, "hot spares");
  cmd.add_option("--log", p.log_devices, "log devices (1, or an even number for mirrors)");
  cmd.add_option("--cache", p.cache_devices, "cache devices");
  cmd.add_option("--width", p.width, "disks per raidz vdev (default: chosen)");
  cmd.add_option("-e,--enclosure", p.enclosures, "DISK=ENCLOSURE (repeatable)")->allow_extra_args(false);
}

Result<json> PlanBody(const std::vector<std::string>& disks, const ProfileOptions& p) {
  json body = {{"disks", disks}, {"nspf", p.nspf}};
  if (!p.profile.empty()) body["profile"] = p.profile;
  if (p.spares) body["spares"] = *p.spares;
  if (p.log_devices) body["log_devices"] = *p.log_devices;
  if (p.cache_devices) body["cache_devices"] = *p.cache_devices;
  if (p.width) body["width"] = *p.width;
  json enc = json::object();
  for (const auto& e : p.enclosures) {
    auto eq = e.rfind('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == e.size()) {
      return InvalidArgument(fmt::format("enclosure '{}' is not DISK=ENCLOSURE", e));
    }
    enc[e.substr(0, eq)] = e.substr(eq + 1);
  }
  if (!enc.empty()) body["enclosures"] = enc;
  return body;
}

void AddPoolPlanCommand(CLI::App& pool, Cli& cli, int& rc) {
  struct PlanOptions {
    std::vector<std::string> disks;
    ProfileOptions profile;
  };
  auto& o = cli.Options<PlanOptions>();
  auto* plan = pool.add_subcommand("plan", "every storage profile these disks allow, side by side, with honest capacity");
  plan->add_option("disks", o.disks, "disk devices or files")->required();
  AddProfileOptions(*plan, o.profile);
  plan->callback([&] {
    rc = cli.Run(
        [&]() -> Result<std::string> {
          PK_ASSIGN_OR_RETURN(auto body, PlanBody(o.disks, o.profile));
          return cli.Call("POST", "/v1/pool-plans", body);
        },
        PlanTable);
  });
}

// POST /v1/pools/POOL?action=VERB with the verb's body.
void AddPoolDiskCommands(CLI::App& pool, Cli& cli, int& rc) {
  struct DiskOptions {
    std::string pool, device, new_device;
    std::vector<std::string> vdevs;
    ProfileOptions profile;
    bool force = false, expand = false, temporary = false, dry_run = false, stop = false, pause = false;
  };
  auto& o = cli.Options<DiskOptions>();
  auto post = [&cli, &o, &rc](const std::string& verb, json body, std::string done) {
    rc = cli.Request("POST", "/v1/pools/" + Seg(o.pool) + "?action=" + verb, [done](const json& j) {
                   if (j.value("dry_run", false)) return j.value("layout", std::string());
                   return fmt::format("{} in pool '{}'\n", done, j.value("pool", ""));
                 }, body);
  };
  auto* replace = pool.add_subcommand("replace", "replace a disk: POOL OLD [NEW] (without NEW: the disk now at OLD's path)");
  replace->add_option("pool", o.pool, "pool name")->required();
  replace->add_option("device", o.device, "the disk to replace: path or vdev GUID")->required();
  replace->add_option("new_device", o.new_device, "the new disk (absolute path)");
  replace->add_flag("-f,--force", o.force, "use the new disk even if it seems in use");
  replace->callback([&o, post] {
    json body = {{"device", o.device}, {"force", o.force}};
    if (!o.new_device.empty()) body["new_device"] = o.new_device;
    post("replace", body, fmt::format("replacing '{}' (resilver started)", o.device));
  });
  auto* attach = pool.add_subcommand("attach", "mirror a disk: POOL EXISTING NEW");
  attach->add_option("pool", o.pool, "pool name")->required();
  attach->add_option("device", o.device, "a disk of the pool (path or vdev GUID)")->required();
  attach->add_option("new_device", o.new_device, "the new disk (absolute path)")->required();
  attach->add_flag("-f,--force", o.force, "use the new disk even if it seems in use");
  attach->callback([&o, post] {
    post("attach", {{"device", o.device}, {"new_device", o.new_device}, {"force", o.force}},
         fmt::format("attached '{}' to '{}' (resilver started)", o.new_device, o.device));
  });
  // The verbs on one disk of a pool: POOL DEVICE.
  auto disk_verb = [&pool, &o](const char* verb, const char* help) {
    auto* cmd = pool.add_subcommand(verb, help);
    cmd->add_option("pool", o.pool, "pool name")->required();
    cmd->add_option("device", o.device, "the disk (path or vdev GUID)")->required();
    return cmd;
  };
  auto* detach = disk_verb("detach", "detach a disk from a mirror: POOL DEVICE");
  detach->callback([&o, post] { post("detach", {{"device", o.device}}, fmt::format("detached '{}'", o.device)); });
  auto* online = disk_verb("online", "bring a disk online: POOL DEVICE [-e]");
  online->add_flag("-e,--expand", o.expand, "grow to the disk's whole size");
  online->callback([&o, post] {
    post("online", {{"device", o.device}, {"expand", o.expand}}, fmt::format("'{}' is online", o.device));
  });
  auto* offline = disk_verb("offline", "take a disk offline: POOL DEVICE [-t]");
  offline->add_flag("-t,--temporary", o.temporary, "only until the next import");
  offline->callback([&o, post] {
    post("offline", {{"device", o.device}, {"temporary", o.temporary}}, fmt::format("'{}' is offline", o.device));
  });
  auto* add = pool.add_subcommand("add", "add vdevs, spares, log or cache: POOL VDEV... (as zpool add), or POOL --profile P DISK...");
  add->add_option("pool", o.pool, "pool name")->required();
  add->add_option("vdevs", o.vdevs, "vdev words: mirror A B, spare S, log L, cache C; with --profile, the disks")->required();
  AddProfileOptions(*add, o.profile);
  add->add_flag("-f,--force", o.force, "use disks even if they seem in use or differ in size");
  add->add_flag("-n,--dry-run", o.dry_run, "show the resulting layout, change nothing");
  add->callback([&o, &rc, post] {
    json body = {{"force", o.force}, {"dry_run", o.dry_run}};
    if (o.profile.profile.empty()) {
      body["vdevs"] = o.vdevs;
    } else {
      auto plan = PlanBody(o.vdevs, o.profile);
      if (!plan) {
        std::fprintf(stderr, "poolkeeper: %s\n", plan.error().message().c_str());
        rc = kExitUsage;
        return;
      }
      body.update(*plan);
    }
    post("add", body, "added vdevs");
  });
  auto* remove = pool.add_subcommand("remove", "remove a spare, cache or log device (or, on OpenZFS, a top-level vdev)");
  remove->add_option("pool", o.pool, "pool name")->required();
  remove->add_option("device", o.device, "the device (path, vdev GUID or top-level name such as mirror-1)")->required();
  remove->callback([&o, post] { post("remove", {{"device", o.device}}, fmt::format("removed '{}'", o.device)); });
  auto* scrub = pool.add_subcommand("scrub", "start a scrub; --stop or --pause one (progress: pool status)");
  scrub->add_option("pool", o.pool, "pool name")->required();
  auto* stop = scrub->add_flag("--stop", o.stop, "stop the running scrub");
  scrub->add_flag("--pause", o.pause, "pause the running scrub (OpenZFS)")->excludes(stop);
  scrub->callback([&o, post] {
    std::string what = o.stop ? "stop" : o.pause ? "pause" : "start";
    post("scrub", {{"scrub", what}}, what == "start" ? "scrub started" : what == "stop" ? "scrub stopped" : "scrub paused");
  });
}

}  // namespace pk::cli
