// share::MakeLioBackend: the iSCSI Backend served by the Linux kernel's
// target (LIO: target_core_mod + iscsi_target_mod), configured directly
// through configfs (/sys/kernel/config/target) with sys::ConfigFs: no
// targetcli, no python, no saved configuration file. The kernel target keeps
// running without Poolkeeper; what it serves is exactly what the last
// Reconcile() left there.
//
// Mapping of a Share to LIO (the grouping and the agreement rules are
// share/internal/iscsi_targets.h, shared with tgt):
//   - one iSCSI target per distinct IQN (target/iscsi/IQN) with one portal
//     group, tpgt_1, listening on the configured portal (np/ADDR:PORT) and
//     marked as Poolkeeper's by its TargetAlias parameter (`alias`): a target
//     without that mark is never changed or removed, and a share whose IQN is
//     such a foreign target fails;
//   - one storage object per share, named "pk" + the dataset guid in 16 hex
//     digits, in Poolkeeper's own HBAs core/iblock_N (a volume: the block
//     backstore on /dev/zvol/POOL/NAME) and core/fileio_N (a file in a
//     filesystem), N = `hba_index`; its unit serial (wwn/vpd_unit_serial) is
//     IdentityFor(guid).serial, written before the object is exported (the
//     kernel refuses it after);
//   - LUN n of the target (tpgt_1/lun/lun_n) linked to that object;
//   - ACL: "ALL" is LIO's demo mode (generate_node_acls=1, every initiator
//     sees every LUN); initiator names are node ACLs (tpgt_1/acls/NAME) with
//     every LUN mapped under its own number. LIO has no ACL by initiator
//     address: a definition with addresses or networks fails with
//     FailedPrecondition (never a wider ACL than the definition asks for);
//   - CHAP: authentication=1 with the user and secret on the portal group
//     (demo mode) or on each node ACL, written before the ACL opens;
//   - read-only: the block backstore's readonly=1 (every initiator); on a
//     file, each node ACL's mapped LUN write_protect=1. A read-only file LUN
//     in demo mode fails (LIO's fileio has no read-only mode and
//     demo_mode_write_protect covers the whole target).
// A storage object whose backing path, read-only flag or serial differs from
// the definition is recreated (its LUN unmapped first); everything else is
// changed in place, so a reconcile that finds what it wants writes nothing.
//
// What an initiator sees (checked in the OpenZFS guest with open-iscsi):
//   - VPD 0x80: IdentityFor(guid).serial;
//   - VPD 0x83 NAA 6: LIO derives it from the unit serial: 0x6, the IEEE
//     company id (LIO's 0x001405), then the serial's hex digits ("PK" is not
//     hex: the guid's 16), zero-padded: LioNaaFor(serial) = IdentityFor(guid).naa
//     (definition.h). The tgt backend sets its scsi_id so that tgt presents
//     this same NAA (TgtNaaFor): one LU identity on both servers.
//
// Removal (a share gone, Stop()) cleans configfs fully: mapped LUNs, node
// ACLs, LUN links, LUNs, portals, the portal group (disabled first, which
// ends its sessions), the target, the storage object and an empty HBA.
//
// Thread-safety: as share::Backend (calls are serialised by the caller).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "base/error.h"
#include "share/backend.h"
#include "sys/beneath.h"
#include "sys/configfs.h"
#include "sys/files.h"
#include "sys/process_runner.h"

namespace pk::share {

struct LioOptions {
  // Where configfs is mounted; LIO is its target/ directory.
  std::string configfs_root = "/sys/kernel/config";
  // Run once (`modprobe target_core_mod`) when target/ is missing; the iSCSI
  // fabric then loads when its directory is made.
  std::string modprobe_path = "/usr/sbin/modprobe";
  // Portal of every target, "IPV4:PORT" or "[IPV6]:PORT".
  std::string portal = "0.0.0.0:3260";
  // Poolkeeper's HBAs: core/iblock_N and core/fileio_N. Other tools
  // (targetcli) number theirs from 0.
  int hba_index = 7340;
  // TargetAlias of Poolkeeper's targets (the ownership mark).
  std::string alias = "poolkeeper";
  std::chrono::milliseconds command_timeout{std::chrono::seconds(30)};
  // Checks a LUN file before it is served (issue 17 item 4). Unset:
  // sys::StatRegularBeneath. Tests inject a fake.
  sys::RegularFileCheck lun_file_check;
};

// Checks `options` (absolute paths, portal form, HBA index, alias); nothing is
// touched until Start() or the first Reconcile(). The backend keeps
// references to `configfs`, `runner` and `fs` (backing file sizes), which
// must outlive it.
// issue 17 item 4: whether `path` can be written into a configfs `control`
// parameter string ("fd_dev_name=PATH,fd_dev_size=N", "udev_path=PATH"):
// InvalidArgument when it holds ',' or a newline.
Status CheckLioParameterPath(std::string_view path);

Result<std::unique_ptr<Backend>> MakeLioBackend(LioOptions options, sys::ConfigFs& configfs,
                                                sys::ProcessRunner& runner, sys::FileSystem& fs);

}  // namespace pk::share
