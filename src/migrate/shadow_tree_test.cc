// ShadowTree and Migrator on real directories (ext4/tmpfs under /var/tmp):
// the source and the "dataset" are plain directories, so every rule of the
// tree (markers, placeholders, pending, links, resume, failures) is checked
// without ZFS or FUSE.
#include "migrate/shadow_tree.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "migrate/migrator.h"

namespace pk::migrate {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
void WriteFile(const std::string& p, const std::string& data) {
  std::ofstream out(p, std::ios::binary);
  out << data;
}
std::string Xattr(const std::string& p, const char* name) {
  char buf[4096];
  ssize_t n = ::lgetxattr(p.c_str(), name, buf, sizeof buf);
  return n < 0 ? "<none>" : std::string(buf, static_cast<size_t>(n));
}
int CountLines(const std::string& p) {
  auto s = ReadFile(p);
  return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

class ShadowTreeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/var/tmp/pk-migrate-unit-XXXXXX";
    base_ = ::mkdtemp(tmpl);
    src_ = base_ + "/src";
    dst_ = base_ + "/dst";
    fs::create_directories(src_ + "/a/deep");
    fs::create_directories(src_ + "/b");
    fs::create_directories(dst_);
    WriteFile(src_ + "/a/hello.txt", "hello world");
    WriteFile(src_ + "/a/deep/-leading dash\nnewline ü", std::string(100000, 'x'));
    WriteFile(src_ + "/empty", "");
    ::symlink("a/hello.txt", (src_ + "/link").c_str());
    ::symlink("/nowhere/at/all", (src_ + "/dangling").c_str());
    ::mkfifo((src_ + "/fifo").c_str(), 0640);
    ::link((src_ + "/a/hello.txt").c_str(), (src_ + "/b/hard").c_str());
    ::setxattr((src_ + "/a/hello.txt").c_str(), "user.color", "blue", 4, 0);
    ::chown((src_ + "/a/hello.txt").c_str(), 1234, 5678);
    ::chmod((src_ + "/a/hello.txt").c_str(), 0604);
    ::chmod((src_ + "/b").c_str(), 0751);
    // A sparse file: 8 MiB with 4 KiB of data in the middle.
    int fd = ::open((src_ + "/sparse").c_str(), O_WRONLY | O_CREAT, 0644);
    ::ftruncate(fd, 8 << 20);
    ::pwrite(fd, "data", 4, 4 << 20);
    ::close(fd);
    timespec old[2] = {{1000000000, 5}, {1100000000, 7}};
    ::utimensat(AT_FDCWD, (src_ + "/a/hello.txt").c_str(), old, AT_SYMLINK_NOFOLLOW);
  }
  void TearDown() override { fs::remove_all(base_); }

  std::unique_ptr<ShadowTree> OpenTree() {
    auto uri = SourceUri::Parse("file://" + src_);
    auto src = OpenSource(*uri);
    EXPECT_TRUE(src) << src.error().message();
    int root = ::open(dst_.c_str(), O_RDONLY | O_DIRECTORY);
    auto t = ShadowTree::Open(root, std::move(*src));
    EXPECT_TRUE(t) << t.error().message();
    return std::move(*t);
  }
  void InitTree() {
    auto uri = SourceUri::Parse("file://" + src_);
    auto src = OpenSource(*uri);
    ASSERT_TRUE(src);
    int root = ::open(dst_.c_str(), O_RDONLY | O_DIRECTORY);
    auto s = ShadowTree::Init(root, **src, Meta{uri->text, 1, 2, 0});
    ::close(root);
    ASSERT_TRUE(s) << s.error().message();
  }
  std::string Log() { return dst_ + "/" + kStateDirName + "/copied.log"; }

  std::string base_, src_, dst_;
};

TEST_F(ShadowTreeTest, InitRefusesANonEmptyTargetAndASecondStart) {
  WriteFile(dst_ + "/stray", "x");
  auto uri = SourceUri::Parse("file://" + src_);
  auto src = OpenSource(*uri);
  int root = ::open(dst_.c_str(), O_RDONLY | O_DIRECTORY);
  auto s = ShadowTree::Init(root, **src, Meta{uri->text, 1, 2, 0});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(s.error().message().find("not empty"), std::string::npos);
  EXPECT_FALSE(fs::exists(dst_ + "/" + kStateDirName));
  fs::remove(dst_ + "/stray");
  ASSERT_TRUE(ShadowTree::Init(root, **src, Meta{uri->text, 1, 2, 0}));
  auto again = ShadowTree::Init(root, **src, Meta{uri->text, 1, 2, 0});
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message().find("already started"), std::string::npos);
  ::close(root);
}

TEST_F(ShadowTreeTest, ListingCreatesPlaceholdersWithMetadata) {
  InitTree();
  auto t = OpenTree();
  auto did = t->EnsureDir("");
  ASSERT_TRUE(did) << did.error().message();
  EXPECT_TRUE(*did);
  EXPECT_EQ(Xattr(dst_, kMarkerXattr), "<none>");
  ASSERT_TRUE(t->EnsureDir("a"));
  struct stat st;
  ASSERT_EQ(::lstat((dst_ + "/a/hello.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 11);
  EXPECT_EQ(st.st_blocks, 0);  // a sparse placeholder
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 5678u);
  EXPECT_EQ(st.st_mode & 07777, 0604u);
  EXPECT_EQ(st.st_mtim.tv_sec, 1100000000);
  EXPECT_EQ(Xattr(dst_ + "/a/hello.txt", "user.color"), "blue");
  EXPECT_NE(Xattr(dst_ + "/a/hello.txt", kMarkerXattr).find("\na/hello.txt"), std::string::npos);
  EXPECT_EQ(Xattr(dst_ + "/a/deep", kMarkerXattr), "D\na/deep");
  ASSERT_EQ(::lstat((dst_ + "/fifo").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_EQ(fs::read_symlink(dst_ + "/dangling"), "/nowhere/at/all");
  EXPECT_EQ(Xattr(dst_ + "/empty", kMarkerXattr), "<none>");  // nothing to copy
  ASSERT_EQ(::lstat((dst_ + "/b").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0751u);
}

TEST_F(ShadowTreeTest, LookupCreatesOnlyThatEntryAndListingAddsTheRest) {
  InitTree();
  auto t = OpenTree();
  ASSERT_TRUE(t->EnsureEntry("a"));
  ASSERT_TRUE(t->EnsureEntry("a/hello.txt"));
  ASSERT_TRUE(t->EnsureEntry("not-in-source"));
  ASSERT_TRUE(t->EnsureEntry("a/nothing/below"));  // no such directory: nothing to do
  EXPECT_TRUE(fs::exists(dst_ + "/a/hello.txt"));
  EXPECT_FALSE(fs::exists(dst_ + "/b"));
  EXPECT_FALSE(fs::exists(dst_ + "/not-in-source"));
  EXPECT_FALSE(fs::exists(dst_ + "/a/deep"));
  EXPECT_EQ(Xattr(dst_, kMarkerXattr), "D\n");  // the root is still to be listed
  EXPECT_EQ(Xattr(dst_ + "/a", kMarkerXattr), "D\na");
  ASSERT_TRUE(t->EnsureFile("a/hello.txt"));
  ASSERT_TRUE(t->EnsureDir(""));
  ASSERT_TRUE(t->EnsureDir("a"));
  ASSERT_TRUE(t->EnsureDir("b"));
  EXPECT_TRUE(fs::exists(dst_ + "/a/deep"));
  EXPECT_EQ(ReadFile(dst_ + "/a/hello.txt"), "hello world");  // not replaced by a placeholder
  struct stat x, y;
  ASSERT_EQ(::stat((dst_ + "/a/hello.txt").c_str(), &x), 0);
  ASSERT_EQ(::stat((dst_ + "/b/hard").c_str(), &y), 0);
  EXPECT_EQ(x.st_ino, y.st_ino);
  EXPECT_EQ(CountLines(Log()), 1);
}

TEST_F(ShadowTreeTest, TheWalkCreatesSmallFilesWithTheirData) {
  InitTree();
  auto t = OpenTree();
  ASSERT_TRUE(t->EnsureDir("", ShadowTree::Fill::kWithData));
  ASSERT_TRUE(t->EnsureDir("a", ShadowTree::Fill::kWithData));
  EXPECT_EQ(ReadFile(dst_ + "/a/hello.txt"), "hello world");
  EXPECT_EQ(Xattr(dst_ + "/a/hello.txt", kMarkerXattr), "<none>");
  EXPECT_EQ(Xattr(dst_ + "/a/hello.txt", "user.color"), "blue");
  struct stat st;
  ASSERT_EQ(::lstat((dst_ + "/a/hello.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 5678u);
  EXPECT_EQ(st.st_mode & 07777, 0604u);
  EXPECT_EQ(st.st_mtim.tv_sec, 1100000000);
  EXPECT_EQ(st.st_mtim.tv_nsec, 7);
  // Larger files stay placeholders for the copy workers.
  auto pending = t->ListPending();
  ASSERT_TRUE(pending);
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_NE(Xattr(dst_ + "/sparse", kMarkerXattr), "<none>");
  EXPECT_EQ(CountLines(Log()), 1);
  EXPECT_EQ(t->counters().files_done, 1u);
}

TEST_F(ShadowTreeTest, PrivateNamesAreNotCountedAsLinks) {
  InitTree();
  auto t = OpenTree();
  ASSERT_TRUE(t->EnsureDir(""));
  ASSERT_TRUE(t->EnsureDir("a"));
  auto visible = [&](const std::string& rel) {
    std::string p = dst_ + "/" + rel;
    struct stat st;
    EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
    return st.st_nlink - t->PrivateLinks(st, -1, p.c_str());
  };
  EXPECT_EQ(visible("sparse"), 1u);     // + pending/
  EXPECT_EQ(visible("a/hello.txt"), 1u);  // + pending/ + links/ (b/hard is not listed yet)
  ASSERT_TRUE(t->EnsureDir("b"));
  EXPECT_EQ(visible("a/hello.txt"), 2u);
  ASSERT_TRUE(t->EnsureFile("a/hello.txt"));
  EXPECT_EQ(visible("b/hard"), 2u);  // + links/ only
  EXPECT_EQ(visible("empty"), 1u);
  struct stat root;
  ASSERT_EQ(::stat(dst_.c_str(), &root), 0);
  EXPECT_EQ(root.st_nlink - t->PrivateLinks(root, -1, dst_.c_str()), 4u);  // ., .., a, b: not the state directory
  t.reset();
  t = OpenTree();  // links/ is read again at start
  EXPECT_EQ(visible("b/hard"), 2u);
}

TEST_F(ShadowTreeTest, ConcurrentOpensCopyOnceAndHardLinksShareTheInode) {
  InitTree();
  auto t = OpenTree();
  ASSERT_TRUE(t->EnsureDir(""));
  ASSERT_TRUE(t->EnsureDir("a"));
  ASSERT_TRUE(t->EnsureDir("b"));
  struct stat x, y;
  ASSERT_EQ(::stat((dst_ + "/a/hello.txt").c_str(), &x), 0);
  ASSERT_EQ(::stat((dst_ + "/b/hard").c_str(), &y), 0);
  EXPECT_EQ(x.st_ino, y.st_ino);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) threads.emplace_back([&] { EXPECT_TRUE(t->EnsureFile("a/hello.txt")); });
  for (auto& th : threads) th.join();
  EXPECT_EQ(ReadFile(dst_ + "/b/hard"), "hello world");
  EXPECT_EQ(CountLines(Log()), 1);
  EXPECT_EQ(Xattr(dst_ + "/a/hello.txt", kMarkerXattr), "<none>");
  ASSERT_EQ(::stat((dst_ + "/a/hello.txt").c_str(), &x), 0);
  EXPECT_EQ(x.st_mtim.tv_sec, 1100000000);  // the copy keeps the source's times
}

TEST_F(ShadowTreeTest, NamesOfOneInodeMigratedConcurrentlyStayOneInode) {
  // Each directory holds one name of the same 1 MiB inode: the migrator's
  // workers walk the directories at once and race to create (and copy) it.
  constexpr int kDirs = 16;
  WriteFile(src_ + "/shared", std::string(kInlineCopyMax, 's'));
  for (int i = 0; i < kDirs; ++i) {
    fs::create_directories(src_ + "/d" + std::to_string(i));
    ::link((src_ + "/shared").c_str(), (src_ + "/d" + std::to_string(i) + "/name").c_str());
  }
  ::unlink((src_ + "/shared").c_str());  // the root's listing must not create the inode first
  InitTree();
  auto t = OpenTree();
  Migrator m(*t, 8, 0);
  auto r = m.Run();
  ASSERT_TRUE(r) << r.error().message();
  struct stat first;
  ASSERT_EQ(::stat((dst_ + "/d0/name").c_str(), &first), 0);
  for (int i = 0; i < kDirs; ++i) {
    struct stat st;
    ASSERT_EQ(::stat((dst_ + "/d" + std::to_string(i) + "/name").c_str(), &st), 0);
    EXPECT_EQ(st.st_ino, first.st_ino) << "d" << i << "/name is a separate copy";
  }
  EXPECT_EQ(ReadFile(dst_ + "/d0/name"), std::string(kInlineCopyMax, 's'));
  EXPECT_EQ(CountLines(Log()), 4);  // hello.txt, the dashed file, sparse and the shared inode: each once
}

TEST_F(ShadowTreeTest, RenamedUnmigratedEntriesStillMigrateAndDeletedOnesStayDeleted) {
  InitTree();
  auto t = OpenTree();
  ASSERT_TRUE(t->EnsureDir(""));
  ASSERT_TRUE(t->EnsureDir("a"));
  fs::rename(dst_ + "/a/deep", dst_ + "/moved");
  ASSERT_TRUE(t->EnsureDir("moved"));
  std::string name = "-leading dash\nnewline ü";
  fs::rename(dst_ + "/moved/" + name, dst_ + "/renamed");
  ASSERT_TRUE(t->EnsureFile("renamed"));
  EXPECT_EQ(ReadFile(dst_ + "/renamed"), std::string(100000, 'x'));
  // Deleting the sparse placeholder: the migrator finds an orphan and copies nothing.
  fs::remove(dst_ + "/sparse");
  auto pending = t->ListPending();
  ASSERT_TRUE(pending);
  for (const auto& k : *pending) ASSERT_TRUE(t->CopyPending(k, nullptr));
  EXPECT_FALSE(fs::exists(dst_ + "/sparse"));
  EXPECT_EQ(CountLines(Log()), 2);  // hello.txt (through links) and the renamed file
  // Re-listing the root does not bring it back.
  t.reset();
  t = OpenTree();
  ASSERT_TRUE(t->EnsureDir(""));
  EXPECT_FALSE(fs::exists(dst_ + "/sparse"));
}

TEST_F(ShadowTreeTest, FailuresAreRecordedRetriedAndClearedAndCountersSurviveReopen) {
  InitTree();
  auto t = OpenTree();
  ASSERT_TRUE(t->EnsureDir(""));
  ASSERT_TRUE(t->EnsureDir("a"));
  fs::rename(src_ + "/a/hello.txt", src_ + "/a/gone");
  EXPECT_FALSE(t->EnsureFile("a/hello.txt"));
  EXPECT_FALSE(t->EnsureFile("a/hello.txt"));
  auto failed = t->failed();
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].path, "a/hello.txt");
  EXPECT_EQ(failed[0].retries, 1);
  EXPECT_NE(failed[0].error.find("No such file"), std::string::npos) << failed[0].error;
  t.reset();
  t = OpenTree();  // failures persist in failed.json
  ASSERT_EQ(t->failed().size(), 1u);
  fs::rename(src_ + "/a/gone", src_ + "/a/hello.txt");
  ASSERT_TRUE(t->EnsureFile("a/hello.txt"));
  EXPECT_TRUE(t->failed().empty());
  EXPECT_EQ(t->counters().files_done, 1u);
  t.reset();
  t = OpenTree();
  EXPECT_EQ(t->counters().files_done, 1u);
  EXPECT_EQ(t->counters().bytes_done, 11u);
}

TEST_F(ShadowTreeTest, MigratorCompletesResumesAndCopiesNothingTwice) {
  InitTree();
  {
    auto t = OpenTree();
    ASSERT_TRUE(t->EnsureDir(""));
    ASSERT_TRUE(t->EnsureDir("a"));
    ASSERT_TRUE(t->EnsureFile("a/hello.txt"));  // done before the "crash"
  }
  auto t = OpenTree();
  Migrator m(*t, 3, 0);
  m.Estimate();
  EXPECT_TRUE(m.estimate().known);
  EXPECT_EQ(m.estimate().bytes, 11u + 100000u + (8u << 20));
  auto r = m.Run();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(CountLines(Log()), 3);  // hello.txt, the dashed file, sparse: each once
  EXPECT_EQ(ReadFile(dst_ + "/a/deep/-leading dash\nnewline ü"), std::string(100000, 'x'));
  struct stat st;
  ASSERT_EQ(::stat((dst_ + "/sparse").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 8 << 20);
  EXPECT_LT(st.st_blocks * 512, 1 << 20);  // still sparse
  EXPECT_EQ(ReadFile(dst_ + "/sparse").substr(4 << 20, 4), "data");
  ASSERT_TRUE(t->RemoveState());
  EXPECT_FALSE(fs::exists(dst_ + "/" + kStateDirName));
}

TEST_F(ShadowTreeTest, AbandonRemovesMarkersAndState) {
  InitTree();
  auto t = OpenTree();
  ASSERT_TRUE(t->EnsureDir(""));
  t.reset();
  int root = ::open(dst_.c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_TRUE(ShadowTree::Abandon(root));
  ::close(root);
  EXPECT_FALSE(fs::exists(dst_ + "/" + kStateDirName));
  EXPECT_EQ(Xattr(dst_ + "/a", kMarkerXattr), "<none>");
  EXPECT_EQ(Xattr(dst_ + "/sparse", kMarkerXattr), "<none>");
}

TEST(Marker, RoundTrips) {
  Marker f{Marker::Kind::kFile, "f1-2", "a/b\nc"};
  auto d = Marker::Decode(f.Encode());
  ASSERT_TRUE(d);
  EXPECT_EQ(d->key, "f1-2");
  EXPECT_EQ(d->rel, "a/b\nc");
  EXPECT_FALSE(Marker::Decode("X\nfoo"));
  EXPECT_FALSE(Marker::Decode("F\nfoo"));
  EXPECT_EQ(Marker::Decode("D\n")->rel, "");
}

}  // namespace
}  // namespace pk::migrate
