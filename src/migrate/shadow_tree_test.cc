// ShadowTree and Migrator on real directories (ext4/tmpfs under /var/tmp):
// the source and the "dataset" are plain directories, so every rule of the
// tree (markers, placeholders, pending, links, resume, failures) is checked
// without ZFS or FUSE.
#include "migrate/shadow_tree.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <sys/sysmacros.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include "migrate/migrator.h"

#include <functional>

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
    UniqueFd fd(::open((src_ + "/sparse").c_str(), O_WRONLY | O_CREAT, 0644));
    ::ftruncate(fd.get(), 8 << 20);
    ::pwrite(fd.get(), "data", 4, 4 << 20);
    timespec old[2] = {{1000000000, 5}, {1100000000, 7}};
    ::utimensat(AT_FDCWD, (src_ + "/a/hello.txt").c_str(), old, AT_SYMLINK_NOFOLLOW);
  }
  void TearDown() override { fs::remove_all(base_); }

  // `wrap` may replace the source (a hostile one around the real tree).
  std::unique_ptr<ShadowTree> OpenTree(
      std::function<std::unique_ptr<Source>(std::unique_ptr<Source>)> wrap = nullptr) {
    auto uri = SourceUri::Parse("file://" + src_);
    auto src = OpenSource(*uri);
    EXPECT_TRUE(src) << src.error().message();
    if (wrap) *src = wrap(std::move(*src));
    auto t = ShadowTree::Open(UniqueFd(::open(dst_.c_str(), O_RDONLY | O_DIRECTORY)), std::move(*src));
    EXPECT_TRUE(t) << t.error().message();
    return std::move(*t);
  }
  // The tree over a HostileSource (defined below) around the real source.
  template <typename H>
  std::unique_ptr<ShadowTree> OpenHostileTree(H** hostile) {
    return OpenTree([&](std::unique_ptr<Source> s) {
      auto h = std::make_unique<H>(std::move(s));
      *hostile = h.get();
      return std::unique_ptr<Source>(std::move(h));
    });
  }
  void InitTree(bool preserve_special = false) {
    auto uri = SourceUri::Parse("file://" + src_);
    auto src = OpenSource(*uri);
    ASSERT_TRUE(src);
    UniqueFd root(::open(dst_.c_str(), O_RDONLY | O_DIRECTORY));
    auto s = ShadowTree::Init(root.get(), **src, Meta{uri->text, 1, 2, 0, preserve_special});
    ASSERT_TRUE(s) << s.error().message();
  }
  std::string Log() { return dst_ + "/" + kStateDirName + "/copied.log"; }

  std::string base_, src_, dst_;
};

TEST_F(ShadowTreeTest, InitRefusesANonEmptyTargetAndASecondStart) {
  WriteFile(dst_ + "/stray", "x");
  auto uri = SourceUri::Parse("file://" + src_);
  auto src = OpenSource(*uri);
  UniqueFd root(::open(dst_.c_str(), O_RDONLY | O_DIRECTORY));
  auto s = ShadowTree::Init(root.get(), **src, Meta{uri->text, 1, 2, 0});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(s.error().message().find("not empty"), std::string::npos);
  EXPECT_FALSE(fs::exists(dst_ + "/" + kStateDirName));
  fs::remove(dst_ + "/stray");
  ASSERT_TRUE(ShadowTree::Init(root.get(), **src, Meta{uri->text, 1, 2, 0}));
  auto again = ShadowTree::Init(root.get(), **src, Meta{uri->text, 1, 2, 0});
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message().find("already started"), std::string::npos);
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
  UniqueFd root(::open(dst_.c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_TRUE(ShadowTree::Abandon(root.get()));
  root.Reset();
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

// A source around the real one that plays a hostile server: extra names in
// the root's listing (a real fs cannot hold them, an NFS READDIR can send
// them), and a hook run when a copy starts reading a file.
class HostileSource : public Source {
 public:
  explicit HostileSource(std::unique_ptr<Source> inner) : inner_(std::move(inner)) {}
  const SourceUri& uri() const override { return inner_->uri(); }
  Result<SourceStat> Stat(const std::string& rel) override { return inner_->Stat(rel); }
  Result<std::vector<SourceEntry>> List(const std::string& rel) override {
    PK_ASSIGN_OR_RETURN(auto v, inner_->List(rel));
    if (rel.empty()) {
      PK_ASSIGN_OR_RETURN(auto st, inner_->Stat("a/hello.txt"));
      for (const auto& n : extra_names) v.push_back({n, st});
    }
    return v;
  }
  Result<std::string> ReadLink(const std::string& rel) override { return inner_->ReadLink(rel); }
  Result<Xattrs> ListXattrs(const std::string& rel) override { return inner_->ListXattrs(rel); }
  Result<std::unique_ptr<SourceFile>> Open(const std::string& rel) override {
    PK_ASSIGN_OR_RETURN(auto f, inner_->Open(rel));
    if (on_open) on_open(rel);
    return f;
  }

  std::vector<std::string> extra_names;
  std::function<void(const std::string&)> on_open;

 private:
  std::unique_ptr<Source> inner_;
};

std::string KeyOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return fmt::format("f{}-{}", static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino));
}

std::optional<FailedEntry> FindFailure(const std::vector<FailedEntry>& all, const std::string& path) {
  for (const auto& f : all) {
    if (f.path == path) return f;
  }
  return std::nullopt;
}

// Issue 17 item 2: a tenant who owns a file in the dataset writes a
// user.pkshadow marker (as the layer used to read) naming /etc/hostname and
// ../../etc/hostname, with the real identity of /etc/hostname, while the
// layer is down. Markers are trusted.* now: the file stays as the tenant made it.
TEST_F(ShadowTreeTest, AMarkerForgedByAFileOwnerCopiesNothing) {
  InitTree();
  auto t = OpenTree();
  ASSERT_TRUE(t->EnsureDir(""));
  const std::string key = KeyOf("/etc/hostname");
  for (std::string target : {"/etc/hostname", "../../etc/hostname"}) {
    std::string victim = dst_ + "/victim-" + std::to_string(target.size());
    WriteFile(victim, std::string(64, 'T'));  // longer than any hostname: a copy would shorten it
    ASSERT_EQ(::chown(victim.c_str(), 65534, 65534), 0);
    std::string forged = "F" + key + "\n" + target;
    ASSERT_EQ(::lsetxattr(victim.c_str(), kLegacyMarkerXattr, forged.data(), forged.size(), 0), 0);
    EXPECT_TRUE(t->EnsureFile(victim.substr(dst_.size() + 1)));
    EXPECT_EQ(ReadFile(victim), std::string(64, 'T')) << target;
  }
  EXPECT_EQ(CountLines(Log()), 0);
}

// Issue 17 item 2: a marker only root can write (a pool crafted elsewhere)
// naming a path outside the source is refused, reported and removed; nothing
// is read. Directories likewise.
TEST_F(ShadowTreeTest, AMarkerWhosePathLeavesTheSourceIsRefusedAndReported) {
  InitTree();
  auto t = OpenTree();
  ASSERT_TRUE(t->EnsureDir(""));
  const std::string key = KeyOf("/etc/hostname");
  for (std::string target : {"/etc/hostname", "../../etc/hostname", "a/../../../etc/hostname"}) {
    std::string name = "victim-" + std::to_string(target.size());
    WriteFile(dst_ + "/" + name, std::string(64, 'T'));
    std::string marker = "F" + key + "\n" + target;
    ASSERT_EQ(::lsetxattr((dst_ + "/" + name).c_str(), kMarkerXattr, marker.data(), marker.size(), 0), 0);
    EXPECT_TRUE(t->EnsureFile(name));
    EXPECT_EQ(ReadFile(dst_ + "/" + name), std::string(64, 'T')) << target;
    EXPECT_EQ(Xattr(dst_ + "/" + name, kMarkerXattr), "<none>");
    auto f = FindFailure(t->failed(), name);
    ASSERT_TRUE(f) << target;
    EXPECT_TRUE(f->final);
    EXPECT_NE(f->error.find("marker refused"), std::string::npos) << f->error;
  }
  fs::create_directories(dst_ + "/etcdir");
  std::string dmarker = "D\n../../etc";
  ASSERT_EQ(::lsetxattr((dst_ + "/etcdir").c_str(), kMarkerXattr, dmarker.data(), dmarker.size(), 0), 0);
  auto did = t->EnsureDir("etcdir", ShadowTree::Fill::kWithData);
  ASSERT_TRUE(did) << did.error().message();
  EXPECT_TRUE(fs::is_empty(dst_ + "/etcdir"));
  EXPECT_TRUE(FindFailure(t->failed(), "etcdir"));
  EXPECT_EQ(CountLines(Log()), 0);
}

// Issue 17 item 2: the source's identity recorded in the marker (dev+inode)
// is compared before copying: another object renamed to the marker's path is
// not copied, the entry is reported.
TEST_F(ShadowTreeTest, ACopyChecksTheSourceIdentityFirst) {
  InitTree();
  auto t = OpenTree();
  ASSERT_TRUE(t->EnsureDir(""));
  ASSERT_TRUE(t->EnsureDir("a"));
  WriteFile(src_ + "/other", "other file");
  fs::rename(src_ + "/other", src_ + "/a/hello.txt");
  EXPECT_FALSE(t->EnsureFile("a/hello.txt"));
  EXPECT_EQ(ReadFile(dst_ + "/a/hello.txt"), std::string(11, '\0'));  // the placeholder, nothing copied
  auto f = FindFailure(t->failed(), "a/hello.txt");
  ASSERT_TRUE(f);
  EXPECT_NE(f->error.find("not the file this entry was made from"), std::string::npos) << f->error;
  EXPECT_EQ(CountLines(Log()), 0);
}

// Issue 17 item 2: source paths are strictly relative and resolved beneath
// the root without following a symlink on the way, with openat2 and with the
// O_NOFOLLOW walk of kernels without it.
TEST_F(ShadowTreeTest, SourcePathsStayBeneathTheRootWithoutSymlinks) {
  fs::create_directories(base_ + "/outside/deep");
  WriteFile(base_ + "/outside/deep/secret", "SECRET");
  ::symlink((base_ + "/outside").c_str(), (src_ + "/escape").c_str());
  for (bool openat2 : {true, false}) {
    UseOpenat2ForTesting(openat2);
    auto src = OpenSource(*SourceUri::Parse("file://" + src_));
    ASSERT_TRUE(src);
    EXPECT_TRUE((*src)->Stat("a/hello.txt"));
    EXPECT_TRUE((*src)->Stat("escape"));  // the link itself
    EXPECT_FALSE((*src)->Stat("escape/deep"));
    EXPECT_FALSE((*src)->List("escape/deep"));
    EXPECT_FALSE((*src)->List("escape"));
    EXPECT_FALSE((*src)->Open("escape/deep/secret"));
    EXPECT_FALSE((*src)->ReadLink("escape/deep"));
    EXPECT_FALSE((*src)->Open("link"));  // a symlink is never opened
    for (std::string bad : std::vector<std::string>{"/etc/hostname", "../outside/deep/secret", "a/../../outside",
                                                    "a//hello.txt", "a/./hello.txt", std::string("a\0b", 3)}) {
      auto r = (*src)->Stat(bad);
      ASSERT_FALSE(r) << bad;
      EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument) << bad;
      EXPECT_FALSE((*src)->Open(bad)) << bad;
    }
  }
  UseOpenat2ForTesting(true);
}

// Issue 17 item 2: a writable source swaps a directory the migration has
// created but not listed yet for a symlink to a tree outside the source: the
// walk lists nothing there and copies nothing from it.
TEST_F(ShadowTreeTest, ADirectorySwappedForASymlinkCopiesNothingOutside) {
  fs::create_directories(base_ + "/outside/deep");
  WriteFile(base_ + "/outside/deep/secret", "SECRET");
  InitTree();
  auto t = OpenTree();
  ASSERT_TRUE(t->EnsureDir("", ShadowTree::Fill::kWithData));
  ASSERT_TRUE(t->EnsureDir("a", ShadowTree::Fill::kWithData));  // a/deep: created, not listed
  fs::rename(src_ + "/a", src_ + "/a.real");
  ASSERT_EQ(::symlink((base_ + "/outside").c_str(), (src_ + "/a").c_str()), 0);
  auto did = t->EnsureDir("a/deep", ShadowTree::Fill::kWithData);
  ASSERT_TRUE(did) << did.error().message();  // given up: reported, does not hold up completion
  EXPECT_FALSE(*did);
  EXPECT_FALSE(fs::exists(dst_ + "/a/deep/secret"));
  EXPECT_TRUE(fs::is_empty(dst_ + "/a/deep"));
  EXPECT_TRUE(FindFailure(t->failed(), "a/deep"));
}

// Issue 17 item 3: names from the source's listing that cannot be a
// directory entry are refused and reported; the directory still completes.
TEST_F(ShadowTreeTest, HostileNamesAreRefusedAndTheDirectoryCompletes) {
  InitTree();
  HostileSource* hostile = nullptr;
  auto t = OpenHostileTree(&hostile);
  hostile->extra_names = {"../escape", "evil/name", "..", ".", "", std::string("nul\0byte", 8)};
  auto did = t->EnsureDir("", ShadowTree::Fill::kWithData);
  ASSERT_TRUE(did) << did.error().message();
  EXPECT_TRUE(*did);
  EXPECT_EQ(Xattr(dst_, kMarkerXattr), "<none>");  // populated
  EXPECT_FALSE(fs::exists(base_ + "/escape"));
  EXPECT_FALSE(fs::exists(dst_ + "/evil"));
  EXPECT_FALSE(fs::exists(dst_ + "/nul"));
  EXPECT_TRUE(fs::exists(dst_ + "/a"));
  EXPECT_EQ(t->failed_dirs(), 0u);
  for (std::string p : std::vector<std::string>{"../escape", "evil/name", "..", ".", "", "nul?byte"}) {
    auto f = FindFailure(t->failed(), p);
    ASSERT_TRUE(f) << p;
    EXPECT_TRUE(f->final);
    EXPECT_NE(f->error.find("name refused"), std::string::npos);
  }
}

// Issue 17 item 3: set-ID bits and device nodes only with preserve_special;
// without it each is reported.
TEST_F(ShadowTreeTest, SetIdBitsAndDeviceNodesNeedPreserveSpecial) {
  WriteFile(src_ + "/suid", "#!/bin/sh\n");
  ::chmod((src_ + "/suid").c_str(), 06755);
  ASSERT_EQ(::mknod((src_ + "/mem").c_str(), S_IFCHR | 0666, makedev(1, 1)), 0);
  for (bool preserve : {false, true}) {
    fs::remove_all(dst_);
    fs::create_directories(dst_);
    InitTree(preserve);
    auto t = OpenTree();
    ASSERT_TRUE(t->EnsureDir("", ShadowTree::Fill::kWithData));
    struct stat st;
    ASSERT_EQ(::lstat((dst_ + "/suid").c_str(), &st), 0);
    EXPECT_EQ(ReadFile(dst_ + "/suid"), "#!/bin/sh\n");
    if (preserve) {
      EXPECT_EQ(st.st_mode & 07777, 06755u);
      ASSERT_EQ(::lstat((dst_ + "/mem").c_str(), &st), 0);
      EXPECT_TRUE(S_ISCHR(st.st_mode));
      EXPECT_EQ(st.st_rdev, makedev(1, 1));
      EXPECT_TRUE(t->failed().empty());
    } else {
      EXPECT_EQ(st.st_mode & 07777, 0755u);
      EXPECT_FALSE(fs::exists(fs::symlink_status(dst_ + "/mem")));
      auto f = FindFailure(t->failed(), "suid");
      ASSERT_TRUE(f);
      EXPECT_NE(f->error.find("--preserve-special"), std::string::npos);
      f = FindFailure(t->failed(), "mem");
      ASSERT_TRUE(f);
      EXPECT_NE(f->error.find("device node not created"), std::string::npos);
      EXPECT_EQ(t->failed_dirs(), 0u);
    }
  }
}

// Issue 17 item 3: POSIX ACLs are copied (here ext4 to ext4), never dropped.
TEST_F(ShadowTreeTest, PosixAclsAreCopied) {
  // user::rw-, user:1234:r--, group::r--, mask::r--, other::---
  const unsigned char acl[] = {2, 0, 0, 0,                                           //
                               1, 0, 6, 0, 0xff, 0xff, 0xff, 0xff,                   //
                               2, 0, 4, 0, 0xd2, 0x04, 0, 0,                         //
                               4, 0, 4, 0, 0xff, 0xff, 0xff, 0xff,                   //
                               0x10, 0, 4, 0, 0xff, 0xff, 0xff, 0xff,                //
                               0x20, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};
  WriteFile(src_ + "/acl", "acl");
  if (::setxattr((src_ + "/acl").c_str(), "system.posix_acl_access", acl, sizeof acl, 0) != 0) {
    GTEST_SKIP() << "no POSIX ACLs on " << src_;
  }
  InitTree();
  auto t = OpenTree();
  ASSERT_TRUE(t->EnsureDir("", ShadowTree::Fill::kWithData));
  EXPECT_EQ(Xattr(dst_ + "/acl", "system.posix_acl_access"), std::string(reinterpret_cast<const char*>(acl), sizeof acl));
}

// Issue 17 item 3: a file that changes while it is copied is copied again;
// one that keeps changing is reported and stays pending.
TEST_F(ShadowTreeTest, AFileThatChangesDuringItsCopyIsCopiedAgainOrReported) {
  InitTree();
  HostileSource* hostile = nullptr;
  auto t = OpenHostileTree(&hostile);
  ASSERT_TRUE(t->EnsureDir(""));
  ASSERT_TRUE(t->EnsureDir("a"));
  int opens = 0;
  hostile->on_open = [&](const std::string&) {
    if (opens++ == 0) {  // written to while the first copy reads it
      std::ofstream(src_ + "/a/hello.txt", std::ios::app) << " and more";
    }
  };
  ASSERT_TRUE(t->EnsureFile("a/hello.txt"));
  EXPECT_EQ(ReadFile(dst_ + "/a/hello.txt"), "hello world and more");
  EXPECT_EQ(opens, 2);
  // Changing at every copy: reported, still pending, no half copy logged.
  hostile->on_open = [&](const std::string&) { std::ofstream(src_ + "/sparse", std::ios::app) << "x"; };
  EXPECT_FALSE(t->EnsureFile("sparse"));
  auto f = FindFailure(t->failed(), "sparse");
  ASSERT_TRUE(f);
  EXPECT_NE(f->error.find("changed during each of 3 copies"), std::string::npos) << f->error;
  EXPECT_NE(Xattr(dst_ + "/sparse", kMarkerXattr), "<none>");
  EXPECT_EQ(CountLines(Log()), 1);
}

// Issue 17 item 3: entries that vanish from the source mid-migration are
// reported and do not block completion.
TEST_F(ShadowTreeTest, VanishedSourceEntriesAreReportedAndDoNotBlockCompletion) {
  InitTree();
  auto t = OpenTree();
  ASSERT_TRUE(t->EnsureDir(""));  // sparse: a placeholder; b: not listed yet
  fs::remove(src_ + "/sparse");
  fs::remove_all(src_ + "/b");
  Migrator m(*t, 2, 0);
  auto run = std::async(std::launch::async, [&] { return m.Run(); });
  if (run.wait_for(std::chrono::seconds(30)) != std::future_status::ready) m.Stop();
  auto r = run.get();
  ASSERT_TRUE(r) << r.error().message();
  auto f = FindFailure(t->failed(), "sparse");
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->final);
  EXPECT_NE(f->error.find("vanished"), std::string::npos) << f->error;
  f = FindFailure(t->failed(), "b");
  ASSERT_TRUE(f);
  EXPECT_NE(f->error.find("vanished"), std::string::npos) << f->error;
  ASSERT_TRUE(t->RemoveState());
}

// Issue 17 item 3: a name that is not UTF-8 in a failure never throws (the
// state file and status encode it) and comes back byte for byte.
TEST_F(ShadowTreeTest, NamesThatAreNotUtf8AreReportedByteExact) {
  const std::string name = "bad\xff\xfename";
  WriteFile(src_ + "/" + name, std::string(kInlineCopyMax + 1, 'n'));
  InitTree();
  auto t = OpenTree();
  ASSERT_TRUE(t->EnsureDir(""));
  fs::rename(src_ + "/" + name, src_ + "/gone");
  EXPECT_FALSE(t->EnsureFile(name));
  ASSERT_TRUE(FindFailure(t->failed(), name));
  t.reset();
  t = OpenTree();
  ASSERT_TRUE(FindFailure(t->failed(), name));
}

// Issue 17 item 3: meta.json of a source whose path is not UTF-8 is written
// through pk::DumpJson: valid JSON (U+FFFD for the bad byte), never a throw.
TEST(Meta, ASourceThatIsNotUtf8NeverThrows) {
  Meta m;
  m.source = "file:///srv/caf\xe9";
  std::string text;
  ASSERT_NO_THROW(text = m.ToJson());
  auto back = Meta::FromJson(text);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->source, "file:///srv/caf\xef\xbf\xbd");
}

// Issue 17 item 3: the source walk for estimate.json counts entries whose
// names are not UTF-8 (the file holds numbers only, written with pk::DumpJson).
TEST_F(ShadowTreeTest, EstimateCountsNamesThatAreNotUtf8) {
  WriteFile(src_ + "/b/caf\xe9", std::string(10, 'z'));
  InitTree();
  auto t = OpenTree();
  Migrator m(*t, 1, 0);
  m.Estimate();
  ASSERT_TRUE(m.estimate().known);
  EXPECT_EQ(m.estimate().bytes, 11u + 100000u + (8u << 20) + 10u);
  auto text = t->ReadStateFile("estimate.json");
  ASSERT_TRUE(text);
  EXPECT_EQ(nlohmann::json::parse(*text).value("bytes", uint64_t{0}), m.estimate().bytes);
  ASSERT_TRUE(t->RemoveState());
}

TEST_F(ShadowTreeTest, AMigrationWithUserMarkersIsNotResumed) {
  InitTree();
  std::string meta = dst_ + "/" + kStateDirName + "/meta.json";
  WriteFile(meta, R"({"source":"file://)" + src_ + R"(","started_at":1,"concurrency":2,"bwlimit":0})");
  auto uri = SourceUri::Parse("file://" + src_);
  auto t = ShadowTree::Open(UniqueFd(::open(dst_.c_str(), O_RDONLY | O_DIRECTORY)), std::move(*OpenSource(*uri)));
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(t.error().message().find("cancel it and start it again"), std::string::npos);
}

TEST(Marker, RefusesPathsThatLeaveTheSourceAndOddKeys) {
  EXPECT_FALSE(Marker::Decode("D\n/etc"));
  EXPECT_FALSE(Marker::Decode("D\n../etc"));
  EXPECT_FALSE(Marker::Decode("Ff1-2\na/../../etc/hostname"));
  EXPECT_FALSE(Marker::Decode("Ff1-2\na//b"));
  EXPECT_FALSE(Marker::Decode(std::string("Ff1-2\na\0b", 10)));
  EXPECT_FALSE(Marker::Decode("F../x\na"));
  EXPECT_TRUE(Marker::Decode("Fn77\na/b c"));
}

}  // namespace
}  // namespace pk::migrate
