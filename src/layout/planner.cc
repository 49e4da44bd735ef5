#include "layout/planner.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include "layout/internal/zfs_space.h"

namespace pk::layout {
namespace {

using internal::kMiB;
using Kind = zfs::VdevGroup::Kind;

struct ProfileInfo {
  Profile profile;
  std::string_view name;
  Kind kind;
  int parity;      // raidz parity; 0 otherwise
  int ways;        // mirror copies; 1 for stripe, 0 for raidz
  int tolerated;   // disks a vdev can lose
  int sweet_width; // preferred raidz width when the planner chooses
  int max_width;   // widest raidz vdev the planner proposes on its own
};

constexpr ProfileInfo kProfiles[] = {
    {Profile::kStripe, "stripe", Kind::kSingle, 0, 1, 0, 1, 1},
    {Profile::kMirror2, "mirror2", Kind::kMirror, 0, 2, 1, 2, 2},
    {Profile::kMirror3, "mirror3", Kind::kMirror, 0, 3, 2, 3, 3},
    {Profile::kRaidz1, "raidz1", Kind::kRaidz1, 1, 0, 1, 5, 9},
    {Profile::kRaidz2, "raidz2", Kind::kRaidz2, 2, 0, 2, 8, 12},
    {Profile::kRaidz3, "raidz3", Kind::kRaidz3, 3, 0, 3, 11, 16},
};

const ProfileInfo& Info(Profile profile) {
  for (const auto& info : kProfiles) {
    if (info.profile == profile) return info;
  }
  return kProfiles[0];
}

bool IsRaidz(const ProfileInfo& info) { return info.parity > 0; }

// Most members of one vdev that may share an enclosure under NSPF.
int EnclosureCap(const ProfileInfo& info) {
  return IsRaidz(info) ? info.parity : info.ways - 1;
}

std::string EnclosureOf(const Disk& disk) { return disk.enclosure.value_or(""); }
uint64_t SizeOf(const Disk& disk) { return static_cast<uint64_t>(disk.size_bytes); }

// zpool create refuses (without -f) a mirror or raidz whose members differ by
// more than ZPOOL_FUZZ = 16 MiB (cmd/zpool/zpool_vdev.c), whatever the
// relative tolerance says; the smaller of the two limits applies.
constexpr uint64_t kZpoolFuzz = 16ULL << 20;

uint64_t AllowedShortfall(uint64_t largest, double tolerance) {
  return std::min<uint64_t>(kZpoolFuzz, static_cast<uint64_t>(static_cast<double>(largest) * tolerance));
}

bool WithinTolerance(uint64_t size, uint64_t largest, double tolerance) {
  return size <= largest && largest - size <= AllowedShortfall(largest, tolerance);
}

Status ValidateOptions(const PlanOptions& o) {
  if (o.ashift < 9 || o.ashift > 16) {
    return InvalidArgument(fmt::format("ashift {} is out of range: ZFS accepts 9 to 16", o.ashift));
  }
  if (o.recordsize < 512 || o.recordsize > 16 * kMiB || (o.recordsize & (o.recordsize - 1)) != 0) {
    return InvalidArgument(
        fmt::format("recordsize {} is invalid: it must be a power of two from 512 B to 16 MiB", o.recordsize));
  }
  if (o.spares < 0 || o.log_devices < 0 || o.cache_devices < 0) {
    return InvalidArgument("spare, log and cache device counts must not be negative");
  }
  if (o.log_devices > 1 && o.log_devices % 2 != 0) {
    return InvalidArgument(fmt::format(
        "{} log devices requested: log devices are mirrored in pairs, so give 1 or an even number",
        o.log_devices));
  }
  if (!(o.size_tolerance >= 0.0 && o.size_tolerance < 1.0)) {
    return InvalidArgument(fmt::format("size tolerance {} must be at least 0 and below 1", o.size_tolerance));
  }
  return OkStatus();
}

Status ValidateDisks(const std::vector<Disk>& disks, Nspf nspf) {
  std::set<std::string> seen;
  for (const auto& d : disks) {
    if (d.path.empty()) return InvalidArgument("a disk has an empty path");
    if (!seen.insert(d.path).second) {
      return InvalidArgument(fmt::format("disk '{}' is listed twice: each disk can be used once", d.path));
    }
    if (d.size_bytes <= 0) {
      return InvalidArgument(
          fmt::format("disk '{}' has size {} bytes: a disk size must be positive", d.path, d.size_bytes));
    }
    if (SizeOf(d) < internal::kMinDeviceSize) {
      return InvalidArgument(fmt::format("disk '{}' is {}: ZFS needs at least 64 MiB per device", d.path,
                                         FormatBytes(SizeOf(d))));
    }
    if (d.enclosure && d.enclosure->empty()) {
      return InvalidArgument(fmt::format("disk '{}' has an empty enclosure id (leave it unset when unknown)", d.path));
    }
  }
  if (nspf == Nspf::kYes) {
    for (const auto& d : disks) {
      if (!d.enclosure) {
        return FailedPrecondition(fmt::format(
            "no single point of failure is impossible: enclosure unknown for disk '{}'", d.path));
      }
    }
  }
  return OkStatus();
}

// Removes and returns the disk at `index` of `pool`.
Disk Take(std::vector<Disk>& pool, size_t index) {
  Disk d = std::move(pool[index]);
  pool.erase(pool.begin() + static_cast<std::ptrdiff_t>(index));
  return d;
}

std::map<std::string, int> CountByEnclosure(const std::vector<Disk>& disks) {
  std::map<std::string, int> counts;
  for (const auto& d : disks) ++counts[EnclosureOf(d)];
  return counts;
}

struct Selection {
  std::vector<std::vector<Disk>> logs;
  std::vector<Disk> cache;
  std::vector<Disk> spares;
  std::vector<Disk> data;
};

// Log and cache devices from the solid-state disks (smallest first), then spares
// (largest, spread across enclosures); the rest is for data vdevs.
Result<Selection> SelectRoles(std::vector<Disk> pool, const PlanOptions& o) {
  Selection s;
  std::sort(pool.begin(), pool.end(), [](const Disk& a, const Disk& b) {
    return std::tie(a.size_bytes, a.path) < std::tie(b.size_bytes, b.path);
  });
  int ssd_count = static_cast<int>(std::count_if(pool.begin(), pool.end(), [](const Disk& d) { return !d.rotational; }));
  if (o.log_devices + o.cache_devices > ssd_count) {
    return FailedPrecondition(fmt::format(
        "{} log and {} cache devices requested but only {} non-rotational disk(s) are available "
        "(log and cache devices must be solid-state)",
        o.log_devices, o.cache_devices, ssd_count));
  }
  auto smallest_ssd = [&](const std::string* other_enclosure) -> std::optional<size_t> {
    std::optional<size_t> fallback;
    for (size_t i = 0; i < pool.size(); ++i) {
      if (pool[i].rotational) continue;
      if (!fallback) fallback = i;
      if (other_enclosure == nullptr || EnclosureOf(pool[i]) != *other_enclosure) return i;
    }
    return other_enclosure != nullptr && o.nspf == Nspf::kYes ? std::nullopt : fallback;
  };
  if (o.log_devices == 1) {
    s.logs.push_back({Take(pool, *smallest_ssd(nullptr))});
  } else {
    for (int i = 0; i < o.log_devices / 2; ++i) {
      Disk first = Take(pool, *smallest_ssd(nullptr));
      std::string enclosure = EnclosureOf(first);
      auto second = smallest_ssd(&enclosure);
      if (!second) {
        return FailedPrecondition(fmt::format(
            "no single point of failure: log mirror {} needs solid-state disks in two enclosures, "
            "but the remaining ones are all in enclosure '{}'",
            i, enclosure));
      }
      s.logs.push_back({std::move(first), Take(pool, *second)});
    }
  }
  for (int i = 0; i < o.cache_devices; ++i) s.cache.push_back(Take(pool, *smallest_ssd(nullptr)));

  if (o.spares > 0 && static_cast<int>(pool.size()) <= o.spares) {
    return FailedPrecondition(fmt::format("{} spare(s) requested but only {} disk(s) remain after log and cache",
                                          o.spares, pool.size()));
  }
  std::map<std::string, int> taken;
  for (int i = 0; i < o.spares; ++i) {
    auto remaining = CountByEnclosure(pool);
    uint64_t largest = 0;
    for (const auto& d : pool) largest = std::max(largest, SizeOf(d));
    // Preference: largest size class, then the enclosure with the fewest spares
    // and the most disks, then the larger disk. Under NSPF the spread comes first.
    auto key = [&](const Disk& d) {
      int outside = WithinTolerance(SizeOf(d), largest, o.size_tolerance) ? 0 : 1;
      int spares_there = taken[EnclosureOf(d)];
      int first = o.nspf == Nspf::kYes ? spares_there : outside;
      int second = o.nspf == Nspf::kYes ? outside : spares_there;
      return std::make_tuple(first, second, -remaining[EnclosureOf(d)], -d.size_bytes, d.path);
    };
    size_t best = 0;
    for (size_t j = 1; j < pool.size(); ++j) {
      if (key(pool[j]) < key(pool[best])) best = j;
    }
    ++taken[EnclosureOf(pool[best])];
    s.spares.push_back(Take(pool, best));
  }
  s.data = std::move(pool);
  return s;
}

struct Placement {
  std::vector<std::vector<Disk>> vdevs;
  std::vector<Disk> unused;
};

// Fills `count` vdevs of `width` disks. Disks of similar size share a vdev, and a
// vdev's members are spread across enclosures; under NSPF at most `cap` members of
// a vdev share an enclosure. Under NSPF, kSizeFirst keeps sizes together first;
// kDrainFirst takes from the fullest enclosures first, which always finds a
// placement when the enclosure counts allow one, possibly mixing sizes.
enum class Priority { kSizeFirst, kDrainFirst };

Result<Placement> Place(std::vector<Disk> pool, int width, int count, const ProfileInfo& info,
                        const PlanOptions& o, Priority priority) {
  bool nspf = o.nspf == Nspf::kYes;
  int cap = EnclosureCap(info);
  Placement out;
  for (int v = 0; v < count; ++v) {
    std::vector<Disk> members;
    std::map<std::string, int> in_vdev;
    // The vdev's size: the largest size that enough remaining disks share, so that
    // a lone large disk is left over rather than dragged into a vdev of small ones.
    uint64_t anchor = 0;
    for (const auto& d : pool) anchor = std::max(anchor, SizeOf(d));
    std::vector<uint64_t> sizes;
    for (const auto& d : pool) sizes.push_back(SizeOf(d));
    std::sort(sizes.rbegin(), sizes.rend());
    for (uint64_t candidate : sizes) {
      auto similar = std::count_if(sizes.begin(), sizes.end(), [&](uint64_t size) {
        return size <= candidate && WithinTolerance(size, candidate, o.size_tolerance);
      });
      if (similar >= width) {
        anchor = candidate;
        break;
      }
    }
    for (int m = 0; m < width; ++m) {
      auto remaining = CountByEnclosure(pool);
      auto key = [&](const Disk& d) {
        const std::string e = EnclosureOf(d);
        int outside = WithinTolerance(SizeOf(d), anchor, o.size_tolerance) ? 0 : 1;
        int64_t distance = std::llabs(static_cast<int64_t>(anchor) - d.size_bytes);
        if (nspf && priority == Priority::kDrainFirst) {
          return std::make_tuple(-remaining[e], in_vdev[e], outside, distance, d.path);
        }
        if (nspf) {
          return std::make_tuple(outside, -remaining[e], in_vdev[e], distance, d.path);
        }
        return std::make_tuple(outside, in_vdev[e], -remaining[e], distance, d.path);
      };
      std::optional<size_t> best;
      for (size_t j = 0; j < pool.size(); ++j) {
        if (nspf && in_vdev[EnclosureOf(pool[j])] >= cap) continue;
        if (!best || key(pool[j]) < key(pool[*best])) best = j;
      }
      if (!best) {
        return FailedPrecondition(fmt::format(
            "no single point of failure: cannot fill {} vdev {} without putting more than {} of its "
            "members in one enclosure",
            info.name, v, cap));
      }
      ++in_vdev[EnclosureOf(pool[*best])];
      if (nspf && m == 0) anchor = SizeOf(pool[*best]);  // the rest match the first member
      members.push_back(Take(pool, *best));
    }
    std::sort(members.begin(), members.end(), [](const Disk& a, const Disk& b) {
      return std::tie(a.enclosure, a.slot, a.path) < std::tie(b.enclosure, b.slot, b.path);
    });
    out.vdevs.push_back(std::move(members));
  }
  out.unused = std::move(pool);
  return out;
}

Status CheckSizes(const Placement& p, const ProfileInfo& info, const PlanOptions& o) {
  if (o.mixed_sizes == MixedSizes::kAllow || info.ways == 1) return OkStatus();
  for (size_t v = 0; v < p.vdevs.size(); ++v) {
    const auto& members = p.vdevs[v];
    auto largest = *std::max_element(members.begin(), members.end(),
                                     [](const Disk& a, const Disk& b) { return a.size_bytes < b.size_bytes; });
    for (const auto& d : members) {
      if (!WithinTolerance(SizeOf(d), SizeOf(largest), o.size_tolerance)) {
        double pct = 100.0 * static_cast<double>(largest.size_bytes - d.size_bytes) /
                     static_cast<double>(largest.size_bytes);
        return InvalidArgument(fmt::format(
            "disk '{}' ({}) is {:.1f}% smaller than '{}' ({}) in the same {} vdev (tolerance {}: "
            "{:.0f}% capped at zpool's 16 MiB): ZFS sizes a vdev by its smallest member, so {} of each "
            "larger member would be wasted, and zpool create refuses it without -f; "
            "add disks of similar size, or allow mixed sizes",
            d.path, FormatBytes(SizeOf(d)), pct, largest.path, FormatBytes(SizeOf(largest)), info.name,
            FormatBytes(AllowedShortfall(SizeOf(largest), o.size_tolerance)), o.size_tolerance * 100,
            FormatBytes(SizeOf(largest) - SizeOf(d))));
      }
    }
  }
  return OkStatus();
}

// Why NSPF cannot hold for `count` vdevs of `width` over `data`, if a simple count
// shows it; otherwise empty.
std::string NspfShortfall(const std::vector<Disk>& data, int width, int count, const ProfileInfo& info) {
  if (info.tolerated == 0) {
    return fmt::format("no single point of failure is impossible with {}: it has no redundancy", info.name);
  }
  int cap = EnclosureCap(info);
  auto by_enclosure = CountByEnclosure(data);
  int enclosures = static_cast<int>(by_enclosure.size());
  int needed = (width + cap - 1) / cap;
  if (enclosures < needed) {
    return fmt::format(
        "no single point of failure with {} needs at least {} enclosures for {}-disk vdevs "
        "(at most {} member(s) of a vdev per enclosure); these disks are in {}",
        info.name, needed, width, cap, enclosures);
  }
  int total = static_cast<int>(data.size());
  int left_out = total - width * count;
  for (const auto& [enclosure, n] : by_enclosure) {
    if (n - left_out > cap * count) {
      return fmt::format(
          "no single point of failure: enclosure '{}' holds {} of the {} data disks, but {} {} vdev(s) "
          "can take at most {} from one enclosure; spread the disks over more enclosures",
          enclosure, n, total, count, info.name, cap * count);
    }
  }
  return "";
}

// (width, vdev count) candidates in order of preference.
Result<std::vector<std::pair<int, int>>> Candidates(const ProfileInfo& info, int n, const PlanOptions& o,
                                                    int spares_and_more) {
  std::vector<std::pair<int, int>> out;
  auto too_few = [&](int need) {
    return FailedPrecondition(fmt::format("{} needs at least {} disks for data, have {}{}", info.name, need, n,
                                          spares_and_more > 0
                                              ? fmt::format(" (after {} spare/log/cache)", spares_and_more)
                                              : std::string()));
  };
  if (!IsRaidz(info)) {
    if (n < info.ways) return too_few(info.ways);
    out.emplace_back(info.ways, n / info.ways);
    return out;
  }
  int min_width = info.parity + 2;
  if (o.raidz_width) {
    int w = *o.raidz_width;
    if (w < min_width) {
      return InvalidArgument(fmt::format("raidz width {} is too narrow: {} needs at least {} disks per vdev", w,
                                         info.name, min_width));
    }
    if (n < w) return too_few(w);
    out.emplace_back(w, n / w);
    return out;
  }
  if (n < min_width) return too_few(min_width);
  for (int w = min_width; w <= std::min(n, info.max_width); ++w) out.emplace_back(w, n / w);
  std::sort(out.begin(), out.end(), [&](auto a, auto b) {
    auto key = [&](std::pair<int, int> c) {
      return std::make_tuple(n - c.first * c.second, std::abs(c.first - info.sweet_width), -c.first);
    };
    return key(a) < key(b);
  });
  return out;
}

// Capacity of the placed layout, as ZFS will account it.
void ComputeCapacity(Plan& plan, const ProfileInfo& info, const PlanOptions& o, uint64_t raw) {
  CapacityBreakdown& c = plan.capacity;
  c.raw = raw;
  uint64_t dspace = 0;
  for (auto& v : plan.vdevs) {
    uint64_t smallest = UINT64_MAX;
    for (const auto& d : v.members) {
      uint64_t leaf = internal::LeafAsize(SizeOf(d));
      c.labels += SizeOf(d) - leaf;
      smallest = std::min(smallest, leaf);
    }
    for (const auto& d : v.members) c.size_mismatch += internal::LeafAsize(SizeOf(d)) - smallest;
    int width = static_cast<int>(v.members.size());
    bool raidz = IsRaidz(info);
    v.asize = raidz ? smallest * static_cast<uint64_t>(width) : smallest;
    v.metaslab_shift = internal::MetaslabShift(v.asize, o.reservation);
    v.metaslab_count = v.asize >> v.metaslab_shift;
    uint64_t ms_size = uint64_t{1} << v.metaslab_shift;
    uint64_t ms_space = v.metaslab_count * ms_size;
    uint64_t copies = raidz ? 1 : static_cast<uint64_t>(width);  // mirror: every member holds the space
    c.metaslab_rounding += (v.asize - ms_space) * copies;
    uint64_t ratio = internal::DeflateRatio(width, info.parity, o.ashift);
    auto deflate = [&](uint64_t space) { return (space >> 9) * ratio; };
    bool embedded = internal::HasEmbeddedLogMetaslab(v.metaslab_count, o.reservation);
    uint64_t normal_ms = embedded ? v.metaslab_count - 1 : v.metaslab_count;
    v.deflated_space = deflate(normal_ms * ms_size);
    if (embedded) c.embedded_log += deflate(ms_size);
    dspace += v.deflated_space;
    uint64_t logical_all = deflate(ms_space);
    if (raidz) {
      uint64_t data_sectors = (128 * internal::kKiB) >> o.ashift;
      uint64_t total = internal::RaidzAllocatedSectors(128 * internal::kKiB, o.ashift, width, info.parity);
      uint64_t rows = (data_sectors + (width - info.parity) - 1) / (width - info.parity);
      uint64_t parity_sectors = rows * static_cast<uint64_t>(info.parity);
      uint64_t parity = static_cast<uint64_t>(static_cast<long double>(ms_space) * parity_sectors / total);
      c.parity += parity;
      c.padding += ms_space - logical_all - parity;
    } else {
      c.parity += ms_space * (copies - 1);
      c.padding += ms_space - logical_all;  // 0: mirrors and disks do not deflate
    }
  }
  c.slop = internal::SlopSpace(dspace, c.embedded_log, o.reservation);
  c.data = dspace - c.slop;
  for (const auto& d : plan.spares) c.spares += SizeOf(d);
  for (const auto& group : plan.logs) {
    for (const auto& d : group) c.log_and_cache += SizeOf(d);
  }
  for (const auto& d : plan.cache) c.log_and_cache += SizeOf(d);
  for (const auto& d : plan.unused) c.unused += SizeOf(d);
  c.reserved = c.labels + c.size_mismatch + c.metaslab_rounding + c.embedded_log + c.slop;

  double eff_128k = 1.0 / static_cast<double>(IsRaidz(info) ? 1 : info.ways);
  double eff_rs = eff_128k;
  if (IsRaidz(info)) {
    int width = plan.width;
    auto efficiency = [&](uint64_t block) {
      uint64_t data_sectors = ((block - 1) >> o.ashift) + 1;
      return static_cast<double>(data_sectors) /
             static_cast<double>(internal::RaidzAllocatedSectors(block, o.ashift, width, info.parity));
    };
    eff_128k = efficiency(128 * internal::kKiB);
    eff_rs = efficiency(o.recordsize);
    // Blocks smaller than a sector still take a whole sector.
    if (o.recordsize < (uint64_t{1} << o.ashift)) {
      eff_rs *= static_cast<double>(o.recordsize) / static_cast<double>(uint64_t{1} << o.ashift);
    }
  } else if (o.recordsize < (uint64_t{1} << o.ashift)) {
    eff_rs *= static_cast<double>(o.recordsize) / static_cast<double>(uint64_t{1} << o.ashift);
  }
  c.recordsize_efficiency = eff_rs;
  c.data_at_recordsize = static_cast<uint64_t>(static_cast<long double>(c.data) * eff_rs / eff_128k);
}

Ratings Rate(const Plan& plan, const ProfileInfo& info) {
  Ratings r;
  int vdevs = static_cast<int>(plan.vdevs.size());
  bool ssd = std::all_of(plan.vdevs.begin(), plan.vdevs.end(), [](const VdevPlan& v) {
    return std::none_of(v.members.begin(), v.members.end(), [](const Disk& d) { return d.rotational; });
  });
  int perf;
  std::string why;
  if (info.profile == Profile::kStripe) {
    perf = vdevs >= 4 ? 5 : vdevs >= 2 ? 4 : 2;
    why = fmt::format("{} disk(s) striped, no redundancy to compute or write", vdevs);
  } else if (!IsRaidz(info)) {
    perf = vdevs >= 4 ? 5 : vdevs >= 2 ? 4 : 3;
    why = fmt::format("{} mirror vdev(s): reads from all {} copies, writes at {} vdev(s)' speed", vdevs,
                      info.ways, vdevs);
  } else {
    perf = vdevs >= 4 ? 4 : vdevs >= 2 ? 3 : 2;
    why = fmt::format("{} {} vdev(s) of {}: random I/O runs at about one disk per vdev", vdevs, info.name,
                      plan.width);
  }
  if (ssd && perf < 5) {
    ++perf;
    why += "; solid-state data disks";
  }
  if (!plan.logs.empty()) why += "; separate log for synchronous writes";
  r.performance = {perf, why};

  uint64_t data_raw = 0;
  for (const auto& v : plan.vdevs) {
    for (const auto& d : v.members) data_raw += SizeOf(d);
  }
  double fraction = data_raw == 0 ? 0 : static_cast<double>(plan.capacity.data) / static_cast<double>(data_raw);
  int cap = fraction >= 0.85 ? 5 : fraction >= 0.7 ? 4 : fraction >= 0.55 ? 3 : fraction >= 0.4 ? 2 : 1;
  r.capacity = {cap, fmt::format("usable {} is {:.0f}% of the data disks' raw {}", FormatBytes(plan.capacity.data),
                                 fraction * 100, FormatBytes(data_raw))};

  int avail = 1 + info.tolerated;
  std::string reason = info.tolerated == 0
                           ? std::string("any disk failure loses the pool")
                           : fmt::format("each vdev survives {} disk failure(s)", info.tolerated);
  if (plan.nspf == Nspf::kYes) {
    ++avail;
    reason += ", and the loss of any one enclosure";
  }
  if (!plan.spares.empty() && info.tolerated > 0) {
    ++avail;
    reason += fmt::format("; {} hot spare(s) start resilvering at once", plan.spares.size());
  }
  r.availability = {std::min(avail, 5), reason};
  return r;
}

Result<Plan> PlanImpl(const PlanRequest& request) {
  const PlanOptions& o = request.options;
  const ProfileInfo& info = Info(request.profile);
  PK_TRY(ValidateOptions(o));
  PK_TRY(ValidateDisks(request.disks, o.nspf));
  if (o.nspf == Nspf::kYes && info.tolerated == 0) {
    return FailedPrecondition(
        fmt::format("no single point of failure is impossible with {}: it has no redundancy", info.name));
  }
  PK_ASSIGN_OR_RETURN(Selection roles, SelectRoles(request.disks, o));
  int n = static_cast<int>(roles.data.size());
  int others = o.spares + o.log_devices + o.cache_devices;
  PK_ASSIGN_OR_RETURN(auto candidates, Candidates(info, n, o, others));

  // When no candidate works, the narrowest one's failure is the most fundamental
  // (e.g. too few enclosures even for the narrowest vdev), so that is reported.
  std::optional<Error> error;
  int error_width = 0;
  auto remember = [&](int w, Error e) {
    if (!error || w < error_width) {
      error = std::move(e);
      error_width = w;
    }
  };
  std::optional<Placement> placement;
  int width = 0;
  for (auto [w, count] : candidates) {
    if (o.nspf == Nspf::kYes) {
      std::string shortfall = NspfShortfall(roles.data, w, count, info);
      if (!shortfall.empty()) {
        remember(w, Error(ErrorCode::kFailedPrecondition, shortfall));
        continue;
      }
    }
    Result<Placement> placed = std::unexpected(Error(ErrorCode::kInternal, "not placed"));
    for (Priority priority : {Priority::kSizeFirst, Priority::kDrainFirst}) {
      if (priority == Priority::kDrainFirst && o.nspf == Nspf::kNo) break;
      auto attempt = Place(roles.data, w, count, info, o, priority);
      if (attempt) {
        auto sizes = CheckSizes(*attempt, info, o);
        if (!sizes) attempt = std::unexpected(sizes.error());
      }
      // Keep the first success, or the last failure (drain-first explains NSPF best).
      placed = std::move(attempt);
      if (placed) break;
    }
    if (!placed) {
      remember(w, placed.error());
      continue;
    }
    placement = std::move(*placed);
    width = w;
    break;
  }
  if (!placement) return std::unexpected(*error);

  Plan plan;
  plan.profile = request.profile;
  plan.width = width;
  plan.nspf = o.nspf;
  for (auto& members : placement->vdevs) {
    VdevPlan v;
    v.kind = info.kind;
    v.members = std::move(members);
    plan.vdevs.push_back(std::move(v));
  }
  plan.spares = std::move(roles.spares);
  plan.logs = std::move(roles.logs);
  plan.cache = std::move(roles.cache);
  plan.unused = std::move(placement->unused);

  uint64_t raw = 0;
  for (const auto& d : request.disks) raw += SizeOf(d);
  ComputeCapacity(plan, info, o, raw);
  plan.ratings = Rate(plan, info);

  for (const auto& d : plan.unused) {
    plan.notes.push_back(fmt::format("disk '{}' ({}) is left unused: it does not complete another {}-disk {} vdev",
                                     d.path, FormatBytes(SizeOf(d)), width, info.name));
  }
  if (plan.capacity.size_mismatch > 0) {
    plan.notes.push_back(fmt::format("mixed sizes inside vdevs waste {}", FormatBytes(plan.capacity.size_mismatch)));
  }
  bool hdd = false, ssd = false;
  uint64_t largest_smallest_member = 0;
  for (const auto& v : plan.vdevs) {
    uint64_t smallest = UINT64_MAX;
    for (const auto& d : v.members) {
      (d.rotational ? hdd : ssd) = true;
      smallest = std::min(smallest, SizeOf(d));
    }
    largest_smallest_member = std::max(largest_smallest_member, smallest);
  }
  if (hdd && ssd) plan.notes.push_back("data vdevs mix rotational and solid-state disks: the pool runs at the pace of the slowest");
  for (const auto& s : plan.spares) {
    if (SizeOf(s) < largest_smallest_member) {
      plan.notes.push_back(fmt::format("spare '{}' ({}) is smaller than the members of some vdevs and cannot replace them",
                                       s.path, FormatBytes(SizeOf(s))));
    }
  }
  return plan;
}

}  // namespace

std::string_view ProfileName(Profile profile) { return Info(profile).name; }

Result<Profile> ParseProfile(std::string_view name) {
  for (const auto& info : kProfiles) {
    if (info.name == name) return info.profile;
  }
  if (name == "mirror") return Profile::kMirror2;
  if (name == "raidz") return Profile::kRaidz1;
  return InvalidArgument(fmt::format(
      "unknown profile '{}' (expected stripe, mirror2, mirror3, raidz1, raidz2 or raidz3)", name));
}

const std::vector<Profile>& AllProfiles() {
  static const std::vector<Profile> kAll = {Profile::kStripe, Profile::kMirror2, Profile::kMirror3,
                                            Profile::kRaidz1, Profile::kRaidz2,  Profile::kRaidz3};
  return kAll;
}

std::string_view ReservationModelName(ReservationModel model) {
  switch (model) {
    case ReservationModel::kOpenZfs2: return "openzfs-2";
    case ReservationModel::kZfsFuse23: return "zfs-fuse-23";
  }
  return "unknown";
}

zfs::VdevSpec Plan::ToVdevSpec() const {
  zfs::VdevSpec spec;
  auto paths = [](const std::vector<Disk>& disks) {
    std::vector<std::string> out;
    for (const auto& d : disks) out.push_back(d.path);
    return out;
  };
  for (const auto& v : vdevs) {
    if (v.kind == Kind::kSingle) {
      for (const auto& d : v.members) spec.data.push_back({Kind::kSingle, {d.path}});
    } else {
      spec.data.push_back({v.kind, paths(v.members)});
    }
  }
  for (const auto& group : logs) {
    spec.logs.push_back({group.size() == 1 ? Kind::kSingle : Kind::kMirror, paths(group)});
  }
  spec.cache = paths(cache);
  spec.spares = paths(spares);
  return spec;
}

Result<Plan> PlanLayout(const PlanRequest& request) {
  auto plan = PlanImpl(request);
  if (!plan) return std::unexpected(plan.error().WithContext(fmt::format("plan {}", ProfileName(request.profile))));
  return plan;
}

Result<std::vector<PlanOrReason>> PlanAll(const std::vector<Disk>& disks, const PlanOptions& options) {
  PK_TRY(ValidateOptions(options));
  PK_TRY(ValidateDisks(disks, Nspf::kNo));  // NSPF shortfalls are per-profile reasons
  std::vector<PlanOrReason> out;
  for (Profile profile : AllProfiles()) {
    PlanOrReason entry;
    entry.profile = profile;
    auto plan = PlanImpl(PlanRequest{disks, profile, options});
    if (plan) {
      entry.plan = std::move(*plan);
    } else {
      entry.reason = plan.error().message();
    }
    out.push_back(std::move(entry));
  }
  return out;
}

std::string FormatBytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return fmt::format("{} B", bytes);
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 6) {
    value /= 1024;
    ++unit;
  }
  return fmt::format("{:.2f} {}", value, kUnits[unit]);
}

}  // namespace pk::layout
