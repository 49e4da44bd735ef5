#include "zfs/types.h"

#include <cctype>

#include <fmt/format.h>

namespace pk::zfs {

std::string_view DialectName(Dialect dialect) {
  switch (dialect) {
    case Dialect::kOpenZfs2: return "openzfs-2";
    case Dialect::kZfsFuse: return "zfs-fuse";
  }
  return "unknown";
}

std::string_view PropertySourceName(PropertySource source) {
  switch (source) {
    case PropertySource::kLocal: return "local";
    case PropertySource::kDefault: return "default";
    case PropertySource::kInherited: return "inherited";
    case PropertySource::kReceived: return "received";
    case PropertySource::kTemporary: return "temporary";
    case PropertySource::kNone: return "none";
  }
  return "none";
}

std::string_view DatasetTypeName(DatasetType type) {
  switch (type) {
    case DatasetType::kFilesystem: return "filesystem";
    case DatasetType::kVolume: return "volume";
    case DatasetType::kSnapshot: return "snapshot";
  }
  return "filesystem";
}

Result<DatasetType> ParseDatasetType(std::string_view text) {
  if (text == "filesystem") return DatasetType::kFilesystem;
  if (text == "volume") return DatasetType::kVolume;
  if (text == "snapshot") return DatasetType::kSnapshot;
  return InvalidArgument(
      fmt::format("unknown dataset type '{}' (expected filesystem, volume or snapshot)", text));
}

std::string Dataset::Get(const std::string& property) const {
  auto it = properties.find(property);
  return it == properties.end() ? std::string() : it->second.value;
}

Result<PropertyAssignment> PropertyAssignment::Parse(std::string_view text) {
  size_t eq = text.find('=');
  if (eq == std::string_view::npos) {
    return InvalidArgument(fmt::format("invalid property assignment '{}': expected NAME=VALUE", text));
  }
  PK_ASSIGN_OR_RETURN(auto name, PropertyName::Parse(text.substr(0, eq)));
  std::string value(text.substr(eq + 1));
  PK_TRY(ValidatePropertyValue(name, value));
  return PropertyAssignment{std::move(name), std::move(value)};
}

namespace {

Status ValidateDevice(std::string_view device) {
  if (device.empty() || device.front() == '-') {
    return InvalidArgument(fmt::format("invalid device '{}': must not be empty or start with '-'", device));
  }
  for (char c : device) {
    if (c == '\n' || c == '\0' || c == '\t') {
      return InvalidArgument(fmt::format("invalid device '{}': control characters are not allowed", device));
    }
  }
  if (device.find("/../") != std::string_view::npos || device.ends_with("/..")) {
    return InvalidArgument(fmt::format("invalid device '{}': '..' is not allowed in a path", device));
  }
  return OkStatus();
}

std::string_view KindWord(VdevGroup::Kind kind) {
  switch (kind) {
    case VdevGroup::Kind::kSingle: return "";
    case VdevGroup::Kind::kMirror: return "mirror";
    case VdevGroup::Kind::kRaidz1: return "raidz1";
    case VdevGroup::Kind::kRaidz2: return "raidz2";
    case VdevGroup::Kind::kRaidz3: return "raidz3";
  }
  return "";
}

// Minimum devices per group: mirror 2, raidzN N+1.
size_t MinDevices(VdevGroup::Kind kind) {
  switch (kind) {
    case VdevGroup::Kind::kSingle: return 1;
    case VdevGroup::Kind::kMirror: return 2;
    case VdevGroup::Kind::kRaidz1: return 2;
    case VdevGroup::Kind::kRaidz2: return 3;
    case VdevGroup::Kind::kRaidz3: return 4;
  }
  return 1;
}

}  // namespace

Result<VdevSpec> VdevSpec::Parse(const std::vector<std::string>& words) {
  PK_ASSIGN_OR_RETURN(auto spec, ParseAddition(words));
  if (spec.data.empty()) return InvalidArgument("invalid vdev spec: no data devices");
  return spec;
}

Result<VdevSpec> VdevSpec::ParseAddition(const std::vector<std::string>& words) {
  enum class Section { kData, kLog, kCache, kSpare } section = Section::kData;
  VdevSpec spec;
  std::optional<VdevGroup> open;  // a mirror/raidz group still taking devices
  auto groups = [&]() -> std::vector<VdevGroup>& { return section == Section::kLog ? spec.logs : spec.data; };
  auto close = [&]() -> Status {
    if (!open) return OkStatus();
    if (open->devices.size() < MinDevices(open->kind)) {
      return InvalidArgument(fmt::format("invalid vdev spec: {} needs at least {} devices, got {}",
                                         KindWord(open->kind), MinDevices(open->kind), open->devices.size()));
    }
    groups().push_back(std::move(*open));
    open.reset();
    return OkStatus();
  };
  for (const auto& w : words) {
    std::optional<VdevGroup::Kind> kind;
    if (w == "mirror") kind = VdevGroup::Kind::kMirror;
    if (w == "raidz" || w == "raidz1") kind = VdevGroup::Kind::kRaidz1;
    if (w == "raidz2") kind = VdevGroup::Kind::kRaidz2;
    if (w == "raidz3") kind = VdevGroup::Kind::kRaidz3;
    if (kind) {
      PK_TRY(close());
      if (section == Section::kCache || section == Section::kSpare ||
          (section == Section::kLog && *kind != VdevGroup::Kind::kMirror)) {
        return InvalidArgument(fmt::format("invalid vdev spec: '{}' is not allowed in this section", w));
      }
      open = VdevGroup{*kind, {}};
      continue;
    }
    if (w == "log" || w == "cache" || w == "spare") {
      PK_TRY(close());
      section = w == "log" ? Section::kLog : w == "cache" ? Section::kCache : Section::kSpare;
      continue;
    }
    PK_TRY(ValidateDevice(w));
    if (open) {
      open->devices.push_back(w);
    } else if (section == Section::kCache) {
      spec.cache.push_back(w);
    } else if (section == Section::kSpare) {
      spec.spares.push_back(w);
    } else {
      groups().push_back(VdevGroup{VdevGroup::Kind::kSingle, {w}});
    }
  }
  PK_TRY(close());
  if (spec.data.empty() && spec.logs.empty() && spec.cache.empty() && spec.spares.empty()) {
    return InvalidArgument("invalid vdev spec: no devices");
  }
  return spec;
}

std::vector<std::string> VdevSpec::ToArgs() const {
  std::vector<std::string> args;
  auto add_groups = [&](const std::vector<VdevGroup>& groups) {
    for (const auto& g : groups) {
      if (g.kind != VdevGroup::Kind::kSingle) args.emplace_back(KindWord(g.kind));
      args.insert(args.end(), g.devices.begin(), g.devices.end());
    }
  };
  add_groups(data);
  if (!spares.empty()) {
    args.emplace_back("spare");
    args.insert(args.end(), spares.begin(), spares.end());
  }
  if (!logs.empty()) {
    args.emplace_back("log");
    add_groups(logs);
  }
  if (!cache.empty()) {
    args.emplace_back("cache");
    args.insert(args.end(), cache.begin(), cache.end());
  }
  return args;
}

Result<DevicePath> DevicePath::Parse(std::string_view text) {
  if (!text.starts_with('/')) {
    return InvalidArgument(fmt::format("invalid device '{}': must be an absolute path", text));
  }
  PK_TRY(ValidateDevice(text));
  return DevicePath(std::string(text));
}

Result<VdevRef> VdevRef::Parse(std::string_view text) {
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos) {
    if (text.size() > 20) return InvalidArgument(fmt::format("invalid vdev GUID '{}': too long", text));
    return VdevRef(std::string(text), Kind::kGuid);
  }
  // "mirror-1", "raidz2-0": a type word, '-', a number.
  auto dash = text.rfind('-');
  if (!text.starts_with('/') && dash != std::string_view::npos && dash + 1 < text.size() &&
      text.find_first_not_of("0123456789", dash + 1) == std::string_view::npos) {
    auto word = text.substr(0, dash);
    if (word == "mirror" || word == "raidz1" || word == "raidz2" || word == "raidz3" || word == "raidz") {
      return VdevRef(std::string(text), Kind::kTopLevel);
    }
  }
  if (!text.starts_with('/')) {
    return InvalidArgument(fmt::format(
        "invalid vdev '{}': must be an absolute device path, a vdev GUID or a top-level vdev name such as mirror-1",
        text));
  }
  PK_ASSIGN_OR_RETURN(auto path, DevicePath::Parse(text));
  return VdevRef(path.str(), Kind::kPath);
}

std::string_view ScrubActionName(ScrubAction action) {
  switch (action) {
    case ScrubAction::kStart: return "start";
    case ScrubAction::kStop: return "stop";
    case ScrubAction::kPause: return "pause";
  }
  return "start";
}

std::string_view ScanKindName(ScanProgress::Kind kind) {
  switch (kind) {
    case ScanProgress::Kind::kNone: return "none";
    case ScanProgress::Kind::kScrub: return "scrub";
    case ScanProgress::Kind::kResilver: return "resilver";
  }
  return "none";
}

std::string_view ScanStateName(ScanProgress::State state) {
  switch (state) {
    case ScanProgress::State::kNone: return "none";
    case ScanProgress::State::kScanning: return "scanning";
    case ScanProgress::State::kFinished: return "finished";
    case ScanProgress::State::kCanceled: return "canceled";
    case ScanProgress::State::kPaused: return "paused";
  }
  return "none";
}

}  // namespace pk::zfs

namespace pk::zfs {

std::string_view QuotaKindName(QuotaKind kind) { return kind == QuotaKind::kUser ? "user" : "group"; }

Result<uint64_t> ParseSize(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return InvalidArgument(fmt::format("size '{}' is not valid: {} (e.g. 1048576, 512M, 10G, 1T)", text, why));
  };
  if (text.empty()) return bad("it is empty");
  if (text.front() == '-') return bad("it is negative");
  size_t i = 0;
  uint64_t whole = 0;
  size_t whole_digits = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i, ++whole_digits) {
    if (whole > (UINT64_MAX - 9) / 10) return bad("it is too large");
    whole = whole * 10 + static_cast<uint64_t>(text[i] - '0');
  }
  if (whole_digits == 0) return bad("it does not start with a number");
  // An optional fraction: at most 9 digits, one point.
  uint64_t frac = 0, frac_scale = 1;
  bool has_point = false;
  if (i < text.size() && text[i] == '.') {
    has_point = true;
    ++i;
    size_t digits = 0;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i, ++digits) {
      if (digits >= 9) return bad("too many decimals");
      frac = frac * 10 + static_cast<uint64_t>(text[i] - '0');
      frac_scale *= 10;
    }
    if (digits == 0) return bad("a point must be followed by digits");
  }
  std::string suffix;
  for (; i < text.size(); ++i) suffix += static_cast<char>(std::toupper(static_cast<unsigned char>(text[i])));
  int shift = 0;
  if (!suffix.empty()) {
    static constexpr std::string_view kUnits = "BKMGTPE";
    size_t unit = kUnits.find(suffix[0]);
    std::string_view rest = std::string_view(suffix).substr(1);
    if (unit == std::string_view::npos) return bad("unknown unit");
    if (unit == 0) {
      if (!rest.empty()) return bad("unknown unit");
    } else if (!(rest.empty() || rest == "B" || rest == "IB")) {
      return bad("unknown unit");
    }
    shift = static_cast<int>(unit) * 10;
  }
  if (has_point && shift == 0) return bad("a fraction of a byte");
  if (shift >= 64 || (whole != 0 && whole > (UINT64_MAX >> shift))) return bad("it is too large");
  uint64_t bytes = whole << shift;
  // frac < 10^9 < 2^30: scale by at most 2^30 at once so nothing overflows
  // (K, M exact; G and up rounded down to whole bytes of the 2^30 step).
  uint64_t part = shift <= 30 ? (frac << shift) / frac_scale : ((frac << 30) / frac_scale) << (shift - 30);
  if (part > UINT64_MAX - bytes) return bad("it is too large");
  return bytes + part;
}

std::optional<uint32_t> ParseNumericId(std::string_view s) {
  if (s.empty() || s.size() > 10) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > UINT32_MAX) return std::nullopt;
  return static_cast<uint32_t>(v);
}

}  // namespace pk::zfs
