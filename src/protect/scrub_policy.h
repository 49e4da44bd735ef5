// protect::ScrubPolicy: when a pool is scrubbed (issue 24 item 3), carried by
// the pool in the user property `org.poolkeeper:scrub-schedule` of its root
// dataset, so the head that imports it (after a failover too) scrubs it the
// same way. A pool without the property is scrubbed monthly.
//
// Values (parsed strictly; errors name the value):
//   off                     never scheduled (`pool scrub` by hand still works)
//   every N(m|h|d|w)        N after the end of the pool's last scan
//   weekly, monthly         every 1w, every 30d
// and, for intervals of whole days, an optional " at HH:MM" (UTC): the scrub
// starts at that time of day. Without it the time of day comes from the
// pool's GUID (StaggerMinute), so pools created together are not all scrubbed
// at the same minute, and every head picks the same minute for a pool.
//
// The clock starts at the end of the pool's last scan, as `zpool status` has
// it: a scrub, or a resilver, since zpool keeps only the newest scan (after a
// resilver the scrub's date is gone); a pool never scanned counts from its
// creation. So nothing is stored outside the pool, and a missed scrub (head
// down, pool away) runs once when the pool is back, not once per missed slot.
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"
#include "protect/policy.h"

namespace pk::protect {

inline constexpr const char* kScrubProperty = "org.poolkeeper:scrub-schedule";
inline constexpr const char* kScrubOff = "off";
inline constexpr std::chrono::seconds kDefaultScrubInterval = std::chrono::days(30);

struct ScrubPolicy {
  bool off = false;
  std::chrono::seconds interval = kDefaultScrubInterval;
  std::optional<int> minute_of_day;  // " at HH:MM"; only with whole days

  static Result<ScrubPolicy> Parse(std::string_view value);
  std::string str() const;  // canonical: "off", "every 30d", "every 1w at 02:00"
};

// The minute of the day (0..1439, UTC) a pool's scheduled scrubs start at when
// its policy names none: from its GUID, the same on every head.
int StaggerMinute(uint64_t pool_guid);

// When the next scheduled scrub is due: `since` (the end of the last scan, or
// the pool's creation) plus the interval; for whole days, moved forward to the
// policy's minute of the day (or the pool's StaggerMinute). nullopt when off.
std::optional<Seconds> ScrubDue(const ScrubPolicy& policy, Seconds since, uint64_t pool_guid);

// The time `zpool status` prints for a scan's start or end ("Mon Dec  7
// 14:02:11 2026", ctime's form, in the local time zone); nullopt when it is not one.
std::optional<Seconds> ParseZpoolTime(std::string_view text);

}  // namespace pk::protect
