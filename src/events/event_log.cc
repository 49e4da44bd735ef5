#include "events/event_log.h"

#include <algorithm>
#include <optional>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "base/log.h"
#include "base/json.h"

namespace pk::events {
namespace {

using std::chrono::milliseconds;
using std::chrono::system_clock;

// The log file is written with this mode whenever it is (re)created.
constexpr mode_t kLogFileMode = 0640;

// Longest wait WaitSince honours; keeps now() + timeout from overflowing.
constexpr std::chrono::hours kMaxWait{24 * 365};

std::shared_ptr<spdlog::logger> Logger() { return GetLogger("events"); }

system_clock::time_point TruncateToMs(system_clock::time_point t) {
  return std::chrono::floor<milliseconds>(t);
}

// "2026-11-22T03:20:00.123Z".
std::string FormatRfc3339Ms(system_clock::time_point t) {
  const auto ms = std::chrono::floor<milliseconds>(t);
  const auto day = std::chrono::floor<std::chrono::days>(ms);
  const std::chrono::year_month_day ymd(day);
  const std::chrono::hh_mm_ss hms(ms - day);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                     hms.hours().count(), hms.minutes().count(), hms.seconds().count(),
                     hms.subseconds().count());
}

// One line of the file, newline included. Invalid UTF-8 (e.g. from a tool's
// output quoted in a reason) is replaced rather than thrown on.
std::string ToLine(const Event& event) {
  return DumpJson(event.ToJson()) + "\n";
}

// Reads a string member; absent is "" when `required` is false.
Status GetString(const nlohmann::json& j, const char* key, bool required, std::string& out) {
  const auto it = j.find(key);
  if (it == j.end()) {
    if (required) return InvalidArgument(fmt::format("event: missing \"{}\"", key));
    out.clear();
    return OkStatus();
  }
  if (!it->is_string()) return InvalidArgument(fmt::format("event: \"{}\" is not a string", key));
  out = it->get<std::string>();
  return OkStatus();
}

// At most `max` characters of `s`, for log messages about corrupt lines.
std::string_view Excerpt(std::string_view s, size_t max = 80) { return s.substr(0, max); }

}  // namespace

nlohmann::json Event::ToJson() const {
  return nlohmann::json{
      {"seq", seq},
      {"time", FormatRfc3339Ms(time)},
      {"epoch_ms", std::chrono::floor<milliseconds>(time).time_since_epoch().count()},
      {"resource", resource},
      {"state", state},
      {"previous", previous},
      {"reason", reason},
  };
}

Result<Event> Event::FromJson(const nlohmann::json& j) {
  if (!j.is_object()) return InvalidArgument("event: not a JSON object");
  Event event;

  const auto seq = j.find("seq");
  if (seq == j.end()) return InvalidArgument("event: missing \"seq\"");
  // Parsed text gives unsigned numbers, but json built in code holds signed ones.
  if (!seq->is_number_integer() || (!seq->is_number_unsigned() && seq->get<int64_t>() < 0)) {
    return InvalidArgument("event: \"seq\" is not a non-negative integer");
  }
  event.seq = seq->get<uint64_t>();

  const auto epoch_ms = j.find("epoch_ms");
  if (epoch_ms == j.end()) return InvalidArgument("event: missing \"epoch_ms\"");
  if (!epoch_ms->is_number_integer()) return InvalidArgument("event: \"epoch_ms\" is not an integer");
  // Values outside what system_clock can hold would overflow the conversion.
  constexpr int64_t kMaxMs = std::chrono::duration_cast<milliseconds>(system_clock::duration::max()).count();
  int64_t ms = 0;
  if (epoch_ms->is_number_unsigned()) {
    const uint64_t u = epoch_ms->get<uint64_t>();
    if (u > static_cast<uint64_t>(kMaxMs)) return InvalidArgument("event: \"epoch_ms\" is out of range");
    ms = static_cast<int64_t>(u);
  } else {
    ms = epoch_ms->get<int64_t>();
    if (ms < -kMaxMs) return InvalidArgument("event: \"epoch_ms\" is out of range");
  }
  event.time = system_clock::time_point(std::chrono::duration_cast<system_clock::duration>(milliseconds(ms)));

  PK_TRY(GetString(j, "resource", /*required=*/true, event.resource));
  PK_TRY(GetString(j, "state", /*required=*/true, event.state));
  PK_TRY(GetString(j, "previous", /*required=*/false, event.previous));
  PK_TRY(GetString(j, "reason", /*required=*/false, event.reason));
  return event;
}

EventLog::EventLog(sys::FileSystem& fs, std::string path, EventLogOptions options)
    : fs_(fs), path_(std::move(path)), options_(std::move(options)) {}

Result<std::unique_ptr<EventLog>> EventLog::Open(sys::FileSystem& fs, std::string path,
                                                 EventLogOptions options) {
  const std::string context = fmt::format("open event log '{}'", path);
  if (options.max_events == 0) return InvalidArgument(context + ": max_events must be at least 1");
  if (!options.clock) options.clock = &RealClock();

  std::unique_ptr<EventLog> log(new EventLog(fs, std::move(path), std::move(options)));
  std::lock_guard lock(log->mu_);  // uncontended; keeps the "requires mu_" contracts honest

  const auto exists = fs.Exists(log->path_);
  if (!exists) return std::unexpected(exists.error().WithContext(context));
  if (!*exists) {
    PK_TRY_CONTEXT(fs.WriteFileAtomic(log->path_, "", kLogFileMode), context);
    return log;
  }
  const auto read = fs.ReadFile(log->path_);
  if (!read) return std::unexpected(read.error().WithContext(context));
  const std::string& contents = *read;

  size_t valid_lines = 0;
  size_t corrupt_lines = 0;
  size_t line_no = 0;
  std::string_view rest = contents;
  while (!rest.empty()) {
    ++line_no;
    const size_t nl = rest.find('\n');
    const bool torn = nl == std::string_view::npos;  // a crash mid-append
    const std::string_view line = rest.substr(0, torn ? rest.size() : nl);
    rest.remove_prefix(torn ? rest.size() : nl + 1);

    auto skip = [&](std::string_view why) {
      ++corrupt_lines;
      Logger()->warn("event log '{}': skipping {}line {} ({}): {}", log->path_,
                     torn ? "unterminated " : "", line_no, why, Excerpt(line));
    };
    if (torn) {
      skip("no newline");
      continue;
    }
    const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
      skip("not JSON");
      continue;
    }
    auto event = Event::FromJson(j);
    if (!event) {
      skip(event.error().message());
      continue;
    }
    if (event->seq <= log->last_seq_) {
      skip(fmt::format("seq {} not after {}", event->seq, log->last_seq_));
      continue;
    }
    ++valid_lines;
    log->last_seq_ = event->seq;
    log->events_.push_back(std::move(*event));
    if (log->events_.size() > log->options_.max_events) log->events_.pop_front();
  }
  log->lines_in_file_ = valid_lines + corrupt_lines;

  // Rewrite when a line is corrupt (a torn tail would otherwise swallow the next
  // append) or the file is over its bound (e.g. max_events was lowered).
  if (corrupt_lines > 0 || log->lines_in_file_ >= 2 * log->options_.max_events) {
    if (auto rewritten = log->RewriteLocked(); !rewritten) {
      // Not fatal: the first Append retries the rewrite before writing.
      log->needs_rewrite_ = true;
      Logger()->warn("event log '{}': cannot rewrite: {}", log->path_, rewritten.error().ToString());
    }
  }
  return log;
}

Status EventLog::RewriteLocked() {
  std::string contents;
  for (const Event& event : events_) contents += ToLine(event);
  PK_TRY(fs_.WriteFileAtomic(path_, contents, kLogFileMode));
  lines_in_file_ = events_.size();
  needs_rewrite_ = false;
  return OkStatus();
}

Result<Event> EventLog::Append(Event event) {
  {
    std::lock_guard lock(mu_);
    event.seq = last_seq_ + 1;
    event.time = TruncateToMs(options_.clock->Now());
    const std::string context = fmt::format("append event {} for '{}' to '{}'", event.seq, event.resource, path_);

    if (needs_rewrite_) {
      // The file may end in a partial line: write everything afresh instead.
      events_.push_back(event);
      std::optional<Event> dropped;
      if (events_.size() > options_.max_events) {
        dropped = std::move(events_.front());
        events_.pop_front();
      }
      if (auto rewritten = RewriteLocked(); !rewritten) {
        events_.pop_back();
        if (dropped) events_.push_front(std::move(*dropped));
        return std::unexpected(rewritten.error().WithContext(context));
      }
    } else {
      if (auto appended = fs_.AppendDurably(path_, ToLine(event)); !appended) {
        needs_rewrite_ = true;
        return std::unexpected(appended.error().WithContext(context));
      }
      ++lines_in_file_;
      events_.push_back(event);
      if (events_.size() > options_.max_events) events_.pop_front();
      if (lines_in_file_ >= 2 * options_.max_events) {
        if (auto compacted = RewriteLocked(); !compacted) {
          // The event is durable; the next Append tries compacting again.
          Logger()->warn("event log '{}': compaction failed: {}", path_, compacted.error().ToString());
        }
      }
    }
    last_seq_ = event.seq;
  }
  changed_.notify_all();
  return event;
}

namespace {

// Events of `events` (seq ascending) with seq > after_seq, at most `limit`.
std::vector<Event> Select(const std::deque<Event>& events, uint64_t after_seq, size_t limit) {
  auto first = std::partition_point(events.begin(), events.end(),
                                    [&](const Event& e) { return e.seq <= after_seq; });
  const size_t n = std::min(limit, static_cast<size_t>(events.end() - first));
  return std::vector<Event>(first, first + static_cast<std::ptrdiff_t>(n));
}

}  // namespace

std::vector<Event> EventLog::Since(uint64_t after_seq, size_t limit) const {
  std::lock_guard lock(mu_);
  return Select(events_, after_seq, limit);
}

std::vector<Event> EventLog::WaitSince(uint64_t after_seq, std::chrono::milliseconds timeout, size_t limit,
                                       const std::function<bool()>& stop) {
  std::unique_lock lock(mu_);
  const auto wait = std::min<std::chrono::milliseconds>(timeout, kMaxWait);
  changed_.wait_for(lock, wait, [&] { return closed_ || last_seq_ > after_seq || (stop && stop()); });
  return Select(events_, after_seq, limit);
}

void EventLog::WakeWaiters() {
  // Taking mu_ orders this after a waiter's predicate check: the wake-up is not lost.
  std::lock_guard lock(mu_);
  changed_.notify_all();
}

uint64_t EventLog::LastSeq() const {
  std::lock_guard lock(mu_);
  return last_seq_;
}

void EventLog::Close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  changed_.notify_all();
}

}  // namespace pk::events
