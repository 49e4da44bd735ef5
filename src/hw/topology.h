// hw::TopologyReader: every disk with its identities, bay and pool (issue 20
// item 2), from a BlockSource (lsblk or /sys/block), the by-id and by-path
// links under the dev root, SES enclosures and NVMe PCI slots under the sys
// root, the chassis file and vdev_id.conf, and the pools' vdev trees.
//
// A bay comes from, first to last: an SES slot linking the disk, a PCI slot
// holding its NVMe controller, a chassis-file `bay` line, a vdev_id.conf
// alias or channel/slot. A disk belongs to the pool whose leaf vdev resolves
// (through /dev, its by-id/by-path links or a file path) to the disk or one
// of its partitions. What cannot be read (a bad chassis file: then none of
// it is used) is a warning in the topology, never a failed listing.
// Thread-safety: BuildTopology is pure; a TopologyReader is used from one
// thread at a time.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "hw/block_sources.h"
#include "hw/chassis.h"
#include "hw/disk.h"
#include "hw/sys_tree.h"
#include "zfs/types.h"

namespace pk::hw {

struct TopologyInputs {
  std::vector<BlockDevice> devices;
  std::vector<Enclosure> enclosures;  // SES and the PCI slots, as read (enclosures.h)
  std::optional<ChassisConf> chassis;
  std::optional<VdevIdConf> vdev_id;
  std::vector<zfs::PoolStatus> pools;
  std::vector<std::string> warnings;
};

// Matches everything; `dev` resolves device and link paths (its root is the dev root).
Topology BuildTopology(const SysTree& dev, TopologyInputs inputs, std::chrono::system_clock::time_point now);

struct TopologyOptions {
  std::string sys_root;  // "" = this host's /sys; a recorded tree or the lab chassis otherwise
  std::string dev_root;  // "" = this host's /dev
  std::string chassis_file = "/etc/poolkeeper/chassis.conf";  // "" = none
  std::string vdev_id_file = "/etc/zfs/vdev_id.conf";         // "" = none
};

class TopologyReader {
 public:
  TopologyReader(BlockSource& source, TopologyOptions options) : source_(source), options_(std::move(options)) {}
  // Everything but the pools (disks, enclosures, the two files): the
  // expensive part, which a cache keeps and matches against new pool views.
  // Fails only when the disks cannot be listed at all.
  Result<TopologyInputs> ReadHardware();
  // ReadHardware, then BuildTopology with `pools`.
  Result<Topology> Read(const std::vector<zfs::PoolStatus>& pools, std::chrono::system_clock::time_point now);
  const std::string& dev_root() const { return options_.dev_root; }

 private:
  BlockSource& source_;
  TopologyOptions options_;
};

// "bay 2" < "bay 10": digits compared as numbers.
bool NaturalLess(std::string_view a, std::string_view b);

}  // namespace pk::hw
