#include "inventory/inventory.h"

#include <algorithm>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "base/log.h"

namespace pk::inventory {
namespace {

// Is `name` equal to `root` or below it ("root/x", "root@s", "root/x@s")?
bool InTree(const std::string& name, const std::string& root) {
  if (!name.starts_with(root)) return false;
  if (name.size() == root.size()) return true;
  char next = name[root.size()];
  return next == '/' || next == '@';
}

zfs::ListOptions TreeQuery(const std::string& root) {
  zfs::ListOptions q;
  q.root = root;
  q.recursive = zfs::Recursive::kYes;
  q.types = {zfs::DatasetType::kFilesystem, zfs::DatasetType::kVolume, zfs::DatasetType::kSnapshot};
  q.properties = kInventoryProperties;
  return q;
}

}  // namespace

const PoolEntry* Snapshot::FindPool(const std::string& name) const {
  for (const auto& p : pools) {
    if (p.summary.name == name) return &p;
  }
  return nullptr;
}

Inventory::Inventory(zfs::Zfs& zfs, InventoryOptions options)
    : zfs_(zfs),
      options_(std::move(options)),
      current_(std::make_shared<const Snapshot>()),
      clock_(options_.clock ? *options_.clock : RealClock()),
      loop_(clock_) {}

Inventory::~Inventory() { Stop(); }

std::shared_ptr<const Snapshot> Inventory::Current() const {
  std::lock_guard lock(current_mutex_);
  return current_;
}

Result<std::vector<PoolEntry>> Inventory::ReadPools() {
  PK_ASSIGN_OR_RETURN(auto summaries, zfs_.ListPools());
  std::vector<PoolEntry> pools;
  for (auto& s : summaries) {
    PoolEntry entry{std::move(s), {}};
    entry.status.name = entry.summary.name;
    entry.status.state = entry.summary.health;
    pools.push_back(std::move(entry));
  }
  std::sort(pools.begin(), pools.end(),
            [](const PoolEntry& a, const PoolEntry& b) { return a.summary.name < b.summary.name; });
  return pools;
}

void Inventory::Publish(std::function<void(Snapshot&)> change, Scope scope) {
  std::lock_guard lock(current_mutex_);
  auto next = std::make_shared<Snapshot>(*current_);
  change(*next);
  next->generation = current_->generation + 1;
  if (scope == Scope::kFull) next->last_error.clear();
  // A pool that left the view (exported, destroyed) is forgotten: imported
  // again, its first status read is a first read again, so the scrub it
  // finished before its export is not told as a new event.
  std::erase_if(status_published_, [&](const auto& kv) { return !next->FindPool(kv.first); });
  current_ = std::move(next);
}

void Inventory::RecordError(const Error& error) {
  GetLogger("inventory")->warn("refresh failed: {}", error.message());
  Publish([&](Snapshot& s) { s.last_error = error.message(); }, Scope::kPart);
}

// Replaces the view's pool list with `pools`, keeping any status published
// since `pools` was read (a status read runs outside refresh_mutex_).
static void MergePools(Snapshot& s, std::vector<PoolEntry> pools) {
  for (auto& p : pools) {
    if (const PoolEntry* known = s.FindPool(p.summary.name)) p.status = known->status;
  }
  s.pools = std::move(pools);
}

Status Inventory::RefreshAll() {
  std::vector<std::string> names;
  {
    std::lock_guard refresh(refresh_mutex_);
    auto started = clock_.Now();
    auto pools = ReadPools();
    if (!pools) {
      RecordError(pools.error());
      return std::unexpected(pools.error());
    }
    zfs::ListOptions q;
    q.types = {zfs::DatasetType::kFilesystem, zfs::DatasetType::kVolume, zfs::DatasetType::kSnapshot};
    q.properties = kInventoryProperties;
    std::vector<zfs::Dataset> datasets;
    if (!pools->empty()) {  // `zfs get -r` with no pool at all would print usage
      auto listed = zfs_.ListDatasets(q);
      if (!listed) {
        RecordError(listed.error());
        return std::unexpected(listed.error());
      }
      datasets = std::move(*listed);
    }
    for (const auto& p : *pools) names.push_back(p.summary.name);
    Publish(
        [&](Snapshot& s) {
          MergePools(s, std::move(*pools));
          s.datasets.clear();
          for (auto& d : datasets) {
            std::string name = d.name;
            s.datasets.emplace(std::move(name), std::move(d));
          }
          s.refreshed_at = started;
        },
        Scope::kFull);
  }
  // Outside refresh_mutex_: a pool whose status hangs delays no write's refresh.
  for (const auto& name : names) (void)RefreshStatus(name);
  return OkStatus();
}

Status Inventory::RefreshPool(const std::string& pool) {
  bool imported = false;
  {
    std::lock_guard refresh(refresh_mutex_);
    auto pools = ReadPools();
    if (!pools) {
      RecordError(pools.error());
      return std::unexpected(pools.error());
    }
    imported = std::any_of(pools->begin(), pools->end(), [&](const PoolEntry& p) { return p.summary.name == pool; });
    std::vector<zfs::Dataset> datasets;
    if (imported) {
      auto listed = zfs_.ListDatasets(TreeQuery(pool));
      if (!listed && listed.error().code() != ErrorCode::kNotFound) {
        RecordError(listed.error());
        return std::unexpected(listed.error());
      }
      if (listed) datasets = std::move(*listed);
    }
    Publish(
        [&](Snapshot& s) {
          MergePools(s, std::move(*pools));
          std::erase_if(s.datasets, [&](const auto& kv) { return InTree(kv.first, pool); });
          for (auto& d : datasets) {
            std::string name = d.name;
            s.datasets.insert_or_assign(std::move(name), std::move(d));
          }
        },
        Scope::kPart);
  }
  if (imported) (void)RefreshStatus(pool);  // this pool only, outside refresh_mutex_
  return OkStatus();
}

Status Inventory::RefreshTree(const std::string& name) {
  std::lock_guard refresh(refresh_mutex_);
  std::vector<zfs::Dataset> fresh;
  auto listed = zfs_.ListDatasets(TreeQuery(name));
  if (listed) {
    fresh = std::move(*listed);
  } else if (listed.error().code() != ErrorCode::kNotFound) {
    RecordError(listed.error());
    return std::unexpected(listed.error());
  }
  // Space accounting changes all the way up: re-read the ancestors too (one
  // `zfs get` each: a dataset's depth, not the number of pools).
  std::string ancestor = name.substr(0, name.find('@'));
  if (ancestor == name) {
    auto slash = ancestor.rfind('/');
    ancestor = slash == std::string::npos ? "" : ancestor.substr(0, slash);
  }
  while (!ancestor.empty()) {
    auto d = zfs_.GetDataset(ancestor, kInventoryProperties);
    if (d) fresh.push_back(std::move(*d));
    auto slash = ancestor.rfind('/');
    ancestor = slash == std::string::npos ? "" : ancestor.substr(0, slash);
  }
  auto pools = ReadPools();
  Publish(
      [&](Snapshot& s) {
        if (pools) MergePools(s, std::move(*pools));
        std::erase_if(s.datasets, [&](const auto& kv) { return InTree(kv.first, name); });
        for (auto& d : fresh) {
          std::string n = d.name;
          s.datasets.insert_or_assign(std::move(n), std::move(d));
        }
      },
      Scope::kPart);
  return OkStatus();
}

Status Inventory::RefreshStatus(const std::string& pool) {
  auto name = zfs::PoolName::Parse(pool);
  if (!name) return std::unexpected(name.error());
  uint64_t ticket = 0;
  {
    std::lock_guard lock(current_mutex_);
    ticket = ++next_status_ticket_;
  }
  auto status = zfs_.GetPoolStatus(*name);
  // A pool exported meanwhile: the next pool list read drops it from the view.
  if (!status && status.error().code() == ErrorCode::kNotFound) return OkStatus();
  std::optional<std::pair<zfs::PoolStatus, zfs::PoolStatus>> changed;  // before, after: told outside the lock
  {
    std::lock_guard lock(current_mutex_);
    if (status_published_[pool] > ticket) return OkStatus();  // a newer read was published
    if (!current_->FindPool(pool)) return OkStatus();
    const bool read_before = status_published_[pool] != 0;
    status_published_[pool] = ticket;
    auto next = std::make_shared<Snapshot>(*current_);
    for (auto& entry : next->pools) {
      if (entry.summary.name != pool) continue;
      if (status) {
        if (read_before && options_.on_status) changed.emplace(entry.status, *status);
        entry.status = std::move(*status);
      } else {
        // One unreadable pool must not hide the others: keep its list entry.
        GetLogger("inventory")->warn("pool={} status unreadable: {}", pool, status.error().message());
        entry.status = {};
        entry.status.name = pool;
        entry.status.state = entry.summary.health;
        entry.status.errors = status.error().message();
      }
    }
    next->generation = current_->generation + 1;
    current_ = std::move(next);
  }
  if (changed) options_.on_status(pool, changed->first, changed->second);
  return OkStatus();
}

void Inventory::StartPeriodic() {
  loop_.Start();
  loop_.Post([this] { RefreshPeriodically(); });
}

void Inventory::RefreshPeriodically() {
  if (stopping_) return;
  auto started = clock_.SteadyNow();
  (void)RefreshAll();  // failures are recorded in the view
  auto took = clock_.SteadyNow() - started;
  // A change made just after a refresh started shows up when the next one
  // is published. Starting the next one period - refresh time after this
  // start keeps every view at most one period out of date:
  // next start = this start + period - refresh time (at once when refreshing takes longer).
  loop_.PostAt(started + options_.period - took, [this] { RefreshPeriodically(); });
}

void Inventory::RefreshPoolSoon(const std::string& pool) {
  {
    std::lock_guard lock(pending_mutex_);
    if (!pending_pools_.insert(pool).second) return;  // already queued
  }
  loop_.Post([this, pool] {
    {
      std::lock_guard lock(pending_mutex_);
      pending_pools_.erase(pool);
    }
    if (!stopping_) (void)RefreshPool(pool);
  });
}

void Inventory::Stop() {
  stopping_ = true;
  loop_.Stop();
}

}  // namespace pk::inventory
