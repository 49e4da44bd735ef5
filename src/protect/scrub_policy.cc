#include "protect/scrub_policy.h"

#include <time.h>

#include <fmt/format.h>

#include "base/text.h"

namespace pk::protect {

using std::chrono::days;
using std::chrono::minutes;

Result<ScrubPolicy> ScrubPolicy::Parse(std::string_view value) {
  auto bad = [&](std::string_view why) {
    return InvalidArgument(fmt::format(
        "scrub schedule '{}': {} (use 'off', 'weekly', 'monthly' or 'every N(m|h|d|w)', with ' at HH:MM' (UTC) "
        "for whole days)",
        value, why));
  };
  auto words = SplitFields(value);
  ScrubPolicy p;
  if (words.size() == 1 && words[0] == kScrubOff) {
    p.off = true;
    return p;
  }
  size_t at = 0;
  if (words.size() >= 1 && words[0] == "weekly") {
    p.interval = days(7);
    at = 1;
  } else if (words.size() >= 1 && words[0] == "monthly") {
    p.interval = kDefaultScrubInterval;
    at = 1;
  } else if (words.size() >= 2 && words[0] == "every") {
    auto interval = ParseInterval(words[1]);
    if (!interval) return bad(interval.error().message());
    p.interval = *interval;
    at = 2;
  } else {
    return bad("not a schedule");
  }
  if (words.size() == at) return p;
  if (words.size() != at + 2 || words[at] != "at") return bad("unexpected words after the interval");
  if (p.interval % days(1) != std::chrono::seconds(0)) return bad("a time of day needs an interval of whole days");
  auto minute = ParseTimeOfDay(words[at + 1]);
  if (!minute) return bad("the time must be HH:MM from 00:00 to 23:59");
  p.minute_of_day = *minute;
  return p;
}

std::string ScrubPolicy::str() const {
  if (off) return kScrubOff;
  std::string out = "every " + IntervalStr(interval);
  if (minute_of_day) out += " at " + TimeOfDayStr(*minute_of_day);
  return out;
}

int StaggerMinute(uint64_t pool_guid) {
  // The GUID is random already; mixing keeps pools whose GUIDs differ only in
  // their high bits apart too.
  uint64_t x = pool_guid ^ (pool_guid >> 31);
  x *= 0x9e3779b97f4a7c15ULL;
  x ^= x >> 29;
  return static_cast<int>(x % (24 * 60));
}

std::optional<Seconds> ScrubDue(const ScrubPolicy& policy, Seconds since, uint64_t pool_guid) {
  if (policy.off) return std::nullopt;
  Seconds due = since + policy.interval;
  if (policy.interval % days(1) != std::chrono::seconds(0)) return due;
  Seconds at = std::chrono::floor<days>(due) + minutes(policy.minute_of_day.value_or(StaggerMinute(pool_guid)));
  return at >= due ? at : at + days(1);
}

std::optional<Seconds> ParseZpoolTime(std::string_view text) {
  std::string s(Trim(text));
  struct tm tm {};
  const char* end = strptime(s.c_str(), "%a %b %d %H:%M:%S %Y", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  tm.tm_isdst = -1;
  time_t t = mktime(&tm);
  if (t == static_cast<time_t>(-1)) return std::nullopt;
  return Seconds(std::chrono::seconds(t));
}

}  // namespace pk::protect
