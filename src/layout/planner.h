// Layout planner: turns a set of disks and a storage profile (stripe, mirror,
// raidz1-3) into a concrete vdev layout, and predicts what ZFS will report as
// usable space for it.
//
// Pure computation: no I/O, no clock, no global state. Every function is safe to
// call from any thread.
//
// Placement rules (see README.md for the capacity model and its sources):
//  - Disks of similar size go into the same vdev: ZFS sizes a vdev by its
//    smallest member, so a disk more than `size_tolerance` smaller than the
//    largest member of its vdev is an error (MixedSizes::kReject, the default)
//    naming the disk; mixed sizes across vdevs are fine.
//  - Members of a vdev are spread across enclosures. With Nspf::kYes, losing any
//    one enclosure must lose no data: a raidzP vdev has at most P members in one
//    enclosure, an n-way mirror at most n-1; log mirrors likewise; spares are
//    spread too. A stripe can never be NSPF; a disk without a known enclosure
//    makes NSPF impossible.
//  - Log and cache devices are taken from the solid-state (non-rotational) disks,
//    smallest first; spares are the largest disks.
//  - Disks that cannot be used (an odd disk for mirrors, a remainder that does not
//    fill a raidz vdev) are listed in Plan::unused with a note.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "zfs/types.h"

namespace pk::layout {

struct Disk {
  std::string path;                      // unique; becomes the zpool device argument
  int64_t size_bytes = 0;                // signed so that bad input can be reported
  bool rotational = true;                // false: SSD/NVMe (eligible for log and cache)
  std::optional<std::string> enclosure;  // enclosure id when known (required for NSPF)
  std::optional<int> slot;               // slot in the enclosure when known (informational)
};

enum class Profile { kStripe, kMirror2, kMirror3, kRaidz1, kRaidz2, kRaidz3 };

// "stripe", "mirror2", "mirror3", "raidz1", "raidz2", "raidz3".
std::string_view ProfileName(Profile profile);
Result<Profile> ParseProfile(std::string_view name);
// Every profile, in the order PlanAll lists them.
const std::vector<Profile>& AllProfiles();

// How the pool reserves space that datasets cannot use (the "slop").
enum class ReservationModel {
  // OpenZFS >= 2.1: slop = pool/32 capped at 128 GiB, minus the embedded-log
  // metaslabs (one per vdev with >= 64 metaslabs, at most half the slop), then at
  // least min(128 MiB, pool/2). Metaslabs: ~200 per vdev, 512 MiB to 16 GiB.
  kOpenZfs2,
  // zfs-fuse 0.7 (pool version 23, OpenSolaris ~b130 code): reserve = max(pool/64,
  // 32 MiB); metaslab size = 2^highbit(vdev_asize / 200), at least 128 KiB.
  kZfsFuse23,
};
std::string_view ReservationModelName(ReservationModel model);

enum class Nspf { kNo, kYes };
enum class MixedSizes {
  kReject,  // a vdev member more than size_tolerance smaller than the largest one is an error
  kAllow,   // accept; the difference shows up as reserved (size_mismatch) space
};

// Everything about a plan except the disks and the profile (shared by PlanAll).
struct PlanOptions {
  // Disks per raidz vdev (data + parity). Default: chosen by the planner (fewest
  // unused disks, then closest to 5 / 8 / 11 disks for raidz1 / 2 / 3). Ignored
  // for stripe and mirrors.
  std::optional<int> raidz_width;
  int spares = 0;         // hot spares (largest disks, spread across enclosures)
  int log_devices = 0;    // 1 = single log device; an even number = 2-way log mirrors
  int cache_devices = 0;  // L2ARC devices (no redundancy needed)
  Nspf nspf = Nspf::kNo;
  int ashift = 12;                  // sector size 2^ashift, 9..16
  uint64_t recordsize = 128 * 1024; // for the efficiency figure; power of two, 512 B..16 MiB
  ReservationModel reservation = ReservationModel::kOpenZfs2;
  MixedSizes mixed_sizes = MixedSizes::kReject;
  // Fraction a member may be smaller than its vdev's largest, capped at 16 MiB
  // (zpool's ZPOOL_FUZZ: beyond it `zpool create` wants -f).
  double size_tolerance = 0.05;
};

struct PlanRequest {
  std::vector<Disk> disks;
  Profile profile = Profile::kMirror2;
  PlanOptions options;
};

// One top-level data vdev.
struct VdevPlan {
  zfs::VdevGroup::Kind kind = zfs::VdevGroup::Kind::kSingle;
  std::vector<Disk> members;
  // As ZFS computes them: allocatable size (smallest member's size minus labels,
  // times the width for raidz), metaslab size 2^metaslab_shift, count, and the
  // space the vdev adds to the pool after raidz deflation (before slop).
  uint64_t asize = 0;
  int metaslab_shift = 0;
  uint64_t metaslab_count = 0;
  uint64_t deflated_space = 0;
};

// Every raw byte of the disks given, in exactly one bucket except `data`, which
// is logical: raw = data + parity + padding + spares + log_and_cache + unused + reserved.
struct CapacityBreakdown {
  uint64_t raw = 0;            // sum of all disk sizes
  uint64_t data = 0;           // usable: `zfs get used+available` of the new pool's root dataset
  uint64_t parity = 0;         // raidz parity sectors, or the extra copies of a mirror
  uint64_t padding = 0;        // raidz skip sectors (allocation rounded to parity+1 sectors)
  uint64_t spares = 0;
  uint64_t log_and_cache = 0;
  uint64_t unused = 0;         // disks the layout leaves out
  uint64_t reserved = 0;       // sum of the five below
  uint64_t labels = 0;         //   vdev labels + boot block (4.5 MiB per disk) and 256 KiB alignment
  uint64_t size_mismatch = 0;  //   members larger than their vdev's smallest member
  uint64_t metaslab_rounding = 0;  // vdev tail smaller than one metaslab
  uint64_t embedded_log = 0;   //   OpenZFS >= 2.1: one metaslab per vdev kept for the ZIL
  uint64_t slop = 0;           //   pool-wide reservation (see ReservationModel)
  // Fraction of an allocated block that is data for a recordsize block at the
  // ashift (raidz parity and padding included). ZFS's own accounting (`data`)
  // always uses a 128 KiB block; `data_at_recordsize` rescales it to the request's
  // recordsize, i.e. how many bytes of full-recordsize file data would fit.
  double recordsize_efficiency = 1.0;
  uint64_t data_at_recordsize = 0;
};

struct Rating {
  int score = 0;       // 1 (poor) .. 5 (best)
  std::string reason;  // one line
};
struct Ratings {
  Rating performance;
  Rating capacity;
  Rating availability;
};

struct Plan {
  Profile profile = Profile::kMirror2;
  int width = 0;                   // disks per data vdev
  std::vector<VdevPlan> vdevs;
  std::vector<Disk> spares;
  std::vector<std::vector<Disk>> logs;  // each entry: one log vdev (1 disk, or a 2-way mirror)
  std::vector<Disk> cache;
  std::vector<Disk> unused;
  Nspf nspf = Nspf::kNo;
  CapacityBreakdown capacity;
  Ratings ratings;
  std::vector<std::string> notes;  // things the admin should know (unused disks, mixed media)

  // The layout as `zpool create` arguments.
  zfs::VdevSpec ToVdevSpec() const;
};

// Plans `request.profile` over `request.disks`. InvalidArgument for bad input
// (naming the disk and the cause), FailedPrecondition when the profile cannot be
// met with these disks (e.g. NSPF with too few enclosures).
Result<Plan> PlanLayout(const PlanRequest& request);

struct PlanOrReason {
  Profile profile = Profile::kStripe;
  std::optional<Plan> plan;  // set when the profile can be met
  std::string reason;        // why not, otherwise
};
// Every profile over the same disks and options, side by side, in AllProfiles()
// order. Bad input (a disk listed twice, a bad size, bad options) is an error
// for the whole request, not a reason per profile.
Result<std::vector<PlanOrReason>> PlanAll(const std::vector<Disk>& disks, const PlanOptions& options);

// "1.82 TiB", "512 MiB": binary units, two decimals above KiB.
std::string FormatBytes(uint64_t bytes);

}  // namespace pk::layout
