// End-to-end, in the OpenZFS guest: poolkeeperd under systemd with the shipped
// unit (packaging/poolkeeperd.service, KillMode=process) and the kernel's
// data plane (LIO, nfsd), SIGKILLed several times while clients write
// (issue 18 item 2 and its acceptance "the same with the daemon under systemd
// in the OpenZFS guest"):
//
//  - an iSCSI writer through LIO and the kernel initiator (open-iscsi: one
//    4 KiB record per write, O_DIRECT|O_SYNC, each acknowledged record noted)
//    and an NFSv3 writer through nfsd and the kernel client (a hard mount,
//    one O_SYNC record per write) run throughout;
//  - `systemctl kill --signal=SIGKILL --kill-who=main` kills the daemon
//    kCrashes times; systemd restarts it (Restart=on-failure), and each time
//    `service list` shows the pool online with both shares serving again;
//  - no client saw an I/O error, every acknowledged record reads back, the
//    iSCSI session is the one from before the first crash (the target never
//    went away: same session id), nfsd's thread count never changed, and the
//    stall each client saw around each crash is printed;
//  - `systemctl stop poolkeeperd` then stops everything in order: the unit
//    is inactive with no process left in its cgroup, Poolkeeper's exports and
//    LIO target are gone, and the pool (left imported, as a stop does) exports.
//
// The unit is installed under /run/systemd/system (gone at the guest's
// reboot) with a drop-in that points ExecStart at the job's binary and its
// test configuration and shortens RestartSec; everything else is the shipped
// file. Skips where systemd is not PID 1 or the kernel servers are missing.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/text.h"
#include "sys/process_runner.h"
#include "tests/e2e/harness.h"

namespace pk::e2e {

std::string WhyNoKernelShares(sys::ProcessRunner& runner);  // kernel_share_test.cc

namespace {

using nlohmann::json;
using ::testing::HasSubstr;
namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

constexpr int kCrashes = 5;
constexpr size_t kRecord = 4096;
constexpr const char* kUnit = "poolkeeperd.service";
constexpr const char* kUnitDir = "/run/systemd/system";

std::string WhyNot(sys::ProcessRunner& runner) {
  if (std::string why = WhyNoKernelShares(runner); !why.empty()) return why;
  if (!fs::exists("/run/systemd/system")) return "systemd is not PID 1 here";
  if (!fs::exists("/usr/sbin/iscsiadm")) return "no open-iscsi";
  if (EnvOr("PK_SYSTEMD_UNIT", "").empty()) return "PK_SYSTEMD_UNIT (the shipped unit file) is not set";
  return "";
}

// A writer of numbered 4 KiB records to one file or device, in a thread:
// record i goes to offset i * kRecord (the device wraps at `slots`), is
// acknowledged when write() returned (O_SYNC / O_DIRECT|O_SYNC), and the
// longest write so far is kept per crash window.
class RecordWriter {
 public:
  RecordWriter(std::string name, std::string path, int flags, size_t slots)
      : name_(std::move(name)), path_(std::move(path)), flags_(flags), slots_(slots) {}
  ~RecordWriter() { Stop(); }

  std::string Start() {
    fd_ = ::open(path_.c_str(), flags_ | O_CLOEXEC, 0644);
    if (fd_ < 0) return fmt::format("{}: open {}: {}", name_, path_, std::strerror(errno));
    thread_ = std::thread([this] { Loop(); });
    return "";
  }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  uint64_t acked() const { return acked_; }
  int errors() const { return errors_; }
  std::string first_error() const {
    std::lock_guard lock(mu_);
    return first_error_;
  }
  // The longest write since the last call, and resets it.
  double TakeLongestSeconds() {
    std::lock_guard lock(mu_);
    double s = longest_;
    longest_ = 0;
    return s;
  }
  // Every acknowledged record still reads back (through `read_path`, which
  // may be the server's side of the file). Returns the first mismatch or "".
  std::string Verify(const std::string& read_path, int read_flags) const {
    int fd = ::open(read_path.c_str(), read_flags | O_CLOEXEC);
    if (fd < 0) return fmt::format("{}: open {}: {}", name_, read_path, std::strerror(errno));
    void* buf = nullptr;
    if (::posix_memalign(&buf, 4096, kRecord) != 0) return "posix_memalign";
    std::string bad;
    uint64_t first = acked_ > slots_ ? acked_ - slots_ : 0;  // older slots were overwritten
    for (uint64_t i = first; i < acked_ && bad.empty(); ++i) {
      ssize_t n = ::pread(fd, buf, kRecord, static_cast<off_t>((i % slots_) * kRecord));
      std::string want = Record(i);
      if (n != static_cast<ssize_t>(kRecord) || std::memcmp(buf, want.data(), kRecord) != 0) {
        bad = fmt::format("{}: acknowledged record {} does not read back (read {})", name_, i, n);
      }
    }
    std::free(buf);
    ::close(fd);
    return bad;
  }

 private:
  std::string Record(uint64_t i) const {
    std::string r = fmt::format("{} record {}\n", name_, i);
    r.resize(kRecord, static_cast<char>('a' + i % 26));
    return r;
  }
  void Loop() {
    void* buf = nullptr;
    if (::posix_memalign(&buf, 4096, kRecord) != 0) return;
    for (uint64_t i = 0; !stop_; ++i) {
      std::string r = Record(i);
      std::memcpy(buf, r.data(), kRecord);
      auto t0 = Clock::now();
      ssize_t n = ::pwrite(fd_, buf, kRecord, static_cast<off_t>((i % slots_) * kRecord));
      double took = std::chrono::duration<double>(Clock::now() - t0).count();
      std::lock_guard lock(mu_);
      longest_ = std::max(longest_, took);
      if (n != static_cast<ssize_t>(kRecord)) {
        if (errors_++ == 0) first_error_ = fmt::format("record {}: {}", i, n < 0 ? std::strerror(errno) : "short write");
        break;
      }
      acked_ = i + 1;
      std::this_thread::sleep_for(milliseconds(20));
    }
    std::free(buf);
  }

  std::string name_, path_;
  int flags_;
  size_t slots_;
  int fd_ = -1;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> acked_{0};
  std::atomic<int> errors_{0};
  mutable std::mutex mu_;
  std::string first_error_;  // guarded by mu_
  double longest_ = 0;       // guarded by mu_
};

class KernelSystemdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    runner_ = sys::MakePosixProcessRunner();
    if (std::string why = WhyNot(*runner_); !why.empty()) GTEST_SKIP() << why;
    lab_ = EnvOr("PK_LAB_DIR", "/var/tmp/poolkeeper-lab");
    build_ = EnvOr("PK_BUILD_DIR", "");
    ASSERT_FALSE(build_.empty()) << "PK_BUILD_DIR is not set";
    std::string name = "ksysd" + std::to_string(::getpid());
    PK_ASSERT_OK(CreateLabPool(*runner_, lab_, name, &pool_, 256ll << 20));
    auto work = MakeWorkDir(lab_, name);
    PK_ASSERT_OK(work);
    work_ = *work;
    socket_ = work_ + "/run/pk.sock";
    exports_file_ = "/etc/exports.d/" + name + ".exports";
    const std::string conf = work_ + "/poolkeeperd.conf";
    std::ofstream(conf) << fmt::format(
        "state_dir = {}/state\nsocket = {}\n"
        "iscsi_server = lio\niscsi_portal = 127.0.0.1:3260\n"
        "nfs_server = kernel\nnfs_exports_file = {}\nsmb_server = off\n",
        work_, socket_, exports_file_);
    // The shipped unit as it is, and a drop-in with the test's binary and configuration.
    fs::copy_file(EnvOr("PK_SYSTEMD_UNIT", ""), std::string(kUnitDir) + "/" + kUnit, fs::copy_options::overwrite_existing);
    fs::create_directories(dropin_dir_);
    std::ofstream(dropin_dir_ + "/test.conf") << fmt::format(
        "[Unit]\nStartLimitBurst=100\n"
        "[Service]\nExecStart=\nExecStart={}/src/daemon/poolkeeperd --config {} --log-level debug\nRestartSec=1s\n",
        build_, conf);
    installed_ = true;
    ASSERT_EQ(Systemctl({"daemon-reload"}).status.code, 0);
    auto started = Systemctl({"start", kUnit});
    ASSERT_EQ(started.status.code, 0) << started.err << Journal();
    cli_ = CliClient(runner_.get(), build_ + "/src/cli/poolkeeper", socket_);
    WaitForJson(cli_, {"service", "list"}, [](const json& j) { return j.is_object(); }, seconds(60));
    PK_ASSERT_OK(AdoptPool(cli_, pool_.name));
  }

  void TearDown() override {
    if (!runner_ || pool_.name.empty()) return;
    iscsi_.reset();
    nfs_.reset();
    (void)Run({.program = "/usr/bin/umount", .args = {"-f", "-l", client_dir_}}, true);
    if (!iqn_.empty()) {
      (void)Run({.program = "/usr/sbin/iscsiadm", .args = {"-m", "node", "-T", iqn_, "-p", "127.0.0.1", "--logout"}}, true);
      (void)Run({.program = "/usr/sbin/iscsiadm", .args = {"-m", "node", "-T", iqn_, "-o", "delete"}}, true);
    }
    if (installed_) {
      if (HasFailure()) std::fprintf(stderr, "%s\n", Journal().c_str());
      (void)Systemctl({"stop", kUnit});
      std::error_code ec;
      fs::remove_all(dropin_dir_, ec);
      fs::remove(std::string(kUnitDir) + "/" + kUnit, ec);
      (void)Systemctl({"daemon-reload"});
      (void)Systemctl({"reset-failed", kUnit});
    }
    ClearImmutable(pool_.mnt);
    if (!PoolImported(*runner_, pool_.name)) {
      (void)runner_->Run(ZfsTool("zpool", {"import", "-d", pool_.disk_dir, pool_.name}));
    }
    PK_EXPECT_OK(DestroyLabPool(*runner_, pool_));
    std::error_code ec;
    fs::remove(exports_file_, ec);
    fs::remove(client_dir_, ec);
    KeepWorkIfFailed(work_, "");
  }

  sys::ProcessResult Run(sys::Command c, bool quiet = false) {
    if (c.env.empty()) c.env = ToolEnv();
    c.timeout = seconds(120);
    auto r = runner_->Run(c);
    if (!r) {
      if (!quiet) ADD_FAILURE() << c.ToString() << ": " << r.error().message();
      return {};
    }
    if (!quiet) {
      std::fprintf(stderr, "[ client   ] %s -> %s\n%s%s", c.ToString().c_str(), r->status.ToString().c_str(),
                   r->out.c_str(), r->err.c_str());
    }
    return *r;
  }
  sys::ProcessResult Systemctl(std::vector<std::string> args) {
    return Run({.program = "/usr/bin/systemctl", .args = std::move(args)}, true);
  }
  std::string Journal() {
    auto r = Run({.program = "/usr/bin/journalctl", .args = {"-u", kUnit, "--no-pager", "-n", "60"}}, true);
    return "--- journal of " + std::string(kUnit) + " ---\n" + r.out;
  }
  std::string MainPid() {
    auto r = Systemctl({"show", "-p", "MainPID", "--value", kUnit});
    std::string pid = r.out.substr(0, r.out.find('\n'));
    return pid == "0" ? "" : pid;
  }
  // `service list` shows the pool online and `share list` both shares serving.
  void WaitServing() {
    WaitForJson(cli_, {"service", "list"}, [&](const json& j) {
      for (const auto& s : j.value("services", json::array())) {
        if (s.value("resource", "") == "pool:" + pool_.name) return s.value("state", "") == "online";
      }
      return false;
    }, seconds(120));
    WaitForJson(cli_, {"share", "list", "--pool", pool_.name}, [&](const json& j) {
      for (const auto& s : j["shares"]) {
        if (s.value("state", "") != "serving") return false;
      }
      return j["shares"].size() == 2;
    }, seconds(120));
  }
  // The iSCSI session id of our target ("" when none).
  std::string SessionId() {
    auto r = Run({.program = "/usr/sbin/iscsiadm", .args = {"-m", "session"}}, true);
    for (std::string_view line : SplitLines(r.out)) {
      if (line.find(iqn_) == std::string_view::npos) continue;
      size_t open = line.find('['), close = line.find(']');
      if (open != std::string_view::npos && close != std::string_view::npos) {
        return std::string(line.substr(open + 1, close - open - 1));
      }
    }
    return "";
  }
  // Waits until both writers acknowledged `more` records beyond what they had.
  bool BothProgress(uint64_t more, seconds limit) {
    uint64_t i0 = iscsi_->acked(), n0 = nfs_->acked();
    auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      if (iscsi_->acked() >= i0 + more && nfs_->acked() >= n0 + more) return true;
      if (iscsi_->errors() || nfs_->errors()) return false;
      std::this_thread::sleep_for(milliseconds(50));
    }
    return false;
  }

  std::unique_ptr<sys::ProcessRunner> runner_;
  std::string lab_, build_, work_, socket_, exports_file_, iqn_;
  std::string dropin_dir_ = std::string(kUnitDir) + "/" + kUnit + ".d";
  std::string client_dir_ = "/mnt/pk-systemd-" + std::to_string(::getpid());
  bool installed_ = false;
  LabPool pool_;
  CliClient cli_;
  std::unique_ptr<RecordWriter> iscsi_, nfs_;
};

// issue 18 item 2 (systemd, kernel data plane in the OpenZFS guest).
TEST_F(KernelSystemdTest, SigkillUnderSystemdLeavesClientsWritingAndStopStopsEverything) {
  ASSERT_EQ(cli_.Run({"service", "enable", pool_.name, "-d", pool_.disk_dir}).code, kExitOk);
  // An NFS share and an iSCSI share on a zvol.
  const std::string home = pool_.name + "/home";
  ASSERT_EQ(cli_.Run({"dataset", "create", home}).code, kExitOk);
  CliResult nfs = cli_.Run({"share", "create", "nfs", home, "--client", "127.0.0.1(rw,no_root_squash)"});
  ASSERT_EQ(nfs.code, kExitOk) << nfs;
  auto vol = runner_->Run(ZfsTool("zfs", {"create", "-V", "64M", pool_.name + "/vm"}));
  ASSERT_TRUE(vol && vol->status.Success());
  const std::string zvol = "/dev/zvol/" + pool_.name + "/vm";
  for (int i = 0; i < 300 && !fs::exists(zvol); ++i) std::this_thread::sleep_for(milliseconds(100));
  CliResult lun = cli_.Run({"share", "create", "iscsi", pool_.name + "/vm", "--initiator", "ALL"});
  ASSERT_EQ(lun.code, kExitOk) << lun;
  WaitServing();
  CliResult shown = cli_.Run({"--json", "share", "show", "iscsi", pool_.name + "/vm"});
  json share = json::parse(shown.out, nullptr, false);
  ASSERT_TRUE(share.is_object() && share.contains("definition")) << shown;
  iqn_ = share["definition"].value("iqn", "");
  ASSERT_FALSE(iqn_.empty()) << shown;

  // The clients: the kernel initiator and the kernel NFS client (hard mount).
  ASSERT_EQ(Run({.program = "/usr/sbin/iscsiadm", .args = {"-m", "discovery", "-t", "sendtargets", "-p", "127.0.0.1"}})
                .status.code, 0);
  ASSERT_EQ(Run({.program = "/usr/sbin/iscsiadm", .args = {"-m", "node", "-T", iqn_, "-p", "127.0.0.1", "--login"}})
                .status.code, 0);
  const std::string dev = "/dev/disk/by-path/ip-127.0.0.1:3260-iscsi-" + iqn_ + "-lun-1";
  for (int i = 0; i < 300 && !fs::exists(dev); ++i) std::this_thread::sleep_for(milliseconds(100));
  ASSERT_TRUE(fs::exists(dev)) << dev;
  fs::create_directories(client_dir_);
  ASSERT_EQ(Run({.program = "/usr/bin/mount",
                 .args = {"-t", "nfs", "-o", "vers=3,hard,nolock", "127.0.0.1:" + pool_.mnt + "/home", client_dir_}})
                .status.code, 0);
  iscsi_ = std::make_unique<RecordWriter>("iscsi", dev, O_RDWR | O_DIRECT | O_SYNC, 64ull << 20 >> 12);
  nfs_ = std::make_unique<RecordWriter>("nfs", client_dir_ + "/records", O_RDWR | O_CREAT | O_SYNC, SIZE_MAX >> 13);
  ASSERT_EQ(iscsi_->Start(), "");
  ASSERT_EQ(nfs_->Start(), "");
  ASSERT_TRUE(BothProgress(20, seconds(60))) << "writers do not write: " << iscsi_->first_error() << nfs_->first_error();

  const std::string session = SessionId();
  ASSERT_FALSE(session.empty());
  const std::string threads = ReadWholeFile("/proc/fs/nfsd/threads");
  (void)iscsi_->TakeLongestSeconds();
  (void)nfs_->TakeLongestSeconds();
  for (int crash = 1; crash <= kCrashes; ++crash) {
    const std::string before = MainPid();
    ASSERT_FALSE(before.empty());
    auto killed = Systemctl({"kill", "--signal=SIGKILL", "--kill-who=main", kUnit});
    ASSERT_EQ(killed.status.code, 0) << killed.err;
    auto deadline = Clock::now() + seconds(60);
    std::string after;
    while (Clock::now() < deadline) {
      after = MainPid();
      if (!after.empty() && after != before) break;
      std::this_thread::sleep_for(milliseconds(100));
    }
    ASSERT_TRUE(!after.empty() && after != before) << "systemd did not restart poolkeeperd after crash " << crash
                                                  << Journal();
    WaitServing();
    ASSERT_TRUE(BothProgress(10, seconds(60))) << "clients stopped after crash " << crash << ": "
                                               << iscsi_->first_error() << nfs_->first_error();
    std::fprintf(stderr, "[ crash %d  ] daemon pid %s -> %s; longest write: iscsi %.2f s, nfs %.2f s\n", crash,
                 before.c_str(), after.c_str(), iscsi_->TakeLongestSeconds(), nfs_->TakeLongestSeconds());
    EXPECT_EQ(SessionId(), session) << "the iSCSI session was replaced: the target went away";
    EXPECT_EQ(ReadWholeFile("/proc/fs/nfsd/threads"), threads) << "nfsd was restarted";
  }
  iscsi_->Stop();
  nfs_->Stop();
  EXPECT_EQ(iscsi_->errors(), 0) << iscsi_->first_error();
  EXPECT_EQ(nfs_->errors(), 0) << nfs_->first_error();
  EXPECT_EQ(iscsi_->Verify(dev, O_RDONLY | O_DIRECT), "");
  EXPECT_EQ(nfs_->Verify(pool_.mnt + "/home/records", O_RDONLY), "");
  std::fprintf(stderr, "[ clients  ] %llu iSCSI and %llu NFS records acknowledged across %d crashes, all read back\n",
               static_cast<unsigned long long>(iscsi_->acked()), static_cast<unsigned long long>(nfs_->acked()),
               kCrashes);

  // A deliberate stop: clients leave first, then systemctl stop.
  ASSERT_EQ(Run({.program = "/usr/bin/umount", .args = {client_dir_}}).status.code, 0);
  ASSERT_EQ(Run({.program = "/usr/sbin/iscsiadm", .args = {"-m", "node", "-T", iqn_, "-p", "127.0.0.1", "--logout"}})
                .status.code, 0);
  auto stopped = Systemctl({"stop", kUnit});
  EXPECT_EQ(stopped.status.code, 0) << stopped.err;
  EXPECT_EQ(Systemctl({"is-active", kUnit}).out, "inactive\n") << Journal();
  const std::string procs = ReadWholeFile("/sys/fs/cgroup/system.slice/poolkeeperd.service/cgroup.procs");
  EXPECT_EQ(procs, "") << "processes left in the unit's cgroup after the stop";
  EXPECT_THAT(Run({.program = "/usr/sbin/exportfs", .args = {"-v"}}).out, ::testing::Not(HasSubstr(pool_.mnt)));
  EXPECT_FALSE(fs::exists("/sys/kernel/config/target/iscsi/" + iqn_)) << "the LIO target outlived the stop";
  auto exported = runner_->Run(ZfsTool("zpool", {"export", pool_.name}));
  ASSERT_TRUE(exported);
  EXPECT_EQ(exported->status.code, 0) << "pool not exportable after the stop: " << exported->err;
}

}  // namespace
}  // namespace pk::e2e
