#include "hw/disk.h"

namespace pk::hw {

std::string_view SmartStateName(SmartReport::State state) {
  switch (state) {
    case SmartReport::State::kUnknown: return "unknown";
    case SmartReport::State::kOk: return "ok";
    case SmartReport::State::kFailing: return "failing";
    case SmartReport::State::kStandby: return "standby";
    case SmartReport::State::kUnsupported: return "unsupported";
    case SmartReport::State::kError: return "error";
  }
  return "unknown";
}

std::string IdOf(const BlockDevice& device, const std::vector<std::string>& by_id) {
  if (!device.wwn.empty()) return "wwn-" + device.wwn;
  if (!device.serial.empty()) return "serial-" + device.serial;
  if (!by_id.empty()) return by_id.front();
  return device.name;
}

const Disk* Topology::Find(const std::string& id) const {
  for (const auto& d : disks) {
    if (d.id == id) return &d;
  }
  // Also by what a person may type: the kernel name, the /dev path, a by-id link name.
  for (const auto& d : disks) {
    if (d.device.name == id || d.device.devnode == id) return &d;
    for (const auto& l : d.by_id) {
      if (l == id) return &d;
    }
  }
  return nullptr;
}

}  // namespace pk::hw
