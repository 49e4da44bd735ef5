#include "protect/policy.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <numeric>

#include <fmt/format.h>

#include "base/text.h"

namespace pk::protect {
namespace {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

std::vector<std::string_view> Split(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t at = text.find(sep, start);
    out.push_back(Trim(text.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start)));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

// Decimal digits only, no sign, no leading '+', within [lo, hi].
std::optional<long> Number(std::string_view text, long lo, long hi) {
  long v = 0;
  if (text.empty() || text.size() > 9 || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  std::from_chars(text.data(), text.data() + text.size(), v);
  if (v < lo || v > hi) return std::nullopt;
  return v;
}

// The period's number since the epoch (UTC) that `t` falls in.
int64_t Bucket(Seconds t, Period period) {
  auto day = std::chrono::floor<days>(t);
  switch (period) {
    case Period::kLatest: return t.time_since_epoch().count();
    case Period::kMinutely: return std::chrono::floor<minutes>(t).time_since_epoch().count();
    case Period::kHourly: return std::chrono::floor<hours>(t).time_since_epoch().count();
    case Period::kDaily: return day.time_since_epoch().count();
    // 1970-01-01 was a Thursday: +3 makes weeks start on Monday.
    case Period::kWeekly: {
      int64_t d = day.time_since_epoch().count() + 3;
      return d >= 0 ? d / 7 : (d - 6) / 7;  // floor division
    }
    case Period::kMonthly: {
      std::chrono::year_month_day ymd(day);
      return static_cast<int>(ymd.year()) * 12 + static_cast<unsigned>(ymd.month());
    }
    case Period::kYearly: return static_cast<int>(std::chrono::year_month_day(day).year());
  }
  return 0;
}

}  // namespace

Result<std::chrono::seconds> ParseInterval(std::string_view spec) {
  if (spec.size() < 2) return InvalidArgument("the interval needs a number and a unit");
  seconds per;
  switch (spec.back()) {
    case 'm': per = minutes(1); break;
    case 'h': per = hours(1); break;
    case 'd': per = days(1); break;
    case 'w': per = days(7); break;
    default: return InvalidArgument(fmt::format("unknown unit '{}'", spec.back()));
  }
  auto n = Number(spec.substr(0, spec.size() - 1), 1, seconds(days(366)).count() / per.count());
  if (!n) return InvalidArgument("the interval must be a whole number from 1 minute up to 366 days");
  return per * *n;
}

std::string IntervalStr(std::chrono::seconds interval) {
  auto s = interval.count();
  if (s % (7 * 86400) == 0) return fmt::format("{}w", s / (7 * 86400));
  if (s % 86400 == 0) return fmt::format("{}d", s / 86400);
  if (s % 3600 == 0) return fmt::format("{}h", s / 3600);
  return fmt::format("{}m", s / 60);
}

std::optional<int> ParseTimeOfDay(std::string_view hh_mm) {
  if (hh_mm.size() != 5 || hh_mm[2] != ':') return std::nullopt;
  auto h = Number(hh_mm.substr(0, 2), 0, 23);
  auto m = Number(hh_mm.substr(3, 2), 0, 59);
  if (!h || !m) return std::nullopt;
  return static_cast<int>(*h * 60 + *m);
}

std::string TimeOfDayStr(int minute_of_day) { return fmt::format("{:02}:{:02}", minute_of_day / 60, minute_of_day % 60); }

Result<Schedule> Schedule::Parse(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return InvalidArgument(fmt::format(
        "snapshot schedule '{}': {} (use 'every N(m|h|d|w)', 'hourly', 'daily' or 'daily at HH:MM', UTC)", text, why));
  };
  auto words = SplitFields(text);
  Schedule s;
  if (words.size() == 1 && words[0] == "hourly") {
    s.interval = hours(1);
    return s;
  }
  if (words.size() == 1 && words[0] == "daily") {
    s.kind = Kind::kDailyAt;
    return s;
  }
  if (words.size() == 2 && words[0] == "every") {
    auto interval = ParseInterval(words[1]);
    if (!interval) return bad(interval.error().message());
    s.interval = *interval;
    return s;
  }
  if (words.size() == 3 && words[0] == "daily" && words[1] == "at") {
    auto minute = ParseTimeOfDay(words[2]);
    if (!minute) return bad("the time must be HH:MM from 00:00 to 23:59");
    s.kind = Kind::kDailyAt;
    s.minute_of_day = *minute;
    return s;
  }
  return bad("not a schedule");
}

std::string Schedule::str() const {
  if (kind == Kind::kDailyAt) return fmt::format("daily at {}", TimeOfDayStr(minute_of_day));
  return "every " + IntervalStr(interval);
}

Seconds Schedule::LastSlot(Seconds t) const {
  if (kind == Kind::kDailyAt) {
    Seconds slot = std::chrono::floor<days>(t) + minutes(minute_of_day);
    return slot <= t ? slot : slot - days(1);
  }
  auto n = t.time_since_epoch().count();
  auto step = interval.count();
  auto floor = n >= 0 ? n - n % step : n - ((n % step) + step) % step;
  return Seconds(seconds(floor));
}

Seconds Schedule::NextSlot(Seconds t) const {
  return LastSlot(t) + (kind == Kind::kDailyAt ? seconds(days(1)) : interval);
}

std::string_view PeriodName(Period period) {
  switch (period) {
    case Period::kLatest: return "latest";
    case Period::kMinutely: return "minutely";
    case Period::kHourly: return "hourly";
    case Period::kDaily: return "daily";
    case Period::kWeekly: return "weekly";
    case Period::kMonthly: return "monthly";
    case Period::kYearly: return "yearly";
  }
  return "?";
}

Result<Retention> Retention::Parse(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return InvalidArgument(fmt::format(
        "snapshot retention '{}': {} (use 'N' or 'N PERIOD, ...' with PERIOD latest, minutely, hourly, daily, weekly, "
        "monthly or yearly)",
        text, why));
  };
  std::string_view body = Trim(text);
  if (body.starts_with("keep ")) body = Trim(body.substr(5));
  if (body.empty()) return bad("empty");
  Retention r;
  for (std::string_view part : Split(body, ',')) {
    auto words = SplitFields(part);
    if (words.empty() || words.size() > 2) return bad(fmt::format("'{}' is not 'N PERIOD'", part));
    if (words[0] == "0") return bad("retention zero would keep nothing");
    auto n = Number(words[0], 1, 10000);
    if (!n) return bad(fmt::format("'{}' is not a count from 1 to 10000", words[0]));
    Period period = Period::kLatest;
    if (words.size() == 2) {
      bool known = false;
      for (auto p : {Period::kLatest, Period::kMinutely, Period::kHourly, Period::kDaily, Period::kWeekly,
                     Period::kMonthly, Period::kYearly}) {
        if (words[1] == PeriodName(p)) period = p, known = true;
      }
      if (!known) return bad(fmt::format("unknown period '{}'", words[1]));
    }
    if (std::any_of(r.rules.begin(), r.rules.end(), [&](const KeepRule& k) { return k.period == period; })) {
      return bad(fmt::format("'{}' appears twice", PeriodName(period)));
    }
    r.rules.push_back({static_cast<int>(*n), period});
  }
  return r;
}

std::string Retention::str() const {
  if (rules.size() == 1 && rules[0].period == Period::kLatest) return std::to_string(rules[0].count);
  std::string out;
  for (const auto& k : rules) out += fmt::format("{}{} {}", out.empty() ? "" : ",", k.count, PeriodName(k.period));
  return out;
}

Status ValidatePrefix(std::string_view prefix) {
  auto ok = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == ':' || c == '-';
  };
  if (prefix.empty() || prefix.size() > 64 || !std::all_of(prefix.begin(), prefix.end(), ok) || !std::isalnum(static_cast<unsigned char>(prefix[0]))) {
    return InvalidArgument(fmt::format(
        "snapshot prefix '{}': 1 to 64 of letters, digits, '_', '.', ':' and '-', starting with a letter or digit", prefix));
  }
  return OkStatus();
}

Result<Policy> Policy::Parse(std::string_view value) {
  std::map<std::string, std::string, std::less<>> fields;
  for (std::string_view part : Split(value, ';')) {
    size_t eq = part.find('=');
    if (part.empty() || eq == std::string_view::npos) {
      return InvalidArgument(fmt::format("snapshot policy '{}': '{}' is not KEY=VALUE", value, part));
    }
    std::string key(Trim(part.substr(0, eq)));
    if (key != "schedule" && key != "keep" && key != "prefix") {
      return InvalidArgument(fmt::format("snapshot policy '{}': unknown key '{}' (known: schedule, keep, prefix)", value, key));
    }
    if (!fields.emplace(key, std::string(Trim(part.substr(eq + 1)))).second) {
      return InvalidArgument(fmt::format("snapshot policy '{}': '{}' given twice", value, key));
    }
  }
  for (const char* required : {"schedule", "keep"}) {
    if (!fields.contains(required)) return InvalidArgument(fmt::format("snapshot policy '{}': '{}' is missing", value, required));
  }
  Policy p;
  PK_ASSIGN_OR_RETURN(p.schedule, Schedule::Parse(fields["schedule"]));
  PK_ASSIGN_OR_RETURN(p.keep, Retention::Parse(fields["keep"]));
  if (fields.contains("prefix")) p.prefix = fields["prefix"];
  PK_TRY(ValidatePrefix(p.prefix));
  return p;
}

std::string Policy::ToProperty() const {
  return fmt::format("schedule={};keep={};prefix={}", schedule.str(), keep.str(), prefix);
}

std::string SnapshotLabel(std::string_view prefix, Seconds t) {
  auto day = std::chrono::floor<days>(t);
  std::chrono::year_month_day ymd(day);
  std::chrono::hh_mm_ss hms(t - day);
  return fmt::format("{}-{:04}{:02}{:02}T{:02}{:02}{:02}Z", prefix, static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()), hms.hours().count(),
                     hms.minutes().count(), hms.seconds().count());
}

std::optional<Seconds> LabelTime(std::string_view prefix, std::string_view label) {
  // PREFIX-YYYYMMDDTHHMMSSZ: 17 characters after "PREFIX-".
  if (label.size() != prefix.size() + 17 || !label.starts_with(prefix) || label[prefix.size()] != '-') return std::nullopt;
  std::string_view ts = label.substr(prefix.size() + 1);
  if (ts[8] != 'T' || ts[15] != 'Z') return std::nullopt;
  auto y = Number(ts.substr(0, 4), 1970, 9999), mo = Number(ts.substr(4, 2), 1, 12), d = Number(ts.substr(6, 2), 1, 31);
  auto h = Number(ts.substr(9, 2), 0, 23), mi = Number(ts.substr(11, 2), 0, 59), s = Number(ts.substr(13, 2), 0, 59);
  if (!y || !mo || !d || !h || !mi || !s) return std::nullopt;
  std::chrono::year_month_day ymd{std::chrono::year(static_cast<int>(*y)), std::chrono::month(static_cast<unsigned>(*mo)),
                                  std::chrono::day(static_cast<unsigned>(*d))};
  if (!ymd.ok()) return std::nullopt;
  return Seconds(std::chrono::sys_days(ymd)) + hours(*h) + minutes(*mi) + seconds(*s);
}

std::vector<bool> KeepByGrid(const std::vector<Seconds>& times, const Retention& keep) {
  std::vector<bool> kept(times.size(), false);
  std::vector<size_t> order(times.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return times[a] > times[b]; });
  for (const auto& rule : keep.rules) {
    int taken = 0;
    std::optional<int64_t> last_bucket;
    for (size_t i : order) {
      if (taken >= rule.count) break;
      int64_t bucket = rule.period == Period::kLatest ? static_cast<int64_t>(i) : Bucket(times[i], rule.period);
      if (rule.period != Period::kLatest && last_bucket == bucket) continue;  // an older one of a period already kept
      last_bucket = bucket;
      kept[i] = true;
      ++taken;
    }
  }
  return kept;
}

}  // namespace pk::protect
