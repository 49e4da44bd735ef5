#include "share/manager.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "share/definition.h"
#include "sys/files.h"
#include "testing/fake_zfs.h"

namespace pk::share {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;

// The CHAP definition of `dataset`, referring to the store entry `ref`.
std::string ChapProperty(const std::string& dataset, const std::string& ref) {
  auto d = FromJson(Protocol::kIscsi, json{{"chap_user", "alice"}, {"chap_secret", "0123456789ab"}},
                    *zfs::DatasetName::Parse(dataset));
  std::get<IscsiDefinition>(*d).chap_secret_ref = ref;
  return Encode(*d);
}

class ShareManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("pk-share-manager-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    for (const char* sub : {"a", "b", ".poolkeeper/chap"}) std::filesystem::create_directories(dir_ / sub);
    auto fs = [&](const std::string& name, const std::string& sub, uint64_t guid,
                  std::map<std::string, std::string> props) {
      props["guid"] = std::to_string(guid);
      return testing::FakeFilesystem{name, "on", (dir_ / sub).string(), true, std::move(props)};
    };
    zfs_.AddImportedPool("tank", {fs("tank", "", 1, {}),
                                  fs("tank/a", "a", 2, {{"org.poolkeeper:share.iscsi", ChapProperty("tank/a", "guid:2")}}),
                                  fs("tank/b", "b", 3, {{"org.poolkeeper:share.iscsi", ChapProperty("tank/b", "guid:3")}}),
                                  fs("tank/.poolkeeper", ".poolkeeper", 4, {})});
    // The store knows a's secret only.
    std::ofstream(dir_ / ".poolkeeper/chap/secrets.json") << R"({"v":1,"secrets":{"guid:2":"0123456789ab"}})";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
  testing::FakeZfs zfs_;
  std::unique_ptr<sys::FileSystem> files_ = sys::MakeRealFileSystem();
  ShareManager manager_{zfs_, *files_, {}, {}};
};

// Review of issue 17 item 5: a listing never reads the CHAP secret store
// (its answer redacts the secret); serving reads it once per pool, whatever
// the number of CHAP shares, and fails only the share whose secret is missing.
TEST_F(ShareManagerTest, ListingsNeverReadTheSecretStoreAndServingReadsItOnce) {
  auto listed = manager_.List(std::nullopt, std::nullopt);
  ASSERT_TRUE(listed) << listed.error().message();
  EXPECT_EQ(listed->size(), 2u);
  EXPECT_EQ(zfs_.CountCalls("get tank/.poolkeeper"), 0u);

  auto served = manager_.ServePool(*zfs::PoolName::Parse("tank"));
  ASSERT_TRUE(served) << served.error().message();
  EXPECT_EQ(zfs_.CountCalls("get tank/.poolkeeper"), 1u);

  auto b = manager_.Get(*zfs::DatasetName::Parse("tank/b"), Protocol::kIscsi);
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(b->state, ShareState::kFailed);
  EXPECT_THAT(b->reason, HasSubstr("iscsi share of 'tank/b'"));
  EXPECT_THAT(b->reason, HasSubstr("has no secret 'guid:3'"));
  auto a = manager_.Get(*zfs::DatasetName::Parse("tank/a"), Protocol::kIscsi);
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_THAT(a->reason, Not(HasSubstr("secret")));
}

}  // namespace
}  // namespace pk::share
