// protect::Policy: a dataset's snapshot schedule with retention (issue 24
// item 1), as carried by the pool in the user property
// `org.poolkeeper:snapshot-schedule`, so it travels with the pool and ZFS
// inheritance gives it to children that do not set their own.
//
// The property value (and the one syntax the CLI and API take, field by field):
//   schedule=every 15m;keep=24 hourly,30 daily,12 monthly;prefix=auto
// Keys: `schedule` and `keep` are required, `prefix` defaults to "auto"; any
// other key, a repeated key or an empty field is refused.
//
// Schedules (UTC; one small syntax, parsed strictly):
//   every N(m|h|d|w) slots at multiples of N minutes/hours/days/weeks since the Unix
//                    epoch (every 15m: :00 :15 :30 :45), N >= 1, at most 366 days
//   hourly           = every 1h
//   daily            = daily at 00:00
//   daily at HH:MM   once a day at HH:MM UTC
// Retention: `N` (the newest N, same as `N latest`) or a comma-separated grid
// of `N PERIOD` with PERIOD one of latest, minutely, hourly, daily, weekly,
// monthly, yearly, each at most once, N from 1 to 10000 (0 is refused: a
// policy that keeps nothing is a mistake). A leading word `keep` is accepted.
// Snapshots are named PREFIX-YYYYMMDDTHHMMSSZ (UTC); the prefix is 1 to 64 of
// [A-Za-z0-9_.:-], starting with a letter or digit.
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace pk::protect {

inline constexpr const char* kScheduleProperty = "org.poolkeeper:snapshot-schedule";

// Why a pool's schedules must not run here (a pool made elsewhere and not
// adopted: issue 17 item 6), or nullopt when they may. The daemon answers it
// from the inventory (supervisor::Ownership::Verifies); unset: every pool may.
using HeldCheck = std::function<std::optional<std::string>(const std::string& pool)>;

using Seconds = std::chrono::sys_seconds;

struct Schedule {
  enum class Kind { kEvery, kDailyAt };
  Kind kind = Kind::kEvery;
  std::chrono::seconds interval{3600};  // kEvery
  int minute_of_day = 0;                // kDailyAt: 0..1439

  static Result<Schedule> Parse(std::string_view text);
  std::string str() const;  // canonical form: "every 15m", "daily at 02:00"
  // The newest slot at or before `t`, and the first slot strictly after `t`.
  Seconds LastSlot(Seconds t) const;
  Seconds NextSlot(Seconds t) const;
};

enum class Period { kLatest, kMinutely, kHourly, kDaily, kWeekly, kMonthly, kYearly };
std::string_view PeriodName(Period period);

struct KeepRule {
  int count = 0;
  Period period = Period::kLatest;
};

struct Retention {
  std::vector<KeepRule> rules;
  static Result<Retention> Parse(std::string_view text);
  std::string str() const;  // "3" for a lone `N latest`, else "24 hourly,30 daily"
};

struct Policy {
  Schedule schedule;
  Retention keep;
  std::string prefix = "auto";

  // Parses the property value (see the header comment). Errors name the value and the cause.
  static Result<Policy> Parse(std::string_view value);
  std::string ToProperty() const;
};

// Shared by the snapshot and scrub schedules:
// "15m", "2h", "30d", "1w": a whole number and a unit, from 1 minute up to
// 366 days; otherwise InvalidArgument saying what is wrong (not naming `spec`:
// the caller names the whole value).
Result<std::chrono::seconds> ParseInterval(std::string_view spec);
std::string IntervalStr(std::chrono::seconds interval);  // the largest whole unit: "1w", "30d", "2h", "90m"
// "HH:MM" (00:00 to 23:59) -> minutes after midnight; nullopt otherwise.
std::optional<int> ParseTimeOfDay(std::string_view hh_mm);
std::string TimeOfDayStr(int minute_of_day);  // "02:05"

// InvalidArgument unless `prefix` is a valid snapshot name prefix.
Status ValidatePrefix(std::string_view prefix);

// "PREFIX-20261207T110900Z" for `t` (whole seconds, UTC).
std::string SnapshotLabel(std::string_view prefix, Seconds t);
// The time in a label made by SnapshotLabel with this exact prefix; nullopt for any other name.
std::optional<Seconds> LabelTime(std::string_view prefix, std::string_view label);

// The retention grid, a pure function: `times` are the snapshots' times (any
// order); the answer says, index by index, whether `keep` keeps it. Each rule
// `N PERIOD` keeps the newest snapshot of each of the newest N periods (UTC
// minute, hour, day, ISO week from Monday, month, year) that hold a snapshot;
// `N latest` keeps the newest N. A snapshot kept by any rule is kept. Periods
// without snapshots do not count, so an outage never makes pruning eat older
// history.
std::vector<bool> KeepByGrid(const std::vector<Seconds>& times, const Retention& keep);

}  // namespace pk::protect
