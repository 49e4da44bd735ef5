#include "supervisor/policy.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pk::supervisor {
namespace {

using ::testing::HasSubstr;

PoolPolicy FullPolicy() {
  PoolPolicy p;
  p.pool = "tank";
  p.enabled = false;
  p.skip = true;
  p.delay_seconds = 30;
  p.search_dirs = {"/var/lib/pools", "/dev/disk/by-id"};
  p.cachefile = "/etc/zfs/tank.cache";
  p.altroot = "/mnt/alt";
  p.read_only = true;
  p.force = ForceImport::kIfFenced;
  p.cluster = true;
  p.import_timeout_seconds = 60;
  p.mount_timeout_seconds = 70;
  p.export_timeout_seconds = 80;
  p.mount_parallelism = 8;
  p.after = {"pool:base", "exec:warmup"};
  p.known_mountpoints = {"/tank", "/tank/home"};
  return p;
}

void ExpectSame(const PoolPolicy& a, const PoolPolicy& b) {
  EXPECT_EQ(a.pool, b.pool);
  EXPECT_EQ(a.enabled, b.enabled);
  EXPECT_EQ(a.skip, b.skip);
  EXPECT_EQ(a.delay_seconds, b.delay_seconds);
  EXPECT_EQ(a.search_dirs, b.search_dirs);
  EXPECT_EQ(a.cachefile, b.cachefile);
  EXPECT_EQ(a.altroot, b.altroot);
  EXPECT_EQ(a.read_only, b.read_only);
  EXPECT_EQ(a.force, b.force);
  EXPECT_EQ(a.cluster, b.cluster);
  EXPECT_EQ(a.import_timeout_seconds, b.import_timeout_seconds);
  EXPECT_EQ(a.mount_timeout_seconds, b.mount_timeout_seconds);
  EXPECT_EQ(a.export_timeout_seconds, b.export_timeout_seconds);
  EXPECT_EQ(a.mount_parallelism, b.mount_parallelism);
  EXPECT_EQ(a.after, b.after);
  EXPECT_EQ(a.known_mountpoints, b.known_mountpoints);
}

TEST(PoolPolicyTest, JsonRoundTrip) {
  PoolPolicy p = FullPolicy();
  auto back = PoolPolicy::FromJson(p.ToJson());
  ASSERT_TRUE(back) << back.error().message();
  ExpectSame(p, *back);
  EXPECT_EQ(p.ToJson()["force"], "if-fenced");
}

TEST(PoolPolicyTest, DefaultsRoundTripAndFillMissingFields) {
  auto minimal = PoolPolicy::FromJson({{"pool", "tank"}});
  ASSERT_TRUE(minimal) << minimal.error().message();
  PoolPolicy defaults;
  defaults.pool = "tank";
  ExpectSame(defaults, *minimal);
  EXPECT_EQ(minimal->cachefile, "none");
  EXPECT_EQ(minimal->force, ForceImport::kNever);
  EXPECT_FALSE(minimal->cluster);
  auto back = PoolPolicy::FromJson(defaults.ToJson());
  ASSERT_TRUE(back);
  ExpectSame(defaults, *back);
}

// Applies `edit` to a valid policy's JSON and expects FromJson to refuse it
// with InvalidArgument whose message contains `needle`.
void ExpectRefused(const std::function<void(nlohmann::json&)>& edit, const std::string& needle) {
  nlohmann::json j = FullPolicy().ToJson();
  edit(j);
  auto p = PoolPolicy::FromJson(j);
  ASSERT_FALSE(p) << "accepted: " << j.dump();
  EXPECT_EQ(p.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(p.error().message(), HasSubstr(needle)) << j.dump();
}

TEST(PoolPolicyTest, ValidationErrorsNameTheFieldAndValue) {
  ExpectRefused([](auto& j) { j["pool"] = "1tank"; }, "must start with a letter");
  ExpectRefused([](auto& j) { j["pool"] = "tank/fs"; }, "invalid pool name");
  ExpectRefused([](auto& j) { j["pool"] = ""; }, "invalid pool name");
  ExpectRefused([](auto& j) { j["search_dirs"] = {"/ok", "relative/dir"}; },
                "pool 'tank': search directory 'relative/dir' must be an absolute path");
  ExpectRefused([](auto& j) { j["cachefile"] = "tank.cache"; },
                "pool 'tank': cachefile 'tank.cache' must be an absolute path");
  ExpectRefused([](auto& j) { j["altroot"] = "mnt"; }, "pool 'tank': altroot 'mnt' must be an absolute path");
  ExpectRefused([](auto& j) { j["delay_seconds"] = -1; }, "pool 'tank': delay must be between 0 and 86400, not -1");
  ExpectRefused([](auto& j) { j["import_timeout_seconds"] = 0; }, "import timeout");
  ExpectRefused([](auto& j) { j["mount_parallelism"] = 0; }, "mount parallelism");
  ExpectRefused([](auto& j) { j["force"] = "always"; },
                "pool 'tank': force must be 'never' or 'if-fenced', not 'always'");
  ExpectRefused([](auto& j) { j["after"] = {"tank"}; },
                "pool 'tank': dependency 'tank' must be KIND:NAME (e.g. pool:tank)");
  ExpectRefused([](auto& j) { j["after"] = {"pool:"}; }, "must be KIND:NAME");
  ExpectRefused([](auto& j) { j["after"] = {":x"}; }, "must be KIND:NAME");
  ExpectRefused([](auto& j) { j["after"] = {"pool:a;b"}; }, "pool 'tank': dependency: invalid pool name");
  ExpectRefused([](auto& j) { j["delay_seconds"] = "soon"; }, "field 'delay_seconds' has the wrong type");
  ExpectRefused([](auto& j) { j["search_dirs"] = "/one"; }, "field 'search_dirs' has the wrong type");

  auto not_object = PoolPolicy::FromJson(nlohmann::json::array());
  ASSERT_FALSE(not_object);
  EXPECT_EQ(not_object.error().code(), ErrorCode::kInvalidArgument);
}

TEST(PoolPolicyTest, CachefileNoneAndEmptyAltrootAreValid) {
  PoolPolicy p;
  p.pool = "tank";
  p.cachefile = "none";
  p.altroot = "";
  EXPECT_TRUE(p.Validate());
}

class PolicyStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "pk_policy_XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/state";  // Init creates it
    store_ = std::make_unique<PolicyStore>(*fs_, dir_);
    ASSERT_TRUE(store_->Init());
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  static zfs::PoolName Pool(const std::string& name) { return *zfs::PoolName::Parse(name); }

  std::unique_ptr<sys::FileSystem> fs_ = sys::MakeRealFileSystem();
  std::string root_;
  std::string dir_;
  std::unique_ptr<PolicyStore> store_;
};

TEST_F(PolicyStoreTest, InitCreatesDirectoriesAndEmptyStoreLoadsNothing) {
  EXPECT_TRUE(std::filesystem::is_directory(dir_ + "/locks"));
  auto all = store_->LoadAll();
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->empty());
  auto one = store_->Load(Pool("tank"));
  ASSERT_TRUE(one);
  EXPECT_FALSE(one->has_value());
  EXPECT_TRUE(store_->Init()) << "Init is idempotent";
}

TEST_F(PolicyStoreTest, SaveLoadUpdateRemove) {
  PoolPolicy tank = FullPolicy();
  PoolPolicy alpha;
  alpha.pool = "alpha";
  ASSERT_TRUE(store_->Save(tank));
  ASSERT_TRUE(store_->Save(alpha));

  auto all = store_->LoadAll();
  ASSERT_TRUE(all) << all.error().message();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].pool, "alpha") << "sorted by pool name";
  ExpectSame((*all)[1], tank);

  // A second store over the same directory (a daemon restart) sees the same.
  PolicyStore again(*fs_, dir_);
  auto loaded = again.Load(Pool("tank"));
  ASSERT_TRUE(loaded);
  ASSERT_TRUE(loaded->has_value());
  ExpectSame(**loaded, tank);

  tank.delay_seconds = 5;
  tank.skip = false;
  ASSERT_TRUE(store_->Save(tank));
  loaded = store_->Load(Pool("tank"));
  ASSERT_TRUE(loaded && loaded->has_value());
  EXPECT_EQ((*loaded)->delay_seconds, 5);
  EXPECT_FALSE((*loaded)->skip);
  EXPECT_EQ(store_->LoadAll()->size(), 2u) << "an update does not add a second entry";

  ASSERT_TRUE(store_->Remove(Pool("tank")));
  loaded = store_->Load(Pool("tank"));
  ASSERT_TRUE(loaded);
  EXPECT_FALSE(loaded->has_value());
  auto missing = store_->Remove(Pool("tank"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_THAT(missing.error().message(), HasSubstr("'tank'"));
}

TEST_F(PolicyStoreTest, SaveRefusesInvalidPolicyAndWritesNothing) {
  PoolPolicy bad = FullPolicy();
  bad.delay_seconds = -1;
  auto saved = store_->Save(bad);
  ASSERT_FALSE(saved);
  EXPECT_EQ(saved.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/pools.json"));
}

TEST_F(PolicyStoreTest, CorruptPolicyFileIsDataLoss) {
  std::ofstream(dir_ + "/pools.json") << "{\"pools\": [";
  auto all = store_->LoadAll();
  ASSERT_FALSE(all);
  EXPECT_EQ(all.error().code(), ErrorCode::kDataLoss);
  EXPECT_THAT(all.error().message(), HasSubstr("pools.json"));
}

TEST_F(PolicyStoreTest, InvalidEntryInPolicyFileNamesFileAndPool) {
  std::ofstream(dir_ + "/pools.json") << R"({"version":1,"pools":[{"pool":"tank","altroot":"rel"}]})";
  auto all = store_->LoadAll();
  ASSERT_FALSE(all);
  EXPECT_EQ(all.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(all.error().message(), HasSubstr("pools.json"));
  EXPECT_THAT(all.error().message(), HasSubstr("altroot 'rel'"));
}

TEST_F(PolicyStoreTest, LockWriteReadRemove) {
  auto none = store_->ReadLock(Pool("tank"));
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());

  const auto started = std::chrono::system_clock::time_point(std::chrono::milliseconds(1795317600123));
  ASSERT_TRUE(store_->WriteLock({"tank", "import", started, 4242}));
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/locks/tank.json"));
  auto lock = store_->ReadLock(Pool("tank"));
  ASSERT_TRUE(lock);
  ASSERT_TRUE(lock->has_value());
  EXPECT_EQ((*lock)->pool, "tank");
  EXPECT_EQ((*lock)->operation, "import");
  EXPECT_EQ((*lock)->started, started);
  EXPECT_EQ((*lock)->pid, 4242);
  EXPECT_FALSE(store_->ReadLock(Pool("other"))->has_value()) << "locks are per pool";

  ASSERT_TRUE(store_->RemoveLock(Pool("tank")));
  EXPECT_FALSE(store_->ReadLock(Pool("tank"))->has_value());
  EXPECT_TRUE(store_->RemoveLock(Pool("tank"))) << "removing an absent lock is fine";
}

TEST_F(PolicyStoreTest, TornLockFileStillReadsAsLocked) {
  std::ofstream(dir_ + "/locks/tank.json") << "{\"pool\":\"tank\",\"opera";
  auto lock = store_->ReadLock(Pool("tank"));
  ASSERT_TRUE(lock) << lock.error().message();
  ASSERT_TRUE(lock->has_value());
  EXPECT_EQ((*lock)->pool, "tank");
  EXPECT_EQ((*lock)->operation, "import");

  std::ofstream(dir_ + "/locks/empty.json").flush();  // zero bytes
  auto empty = store_->ReadLock(Pool("empty"));
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->has_value());
}

// Issue 17 item 8: a lock file whose fields have the wrong types threw out of
// ReadLock (and the daemon exited); it reads as locked.
TEST_F(PolicyStoreTest, WrongTypedLockFieldsStillReadAsLocked) {
  std::ofstream(dir_ + "/locks/tank.json") << R"({"pool":7,"operation":["import"],"started_ms":"soon","pid":"x"})";
  auto lock = store_->ReadLock(Pool("tank"));
  ASSERT_TRUE(lock) << lock.error().message();
  ASSERT_TRUE(lock->has_value());
  EXPECT_EQ((*lock)->operation, "import");
  EXPECT_EQ((*lock)->pid, 0);
  std::ofstream(dir_ + "/locks/other.json") << R"({"operation":"import","started_ms":1.5e300,"pid":99999999999})";
  auto other = store_->ReadLock(Pool("other"));
  ASSERT_TRUE(other) << other.error().message();
  ASSERT_TRUE(other->has_value());
  EXPECT_EQ((*other)->pid, 0);
}

// Issue 17 item 8: one entry with a wrong-typed field is reported for its own
// pool; the other pools' policies still load.
TEST_F(PolicyStoreTest, LoadEachKeepsGoodEntriesAndNamesTheBadOne) {
  std::ofstream(dir_ + "/pools.json")
      << R"({"version":1,"pools":[{"pool":"good"},{"pool":"tank","delay_seconds":"ten"},{"pool":["x"]}]})";
  auto loaded = store_->LoadEach();
  ASSERT_TRUE(loaded) << loaded.error().message();
  ASSERT_EQ(loaded->policies.size(), 1u);
  EXPECT_EQ(loaded->policies[0].pool, "good");
  ASSERT_EQ(loaded->broken.size(), 2u);
  EXPECT_EQ(loaded->broken[0].pool, "tank");
  EXPECT_THAT(loaded->broken[0].error, HasSubstr("field 'delay_seconds' has the wrong type"));
  EXPECT_THAT(loaded->broken[0].error, HasSubstr("pools.json"));
  EXPECT_EQ(loaded->broken[1].pool, "");
  // Writes keep refusing until the file is fixed: nothing is dropped silently.
  EXPECT_FALSE(store_->Save(PoolPolicy{.pool = "new"}));
}

}  // namespace
}  // namespace pk::supervisor
