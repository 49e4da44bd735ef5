// End-to-end tests of shares bound to pools (issue 4), with the real servers
// (tgtd, nfs-ganesha + rpcbind in a private network namespace, smbd on a
// loopback port) run by poolkeeperd, and real protocol clients:
//
//  - PortableBetweenHeads: two daemons ("heads") with their own state
//    directories, server ports and namespaces. Head 1 serves the pool through
//    its pool service; shares are defined on it through the CLI (the iSCSI
//    LUN with CHAP); clients write through head 1 (libiscsi 64 MiB, libnfs
//    64 MiB, smbclient put). Head 1
//    stops the service (shares removed, then export): nothing of the pool
//    stays configured there. Head 2 imports the pool through its own service
//    and serves the same identities (IQN, LUN, LU serial and NAA, NFS path,
//    SMB share name); the data written through head 1 reads back through head 2.
//  - AShareThatCannotBeServedDegradesItsPool: a share whose server refuses it
//    leaves the pool imported and its other shares served; the service says
//    degraded with the share and the cause.
//
// No assertion rests on a sleep: waiting is bounded polling of the daemon.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sys/process_runner.h"
#include "tests/e2e/harness.h"
#include "tests/e2e/lab.h"
#include "tests/e2e/share_lab.h"

namespace pk::e2e {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kPassword = "Share-pass-1";
constexpr const char* kChapSecret = "Chap-secret-01";

struct Head {
  ShareHead ports;
  PoolkeeperdOptions options;
  Poolkeeperd daemon;
  CliClient cli;
};

class ShareTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { user_added_ = AddSuiteUser(*suite_runner_, "pkshr", &user_); }
  static void TearDownTestSuite() { RemoveSuiteUser(*suite_runner_, user_); }

  void SetUp() override {
    if (!user_added_) GTEST_FAIL() << "suite set-up failed: " << user_added_.error().message();
    std::string name = "shr" + std::to_string(::getpid()) + "t" + std::to_string(++counter_);
    PK_ASSERT_OK(lab_.Open(name));
    auto pool = lab_.CreatePool(name, 256ll << 20);
    PK_ASSERT_OK(pool);
    pool_ = *pool;
    std::ofstream(work_ + "/cluster-authkey") << "test cluster key " << name << " " << ::getpid() << "\n";
  }

  void TearDown() override {
    for (auto& h : heads_) h->daemon.Stop();
    // The lab re-imports the pool if a test exported it, destroys it, and
    // keeps the work directory (printing the first head's log) if a test failed.
    if (!heads_.empty()) lab_.options().log_path = heads_.front()->options.log_path;
    lab_.Close();
    for (auto& h : heads_) {
      EXPECT_FALSE(fs::exists("/run/netns/" + h->ports.nfs_netns)) << "namespace " << h->ports.nfs_netns << " left behind";
    }
    heads_.clear();
  }

  // Starts head `index` with its own state, socket, config and servers.
  Head& StartHead(int index) {
    auto h = std::make_unique<Head>();
    h->ports = ShareHeadFor(index);
    std::string dir = work_ + "/head" + std::to_string(index);
    h->options = SuiteDaemonOptions(build_, dir);
    h->options.config = dir + "/poolkeeperd.conf";
    PK_EXPECT_OK(MakeDirectories({dir}));
    // The heads are one cluster for pool adoption: they share a cluster authkey.
    PK_EXPECT_OK(WriteShareConfig(h->options, h->ports, work_ + "/cluster-authkey"));
    PK_EXPECT_OK(StartSuitePoolkeeperd(h->daemon, h->options));
    h->cli = CliClient(runner_, build_ + "/src/cli/poolkeeper", h->options.socket);
    heads_.push_back(std::move(h));
    return *heads_.back();
  }

  // Polls `what` (a CLI --json command) until `done` holds; the last answer.
  static json WaitFor(const CliClient& cli, std::vector<std::string> what, const std::function<bool(const json&)>& done,
                      milliseconds limit = seconds(60)) {
    return WaitForJson(cli, what, done, limit);
  }
  json WaitForService(const Head& h, const std::string& state) {
    return WaitFor(h.cli, {"service", "status", pool_.name}, [&](const json& j) { return j.value("state", "") == state; });
  }

  sys::ProcessResult Run(sys::Command c) {
    if (c.env.empty()) c.env = ToolEnv();
    c.timeout = seconds(300);
    auto r = runner_->Run(c);
    EXPECT_TRUE(r) << c.ToString() << ": " << r.error().message();
    if (!r) return {};
    std::fprintf(stderr, "[ client   ] %s -> %s\n%s%s", c.ToString().c_str(), r->status.ToString().c_str(), r->out.c_str(),
                 r->err.c_str());
    return *r;
  }

  // pk_nfs_rw inside the head's namespace.
  sys::ProcessResult NfsRw(const Head& h, const std::string& export_path, std::vector<std::string> flags, int mib) {
    std::vector<std::string> args = {"--net=/run/netns/" + h.ports.nfs_netns, "--", build_ + "/tests/tools/pk_nfs_rw"};
    args.insert(args.end(), flags.begin(), flags.end());
    args.push_back("nfs://127.0.0.1" + export_path + "/data.bin?mountport=20048&nfsport=2049&version=3");
    args.push_back(std::to_string(mib));
    return Run({.program = "/usr/bin/nsenter", .args = args});
  }

  // pk_iscsi_rw against the head's portal, with the share's CHAP account.
  sys::ProcessResult IscsiRw(const Head& h, const std::string& iqn, std::vector<std::string> flags) {
    std::vector<std::string> args = {"--chap-user", "vmhost", "--chap-secret", kChapSecret, "--identify"};
    args.insert(args.end(), flags.begin(), flags.end());
    args.push_back("iscsi://" + h.ports.IscsiPortal() + "/" + iqn + "/1");
    return Run({.program = build_ + "/tests/tools/pk_iscsi_rw", .args = args});
  }
  // "serial: X" and "designator: naa binary lu 0x..." from pk_iscsi_rw --identify.
  static std::pair<std::string, std::string> SeenIdentity(const std::string& out) {
    std::string serial, naa;
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
      if (line.starts_with("serial: ")) serial = line.substr(8);
      if (line.starts_with("designator: naa ") && line.find(" lu 0x6") != std::string::npos) naa = line.substr(line.rfind(' ') + 1);
    }
    return {serial, naa};
  }

  sys::ProcessResult Smb(const Head& h, const std::string& share, const std::string& password, const std::string& commands) {
    return Run({.program = "/usr/bin/smbclient",
                .args = {"//127.0.0.1/" + share, "-p", std::to_string(h.ports.smb_port), "-U", user_ + "%" + password,
                         "-m", "SMB3", "--configfile=/dev/null", "-c", commands}});
  }

  // pk_iscsi_rw with the CHAP secret in its environment, never on its
  // command line (the test samples every command line for the secret).
  sys::ProcessResult IscsiLogin(const Head& h, const std::string& iqn, const std::string& user, const std::string& secret,
                                std::vector<std::string> flags = {}) {
    std::vector<std::string> args = {"--chap-user", user, "--chap-secret-env", "PK_TEST_CHAP"};
    args.insert(args.end(), flags.begin(), flags.end());
    args.push_back("iscsi://" + h.ports.IscsiPortal() + "/" + iqn + "/1");
    std::vector<std::string> env = ToolEnv();
    env.push_back("PK_TEST_CHAP=" + secret);
    return Run({.program = build_ + "/tests/tools/pk_iscsi_rw", .args = args, .env = env});
  }
  // The output of a tool run as root, for searching.
  std::string Output(sys::Command c) {
    auto r = runner_->Run(c);
    EXPECT_TRUE(r && r->status.Success()) << c.ToString() << ": " << (r ? r->err : r.error().message());
    return r ? r->out + r->err : "";
  }
  // The same, as the unprivileged test user (setpriv drops to its uid and gid).
  sys::ProcessResult AsUser(const std::string& program, std::vector<std::string> args) {
    std::vector<std::string> a = {"--reuid=" + user_, "--regid=" + user_, "--init-groups", "--", program};
    a.insert(a.end(), args.begin(), args.end());
    auto r = runner_->Run({.program = "/usr/bin/setpriv", .args = a, .env = ToolEnv(), .timeout = seconds(60)});
    EXPECT_TRUE(r) << r.error().message();
    return r ? *r : sys::ProcessResult{};
  }

  std::string Dataset(const std::string& leaf) const { return pool_.name + "/" + leaf; }
  void CreateDataset(const std::string& leaf) {
    auto r = runner_->Run(ZfsTool("zfs", {"create", Dataset(leaf)}));
    ASSERT_TRUE(r && r->status.Success()) << "zfs create " << Dataset(leaf) << ": "
                                          << (r ? r->status.ToString() + " " + r->err : r.error().message());
  }

  static inline std::unique_ptr<sys::ProcessRunner> suite_runner_ = sys::MakePosixProcessRunner();
  static inline std::string user_;
  static inline Status user_added_ = OkStatus();
  static inline int counter_ = 0;
  Lab lab_;
  sys::ProcessRunner* runner_ = &lab_.runner();
  const std::string& build_ = lab_.build_dir();
  const std::string& work_ = lab_.work();
  LabPool pool_;
  std::vector<std::unique_ptr<Head>> heads_;
};

TEST_F(ShareTest, PortableBetweenHeads) {
  CreateDataset("vm");
  CreateDataset("exports");
  CreateDataset("office");
  ASSERT_FALSE(HasFailure());
  // The SMB user owns the share's directory.
  fs::permissions(pool_.mnt + "/office", fs::perms::all);

  Head& h1 = StartHead(1);
  ASSERT_FALSE(HasFailure());
  ASSERT_EQ(h1.cli.Run({"service", "enable", pool_.name, "-d", pool_.disk_dir}).code, kExitOk);
  WaitForService(h1, "online");
  // Made with zpool create (not through a head): adopted once, by head 1;
  // head 2, of the same cluster, serves it without adopting it again.
  PK_ASSERT_OK(AdoptPool(h1.cli, pool_.name));
  ASSERT_EQ(h1.cli.RunWithStdin({"share", "create", "iscsi", Dataset("vm"), "--size", "96M", "--chap-user", "vmhost",
                                 "--chap-secret-stdin"},
                                std::string(kChapSecret) + "\n")
                .code,
            kExitOk);
  ASSERT_EQ(h1.cli.Run({"share", "create", "nfs", Dataset("exports"), "--client", "127.0.0.1(rw,no_root_squash)"}).code, kExitOk);
  ASSERT_EQ(h1.cli.Run({"share", "create", "smb", Dataset("office"), "--name", "Office", "--valid-user", user_}).code, kExitOk);
  ASSERT_EQ(h1.cli.RunWithStdin({"share", "smb-user", "set", user_}, std::string(kPassword) + "\n").code, kExitOk);
  json list1 = WaitFor(h1.cli, {"share", "list", "--pool", pool_.name}, [](const json& j) {
    for (const auto& s : j["shares"]) {
      if (s.value("state", "") != "serving") return false;
    }
    return j["shares"].size() == 3;
  });
  json vm = h1.cli.Json({"share", "show", "iscsi", Dataset("vm")});
  const std::string iqn = vm["definition"].value("iqn", "");
  EXPECT_EQ(vm["definition"].value("chap_secret", ""), "***") << "the CHAP secret was printed back";

  // Writes through head 1; the initiator sees the promised identity.
  sys::ProcessResult written = IscsiRw(h1, iqn, {"--mib", "64", "--seed", "9"});
  EXPECT_EQ(written.status.code, 0);
  auto [serial1, naa1] = SeenIdentity(written.out);
  EXPECT_EQ(serial1, vm["identity"].value("serial", "?"));
  EXPECT_EQ(naa1, vm["identity"].value("naa", "?"));
  EXPECT_EQ(NfsRw(h1, pool_.mnt + "/exports", {"--seed", "7", "--keep"}, 64).status.code, 0);
  std::string payload = work_ + "/payload.bin";
  ASSERT_EQ(Run({.program = "/usr/bin/dd", .args = {"if=/dev/urandom", "of=" + payload, "bs=1M", "count=20", "status=none"}})
                .status.code,
            0);
  EXPECT_EQ(Smb(h1, "Office", kPassword, "put " + payload + " payload.bin").status.code, 0);
  EXPECT_NE(Smb(h1, "Office", "wrong-password", "ls").status.code, 0) << "a wrong password was accepted";

  // Head 1 stops serving the pool: shares first, then the export.
  ASSERT_EQ(h1.cli.Run({"service", "stop", pool_.name}).code, kExitOk);
  WaitForService(h1, "exported");
  EXPECT_FALSE(PoolImported(*runner_, pool_.name));
  EXPECT_FALSE(fs::exists("/run/netns/" + h1.ports.nfs_netns)) << "head 1 still runs its NFS server";
  EXPECT_NE(Smb(h1, "Office", kPassword, "ls").status.code, 0) << "head 1 still serves the SMB share";
  EXPECT_NE(IscsiRw(h1, iqn, {}).status.code, 0) << "head 1 still serves the iSCSI target";
  h1.daemon.Stop();

  // Head 2 imports it through its own service and serves the same shares.
  Head& h2 = StartHead(2);
  ASSERT_FALSE(HasFailure());
  ASSERT_EQ(h2.cli.Run({"service", "enable", pool_.name, "-d", pool_.disk_dir}).code, kExitOk);
  WaitForService(h2, "online");
  ASSERT_EQ(h2.cli.RunWithStdin({"share", "smb-user", "set", user_}, std::string(kPassword) + "\n").code, kExitOk);
  json list2 = WaitFor(h2.cli, {"share", "list", "--pool", pool_.name}, [](const json& j) {
    for (const auto& s : j["shares"]) {
      if (s.value("state", "") != "serving") return false;
    }
    return j["shares"].size() == 3;
  });
  ASSERT_EQ(list2["shares"].size(), list1["shares"].size());
  for (size_t i = 0; i < list1["shares"].size(); ++i) {
    EXPECT_EQ(list2["shares"][i]["definition"], list1["shares"][i]["definition"]);
    EXPECT_EQ(list2["shares"][i].value("identity", json()), list1["shares"][i].value("identity", json()));
  }
  sys::ProcessResult read = IscsiRw(h2, iqn, {"--mib", "64", "--seed", "9", "--verify-only"});
  EXPECT_EQ(read.status.code, 0) << "the LUN's data did not read back through head 2";
  EXPECT_EQ(SeenIdentity(read.out), std::make_pair(serial1, naa1)) << "the LU identity changed with the head";
  EXPECT_EQ(IscsiRw(h2, iqn, {"--chap-secret", "Wrong-secret-01"}).status.code, 3) << "a wrong CHAP secret was accepted";
  EXPECT_EQ(NfsRw(h2, pool_.mnt + "/exports", {"--seed", "7", "--verify-only"}, 64).status.code, 0);
  std::string back = work_ + "/payload.back";
  EXPECT_EQ(Smb(h2, "Office", kPassword, "get payload.bin " + back).status.code, 0);
  EXPECT_EQ(Run({.program = "/usr/bin/cmp", .args = {payload, back}}).status.code, 0) << "SMB data differs";

  ASSERT_EQ(h2.cli.Run({"service", "stop", pool_.name}).code, kExitOk);
  WaitForService(h2, "exported");
}

TEST_F(ShareTest, AShareThatCannotBeServedDegradesItsPool) {
  CreateDataset("good");
  // smb.conf substitutes '%': a share at such a path cannot be served by smbd.
  auto r = runner_->Run(ZfsTool("zfs", {"create", "-o", "mountpoint=" + pool_.mnt + "/100%", Dataset("odd")}));
  ASSERT_TRUE(r && r->status.Success());
  Head& h = StartHead(3);
  ASSERT_FALSE(HasFailure());
  ASSERT_EQ(h.cli.Run({"service", "enable", pool_.name, "-d", pool_.disk_dir}).code, kExitOk);
  WaitForService(h, "online");
  PK_ASSERT_OK(AdoptPool(h.cli, pool_.name));
  ASSERT_EQ(h.cli.Run({"share", "create", "nfs", Dataset("good"), "--client", "127.0.0.1(rw)"}).code, kExitOk);
  CliResult created = h.cli.Run({"share", "create", "smb", Dataset("odd"), "--name", "Odd"});
  EXPECT_EQ(created.code, kExitOk) << created;  // the definition is valid; serving it is what fails
  json s = WaitForService(h, "degraded");
  EXPECT_THAT(s.value("reason", ""), HasSubstr("smb:" + Dataset("odd"))) << s.dump(2);
  EXPECT_TRUE(PoolImported(*runner_, pool_.name));
  json good = h.cli.Json({"share", "show", "nfs", Dataset("good")});
  EXPECT_EQ(good.value("state", ""), "serving") << good.dump(2);
  json odd = h.cli.Json({"share", "show", "smb", Dataset("odd")});
  EXPECT_EQ(odd.value("state", ""), "failed") << odd.dump(2);
  // Deleting the failing share brings the pool back online.
  ASSERT_EQ(h.cli.Run({"share", "delete", "smb", Dataset("odd")}).code, kExitOk);
  WaitForService(h, "online");
  ASSERT_EQ(h.cli.Run({"service", "stop", pool_.name}).code, kExitOk);
  WaitForService(h, "exported");
}

// issue 17 item 5: a CHAP secret is readable by root only: not in any property
// (`zfs get all`), not in `zpool history`, on no command line while shares are
// served and reconfigured (every /proc/*/cmdline sampled), in no API answer
// and not in the daemon's log; an unprivileged user cannot read the pool's
// secret store. It travels with the pool: after an export and an import the
// initiator logs in with the same CHAP, and a wrong or old secret is refused.
TEST_F(ShareTest, ChapSecretsAreRootOnlyAndFollowThePool) {
  const std::string first = "Hidden-chap-41";
  const std::string second = "Hidden-chap-42";
  CreateDataset("vault");
  ASSERT_FALSE(HasFailure());
  Head& h = StartHead(0);
  ASSERT_FALSE(HasFailure());

  std::atomic<bool> sampling{true};
  std::mutex mu;
  std::vector<std::string> leaks;
  int samples = 0;
  std::jthread sampler([&] {
    while (sampling) {
      std::error_code ec;
      for (const auto& e : fs::directory_iterator("/proc", ec)) {
        std::string cmdline = ReadWholeFile(e.path().string() + "/cmdline");
        std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
        if (cmdline.find(first) != std::string::npos || cmdline.find(second) != std::string::npos) {
          std::lock_guard lock(mu);
          leaks.push_back(e.path().filename().string() + ": " + cmdline);
        }
      }
      ++samples;
      std::this_thread::sleep_for(milliseconds(5));
    }
  });
  // An ASSERT that returns early must still stop the sampler before it is joined.
  struct StopSampling {
    std::atomic<bool>& flag;
    ~StopSampling() { flag = false; }
  } stop_sampling{sampling};
  auto serving = [&](const std::string& ds) {
    WaitFor(h.cli, {"share", "show", "iscsi", ds}, [](const json& j) { return j.value("state", "") == "serving"; });
  };
  ASSERT_EQ(h.cli.Run({"service", "enable", pool_.name, "-d", pool_.disk_dir}).code, kExitOk);
  WaitForService(h, "online");
  PK_ASSERT_OK(AdoptPool(h.cli, pool_.name));  // made with zpool create
  CliResult created = h.cli.RunWithStdin(
      {"share", "create", "iscsi", Dataset("vault"), "--size", "32M", "--chap-user", "vaultuser", "--chap-secret-stdin"},
      first + "\n");
  ASSERT_EQ(created.code, kExitOk) << created;
  serving(Dataset("vault"));
  const std::string iqn = h.cli.Json({"share", "show", "iscsi", Dataset("vault")})["definition"].value("iqn", "");
  EXPECT_EQ(IscsiLogin(h, iqn, "vaultuser", first, {"--mib", "4", "--seed", "11"}).status.code, 0);
  // Reconfigured: a new secret (tgtd's account recreated) and a read-only flip.
  CliResult changed = h.cli.RunWithStdin({"share", "set", "iscsi", Dataset("vault"), "--chap-secret-stdin"}, second + "\n");
  ASSERT_EQ(changed.code, kExitOk) << changed;
  ASSERT_EQ(h.cli.Run({"share", "set", "iscsi", Dataset("vault"), "--read-only"}).code, kExitOk);
  ASSERT_EQ(h.cli.Run({"share", "set", "iscsi", Dataset("vault"), "--writable"}).code, kExitOk);
  serving(Dataset("vault"));
  EXPECT_EQ(IscsiLogin(h, iqn, "vaultuser", second, {"--mib", "4", "--seed", "11", "--verify-only"}).status.code, 0);
  EXPECT_EQ(IscsiLogin(h, iqn, "vaultuser", first).status.code, 3) << "the replaced secret was accepted";
  sampling = false;
  sampler.join();
  EXPECT_GT(samples, 10);
  EXPECT_TRUE(leaks.empty()) << "a command line carried the secret: " << leaks.front();

  auto no_secret = [&](const std::string& where, const std::string& text) {
    EXPECT_THAT(text, Not(HasSubstr(first))) << where;
    EXPECT_THAT(text, Not(HasSubstr(second))) << where;
  };
  std::string props = Output(ZfsTool("zfs", {"get", "-r", "-H", "-p", "all", pool_.name}));
  EXPECT_THAT(props, HasSubstr("chap_secret_ref")) << "the property refers to the store";
  no_secret("zfs get all", props);
  no_secret("zpool history", Output(ZfsTool("zpool", {"history", "-il", pool_.name})));
  // The unprivileged user: its own `zfs get` (whatever zfs-fuse lets it see),
  // the pool's files, and the store itself.
  sys::Command zfs_get = ZfsTool("zfs", {"get", "-r", "-H", "all", pool_.name});
  sys::ProcessResult user_get = AsUser(zfs_get.program, zfs_get.args);
  no_secret("zfs get all as " + user_, user_get.out + user_get.err);
  sys::ProcessResult user_grep = AsUser("/usr/bin/grep", {"-r", "-l", "Hidden-chap", pool_.mnt});
  no_secret("grep -r as " + user_, user_grep.out);
  EXPECT_EQ(user_grep.out, "") << "an unprivileged user found the secret in " << user_grep.out;
  const std::string store = pool_.mnt + "/.poolkeeper/chap/secrets.json";
  struct stat st {};
  ASSERT_EQ(::stat(store.c_str(), &st), 0) << store << " (the pool's CHAP secret store) is missing";
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_uid, 0u);
  ASSERT_EQ(::stat((pool_.mnt + "/.poolkeeper/chap").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  sys::ProcessResult user_cat = AsUser("/usr/bin/cat", {store});
  EXPECT_NE(user_cat.status.code, 0) << "an unprivileged user read the store";
  no_secret("cat store as " + user_, user_cat.out);
  // Every API answer (through the CLI's --json) and the daemon's log.
  for (std::vector<std::string> q : std::vector<std::vector<std::string>>{
           {"pool", "list"}, {"pool", "status", pool_.name}, {"dataset", "list"}, {"dataset", "get", pool_.name},
           {"dataset", "get", Dataset("vault")}, {"dataset", "get", Dataset(".poolkeeper")},
           {"share", "list"}, {"share", "show", "iscsi", Dataset("vault")}, {"service", "list"},
           {"service", "status", pool_.name}, {"events"}}) {
    q.insert(q.begin(), "--json");
    CliResult r = h.cli.Run(q);
    EXPECT_EQ(r.code, kExitOk) << r;
    std::string what = "poolkeeper";
    for (const auto& a : q) what += " " + a;
    no_secret(what, r.out + r.err);
  }
  no_secret("the daemon's log", ReadWholeFile(h.options.log_path));

  // Exported and imported again (a takeover's stand-in on this host): the
  // same CHAP is served from the pool's own store.
  ASSERT_EQ(h.cli.Run({"service", "stop", pool_.name}).code, kExitOk);
  WaitForService(h, "exported");
  EXPECT_NE(IscsiLogin(h, iqn, "vaultuser", second).status.code, 0) << "still served after the export";
  ASSERT_EQ(h.cli.Run({"service", "start", pool_.name}).code, kExitOk);
  WaitForService(h, "online");
  serving(Dataset("vault"));
  EXPECT_EQ(IscsiLogin(h, iqn, "vaultuser", second, {"--mib", "4", "--seed", "11", "--verify-only"}).status.code, 0)
      << "the CHAP secret did not come back with the pool";
  EXPECT_EQ(IscsiLogin(h, iqn, "vaultuser", "Wrong-secret-01").status.code, 3) << "a wrong CHAP secret was accepted";
  EXPECT_EQ(IscsiLogin(h, iqn, "vaultuser", first).status.code, 3) << "the old CHAP secret was accepted";
  ASSERT_EQ(h.cli.Run({"service", "stop", pool_.name}).code, kExitOk);
  WaitForService(h, "exported");
}

// issue 17 item 5: a share property written before the secret store (the
// secret in clear) is moved on first serve: the property is rewritten with a
// reference only, and the same secret keeps working.
TEST_F(ShareTest, AChapSecretInAnOldPropertyMovesToTheStoreOnFirstServe) {
  const std::string secret = "Legacy-chap-77";
  CreateDataset("old");
  ASSERT_FALSE(HasFailure());
  PK_ASSERT_OK(CreateSparseFile(pool_.mnt + "/old/lun.img", 16ll << 20));
  const std::string iqn = "iqn.2026-11.org.poolkeeper.test:legacy" + std::to_string(::getpid());
  json old = {{"v", 1},           {"iqn", iqn},          {"lun", 1},      {"file", "lun.img"}, {"size", 16 << 20},
              {"chap_user", "olduser"}, {"chap_secret", secret}, {"initiators", {"ALL"}}, {"read_only", false}};
  auto set = runner_->Run(ZfsTool("zfs", {"set", "org.poolkeeper:share.iscsi=" + old.dump(), Dataset("old")}));
  ASSERT_TRUE(set && set->status.Success());
  Head& h = StartHead(0);
  ASSERT_FALSE(HasFailure());
  ASSERT_EQ(h.cli.Run({"service", "enable", pool_.name, "-d", pool_.disk_dir}).code, kExitOk);
  // Made with zpool create and carrying a share: held (degraded) until adopted.
  WaitFor(h.cli, {"service", "status", pool_.name}, [](const json& j) {
    return j.value("state", "") == "online" || j.value("state", "") == "degraded";
  });
  PK_ASSERT_OK(AdoptPool(h.cli, pool_.name));
  WaitForService(h, "online");
  WaitFor(h.cli, {"share", "show", "iscsi", Dataset("old")}, [](const json& j) { return j.value("state", "") == "serving"; });
  std::string value = Output(ZfsTool("zfs", {"get", "-H", "-o", "value", "org.poolkeeper:share.iscsi", Dataset("old")}));
  EXPECT_THAT(value, Not(HasSubstr(secret))) << "the property still carries the secret";
  EXPECT_THAT(value, HasSubstr("chap_secret_ref"));
  EXPECT_EQ(IscsiLogin(h, iqn, "olduser", secret, {"--mib", "1"}).status.code, 0);
  EXPECT_EQ(IscsiLogin(h, iqn, "olduser", "Wrong-secret-01").status.code, 3);
  CliResult got = h.cli.Run({"--json", "dataset", "get", Dataset("old")});
  EXPECT_THAT(got.out, Not(HasSubstr(secret)));
  ASSERT_EQ(h.cli.Run({"service", "stop", pool_.name}).code, kExitOk);
  WaitForService(h, "exported");
}

}  // namespace
}  // namespace pk::e2e
