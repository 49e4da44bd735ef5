#include "tests/e2e/share_lab.h"

#include <unistd.h>

#include <fstream>

#include <fmt/format.h>

namespace pk::e2e {

ShareHead ShareHeadFor(int index) {
  // 16 slots of 4 heads each, from the pid: ports 13000..13999 and 14000..14999.
  int slot = static_cast<int>(::getpid() % 200) * 4 + index;
  ShareHead h;
  h.index = index;
  h.tgt_control_port = 100 + slot;
  h.iscsi_port = 13000 + slot;
  h.nfs_netns = fmt::format("pk-nfs-{}-{}", ::getpid(), index);
  h.smb_port = 14000 + slot;
  return h;
}

std::string WriteShareConfig(const DaemonOptions& options, const ShareHead& head) {
  std::ofstream out(options.config, std::ios::trunc);
  out << fmt::format(
      "# share servers of test head {}\n"
      "iscsi_server = off\n"
      "nfs_server = on\n"
      "nfs_netns = {}\n"
      "smb_server = on\n"
      "smb_interfaces = lo\n"
      "smb_port = {}\n"
      "smb_netbios_name = PKHEAD{}\n",
      head.index, head.nfs_netns, head.smb_port, head.index);
  out.close();
  if (!out) return "write " + options.config + " failed";
  return "";
}

}  // namespace pk::e2e
