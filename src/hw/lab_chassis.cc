#include "hw/lab_chassis.h"

#include <filesystem>
#include <fstream>

#include <fmt/format.h>

namespace pk::hw {

namespace fs = std::filesystem;

namespace {

Status Write(const fs::path& file, const std::string& value) {
  std::error_code ec;
  fs::create_directories(file.parent_path(), ec);
  std::ofstream out(file, std::ios::trunc);
  out << value << "\n";
  if (!out) return Internal(fmt::format("lab chassis: cannot write {}", file.string()));
  return OkStatus();
}

Status Link(const fs::path& at, const std::string& target) {
  std::error_code ec;
  fs::create_directories(at.parent_path(), ec);
  fs::remove(at, ec);
  fs::create_symlink(target, at, ec);
  if (ec) return Internal(fmt::format("lab chassis: cannot link {} -> {}: {}", at.string(), target, ec.message()));
  return OkStatus();
}

std::string Name(int bay) { return fmt::format("labd{}", bay); }
std::string Scsi(int bay) { return fmt::format("0:0:{}:0", bay); }

}  // namespace

Result<LabChassis> LabChassis::Create(std::string root, std::string id, int bays) {
  if (bays < 1 || bays > 99) return InvalidArgument(fmt::format("lab chassis '{}': {} bays (1 to 99)", id, bays));
  LabChassis c(std::move(root), std::move(id), bays);
  fs::path r(c.root_);
  fs::path encl = r / "sys/class/enclosure" / c.id_;
  PK_TRY(Write(r / "sys/devices/lab" / c.id_ / "vendor", "POOLKEEPER"));
  PK_TRY(Write(r / "sys/devices/lab" / c.id_ / "model", "LAB CHASSIS"));
  PK_TRY(Link(encl / "device", "../../../devices/lab/" + c.id_));
  PK_TRY(Write(encl / "id", "lab-" + c.id_));
  PK_TRY(Write(encl / "components", std::to_string(bays)));
  for (int b = 1; b <= bays; ++b) {
    fs::path slot = c.SlotDir(b);
    PK_TRY(Write(slot / "type", "array device"));
    PK_TRY(Write(slot / "slot", std::to_string(b)));
    PK_TRY(Write(slot / "status", "not installed"));
    PK_TRY(Write(slot / "fault", "0"));
    PK_TRY(Write(slot / "locate", "0"));
  }
  std::error_code ec;
  fs::create_directories(r / "sys/block", ec);
  fs::create_directories(r / "dev/disk/by-id", ec);
  fs::create_directories(r / "dev/disk/by-path", ec);
  return c;
}

std::string LabChassis::SlotDir(int bay) const {
  return (fs::path(root_) / "sys/class/enclosure" / id_ / fmt::format("Slot {:02}", bay)).string();
}

Status LabChassis::CheckBay(int bay) const {
  if (bay < 1 || bay > bays_) return NotFound(fmt::format("lab chassis '{}' has no bay {} (1 to {})", id_, bay, bays_));
  return OkStatus();
}

Status LabChassis::Insert(int bay, const std::string& disk, const std::string& serial) {
  PK_TRY(CheckBay(bay));
  std::error_code ec;
  auto size = fs::file_size(disk, ec);
  if (ec) return NotFound(fmt::format("lab chassis bay {}: disk file {}: {}", bay, disk, ec.message()));
  fs::path r(root_);
  fs::path dev = r / "sys/devices/lab" / Scsi(bay);
  fs::path blk = dev / "block" / Name(bay);
  PK_TRY(Write(dev / "vendor", "POOLKEEPER"));
  PK_TRY(Write(dev / "model", "LAB FILE DISK"));
  PK_TRY(Write(dev / "serial", serial));
  PK_TRY(Write(dev / "transport", "lab"));
  PK_TRY(Write(blk / "size", std::to_string(size / 512)));
  PK_TRY(Write(blk / "queue/rotational", "0"));
  PK_TRY(Link(blk / "device", "../.."));
  PK_TRY(Link(r / "sys/block" / Name(bay), "../devices/lab/" + Scsi(bay) + "/block/" + Name(bay)));
  PK_TRY(Link(r / "dev" / Name(bay), disk));
  PK_TRY(Link(r / "dev/disk/by-id" / ("lab-" + serial), "../../" + Name(bay)));
  PK_TRY(Link(r / "dev/disk/by-path" / fmt::format("lab-{}-bay-{}", id_, bay), "../../" + Name(bay)));
  fs::path slot = SlotDir(bay);
  PK_TRY(Link(slot / "device", "../../../../devices/lab/" + Scsi(bay)));
  return Write(slot / "status", "OK");
}

Status LabChassis::Pull(int bay) {
  PK_TRY(CheckBay(bay));
  fs::path r(root_);
  std::error_code ec;
  fs::path slot = SlotDir(bay);
  fs::remove(slot / "device", ec);
  PK_TRY(Write(slot / "status", "not installed"));
  fs::remove(r / "sys/block" / Name(bay), ec);
  fs::remove_all(r / "sys/devices/lab" / Scsi(bay), ec);
  for (const char* dir : {"dev/disk/by-id", "dev/disk/by-path"}) {
    for (fs::directory_iterator it(r / dir, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code lec;
      if (fs::read_symlink(it->path(), lec) == "../../" + Name(bay)) fs::remove(it->path(), lec);
    }
  }
  fs::remove(r / "dev" / Name(bay), ec);
  return OkStatus();
}

}  // namespace pk::hw
