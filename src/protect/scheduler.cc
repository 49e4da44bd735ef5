#include "protect/scheduler.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/log.h"
#include "base/time.h"

namespace pk::protect {
namespace {

struct Own {
  zfs::SnapshotName name;
  Seconds time;
  bool held = false;
};

}  // namespace

void Scheduler::Event(const zfs::DatasetName& dataset, const std::string& state, const std::string& reason) {
  auto appended = events_.Append({0, {}, "snapshot:" + dataset.str(), state, "", reason});
  if (!appended) GetLogger("protect")->error("event log: {}", appended.error().message());
}

void Scheduler::Fail(const zfs::DatasetName& dataset, const std::string& reason) {
  GetLogger("protect")->warn("dataset={} {}", dataset.str(), reason);
  Event(dataset, "failed", reason);
}

Status Scheduler::RunOnce(const std::vector<Target>& targets) {
  Seconds now = std::chrono::floor<std::chrono::seconds>(clock_.Now());
  Status first = OkStatus();
  for (const auto& t : targets) {
    Status s = RunTarget(t, now);
    if (!s && first) first = s;
  }
  // Datasets that lost their policy (cleared, or the pool went away) leave the status.
  std::lock_guard lock(mu_);
  std::erase_if(status_, [&](const auto& entry) {
    return std::none_of(targets.begin(), targets.end(), [&](const Target& t) { return t.dataset.str() == entry.first; });
  });
  std::erase_if(failed_slot_, [&](const auto& entry) { return !status_.contains(entry.first); });
  return first;
}

Status Scheduler::RunTarget(const Target& t, Seconds now) {
  const auto& ds = t.dataset;
  DatasetStatus st;
  {
    std::lock_guard lock(mu_);
    if (auto it = status_.find(ds.str()); it != status_.end()) st = it->second;
  }
  st.dataset = ds.str();
  st.source = t.source;
  st.last_run = clock_.Now();
  auto save = [&] {
    std::lock_guard lock(mu_);
    status_[ds.str()] = st;
  };
  if (!t.policy) {
    // A property set behind our back that does not parse: reported, nothing is taken or pruned.
    st.policy = "";
    st.next_run.reset();
    std::string reason = fmt::format("snapshot policy of '{}' ({}): {}", ds.str(), t.source, t.policy.error().message());
    if (st.last_error != reason) Fail(ds, reason);
    st.last_error = reason;
    save();
    return std::unexpected(Error(ErrorCode::kInvalidArgument, reason));
  }
  const Policy& p = *t.policy;
  if (!t.held.empty()) {
    // A pool made elsewhere and not adopted: its policy is shown, never run.
    st.policy = p.ToProperty();
    st.next_run.reset();
    st.last_error = t.held;
    save();
    return OkStatus();
  }
  std::string last_policy = st.policy;
  st.policy = p.ToProperty();
  st.next_run = p.schedule.NextSlot(now);
  std::vector<std::string> errors;
  Seconds slot = p.schedule.LastSlot(now);
  // Known from the last pass to be up to date (same policy, newest snapshot
  // in this slot, no error): no tool runs until the next slot.
  if (st.policy == last_policy && st.last_error.empty() && !st.last_snapshot.empty()) {
    size_t at = st.last_snapshot.find('@');
    auto newest = LabelTime(p.prefix, std::string_view(st.last_snapshot).substr(at + 1));
    if (newest && *newest >= slot) {
      save();
      return OkStatus();
    }
  }

  auto list = [&]() -> Result<std::vector<Own>> {
    PK_ASSIGN_OR_RETURN(auto all, zfs_.ListDatasets({.root = ds.str(),
                                                     .recursive = zfs::Recursive::kYes,
                                                     .types = {zfs::DatasetType::kSnapshot},
                                                     .properties = {"userrefs"}}));
    std::vector<Own> own;
    for (const auto& d : all) {
      size_t at = d.name.find('@');
      if (at == std::string::npos || d.name.compare(0, at, ds.str()) != 0 || at != ds.str().size()) continue;
      auto time = LabelTime(p.prefix, std::string_view(d.name).substr(at + 1));
      if (!time) continue;
      auto name = zfs::SnapshotName::Parse(d.name);
      if (!name) continue;
      std::string refs = d.Get("userrefs");
      own.push_back({*name, *time, !refs.empty() && refs != "0" && refs != "-"});
    }
    std::sort(own.begin(), own.end(), [](const Own& a, const Own& b) { return a.time < b.time; });
    return own;
  };
  auto own = list();
  if (!own) {
    std::string reason = fmt::format("snapshot schedule of '{}': {}", ds.str(), own.error().message());
    Fail(ds, reason);
    st.last_error = reason;
    save();
    return std::unexpected(own.error());
  }

  bool changed = false;
  bool due = own->empty() || own->back().time < slot;
  auto failed = failed_slot_.find(ds.str());
  bool retry_later = due && failed != failed_slot_.end() && failed->second == slot;
  if (due && !retry_later) {
    auto snap = zfs::SnapshotName::Make(ds, SnapshotLabel(p.prefix, now));
    Status made = snap ? zfs_.CreateSnapshot(*snap, zfs::Recursive::kNo) : Status(std::unexpected(snap.error()));
    if (made) {
      failed_slot_.erase(ds.str());
      changed = true;
      own->push_back({*snap, now, false});
      Event(ds, "taken", fmt::format("snapshot '{}' taken (schedule '{}')", snap->str(), p.schedule.str()));
    } else {
      failed_slot_[ds.str()] = slot;
      std::string reason = fmt::format("snapshot of '{}' failed (schedule '{}', retried at {}): {}", ds.str(),
                                       p.schedule.str(), FormatRfc3339(*st.next_run), made.error().message());
      Fail(ds, reason);
      errors.push_back(reason);
    }
  }

  std::vector<Seconds> times;
  for (const auto& o : *own) times.push_back(o.time);
  auto keep = KeepByGrid(times, p.keep);
  size_t remaining = own->size();
  for (size_t i = 0; i < own->size(); ++i) {
    const Own& o = (*own)[i];
    if (keep[i]) continue;
    if (o.held) continue;  // `zfs hold`: the admin's; kept until released, then pruned by the next pass
    if (hook_) {
      if (auto why = hook_->WhyKeep(o.name)) {
        GetLogger("protect")->debug("dataset={} keeping {}: {}", ds.str(), o.name.str(), *why);
        continue;
      }
    }
    Status gone = zfs_.DestroySnapshot(o.name, zfs::Recursive::kNo);
    if (gone) {
      changed = true;
      --remaining;
      Event(ds, "pruned", fmt::format("snapshot '{}' pruned (retention '{}')", o.name.str(), p.keep.str()));
    } else {
      std::string reason = fmt::format("pruning '{}' failed: {}", o.name.str(), gone.error().message());
      Fail(ds, reason);
      errors.push_back(reason);
    }
  }
  if (changed && on_changed_) on_changed_(ds);

  st.snapshots = remaining;
  st.last_snapshot = own->empty() ? "" : own->back().name.str();
  // A failed snapshot waiting for its next slot keeps its error in the status.
  if (!retry_later) st.last_error = fmt::format("{}", fmt::join(errors, "; "));
  save();
  if (!errors.empty()) return std::unexpected(Error(ErrorCode::kInternal, errors.front()));
  return OkStatus();
}

void Scheduler::Start(std::function<std::vector<Target>()> targets, std::chrono::milliseconds rescan) {
  targets_ = std::move(targets);
  rescan_ = rescan;
  loop_.Start();
  loop_.Post([this] { Pass(generation_); });
}

void Scheduler::Poke() {
  loop_.Post([this] { Pass(++generation_); });
}

void Scheduler::Pass(uint64_t generation) {
  if (generation != generation_) return;  // a Poke ran a newer pass and scheduled its own wake-up
  auto targets = targets_();
  (void)RunOnce(targets);  // failures are events and statuses
  // Both clocks read together: the timer runs on the steady one, slots are on the wall.
  auto steady_now = clock_.SteadyNow();
  auto now = clock_.Now();
  auto wake = now + rescan_;
  for (const auto& t : targets) {
    if (!t.policy) continue;
    auto next = t.policy->schedule.NextSlot(std::chrono::floor<std::chrono::seconds>(now));
    wake = std::min<std::chrono::system_clock::time_point>(wake, next);
  }
  // A little after the slot, so the wall clock has surely reached it.
  auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(wake - now) + std::chrono::milliseconds(200);
  loop_.PostAt(steady_now + delay, [this, generation] { Pass(generation); });
}

void Scheduler::Stop() { loop_.Stop(); }

std::vector<DatasetStatus> Scheduler::Statuses() const {
  std::lock_guard lock(mu_);
  std::vector<DatasetStatus> out;
  for (const auto& [name, st] : status_) out.push_back(st);
  return out;
}

}  // namespace pk::protect
