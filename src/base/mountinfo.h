// The mounts /proc/PID/mountinfo lists (proc(5)), parsed: who is mounted
// where, with which filesystem type and source. Pure parsing; reading the
// file is the caller's (through sys::FileSystem, or directly in the FUSE
// helper, which has no sys).
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace pk {

struct MountEntry {
  std::string device;       // "MAJ:MIN", decimal, as listed
  std::string root;         // the mounted filesystem's directory shown here
  std::string mount_point;  // octal escapes decoded
  std::string fs_type;      // "zfs", "fuse.zfs", "fuse.pkshadow", ...
  std::string source;       // octal escapes decoded: for ZFS the dataset name
};

// One entry per well-formed line, in the file's order (for one mount point
// the last entry is the mount on top). Lines without "- TYPE SOURCE" after
// the six leading fields (ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS) are
// skipped.
std::vector<MountEntry> ParseMountInfo(std::string_view text);

// The topmost mount at exactly `mount_point`, nullptr when none.
const MountEntry* TopMountAt(const std::vector<MountEntry>& mounts, std::string_view mount_point);

}  // namespace pk
