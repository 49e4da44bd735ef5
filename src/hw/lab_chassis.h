// hw::LabChassis: the zfs-fuse host lab's chassis (issue 20, "zfs-fuse host
// lab"): file disks in numbered bays of a pretend SES enclosure, written as a
// sysfs/dev tree under a directory of the lab ($PK_LAB_DIR/...), so the
// daemon reads it through the same code as real hardware (daemon config
// sys_root/dev_root = that directory, disk_source = sysfs). Presence and the
// LEDs are files that tests flip: Insert/Pull a disk, FaultLed/LocateLed
// read what diagnosis (item 5) will write.
//
// The tree, all links relative except the disk files':
//   sys/class/enclosure/ID/{id, components, device -> the enclosure device}
//   sys/class/enclosure/ID/Slot NN/{type, slot, status, fault, locate, device -> the disk's SCSI device}
//   sys/devices/lab/ID/{vendor, model}       the enclosure device
//   sys/devices/lab/0:0:N:0/{vendor, model, serial, transport}, block/labdN/{size, queue/rotational, device}
//   sys/block/labdN -> ../devices/lab/0:0:N:0/block/labdN
//   dev/labdN -> the disk file;  dev/disk/by-id/lab-SERIAL, dev/disk/by-path/lab-ID-bay-N -> ../../labdN
// Thread-safety: none; one test drives it.
#pragma once

#include <string>

#include "base/error.h"

namespace pk::hw {

class LabChassis {
 public:
  // Writes an empty enclosure `id` ("lab:0") with bays 1..`bays` under `root`.
  static Result<LabChassis> Create(std::string root, std::string id, int bays);

  // Puts the disk file `disk` (absolute) in bay `bay`, with serial `serial`
  // (a disk keeps its serial when moved to another bay).
  Status Insert(int bay, const std::string& disk, const std::string& serial);
  // Takes the disk out of `bay` (it vanishes from sys/block and dev).
  Status Pull(int bay);
  // The slot's directory (its fault and locate files).
  std::string SlotDir(int bay) const;
  const std::string& root() const { return root_; }
  const std::string& id() const { return id_; }

 private:
  LabChassis(std::string root, std::string id, int bays) : root_(std::move(root)), id_(std::move(id)), bays_(bays) {}
  Status CheckBay(int bay) const;
  std::string root_, id_;
  int bays_ = 0;
};

}  // namespace pk::hw
