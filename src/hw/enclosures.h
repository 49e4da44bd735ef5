// Bays the hardware reports (issue 20 item 2): SES enclosures through the
// kernel's enclosure class (/sys/class/enclosure/<encl>/<component>/{slot,
// fault, locate, status, type, device}: Documentation/ABI/testing/
// sysfs-class-enclosure) and NVMe PCI slots (/sys/bus/pci/slots/N/{address,
// attention}), both read from a SysTree, so recorded trees and the lab
// chassis replay them. Nothing is written here (LEDs: issue 20 item 5).
// Thread-safety: pure functions of the tree.
#pragma once

#include <string>
#include <vector>

#include "hw/disk.h"
#include "hw/sys_tree.h"

namespace pk::hw {

// Every enclosure with its disk slots ("array device" and "device"
// components; others such as fans and power supplies are left out). A slot's
// disk is found through its `device` link: the SCSI device's block/NAME.
// Labels are "<encl id> bay <slot>"; topology.h renames them from the chassis
// file. Values that fail validation are named in `warnings` and left empty.
std::vector<Enclosure> ReadSesEnclosures(const SysTree& tree, std::vector<std::string>* warnings);

// The PCI hotplug slots that hold an NVMe controller, or none, as one
// enclosure "pci" (bays labelled "pci slot N"); a slot's disk is the
// nvme block device whose PCI function sits at the slot's address. Slots
// with no NVMe disk are left out (a PCI slot may hold anything).
Enclosure ReadPciSlots(const SysTree& tree, std::vector<std::string>* warnings);

}  // namespace pk::hw
