// e2e::share_lab: what the share suites need beside the harness: the share
// servers' ports and namespaces of one "head" (a poolkeeperd of its own),
// chosen from the test's pid so parallel runs do not collide, and the daemon
// configuration that points the head's servers at them.
#pragma once

#include <string>

#include "tests/e2e/harness.h"

namespace pk::e2e {

struct ShareHead {
  int index = 0;
  int tgt_control_port = 0;  // tgtd -C N
  int iscsi_port = 0;        // portal 127.0.0.1:PORT
  std::string nfs_netns;     // ganesha + rpcbind run in this network namespace
  int smb_port = 0;          // smbd on 127.0.0.1:PORT

  std::string IscsiPortal() const { return "127.0.0.1:" + std::to_string(iscsi_port); }
};

// Head `index` (0, 1, ...) of this test process.
ShareHead ShareHeadFor(int index);

// Writes `options.config` with the head's share servers.
// `cluster_authkey`: heads given the same file are one cluster for pool
// adoption (issue 17 item 6); empty: a path that does not exist, so the
// host's own /etc/corosync/authkey never plays a part in a test.
Status WriteShareConfig(const PoolkeeperdOptions& options, const ShareHead& head, const std::string& cluster_authkey = "");

// A local user for SMB shares, "PREFIX<pid>" (useradd -M, no login shell).
// *user is set only on success.
Status AddSuiteUser(sys::ProcessRunner& runner, const std::string& prefix, std::string* user);
// userdel of a user AddSuiteUser made (nothing when `user` is empty).
void RemoveSuiteUser(sys::ProcessRunner& runner, const std::string& user);

}  // namespace pk::e2e
