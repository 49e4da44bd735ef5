// The kernel NFS backend against a fake runner (exportfs) and real files in a
// temporary directory (the exports file, a stand-in for /proc/fs/nfsd/threads).
// Its run against the real kernel server is in the OpenZFS guest
// (tests/openzfs/guest-run, kernel NFS step).
#include "share/nfs_kernel.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "testing/fake_configfs.h"
#include "testing/fake_process_runner.h"

namespace pk::share {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using pk::testing::FakeProcessRunner;

Share NfsShare(const std::string& dataset, const std::string& path, std::vector<std::string> clients) {
  NfsDefinition d;
  for (const auto& c : clients) d.clients.push_back(*NfsClient::Parse(c));
  return Share{.pool = dataset.substr(0, dataset.find('/')), .dataset = dataset, .guid = 42, .path = path,
               .volume = false, .definition = d};
}

// `exportfs -v` as nfs-utils 2.6 prints it: a short path and its client on one
// line; a long path alone, its client on the next, indented (written in that
// format; the real output is checked in the guest).
constexpr std::string_view kExportfsV =
    "/tank/home    \t127.0.0.1(sync,wdelay,hide,no_subtree_check,sec=sys,rw,secure,no_root_squash,no_all_squash)\n"
    "/tank/a\\040very\\040long\\040dataset\\040name\\040that\\040wraps\n"
    "\t\t10.0.0.0/8(sync,wdelay,hide,no_subtree_check,sec=sys,ro,secure,root_squash,no_all_squash)\n"
    "/tank/home    \t10.0.0.0/8(sync,wdelay,hide,no_subtree_check,sec=sys,ro,secure,root_squash,no_all_squash)\n";

TEST(KernelNfsTest, RendersOneLinePerShareWithEscapes) {
  auto text = RenderKernelExports({NfsShare("tank/home", "/tank/home", {"127.0.0.1(rw,no_root_squash)", "10.0.0.0/8"}),
                                   NfsShare("tank/my data", "/tank/my data#1", {"*(ro)"})});
  EXPECT_THAT(text, HasSubstr("# share nfs:tank/home\n"
                              "/tank/home 127.0.0.1(rw,no_root_squash,sec=sys,no_subtree_check) "
                              "10.0.0.0/8(ro,root_squash,sec=sys,no_subtree_check)\n"));
  EXPECT_THAT(text, HasSubstr("# share nfs:tank/my data\n/tank/my\\040data\\0431 *(ro,root_squash,sec=sys,no_subtree_check)\n"));
}

TEST(KernelNfsTest, ParsesExportfsPathsIncludingWrappedAndEscaped) {
  EXPECT_THAT(ParseExportfsPaths(kExportfsV),
              ElementsAre("/tank/home", "/tank/a very long dataset name that wraps"));
  EXPECT_TRUE(ParseExportfsPaths("").empty());
}

class KernelNfsBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("pk-nfs-kernel-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    options_.exports_file = (dir_ / "exports.d/poolkeeper.exports").string();
    options_.threads_file = (dir_ / "threads").string();
    options_.unlock_filesystem_file = "/proc/fs/nfsd/unlock_filesystem";
    attributes_.AddKernelAttribute(options_.unlock_filesystem_file, "");
    SetThreads("8\n");
    backend_ = *MakeKernelNfsBackend(options_, runner_, *fs_, attributes_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void SetThreads(const std::string& text) { std::ofstream(options_.threads_file) << text; }
  std::string Exports() {
    std::ifstream in(options_.exports_file);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::filesystem::path dir_;
  KernelNfsOptions options_;
  FakeProcessRunner runner_;
  pk::testing::FakeConfigFs attributes_;
  std::unique_ptr<sys::FileSystem> fs_ = sys::MakeRealFileSystem();
  std::unique_ptr<Backend> backend_;
};

TEST_F(KernelNfsBackendTest, ServesWhatTheKernelExportsAndNamesWhatItRefused) {
  runner_.Expect({"exportfs", "-ra"},
                 FakeProcessRunner::Exited(0, "", "exportfs: Failed to stat /tank/gone: No such file or directory\n"));
  runner_.Expect({"exportfs", "-v"}, FakeProcessRunner::Exited(0, std::string(kExportfsV)),
                 FakeProcessRunner::Times::kAlways);
  auto results = backend_->Reconcile({NfsShare("tank/home", "/tank/home", {"127.0.0.1(rw)"}),
                                      NfsShare("tank/gone", "/tank/gone", {"*"})});
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].id, "nfs:tank/home");
  EXPECT_TRUE(results[0].status) << results[0].status.error().ToString();
  EXPECT_EQ(results[1].id, "nfs:tank/gone");
  ASSERT_FALSE(results[1].status);
  EXPECT_EQ(results[1].status.error().code(), ErrorCode::kUnavailable);
  EXPECT_THAT(results[1].status.error().message(), HasSubstr("Failed to stat /tank/gone"));
  EXPECT_THAT(Exports(), HasSubstr("/tank/home 127.0.0.1(rw,root_squash,sec=sys,no_subtree_check)\n"));
  EXPECT_THAT(Exports(), HasSubstr("/tank/gone *(ro,"));

  auto served = backend_->Served();
  ASSERT_TRUE(served) << served.error().ToString();
  EXPECT_THAT(*served, ElementsAre("nfs:tank/home"));
  EXPECT_TRUE(runner_.UnmetExpectations().empty());
}

TEST_F(KernelNfsBackendTest, ServerNotRunningFailsEveryShareWithoutTouchingExports) {
  SetThreads("0\n");
  auto results = backend_->Reconcile({NfsShare("tank/home", "/tank/home", {"*"})});
  ASSERT_EQ(results.size(), 1u);
  ASSERT_FALSE(results[0].status);
  EXPECT_EQ(results[0].status.error().code(), ErrorCode::kUnavailable);
  EXPECT_THAT(results[0].status.error().message(), HasSubstr("nfs-server.service"));
  EXPECT_FALSE(std::filesystem::exists(options_.exports_file));
  EXPECT_FALSE(backend_->Health());
}

TEST_F(KernelNfsBackendTest, StopWithdrawsOnlyPoolkeepersExports) {
  runner_.Expect({"exportfs", "-ra"}, FakeProcessRunner::Exited(0), FakeProcessRunner::Times::kAlways);
  runner_.Expect({"exportfs", "-v"}, FakeProcessRunner::Exited(0, std::string(kExportfsV)));
  ASSERT_TRUE(backend_->Reconcile({NfsShare("tank/home", "/tank/home", {"*"})})[0].status);
  // Withdrawing a path flushes the kernel's export cache and releases nfsd's
  // state on its filesystem (both keep it busy).
  runner_.Expect({"exportfs", "-f"}, FakeProcessRunner::Exited(0));
  ASSERT_TRUE(backend_->Stop());
  EXPECT_EQ(Exports(), "");
  EXPECT_TRUE(runner_.UnmetExpectations().empty());
  EXPECT_THAT(attributes_.mutations(), ElementsAre("write /proc/fs/nfsd/unlock_filesystem=/tank/home\n"));
}

TEST_F(KernelNfsBackendTest, ReconcileFlushesOnlyWhenAPathIsWithdrawn) {
  runner_.Expect({"exportfs", "-ra"}, FakeProcessRunner::Exited(0), FakeProcessRunner::Times::kAlways);
  runner_.Expect({"exportfs", "-v"}, FakeProcessRunner::Exited(0, std::string(kExportfsV)),
                 FakeProcessRunner::Times::kAlways);
  auto home = NfsShare("tank/home", "/tank/home", {"*"});
  auto other = NfsShare("tank/other", "/tank/other", {"*"});
  backend_->Reconcile({home, other});
  backend_->Reconcile({home, other});  // nothing withdrawn: no flush (an unexpected -f would fail)
  runner_.Expect({"exportfs", "-f"}, FakeProcessRunner::Exited(0));
  EXPECT_TRUE(attributes_.mutations().empty());
  auto results = backend_->Reconcile({home});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].status) << results[0].status.error().ToString();
  EXPECT_TRUE(runner_.UnmetExpectations().empty());
  EXPECT_THAT(attributes_.mutations(), ElementsAre("write /proc/fs/nfsd/unlock_filesystem=/tank/other\n"));
}

TEST(KernelNfsOptionsTest, RelativePathsAreRefused) {
  FakeProcessRunner runner;
  auto fs = sys::MakeRealFileSystem();
  KernelNfsOptions o;
  o.exportfs_path = "exportfs";
  pk::testing::FakeConfigFs attributes;
  auto b = MakeKernelNfsBackend(o, runner, *fs, attributes);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace pk::share
