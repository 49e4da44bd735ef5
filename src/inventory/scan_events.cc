#include "inventory/scan_events.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace pk::inventory {
namespace {

using Kind = zfs::ScanProgress::Kind;
using State = zfs::ScanProgress::State;

std::string StateSuffix(State s) {
  switch (s) {
    case State::kScanning: return "running";
    case State::kFinished: return "finished";
    case State::kCanceled: return "canceled";
    case State::kPaused: return "paused";
    case State::kNone: return "";
  }
  return "";
}

std::string Bytes(uint64_t b) {
  static constexpr const char* kUnits[] = {"B", "K", "M", "G", "T", "P"};
  double v = static_cast<double>(b);
  size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(kUnits)) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{}B", b) : fmt::format("{:.1f}{}", v, kUnits[u]);
}

std::string Describe(const std::string& pool, const zfs::ScanProgress& p) {
  std::string what = fmt::format("{} of pool '{}'", zfs::ScanKindName(p.kind), pool);
  switch (p.state) {
    case State::kScanning: {
      std::string out = what + " running";
      if (!p.start_time.empty()) out += " since " + p.start_time;
      if (p.percent_done) out += fmt::format(", {:.2f}% done", *p.percent_done);
      if (p.done_bytes && p.total_bytes) out += fmt::format(" ({} of {})", Bytes(*p.done_bytes), Bytes(*p.total_bytes));
      if (p.eta_seconds) out += fmt::format(", {} s to go", *p.eta_seconds);
      return out;
    }
    case State::kFinished: {
      std::string out = fmt::format("{} finished with {} errors", what, p.errors.value_or(0));
      if (!p.end_time.empty()) out += " on " + p.end_time;
      if (p.processed_bytes) {
        out += fmt::format(", {} {}", Bytes(*p.processed_bytes), p.kind == Kind::kResilver ? "resilvered" : "repaired");
      }
      if (p.elapsed_seconds) out += fmt::format(" in {} s", *p.elapsed_seconds);
      return out;
    }
    case State::kCanceled: return what + " canceled" + (p.end_time.empty() ? "" : " on " + p.end_time);
    case State::kPaused: return what + " paused" + (p.end_time.empty() ? "" : " since " + p.end_time);
    case State::kNone: return what;
  }
  return what;
}

void CollectErrors(const zfs::Vdev& v, std::vector<std::string>& out) {
  if (v.children.empty()) {
    std::vector<std::string> counts;
    if (v.read_errors) counts.push_back(fmt::format("{} read", v.read_errors));
    if (v.write_errors) counts.push_back(fmt::format("{} write", v.write_errors));
    if (v.checksum_errors) counts.push_back(fmt::format("{} checksum", v.checksum_errors));
    if (!counts.empty()) out.push_back(fmt::format("{} ({})", v.path.empty() ? v.name : v.path, fmt::join(counts, ", ")));
    return;
  }
  for (const auto& c : v.children) CollectErrors(c, out);
}

// The same scan as before (same kind, same start or end), read again.
bool SameScan(const zfs::ScanProgress& a, const zfs::ScanProgress& b) {
  return a.kind == b.kind && a.state == b.state && a.start_time == b.start_time && a.end_time == b.end_time &&
         a.errors == b.errors && a.elapsed_seconds == b.elapsed_seconds;
}

}  // namespace

std::string ScanStateWord(const zfs::ScanProgress& p) {
  if (p.kind == Kind::kNone || p.state == State::kNone) return "";
  return fmt::format("{}-{}", zfs::ScanKindName(p.kind), StateSuffix(p.state));
}

std::vector<ScanEvent> ScanTransitions(const std::string& pool, const zfs::ScanProgress& before,
                                       const zfs::ScanProgress& after) {
  std::vector<ScanEvent> out;
  if (after.kind == Kind::kNone || after.state == State::kNone) return out;
  const std::string prev = ScanStateWord(before);
  if (after.state == State::kScanning) {
    // Still the same running scan (zfs-fuse prints no start time: same kind, still running).
    if (before.kind == after.kind && before.state == State::kScanning && before.start_time == after.start_time) {
      return out;
    }
    out.push_back({ScanStateWord(after), prev, Describe(pool, after) + " (started)"});
    return out;
  }
  if (SameScan(before, after)) return out;
  const bool seen_running = before.kind == after.kind && (before.state == State::kScanning || before.state == State::kPaused);
  std::string previous = prev;
  if (!seen_running && after.state != State::kPaused) {
    // Started and ended between two reads: say both.
    std::string running = fmt::format("{}-running", zfs::ScanKindName(after.kind));
    out.push_back({running, prev,
                   fmt::format("{} of pool '{}' started (and ended before the next status read)",
                               zfs::ScanKindName(after.kind), pool)});
    previous = running;
  }
  out.push_back({ScanStateWord(after), previous, Describe(pool, after)});
  return out;
}

std::string DisksWithErrors(const zfs::PoolStatus& status) {
  std::vector<std::string> out;
  CollectErrors(status.root, out);
  for (const auto& v : status.logs) CollectErrors(v, out);
  for (const auto& v : status.caches) CollectErrors(v, out);
  return fmt::format("{}", fmt::join(out, ", "));
}

std::vector<ScanEvent> ScanTransitions(const std::string& pool, const zfs::PoolStatus& before,
                                       const zfs::PoolStatus& after) {
  auto out = ScanTransitions(pool, before.scan_progress, after.scan_progress);
  if (!out.empty() && after.scan_progress.state == State::kFinished) {
    std::string disks = DisksWithErrors(after);
    out.back().reason += disks.empty() ? "; no disk has errors" : "; disks with errors: " + disks;
  }
  return out;
}

}  // namespace pk::inventory
