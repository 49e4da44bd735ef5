// The LIO backend against FakeConfigFs with the kernel's behaviour that
// matters here emulated by hooks: the children configfs makes with each
// directory, an object's serial refused while a LUN exports it, an object
// that cannot be removed while linked. The real kernel is exercised in the
// OpenZFS guest (tests/integration/share_kernel_test.cc, LioTest).
#include "share/iscsi_lio.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "testing/fake_configfs.h"
#include "testing/fake_process_runner.h"

namespace pk::share {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using pk::testing::FakeConfigFs;
using pk::testing::FakeProcessRunner;

constexpr char kRoot[] = "/cfg";
constexpr char kIscsi[] = "/cfg/target/iscsi";
constexpr char kIqnA[] = "iqn.2026-11.org.poolkeeper:tank.a";
constexpr char kIqnB[] = "iqn.2026-11.org.poolkeeper:tank.b";
constexpr char kHost1[] = "iqn.2026-11.org.example:host1";
constexpr uint64_t kGuidA = 0x0123456789ABCDEFull;
constexpr uint64_t kGuidB = 0x00000000DEADBEEFull;

bool EndsWithDir(const std::string& path, std::string_view parent) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return false;
  auto up = path.rfind('/', slash - 1);
  return up != std::string::npos && path.substr(up + 1, slash - up - 1) == parent;
}

// Emulates what LIO's configfs makes and refuses.
void EmulateLio(FakeConfigFs& cfs) {
  cfs.on_mkdir = [](const std::string& path) -> Result<std::vector<std::string>> {
    if (path == kIscsi) return std::vector<std::string>{"discovery_auth/", "lio_version=v4.1.0"};
    if (EndsWithDir(path, "iscsi")) return std::vector<std::string>{"fabric_statistics/"};
    if (path.find("/tpgt_") != std::string::npos && path.rfind('/') == path.find("/tpgt_")) {
      return std::vector<std::string>{"acls/", "attrib/authentication=0", "attrib/generate_node_acls=0",
                                      "attrib/demo_mode_write_protect=1", "attrib/cache_dynamic_acls=0",
                                      "auth/userid=", "auth/password=", "lun/", "np/",
                                      "param/TargetAlias=LIO Target", "enable=0"};
    }
    if (EndsWithDir(path, "acls")) {
      return std::vector<std::string>{"attrib/", "auth/userid=", "auth/password=", "param/", "info="};
    }
    if (path.find("/acls/") != std::string::npos && path.rfind("/lun_") != std::string::npos) {
      return std::vector<std::string>{"write_protect=0"};
    }
    if (EndsWithDir(path, "lun")) return std::vector<std::string>{"alua_tg_pt_gp=", "statistics/"};
    if (EndsWithDir(path, "np")) return std::vector<std::string>{"iser=0"};
    if (EndsWithDir(path, "core")) return std::vector<std::string>{"hba_info=", "hba_mode=0"};
    if (path.find("/core/") != std::string::npos) {
      return std::vector<std::string>{"control=", "enable=0", "udev_path=", "info=Status: DEACTIVATED readonly: 0",
                                      "attrib/", "pr/", "alua/", "statistics/",
                                      "wwn/vpd_unit_serial=T10 VPD Unit Serial Number: random\n",
                                      "wwn/company_id=0x1405"};
    }
    return std::vector<std::string>{};
  };
  // Links to a directory, anywhere under target/iscsi.
  auto linked = [&cfs](const std::string& dir) {
    for (const auto& p : cfs.PathsUnder(kIscsi)) {
      auto kind = cfs.KindOf(p);
      if (kind && *kind == sys::ConfigFs::Kind::kLink && *cfs.ReadLink(p) == dir) return true;
    }
    return false;
  };
  cfs.on_write = [&cfs, linked](const std::string& path, const std::string& value) -> Status {
    if (path.ends_with("/wwn/vpd_unit_serial")) {
      std::string object = path.substr(0, path.size() - 20);
      if (linked(object)) return InvalidArgument("write 'vpd_unit_serial': Invalid argument (exported)");
    }
    if (path.ends_with("/control") && value.starts_with("readonly=")) {
      std::string object = path.substr(0, path.size() - 8);
      cfs.AddKernelAttribute(object + "/info", "Status: DEACTIVATED readonly: " + value.substr(9));
    }
    return OkStatus();
  };
  cfs.on_rmdir = [linked](const std::string& path) -> Status {
    if (path.find("/core/") != std::string::npos && linked(path)) {
      return FailedPrecondition("rmdir '" + path + "': Device or resource busy");
    }
    return OkStatus();
  };
}

Share Volume(const std::string& dataset, uint64_t guid, const std::string& iqn, int lun) {
  IscsiDefinition def;
  def.iqn = *Iqn::Parse(iqn);
  def.lun = lun;
  return Share{.pool = dataset.substr(0, dataset.find('/')),
               .dataset = dataset,
               .guid = guid,
               .path = "/dev/zvol/" + dataset,
               .volume = true,
               .definition = def};
}
IscsiDefinition& Def(Share& s) { return std::get<IscsiDefinition>(s.definition); }

class FakeFs : public sys::FileSystem {
 public:
  Result<std::string> ReadFile(const std::string& path) override { return NotFound("read '" + path + "'"); }
  Status WriteFileAtomic(const std::string&, std::string_view, mode_t) override { return OkStatus(); }
  Result<bool> Exists(const std::string& path) override { return !missing.contains(path); }
  Status MakeDirs(const std::string&, mode_t) override { return OkStatus(); }
  Status Remove(const std::string&) override { return OkStatus(); }
  Status AppendDurably(const std::string&, std::string_view) override { return OkStatus(); }
  Status CreateSparseFile(const std::string&, uint64_t, mode_t) override { return OkStatus(); }
  Result<DeviceInfo> StatDevice(const std::string&) override { return DeviceInfo{.size_bytes = 64 << 20}; }
  std::set<std::string> missing;
  std::set<std::string> links;
  // The LUN file check (sys::StatRegularBeneath's fake).
  Result<sys::RegularFile> CheckLunFile(const std::string& dir, const std::string& name) const {
    if (links.contains(dir + "/" + name)) return FailedPrecondition("'" + dir + "/" + name + "' is a symbolic link");
    return sys::RegularFile{.size_bytes = 64 << 20};
  }
};

class LioBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cfs_.AddKernelDir(kRoot);
    EmulateLio(cfs_);
    // modprobe target_core_mod makes target/ and target/core/.
    runner_.Expect({"modprobe", "target_core_mod"}, [this](const sys::Command&) -> Result<sys::ProcessResult> {
      cfs_.AddKernelDir("/cfg/target/core");
      return FakeProcessRunner::Exited(0);
    }, FakeProcessRunner::Times::kAlways);
    options_.configfs_root = kRoot;
    options_.portal = "127.0.0.1:3260";
    options_.lun_file_check = [this](const std::string& d, const std::string& n) { return fs_.CheckLunFile(d, n); };
    auto b = MakeLioBackend(options_, cfs_, runner_, fs_);
    ASSERT_TRUE(b) << b.error().message();
    backend_ = std::move(*b);
  }

  void ReconcileOk(const std::vector<Share>& desired) {
    auto results = backend_->Reconcile(desired);
    ASSERT_EQ(results.size(), desired.size());
    for (size_t i = 0; i < results.size(); ++i) {
      EXPECT_EQ(results[i].id, desired[i].Id());
      EXPECT_TRUE(results[i].status) << results[i].id << ": " << results[i].status.error().message();
    }
  }
  static std::string Tpg(const std::string& iqn) { return std::string(kIscsi) + "/" + iqn + "/tpgt_1"; }
  static std::string Object(uint64_t guid, const std::string& plugin = "iblock") {
    return fmt::format("/cfg/target/core/{}_7340/pk{:016x}", plugin, guid);
  }
  // Everything a caller made (not the kernel's children): what removal must clean.
  std::vector<std::string> Made() {
    std::vector<std::string> out;
    for (const auto& m : cfs_.mutations()) {
      if (m.starts_with("mkdir ") || m.starts_with("link ")) out.push_back(m);
    }
    return out;
  }

  FakeConfigFs cfs_;
  FakeProcessRunner runner_;
  FakeFs fs_;
  LioOptions options_;
  std::unique_ptr<Backend> backend_;
};

TEST(LioOptionsTest, RefusesBadOptionsNamingThem) {
  FakeConfigFs cfs;
  FakeProcessRunner runner;
  FakeFs fs;
  LioOptions o;
  o.configfs_root = "sys/kernel/config";
  EXPECT_THAT(MakeLioBackend(o, cfs, runner, fs).error().message(), HasSubstr("'sys/kernel/config' is not absolute"));
  o = LioOptions{};
  o.portal = "127.0.0.1";
  EXPECT_THAT(MakeLioBackend(o, cfs, runner, fs).error().message(), HasSubstr("portal '127.0.0.1'"));
  o = LioOptions{};
  o.alias = "pool keeper";
  EXPECT_THAT(MakeLioBackend(o, cfs, runner, fs).error().message(), HasSubstr("alias 'pool keeper'"));
  o = LioOptions{};
  o.portal = "[::]:3260";
  EXPECT_TRUE(MakeLioBackend(o, cfs, runner, fs));
  EXPECT_TRUE(runner.calls().empty());
  EXPECT_TRUE(cfs.mutations().empty());
}

TEST(LioNaaTest, DerivedFromTheSerialsHexDigitsAfterLiosCompanyId) {
  EXPECT_EQ(LioNaaFor("PK0123456789ABCDEF"), "0x60014050123456789abcdef000000000");
  EXPECT_EQ(IdentityFor(kGuidA).naa_lio, "0x60014050123456789abcdef000000000");
  EXPECT_EQ(LioNaaFor("PK0123456789ABCDEF").size(), 2u + 32u);
}

TEST_F(LioBackendTest, NothingWantedAndNothingLoadedTouchesNothing) {
  ReconcileOk({});
  EXPECT_TRUE(runner_.calls().empty());
  EXPECT_TRUE(cfs_.mutations().empty());
}

TEST_F(LioBackendTest, VolumeLunServedToEveryInitiatorWithTheDerivedSerial) {
  ReconcileOk({Volume("tank/a", kGuidA, kIqnA, 1)});
  ASSERT_EQ(runner_.calls().size(), 1u);
  EXPECT_EQ(runner_.calls()[0].program, "/usr/sbin/modprobe");

  const std::string obj = Object(kGuidA);
  EXPECT_EQ(cfs_.Value(obj + "/udev_path"), "/dev/zvol/tank/a");
  EXPECT_EQ(cfs_.Value(obj + "/enable"), "1");
  EXPECT_EQ(cfs_.Value(obj + "/wwn/vpd_unit_serial"), IdentityFor(kGuidA).serial);
  EXPECT_THAT(cfs_.mutations(), Contains("write " + obj + "/control=udev_path=/dev/zvol/tank/a"));
  EXPECT_THAT(cfs_.mutations(), Contains("write " + obj + "/control=readonly=0"));
  const std::string tpg = Tpg(kIqnA);
  EXPECT_EQ(cfs_.Value(tpg + "/param/TargetAlias"), "poolkeeper");
  EXPECT_TRUE(cfs_.Has(tpg + "/np/127.0.0.1:3260"));
  EXPECT_EQ(cfs_.Value(tpg + "/attrib/generate_node_acls"), "1");
  EXPECT_EQ(cfs_.Value(tpg + "/attrib/demo_mode_write_protect"), "0");
  EXPECT_EQ(cfs_.Value(tpg + "/attrib/authentication"), "0");
  EXPECT_EQ(*cfs_.ReadLink(tpg + "/lun/lun_1/pk0123456789abcdef"), obj);
  EXPECT_EQ(cfs_.Value(tpg + "/enable"), "1");
  // The serial went in before the LUN linked the object (the kernel refuses it after).
  auto& m = cfs_.mutations();
  auto serial_at = std::find(m.begin(), m.end(), "write " + obj + "/wwn/vpd_unit_serial=" + IdentityFor(kGuidA).serial);
  auto link_at = std::find_if(m.begin(), m.end(), [](const std::string& s) { return s.starts_with("link "); });
  EXPECT_LT(serial_at, link_at);
  EXPECT_THAT(*backend_->Served(), ElementsAre("iscsi:tank/a"));
}

TEST_F(LioBackendTest, ASecondReconcileOfTheSameSharesWritesNothing) {
  Share a = Volume("tank/a", kGuidA, kIqnA, 1);
  Share b = Volume("tank/b", kGuidB, kIqnA, 2);
  Def(a).initiators = {{kHost1}};
  Def(b).initiators = {{kHost1}};
  Def(a).chap_user = Def(b).chap_user = "vmhost";
  Def(a).chap_secret = Def(b).chap_secret = "0123456789abcd";
  ReconcileOk({a, b});
  cfs_.TakeMutations();
  ReconcileOk({a, b});
  EXPECT_THAT(cfs_.mutations(), IsEmpty());
}

TEST_F(LioBackendTest, NamedInitiatorsAndChapAreNodeAclsWithEveryLunMapped) {
  Share a = Volume("tank/a", kGuidA, kIqnA, 1);
  Share b = Volume("tank/b", kGuidB, kIqnA, 3);
  for (Share* s : {&a, &b}) {
    Def(*s).initiators = {{kHost1}};
    Def(*s).chap_user = "vmhost";
    Def(*s).chap_secret = "0123456789abcd";
  }
  ReconcileOk({a, b});
  const std::string tpg = Tpg(kIqnA);
  const std::string acl = tpg + "/acls/" + kHost1;
  EXPECT_EQ(cfs_.Value(tpg + "/attrib/generate_node_acls"), "0");
  EXPECT_EQ(cfs_.Value(tpg + "/attrib/authentication"), "1");
  EXPECT_EQ(cfs_.Value(acl + "/auth/userid"), "vmhost");
  EXPECT_EQ(cfs_.Value(acl + "/auth/password"), "0123456789abcd");
  EXPECT_EQ(*cfs_.ReadLink(acl + "/lun_1/lun"), tpg + "/lun/lun_1");
  EXPECT_EQ(*cfs_.ReadLink(acl + "/lun_3/lun"), tpg + "/lun/lun_3");
  // The credentials were in place before authentication and the ACL opened.
  auto& m = cfs_.mutations();
  auto secret_at = std::find(m.begin(), m.end(), "write " + acl + "/auth/password=0123456789abcd");
  auto auth_at = std::find(m.begin(), m.end(), "write " + tpg + "/attrib/authentication=1");
  auto enable_at = std::find(m.begin(), m.end(), "write " + tpg + "/enable=1");
  EXPECT_LT(secret_at, auth_at);
  EXPECT_LT(auth_at, enable_at);

  // Back to every initiator, no CHAP: demo mode on, the ACL gone, authentication off.
  Def(a).initiators = Def(b).initiators = {{"ALL"}};
  Def(a).chap_user = Def(b).chap_user = "";
  Def(a).chap_secret = Def(b).chap_secret = "";
  ReconcileOk({a, b});
  EXPECT_FALSE(cfs_.Has(acl));
  EXPECT_EQ(cfs_.Value(tpg + "/attrib/generate_node_acls"), "1");
  EXPECT_EQ(cfs_.Value(tpg + "/attrib/authentication"), "0");
}

TEST_F(LioBackendTest, AddressAclsAreRefusedNamingLioAndNothingIsCreated) {
  Share a = Volume("tank/a", kGuidA, kIqnA, 1);
  Def(a).initiators = {{"10.0.0.0/8"}, {kHost1}};
  auto results = backend_->Reconcile({a});
  ASSERT_EQ(results.size(), 1u);
  ASSERT_FALSE(results[0].status);
  EXPECT_EQ(results[0].status.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(results[0].status.error().message(), HasSubstr("LIO has no initiator address ACL ('10.0.0.0/8')"));
  EXPECT_THAT(results[0].status.error().message(), HasSubstr("iscsi:tank/a"));
  EXPECT_THAT(Made(), IsEmpty());
}

TEST_F(LioBackendTest, RemovalCleansConfigfsFully) {
  Share a = Volume("tank/a", kGuidA, kIqnA, 1);
  Share b = Volume("tank/b", kGuidB, kIqnB, 1);
  Def(b).initiators = {{kHost1}};
  Def(b).chap_user = "vmhost";
  Def(b).chap_secret = "0123456789abcd";
  ReconcileOk({a, b});
  ReconcileOk({a});
  EXPECT_FALSE(cfs_.Has(std::string(kIscsi) + "/" + kIqnB));
  EXPECT_FALSE(cfs_.Has(Object(kGuidB)));
  EXPECT_TRUE(cfs_.Has(Object(kGuidA)));
  EXPECT_THAT(*backend_->Served(), ElementsAre("iscsi:tank/a"));

  ASSERT_TRUE(backend_->Stop());
  // Only what the kernel made with its modules is left.
  EXPECT_THAT(cfs_.PathsUnder(std::string(kIscsi)), ElementsAre(kIscsi, std::string(kIscsi) + "/discovery_auth",
                                                               std::string(kIscsi) + "/lio_version"));
  EXPECT_THAT(cfs_.PathsUnder("/cfg/target/core"), ElementsAre("/cfg/target/core"));
  EXPECT_THAT(*backend_->Served(), IsEmpty());
}

TEST_F(LioBackendTest, ForeignTargetsAreNeverTouchedAndTheirIqnIsRefused) {
  cfs_.AddKernelDir("/cfg/target/core");
  ASSERT_TRUE(cfs_.MakeDir(kIscsi));
  ASSERT_TRUE(cfs_.MakeDir(std::string(kIscsi) + "/" + kIqnB));
  ASSERT_TRUE(cfs_.MakeDir(Tpg(kIqnB)));  // TargetAlias "LIO Target": targetcli's
  cfs_.TakeMutations();

  auto results = backend_->Reconcile({Volume("tank/b", kGuidB, kIqnB, 1), Volume("tank/a", kGuidA, kIqnA, 1)});
  ASSERT_EQ(results.size(), 2u);
  ASSERT_FALSE(results[0].status);
  EXPECT_THAT(results[0].status.error().message(), HasSubstr("is not Poolkeeper's"));
  EXPECT_TRUE(results[1].status);
  ASSERT_TRUE(backend_->Stop());
  EXPECT_TRUE(cfs_.Has(Tpg(kIqnB)));
  for (const auto& m : cfs_.mutations()) EXPECT_THAT(m, Not(HasSubstr(kIqnB)));
}

TEST_F(LioBackendTest, AChangedBackingRecreatesTheObjectWithTheSameSerial) {
  Share a = Volume("tank/a", kGuidA, kIqnA, 1);
  ReconcileOk({a});
  a.dataset = "tank/renamed";
  a.path = "/dev/zvol/tank/renamed";
  cfs_.TakeMutations();
  ReconcileOk({a});
  const std::string obj = Object(kGuidA);
  EXPECT_EQ(cfs_.Value(obj + "/udev_path"), "/dev/zvol/tank/renamed");
  EXPECT_EQ(cfs_.Value(obj + "/wwn/vpd_unit_serial"), IdentityFor(kGuidA).serial);
  EXPECT_THAT(cfs_.mutations(), Contains("rmdir " + obj));
  EXPECT_EQ(*cfs_.ReadLink(Tpg(kIqnA) + "/lun/lun_1/pk0123456789abcdef"), obj);
}

TEST_F(LioBackendTest, ReadOnlyIsTheBackstoresOnAVolumeAndRefusedForAFileInDemoMode) {
  Share a = Volume("tank/a", kGuidA, kIqnA, 1);
  Def(a).read_only = true;
  ReconcileOk({a});
  EXPECT_THAT(cfs_.mutations(), Contains("write " + Object(kGuidA) + "/control=readonly=1"));

  Share f{.pool = "tank", .dataset = "tank/f", .guid = kGuidB, .path = "/tank/f", .volume = false,
          .definition = IscsiDefinition{.iqn = *Iqn::Parse(kIqnB), .read_only = true}};
  auto results = backend_->Reconcile({a, f});
  ASSERT_EQ(results.size(), 2u);
  EXPECT_TRUE(results[0].status);
  ASSERT_FALSE(results[1].status);
  EXPECT_THAT(results[1].status.error().message(), HasSubstr("read-only LUN on a file needs named initiators"));

  // With a named initiator the file LUN is served through fileio, write-protected for it.
  Def(f).initiators = {{kHost1}};
  ReconcileOk({a, f});
  EXPECT_THAT(cfs_.mutations(), Contains("write " + Object(kGuidB, "fileio") +
                                         "/control=fd_dev_name=/tank/f/lun.img,fd_dev_size=67108864"));
  EXPECT_EQ(cfs_.Value(Tpg(kIqnB) + "/acls/" + kHost1 + "/lun_1/write_protect"), "1");
}

TEST_F(LioBackendTest, AMissingBackingStoreFailsThatShareOnlyAndLeavesNoObject) {
  fs_.missing.insert("/dev/zvol/tank/gone");
  auto results = backend_->Reconcile({Volume("tank/gone", kGuidB, kIqnB, 1), Volume("tank/a", kGuidA, kIqnA, 1)});
  ASSERT_EQ(results.size(), 2u);
  ASSERT_FALSE(results[0].status);
  EXPECT_EQ(results[0].status.error().code(), ErrorCode::kNotFound);
  EXPECT_THAT(results[0].status.error().message(), HasSubstr("backing store '/dev/zvol/tank/gone' does not exist"));
  EXPECT_TRUE(results[1].status);
  EXPECT_FALSE(cfs_.Has(Object(kGuidB)));
  EXPECT_FALSE(cfs_.Has(Tpg(kIqnB) + "/lun/lun_1"));
}

// issue 17 item 4: a path with ',' or a newline would inject parameters
// into configfs `control`; a LUN file swapped for a symlink is never served.
TEST_F(LioBackendTest, RefusesCommasNewlinesAndLinkedLunFiles) {
  EXPECT_TRUE(CheckLioParameterPath("/tank/f/lun.img"));
  EXPECT_EQ(CheckLioParameterPath("/tank/a,fd_dev_size=1/lun.img").error().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(CheckLioParameterPath("/tank/a\nudev_path=/dev/sda/lun.img"));

  IscsiDefinition def{.iqn = *Iqn::Parse(kIqnB), .initiators = {{kHost1}}};
  Share comma{.pool = "tank", .dataset = "tank/f", .guid = kGuidB, .path = "/tank/x,fd_dev_name=/dev/sda", .definition = def};
  auto results = backend_->Reconcile({comma});
  ASSERT_FALSE(results[0].status);
  EXPECT_THAT(results[0].status.error().message(), HasSubstr("contains ',' or a newline"));
  EXPECT_FALSE(cfs_.Has(Object(kGuidB, "fileio")));

  Share linked{.pool = "tank", .dataset = "tank/f", .guid = kGuidB, .path = "/tank/f", .definition = def};
  fs_.links.insert("/tank/f/lun.img");
  results = backend_->Reconcile({linked});
  ASSERT_FALSE(results[0].status);
  EXPECT_THAT(results[0].status.error().message(), HasSubstr("is a symbolic link"));
  EXPECT_FALSE(cfs_.Has(Object(kGuidB, "fileio")));
}

TEST_F(LioBackendTest, NoConfigfsIsUnavailableForEveryShare) {
  FakeConfigFs empty;
  auto b = MakeLioBackend(options_, empty, runner_, fs_);
  ASSERT_TRUE(b);
  auto results = (*b)->Reconcile({Volume("tank/a", kGuidA, kIqnA, 1)});
  ASSERT_FALSE(results[0].status);
  EXPECT_EQ(results[0].status.error().code(), ErrorCode::kUnavailable);
  EXPECT_THAT(results[0].status.error().message(), HasSubstr("configfs is not mounted at /cfg"));
}

}  // namespace
}  // namespace pk::share
