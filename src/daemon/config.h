// poolkeeperd's configuration: a file of "key = value" lines ('#' starts a
// comment), then command-line overrides. Every field, its default and its
// meaning is listed here and in packaging/poolkeeperd.conf.
// Thread-safety: a plain value, read once at start-up.
#pragma once

#include <chrono>
#include <string>

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

  // Reads `path` over the defaults. Unknown keys and bad values are errors naming the line.
  static Result<Config> Load(const std::string& path);
  static Result<Config> Parse(const std::string& text, const std::string& origin);
};

}  // namespace pk::daemon
