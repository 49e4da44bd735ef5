// JSON forms of disks, bays and enclosures: the API's answers (GET /v1/disks,
// /v1/disks/{id}, /v1/enclosures) and what the CLI prints from.
// Thread-safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>

#include "hw/disk.h"

namespace pk::hw {

nlohmann::json SmartToJson(const SmartReport& smart);
nlohmann::json BayToJson(const Bay& bay);
nlohmann::json DiskToJson(const Disk& disk);
// {"disks": [...], "warnings": [...], "read_at": RFC 3339}
nlohmann::json TopologyToJson(const Topology& topology);
// {"enclosures": [{..., "bays": [{..., "disk": ID|null}]}], "warnings": [...]}
nlohmann::json EnclosuresToJson(const Topology& topology);

}  // namespace pk::hw
