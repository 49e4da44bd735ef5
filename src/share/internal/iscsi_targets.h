// The part of serving iSCSI shares that does not depend on the target
// implementation (tgt, LIO): grouping the desired shares into targets and
// checking that the shares of one target agree. Both backends call it, so a
// definition is served with the same semantics whichever serves it.
//
// Thread-safety: pure functions.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "share/backend.h"
#include "share/definition.h"
#include "sys/beneath.h"

namespace pk::share::internal {

// The shares of one IQN, as one target. Target-wide settings (initiator ACL,
// CHAP account) come from the first share of the IQN in `desired` order.
struct IscsiTargetPlan {
  std::string iqn;
  std::vector<size_t> shares;           // indexes into `desired`
  std::map<int, size_t> luns;           // LUN -> index into `desired`
  std::vector<std::string> initiators;  // sorted, unique ("ALL", names, addresses)
  std::string chap_user;                // empty: no CHAP
  std::string chap_secret;
};

// One OK result per desired share, in order (what Reconcile starts from).
std::vector<ShareResult> OkResults(const std::vector<Share>& desired);
// Sets every result still OK to `error` (the whole protocol failed).
void FailRemaining(std::vector<ShareResult>& results, const Error& error);

// issue 17 item 4: the LUN file of every file-backed share (not volumes) must
// be a regular file of its dataset reached without following a symbolic link
// (`check`, sys::StatRegularBeneath from the mountpoint): an NFS client
// of the dataset may have swapped it for a link to a block device or to
// another tenant's file, which the target server, running as root, would
// otherwise open. A share that fails gets the reason and is not served
// (PlanIscsiTargets leaves it out, so a LUN already served from it is
// removed). Called before every serve by both backends. Returns, per desired
// share, the file that passed (device and inode), so that a backend can
// compare it with what the target server opened afterwards.
std::vector<std::optional<sys::RegularFile>> CheckIscsiBackingFiles(const std::vector<Share>& desired,
                                                                    std::vector<ShareResult>& results,
                                                                    const sys::RegularFileCheck& check);

// Groups `desired` (every share of the protocol) by IQN. `results` holds one
// entry per desired share; a share whose result is already an error is left
// out; a share that is not iSCSI, whose
// initiators or CHAP account differ from its target's first share, or whose
// LUN another share of the target already has, gets FailedPrecondition (or
// InvalidArgument) naming both shares and is left out of every plan: never a
// wider ACL than a definition asks for.
std::vector<IscsiTargetPlan> PlanIscsiTargets(const std::vector<Share>& desired, std::vector<ShareResult>& results);

// Drops every share of `plan` from serving with `error` (wrapped with the
// share's id) and empties it.
void FailPlan(IscsiTargetPlan& plan, const std::vector<Share>& desired, std::vector<ShareResult>& results,
              const Error& error);

// Whether `portal` is "IPV4:PORT" or "[IPV6]:PORT" (numeric, port 1..65535).
bool IsIscsiPortal(const std::string& portal);

// Where a LUN's data is: the volume's device node, or the file in the filesystem.
std::string IscsiBackingPath(const Share& share);

}  // namespace pk::share::internal
