#include "hw/enclosures.h"

#include <fmt/format.h>

#include "base/text.h"

namespace pk::hw {

namespace {

// An optional attribute: "" when absent; a bad value is a warning.
std::string Attr(const SysTree& tree, const std::string& path, std::vector<std::string>* warnings) {
  auto v = tree.Read(path);
  if (!v) {
    if (v.error().code() != ErrorCode::kNotFound && warnings) warnings->push_back(v.error().message());
    return "";
  }
  return std::string(Trim(*v));
}

std::optional<bool> Led(const SysTree& tree, const std::string& path, std::vector<std::string>* warnings) {
  std::string v = Attr(tree, path, warnings);
  if (v.empty()) return std::nullopt;
  if (v == "0") return false;
  if (v.find_first_not_of("0123456789") == std::string::npos && v.size() < 4) return true;
  if (warnings) warnings->push_back(fmt::format("{}: '{}' is not an LED state (0 or 1)", tree.Host(path), v));
  return std::nullopt;
}

}  // namespace

std::vector<Enclosure> ReadSesEnclosures(const SysTree& tree, std::vector<std::string>* warnings) {
  std::vector<Enclosure> out;
  const std::string base = "/sys/class/enclosure";
  for (const auto& id : tree.List(base)) {
    const std::string dir = base + "/" + id;
    Enclosure e;
    e.id = id;
    e.chassis = id;
    e.source = "ses";
    e.vendor = Attr(tree, dir + "/device/vendor", warnings);
    e.model = Attr(tree, dir + "/device/model", warnings);
    e.serial = Attr(tree, dir + "/id", warnings);  // the enclosure's logical id (a WWN)
    for (const auto& comp : tree.List(dir)) {
      const std::string cdir = dir + "/" + comp;
      std::string type = Attr(tree, cdir + "/type", warnings);
      if (type != "array device" && type != "device") continue;
      Bay b;
      b.chassis = id;
      b.source = "ses";
      b.slot = Attr(tree, cdir + "/slot", warnings);
      if (b.slot.empty()) b.slot = comp;  // kernels before 5.x: the component's name ("Slot 01", "3")
      b.label = fmt::format("{} bay {}", id, b.slot);
      b.fault_led = Led(tree, cdir + "/fault", warnings);
      b.locate_led = Led(tree, cdir + "/locate", warnings);
      b.status = Attr(tree, cdir + "/status", warnings);
      b.sysfs_dir = tree.Host(cdir);
      std::string device = tree.Resolve(cdir + "/device");
      if (!device.empty()) {
        auto blocks = SysTree("").List(device + "/block");
        if (!blocks.empty()) b.device_name = blocks.front();
        b.occupied = true;
      } else {
        b.occupied = b.status == "OK" || b.status == "critical" || b.status == "non-critical";
      }
      e.bays.push_back(std::move(b));
    }
    out.push_back(std::move(e));
  }
  return out;
}

Enclosure ReadPciSlots(const SysTree& tree, std::vector<std::string>* warnings) {
  Enclosure e;
  e.id = "pci";
  e.chassis = "pci";
  e.source = "pci-slot";
  // Where each NVMe disk's controller sits: its resolved device path holds the PCI function.
  std::vector<std::pair<std::string, std::string>> nvme;  // (resolved device path, kernel name)
  for (const auto& name : tree.List("/sys/block")) {
    if (!name.starts_with("nvme")) continue;
    std::string dev = tree.Resolve("/sys/block/" + name + "/device");
    if (!dev.empty()) nvme.emplace_back(dev, name);
  }
  const std::string base = "/sys/bus/pci/slots";
  for (const auto& slot : tree.List(base)) {
    const std::string dir = base + "/" + slot;
    std::string address = Attr(tree, dir + "/address", warnings);  // "0000:03:00" (no function)
    if (address.empty()) continue;
    Bay b;
    b.chassis = "pci";
    b.slot = slot;
    b.label = fmt::format("pci slot {}", slot);
    b.source = "pci-slot";
    b.fault_led = Led(tree, dir + "/attention", warnings);
    b.sysfs_dir = tree.Host(dir);
    for (const auto& [dev, name] : nvme) {
      if (dev.find("/" + address + ".") != std::string::npos) {
        b.device_name = name;
        b.occupied = true;
        break;
      }
    }
    if (b.occupied) e.bays.push_back(std::move(b));
  }
  return e;
}

}  // namespace pk::hw
