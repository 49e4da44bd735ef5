// cluster::CorosyncSpec: the corosync.conf that `poolkeeper cluster init`
// writes (two heads with two_node, three heads, or two heads plus a quorum
// device), rendered from validated values, and the small part of an existing
// corosync.conf that `join` and the refusals read back (cluster name, heads,
// quorum device). Also the join bundle (corosync.conf + authkey, one JSON
// file) that init writes for the other heads.
// Thread-safety: plain values and pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "cluster/names.h"

namespace pk::cluster {

struct CorosyncHead {
  HeadName name;
  std::string address;  // ring0_addr, canonical IPv4/IPv6
};

struct QuorumDevice {
  std::string host;  // corosync-qnetd's address
  int port = 5403;
};

// Failure detection timing that `init` writes, for heads on one LAN (the HA
// lab's corosync.conf uses the same values; bench/failover measures them).
// token: a head is declared lost after 1 s without the token (corosync 3's
// default is 3 s); a new membership forms consensus = 1.2 * token later, so
// about 2.2 s after the last token instead of 6.6 s.
inline constexpr int kCorosyncTokenMs = 1000;
// The quorum device (corosync-qdevice): `timeout` is how often it must vote
// (its heartbeat to qnetd is 0.8 of it, qnetd drops a silent head after 1.5
// heartbeats, so about 3.6 s instead of 12 s); `sync_timeout` bounds how long
// a membership change waits for its vote (5 s instead of 30 s: a head that
// cannot reach qnetd gives up quorum after 5 s). A LAN answers in
// milliseconds; both stay well above the token.
inline constexpr int kQdeviceTimeoutMs = 3000;
inline constexpr int kQdeviceSyncTimeoutMs = 5000;

struct CorosyncSpec {
  std::string cluster_name;  // 1-32 of [A-Za-z0-9_-]
  std::vector<CorosyncHead> heads;  // nodeid = position + 1
  std::optional<QuorumDevice> qdevice;
};

// Checks the shape: 2 or 3 heads, distinct names and addresses of one
// family, a quorum device only with two heads (three heads have a majority of
// their own). InvalidArgument naming what is wrong.
Status ValidateCorosyncSpec(const CorosyncSpec& spec);

// corosync.conf text (knet, aes256/sha256 with /etc/corosync/authkey).
Result<std::string> RenderCorosyncConf(const CorosyncSpec& spec);

// Reads cluster_name, the nodelist (name, ring0_addr) and quorum.device.net
// host/port from corosync.conf text. InvalidArgument on unbalanced braces or
// a node without name or address.
Result<CorosyncSpec> ParseCorosyncConf(std::string_view text);

// "head=ADDRESS" as given on the command line.
Result<CorosyncHead> ParseHeadAddress(std::string_view text);

// The join bundle: {"cluster_name", "corosync_conf", "authkey" (base64)}.
struct JoinBundle {
  std::string corosync_conf;
  std::string authkey;  // raw bytes
};
std::string RenderJoinBundle(const JoinBundle& b);
Result<JoinBundle> ParseJoinBundle(std::string_view text);

}  // namespace pk::cluster
