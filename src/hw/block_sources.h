// Where the list of disks comes from (issue 20 item 2): `lsblk -J -b -O`
// (the richest: serial, WWN, model, transport from udev) or /sys/block under a
// configurable root (recorded trees, the lab chassis, hosts without lsblk).
// Only whole disks are listed (lsblk type "disk"; /sys/block entries that are
// not loop, ram, zram, dm or md devices), each with its partitions.
// Thread-safety: the functions are pure; LsblkSource::Read may run on any thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "hw/disk.h"
#include "hw/sys_tree.h"
#include "sys/process_runner.h"

namespace pk::hw {

// `lsblk -J -b -O` output (util-linux 2.3x: "rota" as a bool or "0"/"1",
// sizes as numbers or strings). Every string is validated (CheckAttribute,
// named "lsblk: NAME.FIELD"). `origin` names the text in errors.
Result<std::vector<BlockDevice>> ParseLsblk(std::string_view json_text, std::string_view origin = "lsblk");

// /sys/block/* of `tree`: size (512-byte sectors), queue/rotational,
// device/{model,vendor,serial,wwid}, wwid, the SCSI address (HCTL) from
// the device link, the transport guessed from the device path (nvme, ata,
// sas, usb, virtio); devnode /dev/NAME. Unreadable values are left empty and
// named in `warnings`.
std::vector<BlockDevice> ReadSysBlock(const SysTree& tree, std::vector<std::string>* warnings);

// A source of disks; the daemon picks one (daemon config `disk_source`).
class BlockSource {
 public:
  virtual ~BlockSource() = default;
  virtual Result<std::vector<BlockDevice>> Read() = 0;
};

class LsblkSource : public BlockSource {
 public:
  LsblkSource(sys::ProcessRunner& runner, std::string lsblk_path = "/usr/bin/lsblk",
              std::chrono::milliseconds timeout = std::chrono::seconds(20))
      : runner_(runner), path_(std::move(lsblk_path)), timeout_(timeout) {}
  Result<std::vector<BlockDevice>> Read() override;

 private:
  sys::ProcessRunner& runner_;
  std::string path_;
  std::chrono::milliseconds timeout_;
};

class SysBlockSource : public BlockSource {
 public:
  explicit SysBlockSource(SysTree tree) : tree_(std::move(tree)) {}
  Result<std::vector<BlockDevice>> Read() override;

 private:
  SysTree tree_;
};

}  // namespace pk::hw
