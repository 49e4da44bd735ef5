#include "protect/scrub_scheduler.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "base/log.h"
#include "base/time.h"

namespace pk::protect {
namespace {

using State = zfs::ScanProgress::State;
using std::chrono::minutes;
using std::chrono::seconds;

// How long a started scrub may stay unseen in `zpool status` before the pool is judged again.
constexpr seconds kStartGrace = minutes(10);
// A failed start is tried again after this, or after the interval when shorter.
constexpr seconds kRetryAfter = std::chrono::hours(1);

std::optional<Seconds> Epoch(const std::string& text) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return Seconds(seconds(v));
}

// The end of the pool's last scan, when zpool status shows one that ended.
std::optional<Seconds> LastScanEnd(const zfs::ScanProgress& scan) {
  if (scan.state != State::kFinished && scan.state != State::kCanceled) return std::nullopt;
  return ParseZpoolTime(scan.end_time);
}

std::string When(std::optional<Seconds> t) { return t ? FormatRfc3339(*t) : "never"; }

}  // namespace

std::vector<ScrubTarget> ScrubTargetsOf(const inventory::Snapshot& view, const HeldCheck& held) {
  std::vector<ScrubTarget> out;
  for (const auto& entry : view.pools) {
    if (entry.status.name.empty()) continue;  // no status read yet
    auto pool = zfs::PoolName::Parse(entry.summary.name);
    if (!pool) continue;
    ScrubTarget t{*pool};
    t.guid = entry.summary.guid;
    t.health = entry.status.state.empty() ? entry.summary.health : entry.status.state;
    t.scan = entry.status.scan_progress;
    if (held) t.held = held(pool->str()).value_or("");
    if (auto root = view.datasets.find(pool->str()); root != view.datasets.end()) {
      t.created = Epoch(root->second.Get("creation"));
      if (auto prop = root->second.properties.find(kScrubProperty);
          prop != root->second.properties.end() && (prop->second.source == zfs::PropertySource::kLocal ||
                                                   prop->second.source == zfs::PropertySource::kReceived)) {
        t.source = "local";
        t.policy = ScrubPolicy::Parse(prop->second.value);
      }
    }
    out.push_back(std::move(t));
  }
  return out;
}

void ScrubScheduler::Event(const zfs::PoolName& pool, const std::string& state, const std::string& reason) {
  auto appended = events_.Append({0, {}, "scan:" + pool.str(), state, "", reason});
  if (!appended) GetLogger("protect")->error("event log: {}", appended.error().message());
}

Status ScrubScheduler::RunOnce(const std::vector<ScrubTarget>& targets) {
  Seconds now = std::chrono::floor<seconds>(clock_.Now());
  auto tp = [](std::optional<Seconds> t) -> std::optional<std::chrono::system_clock::time_point> {
    if (!t) return std::nullopt;
    return std::chrono::system_clock::time_point(*t);
  };
  std::string busy;  // a pool scanning here: nothing else starts
  for (const auto& t : targets) {
    if (t.scan.state == State::kScanning) busy = t.pool.str();
  }
  struct Due {
    const ScrubTarget* target;
    Seconds at;
  };
  std::vector<Due> due;
  std::map<std::string, ScrubStatus> next;
  for (const auto& t : targets) {
    const std::string name = t.pool.str();
    ScrubStatus st;
    st.pool = name;
    st.source = t.source;
    if (auto r = requested_.find(name); r != requested_.end()) st.last_requested = tp(r->second);
    auto end = LastScanEnd(t.scan);
    st.last_scan_end = tp(end);
    if (!t.policy) {
      st.state = "error";
      st.reason = t.policy.error().message();
      {
        std::lock_guard lock(mu_);
        auto old = status_.find(name);
        if (old == status_.end() || old->second.reason != st.reason) Event(t.pool, "scrub-schedule-invalid", st.reason);
      }
      next[name] = st;
      continue;
    }
    const ScrubPolicy& p = *t.policy;
    st.policy = p.str();
    std::optional<Seconds> since = end ? end : t.created;
    std::optional<Seconds> at = since ? ScrubDue(p, *since, t.guid) : std::nullopt;
    st.next_run = tp(at);
    // A start of ours that `zpool status` does not show yet: wait for it.
    if (auto r = requested_.find(name); r != requested_.end()) {
      bool seen = t.scan.state == State::kScanning || (end && *end + seconds(1) >= r->second);
      if (seen || now - r->second > kStartGrace) {
        requested_.erase(r);
      } else {
        st.state = "scanning";
        st.reason = fmt::format("scrub requested at {}; not in zpool status yet", FormatRfc3339(r->second));
        next[name] = st;
        continue;
      }
    }
    if (t.scan.state == State::kScanning) {
      st.state = "scanning";
      st.reason = fmt::format("{} running", zfs::ScanKindName(t.scan.kind));
    } else if (t.scan.state == State::kPaused) {
      st.state = "paused";
      st.reason = "a paused scrub waits for its administrator (pool scrub to resume, --stop to cancel)";
    } else if (!t.held.empty()) {
      st.state = "held";
      st.reason = t.held;
    } else if (p.off) {
      st.state = "off";
      st.reason = "scrub schedule is off";
    } else if (t.health != "ONLINE" && t.health != "DEGRADED") {
      st.state = "not-scheduled";
      st.reason = fmt::format("pool is {}", t.health.empty() ? "of unknown health" : t.health);
    } else if (!at) {
      st.state = "not-scheduled";
      st.reason = "neither a last scan nor the pool's creation time is known";
    } else if (*at > now) {
      st.state = "scheduled";
    } else {
      st.state = "due";
      due.push_back({&t, *at});
    }
    next[name] = st;
  }

  Status result = OkStatus();
  std::sort(due.begin(), due.end(), [](const Due& a, const Due& b) { return a.at < b.at; });
  for (const auto& d : due) {
    const ScrubTarget& t = *d.target;
    const std::string name = t.pool.str();
    ScrubStatus& st = next[name];
    if (!busy.empty()) {
      st.reason = fmt::format("waiting for the scan of pool '{}'", busy);
      continue;
    }
    const ScrubPolicy& p = *t.policy;
    if (auto f = failed_.find(name); f != failed_.end() && now - f->second < std::min(kRetryAfter, p.interval)) {
      std::lock_guard lock(mu_);
      if (auto old = status_.find(name); old != status_.end()) st.last_error = old->second.last_error;
      st.reason = "the last start failed; tried again at " + FormatRfc3339(f->second + std::min(kRetryAfter, p.interval));
      continue;
    }
    Status started = zfs_.Scrub(t.pool, zfs::ScrubAction::kStart);
    if (!started) {
      failed_[name] = now;
      st.last_error = fmt::format("scheduled scrub of pool '{}' could not start: {}", name, started.error().message());
      GetLogger("protect")->warn("pool={} {}", name, st.last_error);
      Event(t.pool, "scrub-request-failed", st.last_error);
      if (result) result = std::unexpected(Error(started.error().code(), st.last_error));
      continue;
    }
    failed_.erase(name);
    requested_[name] = now;
    busy = name;
    st.state = "scanning";
    st.reason = "scrub requested by its schedule";
    st.last_requested = tp(now);
    Event(t.pool, "scrub-requested",
          fmt::format("scheduled scrub of pool '{}' started (schedule '{}' ({}), the last scan ended {})", name,
                      p.str(), t.source, When(LastScanEnd(t.scan))));
    if (on_started_) on_started_(t.pool);
  }
  std::erase_if(requested_, [&](const auto& e) { return !next.contains(e.first); });
  std::erase_if(failed_, [&](const auto& e) { return !next.contains(e.first); });
  std::lock_guard lock(mu_);
  status_ = std::move(next);
  return result;
}

void ScrubScheduler::Start(std::function<std::vector<ScrubTarget>()> targets, std::chrono::milliseconds rescan) {
  targets_ = std::move(targets);
  rescan_ = rescan;
  loop_.Start();
  loop_.Post([this] { Pass(generation_); });
}

void ScrubScheduler::Poke() {
  loop_.Post([this] { Pass(++generation_); });
}

void ScrubScheduler::Pass(uint64_t generation) {
  if (generation != generation_) return;  // a Poke ran a newer pass and scheduled its own wake-up
  (void)RunOnce(targets_());               // failures are events and statuses
  auto now = clock_.Now();
  auto wake = now + rescan_;
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, st] : status_) {
      if (st.state == "scheduled" && st.next_run) wake = std::min(wake, *st.next_run);
    }
  }
  auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(wake - now) + std::chrono::milliseconds(200);
  loop_.PostAfter(std::max(delay, std::chrono::milliseconds(200)), [this, generation] { Pass(generation); });
}

std::vector<ScrubStatus> ScrubScheduler::Statuses() const {
  std::lock_guard lock(mu_);
  std::vector<ScrubStatus> out;
  for (const auto& [name, st] : status_) out.push_back(st);
  return out;
}

}  // namespace pk::protect
