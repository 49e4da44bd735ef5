// `poolkeeper disk list|show ID|selftest ID` (issue 20 items 2, 3): disks
// with their bay, pool and SMART health from the daemon's cache; the daemon
// validates, this only sends and prints.
#include "cli/cli.h"
#include "cli/render.h"

namespace pk::cli {
namespace {

std::string S(const json& j, const char* key, const std::string& fallback = "-") {
  if (!j.is_object() || !j.contains(key) || j[key].is_null()) return fallback;
  std::string v = j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
  return v.empty() ? fallback : v;
}

std::string Size(const json& d) {
  if (!d.contains("size") || !d["size"].is_number_unsigned()) return "-";
  double v = static_cast<double>(d["size"].get<uint64_t>());
  const char* units[] = {"B", "K", "M", "G", "T", "P"};
  int u = 0;
  while (v >= 1000 && u < 5) v /= 1024, ++u;
  return fmt::format("{:.{}f}{}", v, v < 10 && u > 0 ? 1 : 0, units[u]);
}

std::string Health(const json& smart) {
  std::string state = S(smart, "state");
  if (state == "failing" && smart.contains("reasons") && !smart["reasons"].empty()) {
    return "FAILING: " + smart["reasons"][0].get<std::string>();
  }
  return state;
}

std::string Warnings(const json& j) {
  std::string out;
  if (j.contains("warnings")) {
    for (const auto& w : j["warnings"]) out += "warning: " + w.get<std::string>() + "\n";
  }
  return out;
}

std::string DiskTable(const json& j) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& d : j["disks"]) {
    const json& bay = d["bay"];
    std::string pool = S(d, "pool");
    if (pool != "-") pool += " " + S(d, "vdev", "") + (S(d, "vdev_state", "").empty() ? "" : " " + S(d, "vdev_state", ""));
    rows.push_back({S(d, "id"), bay.is_object() ? S(bay, "label") : "-", S(d, "devnode"), Size(d), S(d, "model"),
                    pool, Health(d["smart"])});
  }
  std::string out = rows.empty() ? "no disks\n" : RenderTable({"ID", "BAY", "DEVICE", "SIZE", "MODEL", "POOL", "SMART"}, rows);
  return out + Warnings(j);
}

std::string ShowDisk(const json& d) {
  std::string out;
  auto line = [&](const std::string& k, const std::string& v) { out += fmt::format("{:<14}{}\n", k + ":", v); };
  line("id", S(d, "id"));
  line("device", S(d, "devnode") + " (" + S(d, "name") + ")");
  line("model", S(d, "vendor", "") + (S(d, "vendor", "").empty() ? "" : " ") + S(d, "model"));
  line("serial", S(d, "serial"));
  line("wwn", S(d, "wwn"));
  line("size", Size(d) + " (" + S(d, "size") + " bytes)");
  line("rotational", S(d, "rotational"));
  line("transport", S(d, "transport"));
  for (const char* links : {"by_id", "by_path"}) {
    for (const auto& l : d[links]) line(links, l.get<std::string>());
  }
  const json& bay = d["bay"];
  if (bay.is_object()) {
    line("bay", S(bay, "label") + " (chassis " + S(bay, "chassis") + ", slot " + S(bay, "slot") + ", from " + S(bay, "source") + ")");
    line("bay status", S(bay, "status"));
    line("fault LED", S(bay, "fault_led"));
    line("locate LED", S(bay, "locate_led"));
  } else {
    line("bay", "unknown (no enclosure reports it; name it in /etc/poolkeeper/chassis.conf)");
  }
  line("pool", S(d, "pool") + (S(d, "vdev", "").empty() ? "" : " " + S(d, "vdev") + " " + S(d, "vdev_state", "")));
  const json& s = d["smart"];
  line("SMART", S(s, "state") + (S(s, "protocol", "").empty() ? "" : " (" + S(s, "protocol") + ")"));
  for (const char* k : {"temperature_c", "reallocated_sectors", "pending_sectors", "offline_uncorrectable", "grown_defects",
                        "critical_warning", "media_errors", "percentage_used", "power_on_hours", "failed_self_tests",
                        "self_test_status", "message", "read_at"}) {
    if (s.contains(k) && !s[k].is_null()) line(std::string("  ") + k, S(s, k));
  }
  if (s.contains("reasons")) {
    for (const auto& r : s["reasons"]) line("  reason", r.get<std::string>());
  }
  return out;
}

}  // namespace

void AddHardwareDiskCommands(CLI::App& app, Cli& cli, int& rc) {
  auto* disk = app.add_subcommand("disk", "disks: identities, bays, pools, SMART")->require_subcommand(1);
  struct DiskArgs {
    std::string id, test = "short";
    bool rescan = false;
  };
  auto& a = cli.Options<DiskArgs>();
  auto* list = disk->add_subcommand("list", "every disk with its bay, pool and SMART health");
  list->add_flag("--rescan", a.rescan, "read the hardware again first");
  list->callback([&] { rc = cli.Request("GET", std::string("/v1/disks") + (a.rescan ? "?refresh=true" : ""), DiskTable); });
  auto* show = disk->add_subcommand("show", "one disk: identities, links, bay and LEDs, pool, SMART");
  show->add_option("id", a.id, "disk id (from disk list), kernel name or by-id link name")->required();
  show->callback([&] { rc = cli.Request("GET", "/v1/disks/" + Seg(a.id), ShowDisk); });
  auto* selftest = disk->add_subcommand("selftest", "start the drive's SMART self-test (it runs inside the drive)");
  selftest->add_option("id", a.id, "disk id")->required();
  selftest->add_option("--test", a.test, "short (default) or long");
  selftest->callback([&] {
    rc = cli.Request("POST", "/v1/disks/" + Seg(a.id) + "?action=selftest", [](const json& j) {
      return fmt::format("{} self-test started on disk '{}' (see disk show for its result)\n", S(j, "test"), S(j, "disk"));
    }, json{{"test", a.test}});
  });
  auto* encl = disk->add_subcommand("enclosures", "enclosures and chassis with every bay, its disk and LEDs");
  encl->callback([&] {
    rc = cli.Request("GET", "/v1/enclosures", [](const json& j) {
      std::vector<std::vector<std::string>> rows;
      for (const auto& e : j["enclosures"]) {
        for (const auto& b : e["bays"]) {
          rows.push_back({S(e, "chassis"), S(b, "label"), S(b, "status"), S(b, "disk"), S(b, "fault_led"), S(b, "locate_led")});
        }
      }
      std::string out = rows.empty() ? "no enclosures\n" : RenderTable({"CHASSIS", "BAY", "STATUS", "DISK", "FAULT", "LOCATE"}, rows);
      return out + Warnings(j);
    });
  });
}

}  // namespace pk::cli
