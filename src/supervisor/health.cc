// The health watch: every health period, exec checks and one pool listing;
// serving pools follow their health (online, degraded, failed, gone).
#include "supervisor/supervisor.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/log.h"
#include "supervisor/internal/state.h"

namespace pk::supervisor {

using internal::IsServing;
using internal::IsUp;
using internal::Resource;

void Supervisor::ScheduleHealth() {
  loop_.PostAt(clock_.SteadyNow() + options_.health_period, [this] {
    ScheduleHealth();
    // Exec resources with a check command: each check runs on its own worker;
    // the resource is busy meanwhile, so a hung check never piles up.
    for (auto& [name, s] : execs_) {
      if (s.busy || s.status.state != State::kOnline || s.status.exec->check.empty()) continue;
      s.busy = true;
      loop_.Spawn([this, e = *s.status.exec] {
        auto checked = RunArgv(e.check, e.timeout_seconds, "check");
        Status outcome = checked ? OkStatus() : Status(std::unexpected(checked.error()));
        loop_.Post([this, name = e.name, outcome] {
          auto it = execs_.find(name);
          if (it == execs_.end()) return;
          it->second.busy = false;
          if (!outcome && it->second.status.state == State::kOnline) {
            it->second.want_up = false;
            SetState(it->second, State::kFailed, outcome.error().message());
            Advance();
          }
        });
      });
    }
    if (health_in_flight_) return;  // a hung check never piles up
    bool any = std::any_of(services_.begin(), services_.end(),
                           [](const auto& kv) { return IsServing(kv.second.status.state) && !kv.second.busy; });
    if (!any) return;
    health_in_flight_ = true;
    loop_.Spawn([this] {
      auto zfs = zfs_factory_(options_.health_timeout);
      auto pools = zfs->ListPools();
      loop_.Post([this, pools] {
        health_in_flight_ = false;
        if (!pools) {
          GetLogger("service")->warn("health check failed: {}", pools.error().message());
          return;
        }
        ApplyHealth(*pools);
      });
    });
  });
}

void Supervisor::ApplyHealth(const std::vector<zfs::PoolSummary>& pools) {
  for (auto& [name, s] : services_) {
    if (s.busy || !IsServing(s.status.state)) continue;
    auto it = std::find_if(pools.begin(), pools.end(), [&](const auto& p) { return p.name == name; });
    if (it == pools.end()) {
      s.want_up = false;
      SetState(s, State::kExported, "the pool is no longer imported (exported outside Poolkeeper?)");
      continue;
    }
    s.status.health = it->health;
    if (it->health == "ONLINE" || it->health == "DEGRADED") {
      SettleServing(s, s.status.state == State::kOnline ? s.status.reason : "pool health back to ONLINE");
    } else {
      SetState(s, State::kFailed, fmt::format("pool health {}", it->health));
    }
  }
}

void Supervisor::SettleServing(Service& s, std::string online_reason) {
  if (s.status.health == "DEGRADED") {
    SetState(s, State::kDegraded, "pool health DEGRADED ('poolkeeper pool status' shows which device)");
  } else if (!s.share_problems.empty() || !s.migration_problems.empty()) {
    std::vector<std::string> parts;
    if (!s.share_problems.empty()) {
      parts.push_back(fmt::format("{} share(s) not served: {}", s.share_problems.size(), fmt::join(s.share_problems, "; ")));
    }
    if (!s.migration_problems.empty()) {
      parts.push_back(fmt::format("{} migration(s) not run: {}", s.migration_problems.size(),
                                  fmt::join(s.migration_problems, "; ")));
    }
    SetState(s, State::kDegraded, fmt::format("{}", fmt::join(parts, "; ")));
  } else {
    SetState(s, State::kOnline, std::move(online_reason));
  }
}

void Supervisor::ReportShares(const std::string& pool, std::vector<std::string> problems) {
  loop_.Post([this, pool, problems = std::move(problems)] {
    Service* s = Find(pool);
    if (!s) return;
    s->share_problems = problems;
    if (!s->busy && IsServing(s->status.state)) SettleServing(*s, problems.empty() ? "all shares served" : "");
  });
}

void Supervisor::ReportMigrations(const std::string& pool, std::vector<std::string> problems) {
  loop_.Post([this, pool, problems = std::move(problems)] {
    Service* s = Find(pool);
    if (!s || s->migration_problems == problems) return;
    s->migration_problems = problems;
    if (!s->busy && IsServing(s->status.state)) SettleServing(*s, problems.empty() ? "held migrations released" : "");
  });
}

}  // namespace pk::supervisor
