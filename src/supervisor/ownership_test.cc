// Issue 17 item 6: the adoption mark binds a pool's GUID to a key only the
// heads hold, so a crafted pool (or a copied property) does not verify.
#include "supervisor/ownership.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "testing/fake_zfs.h"

namespace pk::supervisor {
namespace {

TEST(OwnershipTest, MarkVerifiesOnlyForItsGuidAndKey) {
  const std::string head = "0123456789abcdef0123456789abcdef";
  const std::string other = "fedcba9876543210fedcba9876543210";
  std::string mark = AdoptionMark(head, 42);
  EXPECT_TRUE(mark.starts_with("v1:"));
  EXPECT_EQ(mark.size(), 3u + 64u);
  EXPECT_TRUE(MarkVerifies({head}, 42, mark));
  // The same property copied onto another pool (another GUID) does not verify.
  EXPECT_FALSE(MarkVerifies({head}, 43, mark));
  // A head (or whoever crafted the pool) with another key cannot make it.
  EXPECT_FALSE(MarkVerifies({other}, 42, mark));
  EXPECT_FALSE(MarkVerifies({other}, 42, AdoptionMark(other, 43)));
  EXPECT_FALSE(MarkVerifies({head}, 42, ""));
  EXPECT_FALSE(MarkVerifies({head}, 42, "v1:" + std::string(64, '0')));
  EXPECT_FALSE(MarkVerifies({}, 42, mark));
}

TEST(OwnershipTest, ClusterKeyVerifiesOnEveryHeadWithTheAuthkey) {
  const std::string authkey(128, '\x5a');
  std::string on_h1 = AdoptionMark(ClusterAdoptionKey(authkey), 7);
  // h2 has the same authkey (cluster join) and its own head key.
  EXPECT_TRUE(MarkVerifies({ClusterAdoptionKey(authkey), "h2-head-key-h2-head-key-h2-head-k"}, 7, on_h1));
  // Another cluster's authkey does not.
  EXPECT_FALSE(MarkVerifies({ClusterAdoptionKey(std::string(128, '\x5b'))}, 7, on_h1));
}

TEST(OwnershipTest, HeldReasonNamesTheCommand) {
  EXPECT_EQ(HeldReason("tank"), "held: pool not adopted (run poolkeeper pool adopt tank)");
}

// The schedules judge adoption from the inventory's data (issue 17 item 6):
// only a mark set locally on the root, for this GUID, under this head's key.
TEST(OwnershipTest, VerifiesFromKnownDataWithoutRunningATool) {
  auto dir = std::filesystem::temp_directory_path() / ("pk_ownership_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto fs = sys::MakeRealFileSystem();
  testing::FakeZfs zfs;
  Ownership ownership(zfs, *fs, {dir.string(), (dir / "no-authkey").string()});
  ASSERT_TRUE(ownership.Init({}));
  std::string key;
  std::ifstream(dir / "adoption.key") >> key;
  ASSERT_EQ(key.size(), 64u);
  size_t calls = zfs.calls().size();

  zfs::Dataset root{"tank", zfs::DatasetType::kFilesystem, {}};
  root.properties[kAdoptedProperty] = {AdoptionMark(key, 42), zfs::PropertySource::kLocal, ""};
  EXPECT_TRUE(ownership.Verifies(42, root));
  EXPECT_FALSE(ownership.Verifies(43, root));  // copied onto another pool
  root.properties[kAdoptedProperty].source = zfs::PropertySource::kReceived;
  EXPECT_FALSE(ownership.Verifies(42, root));  // came with a stream
  root.properties.clear();
  EXPECT_FALSE(ownership.Verifies(42, root));
  EXPECT_EQ(zfs.calls().size(), calls);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace pk::supervisor
