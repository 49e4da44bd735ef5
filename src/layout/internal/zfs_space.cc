#include "layout/internal/zfs_space.h"

#include <algorithm>
#include <bit>

namespace pk::layout::internal {
namespace {

// highbit64(): 1-based index of the highest set bit, 0 for 0.
int HighBit(uint64_t x) { return static_cast<int>(std::bit_width(x)); }

}  // namespace

uint64_t LeafAsize(uint64_t size) {
  uint64_t aligned = size - size % kLabelSize;
  uint64_t labels = kLabelStartSize + kLabelEndSize;
  return aligned > labels ? aligned - labels : 0;
}

uint64_t RaidzAllocatedSectors(uint64_t psize, int ashift, int width, int nparity) {
  uint64_t sectors = ((psize - 1) >> ashift) + 1;
  uint64_t data_cols = static_cast<uint64_t>(width - nparity);
  uint64_t rows = (sectors + data_cols - 1) / data_cols;
  uint64_t total = sectors + static_cast<uint64_t>(nparity) * rows;
  uint64_t unit = static_cast<uint64_t>(nparity) + 1;
  return (total + unit - 1) / unit * unit;
}

uint64_t DeflateRatio(int width, int nparity, int ashift) {
  constexpr uint64_t kBlock = 128 * kKiB;
  uint64_t asize;
  if (nparity == 0) {
    uint64_t sector = uint64_t{1} << ashift;
    asize = (kBlock + sector - 1) / sector * sector;
  } else {
    asize = RaidzAllocatedSectors(kBlock, ashift, width, nparity) << ashift;
  }
  return kBlock / (asize >> 9);
}

int MetaslabShift(uint64_t asize, ReservationModel model) {
  switch (model) {
    case ReservationModel::kZfsFuse23: {
      // "Aim for roughly 200 metaslabs per vdev", at least SPA_MAXBLOCKSHIFT (17).
      return std::max(HighBit(asize / 200), 17);
    }
    case ReservationModel::kOpenZfs2: {
      // zfs_vdev_default_ms_shift 29, zfs_vdev_min_ms_count 16,
      // zfs_vdev_default_ms_count 200, zfs_vdev_max_ms_shift 34,
      // zfs_vdev_ms_count_limit 2^17, SPA_MAXBLOCKSHIFT 24.
      constexpr int kDefaultShift = 29, kMaxShift = 34, kMinShift = 24;
      constexpr uint64_t kMinCount = 16, kDefaultCount = 200, kCountLimit = uint64_t{1} << 17;
      uint64_t count = asize >> kDefaultShift;
      int shift;
      if (count < kMinCount) {
        shift = HighBit(asize / kMinCount);
      } else if (count > kDefaultCount) {
        shift = HighBit(asize / kDefaultCount);
      } else {
        shift = kDefaultShift;
      }
      if (shift < kMinShift) {
        shift = kMinShift;
      } else if (shift > kMaxShift) {
        shift = kMaxShift;
        if ((asize >> shift) > kCountLimit) shift = HighBit(asize / kCountLimit);
      }
      return shift;
    }
  }
  return 17;
}

bool HasEmbeddedLogMetaslab(uint64_t metaslab_count, ReservationModel model) {
  return model == ReservationModel::kOpenZfs2 && metaslab_count >= 64;
}

uint64_t SlopSpace(uint64_t dspace, uint64_t embedded_log, ReservationModel model) {
  uint64_t slop = 0;
  switch (model) {
    case ReservationModel::kZfsFuse23:
      // dsl_pool_adjustedsize: MAX(space >> 6, SPA_MINDEVSIZE >> 1).
      slop = std::max(dspace >> 6, kMinDeviceSize / 2);
      break;
    case ReservationModel::kOpenZfs2: {
      // spa_get_slop_space: spa_slop_shift 5, spa_max_slop 128 GiB, spa_min_slop 128 MiB.
      slop = std::min(dspace >> 5, 128 * kGiB);
      slop -= std::min(embedded_log, slop >> 1);
      slop = std::max(slop, std::min(dspace >> 1, 128 * kMiB));
      break;
    }
  }
  return std::min(slop, dspace);
}

}  // namespace pk::layout::internal
