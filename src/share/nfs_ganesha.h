// The NFS backend: nfs-ganesha (FSAL_VFS) serving every NFS share as one
// EXPORT of a configuration file Poolkeeper generates, plus rpcbind.
//
// Reconcile() renders ganesha.conf from the desired shares (one EXPORT per
// share, Export_Id stable per dataset guid, one CLIENT block per client spec),
// writes it atomically and then either reloads a running ganesha (SIGHUP:
// ganesha rereads its exports without a restart, keeping the others served)
// or starts it. ganesha drops an EXPORT it cannot accept with a "Config File
// (FILE:LINE)" error in its log and carries on, so the backend reads the log
// written after the start or reload and maps those lines back to the share
// whose EXPORT block they fall in: such a share gets an error, the others are
// served. It then asks the MOUNT service (`showmount -e`) which exports it
// lists: ganesha lists only exports the asking client may mount, so this
// check proves that removed exports are gone and that exports open to the
// loopback client are there; the log check covers the rest. With no shares
// desired, ganesha and rpcbind are stopped (and the namespaces removed), so
// that another instance elsewhere can run.
//
// Network namespace (GaneshaOptions::netns). ganesha aborts unless it can
// register with rpcbind, and rpcbind binds every address and keeps its unix
// socket and lock at the fixed path /run/rpcbind.sock (not per network
// namespace). In the lab both therefore run in a private network namespace
// (created with lo up when the backend starts, removed when it stops):
//   - rpcbind also runs in a private mount namespace whose /run is a tmpfs,
//     so its socket and lock file never clash with another rpcbind. That
//     namespace is kept in `runtime_dir/rpcbind.mntns` (a persistent
//     namespace: `unshare --mount=FILE`, then `nsenter --mount=FILE`), and
//     the FUSE mounts it copied are lazily unmounted inside it so it pins no
//     dataset.
//   - ganesha enters only the network namespace (`nsenter --net`): it stays
//     in the host's mount namespace, so it sees datasets mounted later and
//     pins none (a private mount namespace would keep a copy of every FUSE
//     mount and make `zpool export` fail with "busy"). It finds no
//     /run/rpcbind.sock there and registers with the namespace's rpcbind over
//     loopback; the backend checks that registration (`rpcinfo`).
// With `netns` empty (production), ganesha runs in the host namespaces and
// registers with the host's rpcbind, which the backend neither starts nor stops.
//
// Thread-safety: as every Backend, calls are serialised by the ShareManager.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "share/backend.h"
#include "sys/daemon_launcher.h"
#include "sys/files.h"
#include "sys/process_runner.h"

namespace pk::share {

struct GaneshaOptions {
  // Waits and deadlines while starting, reloading and stopping the server (tests: testing::FakeClock).
  Clock* clock = &RealClock();
  // Programs (absolute paths; the Debian 12 locations by default).
  std::string ganesha_path = "/usr/bin/ganesha.nfsd";
  std::string rpcbind_path = "/usr/sbin/rpcbind";
  std::string rpcinfo_path = "/usr/sbin/rpcinfo";
  std::string showmount_path = "/usr/sbin/showmount";
  std::string ip_path = "/usr/sbin/ip";
  std::string nsenter_path = "/usr/bin/nsenter";
  std::string unshare_path = "/usr/bin/unshare";
  std::string mount_path = "/usr/bin/mount";
  std::string umount_path = "/usr/bin/umount";

  // Required: the backend's own directory (conventionally STATE_DIR/ganesha),
  // created 0700 if missing. It holds ganesha.conf, ganesha.log, ganesha.pid,
  // the NFSv4 recovery directory recov/, rpcbind.log and rpcbind.mntns. It
  // must not lie on a mount with shared propagation (unshare's rule for a
  // persistent mount namespace) when `netns` is set.
  std::string runtime_dir;

  // Network namespace to run rpcbind and ganesha in (see the header comment),
  // e.g. "pk-nfs-head1"; every instance on a machine needs its own. Empty:
  // the host's namespaces, with the host's rpcbind (production).
  std::string netns;

  // Ports (NFS_Core_Param). The MOUNT port is fixed so that clients that know
  // it need no portmapper.
  uint16_t nfs_port = 2049;
  uint16_t mnt_port = 20048;

  // How long to wait for ganesha (and rpcbind) to start or to finish a
  // reload, and for a stopped server to exit before it is killed.
  std::chrono::milliseconds start_timeout{std::chrono::seconds(20)};
  std::chrono::milliseconds reload_timeout{std::chrono::seconds(10)};
  std::chrono::milliseconds stop_grace{std::chrono::seconds(5)};
};

// The generated ganesha.conf and where each share's EXPORT block lies in it
// (1-based, inclusive), so that ganesha's "Config File (FILE:LINE)" errors can
// be charged to their share. Exposed for tests.
struct GaneshaConfig {
  struct Block {
    std::string id;        // Share::Id()
    std::string path;      // Path = ...
    uint16_t export_id = 0;
    int first_line = 0;
    int last_line = 0;
  };
  std::string text;
  std::vector<Block> exports;
};

// An export as it will be written: a validated share and its Export_Id.
struct GaneshaExport {
  const Share* share = nullptr;
  uint16_t export_id = 0;
};

// Renders the configuration (pure). Values were validated by
// ValidateForGanesha; nothing here refuses input.
GaneshaConfig RenderGaneshaConfig(const GaneshaOptions& options, const std::vector<GaneshaExport>& exports);

// Whether `share` can be written into ganesha.conf safely: an NFS definition,
// an absolute path without '"', '\\' or control characters (written quoted),
// a pseudo path of the same kind, and client matches that are plain tokens.
// InvalidArgument naming the share and the offending value.
Status ValidateForGanesha(const Share& share);

// The Export_Id a dataset guid asks for: 1 + guid mod 65000 (0 is ganesha's
// pseudo root). Collisions are resolved by the backend (next free id, in guid
// order, and an id once given keeps its dataset while the backend lives).
uint16_t PreferredExportId(uint64_t guid);

// Fails (InvalidArgument) when `options` are unusable: empty runtime_dir,
// relative program paths, a netns name that is not [A-Za-z0-9_.-]{1,64}.
Result<std::unique_ptr<Backend>> MakeGaneshaBackend(GaneshaOptions options, sys::ProcessRunner& runner,
                                                    sys::DaemonLauncher& launcher, sys::FileSystem& fs);

}  // namespace pk::share
