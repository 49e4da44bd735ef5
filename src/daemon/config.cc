#include "daemon/config.h"

#include <charconv>

#include <fmt/format.h>

#include "base/text.h"
#include "sys/files.h"

namespace pk::daemon {
namespace {

Result<int> PositiveInt(const std::string& value, const std::string& where) {
  int v = 0;
  auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  if (ec != std::errc() || p != value.data() + value.size() || v <= 0) {
    return InvalidArgument(fmt::format("{}: '{}' is not a positive integer", where, value));
  }
  return v;
}

// A TCP port, or a tgt control port: 1..65535.
Result<int> Port(const std::string& value, const std::string& where) {
  int v = -1;
  auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  if (ec != std::errc() || p != value.data() + value.size() || v < 1 || v > 65535) {
    return InvalidArgument(fmt::format("{}: '{}' is not a port number (1..65535)", where, value));
  }
  return v;
}

}  // namespace

Result<Config> Config::Parse(const std::string& text, const std::string& origin) {
  Config c;
  size_t line_no = 0, start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(start, nl - start);
    start = nl + 1;
    ++line_no;
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    line = std::string(Trim(line));
    if (line.empty()) continue;
    std::string where = fmt::format("{} line {}", origin, line_no);
    size_t eq = line.find('=');
    if (eq == std::string::npos) return InvalidArgument(where + ": expected 'key = value'");
    std::string key(Trim(line.substr(0, eq)));
    std::string value(Trim(line.substr(eq + 1)));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    if (key == "state_dir") {
      c.state_dir = value;
    } else if (key == "socket") {
      c.socket = value;
    } else if (key == "tcp_listen") {
      c.tcp_listen = value;
    } else if (key == "refresh_interval_seconds") {
      PK_ASSIGN_OR_RETURN(c.refresh_interval_seconds, PositiveInt(value, where));
    } else if (key == "tool_timeout_seconds") {
      PK_ASSIGN_OR_RETURN(c.tool_timeout_seconds, PositiveInt(value, where));
    } else if (key == "api_read_timeout_seconds") {
      PK_ASSIGN_OR_RETURN(c.api_read_timeout_seconds, PositiveInt(value, where));
    } else if (key == "log_level") {
      c.log_level = value;
    } else if (key == "health_interval_seconds") {
      PK_ASSIGN_OR_RETURN(c.health_interval_seconds, PositiveInt(value, where));
    } else if (key == "event_log_max") {
      PK_ASSIGN_OR_RETURN(c.event_log_max, PositiveInt(value, where));
    } else if (key == "zpool_path") {
      c.zpool_path = value;
    } else if (key == "zfs_path") {
      c.zfs_path = value;
    } else if (key == "iscsi_server") {
      if (value != "auto" && value != "on" && value != "off" && value != "tgt" && value != "lio") {
        return InvalidArgument(fmt::format("{}: iscsi_server must be auto, on, tgt, lio or off (not '{}')", where, value));
      }
      c.iscsi_server = value;
    } else if (key == "nfs_server") {
      if (value != "auto" && value != "on" && value != "off" && value != "ganesha" && value != "kernel") {
        return InvalidArgument(
            fmt::format("{}: nfs_server must be auto, on, ganesha, kernel or off (not '{}')", where, value));
      }
      c.nfs_server = value;
    } else if (key == "smb_server") {
      if (value != "auto" && value != "on" && value != "off") {
        return InvalidArgument(fmt::format("{}: smb_server must be auto, on or off (not '{}')", where, value));
      }
      c.smb_server = value;
    } else if (key == "iscsi_portal") {
      c.iscsi_portal = value;
    } else if (key == "tgt_control_port") {
      PK_ASSIGN_OR_RETURN(c.tgt_control_port, Port(value, where));
    } else if (key == "nfs_netns") {
      c.nfs_netns = value;
    } else if (key == "nfs_port") {
      PK_ASSIGN_OR_RETURN(c.nfs_port, Port(value, where));
    } else if (key == "nfs_mount_port") {
      PK_ASSIGN_OR_RETURN(c.nfs_mount_port, Port(value, where));
    } else if (key == "nfs_exports_file") {
      c.nfs_exports_file = value;
    } else if (key == "smb_interfaces") {
      c.smb_interfaces = value;
    } else if (key == "smb_port") {
      PK_ASSIGN_OR_RETURN(c.smb_port, Port(value, where));
    } else if (key == "smb_netbios_name") {
      c.smb_netbios_name = value;
    } else if (key == "cluster_authkey") {
      c.cluster_authkey = value;
    } else if (key == "disk_source") {
      if (value != "auto" && value != "lsblk" && value != "sysfs") {
        return InvalidArgument(fmt::format("{}: disk_source must be auto, lsblk or sysfs (not '{}')", where, value));
      }
      c.disk_source = value;
    } else if (key == "sys_root") {
      c.sys_root = value;
    } else if (key == "dev_root") {
      c.dev_root = value;
    } else if (key == "chassis_file") {
      c.chassis_file = value;
    } else if (key == "vdev_id_file") {
      c.vdev_id_file = value;
    } else if (key == "disk_rescan_seconds") {
      PK_ASSIGN_OR_RETURN(c.disk_rescan_seconds, PositiveInt(value, where));
    } else if (key == "smart_interval_seconds") {
      if (value == "0") {
        c.smart_interval_seconds = 0;
      } else {
        PK_ASSIGN_OR_RETURN(c.smart_interval_seconds, PositiveInt(value, where));
      }
    } else if (key == "smartctl_path") {
      c.smartctl_path = value;
    } else {
      return InvalidArgument(fmt::format("{}: unknown key '{}'", where, key));
    }
  }
  if (c.state_dir.empty() || c.socket.empty()) return InvalidArgument(origin + ": state_dir and socket may not be empty");
  for (const auto* path : {&c.state_dir, &c.socket, &c.zpool_path, &c.zfs_path, &c.nfs_exports_file, &c.cluster_authkey,
                           &c.sys_root, &c.dev_root, &c.chassis_file, &c.vdev_id_file, &c.smartctl_path}) {
    if (!path->empty() && !path->starts_with('/')) return InvalidArgument(fmt::format("{}: '{}' must be an absolute path", origin, *path));
  }
  return c;
}

std::string_view IscsiServerName(IscsiServer server) {
  switch (server) {
    case IscsiServer::kTgt: return "tgt";
    case IscsiServer::kLio: return "lio";
    case IscsiServer::kOff: break;
  }
  return "off";
}

std::string_view NfsServerName(NfsServer server) {
  switch (server) {
    case NfsServer::kGanesha: return "ganesha";
    case NfsServer::kKernel: return "kernel";
    case NfsServer::kOff: break;
  }
  return "off";
}

IscsiServer ChooseIscsiServer(std::string_view mode, const ServerFacts& facts) {
  if (mode == "tgt") return IscsiServer::kTgt;
  if (mode == "lio") return IscsiServer::kLio;
  if (mode == "auto" || mode == "on") {
    if (facts.lio_present) return IscsiServer::kLio;
    if (facts.tgt_installed || mode == "on") return IscsiServer::kTgt;
  }
  return IscsiServer::kOff;
}

NfsServer ChooseNfsServer(std::string_view mode, const ServerFacts& facts) {
  if (mode == "ganesha") return NfsServer::kGanesha;
  if (mode == "kernel") return NfsServer::kKernel;
  if (mode == "auto" || mode == "on") {
    if (facts.kernel_nfs_present) return NfsServer::kKernel;
    if (facts.ganesha_installed || mode == "on") return NfsServer::kGanesha;
  }
  return NfsServer::kOff;
}

Result<Config> Config::Load(const std::string& path) {
  auto fs = sys::MakeRealFileSystem();
  PK_ASSIGN_OR_RETURN(auto text, fs->ReadFile(path));
  return Parse(text, path);
}

}  // namespace pk::daemon
