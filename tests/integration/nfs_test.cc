// The NFS backend against a real nfs-ganesha (FSAL_VFS) and rpcbind in a
// private network namespace, serving zfs-fuse datasets of a lab pool, with a
// real NFSv3 client (tests/tools/pk_nfs_rw over libnfs) run in that namespace.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "share/nfs_ganesha.h"
#include "sys/daemon_launcher.h"
#include "sys/files.h"
#include "tests/integration/lab.h"

namespace pk::integration {
namespace {

using ::testing::Contains;
using ::testing::Not;

constexpr int kRefused = 3;  // pk_nfs_rw: mount or access refused

// For failure messages: processes that have `path` mounted in their mount
// namespace or hold a file under it open.
std::string WhoPins(const std::string& path) try {
  std::string out;
  for (const auto& proc : std::filesystem::directory_iterator("/proc")) {
    std::string pid = proc.path().filename();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream mounts(proc.path() / "mounts");
    std::string line;
    bool mounted = false;
    while (std::getline(mounts, line)) mounted |= line.find(" " + path + " ") != std::string::npos;
    int fds = 0;
    std::error_code ec;
    for (const auto& fd : std::filesystem::directory_iterator(proc.path() / "fd", ec)) {
      auto target = std::filesystem::read_symlink(fd.path(), ec);
      if (!ec && target.string().starts_with(path)) ++fds;
    }
    if (mounted || fds > 0) {
      std::ifstream cmd(proc.path() / "cmdline");
      std::string c;
      std::getline(cmd, c, '\0');
      out += "  pid " + pid + " (" + c + ")" + (mounted ? " has it mounted" : "") +
             (fds > 0 ? " holds " + std::to_string(fds) + " fds" : "") + "\n";
    }
  }
  return out.empty() ? "  (no process has it mounted or open)" : out;
} catch (const std::exception& e) {  // a process went away while we looked
  return std::string("  (could not scan /proc: ") + e.what() + ")";
}

class NfsTest : public LabTest {
 protected:
  void SetUp() override {
    LabTest::SetUp();
    if (HasFatalFailure()) return;
    const char* build = std::getenv("PK_BUILD_DIR");
    ASSERT_NE(build, nullptr) << "PK_BUILD_DIR is not set; run through ctest";
    tool_ = std::string(build) + "/tests/tools/pk_nfs_rw";
    ASSERT_TRUE(PathExists(tool_)) << tool_;
    netns_ = "pk-nfs-it-" + std::to_string(::getpid());
    runtime_ = lab_dir() + "/nfs-it-" + std::to_string(::getpid());
    options_.runtime_dir = runtime_;
    options_.netns = netns_;
    auto backend = share::MakeGaneshaBackend(options_, runner(), *launcher_, *fs_);
    ASSERT_TRUE(backend) << backend.error().ToString();
    backend_ = std::move(*backend);
  }

  // Servers, namespaces and files go whether the test passed or not, before
  // the lab destroys the pools (a server still exporting a dataset would
  // keep it busy).
  void TearDown() override {
    if (second_) {
      auto st = second_->Stop();
      EXPECT_TRUE(st) << st.error().ToString();
      second_.reset();
      if (PathExists("/run/netns/" + netns_ + "-b")) {
        ADD_FAILURE() << "network namespace " << netns_ << "-b left behind; deleting it";
        (void)runner().Run({.program = "/usr/sbin/ip", .args = {"netns", "delete", netns_ + "-b"}, .env = {}});
      }
      (void)runner().Run({.program = "/bin/rm", .args = {"-rf", "--", runtime_ + "-b"}, .env = {}});
    }
    if (backend_) {
      auto st = backend_->Stop();
      EXPECT_TRUE(st) << st.error().ToString();
      backend_.reset();
    }
    if (!netns_.empty() && PathExists("/run/netns/" + netns_)) {
      ADD_FAILURE() << "network namespace " << netns_ << " left behind; deleting it";
      (void)runner().Run({.program = "/usr/sbin/ip", .args = {"netns", "delete", netns_}, .env = {}});
    }
    if (!runtime_.empty()) {
      (void)runner().Run({.program = "/bin/rm", .args = {"-rf", "--", runtime_}, .env = {}});
    }
    LabTest::TearDown();
  }

  // A filesystem dataset with its own mountpoint, shared to `clients`.
  share::Share MakeShare(const zfs::PoolName& pool, const std::string& leaf, const std::vector<std::string>& clients) {
    auto ds = Ds(pool.str() + "/" + leaf);
    std::string mnt = MountDir(pool.str() + "-" + leaf);
    auto created = zfs().CreateDataset(ds, {Assign("mountpoint=" + mnt)}, zfs::CreateParents::kNo);
    EXPECT_TRUE(created) << created.error().ToString();
    auto got = zfs().GetDataset(ds.str(), {"guid", "mountpoint"});
    EXPECT_TRUE(got) << got.error().ToString();
    share::NfsDefinition def;
    for (const auto& c : clients) {
      auto parsed = share::NfsClient::Parse(c);
      EXPECT_TRUE(parsed) << parsed.error().ToString();
      if (parsed) def.clients.push_back(*parsed);
    }
    def.pseudo = "/pk/" + pool.str() + "/" + leaf;
    share::Share s;
    s.pool = pool.str();
    s.dataset = ds.str();
    s.guid = got ? std::stoull(got->Get("guid")) : 0;
    s.path = got ? got->Get("mountpoint") : mnt;
    s.definition = def;
    return s;
  }

  // Runs pk_nfs_rw in the namespace; returns its exit code (-1: did not run).
  int NfsRw(const share::Share& s, const std::string& file, int mib, std::string* output = nullptr,
            std::vector<std::string> options = {}) {
    return NfsRwIn(netns_, s, file, mib, output, std::move(options));
  }
  int NfsRwIn(const std::string& netns, const share::Share& s, const std::string& file, int mib,
              std::string* output = nullptr, std::vector<std::string> options = {}) {
    std::string url = "nfs://127.0.0.1" + s.path + "/" + file + "?mountport=" +
                      std::to_string(options_.mnt_port) + "&nfsport=" + std::to_string(options_.nfs_port);
    std::vector<std::string> args = {"--net=/run/netns/" + netns, "--", tool_, "--seed", "42"};
    args.insert(args.end(), options.begin(), options.end());
    args.push_back(url);
    args.push_back(std::to_string(mib));
    sys::Command c{.program = "/usr/bin/nsenter", .args = args, .env = sys::DefaultToolEnvironment()};
    c.timeout = std::chrono::seconds(240);
    auto r = runner().Run(c);
    if (!r) {
      ADD_FAILURE() << r.error().ToString();
      return -1;
    }
    std::fprintf(stderr, "[ nfs      ] %s -> %s %s%s", c.ToString().c_str(), r->status.ToString().c_str(),
                 r->out.c_str(), r->err.c_str());
    if (output != nullptr) *output = r->out + r->err;
    return r->status.kind == sys::ExitStatus::Kind::kExited ? r->status.code : -1;
  }

  std::vector<std::string> Served() {
    auto served = backend_->Served();
    EXPECT_TRUE(served) << served.error().ToString();
    return served ? *served : std::vector<std::string>{};
  }

  std::unique_ptr<sys::DaemonLauncher> launcher_ = sys::MakePosixDaemonLauncher();
  std::unique_ptr<sys::FileSystem> fs_ = sys::MakeRealFileSystem();
  share::GaneshaOptions options_;
  std::unique_ptr<share::Backend> backend_;
  std::unique_ptr<share::Backend> second_;  // another "head" on this machine
  std::string tool_, netns_, runtime_;
};

TEST_F(NfsTest, WriteReadVerifyRestrictAndRemove) {
  auto pool = MustCreatePool({NewDisk()});
  auto open = MakeShare(pool, "open", {"127.0.0.1(rw,no_root_squash)"});
  auto restricted = MakeShare(pool, "restricted", {"10.9.9.9(rw,no_root_squash)"});
  ASSERT_FALSE(HasFailure());

  auto results = backend_->Reconcile({open, restricted});
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results) ASSERT_TRUE(r.status) << r.id << ": " << r.status.error().ToString();
  EXPECT_THAT(Served(), ::testing::UnorderedElementsAre(open.Id(), restricted.Id()));
  auto health = backend_->Health();
  EXPECT_TRUE(health) << health.error().ToString();

  // 64 MiB written, read back and verified over NFSv3.
  EXPECT_EQ(NfsRw(open, "data.bin", 64), 0);
  // Kept data reads back later; the check fails on data of another pattern.
  std::string out;
  EXPECT_EQ(NfsRw(open, "kept.bin", 8, nullptr, {"--keep"}), 0);
  EXPECT_EQ(NfsRw(open, "kept.bin", 8, nullptr, {"--verify-only"}), 0);
  EXPECT_EQ(NfsRw(open, "kept.bin", 8, &out, {"--verify-only", "--seed", "43"}), 4) << out;
  // The export restricted to 10.9.9.9 refuses the loopback client.
  EXPECT_EQ(NfsRw(restricted, "denied.bin", 1, &out), kRefused) << out;

  // Reconcile again, unchanged: idempotent, still served.
  results = backend_->Reconcile({open, restricted});
  for (const auto& r : results) EXPECT_TRUE(r.status) << r.id << ": " << r.status.error().ToString();

  // Remove the open share (live reload, no restart): its export is gone,
  // the other one still served by the same ganesha.
  results = backend_->Reconcile({restricted});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].status) << results[0].status.error().ToString();
  EXPECT_THAT(Served(), Not(Contains(open.Id())));
  EXPECT_EQ(NfsRw(open, "gone.bin", 1, &out), kRefused) << out;
  // Neither ganesha (host mount namespace) nor rpcbind's private mount
  // namespace (created while the datasets were mounted) pins the dataset of
  // the removed share: it can be destroyed while both still run.
  auto destroyed = RetryWhileBusy("destroy open", [&] { return zfs().DestroyDataset(Ds(open.dataset), zfs::Recursive::kNo); });
  EXPECT_TRUE(destroyed) << destroyed.error().ToString() << "\n" << WhoPins(open.path);

  // Nothing desired: ganesha, rpcbind and the namespace are gone.
  results = backend_->Reconcile({});
  EXPECT_TRUE(results.empty());
  EXPECT_TRUE(Served().empty());
  EXPECT_FALSE(PathExists("/run/netns/" + netns_));
  EXPECT_FALSE(backend_->Health());
}

TEST_F(NfsTest, UnsafePathIsRefusedAndOthersServed) {
  auto pool = MustCreatePool({NewDisk()});
  auto good = MakeShare(pool, "good", {"127.0.0.1(rw,no_root_squash)"});
  ASSERT_FALSE(HasFailure());
  share::Share bad = good;
  bad.dataset = pool.str() + "/bad";
  bad.guid = good.guid + 1;
  bad.path = good.path + "\"; Export_Id = 1; #";
  std::get<share::NfsDefinition>(bad.definition).pseudo = "/pk/bad";

  auto results = backend_->Reconcile({bad, good});
  ASSERT_EQ(results.size(), 2u);
  ASSERT_FALSE(results[0].status);
  EXPECT_EQ(results[0].status.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(results[1].status) << results[1].status.error().ToString();
  EXPECT_EQ(NfsRw(good, "small.bin", 2), 0);
}

// ganesha killed behind the backend's back: Health says so, and the next
// Reconcile starts it again (rpcbind keeps the old registrations; ganesha
// replaces them) and the share is served again.
TEST_F(NfsTest, KilledGaneshaIsRestartedByReconcile) {
  auto pool = MustCreatePool({NewDisk()});
  auto open = MakeShare(pool, "open", {"127.0.0.1(rw,no_root_squash)"});
  ASSERT_FALSE(HasFailure());
  auto results = backend_->Reconcile({open});
  ASSERT_TRUE(results[0].status) << results[0].status.error().ToString();

  auto pid = fs_->ReadFile(runtime_ + "/ganesha.pid");
  ASSERT_TRUE(pid) << pid.error().ToString();
  while (!pid->empty() && pid->back() == '\n') pid->pop_back();
  auto killed = RunOk("/bin/kill", {"-KILL", *pid});
  ASSERT_TRUE(killed) << killed.error().ToString();
  // Health turns false once the process is gone (the backend reaps it).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (backend_->Health() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_FALSE(backend_->Health());

  results = backend_->Reconcile({open});
  ASSERT_TRUE(results[0].status) << results[0].status.error().ToString();
  auto health = backend_->Health();
  EXPECT_TRUE(health) << health.error().ToString();
  EXPECT_EQ(NfsRw(open, "again.bin", 4), 0);
}

// Two instances (two "heads" on one machine), each with its own network
// namespace and runtime directory, serve at once; stopping one leaves the
// other serving.
TEST_F(NfsTest, TwoInstancesInTheirOwnNamespaces) {
  share::GaneshaOptions b = options_;
  b.netns = netns_ + "-b";
  b.runtime_dir = runtime_ + "-b";
  auto made = share::MakeGaneshaBackend(b, runner(), *launcher_, *fs_);
  ASSERT_TRUE(made) << made.error().ToString();
  second_ = std::move(*made);

  auto pool = MustCreatePool({NewDisk()});
  auto one = MakeShare(pool, "one", {"127.0.0.1(rw,no_root_squash)"});
  auto two = MakeShare(pool, "two", {"127.0.0.1(rw,no_root_squash)"});
  ASSERT_FALSE(HasFailure());
  auto r1 = backend_->Reconcile({one});
  ASSERT_TRUE(r1[0].status) << r1[0].status.error().ToString();
  auto r2 = second_->Reconcile({two});
  ASSERT_TRUE(r2[0].status) << r2[0].status.error().ToString();
  EXPECT_EQ(NfsRwIn(netns_, one, "a.bin", 8), 0);
  EXPECT_EQ(NfsRwIn(b.netns, two, "b.bin", 8), 0);
  std::string out;
  EXPECT_EQ(NfsRwIn(b.netns, one, "not-here.bin", 1, &out), kRefused) << out;

  EXPECT_TRUE(backend_->Reconcile({}).empty());
  EXPECT_FALSE(PathExists("/run/netns/" + netns_));
  auto health = second_->Health();
  EXPECT_TRUE(health) << health.error().ToString();
  EXPECT_EQ(NfsRwIn(b.netns, two, "b2.bin", 4), 0);
}

}  // namespace
}  // namespace pk::integration
