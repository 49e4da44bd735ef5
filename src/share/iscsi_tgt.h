// share::MakeTgtBackend: the iSCSI Backend, served by the Linux SCSI target
// framework's userspace daemon (tgtd 1.0.85, Debian 12) and configured
// entirely with tgtadm commands: no tgt configuration file is written or read.
//
// tgtd runs as a child of Poolkeeper (sys::DaemonLauncher) with its own
// control port (`tgtd -f -C N`, management socket /var/run/tgtd/socket.N) and
// always an explicit portal (`--iscsi portal=ADDR:PORT`), so it never meets
// another tgtd on the machine. Every tgtadm call runs through the
// ProcessRunner with `-C N --lld iscsi`.
//
// Mapping of a Share to tgt:
//   - one tgt target per distinct IQN; several datasets may share an IQN with
//     different LUN numbers. Target-wide settings (initiator ACL, CHAP) must
//     agree between the shares of one IQN: the first share (in `desired`
//     order) sets them, a share that disagrees fails with FailedPrecondition
//     and is not served (never a wider ACL than a definition asks for);
//   - target ids (tids) are chosen by the backend: a hash of the IQN into
//     1..2^24 (the next free id on a collision), kept for the life of the
//     backend, and re-used when tgtd is restarted;
//   - LUN: backing store `Share::path + "/" + file` on a filesystem,
//     `Share::path` on a volume; `--bstype rdwr`; a file is checked before
//     (sys::StatRegularBeneath) and, once tgtd opened it by path, the
//     descriptor tgtd holds is compared with the checked file (device and
//     inode, /proc/PID/fd): a file swapped in between (a symlink to a file
//     outside the dataset, say) makes the backend delete the LU again and
//     fail the share (issue 17 item 4); parameters
//     `scsi_sn=IdentityFor(guid).serial, scsi_id=IdentityFor(guid).scsi_id,
//     readonly=0|1`;
//   - ACL: `--initiator-name` for IQN/EUI entries, `--initiator-address` for
//     addresses, networks and ALL;
//   - CHAP: one incoming account per CHAP user (`--mode account --op new`,
//     bound to each target that uses it). tgt keeps one secret per user name,
//     so two targets with the same CHAP user and different secrets conflict
//     (the later share fails). tgt cannot report a secret back: the backend
//     remembers the secrets it set and recreates an account whose secret it
//     does not know (e.g. after adopting a running tgtd).
//
// Removing a target or LUN while commands are in flight: tgt refuses even a
// forced delete ("this logical unit is still active"); the backend then
// unbinds the target's ACL (for a target), closes its connections
// (`--mode conn --op delete`) and retries until the command timeout.
//
// A tgtd that already answers on the control port when the backend starts
// one (left running by a Poolkeeper that was killed) is adopted: reconciled
// like its own, stopped with `sys delete` (there is no handle to kill it).
// tgtd that cannot bind the portal falls back to listening on every address:
// Start() refuses that (Unavailable) and kills it.
//
// What an initiator sees for a LUN (checked by tests/integration/iscsi_test.cc
// with libiscsi against tgtd 1.0.85):
//   - VPD 0x80 unit serial number: IdentityFor(guid).serial ("PK" + 16 hex),
//     right-aligned in tgt's fixed 36-byte field (leading blanks);
//   - VPD 0x83 device identification, three LU designators:
//       T10 vendor ID (ASCII): IdentityFor(guid).scsi_id;
//       NAA 6 IEEE Registered Extended (16 bytes): tgt derives it from the
//         scsi_id, one nibble per character (its hex value, 0 for non-hex
//         characters), the last 32 kept right-aligned, first nibble forced
//         to 6 (TgtNaaFor() computes it). Poolkeeper's scsi_id is "pk" + the
//         32 hex digits of the NAA LIO derives from the serial, so tgt
//         presents IdentityFor(guid).naa = 0x6001405 + guid + 9 zeros, the
//         same NAA as the LIO backend, stable across heads, renames,
//         restarts and a change of target server;
//       NAA 3 locally assigned (8 bytes): tgt's numeric id 0x3 | tid << 32 |
//         lun (tgt 1.0.85 has no parameter to set it); the tid is the IQN
//         hash above, hence the same on every head unless a hash collision
//         moved it.
//   Linux (udev scsi_id, multipath) prefers the NAA 6 designator, so its
//   wwn-0x6001405<guid>000000000 name is the stable one, with tgt or LIO.
//
// Thread-safety: as share::Backend (calls are serialised by the caller).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "share/backend.h"
#include "sys/beneath.h"
#include "sys/daemon_launcher.h"
#include "sys/files.h"
#include "sys/process_runner.h"

namespace pk::share {

struct TgtOptions {
  // Waits and deadlines while starting, reloading and stopping the server (tests: testing::FakeClock).
  Clock* clock = &RealClock();
  // Programs (absolute paths).
  std::string tgtd_path = "/usr/sbin/tgtd";
  std::string tgtadm_path = "/usr/sbin/tgtadm";
  // tgtd's control port (`-C N`): management socket /var/run/tgtd/socket.N.
  // Must differ from every other tgtd on the machine (a distribution's tgtd
  // uses 0). 1..1023.
  int control_port = 20;
  // The iSCSI portal tgtd listens on, "IPV4:PORT" or "[IPV6]:PORT"; always
  // passed as `--iscsi portal=`, because tgtd's default is every address.
  std::string portal = "0.0.0.0:3260";
  // Directory for tgtd's log (tgtd.log); created when missing. The daemon
  // passes STATE_DIR/tgt.
  std::string runtime_dir = "/var/lib/poolkeeper/tgt";
  // Timeout of each tgtadm command.
  std::chrono::milliseconds command_timeout{std::chrono::seconds(10)};
  // How long Start() waits for the control socket to answer.
  std::chrono::milliseconds start_timeout{std::chrono::seconds(10)};
  // How long Stop() waits for tgtd to exit after `--mode sys --op delete`
  // before it kills the process group.
  std::chrono::milliseconds stop_grace{std::chrono::seconds(5)};
  // Creates an incoming CHAP account in the tgtd on `control_port`. Unset:
  // TgtNewAccount (tgtd's management socket, never tgtadm: tgtadm takes the
  // secret on its command line, which every local user can read in
  // /proc/PID/cmdline while it runs; issue 17 item 5). Tests inject a fake.
  std::function<Status(int control_port, const std::string& user, const std::string& secret)> new_account;
  // Checks a LUN file before it is served (issue 17 item 4). Unset:
  // sys::StatRegularBeneath. Tests inject a fake.
  sys::RegularFileCheck lun_file_check;
  // The regular files and block devices the serving tgtd holds open (issue 17
  // item 4: after adding a file LUN, the descriptor tgtd opened must be the
  // checked file). Unset: sys::OpenFilesOf of tgtd's pid (our child's, or for
  // an adopted tgtd the peer of its management socket). Tests inject a fake.
  std::function<Result<std::vector<sys::OpenFile>>()> tgtd_open_files;
  // Test hook, unset in production: called with the backing path after the
  // LUN file was checked and before tgtd is told to open it, so a test can
  // swap the file in exactly the window issue 17 item 4 is about.
  std::function<void(const std::string& backing_path)> before_lun_open;
};

// `tgtadm -C PORT --lld iscsi --mode account --op new --user U --password S`
// done without tgtadm: one request on tgtd's management socket
// (/var/run/tgtd/socket.PORT; tgtd accepts root peers only), the request
// header of tgt 1.0.x's usr/tgtadm.h (mode, op, lld[64], len, tid, sid, lun,
// cid, host_no, device_type, ac_dir, pack, force: 120 bytes on x86_64)
// followed by "user=U,password=S\0", answered by {err, len}. The secret
// travels only over the socket. Unavailable when tgtd does not answer,
// FailedPrecondition with tgtd's error number when it refuses. A user or
// secret holding ',' cannot be expressed (tgtd splits parameters on ',').
Status TgtNewAccount(int control_port, const std::string& user, const std::string& secret,
                     std::chrono::milliseconds timeout);

// Checks `options` (absolute paths, port range, portal form); the server is
// not started until Start() or the first Reconcile(). The backend keeps
// references to `runner`, `launcher` and `fs`, which must outlive it.
Result<std::unique_ptr<Backend>> MakeTgtBackend(TgtOptions options, sys::ProcessRunner& runner,
                                                sys::DaemonLauncher& launcher, sys::FileSystem& fs);

// The NAA 6 designator tgt presents in VPD 0x83 for a LU with `scsi_id`
// ("0x6" + 31 hex digits), computed by tgt's rule (see above).
std::string TgtNaaFor(const std::string& scsi_id);

// What `tgtadm --lld iscsi --mode target --op show` reports (exposed for the
// parser's unit test and for status).
struct TgtLun {
  int lun = 0;
  std::string type;           // "controller" (LUN 0), "disk", ...
  std::string scsi_id;
  std::string scsi_sn;
  bool readonly = false;
  std::string backing_type;   // "rdwr", "null", ...
  std::string backing_path;   // "None" for LUN 0
};
struct TgtNexus {
  int sid = 0;                  // "I_T nexus: N"
  std::string initiator;        // "iqn... alias: ..." as printed
  std::vector<int> connections; // cids
};
struct TgtTarget {
  int tid = 0;
  std::string iqn;
  int sessions = 0;                        // I_T nexuses (logged-in sessions)
  std::vector<TgtNexus> nexuses;
  std::vector<TgtLun> luns;                // LUN 0 (the controller) included
  std::vector<std::string> accounts;       // incoming CHAP users bound
  std::vector<std::string> outgoing_accounts;
  std::vector<std::string> acls;           // addresses, networks, names, "ALL"
};
// InvalidArgument naming the line when the text is not in tgtadm's format.
Result<std::vector<TgtTarget>> ParseTgtTargets(const std::string& show_output);

}  // namespace pk::share
