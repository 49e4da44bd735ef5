#include "tests/e2e/share_lab.h"

#include <unistd.h>

#include <fstream>

#include <fmt/format.h>

namespace pk::e2e {

ShareHead ShareHeadFor(int index) {
  // 200 slots of 4 heads each, from the pid: ports 13000..13799 and 14000..14799,
  // tgt control ports 200..999.
  int slot = static_cast<int>(::getpid() % 200) * 4 + index;
  ShareHead h;
  h.index = index;
  h.tgt_control_port = 200 + slot % 800;
  h.iscsi_port = 13000 + slot;
  h.nfs_netns = fmt::format("pk-nfs-{}-{}", ::getpid(), index);
  h.smb_port = 14000 + slot;
  return h;
}

Status WriteShareConfig(const PoolkeeperdOptions& options, const ShareHead& head, const std::string& cluster_authkey) {
  std::ofstream out(options.config, std::ios::trunc);
  out << fmt::format(
      "# share servers of test head {}\n"
      "iscsi_server = tgt\n"
      "iscsi_portal = 127.0.0.1:{}\n"
      "tgt_control_port = {}\n"
      "nfs_server = ganesha\n"
      "nfs_netns = {}\n"
      "smb_server = on\n"
      "smb_interfaces = lo\n"
      "smb_port = {}\n"
      "smb_netbios_name = PKHEAD{}\n"
      "cluster_authkey = {}\n",
      head.index, head.iscsi_port, head.tgt_control_port, head.nfs_netns, head.smb_port, head.index,
      cluster_authkey.empty() ? options.state_dir + "/no-cluster-authkey" : cluster_authkey);
  out.close();
  if (!out) return Internal("write " + options.config + " failed");
  return OkStatus();
}

Status AddSuiteUser(sys::ProcessRunner& runner, const std::string& prefix, std::string* user) {
  std::string name = prefix + std::to_string(::getpid());
  auto added = runner.Run({.program = "/usr/sbin/useradd", .args = {"-M", "-s", "/usr/sbin/nologin", name},
                           .env = ToolEnv()});
  if (!added || !added->status.Success()) return Internal("useradd " + name + " failed");
  *user = name;
  return OkStatus();
}

void RemoveSuiteUser(sys::ProcessRunner& runner, const std::string& user) {
  if (!user.empty()) (void)runner.Run({.program = "/usr/sbin/userdel", .args = {user}, .env = ToolEnv()});
}

}  // namespace pk::e2e
