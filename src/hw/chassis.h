// The chassis file (/etc/poolkeeper/chassis.conf, path configurable; issue
// 20 item 2) and OpenZFS's vdev_id.conf: names and bay labels for hardware
// that reports none, or reports only numbers.
//
// chassis.conf, one statement a line, words separated by blanks, '#' starts
// a comment:
//   chassis NAME ses ENCLOSURE   the SES enclosure ENCLOSURE (its sysfs name,
//                                "0:0:8:0", or its logical id, the `id` file)
//                                is chassis NAME: its bays are "NAME bay SLOT"
//   chassis NAME pci-slots       the NVMe PCI slots are chassis NAME
//   chassis NAME                 a chassis whose bays only `bay` lines give
//   bay NAME SLOT DEVICE         the disk at DEVICE (an absolute path, usually
//                                /dev/disk/by-path/...; the lab: its disk file)
//                                is in bay SLOT of chassis NAME
//   label NAME SLOT TEXT...      what a person reads on bay SLOT of NAME
//                                (default "NAME bay SLOT"); the rest of the line
// NAME and SLOT: 1-64 of [A-Za-z0-9._:-]; DEVICE: absolute, at most 1024
// bytes; TEXT: at most 128 bytes. The file must be UTF-8 without control
// characters; every error names the file and the line, and a file with an
// error is not used at all (nothing half-applied).
//
// vdev_id.conf (OpenZFS, `man vdev_id.conf`): `alias NAME DEVLINK` names the
// disk behind DEVLINK; `channel PCI_SLOT PORT NAME` and `slot PHY NAME
// [CHANNEL]` with `phys_per_port N` (default 4) name SAS disks from their
// by-path link (pci-…PCI_SLOT-sas-phyN-…): channel NAME + slot. Other
// keywords (multipath, topology, enclosure_symlinks, ...) are accepted and
// have no effect here.
// Thread-safety: plain values and pure functions.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"

namespace pk::hw {

struct ChassisConf {
  struct Chassis {
    std::string name;
    enum class Kind { kPlain, kSes, kPciSlots } kind = Kind::kPlain;
    std::string enclosure;  // kSes: sysfs name or logical id
  };
  struct BayLine {
    std::string chassis, slot, device;
  };
  std::vector<Chassis> chassis;
  std::vector<BayLine> bays;
  std::map<std::pair<std::string, std::string>, std::string> labels;  // (chassis, slot) -> text

  // "NAME bay SLOT" unless a label line says otherwise.
  std::string LabelOf(const std::string& chassis, const std::string& slot) const;
  const Chassis* FindSes(const std::string& sysfs_id, const std::string& logical_id) const;
  const Chassis* FindPci() const;
};

Result<ChassisConf> ParseChassisConf(std::string_view text, std::string_view origin);

struct VdevIdConf {
  std::map<std::string, std::string> aliases;  // DEVLINK -> NAME
  struct Channel {
    std::string pci_slot;  // "85:00.0" (with or without the "0000:" domain)
    int port = 0;
    std::string name;
  };
  std::vector<Channel> channels;
  struct SlotMap {
    int phy = 0;
    std::string name;
    std::string channel;  // "" for every channel
  };
  std::vector<SlotMap> slots;
  int phys_per_port = 4;

  // The vdev_id name of a disk with these by-path link names: "A3"; "" when none applies.
  std::string NameFromByPath(const std::vector<std::string>& by_path) const;
};

Result<VdevIdConf> ParseVdevIdConf(std::string_view text, std::string_view origin);

// Reads and parses a file; nullopt when it does not exist (both are optional).
Result<std::optional<ChassisConf>> LoadChassisConf(const std::string& path);
Result<std::optional<VdevIdConf>> LoadVdevIdConf(const std::string& path);

}  // namespace pk::hw
