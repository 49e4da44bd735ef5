#include "quota/watcher.h"

#include <charconv>

#include <fmt/format.h>

#include "base/log.h"

namespace pk::quota {

Result<std::vector<int>> ParseThresholds(std::string_view text) {
  std::vector<int> out;
  if (text.empty() || text == "none") return out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view part = text.substr(start, comma - start);
    int v = 0;
    auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
    if (part.empty() || ec != std::errc() || p != part.data() + part.size() || v < 1 || v > 100) {
      return InvalidArgument(fmt::format("quota warning thresholds '{}': '{}' is not a whole percentage from 1 to 100",
                                         text, part));
    }
    if (!out.empty() && v <= out.back()) {
      return InvalidArgument(fmt::format("quota warning thresholds '{}' must increase ({} after {})", text, v, out.back()));
    }
    out.push_back(v);
    start = comma + 1;
  }
  if (out.size() > 8) return InvalidArgument(fmt::format("quota warning thresholds '{}': at most 8", text));
  return out;
}

void Watcher::Start(std::chrono::milliseconds period, std::function<std::vector<WarnTarget>()> targets) {
  loop_.Start();
  loop_.PostAfter(period, [this, period, targets = std::move(targets)] { CheckEvery(period, targets); });
}

void Watcher::CheckEvery(std::chrono::milliseconds period, std::function<std::vector<WarnTarget>()> targets) {
  (void)Check(targets());  // failures are logged
  loop_.PostAfter(period, [this, period, targets = std::move(targets)] { CheckEvery(period, targets); });
}

void Watcher::Stop() { loop_.Stop(); }

Status Watcher::Check(const std::vector<WarnTarget>& targets) {
  Status first = OkStatus();
  for (const auto& t : targets) {
    for (auto kind : {zfs::QuotaKind::kUser, zfs::QuotaKind::kGroup}) {
      auto quotas = zfs_.ListQuotas(t.dataset, kind);
      if (!quotas) {
        GetLogger("quota")->warn("dataset={} {}", t.dataset.str(), quotas.error().message());
        if (first) first = std::unexpected(quotas.error());
        continue;
      }
      for (const auto& q : *quotas) {
        if (q.quota == 0) continue;
        std::string who = q.id ? std::to_string(*q.id) : q.zfs_name;
        std::string key = fmt::format("{}/{}:{}", t.dataset.str(), zfs::QuotaKindName(kind), who);
        double pct = 100.0 * static_cast<double>(q.used) / static_cast<double>(q.quota);
        int level = 0;
        for (int th : t.thresholds) {
          if (pct >= th) level = th;
        }
        int& seen = level_[key];
        if (level == seen) continue;
        std::string reason =
            level > 0 ? fmt::format("{} {} uses {:.0f}% of its quota on '{}' (threshold {}%)", zfs::QuotaKindName(kind),
                                    who, pct, t.dataset.str(), level)
                      : fmt::format("{} {} is back under {}% of its quota on '{}' ({:.0f}%)", zfs::QuotaKindName(kind),
                                    who, t.thresholds.front(), t.dataset.str(), pct);
        auto appended = events_.Append({0, {}, "quota:" + key, level > 0 ? "warning" : "ok",
                                        seen > 0 ? "warning" : "", reason});
        if (!appended) GetLogger("quota")->error("event log: {}", appended.error().message());
        seen = level;
      }
    }
  }
  return first;
}

}  // namespace pk::quota
