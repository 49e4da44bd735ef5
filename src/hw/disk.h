// The hardware view of disks (issue 20 items 2, 3): what a disk is (its stable
// identities, model, size, transport), where it sits (its bay, with the bay's
// LED state), which pool and vdev use it, and what its SMART data says.
// Value types only; topology.h builds them, disk_monitor.h caches them.
// Thread-safety: plain value types.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pk::hw {

// One block device as a source (lsblk, /sys/block) reports it, before bays and
// pools are matched. Empty strings: the source does not know.
struct BlockDevice {
  std::string name;       // kernel name: "sda", "nvme0n1" (lab: "labd3")
  std::string devnode;    // "/dev/sda" as seen on this host (the dev root applied)
  std::string serial;
  std::string wwn;        // "0x5000c500a1b2c3d4" or "eui.…" (NVMe)
  std::string model;
  std::string vendor;
  uint64_t size_bytes = 0;
  std::optional<bool> rotational;
  std::string transport;  // sata, sas, nvme, usb, virtio, ...; "" unknown
  std::string hctl;       // SCSI host:channel:target:lun, when SCSI
  std::vector<std::string> partitions;  // kernel names: "sda1", "nvme0n1p2"
};

// A physical place for a disk: an SES enclosure slot, an NVMe PCI slot, or a
// bay the chassis file (or vdev_id.conf) names.
struct Bay {
  std::string chassis;    // chassis name: the chassis file's, else the enclosure id ("0:0:8:0"), "pci"
  std::string slot;       // the slot's own name or number as the hardware reports it
  std::string label;      // what a person reads: "shelf-2 bay 17"
  std::string source;     // "ses", "pci-slot", "chassis-file", "vdev_id"
  // LED and slot state where the hardware reports it (SES: fault, locate,
  // status; PCI slot: attention). nullopt: not readable here.
  std::optional<bool> fault_led;
  std::optional<bool> locate_led;
  std::string status;     // SES element status ("OK", "not installed", ...), else ""
  std::string sysfs_dir;  // the slot's sysfs directory (item 5 writes LEDs there), else ""
  bool occupied = false;  // a disk sits in it (as far as the source tells)
  std::string device_name;  // kernel name of the disk in it ("sdc"), when the source links one
};

struct Enclosure {
  std::string id;         // sysfs name: "0:0:8:0"; PCI slots: "pci"; chassis file: its name
  std::string chassis;    // the chassis file's name for it, else == id
  std::string vendor, model, serial;  // where reported (SES: the enclosure device's)
  std::string source;     // "ses", "pci-slot", "chassis-file"
  std::vector<Bay> bays;
};

// What SMART says about one disk (`smartctl -j`, smart.h).
struct SmartReport {
  enum class State {
    kUnknown,      // not read yet
    kOk,           // read; passed
    kFailing,      // read; the drive says its health check failed, or a counter below is bad
    kStandby,      // the drive sleeps and was not woken (-n standby)
    kUnsupported,  // no SMART here (a file disk of the lab, a device smartctl does not know)
    kError,        // smartctl did not answer usefully (timed out, could not open)
  };
  State state = State::kUnknown;
  std::string protocol;                     // "ATA", "SCSI", "NVMe"
  std::optional<bool> passed;               // smart_status.passed
  std::optional<int64_t> temperature_c;
  std::optional<uint64_t> reallocated_sectors;  // ATA 5
  std::optional<uint64_t> pending_sectors;      // ATA 197
  std::optional<uint64_t> offline_uncorrectable;  // ATA 198
  std::optional<uint64_t> grown_defects;        // SCSI grown defect list
  std::optional<uint64_t> critical_warning;     // NVMe critical warning bits
  std::vector<std::string> critical_warnings;   // those bits named
  std::optional<uint64_t> media_errors;         // NVMe
  std::optional<uint64_t> percentage_used;      // NVMe
  std::optional<uint64_t> power_on_hours;
  uint64_t failed_self_tests = 0;
  std::string self_test_status;  // the last/current self-test as smartctl words it
  std::vector<std::string> reasons;  // why kFailing, in words ("3 pending sectors")
  std::string message;               // kError/kUnsupported/kStandby: what smartctl or the reader said
  std::chrono::system_clock::time_point read_at{};
};
std::string_view SmartStateName(SmartReport::State state);  // "unknown", "ok", "failing", ...

// One disk with everything known about it.
struct Disk {
  std::string id;           // stable: "wwn-0x…" / "serial-…" / by-id name / kernel name (IdOf)
  BlockDevice device;
  std::vector<std::string> by_id;    // link names under /dev/disk/by-id
  std::vector<std::string> by_path;  // link names under /dev/disk/by-path
  std::optional<Bay> bay;
  std::string pool;         // the pool using it, "" when none
  std::string vdev;         // the top-level vdev ("mirror-0", or the leaf's name for a plain disk), "spares", "logs", "cache"
  std::string vdev_path;    // the path the pool knows it by
  std::string vdev_state;   // ONLINE, FAULTED, ...
  SmartReport smart;
};

struct Topology {
  std::vector<Disk> disks;             // sorted by bay label, then id
  std::vector<Enclosure> enclosures;   // with every bay, occupied or not
  std::vector<std::string> warnings;   // what could not be read (a bad chassis line, an unreadable slot)
  std::chrono::system_clock::time_point read_at{};

  const Disk* Find(const std::string& id) const;
};

// The stable id of a device: "wwn-<wwn>" when it has a WWN, else
// "serial-<serial>", else its first by-id link name, else its kernel name.
std::string IdOf(const BlockDevice& device, const std::vector<std::string>& by_id);

}  // namespace pk::hw
