// The contract between poolkeeperd (migrate::Manager) and its helper
// `poolkeeper-shadowfs`: subcommands, exit codes and the status file.
//
//   poolkeeper-shadowfs init  --dir MOUNTPOINT --source URI [--concurrency N] [--bwlimit BYTES] [--preserve-special]
//   poolkeeper-shadowfs serve --dir MOUNTPOINT --dataset NAME --status FILE [--parent-pid PID]
//   poolkeeper-shadowfs cancel --dir MOUNTPOINT
//
// `init` and `cancel` print {"code": "...", "message": "..."} on stdout when
// they fail (code as in base/error.h). `serve` mounts the shadow layer, runs
// the migrator, rewrites FILE (JSON, see Status in manager.h) every second,
// and exits:
#pragma once

namespace pk::migrate {

inline constexpr int kExitFinalized = 0;  // migration complete: layer unmounted, state removed
inline constexpr int kExitFailed = 1;     // could not serve (message on stderr and in FILE)
inline constexpr int kExitStopped = 3;    // stopped by a signal; resumes at the next serve
inline constexpr int kExitBusy = 4;       // another helper (e.g. another poolkeeperd's) serves the dataset

}  // namespace pk::migrate
