// End-to-end tests of storage profiles (the layout planner) against real
// zfs-fuse pools, driven through the real `poolkeeper` CLI and poolkeeperd:
//
//  - PredictedUsableMatchesRealPools: for every profile over several disk sets
//    (equal sizes, mixed within the planner's 5 % tolerance, mixed across vdevs,
//    1 to 4 enclosures, with and without NSPF, with spares), `pool plan --json
//    --profile P` predicts `chosen.capacity.usable`; `pool create --profile P`
//    builds the pool; `zfs get -H -p used,available` of its root dataset must be
//    within 2 % of the prediction. A table of every case goes to stdout.
//  - NspfLayoutsSurviveLosingAnyEnclosure: an NSPF pool with a known file is
//    exported; for every enclosure its disk files are moved out of the search
//    directory, `zpool import -d DIR` must bring the pool back (DEGRADED is
//    fine) with the file intact; the files are then moved back and the pool is
//    imported whole and resilvered before the next enclosure goes.
//  - BadInputIsRefusedAndCreatesNothing: wrong disk counts, a disk listed twice,
//    an undersized vdev member, a missing disk, NSPF without (enough)
//    enclosures: clear errors and exit codes, and no pool appears.
//
// One daemon for the suite (no config; zfs-fuse dialect). Disk files are sparse
// files on the host file system under $PK_LAB_DIR/disks/<suite>/<pool>/ (never
// on a zfs-fuse mount: zfs-fuse can hang then), one directory per pool so that
// `-d DIR` finds only that pool. Every pool is destroyed as soon as its case is
// done, and again in TearDownTestSuite whatever happened (imported again first
// if a failure left it exported).
//
// External programs run through sys::ProcessRunner (argv vectors, explicit
// environment); never a shell. No assertion rests on a sleep: waits are bounded
// polls of zpool's answers.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sys/process_runner.h"
#include "tests/e2e/harness.h"
#include "tests/e2e/lab.h"

namespace pk::e2e {
namespace {

using nlohmann::json;
using ::testing::AnyOf;
using ::testing::HasSubstr;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr double kTolerancePercent = 2.0;
constexpr off_t kMiB = 1ll << 20;
constexpr auto kStartTimeout = seconds(60);

// One disk of a test case: its size and (optionally) its enclosure.
struct DiskSpec {
  int mib = 256;
  std::string enclosure;  // empty: no -e for it
};

struct CapacityCase {
  std::string profile;
  std::string label;  // the disk set, for the table
  std::vector<DiskSpec> disks;
  bool nspf = false;
  int spares = 0;
};

struct TrackedPool {
  std::string name;
  std::string dir;  // its disk files (the `-d` search directory)
};

std::string Join(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

class LayoutTest : public LabSuite<LayoutTest> {
 protected:
  friend class LabSuite<LayoutTest>;  // calls SetUpLab/TearDownLab

  static Status SetUpLab() {
    runner_ = &lab_.runner();
    prefix_ = "lay" + std::to_string(::getpid());
    PK_TRY(lab_.Open(prefix_));
    disk_root_ = lab_.lab_dir() + "/disks/" + prefix_;
    mnt_root_ = lab_.lab_dir() + "/mnt/" + prefix_;
    PK_TRY(MakeDirectories({disk_root_, mnt_root_, disk_root_ + "-removed"}));
    cli_ = lab_.cli();
    return lab_.StartDaemon();
  }

  // The suite's pools are made by the daemon from several disks: destroyed
  // here, before the lab stops the daemon.
  static void TearDownLab() {
    bool pools_gone = true;
    for (const auto& p : pools_) {
      if (!PoolImported(*runner_, p.name)) {
        // A failure may have left it exported, or its files moved away.
        RestoreRemoved(p);
        (void)runner_->Run(ZfsTool("zpool", {"import", "-d", p.dir, p.name}));
      }
      if (PoolImported(*runner_, p.name) && !DestroyPool(p.name)) {
        pools_gone = false;
        ADD_FAILURE() << "pool " << p.name << " could not be destroyed; `scripts/lab down` exports it";
      }
    }
    std::error_code ec;
    // Never delete the files of a pool still imported: remove_all would walk
    // into its mounted filesystems.
    if (pools_gone && !disk_root_.empty()) {
      fs::remove_all(disk_root_, ec);
      fs::remove_all(disk_root_ + "-removed", ec);
      fs::remove_all(mnt_root_, ec);
    }
  }

  // ---- pools and disks ----

  static std::string NewPoolName(const std::string& tag) {
    return prefix_ + tag + std::to_string(++pool_counter_);
  }

  // Makes the sparse disk files of `pool` (d0.img, d1.img, ...) in its own
  // directory, and tracks the pool for clean-up.
  static Status MakeDisks(const std::string& pool, const std::vector<DiskSpec>& specs,
                          std::vector<std::string>* paths) {
    std::string dir = disk_root_ + "/" + pool;
    PK_TRY(MakeDirectories({dir}));
    pools_.push_back({pool, dir});
    for (size_t i = 0; i < specs.size(); ++i) {
      std::string path = dir + "/d" + std::to_string(i) + ".img";
      PK_TRY(CreateSparseFile(path, specs[i].mib * kMiB));
      paths->push_back(path);
    }
    return OkStatus();
  }

  static std::string DirOf(const std::string& pool) { return disk_root_ + "/" + pool; }
  static std::string RemovedDirOf(const std::string& pool) { return disk_root_ + "-removed/" + pool; }
  static std::string MountOf(const std::string& pool) { return mnt_root_ + "/" + pool; }

  // Moves back any disk file a failed NSPF case left in the removed directory.
  static void RestoreRemoved(const TrackedPool& p) {
    std::error_code ec;
    std::string removed = RemovedDirOf(p.name);
    if (!fs::exists(removed, ec)) return;
    for (const auto& e : fs::directory_iterator(removed, ec)) {
      fs::rename(e.path(), p.dir + "/" + e.path().filename().string(), ec);
    }
  }

  // `zpool destroy -f` with retries ("pool is busy" right after create/import).
  static bool DestroyPool(const std::string& pool) {
    for (int i = 0; i < 50 && PoolImported(*runner_, pool); ++i) {
      (void)runner_->Run(ZfsTool("zpool", {"destroy", "-f", pool}));
      if (PoolImported(*runner_, pool)) std::this_thread::sleep_for(milliseconds(200));
    }
    return !PoolImported(*runner_, pool);
  }

  // Empty on success, else the command and what it said.
  static std::string RunOk(const sys::Command& cmd, std::string* out = nullptr) {
    auto r = runner_->Run(cmd);
    if (!r) return cmd.ToString() + ": " + r.error().message();
    if (out) *out = r->out;
    if (!r->status.Success()) return cmd.ToString() + ": " + r->status.ToString() + ": " + r->err + r->out;
    return "";
  }

  static std::string ExportPool(const std::string& pool) {
    std::string last;
    for (int i = 0; i < 50; ++i) {  // "pool is busy" right after create/import
      last = RunOk(ZfsTool("zpool", {"export", pool}));
      if (last.empty()) return "";
      std::this_thread::sleep_for(milliseconds(200));
    }
    return last;
  }

  static std::string Health(const std::string& pool) {
    std::string out;
    if (!RunOk(ZfsTool("zpool", {"list", "-H", "-o", "health", pool}), &out).empty()) return "?";
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
  }

  // Names of every imported pool.
  static std::vector<std::string> ImportedPools() {
    std::string out;
    EXPECT_EQ(RunOk(ZfsTool("zpool", {"list", "-H", "-o", "name"}), &out), "");
    std::vector<std::string> names;
    size_t at = 0;
    while (at < out.size()) {
      size_t nl = out.find('\n', at);
      if (nl == std::string::npos) nl = out.size();
      if (nl > at) names.push_back(out.substr(at, nl - at));
      at = nl + 1;
    }
    return names;
  }

  // used + available of the pool's root dataset; nullopt (and the reason in
  // `error`) when zfs cannot tell.
  static std::optional<uint64_t> MeasuredUsable(const std::string& pool, std::string* error) {
    std::string out;
    *error = RunOk(ZfsTool("zfs", {"get", "-H", "-p", "-o", "value", "used,available", pool}), &out);
    if (!error->empty()) return std::nullopt;
    uint64_t sum = 0;
    int lines = 0;
    size_t at = 0;
    while (at < out.size()) {
      size_t nl = out.find('\n', at);
      if (nl == std::string::npos) nl = out.size();
      std::string v = out.substr(at, nl - at);
      at = nl + 1;
      if (v.empty()) continue;
      char* end = nullptr;
      unsigned long long n = std::strtoull(v.c_str(), &end, 10);
      if (*end != '\0') {
        *error = "zfs get printed '" + v + "', not a number";
        return std::nullopt;
      }
      sum += n;
      ++lines;
    }
    if (lines != 2) {
      *error = "zfs get printed " + std::to_string(lines) + " values, not 2: " + out;
      return std::nullopt;
    }
    return sum;
  }

  // ---- CLI ----

  // The profile options: --profile P [--nspf] [--spares N] -e DISK=ENC...
  static std::vector<std::string> ProfileArgs(const std::string& profile, const std::vector<DiskSpec>& specs,
                                              const std::vector<std::string>& paths, bool nspf, int spares) {
    std::vector<std::string> args = {"--profile", profile};
    if (nspf) args.push_back("--nspf");
    if (spares > 0) args.insert(args.end(), {"--spares", std::to_string(spares)});
    for (size_t i = 0; i < specs.size(); ++i) {
      if (!specs[i].enclosure.empty()) args.insert(args.end(), {"-e", paths[i] + "=" + specs[i].enclosure});
    }
    return args;
  }

  static CliResult PlanCli(const std::vector<std::string>& paths, const std::vector<std::string>& profile_args) {
    std::vector<std::string> args = {"--json", "pool", "plan"};
    args.insert(args.end(), paths.begin(), paths.end());
    args.insert(args.end(), profile_args.begin(), profile_args.end());
    return cli_.Run(args);
  }

  static CliResult CreateCli(const std::string& pool, const std::vector<std::string>& paths,
                             const std::vector<std::string>& profile_args, bool force = false) {
    std::vector<std::string> args = {"pool", "create", pool};
    args.insert(args.end(), paths.begin(), paths.end());
    args.insert(args.end(), profile_args.begin(), profile_args.end());
    args.insert(args.end(), {"-m", MountOf(pool)});
    if (force) args.push_back("-f");
    return cli_.Run(args);
  }

  static inline sys::ProcessRunner* runner_ = nullptr;
  static inline std::string prefix_, disk_root_, mnt_root_;
  static inline std::vector<TrackedPool> pools_;
  static inline int pool_counter_ = 0;
  static inline CliClient cli_;
};

// The vdev layout of a plan, compact: "mirror(d0 d1) mirror(d2 d3) spare(d4)".
std::string LayoutOf(const json& chosen) {
  std::string out;
  auto leaf = [](const json& m) { return fs::path(m.value("path", "")).stem().string(); };
  for (const auto& v : chosen["vdevs"]) {
    std::string members;
    for (const auto& m : v["members"]) members += (members.empty() ? "" : " ") + leaf(m);
    out += (out.empty() ? "" : " ") + v.value("type", "") + "(" + members + ")";
  }
  if (!chosen["spares"].empty()) {
    std::string members;
    for (const auto& m : chosen["spares"]) members += (members.empty() ? "" : " ") + leaf(m);
    out += " spare(" + members + ")";
  }
  return out;
}

// ---------------------------------------------------------------------------

TEST_F(LayoutTest, PredictedUsableMatchesRealPools) {
  auto same = [](int n, int mib, std::vector<std::string> enclosures = {}) {
    std::vector<DiskSpec> d;
    for (int i = 0; i < n; ++i) d.push_back({mib, enclosures.empty() ? "" : enclosures[i % enclosures.size()]});
    return d;
  };
  const std::vector<CapacityCase> cases = {
      {"stripe", "2 x 256M", same(2, 256)},
      {"stripe", "256M+300M+400M+600M (mixed across vdevs)", {{256}, {300}, {400}, {600}}},
      {"mirror2", "4 x 512M, 2 enclosures", same(4, 512, {"A", "B"}), true},
      // Mixed sizes inside one vdev, within the planner's tolerance (5 %,
      // capped at zpool's own 16 MiB size fuzz).
      {"mirror2", "512M + 500M (2.3 % apart, 12 MiB)", {{512}, {500}}},
      {"mirror2", "600M + 590M (1.7 % apart, 10 MiB)", {{600}, {590}}},
      {"mirror2", "2 x 256M + 2 x 512M (mixed across vdevs), 2 encl.",
       {{256, "A"}, {256, "B"}, {512, "A"}, {512, "B"}}, true},
      {"mirror3", "3 x 300M, 3 enclosures", same(3, 300, {"A", "B", "C"}), true},
      {"mirror3", "6 x 256M", same(6, 256)},
      {"raidz1", "3 x 512M, 1 enclosure", same(3, 512, {"A"})},
      {"raidz1", "5 x 256M, 4 enclosures", same(5, 256, {"A", "B", "C", "D"})},
      {"raidz1", "512M,500M,500M + spare 512M, 3 encl.", {{512, "A"}, {512, "B"}, {500, "C"}, {500, "A"}}, true, 1},
      {"raidz2", "4 x 400M, 2 enclosures", same(4, 400, {"A", "B"}), true},
      {"raidz2", "4 x 256M + 4 x 400M (mixed across vdevs)", {{256}, {256}, {256}, {256}, {400}, {400}, {400}, {400}}},
      {"raidz3", "5 x 300M, 4 enclosures", same(5, 300, {"A", "B", "C", "D"}), true},
      {"raidz3", "600M,600M,590M,586M,600M + spare 600M", {{600}, {600}, {590}, {586}, {600}, {600}}, false, 1},
  };

  struct Row {
    std::string profile, disks, layout;
    uint64_t predicted = 0, measured = 0;
    double diff = 0;
    std::string outcome;
  };
  std::vector<Row> rows;

  for (const auto& c : cases) {
    SCOPED_TRACE(c.profile + " over " + c.label);
    Row row{c.profile + (c.nspf ? " nspf" : "") + (c.spares ? " +" + std::to_string(c.spares) + " spare" : ""),
            c.label, "", 0, 0, 0, ""};
    const std::string pool = NewPoolName("c");
    std::vector<std::string> paths;
    if (auto made = MakeDisks(pool, c.disks, &paths); !made) {
      ADD_FAILURE() << made.error().message();
      rows.push_back(row);
      continue;
    }
    auto profile_args = ProfileArgs(c.profile, c.disks, paths, c.nspf, c.spares);

    CliResult plan = PlanCli(paths, profile_args);
    json j = json::parse(plan.out, nullptr, false);
    if (plan.code != kExitOk || j.is_discarded() || !j.contains("chosen")) {
      ADD_FAILURE() << "pool plan failed:\n" << plan;
      row.outcome = "plan failed: " + plan.err;
      rows.push_back(row);
      continue;
    }
    row.predicted = j["chosen"]["capacity"].value("usable", uint64_t{0});
    row.layout = LayoutOf(j["chosen"]);
    EXPECT_EQ(j["chosen"].value("nspf", !c.nspf), c.nspf) << j["chosen"].dump(2);
    EXPECT_EQ(j["chosen"]["spares"].size(), static_cast<size_t>(c.spares)) << j["chosen"].dump(2);

    CliResult created = CreateCli(pool, paths, profile_args);
    if (created.code != kExitOk) {
      ADD_FAILURE() << "pool create --profile " << c.profile << " failed for a layout the planner accepted ("
                    << row.layout << "):\n"
                    << created;
      row.outcome = "CREATE FAILED: " + created.err.substr(0, created.err.find('\n'));
      // Still measure the planned layout, forced, so the capacity model is checked.
      created = CreateCli(pool, paths, profile_args, /*force=*/true);
      if (created.code != kExitOk) {
        rows.push_back(row);
        continue;
      }
      row.outcome += " (measured with -f)";
    }
    std::string error;
    auto measured = MeasuredUsable(pool, &error);
    EXPECT_TRUE(measured.has_value()) << error;
    if (measured) {
      row.measured = *measured;
      row.diff = (static_cast<double>(row.measured) - static_cast<double>(row.predicted)) * 100.0 /
                 static_cast<double>(row.predicted);
      EXPECT_LE(std::fabs(row.diff), kTolerancePercent)
          << "predicted " << row.predicted << ", measured " << row.measured << " (" << row.layout << ")";
      if (row.outcome.empty()) row.outcome = std::fabs(row.diff) <= kTolerancePercent ? "ok" : "OFF";
    }
    EXPECT_TRUE(DestroyPool(pool)) << "could not destroy " << pool;
    rows.push_back(row);
  }

  std::printf("\nlayout capacity: `pool plan` chosen.capacity.usable vs zfs used+available (zfs-fuse)\n");
  std::printf("%-22s | %-50s | %-44s | %12s | %12s | %8s | %s\n", "profile", "disks", "planned layout", "predicted",
              "measured", "diff %", "result");
  for (const auto& r : rows) {
    std::printf("%-22s | %-50s | %-44s | %12llu | %12llu | %8.3f | %s\n", r.profile.c_str(), r.disks.c_str(),
                r.layout.c_str(), static_cast<unsigned long long>(r.predicted),
                static_cast<unsigned long long>(r.measured), r.diff, r.outcome.c_str());
  }
  std::fflush(stdout);
}

// ---------------------------------------------------------------------------

// Deterministic "random" content.
std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::string out(n, '\0');
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t v = gen();
    std::memcpy(out.data() + i, &v, 8);
  }
  return out;
}

// Writes and fsyncs. Empty on success.
std::string WriteDurably(const std::string& path, const std::string& data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return "open " + path + ": " + std::strerror(errno);
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string e = "write " + path + ": " + std::strerror(errno);
      ::close(fd);
      return e;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    std::string e = "fsync " + path + ": " + std::strerror(errno);
    ::close(fd);
    return e;
  }
  ::close(fd);
  return "";
}

struct NspfCase {
  std::string profile;
  std::string label;
  std::vector<DiskSpec> disks;
  int spares = 0;
};

TEST_F(LayoutTest, NspfLayoutsSurviveLosingAnyEnclosure) {
  const std::vector<NspfCase> cases = {
      {"mirror2", "4 x 256M across 2 enclosures", {{256, "A"}, {256, "B"}, {256, "A"}, {256, "B"}}},
      {"raidz2", "6 x 256M across 3 enclosures",
       {{256, "A"}, {256, "B"}, {256, "C"}, {256, "A"}, {256, "B"}, {256, "C"}}},
      {"raidz1", "3 x 256M + spare across 3 enclosures", {{256, "A"}, {256, "B"}, {256, "C"}, {256, "A"}}, 1},
  };
  const std::string data = RandomBytes(8 << 20, 0x5eed);
  std::vector<std::string> report;

  for (const auto& c : cases) {
    SCOPED_TRACE(c.profile + " nspf over " + c.label);
    const std::string pool = NewPoolName("n");
    std::vector<std::string> paths;
    PK_ASSERT_OK(MakeDisks(pool, c.disks, &paths));
    auto profile_args = ProfileArgs(c.profile, c.disks, paths, /*nspf=*/true, c.spares);
    CliResult plan = PlanCli(paths, profile_args);
    ASSERT_EQ(plan.code, kExitOk) << plan;
    json chosen = json::parse(plan.out, nullptr, false)["chosen"];
    CliResult created = CreateCli(pool, paths, profile_args);
    ASSERT_EQ(created.code, kExitOk) << created;
    const std::string file = MountOf(pool) + "/known.bin";
    ASSERT_EQ(WriteDurably(file, data), "");
    ASSERT_EQ(ExportPool(pool), "");

    std::vector<std::string> enclosures;
    for (const auto& d : c.disks) {
      if (std::find(enclosures.begin(), enclosures.end(), d.enclosure) == enclosures.end()) {
        enclosures.push_back(d.enclosure);
      }
    }
    const std::string removed_dir = RemovedDirOf(pool);
    std::error_code ec;
    fs::create_directories(removed_dir, ec);
    ASSERT_FALSE(ec) << removed_dir << ": " << ec.message();

    for (const auto& enclosure : enclosures) {
      SCOPED_TRACE("enclosure " + enclosure + " removed");
      std::vector<std::string> moved;
      for (size_t i = 0; i < c.disks.size(); ++i) {
        if (c.disks[i].enclosure != enclosure) continue;
        std::string leaf = fs::path(paths[i]).filename().string();
        fs::rename(paths[i], removed_dir + "/" + leaf, ec);
        ASSERT_FALSE(ec) << "move " << paths[i] << ": " << ec.message();
        moved.push_back(leaf);
      }
      std::string imported = RunOk(ZfsTool("zpool", {"import", "-d", DirOf(pool), pool}, seconds(120)));
      std::string health = imported.empty() ? Health(pool) : "not imported";
      bool intact = false;
      if (imported.empty()) {
        std::string back = ReadWholeFile(file);
        intact = back == data;
        EXPECT_TRUE(intact) << "the file read back differs (" << back.size() << " bytes of " << data.size() << ")";
        EXPECT_THAT(health, AnyOf("ONLINE", "DEGRADED"));
        EXPECT_EQ(ExportPool(pool), "");
      } else {
        ADD_FAILURE() << "pool " << pool << " did not import without enclosure " << enclosure << ": " << imported;
      }
      report.push_back(c.profile + " nspf, " + c.label + " [" + LayoutOf(chosen) + "]: enclosure " + enclosure +
                       " removed (" + Join(moved) + "): import " + (imported.empty() ? "ok" : "FAILED") +
                       ", state " + health + ", file " + (intact ? "identical" : "NOT identical"));
      std::printf("nspf: %s\n", report.back().c_str());
      std::fflush(stdout);

      // Enclosure back: every disk file returns, the pool is imported whole
      // and resilvered, so the next enclosure's loss starts from a healthy pool.
      RestoreRemoved({pool, DirOf(pool)});
      ASSERT_EQ(RunOk(ZfsTool("zpool", {"import", "-d", DirOf(pool), pool}, seconds(120))), "");
      auto deadline = Clock::now() + seconds(60);
      std::string status;
      while (Clock::now() < deadline) {
        (void)RunOk(ZfsTool("zpool", {"status", pool}), &status);
        if (status.find("in progress") == std::string::npos && Health(pool) == "ONLINE") break;
        std::this_thread::sleep_for(milliseconds(200));
      }
      ASSERT_EQ(Health(pool), "ONLINE") << "after enclosure " << enclosure << " came back:\n" << status;
      ASSERT_EQ(ReadWholeFile(file), data);
      ASSERT_EQ(ExportPool(pool), "");
    }
    ASSERT_EQ(RunOk(ZfsTool("zpool", {"import", "-d", DirOf(pool), pool})), "");
    EXPECT_TRUE(DestroyPool(pool));
  }
}

// ---------------------------------------------------------------------------

TEST_F(LayoutTest, BadInputIsRefusedAndCreatesNothing) {
  const std::string dir_pool = NewPoolName("b");  // the disks' directory; never created as a pool
  // d0..d3: 512M, d4: 480M (6.25 % smaller), d5: 512M, d6: 494M (3.5 %, but 18 MiB: beyond zpool's 16 MiB)
  std::vector<std::string> d;
  PK_ASSERT_OK(MakeDisks(dir_pool, {{512}, {512}, {512}, {512}, {480}, {512}, {494}}, &d));
  const std::string missing = DirOf(dir_pool) + "/no-such-disk.img";
  std::vector<std::string> attempted;

  struct Bad {
    std::string what;
    std::vector<std::string> disks;
    std::vector<std::string> options;
    std::vector<int> codes;              // acceptable exit codes
    std::vector<std::string> fragments;  // stderr must hold each
  };
  const std::vector<Bad> bad = {
      {"mirror3 over 2 disks", {d[0], d[1]}, {"--profile", "mirror3"}, {kExitFailure, kExitUsage}, {"mirror3"}},
      {"raidz3 over 3 disks", {d[0], d[1], d[2]}, {"--profile", "raidz3"}, {kExitFailure, kExitUsage}, {"raidz3"}},
      {"raidz2 over 2 disks", {d[0], d[1]}, {"--profile", "raidz2"}, {kExitFailure, kExitUsage}, {"raidz2"}},
      {"a disk listed twice", {d[0], d[1], d[0]}, {"--profile", "mirror2"}, {kExitUsage}, {"listed twice", d[0]}},
      {"mirror2 member 6 % smaller", {d[0], d[4]}, {"--profile", "mirror2"}, {kExitUsage, kExitFailure}, {d[4]}},
      {"raidz1 member 6 % smaller", {d[0], d[1], d[4]}, {"--profile", "raidz1"}, {kExitUsage, kExitFailure}, {d[4]}},
      {"mirror2 member 18 MiB smaller", {d[0], d[6]}, {"--profile", "mirror2"}, {kExitUsage}, {d[6], "16 MiB"}},
      {"a missing disk", {d[0], missing}, {"--profile", "mirror2"}, {kExitNotFound}, {missing}},
      {"nspf without enclosures", {d[0], d[1]}, {"--profile", "mirror2", "--nspf"}, {kExitFailure, kExitUsage},
       {"enclosure"}},
      {"nspf, one disk without an enclosure",
       {d[0], d[1], d[2]},
       {"--profile", "raidz1", "--nspf", "-e", d[0] + "=A", "-e", d[1] + "=B"},
       {kExitFailure, kExitUsage},
       {"enclosure", d[2]}},
      {"nspf, all disks in one enclosure",
       {d[0], d[1]},
       {"--profile", "mirror2", "--nspf", "-e", d[0] + "=A", "-e", d[1] + "=A"},
       {kExitFailure, kExitUsage},
       {"enclosure"}},
      {"nspf, enclosure for a disk not given",
       {d[0], d[1]},
       {"--profile", "mirror2", "--nspf", "-e", d[0] + "=A", "-e", d[1] + "=B", "-e", d[5] + "=C"},
       {kExitUsage},
       {d[5], "not among the disks"}},
      {"nspf, malformed -e", {d[0], d[1]}, {"--profile", "mirror2", "--nspf", "-e", "A"}, {kExitUsage},
       {"DISK=ENCLOSURE"}},
      {"stripe with nspf", {d[0], d[1]}, {"--profile", "stripe", "--nspf", "-e", d[0] + "=A", "-e", d[1] + "=B"},
       {kExitFailure, kExitUsage}, {"stripe"}},
  };

  std::printf("\nbad input (exit code: first stderr line):\n");
  for (const auto& b : bad) {
    SCOPED_TRACE(b.what);
    for (const char* verb : {"plan", "create"}) {
      CliResult r;
      if (std::string(verb) == "plan") {
        r = PlanCli(b.disks, b.options);
      } else {
        const std::string pool = NewPoolName("x");
        attempted.push_back(pool);
        r = CreateCli(pool, b.disks, b.options);
      }
      EXPECT_THAT(r.code, ::testing::AnyOfArray(b.codes)) << verb << "\n" << r;
      EXPECT_THAT(r.err, HasSubstr("poolkeeper: ")) << verb << "\n" << r;
      for (const auto& f : b.fragments) EXPECT_THAT(r.err, HasSubstr(f)) << verb << "\n" << r;
      std::printf("  %-40s %-6s exit %d: %s\n", b.what.c_str(), verb, r.code, r.err.substr(0, r.err.find('\n')).c_str());
    }
  }
  std::fflush(stdout);

  // Nothing was created, and nothing uses the disks.
  auto imported = ImportedPools();
  for (const auto& name : attempted) {
    EXPECT_EQ(std::count(imported.begin(), imported.end(), name), 0) << name << " was created";
    if (std::count(imported.begin(), imported.end(), name) != 0) pools_.push_back({name, DirOf(dir_pool)});
  }
  for (const auto& name : imported) EXPECT_FALSE(name.starts_with(prefix_ + "x")) << name;
  // The disks are still free: a plain pool over them can be created.
  const std::string check = NewPoolName("v");
  pools_.push_back({check, DirOf(dir_pool)});
  EXPECT_EQ(RunOk(ZfsTool("zpool", {"create", "-m", MountOf(check), check, "mirror", d[0], d[1]})), "");
  EXPECT_TRUE(DestroyPool(check));
}

}  // namespace
}  // namespace pk::e2e

namespace pk::e2e {
namespace {

// Disks that carry another pool's label are refused unless --force is given
// (zpool create's own check, surfaced with the tool's words).
TEST_F(LayoutTest, DisksOfAnExportedPoolNeedForce) {
  const std::string old_pool = NewPoolName("old");
  std::vector<std::string> d;
  PK_ASSERT_OK(MakeDisks(old_pool, {{256}, {256}}, &d));
  ASSERT_EQ(RunOk(ZfsTool("zpool", {"create", "-m", MountOf(old_pool), old_pool, "mirror", d[0], d[1]})), "");
  ASSERT_EQ(ExportPool(old_pool), "");

  const std::string fresh = NewPoolName("new");
  CliResult refused = CreateCli(fresh, d, {"--profile", "mirror2"});
  EXPECT_NE(refused.code, kExitOk) << refused;
  EXPECT_THAT(refused.err, HasSubstr("part of exported pool '" + old_pool + "'")) << refused;
  EXPECT_FALSE(PoolImported(*runner_, fresh));

  CliResult forced = CreateCli(fresh, d, {"--profile", "mirror2"}, /*force=*/true);
  ASSERT_EQ(forced.code, kExitOk) << forced;
  EXPECT_TRUE(DestroyPool(fresh));
}

}  // namespace
}  // namespace pk::e2e
