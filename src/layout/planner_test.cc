#include "layout/planner.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "layout/internal/zfs_space.h"

namespace pk::layout {
namespace {

using ::testing::HasSubstr;
using Kind = zfs::VdevGroup::Kind;

constexpr int64_t kMiB = 1024 * 1024;
constexpr int64_t kGiB = 1024 * kMiB;
constexpr int64_t kTiB = 1024 * kGiB;

Disk MakeDisk(std::string path, int64_t size, std::optional<std::string> enclosure = std::nullopt,
              bool rotational = true) {
  return Disk{std::move(path), size, rotational, std::move(enclosure), std::nullopt};
}

// `count` disks, disk i in enclosure i % enclosures; with `mixed`, the first half
// are 4 TiB and the second half 8 TiB (so every enclosure gets both when it can).
std::vector<Disk> DiskSet(int count, int enclosures, bool mixed) {
  std::vector<Disk> disks;
  for (int i = 0; i < count; ++i) {
    int64_t size = 4 * kTiB;
    if (mixed && i >= count / 2) size = 8 * kTiB;
    disks.push_back(MakeDisk(fmt::format("/dev/disk{:02}", i), size, fmt::format("enc{}", i % enclosures)));
  }
  return disks;
}

int Tolerated(Profile p) {
  switch (p) {
    case Profile::kStripe: return 0;
    case Profile::kMirror2: return 1;
    case Profile::kMirror3: return 2;
    case Profile::kRaidz1: return 1;
    case Profile::kRaidz2: return 2;
    case Profile::kRaidz3: return 3;
  }
  return 0;
}

// Every input disk appears exactly once; the breakdown adds up to raw.
void ExpectConsistent(const Plan& plan, const std::vector<Disk>& disks) {
  std::multiset<std::string> used;
  for (const auto& v : plan.vdevs) {
    EXPECT_EQ(static_cast<int>(v.members.size()), plan.width);
    for (const auto& d : v.members) used.insert(d.path);
  }
  for (const auto& d : plan.spares) used.insert(d.path);
  for (const auto& g : plan.logs) {
    for (const auto& d : g) used.insert(d.path);
  }
  for (const auto& d : plan.cache) used.insert(d.path);
  for (const auto& d : plan.unused) used.insert(d.path);
  std::multiset<std::string> given;
  for (const auto& d : disks) given.insert(d.path);
  EXPECT_EQ(used, given);

  const auto& c = plan.capacity;
  EXPECT_EQ(c.reserved, c.labels + c.size_mismatch + c.metaslab_rounding + c.embedded_log + c.slop);
  EXPECT_EQ(c.raw, c.data + c.parity + c.padding + c.spares + c.log_and_cache + c.unused + c.reserved);
  EXPECT_GT(c.data, 0u);
  for (const Rating* r : {&plan.ratings.performance, &plan.ratings.capacity, &plan.ratings.availability}) {
    EXPECT_GE(r->score, 1);
    EXPECT_LE(r->score, 5);
    EXPECT_FALSE(r->reason.empty());
  }
}

// Simulates the loss of each enclosure: every vdev must keep enough members.
void ExpectSurvivesEnclosureLoss(const Plan& plan) {
  std::set<std::string> enclosures;
  for (const auto& v : plan.vdevs) {
    for (const auto& d : v.members) enclosures.insert(*d.enclosure);
  }
  for (const auto& lost : enclosures) {
    for (size_t i = 0; i < plan.vdevs.size(); ++i) {
      int survivors = 0;
      for (const auto& d : plan.vdevs[i].members) survivors += *d.enclosure != lost;
      EXPECT_GE(survivors, plan.width - Tolerated(plan.profile))
          << ProfileName(plan.profile) << " vdev " << i << " loses data with enclosure " << lost;
    }
    for (const auto& g : plan.logs) {
      int survivors = 0;
      for (const auto& d : g) survivors += *d.enclosure != lost;
      if (g.size() > 1) {
        EXPECT_GE(survivors, 1);
      }
    }
  }
}

TEST(ProfileTest, NamesRoundTrip) {
  for (Profile p : AllProfiles()) {
    auto parsed = ParseProfile(ProfileName(p));
    ASSERT_TRUE(parsed) << ProfileName(p);
    EXPECT_EQ(*parsed, p);
  }
  EXPECT_EQ(*ParseProfile("mirror"), Profile::kMirror2);
  auto bad = ParseProfile("raid5");
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message(), HasSubstr("raid5"));
}

// --- ZFS arithmetic -------------------------------------------------------

TEST(ZfsSpaceTest, RaidzAllocationMatchesHandComputation) {
  using internal::RaidzAllocatedSectors;
  // raidz2 of 6 at ashift 12, 128 KiB: 32 data sectors in rows of 4 -> 8 rows,
  // 16 parity sectors, 48 in all (a multiple of 3 already). Efficiency 32/48.
  EXPECT_EQ(RaidzAllocatedSectors(128 * 1024, 12, 6, 2), 48u);
  // raidz2 of 5: 32 data in rows of 3 -> 11 rows, 22 parity, 54 (multiple of 3).
  EXPECT_EQ(RaidzAllocatedSectors(128 * 1024, 12, 5, 2), 54u);
  // raidz3 of 7: 32 + 8 * 3 = 56, a multiple of 4.
  EXPECT_EQ(RaidzAllocatedSectors(128 * 1024, 12, 7, 3), 56u);
  // raidz1 of 4, 8 KiB at ashift 12: 2 data + 1 parity = 3, padded to 4.
  EXPECT_EQ(RaidzAllocatedSectors(8 * 1024, 12, 4, 1), 4u);
  // raidz2 of 6, 4 KiB: 1 data + 2 parity = 3.
  EXPECT_EQ(RaidzAllocatedSectors(4 * 1024, 12, 6, 2), 3u);
  // ashift 9: raidz1 of 5, 128 KiB = 256 sectors, 64 rows, 320 in all.
  EXPECT_EQ(RaidzAllocatedSectors(128 * 1024, 9, 5, 1), 320u);
}

TEST(ZfsSpaceTest, DeflateRatio) {
  EXPECT_EQ(internal::DeflateRatio(1, 0, 12), 512u);
  EXPECT_EQ(internal::DeflateRatio(6, 2, 12), 341u);  // 131072 / (48 * 4096 / 512)
  EXPECT_EQ(internal::DeflateRatio(7, 3, 12), 292u);  // 131072 / 448
  EXPECT_EQ(internal::DeflateRatio(5, 1, 9), 409u);   // 131072 / 320
}

TEST(ZfsSpaceTest, MetaslabShift) {
  using internal::MetaslabShift;
  // zfs-fuse: 2^highbit(asize / 200), at least 2^17.
  EXPECT_EQ(MetaslabShift(532152320, ReservationModel::kZfsFuse23), 22);  // 512 MiB leaf
  EXPECT_EQ(MetaslabShift(100 * kMiB, ReservationModel::kZfsFuse23), 20);
  EXPECT_EQ(MetaslabShift(10 * kMiB, ReservationModel::kZfsFuse23), 17);
  // OpenZFS: 16 metaslabs below 8 GiB (but >= 16 MiB), 512 MiB up to 100 GiB,
  // ~200 up to 3 TiB, 16 GiB beyond.
  EXPECT_EQ(MetaslabShift(1 * kGiB - 4608 * 1024, ReservationModel::kOpenZfs2), 26);
  // highbit of an exact power of two is one more than its log2, as in ZFS.
  EXPECT_EQ(MetaslabShift(1 * kGiB, ReservationModel::kOpenZfs2), 27);
  EXPECT_EQ(MetaslabShift(100 * kMiB, ReservationModel::kOpenZfs2), 24);
  EXPECT_EQ(MetaslabShift(50 * kGiB, ReservationModel::kOpenZfs2), 29);
  EXPECT_EQ(MetaslabShift(1 * kTiB, ReservationModel::kOpenZfs2), 33);
  EXPECT_EQ(MetaslabShift(6 * kTiB, ReservationModel::kOpenZfs2), 34);
}

TEST(ZfsSpaceTest, Slop) {
  using internal::SlopSpace;
  EXPECT_EQ(SlopSpace(1 * kGiB, 0, ReservationModel::kZfsFuse23), 32u * kMiB);
  EXPECT_EQ(SlopSpace(64 * kGiB, 0, ReservationModel::kZfsFuse23), 1u * kGiB);
  EXPECT_EQ(SlopSpace(1 * kGiB, 0, ReservationModel::kOpenZfs2), 128u * kMiB);
  EXPECT_EQ(SlopSpace(200 * kMiB, 0, ReservationModel::kOpenZfs2), 100u * kMiB);
  EXPECT_EQ(SlopSpace(64 * kGiB, 0, ReservationModel::kOpenZfs2), 2u * kGiB);
  EXPECT_EQ(SlopSpace(64 * kGiB, 512 * kMiB, ReservationModel::kOpenZfs2), 1536u * kMiB);
  EXPECT_EQ(SlopSpace(8 * kTiB, 0, ReservationModel::kOpenZfs2), 128u * kGiB);
}

// raidz2 of 6 x 1 TiB at ashift 12, OpenZFS 2.x, worked by hand:
//   leaf asize  = 2^40 - 4.5 MiB                    = 1099506909184
//   vdev asize  = 6 x leaf                           = 6597041455104
//   ms_shift    = highbit(asize/200) = 35 -> capped at 34 (16 GiB); 383 metaslabs
//   one metaslab is the embedded log; 382 normal:    382 x 2^34 = 6562710077440
//   deflated    = (6562710077440 >> 9) x 341         = 4370867421184
//   embedded    = (2^34 >> 9) x 341                  = 11442061312
//   slop        = dspace/32 - embedded               = 125147545600
//   usable      = 4370867421184 - 125147545600       = 4245719875584 (3.86 TiB)
TEST(PlanLayoutTest, Raidz2SixByOneTiBKnownValues) {
  std::vector<Disk> disks;
  for (int i = 0; i < 6; ++i) disks.push_back(MakeDisk(fmt::format("/dev/sd{}", char('a' + i)), kTiB));
  PlanRequest req{disks, Profile::kRaidz2, {}};
  auto plan = PlanLayout(req);
  ASSERT_TRUE(plan) << plan.error().ToString();
  ASSERT_EQ(plan->vdevs.size(), 1u);
  EXPECT_EQ(plan->width, 6);
  const auto& v = plan->vdevs[0];
  EXPECT_EQ(v.asize, 6597041455104u);
  EXPECT_EQ(v.metaslab_shift, 34);
  EXPECT_EQ(v.metaslab_count, 383u);
  const auto& c = plan->capacity;
  EXPECT_EQ(c.embedded_log, 11442061312u);
  EXPECT_EQ(c.slop, 125147545600u);
  EXPECT_EQ(c.data, 4245719875584u);
  EXPECT_DOUBLE_EQ(c.recordsize_efficiency, 32.0 / 48.0);
  EXPECT_EQ(c.labels, 6u * 4718592u);
  EXPECT_EQ(c.parity, 383u * (1ull << 34) / 3);  // 16 of every 48 sectors
  ExpectConsistent(*plan, disks);

  // Smaller records on the same vdev: 4 KiB -> 1 data + 2 parity sectors.
  req.options.recordsize = 4096;
  auto small = PlanLayout(req);
  ASSERT_TRUE(small);
  EXPECT_DOUBLE_EQ(small->capacity.recordsize_efficiency, 1.0 / 3.0);
  EXPECT_EQ(small->capacity.data, c.data);  // ZFS accounting always uses 128 KiB
  EXPECT_LT(small->capacity.data_at_recordsize, c.data);
}

// Measured on this machine's zfs-fuse 0.7.0 (pool version 23, ashift 12 default for
// files): `zfs get -H -p used,available` summed for a new pool on sparse files.
// See README.md for the commands.
struct Measured {
  const char* layout;
  Profile profile;
  int disks;
  int64_t size;
  uint64_t used_plus_available;
};

TEST(PlanLayoutTest, ZfsFuseMeasuredPools) {
  const Measured kCases[] = {
      {"1 x 512M", Profile::kStripe, 1, 512 * kMiB, 494927872},
      {"raidz2 6 x 512M", Profile::kRaidz2, 6, 512 * kMiB, 2089484288},
      {"raidz1 3 x 1G", Profile::kRaidz1, 3, 1 * kGiB, 2100658176},
      {"2 x mirror 2 x 1G", Profile::kMirror2, 4, 1 * kGiB, 2097152000},
      {"raidz3 7 x 3G", Profile::kRaidz3, 7, 3 * kGiB, 12583452672},
      {"raidz2 8 x 100G", Profile::kRaidz2, 8, 100 * kGiB, 598142877696},
      {"2 x 300G", Profile::kStripe, 2, 300 * kGiB, 629950906368},
      {"2 x raidz2 5 x 4G", Profile::kRaidz2, 10, 4 * kGiB, 24863956992},
      {"mirror 3 x 10G", Profile::kMirror3, 3, 10 * kGiB, 10503585792},
  };
  for (const auto& m : kCases) {
    std::vector<Disk> disks;
    for (int i = 0; i < m.disks; ++i) disks.push_back(MakeDisk(fmt::format("/var/tmp/f{}", i), m.size));
    PlanRequest req{disks, m.profile, {}};
    req.options.reservation = ReservationModel::kZfsFuse23;
    if (m.profile == Profile::kRaidz2 && m.disks == 10) {
      req.options.raidz_width = 5;
    } else {
      req.options.raidz_width = m.disks;
    }
    auto plan = PlanLayout(req);
    ASSERT_TRUE(plan) << m.layout << ": " << plan.error().ToString();
    EXPECT_EQ(plan->capacity.data, m.used_plus_available) << m.layout;
  }

  // ashift 9: raidz1 of 5 x 2G created with -o ashift=9.
  {
    std::vector<Disk> disks;
    for (int i = 0; i < 5; ++i) disks.push_back(MakeDisk(fmt::format("/f{}", i), 2 * kGiB));
    PlanRequest req{disks, Profile::kRaidz1, {}};
    req.options.reservation = ReservationModel::kZfsFuse23;
    req.options.ashift = 9;
    auto plan = PlanLayout(req);
    ASSERT_TRUE(plan);
    EXPECT_EQ(plan->capacity.data, 8390559744u);
  }
  // Mixed sizes (zpool create -f): raidz1 of 1G, 1G, 1200M is sized by 1G.
  {
    PlanRequest req{{MakeDisk("/a", kGiB), MakeDisk("/b", kGiB), MakeDisk("/c", 1200 * kMiB)}, Profile::kRaidz1, {}};
    req.options.reservation = ReservationModel::kZfsFuse23;
    req.options.mixed_sizes = MixedSizes::kAllow;
    auto plan = PlanLayout(req);
    ASSERT_TRUE(plan);
    EXPECT_EQ(plan->capacity.data, 2100658176u);
    EXPECT_EQ(plan->capacity.size_mismatch, static_cast<uint64_t>(176 * kMiB));
  }
  // Mirror of 1G + 1200M with a 600M spare and a 600M log, measured: the log and the
  // spare add nothing. (The planner would pick the largest disk as the spare, so the
  // spare is left out of the request; it does not change the figure.)
  {
    PlanRequest req{{MakeDisk("/a", kGiB), MakeDisk("/c", 1200 * kMiB),
                     MakeDisk("/l", 600 * kMiB, std::nullopt, /*rotational=*/false)},
                    Profile::kMirror2,
                    {}};
    req.options.reservation = ReservationModel::kZfsFuse23;
    req.options.mixed_sizes = MixedSizes::kAllow;
    req.options.log_devices = 1;
    auto plan = PlanLayout(req);
    ASSERT_TRUE(plan) << plan.error().ToString();
    EXPECT_EQ(plan->logs[0][0].path, "/l");
    EXPECT_EQ(plan->capacity.data, 1031798784u);
  }
}

TEST(PlanLayoutTest, MirrorUsesSmallestMemberAndStripeSums) {
  std::vector<Disk> disks = {MakeDisk("/a", 1000 * kGiB), MakeDisk("/b", 1000 * kGiB - 10 * kMiB)};
  auto mirror = PlanLayout({disks, Profile::kMirror2, {}});
  ASSERT_TRUE(mirror) << mirror.error().ToString();
  EXPECT_EQ(mirror->vdevs[0].asize, internal::LeafAsize(1000 * kGiB - 10 * kMiB));
  EXPECT_EQ(mirror->capacity.size_mismatch, static_cast<uint64_t>(10 * kMiB));
  ExpectConsistent(*mirror, disks);

  auto stripe = PlanLayout({disks, Profile::kStripe, {}});
  ASSERT_TRUE(stripe);
  EXPECT_EQ(stripe->vdevs.size(), 2u);
  EXPECT_GT(stripe->capacity.data, mirror->capacity.data * 19 / 10);
  EXPECT_EQ(stripe->capacity.size_mismatch, 0u);
}

// --- every profile, equal and mixed sets, 1-4 enclosures --------------------

TEST(PlanLayoutTest, EveryProfileOnEqualAndMixedSets) {
  for (bool mixed : {false, true}) {
    for (int enclosures = 1; enclosures <= 4; ++enclosures) {
      auto disks = DiskSet(12, enclosures, mixed);
      for (Profile p : AllProfiles()) {
        SCOPED_TRACE(fmt::format("{} mixed={} enclosures={}", ProfileName(p), mixed, enclosures));
        auto plan = PlanLayout({disks, p, {}});
        ASSERT_TRUE(plan) << plan.error().ToString();
        ExpectConsistent(*plan, disks);
        EXPECT_TRUE(plan->unused.empty());
        for (const auto& v : plan->vdevs) {
          // Similar sizes share a vdev.
          std::set<int64_t> sizes;
          std::map<std::string, int> per_enclosure;
          for (const auto& d : v.members) {
            sizes.insert(d.size_bytes);
            ++per_enclosure[*d.enclosure];
          }
          EXPECT_EQ(sizes.size(), 1u);
          // Members are balanced across enclosures when sizes allow.
          if (!mixed) {
            int most = 0;
            for (const auto& [e, n] : per_enclosure) most = std::max(most, n);
            EXPECT_LE(most, (plan->width + enclosures - 1) / enclosures);
          }
        }
        EXPECT_EQ(plan->capacity.size_mismatch, 0u);
      }
    }
  }
}

TEST(PlanLayoutTest, NspfPlacementSurvivesLosingAnyEnclosure) {
  int planned = 0;
  for (bool mixed : {false, true}) {
    for (int enclosures = 1; enclosures <= 4; ++enclosures) {
      for (int count : {6, 8, 12}) {
        auto disks = DiskSet(count, enclosures, mixed);
        for (Profile p : AllProfiles()) {
          for (int spares : {0, 2}) {
            SCOPED_TRACE(fmt::format("{} mixed={} enclosures={} disks={} spares={}", ProfileName(p), mixed,
                                     enclosures, count, spares));
            PlanOptions o;
            o.nspf = Nspf::kYes;
            o.spares = spares;
            auto plan = PlanLayout({disks, p, o});
            if (p == Profile::kStripe || enclosures == 1) {
              ASSERT_FALSE(plan);
              EXPECT_EQ(plan.error().code(), ErrorCode::kFailedPrecondition);
              continue;
            }
            if (!plan) {
              EXPECT_FALSE(plan.error().message().empty());
              continue;
            }
            ++planned;
            ExpectConsistent(*plan, disks);
            ExpectSurvivesEnclosureLoss(*plan);
            if (spares == 2 && enclosures >= 2) {
              EXPECT_NE(plan->spares[0].enclosure, plan->spares[1].enclosure);
            }
          }
        }
      }
    }
  }
  EXPECT_GT(planned, 60);
}

TEST(PlanLayoutTest, NspfKnownOutcomes) {
  PlanOptions o;
  o.nspf = Nspf::kYes;
  // 6 disks in 2 enclosures: raidz1 cannot be NSPF (needs 3 enclosures).
  auto two = DiskSet(6, 2, false);
  auto r1 = PlanLayout({two, Profile::kRaidz1, o});
  ASSERT_FALSE(r1);
  EXPECT_THAT(r1.error().message(), HasSubstr("needs at least 3 enclosures"));
  // raidz2 with a given width of 6 needs 3 enclosures.
  o.raidz_width = 6;
  auto r2 = PlanLayout({two, Profile::kRaidz2, o});
  ASSERT_FALSE(r2);
  EXPECT_THAT(r2.error().message(), HasSubstr("raidz2 needs at least 3 enclosures for 6-disk vdevs"));
  // Chosen by the planner: width 4 (2 per enclosure) with 2 disks left over.
  o.raidz_width.reset();
  auto r3 = PlanLayout({two, Profile::kRaidz2, o});
  ASSERT_TRUE(r3) << r3.error().ToString();
  EXPECT_EQ(r3->width, 4);
  EXPECT_EQ(r3->unused.size(), 2u);
  EXPECT_FALSE(r3->notes.empty());
  // 3 enclosures: 6-wide raidz2 fits, 2 members per enclosure.
  auto r4 = PlanLayout({DiskSet(6, 3, false), Profile::kRaidz2, o});
  ASSERT_TRUE(r4);
  EXPECT_EQ(r4->width, 6);
  ExpectSurvivesEnclosureLoss(*r4);
  // Lopsided enclosures: 5 disks in A, 1 in B cannot make NSPF mirrors.
  std::vector<Disk> lopsided;
  for (int i = 0; i < 5; ++i) lopsided.push_back(MakeDisk(fmt::format("/a{}", i), kTiB, "A"));
  lopsided.push_back(MakeDisk("/b0", kTiB, "B"));
  auto m = PlanLayout({lopsided, Profile::kMirror2, o});
  ASSERT_FALSE(m);
  EXPECT_THAT(m.error().message(), HasSubstr("enclosure 'A' holds 5"));
  // Unknown enclosure.
  auto unknown = DiskSet(4, 2, false);
  unknown[2].enclosure.reset();
  auto u = PlanLayout({unknown, Profile::kMirror2, o});
  ASSERT_FALSE(u);
  EXPECT_THAT(u.error().message(), HasSubstr("enclosure unknown for disk '/dev/disk02'"));
}

TEST(PlanLayoutTest, LogCacheAndSpares) {
  auto disks = DiskSet(8, 2, false);
  for (int i = 0; i < 3; ++i) {
    disks.push_back(MakeDisk(fmt::format("/dev/nvme{}", i), (200 + i) * kGiB, fmt::format("enc{}", i % 2), false));
  }
  PlanOptions o;
  o.nspf = Nspf::kYes;
  o.log_devices = 2;
  o.cache_devices = 1;
  o.spares = 2;
  auto plan = PlanLayout({disks, Profile::kMirror2, o});
  ASSERT_TRUE(plan) << plan.error().ToString();
  ExpectConsistent(*plan, disks);
  ExpectSurvivesEnclosureLoss(*plan);
  ASSERT_EQ(plan->logs.size(), 1u);
  EXPECT_EQ(plan->logs[0][0].path, "/dev/nvme0");
  EXPECT_EQ(plan->logs[0][1].path, "/dev/nvme1");
  ASSERT_EQ(plan->cache.size(), 1u);
  EXPECT_EQ(plan->cache[0].path, "/dev/nvme2");
  EXPECT_EQ(plan->spares.size(), 2u);
  EXPECT_EQ(plan->vdevs.size(), 3u);

  auto spec = plan->ToVdevSpec();
  auto args = spec.ToArgs();
  EXPECT_EQ(args.front(), "mirror");
  EXPECT_THAT(args, ::testing::Contains("spare"));
  EXPECT_THAT(args, ::testing::Contains("log"));
  EXPECT_THAT(args, ::testing::Contains("cache"));
  auto reparsed = zfs::VdevSpec::Parse(args);
  ASSERT_TRUE(reparsed) << reparsed.error().ToString();
  EXPECT_EQ(reparsed->data.size(), 3u);
  EXPECT_EQ(reparsed->logs.size(), 1u);
  EXPECT_EQ(reparsed->logs[0].kind, Kind::kMirror);

  o.log_devices = 4;
  auto too_many = PlanLayout({disks, Profile::kMirror2, o});
  ASSERT_FALSE(too_many);
  EXPECT_THAT(too_many.error().message(), HasSubstr("non-rotational"));
}

TEST(PlanLayoutTest, StripeSpecHasOneDevicePerVdev) {
  auto disks = DiskSet(3, 1, false);
  auto plan = PlanLayout({disks, Profile::kStripe, {}});
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->ToVdevSpec().ToArgs(), (std::vector<std::string>{"/dev/disk00", "/dev/disk01", "/dev/disk02"}));
  EXPECT_EQ(plan->ratings.availability.score, 1);
}

TEST(PlanLayoutTest, WidthChoice) {
  // 12 disks raidz2: 2 x 6 (no leftover, nearest to 8); raidz1: 2 x 6; raidz3: 1 x 12.
  auto disks = DiskSet(12, 1, false);
  EXPECT_EQ(PlanLayout({disks, Profile::kRaidz2, {}})->width, 6);
  EXPECT_EQ(PlanLayout({disks, Profile::kRaidz1, {}})->width, 6);
  EXPECT_EQ(PlanLayout({disks, Profile::kRaidz3, {}})->width, 12);
  PlanOptions o;
  o.raidz_width = 5;
  auto given = PlanLayout({disks, Profile::kRaidz1, o});
  ASSERT_TRUE(given);
  EXPECT_EQ(given->vdevs.size(), 2u);
  EXPECT_EQ(given->unused.size(), 2u);
  // Mixed sizes: a 12-wide raidz3 would mix 4 and 8 TiB, so two 6-wide ones.
  auto mixed = PlanLayout({DiskSet(12, 1, true), Profile::kRaidz3, {}});
  ASSERT_TRUE(mixed);
  EXPECT_EQ(mixed->width, 6);
}

TEST(PlanAllTest, ListsEveryProfile) {
  auto all = PlanAll(DiskSet(4, 2, false), PlanOptions{});
  ASSERT_TRUE(all) << all.error().message();
  ASSERT_EQ(all->size(), 6u);
  for (const auto& entry : *all) {
    if (entry.profile == Profile::kRaidz3) {
      EXPECT_FALSE(entry.plan);
      EXPECT_THAT(entry.reason, HasSubstr("raidz3 needs at least 5 disks"));
    } else {
      EXPECT_TRUE(entry.plan) << ProfileName(entry.profile) << ": " << entry.reason;
    }
  }
  PlanOptions nspf;
  nspf.nspf = Nspf::kYes;
  auto with_nspf = PlanAll(DiskSet(4, 2, false), nspf);
  ASSERT_TRUE(with_nspf);
  EXPECT_FALSE((*with_nspf)[0].plan);
  EXPECT_THAT((*with_nspf)[0].reason, HasSubstr("no redundancy"));
  EXPECT_TRUE((*with_nspf)[1].plan);  // mirror2 across the two enclosures
  auto twice = DiskSet(4, 2, false);
  twice.push_back(twice.front());
  auto refused = PlanAll(twice, PlanOptions{});
  ASSERT_FALSE(refused);
  EXPECT_THAT(refused.error().message(), HasSubstr("is listed twice"));
}

// --- bad input -----------------------------------------------------------------

TEST(PlanLayoutTest, BadInputsNameTheDiskAndCause) {
  auto expect_error = [](std::vector<Disk> disks, Profile p, PlanOptions o, ErrorCode code,
                         const std::string& text) {
    auto plan = PlanLayout({std::move(disks), p, o});
    ASSERT_FALSE(plan) << text;
    EXPECT_EQ(plan.error().code(), code) << plan.error().ToString();
    EXPECT_THAT(plan.error().message(), HasSubstr(text));
  };
  PlanOptions o;
  expect_error({MakeDisk("/a", kTiB), MakeDisk("/a", kTiB)}, Profile::kMirror2, o, ErrorCode::kInvalidArgument,
               "disk '/a' is listed twice");
  expect_error({MakeDisk("/a", kTiB), MakeDisk("/b", 0)}, Profile::kMirror2, o, ErrorCode::kInvalidArgument,
               "disk '/b' has size 0 bytes");
  expect_error({MakeDisk("/a", kTiB), MakeDisk("/b", -5)}, Profile::kMirror2, o, ErrorCode::kInvalidArgument,
               "disk '/b' has size -5 bytes");
  expect_error({MakeDisk("/a", 10 * kMiB)}, Profile::kStripe, o, ErrorCode::kInvalidArgument,
               "disk '/a' is 10.00 MiB: ZFS needs at least 64 MiB");
  expect_error({MakeDisk("/a", kTiB), MakeDisk("/b", kTiB)}, Profile::kMirror3, o, ErrorCode::kFailedPrecondition,
               "mirror3 needs at least 3 disks for data, have 2");
  expect_error({MakeDisk("/a", kTiB), MakeDisk("/b", kTiB), MakeDisk("/c", kTiB)}, Profile::kRaidz2, o,
               ErrorCode::kFailedPrecondition, "raidz2 needs at least 4 disks");
  expect_error({MakeDisk("/a", 4 * kTiB), MakeDisk("/b", 3 * kTiB)}, Profile::kMirror2, o,
               ErrorCode::kInvalidArgument, "disk '/b' (3.00 TiB) is 25.0% smaller than '/a' (4.00 TiB)");
  // Within tolerance (5 %, capped at zpool's 16 MiB): fine, and the difference is reported.
  auto close = PlanLayout({{MakeDisk("/a", 1000 * kGiB), MakeDisk("/b", 1000 * kGiB - 12 * kMiB)}, Profile::kMirror2, o});
  ASSERT_TRUE(close) << close.error().message();
  EXPECT_GT(close->capacity.size_mismatch, 0u);
  // 4 % smaller is inside 5 % but far beyond 16 MiB: zpool would refuse it.
  expect_error({MakeDisk("/a", 1000 * kGiB), MakeDisk("/b", 960 * kGiB)}, Profile::kMirror2, o,
               ErrorCode::kInvalidArgument, "capped at zpool's 16 MiB");
  // kAllow accepts any mix.
  PlanOptions allow;
  allow.mixed_sizes = MixedSizes::kAllow;
  EXPECT_TRUE(PlanLayout({{MakeDisk("/a", 4 * kTiB), MakeDisk("/b", 3 * kTiB)}, Profile::kMirror2, allow}));

  PlanOptions bad = o;
  bad.log_devices = 3;
  expect_error(DiskSet(4, 1, false), Profile::kMirror2, bad, ErrorCode::kInvalidArgument, "mirrored in pairs");
  bad = o;
  bad.ashift = 20;
  expect_error(DiskSet(4, 1, false), Profile::kMirror2, bad, ErrorCode::kInvalidArgument, "ashift 20");
  bad = o;
  bad.raidz_width = 2;
  expect_error(DiskSet(4, 1, false), Profile::kRaidz1, bad, ErrorCode::kInvalidArgument, "raidz width 2");
  bad = o;
  bad.spares = 4;
  expect_error(DiskSet(4, 1, false), Profile::kMirror2, bad, ErrorCode::kFailedPrecondition, "4 spare(s)");
}

TEST(FormatBytesTest, BinaryUnits) {
  EXPECT_EQ(FormatBytes(512), "512 B");
  EXPECT_EQ(FormatBytes(1536 * 1024), "1.50 MiB");
  EXPECT_EQ(FormatBytes(static_cast<uint64_t>(2 * kTiB)), "2.00 TiB");
}

}  // namespace
}  // namespace pk::layout
