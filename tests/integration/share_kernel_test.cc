// The kernel's share servers (OpenZFS guest only: these machines have no
// kernel NFS server, no LIO and no kernel initiator, and zfs-fuse runs beside
// ganesha and tgt instead):
//   KernelNfsTest: share::KernelNfs against nfsd, mounted back over NFSv3;
//   LioTest: a zvol LUN defined by the pool's org.poolkeeper:share.iscsi
//     property, served by ShareManager through share::Lio (configfs), logged
//     into with open-iscsi over loopback, 64 MiB written and read back, the
//     LU identity (VPD 0x80 serial, NAA in the kernel's wwid and udev's
//     /dev/disk/by-id/wwn-*) checked, configfs clean after unserving.
// tests/openzfs/guest-run starts nfsd, rpc.mountd, rpcbind and iscsid before
// the suite; on the host, or with no server, the tests skip.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "share/iscsi_lio.h"
#include "share/manager.h"
#include "share/nfs_kernel.h"
#include "sys/configfs.h"
#include "sys/files.h"
#include "tests/integration/lab.h"

namespace pk::integration {
namespace {

using ::testing::HasSubstr;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

using KernelNfsTest = LabTest;

// Everything that can still hold a withdrawn dataset, for a failure message:
// each NFSv4 client (info and states), the v3 file cache, the export caches
// (nfsd.export: client + path; nfsd.fh: client + fsid -> path; entries behind
// "# " are expired, negative or still waiting for mountd, and hold their path
// all the same) with their flush times, leases and delegations (/proc/locks),
// and the pool's mounts.
std::string NfsdHolders(const std::string& pool_dir) {
  std::string out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/fs/nfsd/clients", ec)) {
    out += "client " + e.path().filename().string() + ":\n" + ReadAll(e.path().string() + "/info") +
           ReadAll(e.path().string() + "/states");
  }
  out += "filecache:\n" + ReadAll("/proc/fs/nfsd/filecache");
  out += "export cache (nfsd.export):\n" + ReadAll("/proc/net/rpc/nfsd.export/content");
  out += "export key cache (nfsd.fh):\n" + ReadAll("/proc/net/rpc/nfsd.fh/content");
  // A flush time ahead of the clock: the caches' expired entries are not swept.
  out += "flush times (nfsd.fh, nfsd.export; now " + std::to_string(::time(nullptr)) +
         "): " + ReadAll("/proc/net/rpc/nfsd.fh/flush") + ReadAll("/proc/net/rpc/nfsd.export/flush");
  out += "locks and leases:\n" + ReadAll("/proc/locks");
  out += "mounts of the pool:\n";
  std::istringstream mounts(ReadAll("/proc/self/mountinfo"));
  for (std::string line; std::getline(mounts, line);) {
    if (line.find(pool_dir) != std::string::npos) out += line + "\n";
  }
  return out;
}

TEST_F(KernelNfsTest, ExportedDatasetIsMountedBackReadAndWritten) {
  if (zfs().dialect() != zfs::Dialect::kOpenZfs2) GTEST_SKIP() << "kernel NFS is tested in the OpenZFS guest only";
  std::string threads = ReadAll("/proc/fs/nfsd/threads");
  if (threads.empty() || threads == "0\n") GTEST_SKIP() << "no kernel NFS server running (/proc/fs/nfsd/threads)";

  auto pool = MustCreatePool({NewDisk()});
  auto ds = Ds(pool.str() + "/export");
  ASSERT_TRUE(zfs().CreateDataset(ds, {}, zfs::CreateParents::kNo));
  std::string path = MountDir(pool.str()) + "/export";
  ASSERT_TRUE(WriteFileSynced(path + "/from-server", "written on the server\n"));

  auto fs = sys::MakeRealFileSystem();
  share::KernelNfsOptions options;
  options.exports_file = lab_dir() + "/exports.d/" + pool.str() + ".exports";
  // exportfs reads /etc/exports.d only: point it at the lab's file through a link.
  std::string link = "/etc/exports.d/" + pool.str() + ".exports";
  ASSERT_TRUE(fs->MakeDirs(lab_dir() + "/exports.d", 0755));
  ASSERT_TRUE(fs->MakeDirs("/etc/exports.d", 0755));
  ASSERT_TRUE(fs->WriteFileAtomic(options.exports_file, "", 0644));
  ::unlink(link.c_str());
  ASSERT_EQ(::symlink(options.exports_file.c_str(), link.c_str()), 0);
  auto attributes = sys::MakeRealConfigFs();
  auto backend = share::MakeKernelNfsBackend(options, runner(), *fs, *attributes);
  ASSERT_TRUE(backend) << backend.error().ToString();
  ASSERT_TRUE((*backend)->Health()) << (*backend)->Health().error().ToString();

  share::NfsDefinition def;
  def.clients.push_back(*share::NfsClient::Parse("127.0.0.1(rw,no_root_squash)"));
  constexpr uint64_t kGuid = 0x1234567890abcdefULL;
  share::Share share{.pool = pool.str(), .dataset = ds.str(), .guid = kGuid, .path = path, .volume = false,
                     .definition = def};
  auto results = (*backend)->Reconcile({share});
  ASSERT_EQ(results.size(), 1u);
  ASSERT_TRUE(results[0].status) << results[0].status.error().ToString();
  auto served = (*backend)->Served();
  ASSERT_TRUE(served) << served.error().ToString();
  EXPECT_EQ(*served, std::vector<std::string>{"nfs:" + ds.str()});
  // The fsid carries the guid: file handles are the same on every head.
  auto listed = RunOk("/usr/sbin/exportfs", {"-v"});
  ASSERT_TRUE(listed) << listed.error().ToString();
  std::string fsid = share::KernelNfsFsid(kGuid);
  EXPECT_THAT(listed->out, HasSubstr("fsid=" + fsid)) << listed->out;
  EXPECT_THAT(ReadAll("/proc/net/rpc/nfsd.fh/content"), ::testing::Not(HasSubstr(path)))
      << "no handle issued yet";

  // Two clients, as a failover finds them: an NFSv3 mount with a file open,
  // and an NFSv4.2 mount with a file open (open state on the server, kept by
  // a courteous server after the lease expires). Both stay mounted and open
  // while the export is withdrawn; they are cleaned up whatever happens.
  std::string client3 = MountDir("nfs-client3");
  std::string client4 = MountDir("nfs-client4");
  ASSERT_TRUE(fs->MakeDirs(client3, 0755));
  ASSERT_TRUE(fs->MakeDirs(client4, 0755));
  struct Clients {
    std::function<void(const std::string&)> unmount;
    std::vector<std::string> mounts;
    std::vector<int> fds;
    ~Clients() {
      for (int fd : fds) ::close(fd);
      for (const auto& m : mounts) unmount(m);
    }
  } clients{[this](const std::string& m) { (void)RunOk("/usr/bin/umount", {"-f", "-l", m}); }, {}, {}};
  auto mounted3 = RunOk("/usr/bin/mount", {"-t", "nfs", "-o", "vers=3,nolock,soft,timeo=50", "127.0.0.1:" + path, client3});
  ASSERT_TRUE(mounted3) << mounted3.error().ToString();
  clients.mounts.push_back(client3);
  auto mounted4 = RunOk("/usr/bin/mount", {"-t", "nfs", "-o", "vers=4.2,soft,timeo=50", "127.0.0.1:" + path, client4});
  ASSERT_TRUE(mounted4) << mounted4.error().ToString();
  clients.mounts.push_back(client4);
  EXPECT_EQ(ReadAll(client3 + "/from-server"), "written on the server\n");
  EXPECT_EQ(ReadAll(client4 + "/from-server"), "written on the server\n");
  auto written = WriteFileSynced(client3 + "/from-client", std::string(1 << 20, 'n'));
  EXPECT_TRUE(written) << written.error().ToString();
  int fd3 = ::open((client3 + "/open-v3").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(fd3, 0) << std::strerror(errno);
  clients.fds.push_back(fd3);
  int fd4 = ::open((client4 + "/open-v4").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(fd4, 0) << std::strerror(errno);
  clients.fds.push_back(fd4);
  ASSERT_EQ(::write(fd3, "v3\n", 3), 3);
  ASSERT_EQ(::write(fd4, "v4\n", 3), 3);
  ASSERT_EQ(::fsync(fd3), 0);
  ASSERT_EQ(::fsync(fd4), 0);
  EXPECT_EQ(ReadAll(path + "/from-client"), std::string(1 << 20, 'n'));
  EXPECT_THAT(ReadAll("/proc/net/rpc/nfsd.fh/content"), HasSubstr(path));

  // Withdrawing the export releases everything nfsd holds on the dataset:
  // the NFSv4 client holding state on it is expired, the export caches
  // flushed (once their flush time is behind the clock, so that the flush
  // sweeps), the v3 file cache left to close its files. Then the pool exports
  // at once: the adapter's own busy retry (5 s) is all the slack there is.
  // (Wrapped in the lab's RetryWhileBusy, 20 attempts of that, a failing run
  // took ~100 s and a hold shorter than that passed unseen.)
  auto t0 = std::chrono::steady_clock::now();
  results = (*backend)->Reconcile({});
  EXPECT_TRUE(results.empty());
  double release_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  served = (*backend)->Served();
  ASSERT_TRUE(served) << served.error().ToString();
  EXPECT_TRUE(served->empty());
  listed = RunOk("/usr/sbin/exportfs", {"-v"});
  ASSERT_TRUE(listed) << listed.error().ToString();
  EXPECT_THAT(listed->out, ::testing::Not(HasSubstr(path)));
  ::unlink(link.c_str());
  auto t1 = std::chrono::steady_clock::now();
  Status exported = zfs().ExportPool(pool, zfs::Force::kNo);
  std::fprintf(stderr, "[ nfs      ] withdrawal took %.1f s; pool %s %.1f s after it\n", release_s,
               exported ? "exported" : "still busy",
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count());
  EXPECT_TRUE(exported) << exported.error().ToString() << "\n" << NfsdHolders(MountDir(pool.str()));
  if (!exported) {
    // Only so that the test leaves nothing behind: nfsd's threads stop (every client's state goes).
    ASSERT_TRUE(RunOk("/usr/sbin/rpc.nfsd", {"0"}));
    EXPECT_TRUE(RetryWhileBusy("export after nfsd stopped", [&] { return zfs().ExportPool(pool, zfs::Force::kNo); }));
    EXPECT_TRUE(RunOk("/usr/sbin/rpc.nfsd", {"4"}));
  }
}

bool WaitForPath(const std::string& path, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (PathExists(path)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return PathExists(path);
}

std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

// Writes `bytes` of a seeded pattern to `dev` with O_DIRECT, then reads them
// back and compares; an error names the offset of the first difference.
Status WriteAndVerify(const std::string& dev, size_t bytes, uint64_t seed) {
  constexpr size_t kChunk = 1 << 20;
  void* raw = nullptr;
  if (::posix_memalign(&raw, 4096, kChunk) != 0) return Internal("posix_memalign");
  std::unique_ptr<char, decltype(&std::free)> buf(static_cast<char*>(raw), &std::free);
  auto fill = [&](size_t chunk) {
    uint64_t x = seed ^ (chunk * 0x9E3779B97F4A7C15ull);
    for (size_t i = 0; i < kChunk; i += 8) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      std::memcpy(buf.get() + i, &x, 8);
    }
  };
  int fd = ::open(dev.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
  if (fd < 0) return Internal(dev + ": open: " + std::strerror(errno));
  for (size_t c = 0; c < bytes / kChunk; ++c) {
    fill(c);
    if (::pwrite(fd, buf.get(), kChunk, static_cast<off_t>(c * kChunk)) != static_cast<ssize_t>(kChunk)) {
      ::close(fd);
      return Internal(dev + ": write: " + std::strerror(errno));
    }
  }
  ::fsync(fd);
  std::string want(kChunk, '\0');
  for (size_t c = 0; c < bytes / kChunk; ++c) {
    fill(c);
    want.assign(buf.get(), kChunk);
    if (::pread(fd, buf.get(), kChunk, static_cast<off_t>(c * kChunk)) != static_cast<ssize_t>(kChunk)) {
      ::close(fd);
      return Internal(dev + ": read: " + std::strerror(errno));
    }
    if (std::memcmp(buf.get(), want.data(), kChunk) != 0) {
      ::close(fd);
      return Internal(dev + ": data differs in MiB " + std::to_string(c));
    }
  }
  ::close(fd);
  return OkStatus();
}

// open-iscsi's admin tool, wherever the distribution puts it ("" when absent).
std::string Iscsiadm() {
  for (const char* p : {"/usr/sbin/iscsiadm", "/usr/bin/iscsiadm", "/sbin/iscsiadm"}) {
    if (PathExists(p)) return p;
  }
  return "";
}

using LioTest = LabTest;

TEST_F(LioTest, ZvolLunFromThePoolsPropertyServedLoggedIntoWrittenReadAndRemoved) {
  if (zfs().dialect() != zfs::Dialect::kOpenZfs2) GTEST_SKIP() << "LIO is tested in the OpenZFS guest only";
  if (!PathExists("/sys/kernel/config/") || Iscsiadm().empty()) {
    GTEST_SKIP() << "no configfs or no open-iscsi here";
  }
  constexpr size_t kBytes = 64 << 20;
  // Two 128 MiB disks: one fills up (ENOSPC as I/O errors at ~56 MiB) under 64 MiB of writes.
  auto pool = MustCreatePool({NewDisk(), NewDisk()});
  auto vol = Ds(pool.str() + "/lun0");
  // Sparse (no refreservation): the pool has no room to reserve 96 MiB besides the data.
  auto made = zfs().CreateVolume(vol, 96ull << 20, {Assign("volblocksize=16384"), Assign("refreservation=none")});
  ASSERT_TRUE(made) << made.error().ToString();
  const std::string iqn = "iqn.2026-11.org.poolkeeper:" + pool.str() + ".lun0";

  auto fs = sys::MakeRealFileSystem();
  auto cfs = sys::MakeRealConfigFs();
  share::LioOptions options;
  options.portal = "127.0.0.1:3260";
  auto lio = share::MakeLioBackend(options, *cfs, runner(), *fs);
  ASSERT_TRUE(lio) << lio.error().ToString();
  std::vector<std::unique_ptr<share::Backend>> backends;
  backends.push_back(std::move(*lio));
  share::ShareManager shares(zfs(), *fs, std::move(backends), {});

  // Logged out and unserved whatever happens below.
  struct AtExit {
    std::function<void()> f;
    ~AtExit() { f(); }
  } cleanup{[&] {
    (void)RunOk(Iscsiadm(), {"-m", "node", "-T", iqn, "-p", "127.0.0.1", "--logout"});
    (void)RunOk(Iscsiadm(), {"-m", "node", "-T", iqn, "-o", "delete"});
    (void)shares.UnservePool(pool);
  }};

  ASSERT_TRUE(WaitForPath("/dev/zvol/" + vol.str(), std::chrono::seconds(30)));
  // The pool carries the share: the property is what ServePool reads.
  auto created = shares.Create(vol, share::Protocol::kIscsi, {{"iqn", iqn}, {"lun", 1}});
  ASSERT_TRUE(created) << created.error().ToString();
  auto property = zfs().GetDataset(vol.str(), {"org.poolkeeper:share.iscsi", "guid"});
  ASSERT_TRUE(property) << property.error().ToString();
  EXPECT_THAT(property->Get("org.poolkeeper:share.iscsi"), HasSubstr(iqn));
  auto problems = shares.ServePool(pool);
  ASSERT_TRUE(problems) << problems.error().ToString();
  EXPECT_TRUE(problems->empty()) << (*problems)[0];
  auto view = shares.Get(vol, share::Protocol::kIscsi);
  ASSERT_TRUE(view) << view.error().ToString();
  EXPECT_EQ(view->state, share::ShareState::kServing) << view->reason;
  const share::IscsiIdentity id = share::IdentityFor(view->guid);
  EXPECT_EQ(std::to_string(view->guid), property->Get("guid"));

  ASSERT_TRUE(RunOk(Iscsiadm(), {"-m", "discovery", "-t", "sendtargets", "-p", "127.0.0.1"}));
  auto login = RunOk(Iscsiadm(), {"-m", "node", "-T", iqn, "-p", "127.0.0.1", "--login"});
  ASSERT_TRUE(login) << login.error().ToString();
  const std::string by_path = "/dev/disk/by-path/ip-127.0.0.1:3260-iscsi-" + iqn + "-lun-1";
  ASSERT_TRUE(WaitForPath(by_path, std::chrono::seconds(30))) << by_path << " did not appear after login";
  char real[4096];
  ssize_t n = ::readlink(by_path.c_str(), real, sizeof real - 1);
  ASSERT_GT(n, 0);
  std::string sd = std::string(real, static_cast<size_t>(n));
  sd = sd.substr(sd.rfind('/') + 1);

  // The LU identity an initiator sees: the serial and LIO's NAA from it.
  EXPECT_THAT(ReadAll("/sys/block/" + sd + "/device/vpd_pg80"), HasSubstr(id.serial));
  EXPECT_EQ(Trimmed(ReadAll("/sys/block/" + sd + "/device/wwid")), "naa." + id.naa_lio.substr(2));
  std::string wwn_link = "/dev/disk/by-id/wwn-" + id.naa_lio;
  EXPECT_TRUE(WaitForPath(wwn_link, std::chrono::seconds(10))) << wwn_link;
  std::fprintf(stderr, "[ lio      ] %s: serial %s, wwid %s\n", sd.c_str(), id.serial.c_str(),
               Trimmed(ReadAll("/sys/block/" + sd + "/device/wwid")).c_str());

  auto t0 = std::chrono::steady_clock::now();
  auto io = WriteAndVerify("/dev/" + sd, kBytes, view->guid);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(io) << io.error().ToString();
  std::fprintf(stderr, "[ lio      ] 64 MiB written and read back through iSCSI in %.1f s\n", secs);

  ASSERT_TRUE(RunOk(Iscsiadm(), {"-m", "node", "-T", iqn, "-p", "127.0.0.1", "--logout"}));
  // The zvol holds what the initiator wrote (the same pattern reads back).
  std::string zvol_dev = "/dev/zvol/" + vol.str();
  {
    // Re-verify on the zvol without rewriting: read the first MiB's pattern.
    int fd = ::open(zvol_dev.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    std::string first(8, '\0');
    ASSERT_EQ(::pread(fd, first.data(), 8, 0), 8);
    ::close(fd);
    uint64_t x = view->guid;
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    EXPECT_EQ(std::memcmp(first.data(), &x, 8), 0) << "the zvol does not hold the initiator's data";
  }

  // Unserving removes everything Poolkeeper made in configfs.
  ASSERT_TRUE(shares.UnservePool(pool));
  EXPECT_FALSE(PathExists("/sys/kernel/config/target/iscsi/" + iqn));
  EXPECT_FALSE(PathExists("/sys/kernel/config/target/core/iblock_7340"));
}

}  // namespace
}  // namespace pk::integration
