#include "hw/chassis.h"

#include <charconv>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "base/json.h"
#include "base/text.h"

namespace pk::hw {

namespace {

constexpr size_t kMaxFile = 1 << 20;
constexpr size_t kMaxName = 64;
constexpr size_t kMaxDevice = 1024;
constexpr size_t kMaxLabel = 128;

// One configuration file's lines, each checked: UTF-8, no control characters
// but tabs; comments and blank lines dropped. `fn(where, words, rest_after)`
// gets "FILE line N" and the line's words.
template <typename Fn>
Status ForEachLine(std::string_view text, std::string_view origin, Fn fn) {
  if (text.size() > kMaxFile) return InvalidArgument(fmt::format("{}: larger than {} bytes", origin, kMaxFile));
  size_t line_no = 0;
  for (std::string_view line : SplitLines(text)) {
    ++line_no;
    std::string where = fmt::format("{} line {}", origin, line_no);
    if (size_t bad = FindInvalidUtf8(line); bad != std::string_view::npos) {
      return InvalidArgument(fmt::format("{}: not UTF-8 (byte {} of the line)", where, bad + 1));
    }
    for (char ch : line) {
      auto c = static_cast<unsigned char>(ch);
      if ((c < 0x20 && c != '\t') || c == 0x7f) {
        return InvalidArgument(fmt::format("{}: control character 0x{:02x}", where, c));
      }
    }
    if (size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    line = Trim(line);
    if (line.empty()) continue;
    PK_TRY(fn(where, line));
  }
  return OkStatus();
}

Status CheckName(const std::string& where, const char* what, std::string_view v) {
  if (v.empty() || v.size() > kMaxName) {
    return InvalidArgument(fmt::format("{}: {} '{}' must be 1-{} characters", where, what, v, kMaxName));
  }
  for (char c : v) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == ':' || c == '-')) {
      return InvalidArgument(fmt::format("{}: {} '{}' may hold only letters, digits and . _ : -", where, what, v));
    }
  }
  return OkStatus();
}

Status CheckDevice(const std::string& where, std::string_view v) {
  if (!v.starts_with('/') || v.size() > kMaxDevice) {
    return InvalidArgument(fmt::format("{}: device '{}' must be an absolute path of at most {} bytes", where, v, kMaxDevice));
  }
  return OkStatus();
}

// The text after the first `n` words of `line`.
std::string_view RestAfter(std::string_view line, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    line = Trim(line);
    size_t end = line.find_first_of(" \t");
    line = end == std::string_view::npos ? std::string_view() : line.substr(end);
  }
  return Trim(line);
}

Result<int> Number(const std::string& where, const char* what, std::string_view v) {
  if (v.empty() || v.size() > 6 || v.find_first_not_of("0123456789") != std::string_view::npos) {
    return InvalidArgument(fmt::format("{}: {} '{}' is not a whole number", where, what, v));
  }
  return std::stoi(std::string(v));
}

template <typename T, typename Parse>
Result<std::optional<T>> Load(const std::string& path, Parse parse) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return std::optional<T>();
    return Unavailable(fmt::format("{}: cannot read: {}", path, std::strerror(errno)));
  }
  std::string text(kMaxFile + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  PK_ASSIGN_OR_RETURN(auto conf, parse(text, path));
  return std::optional<T>(std::move(conf));
}

}  // namespace

std::string ChassisConf::LabelOf(const std::string& c, const std::string& slot) const {
  auto it = labels.find({c, slot});
  return it != labels.end() ? it->second : fmt::format("{} bay {}", c, slot);
}

const ChassisConf::Chassis* ChassisConf::FindSes(const std::string& sysfs_id, const std::string& logical_id) const {
  for (const auto& c : chassis) {
    if (c.kind == Chassis::Kind::kSes && (c.enclosure == sysfs_id || (!logical_id.empty() && c.enclosure == logical_id))) {
      return &c;
    }
  }
  return nullptr;
}

const ChassisConf::Chassis* ChassisConf::FindPci() const {
  for (const auto& c : chassis) {
    if (c.kind == Chassis::Kind::kPciSlots) return &c;
  }
  return nullptr;
}

Result<ChassisConf> ParseChassisConf(std::string_view text, std::string_view origin) {
  ChassisConf conf;
  auto known = [&](const std::string& name) {
    for (const auto& c : conf.chassis) {
      if (c.name == name) return true;
    }
    return false;
  };
  PK_TRY(ForEachLine(text, origin, [&](const std::string& where, std::string_view line) -> Status {
    auto words = SplitFields(line);
    std::string_view key = words[0];
    if (key == "chassis") {
      if (words.size() < 2 || words.size() > 4) {
        return InvalidArgument(fmt::format("{}: expected 'chassis NAME [ses ENCLOSURE | pci-slots]'", where));
      }
      ChassisConf::Chassis c;
      c.name = std::string(words[1]);
      PK_TRY(CheckName(where, "chassis name", c.name));
      if (known(c.name)) return InvalidArgument(fmt::format("{}: chassis '{}' is named twice", where, c.name));
      if (words.size() >= 3 && words[2] == "ses" && words.size() == 4) {
        c.kind = ChassisConf::Chassis::Kind::kSes;
        c.enclosure = std::string(words[3]);
        PK_TRY(CheckName(where, "enclosure", c.enclosure));
      } else if (words.size() == 3 && words[2] == "pci-slots") {
        c.kind = ChassisConf::Chassis::Kind::kPciSlots;
      } else if (words.size() != 2) {
        return InvalidArgument(fmt::format("{}: expected 'chassis NAME [ses ENCLOSURE | pci-slots]'", where));
      }
      conf.chassis.push_back(std::move(c));
    } else if (key == "bay") {
      if (words.size() != 4) return InvalidArgument(fmt::format("{}: expected 'bay CHASSIS SLOT DEVICE'", where));
      ChassisConf::BayLine b{std::string(words[1]), std::string(words[2]), std::string(words[3])};
      PK_TRY(CheckName(where, "slot", b.slot));
      PK_TRY(CheckDevice(where, b.device));
      if (!known(b.chassis)) {
        return InvalidArgument(fmt::format("{}: chassis '{}' is not named by an earlier 'chassis' line", where, b.chassis));
      }
      for (const auto& o : conf.bays) {
        if (o.device == b.device) return InvalidArgument(fmt::format("{}: device '{}' is in two bays", where, b.device));
        if (o.chassis == b.chassis && o.slot == b.slot) {
          return InvalidArgument(fmt::format("{}: bay {} of chassis '{}' is given twice", where, b.slot, b.chassis));
        }
      }
      conf.bays.push_back(std::move(b));
    } else if (key == "label") {
      if (words.size() < 4) return InvalidArgument(fmt::format("{}: expected 'label CHASSIS SLOT TEXT'", where));
      std::string c(words[1]), slot(words[2]);
      std::string label(RestAfter(line, 3));
      PK_TRY(CheckName(where, "slot", slot));
      if (!known(c)) return InvalidArgument(fmt::format("{}: chassis '{}' is not named by an earlier 'chassis' line", where, c));
      if (label.size() > kMaxLabel) {
        return InvalidArgument(fmt::format("{}: label of {} bytes is too long (at most {})", where, label.size(), kMaxLabel));
      }
      conf.labels[{c, slot}] = label;
    } else {
      return InvalidArgument(fmt::format("{}: unknown statement '{}' (chassis, bay or label)", where, key));
    }
    return OkStatus();
  }));
  return conf;
}

std::string VdevIdConf::NameFromByPath(const std::vector<std::string>& by_path) const {
  for (const auto& link : by_path) {
    // pci-0000:85:00.0-sas-phy3-lun-0
    if (!link.starts_with("pci-")) continue;
    size_t sas = link.find("-sas-phy");
    if (sas == std::string::npos) continue;
    std::string pci = link.substr(4, sas - 4);
    size_t digits = sas + 8;
    size_t end = link.find_first_not_of("0123456789", digits);
    if (end == digits) continue;
    // Link names come from the hardware: a number out of range is no phy, never an exception.
    int phy = 0;
    std::string_view number = std::string_view(link).substr(digits, end == std::string::npos ? std::string::npos : end - digits);
    auto [stop, ec] = std::from_chars(number.data(), number.data() + number.size(), phy);
    if (ec != std::errc() || stop != number.data() + number.size()) continue;
    int port = phys_per_port > 0 ? phy / phys_per_port : 0;
    for (const auto& ch : channels) {
      bool same = pci == ch.pci_slot || (pci.size() > ch.pci_slot.size() && pci.ends_with(":" + ch.pci_slot));
      if (!same || ch.port != port) continue;
      std::string slot = std::to_string(phy);
      for (const auto& s : slots) {
        if (s.phy == phy && (s.channel.empty() || s.channel == ch.name)) slot = s.name;
      }
      return ch.name + slot;
    }
  }
  return "";
}

Result<VdevIdConf> ParseVdevIdConf(std::string_view text, std::string_view origin) {
  VdevIdConf conf;
  PK_TRY(ForEachLine(text, origin, [&](const std::string& where, std::string_view line) -> Status {
    auto words = SplitFields(line);
    std::string_view key = words[0];
    if (key == "alias") {
      if (words.size() != 3) return InvalidArgument(fmt::format("{}: expected 'alias NAME DEVLINK'", where));
      PK_TRY(CheckName(where, "alias", words[1]));
      PK_TRY(CheckDevice(where, words[2]));
      conf.aliases[std::string(words[2])] = std::string(words[1]);
    } else if (key == "channel") {
      if (words.size() != 4) return InvalidArgument(fmt::format("{}: expected 'channel PCI_SLOT PORT NAME'", where));
      VdevIdConf::Channel c;
      c.pci_slot = std::string(words[1]);
      PK_TRY(CheckName(where, "PCI slot", c.pci_slot));
      PK_ASSIGN_OR_RETURN(c.port, Number(where, "port", words[2]));
      c.name = std::string(words[3]);
      PK_TRY(CheckName(where, "channel name", c.name));
      conf.channels.push_back(std::move(c));
    } else if (key == "slot" && words.size() == 2) {
      // "slot bay|phy|port|id|lun|ses": where vdev_id takes the number from; phy here.
    } else if (key == "slot") {
      if (words.size() != 3 && words.size() != 4) return InvalidArgument(fmt::format("{}: expected 'slot PHY NAME [CHANNEL]'", where));
      VdevIdConf::SlotMap s;
      PK_ASSIGN_OR_RETURN(s.phy, Number(where, "slot", words[1]));
      s.name = std::string(words[2]);
      PK_TRY(CheckName(where, "slot name", s.name));
      if (words.size() == 4) s.channel = std::string(words[3]);
      conf.slots.push_back(std::move(s));
    } else if (key == "phys_per_port") {
      if (words.size() != 2) return InvalidArgument(fmt::format("{}: expected 'phys_per_port N'", where));
      PK_ASSIGN_OR_RETURN(conf.phys_per_port, Number(where, "phys_per_port", words[1]));
      if (conf.phys_per_port == 0) return InvalidArgument(fmt::format("{}: phys_per_port must be at least 1", where));
    } else if (key == "multipath" || key == "topology" || key == "enclosure_symlinks" ||
               key == "enclosure_symlinks_prefix" || key == "zpad_slot" || key == "zpad") {
      // vdev_id's own settings: nothing to do for labels here.
    } else {
      return InvalidArgument(fmt::format("{}: unknown keyword '{}'", where, key));
    }
    return OkStatus();
  }));
  return conf;
}

Result<std::optional<ChassisConf>> LoadChassisConf(const std::string& path) {
  return Load<ChassisConf>(path, ParseChassisConf);
}

Result<std::optional<VdevIdConf>> LoadVdevIdConf(const std::string& path) {
  return Load<VdevIdConf>(path, ParseVdevIdConf);
}

}  // namespace pk::hw
