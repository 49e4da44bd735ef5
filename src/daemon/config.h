// poolkeeperd's configuration: a file of "key = value" lines ('#' starts a
// comment), then command-line overrides. Every field, its default and its
// meaning is listed here and in packaging/poolkeeperd.conf.
// Thread-safety: a plain value, read once at start-up.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "base/error.h"

namespace pk::daemon {

struct Config {
  // Node-local state: API token, and later skip/delay switches and locks. Created 0700.
  std::string state_dir = "/var/lib/poolkeeper";
  // The API's unix socket (root only, mode 0600). Its directory is created 0755.
  std::string socket = "/run/poolkeeper/poolkeeperd.sock";
  // Optional TCP listener "ADDRESS:PORT" (numeric, e.g. 127.0.0.1:8470); empty = none.
  // Every TCP request needs "Authorization: Bearer <state_dir/api-token>".
  std::string tcp_listen;
  // Period of the full inventory refresh; changes made through the API refresh at once.
  int refresh_interval_seconds = 30;
  // Longest run of one zpool/zfs command before its process group is killed.
  int tool_timeout_seconds = 300;
  // Longest run of a zpool/zfs command behind an API read (a pool's live
  // status, one dataset's properties, quotas); past it the read answers 504
  // naming the pool or dataset (issue 17 item 1).
  int api_read_timeout_seconds = 20;
  // trace, debug, info, warn, error. At debug every tool argv is logged.
  std::string log_level = "info";
  // Seconds between health checks of online pools (a check that hangs is
  // killed at twice this, or 20 s at least, and never blocks the supervisor).
  int health_interval_seconds = 10;
  // Events kept in state_dir/events.jsonl.
  int event_log_max = 10000;
  // zpool and zfs to run; empty: found in /usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin.
  // (Tests point zpool_path at a fault-injecting wrapper.)
  std::string zpool_path;
  std::string zfs_path;

  // Share servers (issue 4). Each is auto, on, off, or a named server:
  //   iscsi_server: auto | on | tgt | lio | off
  //   nfs_server:   auto | on | ganesha | kernel | off
  //   smb_server:   auto | on | off
  // auto: the kernel's server when this head has it (LIO; nfsd with
  // exportfs), else the userspace one when installed (tgtd; ganesha), else
  // none. on: as auto, but falls back to the userspace server even when it is
  // missing, so that shares fail with the reason (the meaning `on` had when
  // tgt and ganesha were the only servers). ChooseIscsiServer/ChooseNfsServer.
  // Their files live in state_dir/tgt, state_dir/ganesha, state_dir/samba.
  std::string iscsi_server = "auto";
  // tgtd's portal "ADDRESS:PORT" and its private control port (tgtd -C N,
  // 1..1023; a distribution's own tgtd uses 0).
  std::string iscsi_portal = "0.0.0.0:3260";
  int tgt_control_port = 20;
  std::string nfs_server = "auto";
  // Network namespace for ganesha + rpcbind (the lab's way to keep rpcbind
  // off the host); empty: the host's namespace and rpcbind (production).
  std::string nfs_netns;
  int nfs_port = 2049;
  int nfs_mount_port = 20048;
  // The exports file the kernel NFS server's backend owns (exportfs reads
  // every *.exports file of /etc/exports.d).
  std::string nfs_exports_file = "/etc/exports.d/poolkeeper.exports";
  std::string smb_server = "auto";
  // smb.conf "interfaces" (bind interfaces only); empty: every interface.
  std::string smb_interfaces;
  int smb_port = 445;
  std::string smb_netbios_name = "POOLKEEPER";
  // The corosync authkey, from which the cluster's pool adoption key is
  // derived (service/ownership.h): heads sharing it serve each other's
  // adopted pools. Absent file: this head's own key only.
  std::string cluster_authkey = "/etc/corosync/authkey";
  // Disks (issue 20 items 2, 3; documented in packaging/poolkeeperd.conf).
  std::string disk_source = "auto";  // auto (lsblk when installed, else sysfs), lsblk, sysfs
  std::string sys_root;              // "" = /sys and /dev of this host; the lab: its chassis tree
  std::string dev_root;
  std::string chassis_file = "/etc/poolkeeper/chassis.conf";
  std::string vdev_id_file = "/etc/zfs/vdev_id.conf";
  int disk_rescan_seconds = 60;
  int smart_interval_seconds = 3600;  // 0: SMART is not polled
  std::string smartctl_path = "/usr/sbin/smartctl";

  // Reads `path` over the defaults. Unknown keys and bad values are errors naming the line.
  static Result<Config> Load(const std::string& path);
  static Result<Config> Parse(const std::string& text, const std::string& origin);
};

enum class IscsiServer { kOff, kTgt, kLio };
enum class NfsServer { kOff, kGanesha, kKernel };
std::string_view IscsiServerName(IscsiServer server);  // "off", "tgt", "lio"
std::string_view NfsServerName(NfsServer server);      // "off", "ganesha", "kernel"

// What this head has, found by the daemon at start (main.cc).
struct ServerFacts {
  bool tgt_installed = false;      // tgtd is executable
  bool lio_present = false;        // the kernel has LIO (loaded, or its iSCSI module installed)
  bool ganesha_installed = false;  // ganesha.nfsd is executable
  bool kernel_nfs_present = false; // exportfs is executable and the kernel has nfsd
};
// The server a mode (a validated config value) selects on a head with `facts`.
IscsiServer ChooseIscsiServer(std::string_view mode, const ServerFacts& facts);
NfsServer ChooseNfsServer(std::string_view mode, const ServerFacts& facts);

}  // namespace pk::daemon
