// Human output of the poolkeeper CLI: aligned tables, sizes the way zfs prints
// them, and a `zpool status`-like pool view with what Poolkeeper adds.
// Thread-safety: pure functions.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace pk::cli {

// Columns padded to the widest cell, two spaces apart; the last column is not
// padded. Columns listed in `right_aligned` (numbers) are aligned right.
std::string RenderTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows,
                        const std::vector<size_t>& right_aligned = {});

// 1536 -> "1.50K", 0 -> "0", like zfs list. Non-numbers are returned as they are.
std::string HumanSize(const std::string& bytes);
std::string HumanSize(uint64_t bytes);

// Is `property` a size in bytes (used, quota, userquota@x, ...)? Such values
// are shown like zfs get shows them: 1.50K.
bool IsSizeProperty(std::string_view property);

// A dataset's property value from its "properties" object, "-" if absent.
std::string Prop(const nlohmann::json& dataset, const char* name);

// What a command that changed something prints: "VERB 'NAME'" for the object
// the answer names (pool, dataset, snapshot, ...), else "VERB".
std::function<std::string(const nlohmann::json&)> Done(std::string verb);

// A pool service or exec resource (GET /v1/services/{pool}, POST ...?action=):
// state, reason, since, then its policy (or exec) fields.
std::string ServiceView(const nlohmann::json& service);

// One line for a pool status answer's "scan_progress" ("scrub scanning, 29.80% done, 3.0G of 10.2G at
// 421M/s, 17 s to go, ..."); "" when no scan was ever requested.
std::string ScanProgressText(const nlohmann::json& progress);
// The body of GET /v1/pools/{pool} rendered like `zpool status`.
std::string RenderPoolStatus(const nlohmann::json& pool);

}  // namespace pk::cli
