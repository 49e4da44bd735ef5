// End-to-end tests of the crash-safe control plane (issue 18), with the real
// servers poolkeeperd runs (tgtd, nfs-ganesha + rpcbind in a private network
// namespace, smbd on a loopback port, a poolkeeper-shadowfs helper) and real
// clients:
//
//  - DataPlaneOutlivesTenCrashes (items 1, 2, 4): an iSCSI and an NFSv3
//    sequence writer (pk_seq_client), an SMB writer (smbclient `put` of
//    numbered files) and a reader of a shadow-migration layer run while
//    poolkeeperd is SIGKILLed at 10 random moments (seeded; the seed is
//    printed) and restarted each time. Every client must see no I/O error,
//    every acknowledged write must read back, each restart must reach the
//    pool `online` with every share `serving` with the same server and
//    helper PIDs (adopted, not restarted); the stall each client saw around
//    each crash is printed. Then a SIGTERM stop must leave no process it
//    started (process listing) and no shadow mount (mount listing), and the
//    pool must export.
//  - MountpointProtection (item 5): with the pool exported by its service,
//    writing into its mountpoint fails with EPERM and `pool status` says the
//    directory is protected; import and export still work.
//  - CrashDuringOperations (item 1 acceptance): SIGKILL during a share
//    create, an import and a service stop; the restarted daemon ends in a
//    state `service list` explains, with at most one server of each kind
//    and no process left after its stop.
#include <fcntl.h>
#include <signal.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sys/daemon_launcher.h"
#include "sys/process_runner.h"
#include "tests/e2e/harness.h"
#include "tests/e2e/lab.h"
#include "tests/e2e/share_lab.h"

namespace pk::e2e {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kPassword = "Crash-pass-1";

double Now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

class CrashTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { user_added_ = AddSuiteUser(*suite_runner_, "pkcrs", &user_); }
  static void TearDownTestSuite() { RemoveSuiteUser(*suite_runner_, user_); }

  void SetUp() override {
    if (!user_added_) GTEST_FAIL() << "suite set-up failed: " << user_added_.error().message();
    std::string name = "crs" + std::to_string(::getpid()) + "t" + std::to_string(++counter_);
    PK_ASSERT_OK(lab_.Open(name));
    auto pool = lab_.CreatePool(name, 384ll << 20);
    PK_ASSERT_OK(pool);
    pool_ = *pool;
    head_ = ShareHeadFor(0);
    options_.config = work_ + "/poolkeeperd.conf";
    PK_ASSERT_OK(WriteShareConfig(options_, head_));
    cli_ = lab_.cli();
  }

  void TearDown() override {
    for (auto& c : clients_) c->Stop(SIGKILL, milliseconds(0));
    clients_.clear();
    if (daemon_.running()) daemon_.Stop();
    for (const auto& mp : ShadowMounts(pool_.mnt)) (void)runner_->Run({"/bin/umount", {"-l", mp}, ToolEnv()});
    if (!PoolImported(*runner_, pool_.name)) ClearImmutable(pool_.mnt);
    lab_.Close();  // re-imports the pool if it was exported, destroys it
    EXPECT_FALSE(fs::exists("/run/netns/" + head_.nfs_netns)) << "namespace " << head_.nfs_netns << " left behind";
  }

  // Polls `what` (a CLI --json command) until `done` holds; the last answer.
  json WaitFor(std::vector<std::string> what, const std::function<bool(const json&)>& done,
               milliseconds limit = seconds(90)) {
    auto deadline = Clock::now() + limit;
    json last;
    while (Clock::now() < deadline) {
      std::vector<std::string> args = {"--json"};
      args.insert(args.end(), what.begin(), what.end());
      CliResult r = cli_.Run(args);
      last = json::parse(r.out, nullptr, false);
      if (r.code == kExitOk && !last.is_discarded() && done(last)) return last;
      std::this_thread::sleep_for(milliseconds(100));
    }
    ADD_FAILURE() << "timed out waiting for " << fmt::format("{}", fmt::join(what, " ")) << "; last answer: "
                  << last.dump(2);
    return last;
  }
  json WaitForService(const std::string& state) {
    return WaitFor({"service", "status", pool_.name}, [&](const json& j) { return j.value("state", "") == state; });
  }
  // `service list` shows the pool online and `share list` every share serving.
  void WaitServing(size_t shares) {
    WaitFor({"service", "list"}, [&](const json& j) {
      for (const auto& s : j.value("services", json::array())) {
        if (s.value("resource", "") == "pool:" + pool_.name) return s.value("state", "") == "online";
      }
      return false;
    });
    WaitFor({"share", "list", "--pool", pool_.name}, [&](const json& j) {
      for (const auto& s : j["shares"]) {
        if (s.value("state", "") != "serving") return false;
      }
      return j["shares"].size() == shares;
    });
  }

  std::string Dataset(const std::string& leaf) const { return pool_.name + "/" + leaf; }
  void CreateDataset(const std::string& leaf) {
    auto r = runner_->Run(ZfsTool("zfs", {"create", Dataset(leaf)}));
    ASSERT_TRUE(r && r->status.Success()) << "zfs create " << Dataset(leaf);
  }

  // What the daemon recorded in its state directory: name -> pid.
  std::map<std::string, pid_t> Recorded() const {
    std::map<std::string, pid_t> out;
    for (const auto& r : sys::ReadDaemonRecords(options_.state_dir + "/children")) out[r.name] = r.pid;
    return out;
  }

  // A client process (output to LOG), stopped by the test.
  sys::ServerProcess& StartClient(sys::Command c, const std::string& log) {
    if (c.env.empty()) c.env = ToolEnv();
    auto d = launcher_->Launch(c, log);
    EXPECT_TRUE(d) << c.ToString();
    clients_.push_back(std::move(*d));
    return *clients_.back();
  }
  // Waits (bounded) for a client to exit by itself; its exit code, -1 if it had to be killed.
  static int WaitClient(sys::ServerProcess& d, milliseconds limit) {
    auto deadline = Clock::now() + limit;
    while (d.Running() && Clock::now() < deadline) std::this_thread::sleep_for(milliseconds(50));
    if (d.Running()) {
      d.Stop(SIGKILL, milliseconds(0));
      return -1;
    }
    auto e = d.Exit();
    return e && e->kind == sys::ExitStatus::Kind::kExited ? e->code : -1;
  }

  sys::ProcessResult Run(sys::Command c) {
    if (c.env.empty()) c.env = ToolEnv();
    if (c.timeout == std::chrono::milliseconds::zero()) c.timeout = seconds(120);
    auto r = runner_->Run(c);
    EXPECT_TRUE(r) << c.ToString();
    return r ? *r : sys::ProcessResult{};
  }
  sys::ProcessResult Smb(const std::string& share, const std::string& commands) {
    return Run({.program = "/usr/bin/smbclient",
                .args = {"//127.0.0.1/" + share, "-p", std::to_string(head_.smb_port), "-U", user_ + "%" + kPassword,
                         "-m", "SMB3", "--configfile=/dev/null", "-c", commands},
                .timeout = seconds(30)});
  }

  static inline std::unique_ptr<sys::ProcessRunner> suite_runner_ = sys::MakePosixProcessRunner();
  static inline std::string user_;
  static inline Status user_added_ = OkStatus();
  static inline int counter_ = 0;
  Lab lab_;
  std::unique_ptr<sys::DaemonLauncher> launcher_ = sys::MakePosixDaemonLauncher();
  sys::ProcessRunner* runner_ = &lab_.runner();
  const std::string& build_ = lab_.build_dir();
  const std::string& work_ = lab_.work();
  PoolkeeperdOptions& options_ = lab_.options();
  Poolkeeperd& daemon_ = lab_.daemon();
  LabPool pool_;
  ShareHead head_;
  CliClient cli_;
  std::vector<std::unique_ptr<sys::ServerProcess>> clients_;
};

// A pk_seq_client journal: acknowledgement times and failures.
struct Journal {
  std::vector<double> acks;
  std::vector<std::string> fails;
};
Journal ReadJournal(const std::string& path) {
  Journal j;
  std::istringstream in(ReadWholeFile(path));
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::string kind;
    words >> kind;
    if (kind == "ack") {
      uint64_t seq = 0;
      double t = 0;
      words >> seq >> t;
      j.acks.push_back(t);
    } else if (kind == "fail") {
      j.fails.push_back(line);
    }
  }
  return j;
}

// The longest pause between two consecutive acknowledgements within
// [from, to] (the client-seen stall around a crash), in seconds.
double LongestGap(const std::vector<double>& acks, double from, double to) {
  double gap = 0;
  for (size_t i = 1; i < acks.size(); ++i) {
    if (acks[i] < from || acks[i - 1] > to) continue;
    gap = std::max(gap, acks[i] - acks[i - 1]);
  }
  return gap;
}

// issue 18 items 1, 2 and 4, and the host acceptance run.
TEST_F(CrashTest, DataPlaneOutlivesTenCrashes) {
  CreateDataset("lun");
  CreateDataset("nfs");
  CreateDataset("smb");
  CreateDataset("mig");
  ASSERT_FALSE(HasFailure());
  fs::permissions(pool_.mnt + "/smb", fs::perms::all);
  // The migration's source: 400 files of 64 KiB, copied at 256 KiB/s in the
  // background, so the migration is in progress for the whole run.
  const std::string src = work_ + "/source";
  fs::create_directories(src);
  std::mt19937 fill(7);
  for (int i = 0; i < 400; ++i) {
    std::string data(64 << 10, '\0');
    for (auto& c : data) c = static_cast<char>('a' + fill() % 26);
    std::ofstream(fmt::format("{}/f{:04d}", src, i), std::ios::binary) << data;
  }

  PK_ASSERT_OK(StartSuitePoolkeeperd(daemon_, options_));
  ASSERT_EQ(cli_.Run({"service", "enable", pool_.name, "-d", pool_.disk_dir}).code, kExitOk);
  WaitForService("online");
  PK_ASSERT_OK(AdoptPool(cli_, pool_.name));  // made with zpool create
  CliResult made = cli_.Run({"share", "create", "iscsi", Dataset("lun"), "--size", "48M"});
  ASSERT_EQ(made.code, kExitOk) << made;
  made = cli_.Run({"share", "create", "nfs", Dataset("nfs"), "--client", "127.0.0.1(rw,no_root_squash)"});
  ASSERT_EQ(made.code, kExitOk) << made;
  made = cli_.Run({"share", "create", "smb", Dataset("smb"), "--name", "Crash", "--valid-user", user_});
  ASSERT_EQ(made.code, kExitOk) << made;
  ASSERT_EQ(cli_.RunWithStdin({"share", "smb-user", "set", user_}, std::string(kPassword) + "\n").code, kExitOk);
  const std::string mig = pool_.mnt + "/mig";
  made = cli_.Run({"migrate", "start", Dataset("mig"), "--source", "file://" + src, "--bwlimit", "256K"});
  ASSERT_EQ(made.code, kExitOk) << made;
  WaitServing(3);
  for (int i = 0; i < 400 && ShadowMounts(mig).empty(); ++i) std::this_thread::sleep_for(milliseconds(50));
  ASSERT_FALSE(ShadowMounts(mig).empty()) << "the shadow layer did not come up";
  const std::string iqn = cli_.Json({"share", "show", "iscsi", Dataset("lun")})["definition"].value("iqn", "");
  ASSERT_FALSE(iqn.empty());

  // The servers and the helper, as recorded: they must stay the same processes.
  std::map<std::string, pid_t> servers = Recorded();
  for (const char* name : {"tgtd", "ganesha", "rpcbind", "smbd"}) {
    ASSERT_TRUE(servers.contains(name)) << name << " was not recorded";
  }
  ASSERT_EQ(servers.size(), 5u) << "expected 4 servers and the shadow helper";

  // Clients.
  const std::string stop_file = work_ + "/stop-clients";
  const std::string iscsi_url = "iscsi://" + head_.IscsiPortal() + "/" + iqn + "/1";
  const std::string nfs_url = "nfs://127.0.0.1" + pool_.mnt + "/nfs/seq.bin?mountport=20048&nfsport=2049&version=3";
  const std::string seq = build_ + "/tests/tools/pk_seq_client";
  sys::ServerProcess& iscsi = StartClient({.program = seq,
                                    .args = {"write", iscsi_url, "--journal", work_ + "/iscsi.journal", "--stop-file",
                                             stop_file, "--interval-ms", "20", "--max-records", "10000"}},
                                   work_ + "/iscsi.out");
  sys::ServerProcess& nfs = StartClient({.program = "/usr/bin/nsenter",
                                  .args = {"--net=/run/netns/" + head_.nfs_netns, "--", seq, "write", nfs_url,
                                           "--journal", work_ + "/nfs.journal", "--stop-file", stop_file,
                                           "--interval-ms", "20", "--max-records", "10000"}},
                                 work_ + "/nfs.out");
  std::atomic<bool> stop{false};
  // SMB: numbered files put one by one (a new connection each), each
  // acknowledged put remembered with its time.
  std::vector<double> smb_acks;
  std::vector<std::string> smb_errors;
  std::thread smb([&] {
    for (int n = 0; !stop; ++n) {
      std::string local = fmt::format("{}/smb-{}.txt", work_, n);
      std::ofstream(local) << fmt::format("smb record {}\n", n) << std::string(4096, 'x');
      auto r = Smb("Crash", fmt::format("put {} r{:05d}.txt", local, n));
      if (r.status.Success()) {
        smb_acks.push_back(Now());
      } else {
        smb_errors.push_back(fmt::format("put {}: {} {}", n, r.status.ToString(), r.out + r.err));
        break;
      }
      fs::remove(local);
    }
  });
  // Shadow layer: read a file through it over and over; compare with the source.
  std::vector<double> layer_reads;
  std::vector<std::string> layer_errors;
  std::thread reader([&] {
    for (int n = 0; !stop; ++n) {
      // The same 20 files only: a read through the layer migrates the file, and
      // reading all of them would complete the migration (its helper then exits).
      std::string name = fmt::format("f{:04d}", (n * 7) % 20);
      std::ifstream in(mig + "/" + name, std::ios::binary);
      std::string got((std::istreambuf_iterator<char>(in)), {});
      if (!in.good() && !in.eof()) {
        layer_errors.push_back(name + ": " + std::strerror(errno));
      } else if (got != ReadWholeFile(src + "/" + name)) {
        layer_errors.push_back(name + ": differs from the source (" + std::to_string(got.size()) + " bytes)");
      } else {
        layer_reads.push_back(Now());
        continue;
      }
      if (layer_errors.size() > 5) break;
    }
  });

  // Ten crashes at seeded random moments.
  unsigned seed = static_cast<unsigned>(std::random_device{}());
  if (const char* s = std::getenv("PK_CRASH_SEED")) seed = static_cast<unsigned>(std::stoul(s));
  std::printf("crash e2e: seed %u (PK_CRASH_SEED=%u repeats this run)\n", seed, seed);
  std::mt19937 rnd(seed);
  std::uniform_int_distribution<int> delay_ms(300, 3000);
  std::vector<std::pair<double, double>> crashes;  // kill time, serving again
  for (int round = 0; round < 10 && !HasFatalFailure(); ++round) {
    std::this_thread::sleep_for(milliseconds(delay_ms(rnd)));
    double killed = Now();
    daemon_.Kill();
    PK_ASSERT_OK(StartSuitePoolkeeperd(daemon_, options_)) << "restart " << round;
    WaitServing(3);
    double serving = Now();
    crashes.emplace_back(killed, serving);
    std::map<std::string, pid_t> now = Recorded();
    EXPECT_EQ(now, servers) << "round " << round << ": a server or the helper was restarted instead of adopted";
    for (const auto& [name, pid] : servers) {
      EXPECT_TRUE(sys::ProcessStartTime(pid).has_value()) << "round " << round << ": " << name << " (pid " << pid
                                                          << ") is gone";
    }
    std::printf("crash e2e: crash %d at +%.1f s: serving again after %.2f s\n", round + 1,
                killed - crashes.front().first, serving - killed);
  }
  std::this_thread::sleep_for(seconds(2));  // clients run past the last restart

  // Stop the clients; check what they saw.
  { std::ofstream(stop_file) << "stop\n"; }
  stop = true;
  smb.join();
  reader.join();
  EXPECT_EQ(WaitClient(iscsi, seconds(30)), 0) << ReadWholeFile(work_ + "/iscsi.out");
  EXPECT_EQ(WaitClient(nfs, seconds(30)), 0) << ReadWholeFile(work_ + "/nfs.out");
  Journal ij = ReadJournal(work_ + "/iscsi.journal"), nj = ReadJournal(work_ + "/nfs.journal");
  EXPECT_THAT(ij.fails, ::testing::IsEmpty()) << "iSCSI writes failed";
  EXPECT_THAT(nj.fails, ::testing::IsEmpty()) << "NFS writes failed";
  EXPECT_THAT(smb_errors, ::testing::IsEmpty()) << "SMB writes failed";
  EXPECT_THAT(layer_errors, ::testing::IsEmpty()) << "shadow layer reads failed";
  EXPECT_GT(ij.acks.size(), 100u);
  EXPECT_GT(nj.acks.size(), 100u);
  EXPECT_GT(smb_acks.size(), 10u);
  EXPECT_GT(layer_reads.size(), 10u);
  for (size_t i = 0; i < crashes.size(); ++i) {
    auto [from, to] = crashes[i];
    std::printf("crash e2e: crash %zu stall (longest pause between acknowledged operations while the daemon was "
                "down or restarting): iSCSI %.2f s, NFS %.2f s, SMB %.2f s, shadow layer %.2f s\n",
                i + 1, LongestGap(ij.acks, from, to), LongestGap(nj.acks, from, to), LongestGap(smb_acks, from, to),
                LongestGap(layer_reads, from, to));
  }
  // Zero acknowledged writes lost.
  auto verified = Run({.program = seq, .args = {"verify", iscsi_url, "--journal", work_ + "/iscsi.journal"}});
  EXPECT_EQ(verified.status.code, 0) << verified.out << verified.err;
  verified = Run({.program = "/usr/bin/nsenter",
                  .args = {"--net=/run/netns/" + head_.nfs_netns, "--", seq, "verify", nfs_url, "--journal",
                           work_ + "/nfs.journal"}});
  EXPECT_EQ(verified.status.code, 0) << verified.out << verified.err;
  for (size_t n = 0; n < smb_acks.size(); ++n) {
    std::string got = ReadWholeFile(fmt::format("{}/smb/r{:05d}.txt", pool_.mnt, n));
    EXPECT_TRUE(got.starts_with(fmt::format("smb record {}\n", n))) << "SMB record " << n << " lost";
  }

  // A deliberate stop leaves nothing it started: process and mount listing.
  daemon_.Stop();
  for (const auto& [name, pid] : servers) {
    EXPECT_FALSE(sys::ProcessStartTime(pid).has_value()) << name << " (pid " << pid << ") outlived the stop";
  }
  EXPECT_THAT(ProcessesMentioning(work_), ::testing::IsEmpty()) << "processes left by the stopped daemon";
  EXPECT_THAT(ShadowMounts(pool_.mnt), ::testing::IsEmpty());
  EXPECT_FALSE(fs::exists("/run/netns/" + head_.nfs_netns));
  EXPECT_TRUE(Recorded().empty()) << "records outlived a clean stop";
  auto exported = Run(ZfsTool("zpool", {"export", pool_.name}));
  EXPECT_EQ(exported.status.code, 0) << "pool not exportable after the stop: " << exported.err;
}

// issue 18 item 5 (host flavour).
TEST_F(CrashTest, MountpointProtection) {
  PK_ASSERT_OK(StartSuitePoolkeeperd(daemon_, options_));
  ASSERT_EQ(cli_.Run({"service", "enable", pool_.name, "-d", pool_.disk_dir}).code, kExitOk);
  WaitForService("online");
  PK_ASSERT_OK(AdoptPool(cli_, pool_.name));  // made with zpool create
  ASSERT_EQ(cli_.Run({"service", "stop", pool_.name}).code, kExitOk);
  WaitForService("exported");
  EXPECT_TRUE(Immutable(pool_.mnt)) << pool_.mnt << " is not protected while the pool is exported";
  int fd = ::open((pool_.mnt + "/stray").c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
  int err = errno;
  if (fd >= 0) ::close(fd);
  EXPECT_LT(fd, 0) << "wrote into the mountpoint of an exported pool";
  EXPECT_EQ(err, EPERM);
  CliResult status = cli_.Run({"pool", "status", pool_.name});
  EXPECT_EQ(status.code, kExitNotFound) << status;
  EXPECT_THAT(status.err, HasSubstr("mountpoint " + pool_.mnt + ": protected (immutable, empty)")) << status;
  // Import and export still work; the protection is lifted while imported.
  ASSERT_EQ(cli_.Run({"service", "start", pool_.name}).code, kExitOk);
  WaitForService("online");
  EXPECT_FALSE(Immutable(pool_.mnt));
  { std::ofstream(pool_.mnt + "/in-the-pool") << "ok\n"; }
  EXPECT_EQ(ReadWholeFile(pool_.mnt + "/in-the-pool"), "ok\n");
  ASSERT_EQ(cli_.Run({"service", "stop", pool_.name}).code, kExitOk);
  WaitForService("exported");
  EXPECT_TRUE(Immutable(pool_.mnt));
  EXPECT_FALSE(fs::exists(pool_.mnt + "/in-the-pool")) << "the pool's file is visible with the pool exported";
}

// Processes of one server kind (cmdline holds every word of `words`), by session.
std::set<pid_t> Sessions(const std::vector<std::string>& words) {
  std::set<pid_t> out;
  for (const auto& line : ProcessesMentioning(words.front())) {
    bool all = std::all_of(words.begin(), words.end(), [&](const std::string& w) { return line.find(w) != std::string::npos; });
    if (all) out.insert(::getsid(std::stoi(line.substr(0, line.find(':')))));
  }
  return out;
}

// issue 18 acceptance: a SIGKILL during a share create, an import and a
// service stop; each time the restarted daemon ends in a state `service list`
// explains, with one server of each kind, and its stop leaves nothing.
TEST_F(CrashTest, CrashDuringOperations) {
  CreateDataset("nfs");
  CreateDataset("smb");
  ASSERT_FALSE(HasFailure());
  PK_ASSERT_OK(StartSuitePoolkeeperd(daemon_, options_));
  ASSERT_EQ(cli_.Run({"service", "enable", pool_.name, "-d", pool_.disk_dir}).code, kExitOk);
  WaitForService("online");
  PK_ASSERT_OK(AdoptPool(cli_, pool_.name));  // made with zpool create
  ASSERT_EQ(cli_.Run({"share", "create", "smb", Dataset("smb"), "--name", "Ops"}).code, kExitOk);
  WaitServing(1);
  unsigned seed = static_cast<unsigned>(std::random_device{}());
  std::printf("crash e2e: operations seed %u\n", seed);
  std::mt19937 rnd(seed);
  std::uniform_int_distribution<int> delay_ms(0, 400);
  // Runs the CLI without waiting, then SIGKILLs the daemon a moment later.
  auto kill_during = [&](std::vector<std::string> args, const std::string& what) {
    std::vector<std::string> env = ToolEnv();
    env.push_back("POOLKEEPER_SOCKET=" + options_.socket);
    sys::ServerProcess& op = StartClient({.program = build_ + "/src/cli/poolkeeper", .args = args, .env = env},
                                  work_ + "/op.out");
    std::this_thread::sleep_for(milliseconds(delay_ms(rnd)));
    daemon_.Kill();
    (void)WaitClient(op, seconds(30));
    PK_ASSERT_OK(StartSuitePoolkeeperd(daemon_, options_)) << "restart after a SIGKILL during " << what;
    json s = WaitFor({"service", "status", pool_.name}, [](const json& j) {
      std::string st = j.value("state", "");
      return st == "online" || st == "degraded" || st == "exported" || st == "locked" || st == "failed";
    });
    std::printf("crash e2e: SIGKILL during %s: service %s (%s)\n", what.c_str(), s.value("state", "").c_str(),
                s.value("reason", "").c_str());
    EXPECT_FALSE(s.value("reason", "").empty()) << "state without a reason after a SIGKILL during " << what;
    // Back to serving, by the admin's ordinary commands.
    if (s.value("state", "") == "locked") {
      ASSERT_EQ(cli_.Run({"pool", "unlock", pool_.name}).code, kExitOk);
    }
    if (s.value("state", "") != "online" && s.value("state", "") != "degraded") {
      CliResult started = cli_.Run({"service", "start", pool_.name});
      EXPECT_EQ(started.code, kExitOk) << started;
    }
    WaitForService("online");
    // One server of each kind: no duplicate beside an adopted one.
    EXPECT_LE(Sessions({"ganesha.nfsd", options_.state_dir}).size(), 1u) << what;
    EXPECT_EQ(Sessions({"smbd", options_.state_dir}).size(), 1u) << what;
  };
  kill_during({"share", "create", "nfs", Dataset("nfs"), "--client", "127.0.0.1(rw)"}, "a share create");
  // Right after a restart the shares read "not served yet" for about a second
  // (the share manager waits for the pool services to settle): wait for them.
  json shares = WaitFor({"share", "list", "--pool", pool_.name}, [](const json& j) {
    return std::all_of(j["shares"].begin(), j["shares"].end(),
                       [](const json& sh) { return sh.value("state", "") == "serving"; });
  });
  for (const auto& sh : shares["shares"]) EXPECT_EQ(sh.value("state", ""), "serving") << sh.dump();
  if (shares["shares"].size() == 1u) {  // the create did not get through: do it now
    ASSERT_EQ(cli_.Run({"share", "create", "nfs", Dataset("nfs"), "--client", "127.0.0.1(rw)"}).code, kExitOk);
  }
  WaitServing(2);
  ASSERT_EQ(cli_.Run({"service", "stop", pool_.name}).code, kExitOk);
  WaitForService("exported");
  kill_during({"service", "start", pool_.name}, "an import");
  WaitServing(2);
  kill_during({"service", "stop", pool_.name}, "a service stop");
  WaitServing(2);
  EXPECT_EQ(Sessions({"ganesha.nfsd", options_.state_dir}).size(), 1u);

  daemon_.Stop();
  EXPECT_THAT(ProcessesMentioning(work_), ::testing::IsEmpty()) << "processes left by the stopped daemon";
  EXPECT_FALSE(fs::exists("/run/netns/" + head_.nfs_netns));
  auto exported = Run(ZfsTool("zpool", {"export", pool_.name}));
  EXPECT_EQ(exported.status.code, 0) << "pool not exportable after the stop: " << exported.err;
}

}  // namespace
}  // namespace pk::e2e
