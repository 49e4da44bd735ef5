// Fuzz target: the disk hardware parsers of outside text (issue 20 items 2,
// 3): lsblk's JSON, smartctl's JSON, the chassis file and vdev_id.conf.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "hw/block_sources.h"
#include "hw/chassis.h"
#include "hw/smart.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)pk::hw::ParseLsblk(text, "fuzz");
  (void)pk::hw::ParseSmartctl(text, "fuzz");
  if (auto c = pk::hw::ParseChassisConf(text, "fuzz")) {
    for (const auto& b : c->bays) (void)c->LabelOf(b.chassis, b.slot);
  }
  if (auto v = pk::hw::ParseVdevIdConf(text, "fuzz")) {
    (void)v->NameFromByPath({"pci-0000:03:00.0-sas-phy3-lun-0", "pci-0000:03:00.0-sas-phy99999999999-lun-0", "pci--sas-phy"});
  }
  return 0;
}
