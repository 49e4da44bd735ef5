// Unit tests of the tgt backend: the `tgtadm --op show` parser on real
// captures (tests/data/tgt/), and the command sequences of Start, Reconcile,
// Stop and Health against a small in-memory model of tgtd that answers the
// tgtadm commands through testing::FakeProcessRunner.
#include "share/iscsi_tgt.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "testing/fake_process_runner.h"

namespace pk::share {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using testing::FakeProcessRunner;

std::string ReadGolden(const std::string& relative) {
  std::string path = std::string(PK_TEST_DATA_DIR) + "/" + relative;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open golden file " << path;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// ---------------------------------------------------------------- parser

TEST(TgtParseTest, ParsesTheCapturedTargetList) {
  auto targets = ParseTgtTargets(ReadGolden("tgt/target-show-1.0.85.txt"));
  ASSERT_TRUE(targets) << targets.error().message();
  ASSERT_EQ(targets->size(), 2u);
  const TgtTarget& a = (*targets)[0];
  EXPECT_EQ(a.tid, 3);
  EXPECT_EQ(a.iqn, "iqn.2026-11.org.poolkeeper:probe.a");
  EXPECT_EQ(a.sessions, 1);
  ASSERT_EQ(a.nexuses.size(), 1u);
  EXPECT_EQ(a.nexuses[0].sid, 7);
  EXPECT_EQ(a.nexuses[0].initiator, "iqn.2010-11.libiscsi:iscsi-perf alias: none");
  EXPECT_THAT(a.nexuses[0].connections, ElementsAre(0));
  ASSERT_EQ(a.luns.size(), 2u);
  EXPECT_EQ(a.luns[0].lun, 0);
  EXPECT_EQ(a.luns[0].type, "controller");
  EXPECT_EQ(a.luns[0].scsi_id, "IET     00030000");
  EXPECT_EQ(a.luns[0].backing_type, "null");
  EXPECT_EQ(a.luns[0].backing_path, "None");
  EXPECT_EQ(a.luns[1].lun, 1);
  EXPECT_EQ(a.luns[1].type, "disk");
  EXPECT_EQ(a.luns[1].scsi_id, "poolkeeper-0123456789abcdef");
  EXPECT_EQ(a.luns[1].scsi_sn, "PK0123456789ABCDEF");
  EXPECT_FALSE(a.luns[1].readonly);
  EXPECT_EQ(a.luns[1].backing_type, "rdwr");
  EXPECT_EQ(a.luns[1].backing_path, "/var/tmp/pk-iscsi-probe/lun.img");
  EXPECT_THAT(a.accounts, ElementsAre("chapuser"));
  EXPECT_THAT(a.outgoing_accounts, ElementsAre("outu"));
  EXPECT_THAT(a.acls, ElementsAre("127.0.0.1"));

  const TgtTarget& b = (*targets)[1];
  EXPECT_EQ(b.tid, 200000000);
  EXPECT_EQ(b.iqn, "iqn.2026-11.org.poolkeeper:probe.b");
  EXPECT_EQ(b.sessions, 0);
  ASSERT_EQ(b.luns.size(), 2u);
  EXPECT_EQ(b.luns[1].lun, 2);
  EXPECT_TRUE(b.luns[1].readonly);
  EXPECT_THAT(b.accounts, IsEmpty());
  EXPECT_THAT(b.acls, ElementsAre("ALL", "10.0.0.0/8"));
}

TEST(TgtParseTest, EmptyOutputIsNoTargets) {
  auto targets = ParseTgtTargets("");
  ASSERT_TRUE(targets);
  EXPECT_THAT(*targets, IsEmpty());
}

TEST(TgtParseTest, RefusesTextNotInTgtadmsFormatNamingTheLine) {
  auto r = ParseTgtTargets("Target x: iqn.a\n");
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("line 1"));
  r = ParseTgtTargets("    LUN information:\n");
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("outside a target"));
  r = ParseTgtTargets("Target 1: iqn.a\n    Bogus section:\n");
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("line 2"));
}

TEST(TgtNaaTest, FollowsTgtsRuleAsSeenByLibiscsi) {
  // Observed with pk_iscsi_rw --identify against tgtd 1.0.85 for this scsi_id.
  EXPECT_EQ(TgtNaaFor("poolkeeper-0123456789abcdef"), "0x6000000000ee0e000123456789abcdef");
  EXPECT_EQ(TgtNaaFor("pkfedcba9876543210"), "0x6000000000000000fedcba9876543210");
  // Only the last 32 characters count; the first nibble is always 6.
  EXPECT_EQ(TgtNaaFor("pk6001405fedcba9876543210000000000"), "0x6001405fedcba9876543210000000000");
  EXPECT_EQ(TgtNaaFor("ff1001405fedcba9876543210000000000"), "0x6001405fedcba9876543210000000000");
}

// ---------------------------------------------------------------- model

// A tgtd as far as tgtadm can see it.
struct Model {
  struct Lun {
    std::string path;
    std::string scsi_id = "IET", scsi_sn = "beaf";
    bool readonly = false;
  };
  struct Target {
    std::string iqn;
    std::map<int, Lun> luns;
    std::vector<std::string> accounts;
    std::vector<std::string> acls;
    int sessions = 0;
    bool busy = false;  // commands in flight: deletes fail "still active" until the sessions are closed
  };
  bool up = false;
  std::vector<std::string> portals = {"127.0.0.1:13260"};
  std::map<int, Target> targets;
  std::map<std::string, std::string> accounts;  // user -> secret
  std::vector<std::string> mutations;           // tgtadm commands that change state, "mode op ..." form

  std::string Show() const {
    std::string out;
    for (const auto& [tid, t] : targets) {
      out += fmt::format("Target {}: {}\n    System information:\n        Driver: iscsi\n        State: ready\n", tid, t.iqn);
      out += "    I_T nexus information:\n";
      for (int s = 0; s < t.sessions; ++s) {
        out += fmt::format("        I_T nexus: {}\n            Initiator: iqn.x alias: none\n            Connection: 0\n"
                           "                IP Address: 127.0.0.1\n", s + 1);
      }
      out += "    LUN information:\n        LUN: 0\n            Type: controller\n            Backing store type: null\n"
             "            Backing store path: None\n";
      for (const auto& [n, l] : t.luns) {
        out += fmt::format("        LUN: {}\n            Type: disk\n            SCSI ID: {}\n            SCSI SN: {}\n"
                           "            Readonly: {}\n            Backing store type: rdwr\n"
                           "            Backing store path: {}\n            Backing store flags: \n",
                           n, l.scsi_id, l.scsi_sn, l.readonly ? "Yes" : "No", l.path);
      }
      out += "    Account information:\n";
      for (const auto& a : t.accounts) out += "        " + a + "\n";
      out += "    ACL information:\n";
      for (const auto& a : t.acls) out += "        " + a + "\n";
    }
    return out;
  }

  sys::ProcessResult Answer(const sys::Command& c) {
    if (!up) return FakeProcessRunner::Exited(107, "", "tgtadm: failed to send request hdr to tgt daemon, Transport endpoint is not connected\n");
    std::map<std::string, std::string> a;
    for (size_t i = 0; i < c.args.size(); ++i) {
      if (c.args[i].starts_with("--")) {
        a[c.args[i]] = i + 1 < c.args.size() && !c.args[i + 1].starts_with("--") ? c.args[i + 1] : "";
      }
    }
    std::string mode = a["--mode"], op = a["--op"];
    auto err = [](std::string m) { return FakeProcessRunner::Exited(22, "", "tgtadm: " + m + "\n"); };
    if (op != "show") {
      std::string m = mode + " " + op;
      for (const char* k : {"--tid", "--lun", "--targetname", "--backing-store", "--params", "--initiator-address",
                            "--initiator-name", "--user", "--sid", "--cid", "--force"}) {
        if (a.contains(k)) m += fmt::format(" {}{}", k + 2, a[k].empty() ? "" : "=" + a[k]);
      }
      mutations.push_back(m);
    }
    int tid = a.contains("--tid") ? std::stoi(a["--tid"]) : 0;
    if (mode == "sys" && op == "show") return FakeProcessRunner::Exited(0, "System:\n    State: ready\n");
    if (mode == "sys" && op == "delete") {
      if (!targets.empty()) return err("invalid request");
      up = false;
      return FakeProcessRunner::Exited(0);
    }
    if (mode == "portal" && op == "show") {
      std::string out;
      for (const auto& p : portals) out += "Portal: " + p + ",1\n";
      return FakeProcessRunner::Exited(0, out);
    }
    if (mode == "target" && op == "show") return FakeProcessRunner::Exited(0, Show());
    if (mode == "account" && op == "show") {
      std::string out = "Account list:\n";
      for (const auto& [u, s] : accounts) out += "    " + u + "\n";
      return FakeProcessRunner::Exited(0, out);
    }
    if (mode == "target" && op == "new") {
      if (targets.contains(tid)) return err("this target already exists");
      targets[tid].iqn = a["--targetname"];
      return FakeProcessRunner::Exited(0);
    }
    if (!targets.contains(tid) && mode != "account") return err("can't find the target");
    if (mode == "conn" && op == "delete") {
      if (targets[tid].sessions == 0 || std::stoi(a["--sid"]) < 1) return err("can't find the session");
      if (--targets[tid].sessions == 0) targets[tid].busy = false;
      return FakeProcessRunner::Exited(0);
    }
    if (targets.contains(tid) && targets[tid].busy && op == "delete") return err("this logical unit is still active");
    if (mode == "target" && op == "delete") {
      if (targets[tid].sessions > 0 && !a.contains("--force")) return err("this target is still active");
      targets.erase(tid);
      return FakeProcessRunner::Exited(0);
    }
    if (mode == "target" && (op == "bind" || op == "unbind")) {
      std::string acl = a.contains("--initiator-name") ? a["--initiator-name"] : a["--initiator-address"];
      auto& acls = targets[tid].acls;
      auto it = std::find(acls.begin(), acls.end(), acl);
      if (op == "bind") {
        if (it == acls.end()) acls.push_back(acl);
      } else {
        if (it == acls.end()) return err("this access control rule does not exist");
        acls.erase(it);
      }
      return FakeProcessRunner::Exited(0);
    }
    if (mode == "logicalunit") {
      if (a.contains("--force")) return err("logicalunit mode: option '-F' is not allowed/supported");  // as tgtadm 1.0.85
      int lun = std::stoi(a["--lun"]);
      auto& luns = targets[tid].luns;
      if (op == "new") {
        if (luns.contains(lun)) return err("this logical unit number already exists");
        luns[lun].path = a["--backing-store"];
        return FakeProcessRunner::Exited(0);
      }
      if (!luns.contains(lun)) return err("can't find the logical unit");
      if (op == "delete") {
        luns.erase(lun);
        return FakeProcessRunner::Exited(0);
      }
      if (op == "update") {
        std::stringstream ss(a["--params"]);
        std::string kv;
        while (std::getline(ss, kv, ',')) {
          auto eq = kv.find('=');
          std::string k = kv.substr(0, eq), v = kv.substr(eq + 1);
          if (k == "scsi_id") luns[lun].scsi_id = v;
          else if (k == "scsi_sn") luns[lun].scsi_sn = v;
          else if (k == "readonly") luns[lun].readonly = v == "1";
          else return err("unknown parameter");
        }
        return FakeProcessRunner::Exited(0);
      }
    }
    if (mode == "account") {
      std::string user = a["--user"];
      if (op == "new") {
        if (accounts.contains(user)) return err("user already exists");
        accounts[user] = a["--password"];
        return FakeProcessRunner::Exited(0);
      }
      if (!accounts.contains(user)) return err("can't find the account");
      if (op == "delete") {
        accounts.erase(user);
        for (auto& [t, target] : targets) std::erase(target.accounts, user);
        return FakeProcessRunner::Exited(0);
      }
      if (!targets.contains(tid)) return err("can't find the target");
      auto& list = targets[tid].accounts;
      if (op == "bind") {
        if (std::find(list.begin(), list.end(), user) == list.end()) list.push_back(user);
        return FakeProcessRunner::Exited(0);
      }
      if (op == "unbind") {
        if (std::find(list.begin(), list.end(), user) == list.end()) return err("can't find the account");
        std::erase(list, user);
        return FakeProcessRunner::Exited(0);
      }
    }
    return err("unexpected command " + c.ToString());
  }
};

class FakeServerProcess : public sys::ServerProcess {
 public:
  FakeServerProcess(Model& model, int& stops) : model_(model), stops_(stops) {}
  pid_t pid() const override { return 4242; }
  bool Running() override { return model_.up; }
  std::optional<sys::ExitStatus> Exit() override {
    if (model_.up) return std::nullopt;
    return sys::ExitStatus{.kind = sys::ExitStatus::Kind::kSignaled, .signal = 9};
  }
  sys::ExitStatus Stop(int, std::chrono::milliseconds) override {
    if (model_.up) ++stops_;
    model_.up = false;
    model_.targets.clear();
    model_.accounts.clear();
    return sys::ExitStatus{.kind = sys::ExitStatus::Kind::kSignaled, .signal = 9};
  }
  Status Signal(int) override { return OkStatus(); }

 private:
  Model& model_;
  int& stops_;
};

class FakeLauncher : public sys::DaemonLauncher {
 public:
  explicit FakeLauncher(Model& model) : model_(model) {}
  Result<std::unique_ptr<sys::ServerProcess>> Launch(const sys::Command& command, const std::string& log_path) override {
    launches.push_back(command);
    log_paths.push_back(log_path);
    model_.up = true;
    return std::make_unique<FakeServerProcess>(model_, kills);
  }
  std::vector<sys::Command> launches;
  std::vector<std::string> log_paths;
  int kills = 0;  // daemons stopped while still running (SIGKILL fallback)

 private:
  Model& model_;
};

class FakeFs : public sys::FileSystem {
 public:
  Result<std::string> ReadFile(const std::string& path) override {
    if (path.ends_with("tgtd.log")) return std::string("tgtd: iscsi_tcp_init_portal(351) unable to bind server socket, Address already in use\n");
    return NotFound("read '" + path + "': No such file or directory");
  }
  Status WriteFileAtomic(const std::string&, std::string_view, mode_t) override { return OkStatus(); }
  Result<bool> Exists(const std::string& path) override { return !missing.contains(path); }
  Status MakeDirs(const std::string& path, mode_t) override {
    dirs.push_back(path);
    return OkStatus();
  }
  Status Remove(const std::string&) override { return OkStatus(); }
  Status AppendDurably(const std::string&, std::string_view) override { return OkStatus(); }
  Status CreateSparseFile(const std::string&, uint64_t, mode_t) override { return OkStatus(); }
  Result<DeviceInfo> StatDevice(const std::string&) override { return DeviceInfo{}; }
  std::vector<std::string> dirs;
  std::set<std::string> missing;
  std::set<std::string> links;
  // The LUN file check (sys::StatRegularBeneath's fake).
  Result<sys::RegularFile> CheckLunFile(const std::string& dir, const std::string& name) const {
    if (links.contains(dir + "/" + name)) return FailedPrecondition("'" + dir + "/" + name + "' is a symbolic link");
    if (missing.contains(dir + "/" + name)) return NotFound("open '" + dir + "/" + name + "': No such file or directory");
    return sys::RegularFile{.size_bytes = 64 << 20, .device = 1, .inode = InodeOf(dir + "/" + name)};
  }
  static uint64_t InodeOf(const std::string& path) { return std::hash<std::string>{}(path) | 1; }
  // What tgtd holds for a LUN backed by `path`: the checked file, or another
  // one when the test swapped the path between check and open.
  sys::OpenFile Opened(int tid, int lun, const std::string& path) const {
    uint64_t inode = InodeOf(path) + (swapped.contains(path) ? 1 : 0);
    return sys::OpenFile{.fd = (tid % 100000) * 256 + lun, .device = 1, .inode = inode};
  }
  std::set<std::string> swapped;
};

Share IscsiShare(const std::string& dataset, uint64_t guid, const std::string& iqn, int lun) {
  IscsiDefinition def;
  def.iqn = *Iqn::Parse(iqn);
  def.lun = lun;
  def.size_bytes = 64 << 20;
  return Share{.pool = dataset.substr(0, dataset.find('/')),
               .dataset = dataset,
               .guid = guid,
               .path = "/mnt/" + dataset,
               .definition = def};
}
IscsiDefinition& Def(Share& s) { return std::get<IscsiDefinition>(s.definition); }

constexpr char kIqnA[] = "iqn.2026-11.org.poolkeeper:tank.a";
constexpr char kIqnB[] = "iqn.2026-11.org.poolkeeper:tank.b";

class TgtBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    runner_.SetDefaultHandler([this](const sys::Command& c) -> Result<sys::ProcessResult> { return model_.Answer(c); });
    options_.control_port = 37;
    options_.portal = "127.0.0.1:13260";
    options_.lun_file_check = [this](const std::string& d, const std::string& n) { return fs_.CheckLunFile(d, n); };
    options_.tgtd_open_files = [this]() -> Result<std::vector<sys::OpenFile>> {
      std::vector<sys::OpenFile> out;
      for (const auto& [tid, t] : model_.targets) {
        for (const auto& [lun, l] : t.luns) out.push_back(fs_.Opened(tid, lun, l.path));
      }
      return out;
    };
    options_.runtime_dir = "/state/tgt";
    options_.start_timeout = std::chrono::milliseconds(500);
    options_.stop_grace = std::chrono::milliseconds(50);
    // What TgtNewAccount sends over tgtd's socket, answered by the model.
    options_.new_account = [this](int, const std::string& user, const std::string& secret) -> Status {
      sys::Command c{.program = "socket", .args = {"--mode", "account", "--op", "new", "--user", user, "--password", secret}};
      auto r = model_.Answer(c);
      if (r.status.Success()) return OkStatus();
      return FailedPrecondition("tgtd: " + r.err);
    };
    auto b = MakeTgtBackend(options_, runner_, launcher_, fs_);
    ASSERT_TRUE(b) << b.error().message();
    backend_ = std::move(*b);
  }

  // Reconciles and expects every share to be served.
  void ReconcileOk(const std::vector<Share>& desired) {
    auto results = backend_->Reconcile(desired);
    ASSERT_EQ(results.size(), desired.size());
    for (size_t i = 0; i < results.size(); ++i) {
      EXPECT_EQ(results[i].id, desired[i].Id());
      EXPECT_TRUE(results[i].status) << results[i].id << ": " << results[i].status.error().message();
    }
  }
  std::vector<std::string> TakeMutations() { return std::exchange(model_.mutations, {}); }
  int TidOf(const std::string& iqn) {
    for (const auto& [tid, t] : model_.targets) {
      if (t.iqn == iqn) return tid;
    }
    return -1;
  }

  Model model_;
  FakeProcessRunner runner_;
  FakeLauncher launcher_{model_};
  FakeFs fs_;
  TgtOptions options_;
  std::unique_ptr<Backend> backend_;
};

// issue 17 item 5: the CHAP secret goes to tgtd over its management socket,
// never on a tgtadm command line (readable in /proc/PID/cmdline).
TEST_F(TgtBackendTest, ChapSecretNeverOnACommandLine) {
  Share a = IscsiShare("tank/a", 1, kIqnA, 1);
  Def(a).chap_user = "alice";
  Def(a).chap_secret = "secretsecret12";
  ReconcileOk({a});
  EXPECT_EQ(model_.accounts["alice"], "secretsecret12");
  for (const auto& c : runner_.calls()) {
    for (const auto& arg : c.args) EXPECT_THAT(arg, Not(HasSubstr("secretsecret12"))) << c.ToString();
  }
}

// issue 17 item 4: a LUN file the filesystem check refuses (a symlink swapped
// in by a client of the dataset) fails its share with the reason, and the LUN
// served from it before is removed.
TEST_F(TgtBackendTest, RefusedLunFileFailsTheShareAndRemovesItsLun) {
  Share a = IscsiShare("tank/a", 1, kIqnA, 1);
  ReconcileOk({a});
  ASSERT_EQ(model_.targets[TidOf(kIqnA)].luns.size(), 1u);
  fs_.links.insert("/mnt/tank/a/lun.img");
  auto results = backend_->Reconcile({a});
  ASSERT_FALSE(results[0].status);
  EXPECT_THAT(results[0].status.error().message(), HasSubstr("is a symbolic link"));
  for (const auto& [tid, t] : model_.targets) EXPECT_TRUE(t.luns.empty()) << t.iqn;
}

// issue 17 item 4 (the check-to-open window): the LUN file passed its check,
// then was swapped before tgtd opened it by path; the file tgtd holds is not
// the checked one, so the LU is deleted again and the share fails.
TEST_F(TgtBackendTest, ALunFileSwappedBetweenCheckAndOpenIsRemovedAgain) {
  Share a = IscsiShare("tank/a", 1, kIqnA, 1);
  fs_.swapped.insert("/mnt/tank/a/lun.img");
  auto results = backend_->Reconcile({a});
  ASSERT_FALSE(results[0].status) << "a LUN tgtd opened through a swapped path is served";
  EXPECT_THAT(results[0].status.error().message(),
              HasSubstr("'/mnt/tank/a/lun.img' was replaced between its check and tgtd's open"));
  for (const auto& [tid, t] : model_.targets) EXPECT_TRUE(t.luns.empty()) << t.iqn;
  fs_.swapped.clear();
  ReconcileOk({a});
  EXPECT_EQ(model_.targets[TidOf(kIqnA)].luns.size(), 1u);
}

TEST(TgtOptionsTest, RefusesBadOptionsNamingThem) {
  FakeProcessRunner runner;
  Model model;
  FakeLauncher launcher(model);
  FakeFs fs;
  TgtOptions o;
  o.tgtadm_path = "tgtadm";
  EXPECT_THAT(MakeTgtBackend(o, runner, launcher, fs).error().message(), HasSubstr("'tgtadm' is not absolute"));
  o = TgtOptions{};
  o.control_port = 0;
  EXPECT_THAT(MakeTgtBackend(o, runner, launcher, fs).error().message(), HasSubstr("control port 0"));
  o = TgtOptions{};
  o.portal = "127.0.0.1";
  EXPECT_THAT(MakeTgtBackend(o, runner, launcher, fs).error().message(), HasSubstr("portal '127.0.0.1'"));
  o.portal = "[::1]:3260";
  EXPECT_TRUE(MakeTgtBackend(o, runner, launcher, fs));
  EXPECT_TRUE(runner.calls().empty());
}

TEST_F(TgtBackendTest, FirstReconcileStartsTgtdAndConfiguresTargetLunIdentityAndAcl) {
  Share s = IscsiShare("tank/a", 0x0123456789ABCDEFull, kIqnA, 1);
  Def(s).initiators = {{"127.0.0.1"}, {"iqn.2026-11.org.example:host1"}};
  ReconcileOk({s});

  ASSERT_EQ(launcher_.launches.size(), 1u);
  EXPECT_EQ(launcher_.launches[0].program, "/usr/sbin/tgtd");
  EXPECT_THAT(launcher_.launches[0].args, ElementsAre("-f", "-C", "37", "--iscsi", "portal=127.0.0.1:13260"));
  EXPECT_EQ(launcher_.log_paths[0], "/state/tgt/tgtd.log");
  EXPECT_THAT(fs_.dirs, ElementsAre("/state/tgt"));
  for (const auto& c : runner_.calls()) {
    EXPECT_EQ(c.program, "/usr/sbin/tgtadm");
    ASSERT_GE(c.args.size(), 4u);
    EXPECT_THAT(std::vector<std::string>(c.args.begin(), c.args.begin() + 4), ElementsAre("-C", "37", "--lld", "iscsi"));
  }
  int tid = TidOf(kIqnA);
  ASSERT_GT(tid, 0);
  std::string t = std::to_string(tid);
  EXPECT_THAT(TakeMutations(),
              ElementsAre("target new tid=" + t + " targetname=" + kIqnA,
                          "target bind tid=" + t + " initiator-address=127.0.0.1",
                          "target bind tid=" + t + " initiator-name=iqn.2026-11.org.example:host1",
                          "logicalunit new tid=" + t + " lun=1 backing-store=/mnt/tank/a/lun.img",
                          "logicalunit update tid=" + t +
                              " lun=1 params=scsi_id=pk60014050123456789abcdef000000000,scsi_sn=PK0123456789ABCDEF,readonly=0"));
  auto served = backend_->Served();
  ASSERT_TRUE(served);
  EXPECT_THAT(*served, ElementsAre("iscsi:tank/a"));
  EXPECT_TRUE(backend_->Health());
}

TEST_F(TgtBackendTest, ReconcileIsIdempotent) {
  Share a = IscsiShare("tank/a", 1, kIqnA, 1);
  Def(a).chap_user = "alice";
  Def(a).chap_secret = "secretsecret12";
  ReconcileOk({a});
  TakeMutations();
  ReconcileOk({a});
  EXPECT_THAT(TakeMutations(), IsEmpty());
  EXPECT_EQ(launcher_.launches.size(), 1u);
}

TEST_F(TgtBackendTest, SeveralDatasetsShareOneTargetWithTheirOwnLuns) {
  Share a = IscsiShare("tank/a", 1, kIqnA, 1);
  Share b = IscsiShare("tank/b", 2, kIqnA, 2);
  ReconcileOk({a, b});
  ASSERT_EQ(model_.targets.size(), 1u);
  const auto& target = model_.targets.begin()->second;
  ASSERT_EQ(target.luns.size(), 2u);
  EXPECT_EQ(target.luns.at(1).path, "/mnt/tank/a/lun.img");
  EXPECT_EQ(target.luns.at(2).path, "/mnt/tank/b/lun.img");
  EXPECT_EQ(target.luns.at(2).scsi_sn, IdentityFor(2).serial);
  EXPECT_THAT(target.acls, ElementsAre("ALL"));
  auto served = backend_->Served();
  ASSERT_TRUE(served);
  EXPECT_THAT(*served, ElementsAre("iscsi:tank/a", "iscsi:tank/b"));
}

TEST_F(TgtBackendTest, ChangesOfReadOnlyAclChapAndBackingTakeEffect) {
  Share a = IscsiShare("tank/a", 1, kIqnA, 1);
  ReconcileOk({a});
  std::string t = std::to_string(TidOf(kIqnA));
  TakeMutations();

  Def(a).read_only = true;
  ReconcileOk({a});
  EXPECT_THAT(TakeMutations(), ElementsAre("logicalunit update tid=" + t + " lun=1 params=scsi_id=pk"
                                           "60014050000000000000001000000000,scsi_sn=PK0000000000000001,readonly=1"));

  // Bind the new ACL before unbinding the old: never a moment without an ACL.
  Def(a).initiators = {{"10.1.0.0/16"}};
  ReconcileOk({a});
  EXPECT_THAT(TakeMutations(), ElementsAre("target bind tid=" + t + " initiator-address=10.1.0.0/16",
                                           "target unbind tid=" + t + " initiator-address=ALL"));

  Def(a).chap_user = "alice";
  Def(a).chap_secret = "secretsecret12";
  ReconcileOk({a});
  EXPECT_THAT(TakeMutations(), ElementsAre("account new user=alice", "account bind tid=" + t + " user=alice"));
  EXPECT_EQ(model_.accounts.at("alice"), "secretsecret12");

  Def(a).chap_secret = "othersecret123";
  ReconcileOk({a});
  EXPECT_THAT(TakeMutations(), ElementsAre("account delete user=alice", "account new user=alice",
                                           "account bind tid=" + t + " user=alice"));
  EXPECT_EQ(model_.accounts.at("alice"), "othersecret123");

  Def(a).chap_user.clear();
  Def(a).chap_secret.clear();
  ReconcileOk({a});
  EXPECT_THAT(TakeMutations(), ElementsAre("account delete user=alice"));
  EXPECT_THAT(model_.targets.at(TidOf(kIqnA)).accounts, IsEmpty());

  Def(a).file = "disk2.img";
  ReconcileOk({a});
  EXPECT_THAT(TakeMutations(), ElementsAre("logicalunit delete tid=" + t + " lun=1",
                                           "logicalunit new tid=" + t + " lun=1 backing-store=/mnt/tank/a/disk2.img",
                                           "logicalunit update tid=" + t + " lun=1 params=scsi_id=pk"
                                           "60014050000000000000001000000000,scsi_sn=PK0000000000000001,readonly=1"));
}

TEST_F(TgtBackendTest, VolumeSharesUseTheDeviceItself) {
  Share v = IscsiShare("tank/vol", 7, kIqnA, 3);
  v.volume = true;
  v.path = "/dev/zvol/tank/vol";
  ReconcileOk({v});
  EXPECT_EQ(model_.targets.at(TidOf(kIqnA)).luns.at(3).path, "/dev/zvol/tank/vol");
}

TEST_F(TgtBackendTest, RemovedSharesLoseTheirLunAndEmptiedTargetsAreForceDeleted) {
  Share a = IscsiShare("tank/a", 1, kIqnA, 1);
  Share b = IscsiShare("tank/b", 2, kIqnA, 2);
  Share c = IscsiShare("tank/c", 3, kIqnB, 1);
  ReconcileOk({a, b, c});
  std::string ta = std::to_string(TidOf(kIqnA)), tb = std::to_string(TidOf(kIqnB));
  model_.targets.at(TidOf(kIqnB)).sessions = 1;  // an initiator is logged in
  TakeMutations();

  ReconcileOk({a});
  EXPECT_THAT(TakeMutations(), ElementsAre("target delete tid=" + tb + " force", "logicalunit delete tid=" + ta + " lun=2"));
  auto served = backend_->Served();
  ASSERT_TRUE(served);
  EXPECT_THAT(*served, ElementsAre("iscsi:tank/a"));

  ReconcileOk({});
  EXPECT_THAT(TakeMutations(), ElementsAre("target delete tid=" + ta + " force"));
  EXPECT_TRUE(model_.targets.empty());
  EXPECT_TRUE(model_.up);  // the server may stay up
}

TEST_F(TgtBackendTest, ATargetWithCommandsInFlightLosesItsAclAndSessionsThenGoes) {
  Share a = IscsiShare("tank/a", 1, kIqnA, 1);
  ReconcileOk({a});
  auto& target = model_.targets.at(TidOf(kIqnA));
  target.sessions = 2;
  target.busy = true;
  std::string t = std::to_string(TidOf(kIqnA));
  TakeMutations();
  ReconcileOk({});
  EXPECT_THAT(TakeMutations(), ElementsAre("target delete tid=" + t + " force",  // refused: still active
                                           "target unbind tid=" + t + " initiator-address=ALL",
                                           "conn delete tid=" + t + " sid=1 cid=0", "conn delete tid=" + t + " sid=2 cid=0",
                                           "target delete tid=" + t + " force"));
  EXPECT_TRUE(model_.targets.empty());
}

TEST_F(TgtBackendTest, ATgtdAlreadyOnTheControlPortIsAdoptedAndReconciled) {
  // Left by an earlier Poolkeeper that was killed: its targets are ours.
  model_.up = true;
  model_.targets[9].iqn = kIqnB;
  Share a = IscsiShare("tank/a", 1, kIqnA, 1);
  ReconcileOk({a});
  EXPECT_TRUE(launcher_.launches.empty());
  EXPECT_EQ(TidOf(kIqnB), -1);
  EXPECT_GT(TidOf(kIqnA), 0);
  EXPECT_TRUE(backend_->Health());
  ASSERT_TRUE(backend_->Stop());
  EXPECT_FALSE(model_.up);
  EXPECT_FALSE(backend_->Health());
}

TEST_F(TgtBackendTest, EmptyDesiredDoesNotStartTgtd) {
  ReconcileOk({});
  EXPECT_TRUE(launcher_.launches.empty());
  EXPECT_FALSE(backend_->Health());
}

TEST_F(TgtBackendTest, TargetIdsAreStableForTheBackendsLife) {
  Share a = IscsiShare("tank/a", 1, kIqnA, 1);
  Share b = IscsiShare("tank/b", 2, kIqnB, 1);
  ReconcileOk({a, b});
  int tid_a = TidOf(kIqnA), tid_b = TidOf(kIqnB);
  EXPECT_NE(tid_a, tid_b);
  ReconcileOk({b});
  ReconcileOk({b, a});
  EXPECT_EQ(TidOf(kIqnA), tid_a);
  EXPECT_EQ(TidOf(kIqnB), tid_b);
}

TEST_F(TgtBackendTest, SharesOfOneTargetThatDisagreeOnAclOrChapAreRefusedNotWidened) {
  Share a = IscsiShare("tank/a", 1, kIqnA, 1);
  Def(a).initiators = {{"127.0.0.1"}};
  Share b = IscsiShare("tank/b", 2, kIqnA, 2);  // ALL
  Share c = IscsiShare("tank/c", 3, kIqnA, 3);
  Def(c).initiators = {{"127.0.0.1"}};
  Def(c).chap_user = "carol";
  Def(c).chap_secret = "secretsecret12";
  Share d = IscsiShare("tank/d", 4, kIqnA, 1);  // LUN 1 again
  Def(d).initiators = {{"127.0.0.1"}};
  auto results = backend_->Reconcile({a, b, c, d});
  ASSERT_EQ(results.size(), 4u);
  EXPECT_TRUE(results[0].status);
  ASSERT_FALSE(results[1].status);
  EXPECT_EQ(results[1].status.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(results[1].status.error().message(), HasSubstr("initiator ACL of iscsi:tank/a"));
  ASSERT_FALSE(results[2].status);
  EXPECT_THAT(results[2].status.error().message(), HasSubstr("CHAP"));
  ASSERT_FALSE(results[3].status);
  EXPECT_THAT(results[3].status.error().message(), HasSubstr("LUN 1 of target " + std::string(kIqnA) + " is already share iscsi:tank/a"));
  const auto& target = model_.targets.at(TidOf(kIqnA));
  EXPECT_THAT(target.acls, ElementsAre("127.0.0.1"));
  EXPECT_EQ(target.luns.size(), 1u);
  EXPECT_TRUE(model_.accounts.empty());
}

TEST_F(TgtBackendTest, OneChapUserWithTwoSecretsFailsTheLaterTarget) {
  Share a = IscsiShare("tank/a", 1, kIqnA, 1);
  Def(a).chap_user = "alice";
  Def(a).chap_secret = "secretsecret12";
  Share b = IscsiShare("tank/b", 2, kIqnB, 1);
  Def(b).chap_user = "alice";
  Def(b).chap_secret = "othersecret123";
  auto results = backend_->Reconcile({a, b});
  EXPECT_TRUE(results[0].status);
  ASSERT_FALSE(results[1].status);
  EXPECT_THAT(results[1].status.error().message(), HasSubstr("one secret per user"));
  EXPECT_EQ(TidOf(kIqnB), -1);
}

TEST_F(TgtBackendTest, ATargetWhoseSharesAllFailStopsServingItsEarlierDefinition) {
  Share a = IscsiShare("tank/a", 1, kIqnA, 1);
  Def(a).chap_user = "alice";
  Def(a).chap_secret = "secretsecret12";
  Share b = IscsiShare("tank/b", 2, kIqnB, 1);
  ReconcileOk({a, b});
  std::string tb = std::to_string(TidOf(kIqnB));
  TakeMutations();
  Def(b).chap_user = "alice";
  Def(b).chap_secret = "othersecret123";
  auto results = backend_->Reconcile({a, b});
  EXPECT_TRUE(results[0].status);
  EXPECT_FALSE(results[1].status);
  EXPECT_THAT(TakeMutations(), ElementsAre("target delete tid=" + tb + " force"));
  EXPECT_EQ(TidOf(kIqnB), -1);
}

TEST_F(TgtBackendTest, TgtdFoundDeadIsRestartedAndEverythingReapplied) {
  Share a = IscsiShare("tank/a", 1, kIqnA, 1);
  Def(a).chap_user = "alice";
  Def(a).chap_secret = "secretsecret12";
  ReconcileOk({a});
  int tid = TidOf(kIqnA);
  // tgtd crashes: its configuration is gone with it.
  model_.up = false;
  model_.targets.clear();
  model_.accounts.clear();
  EXPECT_FALSE(backend_->Health());
  TakeMutations();

  ReconcileOk({a});
  EXPECT_EQ(launcher_.launches.size(), 2u);
  std::string t = std::to_string(tid);
  EXPECT_EQ(TidOf(kIqnA), tid);
  EXPECT_THAT(TakeMutations(), ElementsAre("account new user=alice", "target new tid=" + t + " targetname=" + kIqnA,
                                           "target bind tid=" + t + " initiator-address=ALL",
                                           "account bind tid=" + t + " user=alice",
                                           "logicalunit new tid=" + t + " lun=1 backing-store=/mnt/tank/a/lun.img",
                                           "logicalunit update tid=" + t +
                                               " lun=1 params=scsi_id=pk60014050000000000000001000000000,scsi_sn="
                                               "PK0000000000000001,readonly=0"));
  EXPECT_TRUE(backend_->Health());
}

TEST_F(TgtBackendTest, StopForceDeletesTargetsThenAsksTgtdToExit) {
  Share a = IscsiShare("tank/a", 1, kIqnA, 1);
  ReconcileOk({a});
  model_.targets.at(TidOf(kIqnA)).sessions = 2;
  std::string t = std::to_string(TidOf(kIqnA));
  TakeMutations();
  ASSERT_TRUE(backend_->Stop());
  EXPECT_THAT(TakeMutations(), ElementsAre("target delete tid=" + t + " force", "sys delete"));
  EXPECT_EQ(launcher_.kills, 0);  // it exited by itself
  EXPECT_FALSE(backend_->Health());
  EXPECT_TRUE(backend_->Stop());  // idempotent
  EXPECT_THAT(TakeMutations(), IsEmpty());
}

TEST_F(TgtBackendTest, TgtdThatFellBackToOtherPortalsIsStoppedAndReported) {
  model_.portals = {"[::]:3260", "0.0.0.0:3260"};
  auto st = backend_->Start();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kUnavailable);
  EXPECT_THAT(st.error().message(), HasSubstr("could not listen on portal 127.0.0.1:13260"));
  EXPECT_THAT(st.error().message(), HasSubstr("Address already in use"));
  EXPECT_EQ(launcher_.kills, 1);
  auto results = backend_->Reconcile({IscsiShare("tank/a", 1, kIqnA, 1)});
  ASSERT_FALSE(results[0].status);
  EXPECT_THAT(results[0].status.error().message(), HasSubstr("could not listen"));
}

TEST_F(TgtBackendTest, ReadsTheCapturedPortalAndAccountLists) {
  // Answered from tests/data/tgt: the portal list matches the options, and
  // accounts no share wants (an incoming and an outgoing one) are deleted.
  runner_.Expect({"tgtadm", "-C", "37", "--lld", "iscsi", "--mode", "portal", "--op", "show"},
                 FakeProcessRunner::Exited(0, ReadGolden("tgt/portal-show-1.0.85.txt")));
  runner_.Expect({"tgtadm", "-C", "37", "--lld", "iscsi", "--mode", "account", "--op", "show"},
                 FakeProcessRunner::Exited(0, ReadGolden("tgt/account-show-1.0.85.txt")));
  model_.accounts = {{"chapuser", "secretsecret12"}, {"outu", "outsecret1234"}};
  ReconcileOk({IscsiShare("tank/a", 1, kIqnA, 1)});
  EXPECT_THAT(runner_.UnmetExpectations(), IsEmpty());
  auto mutations = TakeMutations();
  ASSERT_GE(mutations.size(), 2u);
  EXPECT_EQ(mutations[0], "account delete user=chapuser");
  EXPECT_EQ(mutations[1], "account delete user=outu");
  EXPECT_TRUE(model_.accounts.empty());
}

TEST_F(TgtBackendTest, AMissingBackingStoreIsNamed) {
  fs_.missing.insert("/mnt/tank/a/lun.img");
  auto results = backend_->Reconcile({IscsiShare("tank/a", 1, kIqnA, 1), IscsiShare("tank/b", 2, kIqnA, 2)});
  ASSERT_FALSE(results[0].status);
  EXPECT_EQ(results[0].status.error().code(), ErrorCode::kNotFound);
  EXPECT_THAT(results[0].status.error().message(),
              HasSubstr("share iscsi:tank/a: LUN file: open '/mnt/tank/a/lun.img': No such file or directory"));
  EXPECT_TRUE(results[1].status);
}

TEST_F(TgtBackendTest, ACommandFailureFailsOnlyItsShare) {
  Share a = IscsiShare("tank/a", 1, kIqnA, 1);
  Share b = IscsiShare("tank/b", 2, kIqnA, 2);
  runner_.Expect({"tgtadm", "-C", "37", "--lld", "iscsi", "--mode", "logicalunit", "--op", "new", "--tid"},
                 [this](const sys::Command& c) -> Result<sys::ProcessResult> {
                   if (std::find(c.args.begin(), c.args.end(), "/mnt/tank/a/lun.img") != c.args.end()) {
                     return FakeProcessRunner::Exited(22, "", "tgtadm: invalid request\n");
                   }
                   return model_.Answer(c);
                 },
                 FakeProcessRunner::Times::kAlways);
  auto results = backend_->Reconcile({a, b});
  ASSERT_FALSE(results[0].status);
  EXPECT_THAT(results[0].status.error().message(),
              HasSubstr("share iscsi:tank/a: add LUN 1 of target " + std::string(kIqnA) +
                        " (backing /mnt/tank/a/lun.img): tgtadm exited 22: tgtadm: invalid request"));
  EXPECT_TRUE(results[1].status);
  auto served = backend_->Served();
  ASSERT_TRUE(served);
  EXPECT_THAT(*served, ElementsAre("iscsi:tank/b"));
}


// The NAA a share promises (IdentityFor) is the one tgt presents for its
// scsi_id, and the one LIO derives from the serial: one identity on both.
TEST(TgtNaaTest, TgtPresentsTheIdentityNaaWhichIsLios) {
  for (uint64_t guid : {1ULL, 0x1234'5678'9ABC'DEF0ULL, ~0ULL}) {
    IscsiIdentity id = IdentityFor(guid);
    EXPECT_EQ(TgtNaaFor(id.scsi_id), id.naa) << guid;
    EXPECT_EQ(LioNaaFor(id.serial), id.naa) << guid;
    EXPECT_LE(id.scsi_id.size(), 36u) << "tgt's SCSI_ID_LEN";
  }
}

}  // namespace
}  // namespace pk::share
