// The tgt iSCSI backend against the real tgtd, a real zfs-fuse dataset with a
// file LUN, and real libiscsi clients: tests/tools/pk_iscsi_rw (built with the
// project, found under $PK_BUILD_DIR), iscsi-ls and iscsi-test-cu.
//
// tgtd runs on a private control port and a loopback portal so it never meets
// another engineer's or the distribution's tgtd:
//   PK_TGT_CONTROL_PORT  (default 37)
//   PK_ISCSI_PORTAL      (default 127.0.0.1:13260)
// Every test stops the backend in TearDown (force-deleting targets, then
// `sys delete`, SIGKILL as the fallback) before the lab fixture destroys the
// pool, also when the test failed.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <thread>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "share/definition.h"
#include "share/iscsi_tgt.h"
#include "sys/daemon_launcher.h"
#include "sys/files.h"
#include "tests/integration/lab.h"

namespace pk::integration {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr uint64_t kLunBytes = 80ull << 20;

std::string Env(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && v[0] != '\0' ? v : fallback;
}

// Exit codes of pk_iscsi_rw (see the top of tests/tools/pk_iscsi_rw.cc).
constexpr int kToolOk = 0;
constexpr int kToolLoginRefused = 3;
constexpr int kToolScsiError = 4;

struct ToolRun {
  int code = -1;
  std::string out;
  std::string err;
  // "key: value" lines of stdout; repeated keys (designator) are joined by '\n'.
  std::map<std::string, std::string> facts;
};

class IscsiTest : public LabTest {
 protected:
  void SetUp() override {
    LabTest::SetUp();
    if (HasFatalFailure()) return;
    portal_ = Env("PK_ISCSI_PORTAL", "127.0.0.1:13260");
    control_port_ = std::stoi(Env("PK_TGT_CONTROL_PORT", "37"));
    const char* build = std::getenv("PK_BUILD_DIR");
    ASSERT_TRUE(build != nullptr) << "PK_BUILD_DIR is not set; run through ctest";
    tool_ = std::string(build) + "/tests/tools/pk_iscsi_rw";
    ASSERT_EQ(::access(tool_.c_str(), X_OK), 0) << tool_ << " is not built";

    launcher_ = sys::MakePosixDaemonLauncher();
    fs_ = sys::MakeRealFileSystem();
    share::TgtOptions options;
    options.control_port = control_port_;
    options.portal = portal_;
    options.runtime_dir = MountDir(fmt::format("tgt-{}", ::getpid()));
    options.before_lun_open = [this](const std::string& backing) {
      if (before_lun_open_) before_lun_open_(backing);
    };
    auto backend = share::MakeTgtBackend(options, runner(), *launcher_, *fs_);
    ASSERT_TRUE(backend) << backend.error().ToString();
    backend_ = std::move(*backend);

    pool_ = MustCreatePool({NewDisk()});
  }

  void TearDown() override {
    if (backend_) {
      auto st = backend_->Stop();
      EXPECT_TRUE(st) << "stop tgtd: " << st.error().ToString();
      backend_.reset();  // kills tgtd if Stop could not
    }
    // The LUN files were just closed by tgtd; on a loaded machine zfs-fuse
    // can stay "busy" longer than LabTest's 5 s of retries (seen once after
    // the conformance run), so give the destroy up to 20 s here.
    if (pool_.str() != "unset") {
      for (int round = 0; round < 4; ++round) {
        auto listed = zfs().ListPools();
        if (!listed || std::none_of(listed->begin(), listed->end(),
                                    [&](const zfs::PoolSummary& p) { return p.name == pool_.str(); })) {
          break;
        }
        if (RetryWhileBusy("iscsi teardown: destroy pool", [&] { return zfs().DestroyPool(pool_, zfs::Force::kYes); })) {
          break;
        }
      }
    }
    LabTest::TearDown();
  }

  // A filesystem `pool/leaf` with a sparse LUN file, shared on `iqn` as `lun`.
  share::Share NewShare(const std::string& leaf, const std::string& iqn, int lun, uint64_t bytes = kLunBytes) {
    auto name = Ds(pool_.str() + "/" + leaf);
    auto created = zfs().CreateDataset(name, {}, zfs::CreateParents::kNo);
    EXPECT_TRUE(created) << created.error().ToString();
    auto ds = zfs().GetDataset(name.str(), {"guid", "mountpoint"});
    EXPECT_TRUE(ds) << ds.error().ToString();
    share::Share s;
    if (!ds) return s;
    share::IscsiDefinition def;
    def.iqn = *share::Iqn::Parse(iqn);
    def.lun = lun;
    def.size_bytes = bytes;
    s.pool = pool_.str();
    s.dataset = name.str();
    s.guid = std::stoull(ds->Get("guid"));
    s.path = ds->Get("mountpoint");
    s.definition = def;
    std::string file = s.path + "/" + def.file;
    int fd = ::open(file.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    EXPECT_GE(fd, 0) << "create " << file;
    if (fd >= 0) {
      EXPECT_EQ(::ftruncate(fd, static_cast<off_t>(bytes)), 0) << "size " << file;
      ::fsync(fd);
      ::close(fd);
    }
    return s;
  }

  static share::IscsiDefinition& Def(share::Share& s) { return std::get<share::IscsiDefinition>(s.definition); }

  void ReconcileOk(const std::vector<share::Share>& desired) {
    auto results = backend_->Reconcile(desired);
    ASSERT_EQ(results.size(), desired.size());
    for (const auto& r : results) ASSERT_TRUE(r.status) << r.id << ": " << r.status.error().ToString();
  }

  std::string Url(const share::Share& s) {
    const auto& def = std::get<share::IscsiDefinition>(s.definition);
    return fmt::format("iscsi://{}/{}/{}", portal_, def.iqn.str(), def.lun);
  }

  ToolRun Tool(std::vector<std::string> args) {
    sys::Command cmd{.program = tool_, .args = std::move(args), .env = sys::DefaultToolEnvironment(),
                     .timeout = std::chrono::seconds(120)};
    ToolRun run;
    auto r = runner().Run(cmd);
    EXPECT_TRUE(r) << r.error().ToString();
    if (!r) return run;
    EXPECT_FALSE(r->timed_out) << cmd.ToString() << " timed out";
    run.code = r->status.kind == sys::ExitStatus::Kind::kExited ? r->status.code : -1;
    run.out = r->out;
    run.err = r->err;
    std::istringstream lines(r->out);
    std::string line;
    while (std::getline(lines, line)) {
      size_t colon = line.find(": ");
      if (colon == std::string::npos) continue;
      auto& v = run.facts[line.substr(0, colon)];
      v += (v.empty() ? "" : "\n") + line.substr(colon + 2);
    }
    return run;
  }

  // Target names iscsi-ls discovers on the portal.
  std::string Discover() {
    auto r = RunOk("/usr/bin/iscsi-ls", {"iscsi://" + portal_});
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? r->out : "";
  }

  std::string portal_;
  int control_port_ = 37;
  std::string tool_;
  std::unique_ptr<sys::DaemonLauncher> launcher_;
  std::unique_ptr<sys::FileSystem> fs_;
  std::unique_ptr<share::Backend> backend_;
  // Runs in the backend's test hook, between a LUN file's check and tgtd's open.
  std::function<void(const std::string& backing)> before_lun_open_;
  zfs::PoolName pool_ = Pool("unset");
};

std::string Trimmed(const std::string& s) {
  size_t b = s.find_first_not_of(' ');
  return b == std::string::npos ? "" : s.substr(b);
}

std::string IqnFor(const std::string& leaf) { return "iqn.2026-11.org.poolkeeper.test:" + leaf; }

TEST_F(IscsiTest, LoginCapacityWriteReadVerify64MiBAndIdentityFromTheGuid) {
  auto s = NewShare("lun1", IqnFor("rw"), 1);
  auto t0 = std::chrono::steady_clock::now();
  ReconcileOk({s});  // starts tgtd
  auto t1 = std::chrono::steady_clock::now();
  ASSERT_EQ(Tool({Url(s)}).code, kToolOk);
  auto t2 = std::chrono::steady_clock::now();
  auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  std::printf("[ iscsi    ] tgtd start + first Reconcile: %lld ms; first login + read capacity: %lld ms\n",
              static_cast<long long>(ms(t1 - t0)), static_cast<long long>(ms(t2 - t1)));
  ASSERT_TRUE(backend_->Health());

  ToolRun run = Tool({"--identify", "--mib", "64", Url(s)});
  ASSERT_EQ(run.code, kToolOk) << run.err;
  EXPECT_EQ(run.facts["capacity"], fmt::format("{} blocks={} block_size=512", kLunBytes, kLunBytes / 512));
  EXPECT_EQ(run.facts["verify"], "ok");
  std::printf("[ iscsi    ] 64 MiB through tgtd on zfs-fuse: %s; %s\n", run.facts["write"].c_str(),
              run.facts["read"].c_str());

  auto id = share::IdentityFor(s.guid);
  EXPECT_EQ(run.facts["serial"], id.serial);
  const std::string& designators = run.facts["designator"];
  EXPECT_THAT(designators, HasSubstr("t10 ascii lu " + id.scsi_id));
  EXPECT_THAT(designators, HasSubstr("naa binary lu " + share::TgtNaaFor(id.scsi_id)));
  EXPECT_THAT(designators, HasSubstr("naa binary lu " + id.naa_lio)) << "tgt presents LIO's NAA";
  EXPECT_THAT(share::TgtNaaFor(id.scsi_id), HasSubstr(fmt::format("{:016x}", s.guid)));
  std::printf("[ iscsi    ] guid %llu -> initiator sees serial %s and designators:\n%s\n",
              static_cast<unsigned long long>(s.guid), run.facts["serial"].c_str(), designators.c_str());

  // The data is in the dataset's file, where Poolkeeper said it would be.
  ToolRun again = Tool({"--mib", "64", "--verify-only", Url(s)});
  EXPECT_EQ(again.code, kToolOk) << again.err;
  auto served = backend_->Served();
  ASSERT_TRUE(served) << served.error().ToString();
  EXPECT_EQ(*served, std::vector<std::string>{s.Id()});
}

TEST_F(IscsiTest, ChapWithAWrongSecretIsRefusedAndASecretChangeTakesEffect) {
  auto s = NewShare("chap", IqnFor("chap"), 1);
  Def(s).chap_user = "pkuser";
  Def(s).chap_secret = "rightsecret12";
  ReconcileOk({s});

  EXPECT_EQ(Tool({"--chap-user", "pkuser", "--chap-secret", "rightsecret12", "--mib", "1", Url(s)}).code, kToolOk);
  ToolRun wrong = Tool({"--chap-user", "pkuser", "--chap-secret", "wrongsecret12", Url(s)});
  EXPECT_EQ(wrong.code, kToolLoginRefused) << wrong.err;
  EXPECT_THAT(wrong.err, HasSubstr("Authentication failure"));
  EXPECT_EQ(Tool({Url(s)}).code, kToolLoginRefused);

  Def(s).chap_secret = "newsecret1234";
  ReconcileOk({s});
  EXPECT_EQ(Tool({"--chap-user", "pkuser", "--chap-secret", "rightsecret12", Url(s)}).code, kToolLoginRefused);
  EXPECT_EQ(Tool({"--chap-user", "pkuser", "--chap-secret", "newsecret1234", Url(s)}).code, kToolOk);

  Def(s).chap_user.clear();
  Def(s).chap_secret.clear();
  ReconcileOk({s});
  EXPECT_EQ(Tool({Url(s)}).code, kToolOk);
}

TEST_F(IscsiTest, AnInitiatorOutsideTheAclIsRefusedAndAclChangesTakeEffect) {
  const std::string allowed = "iqn.2026-11.org.poolkeeper.test:host-allowed";
  const std::string other = "iqn.2026-11.org.poolkeeper.test:host-other";
  auto s = NewShare("acl", IqnFor("acl"), 1);
  Def(s).initiators = {*share::IscsiInitiator::Parse(allowed)};
  ReconcileOk({s});

  EXPECT_EQ(Tool({"--initiator", allowed, Url(s)}).code, kToolOk);
  ToolRun refused = Tool({"--initiator", other, Url(s)});
  EXPECT_EQ(refused.code, kToolLoginRefused) << refused.err;

  Def(s).initiators = {*share::IscsiInitiator::Parse(other)};
  ReconcileOk({s});
  EXPECT_EQ(Tool({"--initiator", other, Url(s)}).code, kToolOk);
  EXPECT_EQ(Tool({"--initiator", allowed, Url(s)}).code, kToolLoginRefused);
}

TEST_F(IscsiTest, ReadOnlyRefusesWritesAndItsChangeTakesEffect) {
  auto s = NewShare("ro", IqnFor("ro"), 1);
  ReconcileOk({s});
  ASSERT_EQ(Tool({"--mib", "1", "--seed", "7", Url(s)}).code, kToolOk);
  Def(s).read_only = true;
  ReconcileOk({s});
  ToolRun write = Tool({"--mib", "1", "--seed", "8", Url(s)});
  EXPECT_EQ(write.code, kToolScsiError) << write.out;
  EXPECT_THAT(write.err, HasSubstr("WRITE_PROTECTED"));
  EXPECT_EQ(Tool({"--mib", "1", "--seed", "7", "--verify-only", Url(s)}).code, kToolOk);
}

// iscsi-ls fails (exit 10) when a portal offers no target at all, so a share
// on another target stays until the last step, which asks tgtadm instead.
TEST_F(IscsiTest, RemovedSharesDisappearAndSharedTargetsKeepTheirOtherLuns) {
  const std::string iqn = IqnFor("shared");
  auto a = NewShare("a", iqn, 1, 16ull << 20);
  auto b = NewShare("b", iqn, 2, 16ull << 20);
  auto c = NewShare("c", IqnFor("other"), 1, 16ull << 20);
  auto k = NewShare("k", IqnFor("keep"), 1, 16ull << 20);
  ReconcileOk({a, b, c, k});
  std::string found = Discover();
  EXPECT_THAT(found, HasSubstr(iqn));
  EXPECT_THAT(found, HasSubstr(IqnFor("other")));
  EXPECT_EQ(Tool({Url(a)}).code, kToolOk);
  EXPECT_EQ(Tool({Url(b)}).code, kToolOk);

  ReconcileOk({a, c, k});
  EXPECT_EQ(Tool({Url(a)}).code, kToolOk);
  EXPECT_EQ(Tool({Url(b)}).code, kToolScsiError);  // LUN 2 is gone, the target stays

  ReconcileOk({a, k});
  EXPECT_THAT(Discover(), Not(HasSubstr(IqnFor("other"))));
  EXPECT_EQ(Tool({Url(c)}).code, kToolLoginRefused);

  ReconcileOk({k});
  found = Discover();
  EXPECT_THAT(found, Not(HasSubstr(iqn)));
  EXPECT_THAT(found, HasSubstr(IqnFor("keep")));
  EXPECT_EQ(Tool({Url(a)}).code, kToolLoginRefused);

  ReconcileOk({});
  EXPECT_EQ(Tool({Url(k)}).code, kToolLoginRefused);
  auto shown = RunOk("/usr/sbin/tgtadm", {"-C", std::to_string(control_port_), "--lld", "iscsi", "--mode", "target",
                                          "--op", "show"});
  ASSERT_TRUE(shown) << shown.error().ToString();
  EXPECT_EQ(shown->out, "");
  auto served = backend_->Served();
  ASSERT_TRUE(served);
  EXPECT_TRUE(served->empty());
}

TEST_F(IscsiTest, StopEndsTgtdAndTheNextReconcileStartsItAgain) {
  auto s = NewShare("restart", IqnFor("restart"), 1);
  ReconcileOk({s});
  ASSERT_EQ(Tool({"--mib", "2", "--seed", "3", Url(s)}).code, kToolOk);
  ASSERT_TRUE(backend_->Stop());
  EXPECT_FALSE(backend_->Health());
  EXPECT_EQ(Tool({Url(s)}).code, 2);  // nothing listens on the portal
  ReconcileOk({s});
  EXPECT_TRUE(backend_->Health());
  EXPECT_EQ(Tool({"--mib", "2", "--seed", "3", "--verify-only", Url(s)}).code, kToolOk);
}

// Every LUN (but the controller) tgtd serves, as "IQN lun N -> PATH".
std::vector<std::string> ServedLuns(sys::ProcessRunner& runner, int control_port) {
  sys::Command cmd{.program = "/usr/sbin/tgtadm",
                   .args = {"-C", std::to_string(control_port), "--lld", "iscsi", "--mode", "target", "--op", "show"},
                   .env = sys::DefaultToolEnvironment(),
                   .timeout = std::chrono::seconds(10)};
  auto r = runner.Run(cmd);
  if (!r || !r->status.Success()) return {"(tgtadm failed)"};
  auto targets = share::ParseTgtTargets(r->out);
  if (!targets) return {"(unparsable: " + targets.error().message() + ")"};
  std::vector<std::string> out;
  for (const auto& t : *targets) {
    for (const auto& l : t.luns) {
      if (l.lun != 0) out.push_back(fmt::format("{} lun {} -> {}", t.iqn, l.lun, l.backing_path));
    }
  }
  return out;
}

// issue 17 item 4: a client of the dataset swaps the LUN file for a symlink
// (to another tenant's LUN file, or to a block device) while tgtd is down;
// the next serve fails that share with the reason, and tgtd never serves the
// link's target: no LUN in `tgtadm --op show`, no login reaches its data.
TEST_F(IscsiTest, ALunFileSwappedForASymlinkOrADeviceIsNeverServed) {
  auto victim = NewShare("victim", IqnFor("victim"), 1, 16ull << 20);
  auto other = NewShare("other", IqnFor("other"), 1, 24ull << 20);  // another tenant's LU, its own size
  ReconcileOk({victim, other});
  ASSERT_EQ(Tool({"--mib", "1", "--seed", "5", Url(victim)}).code, kToolOk);
  ASSERT_TRUE(backend_->Stop());
  const std::string theirs = other.path + "/lun.img";
  const std::vector<std::string> only_theirs = {IqnFor("other") + " lun 1 -> " + theirs};

  const std::string file = victim.path + "/lun.img";
  ASSERT_EQ(::unlink(file.c_str()), 0);
  ASSERT_EQ(::symlink(theirs.c_str(), file.c_str()), 0);
  auto results = backend_->Reconcile({victim, other});  // tgtd starts again and serves `other`
  ASSERT_EQ(results.size(), 2u);
  EXPECT_TRUE(results[1].status);
  ASSERT_FALSE(results[0].status) << "a LUN file that is a symlink was served";
  EXPECT_THAT(results[0].status.error().message(), HasSubstr("is a symbolic link"));
  EXPECT_THAT(results[0].status.error().message(), HasSubstr(file));
  EXPECT_EQ(ServedLuns(runner(), control_port_), only_theirs);
  ToolRun link_login = Tool({Url(victim)});
  EXPECT_NE(link_login.code, kToolOk) << "an initiator reached a LU through the swapped link: " << link_login.out;
  EXPECT_THAT(link_login.out, Not(HasSubstr(fmt::format("{} blocks=", 24ull << 20))));

  // A device node in its place (an NFS client with no_root_squash can make
  // one): refused without opening it.
  ASSERT_EQ(::unlink(file.c_str()), 0);
  ASSERT_EQ(::mknod(file.c_str(), S_IFBLK | 0600, makedev(7, 0)), 0);
  results = backend_->Reconcile({victim, other});
  ASSERT_FALSE(results[0].status) << "a block device node was served";
  EXPECT_THAT(results[0].status.error().message(), HasSubstr("is a block device, not a regular file"));
  EXPECT_EQ(ServedLuns(runner(), control_port_), only_theirs);

  // A regular file of the dataset in its place is served again.
  ASSERT_EQ(::unlink(file.c_str()), 0);
  ASSERT_TRUE(fs_->CreateSparseFile(file, 16ull << 20, 0600));
  ReconcileOk({victim, other});
  EXPECT_THAT(ServedLuns(runner(), control_port_), ::testing::Contains(IqnFor("victim") + " lun 1 -> " + file));
}

// issue 17 item 4 (the check-to-open window): the LUN file passes its check,
// then a client of the dataset swaps it for a symlink to a file outside the
// dataset before tgtd opens it by path (the backend's test hook runs in
// exactly that window). tgtd, as root, opens the link's target; the backend
// finds that the descriptor tgtd holds is not the checked file, deletes the
// LU again and fails the share: `tgtadm --op show` lists no LUN, and no
// login reaches the outside file.
TEST_F(IscsiTest, ALunFileSwappedBetweenCheckAndOpenIsNotServed) {
  auto victim = NewShare("victim", IqnFor("victim"), 1, 16ull << 20);
  const std::string outside_dir = MountDir(fmt::format("outside-{}", ::getpid()));
  ASSERT_TRUE(fs_->MakeDirs(outside_dir, 0700));
  const std::string outside = outside_dir + "/secret.img";
  ASSERT_TRUE(fs_->CreateSparseFile(outside, 24ull << 20, 0600));
  const std::string file = victim.path + "/lun.img";
  int swaps = 0;
  before_lun_open_ = [&](const std::string& backing) {
    if (backing != file) return;
    ++swaps;
    ASSERT_EQ(::unlink(file.c_str()), 0);
    ASSERT_EQ(::symlink(outside.c_str(), file.c_str()), 0);
  };
  auto results = backend_->Reconcile({victim});
  before_lun_open_ = nullptr;
  ASSERT_EQ(swaps, 1) << "the hook did not run between check and open";
  ASSERT_EQ(results.size(), 1u);
  ASSERT_FALSE(results[0].status) << "tgtd serves a LUN it opened through a path swapped after the check";
  EXPECT_THAT(results[0].status.error().message(), HasSubstr("was replaced between its check and tgtd's open"));
  EXPECT_THAT(results[0].status.error().message(), HasSubstr(file));
  EXPECT_THAT(ServedLuns(runner(), control_port_), ::testing::IsEmpty());
  ToolRun login = Tool({Url(victim)});
  EXPECT_NE(login.code, kToolOk) << "an initiator reached the file outside the dataset: " << login.out;
  EXPECT_THAT(login.out, Not(HasSubstr(fmt::format("{} blocks=", 24ull << 20))));

  // The link stays: the next serve refuses it at the check already.
  results = backend_->Reconcile({victim});
  ASSERT_FALSE(results[0].status);
  EXPECT_THAT(results[0].status.error().message(), HasSubstr("is a symbolic link"));
  // A regular file of the dataset in its place is served again (the check
  // after the open passes for the file that was checked).
  ASSERT_EQ(::unlink(file.c_str()), 0);
  ASSERT_TRUE(fs_->CreateSparseFile(file, 16ull << 20, 0600));
  ReconcileOk({victim});
  EXPECT_EQ(ServedLuns(runner(), control_port_), std::vector<std::string>{IqnFor("victim") + " lun 1 -> " + file});
}

// Sessions logged in (I_T nexuses) to the target `iqn`, as tgtadm reports them.
int SessionsOn(sys::ProcessRunner& runner, int control_port, const std::string& iqn) {
  sys::Command cmd{.program = "/usr/sbin/tgtadm",
                   .args = {"-C", std::to_string(control_port), "--lld", "iscsi", "--mode", "target", "--op", "show"},
                   .env = sys::DefaultToolEnvironment(),
                   .timeout = std::chrono::seconds(10)};
  auto r = runner.Run(cmd);
  if (!r || !r->status.Success()) return -1;
  auto targets = share::ParseTgtTargets(r->out);
  if (!targets) return -1;
  for (const auto& t : *targets) {
    if (t.iqn == iqn) return t.sessions;
  }
  return 0;
}

TEST_F(IscsiTest, TargetsWithLoggedInSessionsAreRemovedAndStopped) {
  auto s = NewShare("busy", IqnFor("busy"), 1, 16ull << 20);
  const std::string iqn = Def(s).iqn.str();
  // iscsi-perf keeps a session busy with reads until it is killed.
  auto start_reader = [&]() -> std::unique_ptr<sys::ServerProcess> {
    sys::Command perf{.program = "/usr/bin/iscsi-perf",
                      .args = {"-t", "120", "-b", "8", "-m", "1", "-x", "0", Url(s)},
                      .env = sys::DefaultToolEnvironment()};
    auto d = launcher_->Launch(perf, lab_dir() + "/mnt/" + fmt::format("iscsi-perf-{}.log", ::getpid()));
    EXPECT_TRUE(d) << d.error().ToString();
    if (!d) return nullptr;
    for (int i = 0; i < 500 && SessionsOn(runner(), control_port_, iqn) < 1; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_GE(SessionsOn(runner(), control_port_, iqn), 1) << "iscsi-perf did not log in";
    return std::move(*d);
  };

  ReconcileOk({s});
  auto reader = start_reader();
  ASSERT_TRUE(reader);
  ReconcileOk({});
  EXPECT_EQ(SessionsOn(runner(), control_port_, iqn), 0);
  auto served = backend_->Served();
  ASSERT_TRUE(served);
  EXPECT_TRUE(served->empty());
  reader->Stop(SIGKILL, std::chrono::milliseconds(0));

  ReconcileOk({s});
  reader = start_reader();
  ASSERT_TRUE(reader);
  ASSERT_TRUE(backend_->Stop());
  EXPECT_FALSE(backend_->Health());
  EXPECT_EQ(Tool({Url(s)}).code, 2);  // nothing listens any more
  reader->Stop(SIGKILL, std::chrono::milliseconds(0));
  std::remove((lab_dir() + "/mnt/" + fmt::format("iscsi-perf-{}.log", ::getpid())).c_str());
}

// The tgtd this test process started (a child of ours) on our control port.
pid_t OurTgtd(int control_port) {
  const std::string want = fmt::format("-C{}{}", '\0', control_port);
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    std::getline(stat, line);
    size_t close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state = 0;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid != ::getpid() || state == 'Z') continue;
    std::ifstream cmdline(entry.path() / "cmdline");
    std::string args((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
    if (args.starts_with("/usr/sbin/tgtd") && args.find(want) != std::string::npos) return std::stoi(name);
  }
  return 0;
}

TEST_F(IscsiTest, ATgtdThatDiedIsRestartedAtReconcileWithEverythingReapplied) {
  auto s = NewShare("crash", IqnFor("crash"), 1);
  Def(s).chap_user = "crashuser";
  Def(s).chap_secret = "crashsecret12";
  ReconcileOk({s});
  ASSERT_EQ(Tool({"--chap-user", "crashuser", "--chap-secret", "crashsecret12", "--mib", "4", "--seed", "5", Url(s)}).code,
            kToolOk);
  pid_t pid = OurTgtd(control_port_);
  ASSERT_GT(pid, 0) << "no tgtd child of this test on control port " << control_port_;
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  // Health notices once the process is gone (it is our child: reaped by the backend).
  for (int i = 0; i < 200 && backend_->Health(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_FALSE(backend_->Health());

  ReconcileOk({s});
  EXPECT_TRUE(backend_->Health());
  EXPECT_NE(OurTgtd(control_port_), pid);
  ToolRun run = Tool({"--chap-user", "crashuser", "--chap-secret", "crashsecret12", "--mib", "4", "--seed", "5",
                      "--verify-only", "--identify", Url(s)});
  EXPECT_EQ(run.code, kToolOk) << run.err;
  EXPECT_EQ(run.facts["serial"], share::IdentityFor(s.guid).serial);
  EXPECT_EQ(Tool({"--chap-user", "crashuser", "--chap-secret", "wrongsecret12", Url(s)}).code, kToolLoginRefused);
}

// libiscsi's conformance suite (iscsi-test-cu 1.19, run with --dataloss: the
// LUN is this test's scratch file) against a Poolkeeper LUN. Chosen: every
// SBC/SPC family for what a VM datastore uses that tgt 1.0.85 implements and
// passes on an rdwr file LUN (each family measured alone here, all tests run,
// none skipped unless noted): standard and VPD INQUIRY, capacity, TUR, reads
// and writes of every CDB size, VERIFY, WRITE AND VERIFY, WRITE SAME (4 of
// its 10 tests skip: no UNMAP bit without thin provisioning), MODE SENSE,
// PREFETCH, REPORT SUPPORTED OPCODES, START STOP UNIT (1 skip: not removable),
// the mandatory-SBC check, ORWRITE, and persistent reservation key read and
// register.
// Left out:
//   - failing against tgt itself, whatever Poolkeeper does: Reserve6 (tgt
//     lets a second initiator MODE SENSE through a RESERVE), GetLBAStatus
//     (BeyondEol not rejected), ProutReserve (4 of 13 access-type checks);
//   - skipped entirely on this LUN, so they would prove nothing:
//     CompareAndWrite, PreventAllow (media not removable), Unmap and
//     ReadOnly/NoMedia-like checks (no thin provisioning, not removable);
//   - features tgt lacks: ExtendedCopy, ReceiveCopyResults, WriteAtomic16,
//     Sanitize, ReadDefectData, MultipathIO (needs two portals).
constexpr const char* kFamilies[] = {
    "Inquiry",       "ReadCapacity10", "ReadCapacity16", "TestUnitReady", "Read6",         "Read10",
    "Read12",        "Read16",         "Write10",        "Write12",       "Write16",       "Verify10",
    "Verify12",      "Verify16",       "WriteVerify10",  "WriteVerify16", "WriteSame10",   "WriteSame16",
    "ModeSense6",    "Prefetch10",     "Prefetch16",     "ReportSupportedOpcodes",         "StartStopUnit",
    "Mandatory",     "OrWrite",        "PrinReadKeys",   "ProutRegister",
};

TEST_F(IscsiTest, LibiscsiConformanceFamiliesPass) {
  auto s = NewShare("cu", IqnFor("cu"), 1, 16ull << 20);
  ReconcileOk({s});
  for (const char* family : kFamilies) {
    sys::Command cmd{.program = "/usr/bin/iscsi-test-cu",
                     .args = {"--dataloss", fmt::format("--test=SCSI.{}", family), Url(s)},
                     .env = sys::DefaultToolEnvironment(),
                     .timeout = std::chrono::seconds(300)};
    auto r = runner().Run(cmd);
    ASSERT_TRUE(r) << r.error().ToString();
    EXPECT_TRUE(r->status.Success() && !r->timed_out)
        << "iscsi-test-cu SCSI." << family << " " << r->status.ToString() << "\n" << r->out << r->err;
    // "tests  N  N  N  0  0" of CUnit's run summary, and the skips.
    size_t at = r->out.find("\n               tests");
    std::string tests = at == std::string::npos ? "(no summary)" : Trimmed(r->out.substr(at + 1, r->out.find('\n', at + 1) - at - 1));
    int skipped = 0;
    for (size_t p = r->out.find("[SKIPPED]"); p != std::string::npos; p = r->out.find("[SKIPPED]", p + 1)) ++skipped;
    EXPECT_THAT(tests, Not(HasSubstr("(no summary)"))) << r->out;
    std::printf("[ iscsi    ] SCSI.%-22s %s (total ran passed failed inactive), %d skipped\n", family, tests.c_str(),
                skipped);
  }
}

}  // namespace
}  // namespace pk::integration
