// events::EventLog: the persistent, bounded log of state changes that
// `poolkeeper events [--follow]` shows and the API streams.
//
// Events are JSON lines in one file under the state directory. Each has a
// sequence number (strictly increasing across restarts), a time, the resource
// ("pool:tank"), the new and previous state and a reason. The file keeps at
// most `max_events` (older ones are dropped by rewriting the file atomically
// once it holds twice that many). Readers can wait for events newer than a
// sequence number (long poll), which is how --follow works.
//
// On-disk format: one JSON object per line, e.g.
//   {"seq":7,"time":"2026-11-22T03:20:00.123Z","epoch_ms":1795317600123,
//    "resource":"pool:tank","state":"online","previous":"mounting","reason":"..."}
// Times have millisecond precision (Append truncates the clock's reading).
// Appends go through sys::FileSystem::AppendDurably (write + fsync), so a
// crash can at worst leave a torn last line, which Open skips and repairs.
//
// Thread-safety: all methods may be called from any thread (one mutex, held
// across an Append's write + fsync so the file order is the seq order).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/error.h"
#include "sys/files.h"

namespace pk::events {

struct Event {
  uint64_t seq = 0;                                  // set by Append
  std::chrono::system_clock::time_point time;        // set by Append (from the injected clock)
  std::string resource;                              // "pool:tank", "exec:nfs-ready"
  std::string state;                                 // new state ("online")
  std::string previous;                              // previous state ("mounting"), may be empty
  std::string reason;                                // why, in an administrator's words

  // {"seq", "time" (RFC 3339 UTC, ms: "2026-11-22T03:20:00.123Z"), "epoch_ms",
  // "resource", "state", "previous", "reason"}. Sub-millisecond time is dropped.
  nlohmann::json ToJson() const;
  // Inverse of ToJson. The time is taken from "epoch_ms" ("time" is for people);
  // seq, epoch_ms, resource and state are required, previous and reason may be
  // absent. InvalidArgument naming the bad field otherwise. Never throws.
  static Result<Event> FromJson(const nlohmann::json& j);
};

struct EventLogOptions {
  // How many events are kept (in memory and, after compaction, in the file);
  // the file grows to at most 2 * max_events lines. Must be >= 1. Default 10000.
  size_t max_events = 10000;
  // Event times are its wall-clock time; tests pass a testing::FakeClock.
  // Null: RealClock().
  Clock* clock = nullptr;
};

class EventLog {
 public:
  // Opens (creating if absent) the log at `path`; reads the kept events back.
  // A corrupt line (e.g. torn by a crash) is skipped with a warning, never fatal;
  // the file is then rewritten without it so later appends start on a clean line.
  // The directory must exist. Errors: reading/creating the file fails, or
  // max_events is 0 (InvalidArgument).
  static Result<std::unique_ptr<EventLog>> Open(sys::FileSystem& fs, std::string path, EventLogOptions options = {});

  // Stamps seq and time, appends durably (write + fsync of the line), and wakes waiters.
  // Returns the stamped event. On a write error nothing is recorded (the seq is
  // not used up) and the next Append rewrites the file to drop any partial line.
  // A failed compaction is only logged: the event itself is already durable.
  // Append keeps working after Close().
  Result<Event> Append(Event event);

  // Events with seq > after_seq, oldest first, at most `limit`.
  std::vector<Event> Since(uint64_t after_seq, size_t limit = 1000) const;

  // Like Since, but when there are none waits up to `timeout` for one (or Close()).
  // The timeout is measured on the steady clock, not the injected one. A waiter
  // with a `stop` predicate also returns (with what there is) once it holds
  // after a WakeWaiters(): how a long-poll ends when its client hangs up.
  std::vector<Event> WaitSince(uint64_t after_seq, std::chrono::milliseconds timeout, size_t limit = 1000,
                               const std::function<bool()>& stop = nullptr);

  // Wakes every waiter to re-check its `stop` predicate.
  void WakeWaiters();

  // The seq of the newest event (0 when the log has never held one).
  uint64_t LastSeq() const;

  // Wakes every waiter; later waits return at once.
  void Close();

 private:
  EventLog(sys::FileSystem& fs, std::string path, EventLogOptions options);

  // Replaces the file with exactly `events_`. Requires mu_.
  Status RewriteLocked();

  sys::FileSystem& fs_;
  const std::string path_;
  const EventLogOptions options_;

  mutable std::mutex mu_;
  std::condition_variable changed_;  // notified on Append and Close
  // Guarded by mu_:
  std::deque<Event> events_;        // the newest <= max_events, seq ascending
  uint64_t last_seq_ = 0;
  size_t lines_in_file_ = 0;        // newline-terminated lines currently in the file
  bool needs_rewrite_ = false;      // a failed append may have left a partial line
  bool closed_ = false;
};

}  // namespace pk::events
