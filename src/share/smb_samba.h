// The SMB backend: smbd with a fully private configuration tree under the
// daemon's state directory (its own smb.conf, passdb, lock, state, cache,
// pid and ncalrpc directories), so it never touches nor clashes with a
// system Samba, and several instances can run on one machine on different
// addresses or ports.
//
// The [global] section (smb.conf) is written once per option set and
// includes a generated shares file (shares.conf) with one section per share.
// Reconcile() rewrites shares.conf atomically, then asks a running smbd to
// reload (`smbcontrol --configfile=CONF smbd reload-config`; smbd drops
// connections to removed shares) or starts smbd, and checks what smbd
// lists (`smbclient -L`, anonymous, SMB3) against what it asked for,
// waiting for the reload to land. With no shares desired smbd is stopped,
// together with the samba-dcerpcd it started on demand (that helper leaves
// smbd's process group, so it is stopped by the pid in the private pid
// directory after checking that it runs this configuration).
//
// Users: smbd authenticates against its own passdb (tdbsam under the private
// directory) and maps each user to a Unix account of the same name, which
// must exist. SetSmbPassword/RemoveSmbUser manage passdb entries.
//
// Thread-safety: as every Backend, calls are serialised by the ShareManager;
// SetSmbPassword/RemoveSmbUser may run concurrently with it (smbpasswd locks
// the passdb).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "share/backend.h"
#include "sys/daemon_launcher.h"
#include "sys/files.h"
#include "sys/process_runner.h"
#include "sys/users.h"

namespace pk::share {

struct SambaOptions {
  // Waits and deadlines while starting, reloading and stopping the server (tests: testing::FakeClock).
  Clock* clock = &RealClock();
  // Programs (absolute paths; the Debian 12 locations by default).
  std::string smbd_path = "/usr/sbin/smbd";
  std::string smbcontrol_path = "/usr/bin/smbcontrol";
  std::string smbpasswd_path = "/usr/bin/smbpasswd";
  std::string smbclient_path = "/usr/bin/smbclient";
  std::string kill_path = "/bin/kill";

  // Required: the backend's own tree (conventionally STATE_DIR/samba),
  // created 0700 if missing: smb.conf, shares.conf, private/ (passdb),
  // lock/, state/, cache/, pid/, ncalrpc/, log/, smbd.log.
  std::string root_dir;

  // smb.conf "interfaces" with "bind interfaces only = yes" (e.g. "lo",
  // "eth0 10.1.2.3/24"). Empty: every interface.
  std::string interfaces = "lo";
  // The address the backend connects to when it checks what smbd serves.
  std::string check_address = "127.0.0.1";
  // TCP port ("smb ports"). The lab uses loopback and a high port.
  uint16_t port = 445;
  std::string workgroup = "WORKGROUP";
  std::string netbios_name = "POOLKEEPER";  // 1..15 of [A-Za-z0-9-]

  // How long to wait for smbd to start or to show a reloaded configuration,
  // and for a stopped smbd to exit before it is killed.
  std::chrono::milliseconds start_timeout{std::chrono::seconds(20)};
  std::chrono::milliseconds reload_timeout{std::chrono::seconds(10)};
  std::chrono::milliseconds stop_grace{std::chrono::seconds(5)};
};

// Paths of the private tree.
std::string SambaConfigPath(const SambaOptions& options);  // ROOT/smb.conf
std::string SambaSharesPath(const SambaOptions& options);  // ROOT/shares.conf

// The [global] smb.conf (pure); it includes SambaSharesPath().
std::string RenderSambaGlobal(const SambaOptions& options);
// The shares file for validated shares (pure), sections in the given order.
std::string RenderSambaShares(const std::vector<const Share*>& shares);

// Whether `share` can be written into smb.conf safely: an SMB definition on a
// filesystem, a path that is absolute without control characters, '%'
// (smb.conf substitutions), '\\' or surrounding blanks, a share name without
// smb.conf's special characters, and valid users that are plain account or
// @group names. InvalidArgument naming the share and the value.
Status ValidateForSamba(const Share& share);

// Fails (InvalidArgument) when `options` are unusable (relative paths, unsafe
// names, port 0) or the private tree cannot be created; writes smb.conf.
Result<std::unique_ptr<Backend>> MakeSambaBackend(SambaOptions options, sys::ProcessRunner& runner,
                                                  sys::DaemonLauncher& launcher, sys::FileSystem& fs);

// Adds `user` to the backend's passdb or changes its password
// (`smbpasswd -c CONF -s -a USER`, the password twice on stdin). The Unix
// account must exist (smbpasswd: NotFound otherwise). The password must be
// 1..256 bytes without newline or NUL. Writes smb.conf if it is missing, so
// users can be added before the first share.
Status SetSmbPassword(const SambaOptions& options, sys::ProcessRunner& runner, sys::FileSystem& fs,
                      const sys::AccountName& user, std::string_view password);
// Removes `user` from the passdb (`smbpasswd -c CONF -x USER`); NotFound when
// it has no entry.
Status RemoveSmbUser(const SambaOptions& options, sys::ProcessRunner& runner, sys::FileSystem& fs,
                     const sys::AccountName& user);

}  // namespace pk::share
