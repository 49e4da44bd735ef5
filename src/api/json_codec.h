// JSON forms of the ZFS adapter's types, as the API serves them. GUIDs are
// strings (they exceed JSON's exact integer range); sizes are numbers of bytes.
// Thread-safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>

#include "inventory/inventory.h"
#include "zfs/types.h"

namespace pk::api {

nlohmann::json VdevToJson(const zfs::Vdev& vdev);
// {"kind","state"} and, where the dialect prints them, done/total/processed bytes,
// percent_done, rate_bytes_per_second, eta_seconds, elapsed_seconds, errors, start_time, end_time.
nlohmann::json ScanToJson(const zfs::ScanProgress& progress);
nlohmann::json PoolToJson(const zfs::PoolSummary& summary, const zfs::PoolStatus& status);
nlohmann::json ImportableToJson(const zfs::ImportablePool& pool);
nlohmann::json DatasetToJson(const zfs::Dataset& dataset);
nlohmann::json ErrorToJson(const Error& error);

}  // namespace pk::api
