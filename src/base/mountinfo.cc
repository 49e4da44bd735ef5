#include "base/mountinfo.h"

#include <algorithm>

#include "base/text.h"

namespace pk {

std::vector<MountEntry> ParseMountInfo(std::string_view text) {
  // "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER"
  std::vector<MountEntry> mounts;
  for (auto line : SplitLines(text)) {
    auto f = SplitFields(line);
    if (f.size() < 6) continue;
    auto dash = std::find(f.begin() + 6, f.end(), std::string_view("-"));
    if (std::distance(dash, f.end()) < 3) continue;
    mounts.push_back(MountEntry{.device = std::string(f[2]),
                                .root = UnescapeOctal(f[3]),
                                .mount_point = UnescapeOctal(f[4]),
                                .fs_type = std::string(*(dash + 1)),
                                .source = UnescapeOctal(*(dash + 2))});
  }
  return mounts;
}

const MountEntry* TopMountAt(const std::vector<MountEntry>& mounts, std::string_view mount_point) {
  auto top = std::find_if(mounts.rbegin(), mounts.rend(),
                          [&](const MountEntry& m) { return m.mount_point == mount_point; });
  return top == mounts.rend() ? nullptr : &*top;
}

}  // namespace pk
