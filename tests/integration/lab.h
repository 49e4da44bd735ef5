// LabTest: GoogleTest fixture for integration tests against the real ZFS of
// the lab (scripts/lab, brought up by the CTest fixture `lab`).
//
// Each test gets the real adapter (zfs::MakeCliZfs over the POSIX process
// runner), its own directory of sparse disk files under
// $PK_LAB_DIR/disks/<Suite.Test>/, and pool names unique to this process.
// Pools are always created with a mountpoint under $PK_LAB_DIR/mnt/ (never the
// default /<pool>). TearDown runs whether the test passed or failed: it
// force-destroys, through the adapter, every pool the test created or
// registered that is still imported, detaches loop devices the test attached,
// and removes the test's mountpoint directories and disk files (a disk
// directory is kept, and the test fails, when a pool on it could not be
// destroyed; `scripts/lab down` then exports it).
//
// Thread-safety: one fixture per test, used from the test's thread only.
#pragma once

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "base/error.h"
#include "sys/process_runner.h"
#include "zfs/names.h"
#include "zfs/types.h"
#include "zfs/zfs.h"

namespace pk::integration {

// zfs-fuse needs vdevs of at least 64 MiB.
inline constexpr uint64_t kDiskBytes = 128ull << 20;

class LabTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  zfs::Zfs& zfs() { return *zfs_; }
  sys::ProcessRunner& runner() { return *runner_; }
  const std::string& lab_dir() const { return lab_dir_; }
  // $PK_LAB_DIR/disks/<Suite.Test>.
  const std::string& disk_dir() const { return disk_dir_; }

  // A new 128 MiB sparse file in disk_dir(); fails the test if it can't.
  std::string NewDisk();
  std::vector<std::string> NewDisks(int count);

  // A pool name no other test or process uses, registered for cleanup.
  zfs::PoolName NewPoolName();
  // Registers a pool for cleanup (e.g. one imported under a new name).
  void TrackPool(const zfs::PoolName& pool);

  // $PK_LAB_DIR/mnt/<leaf>, registered for removal in TearDown.
  std::string MountDir(const std::string& leaf);

  // CreatePool through the adapter with mountpoint MountDir(pool).
  Status CreatePool(const zfs::PoolName& pool, const zfs::VdevSpec& vdevs,
                    zfs::CreatePoolOptions options = {});
  // NewPoolName() + CreatePool() from zpool's vdev words; fails the test on error.
  zfs::PoolName MustCreatePool(const std::vector<std::string>& vdev_words);

  // Attaches `file` to a free loop device (losetup), detached in TearDown.
  Result<std::string> AttachLoop(const std::string& file);

  // Runs a helper program (absolute path) to completion; error on non-zero exit.
  Result<sys::ProcessResult> RunOk(const std::string& program, const std::vector<std::string>& args);

 private:
  std::string lab_dir_;
  std::string disk_dir_;
  std::unique_ptr<sys::ProcessRunner> runner_;
  std::unique_ptr<zfs::Zfs> zfs_;
  std::vector<zfs::PoolName> pools_;
  std::vector<std::string> mount_dirs_;
  std::vector<std::string> loops_;
  int disks_made_ = 0;
};

// Runs `op` (returning Status) again while it fails with zfs's "... is busy".
//
// Why: on zfs-fuse a destroy (and export, rollback) fails with "pool is
// busy" / "dataset is busy" while any other ZFS client is reading the pool
// (e.g. a `zfs get -r` of a running poolkeeperd on the same daemon; measured
// here: 22 of 32 destroys failed while a `zfs get -r all` loop ran, 0 of 32
// without it). The adapter does not retry (yet), and the lab's ZFS is shared
// with other processes, so tests retry a bounded number of times (5 s). The
// count is printed so a run shows how often it happened. Not for rename: see
// DatasetTest.RenameMountedDatasetWithBlanksAndSnapshot.
template <typename Op>
Status RetryWhileBusy(const char* what, Op&& op) {
  constexpr int kAttempts = 20;  // 5 s
  Status st;
  for (int attempt = 1; attempt <= kAttempts; ++attempt) {
    st = op();
    if (st || st.error().code() != ErrorCode::kFailedPrecondition ||
        st.error().message().find("is busy") == std::string::npos) {
      if (attempt > 1) std::fprintf(stderr, "[ lab      ] %s: busy, succeeded after %d attempts\n", what, attempt);
      return st;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  std::fprintf(stderr, "[ lab      ] %s: still busy after %d attempts\n", what, kAttempts);
  return st;
}

// Helpers for assertions.
// Writes `data` to `path`, fsyncs it (zfs-fuse only flushes on fsync).
Status WriteFileSynced(const std::string& path, const std::string& data);
bool PathExists(const std::string& path);

// Test names as strings: "Parse or die" for names known to be valid.
zfs::PoolName Pool(const std::string& name);
zfs::DatasetName Ds(const std::string& name);
zfs::SnapshotName Snap(const std::string& name);
zfs::PropertyName Prop(const std::string& name);
zfs::PropertyAssignment Assign(const std::string& name_equals_value);

}  // namespace pk::integration
