// The NFS backend with a fake process runner and a fake daemon launcher: the
// generated ganesha.conf (golden text), the commands run in each situation,
// and how ganesha's log and export list decide each share's result.
#include "share/nfs_ganesha.h"

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <set>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "testing/fake_daemon_launcher.h"
#include "testing/fake_process_runner.h"

namespace pk::share {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::FakeProcessRunner;

using FakeLauncher = testing::FakeDaemonLauncher;

// The real filesystem in a temporary directory, except that network
// namespaces (/run/netns/NAME) exist when the fake `ip netns add` made them.
class TestFs final : public sys::FileSystem {
 public:
  TestFs() : real_(sys::MakeRealFileSystem()) {}
  Result<std::string> ReadFile(const std::string& p) override { return real_->ReadFile(p); }
  Status WriteFileAtomic(const std::string& p, std::string_view c, mode_t m) override {
    return real_->WriteFileAtomic(p, c, m);
  }
  Result<bool> Exists(const std::string& p) override {
    if (p.starts_with("/run/netns/")) return netns.contains(p.substr(11));
    if (p == "/run/rpcbind.sock") return host_rpcbind_socket;
    return real_->Exists(p);
  }
  Status MakeDirs(const std::string& p, mode_t m) override { return real_->MakeDirs(p, m); }
  Status Remove(const std::string& p) override { return real_->Remove(p); }
  Status AppendDurably(const std::string& p, std::string_view d) override { return real_->AppendDurably(p, d); }
  Status CreateSparseFile(const std::string& p, uint64_t size, mode_t mode) override {
    return real_->CreateSparseFile(p, size, mode);
  }
  Result<DeviceInfo> StatDevice(const std::string& p) override { return real_->StatDevice(p); }
  std::set<std::string> netns;
  bool host_rpcbind_socket = false;

 private:
  std::unique_ptr<sys::FileSystem> real_;
};

void Append(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::app);
  out << text;
}

Share NfsShare(const std::string& dataset, uint64_t guid, const std::string& path,
               const std::vector<std::string>& clients) {
  NfsDefinition def;
  for (const auto& c : clients) def.clients.push_back(*NfsClient::Parse(c));
  def.pseudo = "/" + dataset;
  Share s;
  s.pool = dataset.substr(0, dataset.find('/'));
  s.dataset = dataset;
  s.guid = guid;
  s.path = path;
  s.definition = def;
  return s;
}

std::vector<std::string> Argvs(const std::vector<sys::Command>& calls) {
  std::vector<std::string> out;
  for (const auto& c : calls) out.push_back(c.ToString());
  return out;
}

class GaneshaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           fmt::format("pk-ganesha-unit-{}-{}", ::getpid(),
                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    options_.runtime_dir = dir_.string() + "/ganesha";
    options_.netns = "pk-unit";
    log_ = options_.runtime_dir + "/ganesha.log";
    // ganesha: logs its start; on SIGHUP logs the reload (plus `reload_log`).
    launcher_.on_launch = [this](const sys::Command& c) -> std::function<void(int)> {
      if (std::find(c.args.begin(), c.args.end(), options_.ganesha_path) == c.args.end() &&
          c.program != options_.ganesha_path) {
        return nullptr;
      }
      Append(log_, "main :NFS STARTUP :EVENT :ganesha.nfsd Starting\n" + start_log_ +
                       "nfs_start :NFS STARTUP :EVENT :             NFS SERVER INITIALIZED\n");
      return [this](int signal) {
        if (signal == SIGHUP) Append(log_, reload_log_ + "reread_exports :CONFIG :EVENT :Reread exports complete\n");
      };
    };
    runner_.Expect({"ip", "netns", "add"}, [this](const sys::Command& c) {
      fs_.netns.insert(c.args.back());
      return Result<sys::ProcessResult>(FakeProcessRunner::Exited(0));
    }, FakeProcessRunner::Times::kAlways);
    runner_.Expect({"ip", "netns", "delete"}, [this](const sys::Command& c) {
      fs_.netns.erase(c.args.back());
      return Result<sys::ProcessResult>(FakeProcessRunner::Exited(0));
    }, FakeProcessRunner::Times::kAlways);
    runner_.Expect({"nsenter", "--net=/run/netns/pk-unit", "--", "/usr/sbin/showmount"},
                   [this](const sys::Command&) {
                     return Result<sys::ProcessResult>(FakeProcessRunner::Exited(0, showmount_));
                   }, FakeProcessRunner::Times::kAlways);
    runner_.SetDefaultHandler(
        [](const sys::Command&) { return Result<sys::ProcessResult>(FakeProcessRunner::Exited(0)); });
  }
  void TearDown() override {
    backend_.reset();
    std::filesystem::remove_all(dir_);
  }

  Backend& backend() {
    if (!backend_) {
      auto b = MakeGaneshaBackend(options_, runner_, launcher_, fs_);
      EXPECT_TRUE(b) << b.error().ToString();
      backend_ = std::move(*b);
    }
    return *backend_;
  }
  std::string Config() { return *fs_.ReadFile(options_.runtime_dir + "/ganesha.conf"); }

  std::filesystem::path dir_;
  GaneshaOptions options_;
  std::string log_, start_log_, reload_log_;
  std::string showmount_ = "Export list for 127.0.0.1:\n";
  FakeProcessRunner runner_;
  FakeLauncher launcher_;
  TestFs fs_;
  std::unique_ptr<Backend> backend_;
};

TEST_F(GaneshaTest, RendersOneExportPerShareWithClientBlocks) {
  options_.runtime_dir = "/state/ganesha";
  Share a = NfsShare("tank/a", 7, "/mnt/tank/a b", {"127.0.0.1(rw,no_root_squash)", "10.0.0.0/8(ro,sec=sys:krb5)"});
  Share b = NfsShare("tank/b", 8, "/mnt/tank/b", {"*(rw,all_squash)"});
  auto config = RenderGaneshaConfig(options_, {{&a, 8}, {&b, 9}});
  EXPECT_EQ(config.text, R"(# Generated by Poolkeeper from the pools' share definitions; rewritten on every change.
NFS_Core_Param {
    NFS_Port = 2049;
    MNT_Port = 20048;
    Enable_NLM = false;
    Enable_RQUOTA = false;
    Protocols = 3, 4;
}
NFSv4 {
    Graceless = true;
    RecoveryRoot = "/state/ganesha/recov";
}
EXPORT {
    # dataset guid 7
    Export_Id = 8;
    Path = "/mnt/tank/a b";
    Pseudo = "/tank/a";
    Access_Type = None;
    Protocols = 3, 4;
    Transports = TCP;
    FSAL { Name = VFS; }
    CLIENT { Clients = 127.0.0.1; Access_Type = RW; Squash = No_Root_Squash; SecType = sys; }
    CLIENT { Clients = 10.0.0.0/8; Access_Type = RO; Squash = Root_Squash; SecType = sys, krb5; }
}
EXPORT {
    # dataset guid 8
    Export_Id = 9;
    Path = "/mnt/tank/b";
    Pseudo = "/tank/b";
    Access_Type = None;
    Protocols = 3, 4;
    Transports = TCP;
    FSAL { Name = VFS; }
    CLIENT { Clients = *; Access_Type = RW; Squash = All_Squash; SecType = sys; }
}
)");
  ASSERT_EQ(config.exports.size(), 2u);
  EXPECT_EQ(config.exports[0].id, "nfs:tank/a");
  EXPECT_EQ(config.exports[0].first_line, 13);
  EXPECT_EQ(config.exports[0].last_line, 24);
  EXPECT_EQ(config.exports[1].first_line, 25);
  EXPECT_EQ(config.exports[1].last_line, 35);

  // Without Kerberos flavours, Kerberos is switched off.
  auto sys_only = RenderGaneshaConfig(options_, {{&b, 9}});
  EXPECT_THAT(sys_only.text, HasSubstr("NFS_KRB5 { Active_krb5 = false; }"));
}

TEST_F(GaneshaTest, RefusesValuesThatCannotBeQuoted) {
  Share ok = NfsShare("tank/a", 1, "/mnt/a", {"*(rw)"});
  EXPECT_TRUE(ValidateForGanesha(ok));
  for (std::string path : {"/mnt/a\"b", "/mnt/a\\b", "/mnt/a\nb", "relative/a"}) {
    Share s = ok;
    s.path = path;
    auto st = ValidateForGanesha(s);
    ASSERT_FALSE(st) << path;
    EXPECT_EQ(st.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(st.error().message(), HasSubstr("nfs:tank/a"));
  }
  Share pseudo = ok;
  std::get<NfsDefinition>(pseudo.definition).pseudo = "/";
  EXPECT_FALSE(ValidateForGanesha(pseudo));
  Share client = ok;
  std::get<NfsDefinition>(client.definition).clients[0].match = "a;b";
  EXPECT_FALSE(ValidateForGanesha(client));
  Share smb = ok;
  smb.definition = SmbDefinition{.name = "x"};
  EXPECT_FALSE(ValidateForGanesha(smb));
}

TEST_F(GaneshaTest, FirstShareStartsNamespacesRpcbindAndGanesha) {
  Share a = NfsShare("tank/a", 7, "/mnt/tank/a", {"127.0.0.1(rw)"});
  showmount_ += "/mnt/tank/a 127.0.0.1/32\n";
  auto results = backend().Reconcile({a});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].status) << results[0].status.error().ToString();
  EXPECT_THAT(*backend().Served(), ElementsAre("nfs:tank/a"));
  EXPECT_THAT(Config(), HasSubstr("Path = \"/mnt/tank/a\";"));
  EXPECT_THAT(Config(), HasSubstr(fmt::format("Export_Id = {};", PreferredExportId(7))));

  std::string mntns = options_.runtime_dir + "/rpcbind.mntns";
  EXPECT_THAT(Argvs(runner_.calls()),
              ElementsAre("/usr/sbin/ip netns add pk-unit", "/usr/sbin/ip -n pk-unit link set lo up",
                          "/usr/bin/unshare --mount=" + mntns +
                              " --propagation private -- /usr/bin/mount -t tmpfs -o mode=0755,size=1m "
                              "pk-rpcbind-run /run",
                          "/usr/bin/nsenter --mount=" + mntns + " -- /usr/bin/umount -a -l -t fuse,fuseblk,fuse.zfs,fuse.zfs-fuse,zfs",
                          "/usr/bin/nsenter --net=/run/netns/pk-unit -- /usr/sbin/rpcinfo -p 127.0.0.1",
                          "/usr/bin/nsenter --net=/run/netns/pk-unit -- /usr/sbin/rpcinfo -T tcp 127.0.0.1 nfs 3",
                          "/usr/bin/nsenter --net=/run/netns/pk-unit -- /usr/sbin/showmount -e 127.0.0.1"));
  // rpcbind in the netns and its private mount namespace; ganesha only in the netns.
  ASSERT_EQ(launcher_.launched.size(), 2u);
  EXPECT_EQ(launcher_.launched[0].ToString(),
            "/usr/bin/nsenter --net=/run/netns/pk-unit --mount=" + mntns + " -- /usr/sbin/rpcbind -f");
  EXPECT_EQ(launcher_.launched[1].ToString(),
            fmt::format("/usr/bin/nsenter --net=/run/netns/pk-unit -- /usr/bin/ganesha.nfsd -F -f {0}/ganesha.conf "
                        "-L {0}/ganesha.log -p {0}/ganesha.pid -N NIV_EVENT",
                        options_.runtime_dir));

  // An unchanged reconcile reloads (SIGHUP), never restarts.
  auto again = backend().Reconcile({a});
  EXPECT_TRUE(again[0].status) << again[0].status.error().ToString();
  EXPECT_EQ(launcher_.launched.size(), 2u);
  EXPECT_THAT(launcher_.daemons[1]->signals, ElementsAre(SIGHUP));

  // Nothing desired: both stop, the namespaces go.
  size_t before = runner_.calls().size();
  EXPECT_TRUE(backend().Reconcile({}).empty());
  EXPECT_FALSE(launcher_.daemons[0]->running);
  EXPECT_FALSE(launcher_.daemons[1]->running);
  auto calls = Argvs(runner_.calls());
  EXPECT_THAT(std::vector<std::string>(calls.begin() + static_cast<long>(before), calls.end()),
              ElementsAre("/usr/bin/umount " + mntns, "/usr/sbin/ip netns delete pk-unit"));
  EXPECT_TRUE(fs_.netns.empty());
  EXPECT_TRUE(backend().Served()->empty());
}

// issue 18 item 1: the rpcbind and ganesha a killed poolkeeperd left serving
// are adopted and reloaded, never started a second time (which failed with
// "Ganesha already started" and left the old one as an orphan).
TEST_F(GaneshaTest, AdoptsTheServersAKilledDaemonLeftAndReloadsThem) {
  std::string mntns = options_.runtime_dir + "/rpcbind.mntns";
  sys::Command rpcbind{.program = "/usr/bin/nsenter",
                       .args = {"--net=/run/netns/pk-unit", "--mount=" + mntns, "--", "/usr/sbin/rpcbind", "-f"}};
  sys::Command ganesha{.program = "/usr/bin/nsenter",
                       .args = {"--net=/run/netns/pk-unit", "--", "/usr/bin/ganesha.nfsd", "-F", "-f",
                                options_.runtime_dir + "/ganesha.conf", "-L", log_, "-p",
                                options_.runtime_dir + "/ganesha.pid", "-N", "NIV_EVENT"}};
  launcher_.adoptable["rpcbind"] = {.command = rpcbind, .pid = 601};
  launcher_.adoptable["ganesha"] = {.command = ganesha, .pid = 602};
  auto rpcbind_state = launcher_.adoptable["rpcbind"].state, ganesha_state = launcher_.adoptable["ganesha"].state;
  fs_.netns.insert("pk-unit");
  Share a = NfsShare("tank/a", 7, "/mnt/tank/a", {"127.0.0.1(rw)"});
  showmount_ += "/mnt/tank/a 127.0.0.1/32\n";
  auto results = backend().Reconcile({a});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].status) << results[0].status.error().ToString();
  EXPECT_THAT(launcher_.adopt_asked, ElementsAre("rpcbind", "ganesha"));
  EXPECT_TRUE(launcher_.launched.empty()) << "a server was started beside the adopted one";
  EXPECT_THAT(ganesha_state->signals, ElementsAre(SIGHUP));
  EXPECT_TRUE(rpcbind_state->running);
  EXPECT_THAT(*backend().Served(), ElementsAre("nfs:tank/a"));
  // A deliberate stop ends the adopted servers too.
  EXPECT_TRUE(backend().Stop());
  EXPECT_FALSE(ganesha_state->running);
  EXPECT_FALSE(rpcbind_state->running);
}

// issue 18 item 1: a recorded ganesha started with other options is replaced.
TEST_F(GaneshaTest, ARecordedGaneshaWithOtherOptionsIsReplaced) {
  options_.netns = "";
  launcher_.adoptable["ganesha"] = {.command = {.program = "/usr/bin/ganesha.nfsd", .args = {"-F", "-f", "/elsewhere"}}};
  auto old_state = launcher_.adoptable["ganesha"].state;
  Share a = NfsShare("tank/a", 7, "/mnt/tank/a", {"*(rw)"});
  runner_.Expect({"showmount", "-e"}, FakeProcessRunner::Exited(0, "Export list for 127.0.0.1:\n/mnt/tank/a *\n"),
                 FakeProcessRunner::Times::kAlways);
  auto results = backend().Reconcile({a});
  EXPECT_TRUE(results[0].status) << results[0].status.error().ToString();
  EXPECT_FALSE(old_state->running);
  ASSERT_EQ(launcher_.launched.size(), 1u);
  EXPECT_THAT(launcher_.recorded, ElementsAre("ganesha"));
}

TEST_F(GaneshaTest, HostNamespaceRunsGaneshaDirectlyWithoutRpcbind) {
  options_.netns = "";
  Share a = NfsShare("tank/a", 7, "/mnt/tank/a", {"*(rw)"});
  runner_.Expect({"showmount", "-e"}, FakeProcessRunner::Exited(0, "Export list for 127.0.0.1:\n/mnt/tank/a *\n"),
                 FakeProcessRunner::Times::kAlways);
  auto results = backend().Reconcile({a});
  EXPECT_TRUE(results[0].status) << results[0].status.error().ToString();
  EXPECT_THAT(Argvs(runner_.calls()), ElementsAre("/usr/sbin/rpcinfo -T tcp 127.0.0.1 nfs 3",
                                                  "/usr/sbin/showmount -e 127.0.0.1"));
  ASSERT_EQ(launcher_.launched.size(), 1u);
  EXPECT_EQ(launcher_.launched[0].program, "/usr/bin/ganesha.nfsd");
}

TEST_F(GaneshaTest, StartWithoutSharesServesAnEmptyExportList) {
  ASSERT_TRUE(backend().Start());
  EXPECT_THAT(Config(), ::testing::Not(HasSubstr("EXPORT")));
  ASSERT_EQ(launcher_.launched.size(), 2u);  // rpcbind, ganesha
  EXPECT_TRUE(backend().Health());
  ASSERT_TRUE(backend().Start());  // idempotent
  EXPECT_EQ(launcher_.launched.size(), 2u);
  EXPECT_TRUE(backend().Stop());
  EXPECT_FALSE(backend().Health());
  EXPECT_TRUE(backend().Stop());  // stopping a stopped server is fine
}

TEST_F(GaneshaTest, ConfigErrorIsChargedToItsShareOnly) {
  Share a = NfsShare("tank/a", 7, "/mnt/tank/a", {"*(rw)"});
  Share b = NfsShare("tank/b", 8, "/mnt/tank/b", {"*(rw)"});
  Share bad = NfsShare("tank/c", 9, "/mnt/tank/c\"x", {"*(rw)"});
  showmount_ += "/mnt/tank/a *\n";
  // ganesha refuses tank/b's EXPORT block (tank/a: lines 14-24, tank/b: 25-35).
  start_log_ = fmt::format("config_errs_to_log :CONFIG :CRIT :Config File ({}/ganesha.conf:27): Expected a client\n",
                           options_.runtime_dir);
  auto results = backend().Reconcile({a, b, bad});
  ASSERT_EQ(results.size(), 3u);
  EXPECT_TRUE(results[0].status) << results[0].status.error().ToString();
  ASSERT_FALSE(results[1].status);
  EXPECT_EQ(results[1].status.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(results[1].status.error().message(), HasSubstr("nfs:tank/b"));
  EXPECT_THAT(results[1].status.error().message(), HasSubstr("Expected a client"));
  ASSERT_FALSE(results[2].status);
  EXPECT_EQ(results[2].status.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(*backend().Served(), ElementsAre("nfs:tank/a"));
  EXPECT_THAT(Config(), ::testing::Not(HasSubstr("tank/c")));
}

TEST_F(GaneshaTest, ExportStillListedAfterRemovalIsAnError) {
  Share a = NfsShare("tank/a", 7, "/mnt/tank/a", {"*(rw)"});
  Share b = NfsShare("tank/b", 8, "/mnt/tank/b", {"*(rw)"});
  showmount_ += "/mnt/tank/a *\n/mnt/tank/b *\n";
  for (const auto& r : backend().Reconcile({a, b})) EXPECT_TRUE(r.status) << r.id;
  // b removed, but ganesha still lists it.
  auto results = backend().Reconcile({a});
  ASSERT_FALSE(results[0].status);
  EXPECT_THAT(results[0].status.error().message(), HasSubstr("still exports /mnt/tank/b"));
}

TEST_F(GaneshaTest, ExportIdsAreStablePerGuidAndCollisionsResolved) {
  Share a = NfsShare("tank/a", 5, "/mnt/a", {"*(rw)"});
  Share b = NfsShare("tank/b", 5 + 65000, "/mnt/b", {"*(rw)"});  // same preferred id
  showmount_ += "/mnt/a *\n/mnt/b *\n";
  for (const auto& r : backend().Reconcile({b, a})) EXPECT_TRUE(r.status) << r.id;
  std::string first = Config();
  EXPECT_THAT(first, HasSubstr("Export_Id = 6;"));
  EXPECT_THAT(first, HasSubstr("Export_Id = 7;"));
  // The lower guid got the preferred id; the order of `desired` does not matter.
  EXPECT_LT(first.find("# dataset guid 5\n    Export_Id = 6;"), std::string::npos);
  for (const auto& r : backend().Reconcile({a, b})) EXPECT_TRUE(r.status) << r.id;
  EXPECT_LT(Config().find("# dataset guid 65005\n    Export_Id = 7;"), std::string::npos);
}

TEST_F(GaneshaTest, GaneshaThatNeverRegistersFailsEveryShareWithTheCause) {
  options_.start_timeout = std::chrono::milliseconds(100);
  runner_.Expect({"nsenter", "--net=/run/netns/pk-unit", "--", "/usr/sbin/rpcinfo", "-T"},
                 FakeProcessRunner::Exited(1, "", "rpcinfo: RPC: Program not registered\n"),
                 FakeProcessRunner::Times::kAlways);
  Share a = NfsShare("tank/a", 7, "/mnt/tank/a", {"*(rw)"});
  auto results = backend().Reconcile({a});
  ASSERT_FALSE(results[0].status);
  EXPECT_EQ(results[0].status.error().code(), ErrorCode::kDeadlineExceeded);
  EXPECT_THAT(results[0].status.error().message(), HasSubstr("Program not registered"));
  EXPECT_TRUE(backend().Served()->empty());

  // With another rpcbind's socket on the host, the error says where ganesha registered.
  fs_.host_rpcbind_socket = true;
  EXPECT_TRUE(backend().Stop());
  results = backend().Reconcile({a});
  ASSERT_FALSE(results[0].status);
  EXPECT_THAT(results[0].status.error().message(), HasSubstr("another rpcbind's /run/rpcbind.sock"));
}

TEST(GaneshaOptionsTest, BadOptionsAreRefused) {
  FakeProcessRunner runner;
  FakeLauncher launcher;
  TestFs fs;
  GaneshaOptions o;
  EXPECT_FALSE(MakeGaneshaBackend(o, runner, launcher, fs));  // no runtime dir
  o.runtime_dir = "/tmp/x";
  o.netns = "bad name";
  EXPECT_FALSE(MakeGaneshaBackend(o, runner, launcher, fs));
  o.netns = "ok";
  o.ganesha_path = "ganesha.nfsd";
  EXPECT_FALSE(MakeGaneshaBackend(o, runner, launcher, fs));
  EXPECT_TRUE(runner.calls().empty());
}

}  // namespace
}  // namespace pk::share
