#include "hw/block_sources.h"

#include <charconv>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>

#include "base/json.h"
#include "base/text.h"

namespace pk::hw {

using nlohmann::json;

namespace {

// A string field of an lsblk entry ("" for null or absent), validated.
Result<std::string> Str(const json& entry, const char* field, const std::string& name, std::string_view origin) {
  auto it = entry.find(field);
  if (it == entry.end() || it->is_null()) return std::string();
  std::string text = it->is_string() ? it->get<std::string>() : it->dump();
  PK_ASSIGN_OR_RETURN(auto v, CheckAttribute(fmt::format("{}: {}.{}", origin, name.empty() ? "?" : name, field), text));
  return std::string(Trim(v));
}

Result<uint64_t> Size(const json& entry, const std::string& name, std::string_view origin) {
  auto it = entry.find("size");
  if (it == entry.end() || it->is_null()) return uint64_t{0};
  if (it->is_number_unsigned()) return it->get<uint64_t>();
  if (it->is_string()) {
    const std::string& s = it->get_ref<const std::string&>();
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (!s.empty() && ec == std::errc() && end == s.data() + s.size()) return v;  // digits only, in range
  }
  return InvalidArgument(fmt::format("{}: {}.size: not a byte count ({}); run lsblk with -b",
                                     origin, name, it->dump()));
}

bool IsVirtualBlock(const std::string& name) {
  for (const char* p : {"loop", "ram", "zram", "dm-", "md", "sr", "nbd", "zd"}) {
    if (name.starts_with(p)) return true;
  }
  return false;
}

std::optional<bool> Rota(const json& entry) {
  auto it = entry.find("rota");
  if (it == entry.end() || it->is_null()) return std::nullopt;
  if (it->is_boolean()) return it->get<bool>();
  if (it->is_string()) {
    if (*it == "1") return true;
    if (*it == "0") return false;
  }
  if (it->is_number_integer()) return it->get<int>() != 0;
  return std::nullopt;
}

}  // namespace

Result<std::vector<BlockDevice>> ParseLsblk(std::string_view json_text, std::string_view origin) {
  auto doc = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return InvalidArgument(fmt::format("{}: not a JSON object", origin));
  auto it = doc.find("blockdevices");
  if (it == doc.end() || !it->is_array()) return InvalidArgument(fmt::format("{}: no \"blockdevices\" array", origin));
  std::vector<BlockDevice> out;
  for (const auto& e : *it) {
    if (!e.is_object()) return InvalidArgument(fmt::format("{}: a blockdevices entry is not an object", origin));
    PK_ASSIGN_OR_RETURN(auto name, Str(e, "kname", "", origin));
    if (name.empty()) {
      PK_ASSIGN_OR_RETURN(name, Str(e, "name", "", origin));
    }
    if (name.empty() || name.find('/') != std::string::npos) {
      return InvalidArgument(fmt::format("{}: an entry without a usable name ({})", origin, DumpJson(e).substr(0, 200)));
    }
    PK_ASSIGN_OR_RETURN(auto type, Str(e, "type", name, origin));
    if (type != "disk" || IsVirtualBlock(name)) continue;  // zram is a "disk" to lsblk
    BlockDevice d;
    d.name = name;
    PK_ASSIGN_OR_RETURN(d.devnode, Str(e, "path", name, origin));
    if (d.devnode.empty()) d.devnode = "/dev/" + name;
    PK_ASSIGN_OR_RETURN(d.serial, Str(e, "serial", name, origin));
    PK_ASSIGN_OR_RETURN(d.wwn, Str(e, "wwn", name, origin));
    PK_ASSIGN_OR_RETURN(d.model, Str(e, "model", name, origin));
    PK_ASSIGN_OR_RETURN(d.vendor, Str(e, "vendor", name, origin));
    PK_ASSIGN_OR_RETURN(d.transport, Str(e, "tran", name, origin));
    PK_ASSIGN_OR_RETURN(d.hctl, Str(e, "hctl", name, origin));
    PK_ASSIGN_OR_RETURN(d.size_bytes, Size(e, name, origin));
    d.rotational = Rota(e);
    if (auto ch = e.find("children"); ch != e.end() && ch->is_array()) {
      for (const auto& c : *ch) {
        if (!c.is_object()) continue;
        PK_ASSIGN_OR_RETURN(auto child, Str(c, "kname", name, origin));
        if (child.empty()) {
          PK_ASSIGN_OR_RETURN(child, Str(c, "name", name, origin));
        }
        if (!child.empty()) d.partitions.push_back(child);
      }
    }
    out.push_back(std::move(d));
  }
  return out;
}

namespace {

std::string TransportOf(const std::string& device_path, const std::string& name) {
  if (name.starts_with("nvme")) return "nvme";
  if (device_path.find("/usb") != std::string::npos) return "usb";
  if (device_path.find("/virtio") != std::string::npos) return "virtio";
  if (device_path.find("/ata") != std::string::npos) return "sata";
  if (device_path.find("/end_device-") != std::string::npos || device_path.find("/expander-") != std::string::npos ||
      device_path.find("/port-") != std::string::npos) {
    return "sas";
  }
  return "";
}

}  // namespace

std::vector<BlockDevice> ReadSysBlock(const SysTree& tree, std::vector<std::string>* warnings) {
  std::vector<BlockDevice> out;
  for (const auto& name : tree.List("/sys/block")) {
    if (IsVirtualBlock(name)) continue;
    const std::string dir = "/sys/block/" + name;
    auto attr = [&](const std::string& rel) -> std::string {
      auto v = tree.Read(dir + "/" + rel);
      if (!v) {
        if (v.error().code() != ErrorCode::kNotFound && warnings) warnings->push_back(v.error().message());
        return "";
      }
      return std::string(Trim(*v));
    };
    BlockDevice d;
    d.name = name;
    d.devnode = "/dev/" + name;
    std::string sectors = attr("size");
    if (!sectors.empty() && sectors.size() <= 19 && sectors.find_first_not_of("0123456789") == std::string::npos) {
      d.size_bytes = std::stoull(sectors) * 512;
    }
    std::string rota = attr("queue/rotational");
    if (rota == "0" || rota == "1") d.rotational = rota == "1";
    d.model = attr("device/model");
    d.vendor = attr("device/vendor");
    d.serial = attr("device/serial");
    std::string wwid = attr("wwid");
    if (wwid.empty()) wwid = attr("device/wwid");
    // "naa.5000c500a1b2c3d4" (SCSI) is lsblk's "0x5000c500a1b2c3d4"; NVMe "eui.…" stays.
    if (wwid.starts_with("naa.")) wwid = "0x" + wwid.substr(4);
    d.wwn = wwid;
    std::string device = tree.Resolve(dir + "/device");
    if (!device.empty()) {
      std::string leaf = device.substr(device.rfind('/') + 1);
      if (std::count(leaf.begin(), leaf.end(), ':') == 3) d.hctl = leaf;
      d.transport = TransportOf(device, name);
    } else if (name.starts_with("nvme")) {
      d.transport = "nvme";
    }
    std::string lab = attr("device/transport");  // the lab chassis says what it is
    if (!lab.empty()) d.transport = lab;
    for (const auto& part : tree.List(dir)) {
      if (part.starts_with(name) && tree.Exists(dir + "/" + part + "/partition")) d.partitions.push_back(part);
    }
    out.push_back(std::move(d));
  }
  return out;
}

Result<std::vector<BlockDevice>> LsblkSource::Read() {
  sys::Command cmd{.program = path_, .args = {"-J", "-b", "-O"}, .env = sys::DefaultToolEnvironment(), .timeout = timeout_};
  PK_ASSIGN_OR_RETURN(auto r, runner_.Run(cmd));
  if (r.timed_out) return DeadlineExceeded(fmt::format("list disks: {} did not answer within {} s", cmd.ToString(), timeout_.count() / 1000));
  if (!r.status.Success()) {
    return Unavailable(fmt::format("list disks: {} {}: {}", cmd.ToString(), r.status.ToString(), Trim(r.err)));
  }
  auto parsed = ParseLsblk(r.out, path_);
  if (!parsed) return std::unexpected(parsed.error().WithContext("list disks"));
  return parsed;
}

Result<std::vector<BlockDevice>> SysBlockSource::Read() { return ReadSysBlock(tree_, nullptr); }

}  // namespace pk::hw
