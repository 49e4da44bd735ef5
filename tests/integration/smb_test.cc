// The SMB backend against a real smbd (private configuration, loopback, a
// high port) serving zfs-fuse datasets of a lab pool, with smbclient (SMB3)
// as the client and a Unix user created (and removed) by the test.
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <optional>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "share/smb_samba.h"
#include "sys/daemon_launcher.h"
#include "sys/files.h"
#include "tests/integration/lab.h"

namespace pk::integration {
namespace {

using ::testing::HasSubstr;

constexpr char kPassword[] = "Pk-smb-pass1";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

class SmbTest : public LabTest {
 protected:
  void SetUp() override {
    LabTest::SetUp();
    if (HasFatalFailure()) return;
    std::string pid = std::to_string(::getpid());
    root_ = lab_dir() + "/smb-it-" + pid;
    options_.root_dir = root_ + "/samba";
    options_.port = static_cast<uint16_t>(20000 + ::getpid() % 10000);
    options_.netbios_name = "PKIT";
    user_name_ = "pksmb" + pid;
    auto user = sys::AccountName::Parse(user_name_, sys::AccountKind::kUser);
    ASSERT_TRUE(user) << user.error().ToString();
    user_.emplace(*user);
    auto added = RunOk("/usr/sbin/useradd", {"-M", "-s", "/usr/sbin/nologin", user_name_});
    ASSERT_TRUE(added) << added.error().ToString();
    user_created_ = true;
    auto backend = share::MakeSambaBackend(options_, runner(), *launcher_, *fs_);
    ASSERT_TRUE(backend) << backend.error().ToString();
    backend_ = std::move(*backend);
    auto set = share::SetSmbPassword(options_, runner(), *fs_, *user_, kPassword);
    ASSERT_TRUE(set) << set.error().ToString();
  }

  // smbd, the user, the passdb and the files go whether the test passed or
  // not, before the lab destroys the pools.
  void TearDown() override {
    if (backend_) {
      auto st = backend_->Stop();
      EXPECT_TRUE(st) << st.error().ToString();
      backend_.reset();
    }
    if (user_created_) {
      if (user_) (void)share::RemoveSmbUser(options_, runner(), *fs_, *user_);
      auto removed = RunOk("/usr/sbin/userdel", {user_name_});
      EXPECT_TRUE(removed) << removed.error().ToString();
    }
    if (!root_.empty()) (void)runner().Run({.program = "/bin/rm", .args = {"-rf", "--", root_}, .env = {}});
    LabTest::TearDown();
  }

  share::Share MakeShare(const zfs::PoolName& pool, const std::string& leaf, const std::string& name,
                         std::vector<std::string> valid_users) {
    auto ds = Ds(pool.str() + "/" + leaf);
    std::string mnt = MountDir(pool.str() + "-" + leaf);
    auto created = zfs().CreateDataset(ds, {Assign("mountpoint=" + mnt)}, zfs::CreateParents::kNo);
    EXPECT_TRUE(created) << created.error().ToString();
    auto owned = RunOk("/bin/chown", {user_name_, mnt});
    EXPECT_TRUE(owned) << owned.error().ToString();
    auto got = zfs().GetDataset(ds.str(), {"guid", "mountpoint"});
    EXPECT_TRUE(got) << got.error().ToString();
    share::Share s;
    s.pool = pool.str();
    s.dataset = ds.str();
    s.guid = got ? std::stoull(got->Get("guid")) : 0;
    s.path = got ? got->Get("mountpoint") : mnt;
    s.definition = share::SmbDefinition{.name = name, .read_only = false, .valid_users = std::move(valid_users)};
    return s;
  }

  // smbclient against `share` with `password`; returns the result (test fails if it did not run).
  sys::ProcessResult SmbClient(const std::string& share, const std::string& password, const std::string& commands) {
    sys::Command c{.program = "/usr/bin/smbclient",
                   .args = {"//127.0.0.1/" + share, "-p", std::to_string(options_.port), "-U",
                            user_name_ + "%" + password, "-m", "SMB3", "--configfile=/dev/null", "-c", commands},
                   .env = sys::DefaultToolEnvironment()};
    c.timeout = std::chrono::seconds(120);
    auto r = runner().Run(c);
    EXPECT_TRUE(r) << r.error().ToString();
    if (!r) return {};
    std::fprintf(stderr, "[ smb      ] //127.0.0.1/%s -c '%s' -> %s %s%s", share.c_str(), commands.c_str(),
                 r->status.ToString().c_str(), r->out.c_str(), r->err.c_str());
    return *r;
  }

  std::unique_ptr<sys::DaemonLauncher> launcher_ = sys::MakePosixDaemonLauncher();
  std::unique_ptr<sys::FileSystem> fs_ = sys::MakeRealFileSystem();
  share::SambaOptions options_;
  std::unique_ptr<share::Backend> backend_;
  std::optional<sys::AccountName> user_;
  std::string root_, user_name_;
  bool user_created_ = false;
};

TEST_F(SmbTest, PutGetWrongPasswordValidUsersAndRemoval) {
  auto pool = MustCreatePool({NewDisk()});
  auto open = MakeShare(pool, "open", "pkdata", {user_name_});
  auto others = MakeShare(pool, "others", "pkothers", {"root"});
  ASSERT_FALSE(HasFailure());

  auto results = backend_->Reconcile({open, others});
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results) ASSERT_TRUE(r.status) << r.id << ": " << r.status.error().ToString();
  auto served = backend_->Served();
  ASSERT_TRUE(served) << served.error().ToString();
  EXPECT_THAT(*served, ::testing::UnorderedElementsAre(open.Id(), others.Id()));
  auto health = backend_->Health();
  EXPECT_TRUE(health) << health.error().ToString();

  // 24 MiB of random bytes up and back down, byte-identical.
  std::string local = root_ + "/up.bin", back = root_ + "/back.bin";
  {
    std::mt19937_64 rng(7);
    std::string data(24u << 20, '\0');
    for (size_t i = 0; i < data.size(); i += 8) {
      uint64_t w = rng();
      std::memcpy(data.data() + i, &w, 8);
    }
    auto st = WriteFileSynced(local, data);
    ASSERT_TRUE(st) << st.error().ToString();
  }
  auto r = SmbClient("pkdata", kPassword, "put " + local + " up.bin; get up.bin " + back);
  EXPECT_TRUE(r.status.Success());
  EXPECT_EQ(ReadAll(back).size(), 24u << 20);
  EXPECT_TRUE(ReadAll(back) == ReadAll(local)) << "downloaded file differs";
  EXPECT_TRUE(PathExists(open.path + "/up.bin"));

  // A wrong password is refused.
  r = SmbClient("pkdata", "wrong-password", "ls");
  EXPECT_FALSE(r.status.Success());
  EXPECT_THAT(r.out + r.err, HasSubstr("NT_STATUS_LOGON_FAILURE"));

  // A share whose valid users exclude the user is refused.
  r = SmbClient("pkothers", kPassword, "ls");
  EXPECT_FALSE(r.status.Success());
  EXPECT_THAT(r.out + r.err, HasSubstr("NT_STATUS_ACCESS_DENIED"));

  // Reconcile unchanged: idempotent.
  results = backend_->Reconcile({open, others});
  for (const auto& res : results) EXPECT_TRUE(res.status) << res.id << ": " << res.status.error().ToString();

  // Remove the open share (live reload): it is gone, the other is still listed.
  results = backend_->Reconcile({others});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].status) << results[0].status.error().ToString();
  r = SmbClient("pkdata", kPassword, "ls");
  EXPECT_FALSE(r.status.Success());
  EXPECT_THAT(r.out + r.err, HasSubstr("NT_STATUS_BAD_NETWORK_NAME"));
  // smbd (still running for the other share) does not keep the removed share's dataset busy.
  auto destroyed = RetryWhileBusy("destroy open", [&] { return zfs().DestroyDataset(Ds(open.dataset), zfs::Recursive::kYes); });
  EXPECT_TRUE(destroyed) << destroyed.error().ToString();

  // Nothing desired: smbd is stopped.
  results = backend_->Reconcile({});
  EXPECT_TRUE(results.empty());
  served = backend_->Served();
  ASSERT_TRUE(served);
  EXPECT_TRUE(served->empty());
  EXPECT_FALSE(backend_->Health());
}

TEST_F(SmbTest, NameCollisionAndUnsafePathRefusedOthersServed) {
  auto pool = MustCreatePool({NewDisk()});
  auto a = MakeShare(pool, "a", "pkshare", {});
  auto b = MakeShare(pool, "b", "PKSHARE", {});
  ASSERT_FALSE(HasFailure());
  share::Share bad = a;
  bad.dataset = pool.str() + "/bad";
  bad.path = a.path + "/%u";
  std::get<share::SmbDefinition>(bad.definition).name = "pkbad";

  auto results = backend_->Reconcile({a, b, bad});
  ASSERT_EQ(results.size(), 3u);
  EXPECT_TRUE(results[0].status) << results[0].status.error().ToString();
  ASSERT_FALSE(results[1].status);
  EXPECT_EQ(results[1].status.error().code(), ErrorCode::kAlreadyExists);
  ASSERT_FALSE(results[2].status);
  EXPECT_EQ(results[2].status.error().code(), ErrorCode::kInvalidArgument);
  auto r = SmbClient("pkshare", kPassword, "ls");
  EXPECT_TRUE(r.status.Success());
}

}  // namespace
}  // namespace pk::integration
