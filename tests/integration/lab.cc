#include "tests/integration/lab.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <fmt/format.h>

namespace pk::integration {
namespace fs = std::filesystem;

namespace {

// Mount targets from /proc/self/mounts, with the octal escapes (\040 for a
// space) decoded.
std::vector<std::string> MountTargets() {
  std::vector<std::string> targets;
  std::ifstream in("/proc/self/mounts");
  std::string line;
  while (std::getline(in, line)) {
    size_t a = line.find(' ');
    if (a == std::string::npos) continue;
    size_t b = line.find(' ', a + 1);
    std::string raw = line.substr(a + 1, b - a - 1);
    std::string target;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '\\' && i + 3 < raw.size()) {
        target.push_back(static_cast<char>(std::stoi(raw.substr(i + 1, 3), nullptr, 8)));
        i += 3;
      } else {
        target.push_back(raw[i]);
      }
    }
    targets.push_back(target);
  }
  return targets;
}

// Is anything mounted at `dir` or below it?
bool HasMountsAtOrBelow(const std::string& dir) {
  for (const auto& t : MountTargets()) {
    if (t == dir || t.starts_with(dir + "/")) return true;
  }
  return false;
}

// "Suite.Name" of the running test, safe as a file name component.
std::string CurrentTestDirName() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = fmt::format("{}.{}", info->test_suite_name(), info->name());
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') c = '_';
  }
  return name;
}

template <typename T>
T OrThrow(Result<T> r) {
  if (!r) throw std::runtime_error(r.error().ToString());
  return std::move(*r);
}

}  // namespace

void LabTest::SetUp() {
  const char* lab = std::getenv("PK_LAB_DIR");
  ASSERT_TRUE(lab != nullptr && lab[0] == '/')
      << "PK_LAB_DIR is not set to an absolute path; run through `ctest -L integration` "
         "(which brings the lab up) or export PK_LAB_DIR after `scripts/lab up`";
  lab_dir_ = lab;
  while (lab_dir_.size() > 1 && lab_dir_.back() == '/') lab_dir_.pop_back();
  ASSERT_TRUE(fs::is_directory(lab_dir_ + "/disks")) << lab_dir_ << " is not an up lab (no disks/)";

  disk_dir_ = fmt::format("{}/disks/{}", lab_dir_, CurrentTestDirName());
  std::error_code ec;
  // A directory left by a crashed earlier run holds no imported pool: the lab
  // exports lab pools on `down`, and `up` starts from a fresh daemon.
  fs::remove_all(disk_dir_, ec);
  fs::create_directories(disk_dir_, ec);
  ASSERT_FALSE(ec) << "cannot create " << disk_dir_ << ": " << ec.message();
  fs::create_directories(lab_dir_ + "/mnt", ec);

  runner_ = sys::MakePosixProcessRunner();
  auto z = zfs::MakeCliZfs(*runner_);
  ASSERT_TRUE(z.has_value()) << "ZFS adapter: " << z.error().ToString();
  zfs_ = std::move(*z);
}

void LabTest::TearDown() {
  bool pools_left = false;
  if (zfs_) {
    auto listed = zfs_->ListPools();
    if (!listed) {
      ADD_FAILURE() << "teardown: " << listed.error().ToString();
      pools_left = !pools_.empty();
    } else {
      for (auto it = pools_.rbegin(); it != pools_.rend(); ++it) {
        bool imported = std::any_of(listed->begin(), listed->end(),
                                    [&](const zfs::PoolSummary& p) { return p.name == it->str(); });
        if (!imported) continue;
        auto st = RetryWhileBusy("teardown: destroy pool",
                                 [&] { return zfs_->DestroyPool(*it, zfs::Force::kYes); });
        if (!st) {
          ADD_FAILURE() << "teardown: " << st.error().ToString();
          pools_left = true;
        }
      }
    }
  }
  for (const auto& loop : loops_) {
    auto r = RunOk("/usr/sbin/losetup", {"-d", loop});
    if (!r) ADD_FAILURE() << "teardown: " << r.error().ToString();
  }
  for (const auto& dir : mount_dirs_) {
    if (HasMountsAtOrBelow(dir)) {
      ADD_FAILURE() << "teardown: " << dir << " is still (partly) mounted; leaving it";
      continue;
    }
    std::error_code ec;
    fs::remove_all(dir, ec);
    if (ec) ADD_FAILURE() << "teardown: remove " << dir << ": " << ec.message();
  }
  if (!disk_dir_.empty() && !pools_left) {
    std::error_code ec;
    fs::remove_all(disk_dir_, ec);
    if (ec) ADD_FAILURE() << "teardown: remove " << disk_dir_ << ": " << ec.message();
  }
}

std::string LabTest::NewDisk() {
  std::string path = fmt::format("{}/d{}.img", disk_dir_, disks_made_++);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(kDiskBytes)) != 0) {
    ADD_FAILURE() << "cannot make sparse disk " << path << ": " << std::strerror(errno);
  }
  if (fd >= 0) ::close(fd);
  return path;
}

std::vector<std::string> LabTest::NewDisks(int count) {
  std::vector<std::string> disks;
  for (int i = 0; i < count; ++i) disks.push_back(NewDisk());
  return disks;
}

zfs::PoolName LabTest::NewPoolName() {
  static std::atomic<int> counter{0};
  auto pool = Pool(fmt::format("pkit{}x{}", ::getpid(), counter++));
  TrackPool(pool);
  return pool;
}

void LabTest::TrackPool(const zfs::PoolName& pool) {
  if (std::find(pools_.begin(), pools_.end(), pool) == pools_.end()) pools_.push_back(pool);
}

std::string LabTest::MountDir(const std::string& leaf) {
  std::string dir = fmt::format("{}/mnt/{}", lab_dir_, leaf);
  if (std::find(mount_dirs_.begin(), mount_dirs_.end(), dir) == mount_dirs_.end()) {
    mount_dirs_.push_back(dir);
  }
  return dir;
}

Status LabTest::CreatePool(const zfs::PoolName& pool, const zfs::VdevSpec& vdevs,
                           zfs::CreatePoolOptions options) {
  TrackPool(pool);
  options.mountpoint = MountDir(pool.str());
  return zfs_->CreatePool(pool, vdevs, options);
}

zfs::PoolName LabTest::MustCreatePool(const std::vector<std::string>& vdev_words) {
  auto pool = NewPoolName();
  auto spec = zfs::VdevSpec::Parse(vdev_words);
  if (!spec) throw std::runtime_error("vdev spec: " + spec.error().ToString());
  auto st = CreatePool(pool, *spec);
  if (!st) throw std::runtime_error("create pool: " + st.error().ToString());
  return pool;
}

Result<std::string> LabTest::AttachLoop(const std::string& file) {
  PK_ASSIGN_OR_RETURN(auto r, RunOk("/usr/sbin/losetup", {"-f", "--show", file}));
  std::string dev = r.out;
  while (!dev.empty() && (dev.back() == '\n' || dev.back() == ' ')) dev.pop_back();
  if (!dev.starts_with("/dev/loop")) return Internal(fmt::format("losetup printed '{}'", dev));
  loops_.push_back(dev);
  return dev;
}

Result<sys::ProcessResult> LabTest::RunOk(const std::string& program, const std::vector<std::string>& args) {
  sys::Command cmd{program, args, sys::DefaultToolEnvironment(), std::nullopt, std::chrono::seconds(60)};
  PK_ASSIGN_OR_RETURN(auto r, runner_->Run(cmd));
  if (!r.status.Success()) {
    return Internal(fmt::format("{}: {}: {}", cmd.ToString(), r.status.ToString(), r.err));
  }
  return r;
}

Status WriteFileSynced(const std::string& path, const std::string& data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Internal(fmt::format("open {}: {}", path, std::strerror(errno)));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return Internal(fmt::format("write {}: {}", path, std::strerror(e)));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int e = errno;
    ::close(fd);
    return Internal(fmt::format("fsync {}: {}", path, std::strerror(e)));
  }
  if (::close(fd) != 0) return Internal(fmt::format("close {}: {}", path, std::strerror(errno)));
  return OkStatus();
}

bool PathExists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

zfs::PoolName Pool(const std::string& name) { return OrThrow(zfs::PoolName::Parse(name)); }
zfs::DatasetName Ds(const std::string& name) { return OrThrow(zfs::DatasetName::Parse(name)); }
zfs::SnapshotName Snap(const std::string& name) { return OrThrow(zfs::SnapshotName::Parse(name)); }
zfs::PropertyName Prop(const std::string& name) { return OrThrow(zfs::PropertyName::Parse(name)); }
zfs::PropertyAssignment Assign(const std::string& text) {
  return OrThrow(zfs::PropertyAssignment::Parse(text));
}

}  // namespace pk::integration
