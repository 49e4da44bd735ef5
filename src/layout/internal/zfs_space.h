// ZFS's space arithmetic, re-derived for prediction (no I/O). Each function names
// the ZFS routine whose behaviour it reproduces; README.md gives the sources and
// the measurements against zfs-fuse that confirm them.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>

#include "layout/planner.h"

namespace pk::layout::internal {

inline constexpr uint64_t kKiB = 1024;
inline constexpr uint64_t kMiB = 1024 * kKiB;
inline constexpr uint64_t kGiB = 1024 * kMiB;

// vdev_label_t is 256 KiB; two labels plus the 3.5 MiB boot block sit at the
// start of each leaf (VDEV_LABEL_START_SIZE = 4 MiB), two labels at the end
// (VDEV_LABEL_END_SIZE = 512 KiB).
inline constexpr uint64_t kLabelSize = 256 * kKiB;
inline constexpr uint64_t kLabelStartSize = 2 * kLabelSize + 3584 * kKiB;
inline constexpr uint64_t kLabelEndSize = 2 * kLabelSize;
inline constexpr uint64_t kMinDeviceSize = 64 * kMiB;  // SPA_MINDEVSIZE

// Allocatable bytes of a leaf of `size` bytes (vdev_open: size aligned down to
// 256 KiB, minus the label areas); 0 when too small.
uint64_t LeafAsize(uint64_t size);

// Sectors a raidz vdev of `width` disks and `nparity` parity allocates for a
// block of `psize` bytes (vdev_raidz_asize): data sectors, plus nparity sectors
// per row of (width - nparity) data sectors, rounded up to a multiple of
// nparity + 1 sectors.
uint64_t RaidzAllocatedSectors(uint64_t psize, int ashift, int width, int nparity);

// vdev_deflate_ratio: logical bytes per 512 physical bytes, in 1/512 units, from
// the allocation of a 128 KiB block (SPA_OLD_MAXBLOCKSIZE) - ZFS uses this ratio
// for all space accounting, whatever the recordsize. 512 for mirrors and disks.
uint64_t DeflateRatio(int width, int nparity, int ashift);

// vdev_metaslab_set_size for a top-level vdev of `asize` bytes.
int MetaslabShift(uint64_t asize, ReservationModel model);

// Whether a top-level normal-class vdev with `metaslab_count` metaslabs gives one
// of them to the embedded log class (OpenZFS >= 2.1, zfs_embedded_slog_min_ms = 64).
bool HasEmbeddedLogMetaslab(uint64_t metaslab_count, ReservationModel model);

// Space datasets cannot use, given the normal class's deflated space `dspace` and
// the embedded log class's deflated space (spa_get_slop_space /
// dsl_pool_adjustedsize). Never more than dspace.
uint64_t SlopSpace(uint64_t dspace, uint64_t embedded_log, ReservationModel model);

}  // namespace pk::layout::internal
