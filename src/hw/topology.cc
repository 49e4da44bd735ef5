#include "hw/topology.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "hw/enclosures.h"

namespace pk::hw {

namespace {

struct Matcher {
  const SysTree& dev;
  std::map<std::string, size_t> by_resolved;  // resolved host path of a disk or partition node -> disk index
  std::map<std::string, size_t> by_link;      // link name (by-id, by-path) -> disk index

  // The disk `path` leads to: a /dev path (under the dev root), a file (the
  // lab's disks), or a bare name zpool printed ("sda", "wwn-0x…-part1").
  std::optional<size_t> Find(const std::string& path) const {
    std::vector<std::string> tries;
    if (path.starts_with("/dev/")) {
      tries.push_back(dev.Resolve(path));
    } else if (path.starts_with("/")) {
      tries.push_back(SysTree("").Resolve(path));
    } else {
      for (const char* dir : {"/dev/", "/dev/disk/by-id/", "/dev/disk/by-path/", "/dev/disk/by-vdev/"}) {
        tries.push_back(dev.Resolve(dir + path));
      }
      if (auto it = by_link.find(path); it != by_link.end()) return it->second;
    }
    for (const auto& t : tries) {
      if (t.empty()) continue;
      if (auto it = by_resolved.find(t); it != by_resolved.end()) return it->second;
    }
    return std::nullopt;
  }
};

void MatchPools(const std::vector<zfs::PoolStatus>& pools, const Matcher& m, std::vector<Disk>& disks) {
  struct Walk {
    const Matcher& m;
    std::vector<Disk>& disks;
    void Leaf(const std::string& pool, const std::string& top, const zfs::Vdev& v) {
      if (!v.children.empty()) {
        for (const auto& c : v.children) Leaf(pool, top, c);
        return;
      }
      std::string path = v.path.empty() ? v.name : v.path;
      auto i = m.Find(path);
      if (!i) return;
      Disk& d = disks[*i];
      d.pool = pool;
      d.vdev = top.empty() ? v.name : top;
      d.vdev_path = path;
      d.vdev_state = v.state;
    }
  };
  Walk w{m, disks};
  for (const auto& p : pools) {
    for (const auto& top : p.root.children) w.Leaf(p.name, top.children.empty() ? "" : top.name, top);
    for (const auto& v : p.logs) w.Leaf(p.name, v.children.empty() ? "logs" : v.name, v);
    for (const auto& v : p.caches) w.Leaf(p.name, "cache", v);
    for (const auto& v : p.spares) w.Leaf(p.name, "spares", v);
  }
}

std::vector<std::string> LinksOf(const SysTree& dev, const std::string& dir, std::map<std::string, std::string>& resolved) {
  auto names = dev.List(dir);
  for (const auto& n : names) resolved[n] = dev.Resolve(dir + "/" + n);
  return names;
}

}  // namespace

bool NaturalLess(std::string_view a, std::string_view b) {
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (digit(a[i]) && digit(b[j])) {
      size_t ie = i, je = j;
      while (ie < a.size() && digit(a[ie])) ++ie;
      while (je < b.size() && digit(b[je])) ++je;
      std::string_view na = a.substr(i, ie - i), nb = b.substr(j, je - j);
      while (na.size() > 1 && na.front() == '0') na.remove_prefix(1);
      while (nb.size() > 1 && nb.front() == '0') nb.remove_prefix(1);
      if (na.size() != nb.size()) return na.size() < nb.size();
      if (na != nb) return na < nb;
      i = ie, j = je;
      continue;
    }
    if (a[i] != b[j]) return a[i] < b[j];
    ++i, ++j;
  }
  return a.size() - i < b.size() - j;
}

Topology BuildTopology(const SysTree& dev, TopologyInputs in, std::chrono::system_clock::time_point now) {
  Topology t;
  t.read_at = now;
  t.warnings = std::move(in.warnings);
  Matcher m{dev, {}, {}};
  std::map<std::string, std::string> id_links, path_links;  // name -> resolved
  LinksOf(dev, "/dev/disk/by-id", id_links);
  LinksOf(dev, "/dev/disk/by-path", path_links);

  for (auto& bd : in.devices) {
    Disk d;
    d.device = std::move(bd);
    // lsblk reports the host's /dev path; the dev root applies to it.
    std::string node = dev.Resolve(d.device.devnode);
    if (!node.empty()) m.by_resolved.emplace(node, t.disks.size());
    std::vector<std::string> part_nodes;
    for (const auto& p : d.device.partitions) {
      std::string pn = dev.Resolve("/dev/" + p);
      if (!pn.empty()) {
        m.by_resolved.emplace(pn, t.disks.size());
        part_nodes.push_back(pn);
      }
    }
    auto add_links = [&](const std::map<std::string, std::string>& links, std::vector<std::string>& into) {
      for (const auto& [name, target] : links) {
        if (target.empty()) continue;
        if (target == node) into.push_back(name);
        if (target == node || std::find(part_nodes.begin(), part_nodes.end(), target) != part_nodes.end()) {
          m.by_link.emplace(name, t.disks.size());
        }
      }
    };
    add_links(id_links, d.by_id);
    add_links(path_links, d.by_path);
    d.id = IdOf(d.device, d.by_id);
    t.disks.push_back(std::move(d));
  }
  std::map<std::string, size_t> by_name;
  for (size_t i = 0; i < t.disks.size(); ++i) by_name[t.disks[i].device.name] = i;

  // Hardware bays: SES slots and PCI slots, named from the chassis file.
  for (auto& e : in.enclosures) {
    const ChassisConf::Chassis* named = nullptr;
    if (in.chassis) named = e.source == "ses" ? in.chassis->FindSes(e.id, e.serial) : in.chassis->FindPci();
    if (named) e.chassis = named->name;
    for (auto& b : e.bays) {
      b.chassis = e.chassis;
      if (named) b.label = in.chassis->LabelOf(named->name, b.slot);
      if (auto it = by_name.find(b.device_name); !b.device_name.empty() && it != by_name.end()) {
        t.disks[it->second].bay = b;
      }
    }
    if (!e.bays.empty() || e.source == "ses") t.enclosures.push_back(std::move(e));
  }
  // Chassis-file bays, for disks no hardware placed.
  if (in.chassis) {
    for (const auto& c : in.chassis->chassis) {
      if (c.kind != ChassisConf::Chassis::Kind::kPlain) continue;
      Enclosure e{.id = c.name, .chassis = c.name, .source = "chassis-file"};
      for (const auto& line : in.chassis->bays) {
        if (line.chassis != c.name) continue;
        Bay b{.chassis = c.name, .slot = line.slot, .label = in.chassis->LabelOf(c.name, line.slot), .source = "chassis-file"};
        if (auto i = m.Find(line.device)) {
          b.occupied = true;
          b.device_name = t.disks[*i].device.name;
          if (!t.disks[*i].bay) t.disks[*i].bay = b;
        }
        e.bays.push_back(std::move(b));
      }
      t.enclosures.push_back(std::move(e));
    }
  }
  // vdev_id.conf names, for disks still without a bay.
  if (in.vdev_id) {
    for (const auto& [link, alias] : in.vdev_id->aliases) {
      auto i = m.Find(link);
      if (!i || t.disks[*i].bay) continue;
      t.disks[*i].bay = Bay{.chassis = "vdev_id", .slot = alias, .label = alias, .source = "vdev_id", .occupied = true,
                            .device_name = t.disks[*i].device.name};
    }
    for (auto& d : t.disks) {
      if (d.bay) continue;
      std::string name = in.vdev_id->NameFromByPath(d.by_path);
      if (!name.empty()) {
        d.bay = Bay{.chassis = "vdev_id", .slot = name, .label = name, .source = "vdev_id", .occupied = true,
                    .device_name = d.device.name};
      }
    }
  }
  MatchPools(in.pools, m, t.disks);
  std::sort(t.disks.begin(), t.disks.end(), [](const Disk& a, const Disk& b) {
    if (a.bay.has_value() != b.bay.has_value()) return a.bay.has_value();
    if (a.bay && a.bay->label != b.bay->label) return NaturalLess(a.bay->label, b.bay->label);
    return NaturalLess(a.id, b.id);
  });
  return t;
}

Result<Topology> TopologyReader::Read(const std::vector<zfs::PoolStatus>& pools,
                                      std::chrono::system_clock::time_point now) {
  PK_ASSIGN_OR_RETURN(auto in, ReadHardware());
  in.pools = pools;
  return BuildTopology(SysTree(options_.dev_root), std::move(in), now);
}

Result<TopologyInputs> TopologyReader::ReadHardware() {
  PK_ASSIGN_OR_RETURN(auto devices, source_.Read());
  TopologyInputs in;
  in.devices = std::move(devices);
  SysTree sys(options_.sys_root);
  in.enclosures = ReadSesEnclosures(sys, &in.warnings);
  in.enclosures.push_back(ReadPciSlots(sys, &in.warnings));
  // A file with an error is not used at all; the error is a warning of the view.
  auto load = [&](const std::string& path, auto loader, auto& into, const char* what) {
    if (path.empty()) return;
    auto conf = loader(path);
    if (conf) {
      into = std::move(*conf);
    } else {
      in.warnings.push_back(fmt::format("{} ({} is not used)", conf.error().message(), what));
    }
  };
  load(options_.chassis_file, LoadChassisConf, in.chassis, "the chassis file");
  load(options_.vdev_id_file, LoadVdevIdConf, in.vdev_id, "vdev_id.conf");
  return in;
}

}  // namespace pk::hw
