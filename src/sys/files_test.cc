#include "sys/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/unique_fd.h"
#include "sys/beneath.h"

namespace pk::sys {
namespace {

using ::testing::HasSubstr;

class FilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "pk_files_XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }
  std::vector<std::string> Entries() const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
      names.push_back(entry.path().filename().string());
    }
    return names;
  }

  std::string dir_;
  std::unique_ptr<FileSystem> fs_ = MakeRealFileSystem();
};

TEST_F(FilesTest, WriteThenRead) {
  const std::string path = Path("config.json");
  ASSERT_TRUE(fs_->WriteFileAtomic(path, "{\"a\": 1}\n", 0640).has_value());
  auto contents = fs_->ReadFile(path);
  ASSERT_TRUE(contents.has_value()) << contents.error().ToString();
  EXPECT_EQ(*contents, "{\"a\": 1}\n");

  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  // Only the target is left behind, no temporary file.
  EXPECT_EQ(Entries(), std::vector<std::string>{"config.json"});
}

TEST_F(FilesTest, WriteReplacesExistingFileAndKeepsBinaryData) {
  const std::string path = Path("state");
  ASSERT_TRUE(fs_->WriteFileAtomic(path, "old contents that are longer", 0600).has_value());
  const std::string binary("a\0b\xff", 4);
  ASSERT_TRUE(fs_->WriteFileAtomic(path, binary, 0644).has_value());
  auto contents = fs_->ReadFile(path);
  ASSERT_TRUE(contents.has_value());
  EXPECT_EQ(*contents, binary);
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
}

TEST_F(FilesTest, WriteEmptyAndLargeFiles) {
  ASSERT_TRUE(fs_->WriteFileAtomic(Path("empty"), "", 0644).has_value());
  EXPECT_EQ(fs_->ReadFile(Path("empty")).value(), "");
  const std::string big(3 * 1024 * 1024 + 7, 'z');
  ASSERT_TRUE(fs_->WriteFileAtomic(Path("big"), big, 0644).has_value());
  EXPECT_TRUE(fs_->ReadFile(Path("big")).value() == big);
}

TEST_F(FilesTest, WriteIntoMissingDirectoryFailsNamingThePath) {
  const std::string path = Path("missing/file");
  auto status = fs_->WriteFileAtomic(path, "x", 0644);
  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error().code(), ErrorCode::kNotFound);
  EXPECT_THAT(status.error().message(), HasSubstr(path));
  EXPECT_THAT(status.error().message(), HasSubstr("No such file or directory"));
}

TEST_F(FilesTest, ReadMissingFileIsNotFound) {
  const std::string path = Path("nope");
  auto contents = fs_->ReadFile(path);
  ASSERT_FALSE(contents.has_value());
  EXPECT_EQ(contents.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(contents.error().message(), "read '" + path + "': No such file or directory");
}

TEST_F(FilesTest, Exists) {
  EXPECT_EQ(fs_->Exists(Path("f")).value(), false);
  ASSERT_TRUE(fs_->WriteFileAtomic(Path("f"), "x", 0644).has_value());
  EXPECT_EQ(fs_->Exists(Path("f")).value(), true);
  EXPECT_EQ(fs_->Exists(dir_).value(), true);
  // A path "through" a regular file does not exist (ENOTDIR), it is not an error.
  EXPECT_EQ(fs_->Exists(Path("f/g")).value(), false);
}

TEST_F(FilesTest, MakeDirsCreatesParentsAndIsIdempotent) {
  const std::string path = Path("a/b//c/");
  ASSERT_TRUE(fs_->MakeDirs(path, 0755).has_value());
  EXPECT_TRUE(std::filesystem::is_directory(Path("a/b/c")));
  ASSERT_TRUE(fs_->MakeDirs(path, 0755).has_value());
  ASSERT_TRUE(fs_->MakeDirs(Path("a"), 0755).has_value());
}

TEST_F(FilesTest, MakeDirsThroughAFileFails) {
  ASSERT_TRUE(fs_->WriteFileAtomic(Path("file"), "x", 0644).has_value());
  auto status = fs_->MakeDirs(Path("file/sub"), 0755);
  ASSERT_FALSE(status.has_value());
  EXPECT_THAT(status.error().message(), HasSubstr(Path("file")));
  status = fs_->MakeDirs(Path("file"), 0755);
  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(status.error().message(), HasSubstr("not a directory"));
}

TEST_F(FilesTest, RemoveFilesAndEmptyDirectories) {
  ASSERT_TRUE(fs_->WriteFileAtomic(Path("f"), "x", 0644).has_value());
  ASSERT_TRUE(fs_->MakeDirs(Path("d/e"), 0755).has_value());
  EXPECT_TRUE(fs_->Remove(Path("f")).has_value());
  EXPECT_FALSE(std::filesystem::exists(Path("f")));

  auto status = fs_->Remove(Path("d"));  // not empty
  ASSERT_FALSE(status.has_value());
  EXPECT_THAT(status.error().message(), HasSubstr("Directory not empty"));
  EXPECT_TRUE(fs_->Remove(Path("d/e")).has_value());
  EXPECT_TRUE(fs_->Remove(Path("d")).has_value());

  status = fs_->Remove(Path("f"));
  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error().code(), ErrorCode::kNotFound);
  EXPECT_THAT(status.error().message(), HasSubstr(Path("f")));
}

TEST_F(FilesTest, AppendDurablyAddsToTheEndAndKeepsMode) {
  const std::string path = Path("log");
  ASSERT_TRUE(fs_->WriteFileAtomic(path, "one\n", 0640).has_value());
  ASSERT_TRUE(fs_->AppendDurably(path, "two\n").has_value());
  ASSERT_TRUE(fs_->AppendDurably(path, "").has_value());
  ASSERT_TRUE(fs_->AppendDurably(path, "three\n").has_value());
  EXPECT_EQ(fs_->ReadFile(path).value(), "one\ntwo\nthree\n");
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(Entries(), std::vector<std::string>{"log"});
}

TEST_F(FilesTest, AppendDurablyToMissingFileIsNotFoundAndCreatesNothing) {
  const std::string path = Path("absent");
  auto status = fs_->AppendDurably(path, "x");
  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(status.error().message(), "open for append '" + path + "': No such file or directory");
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST_F(FilesTest, AppendDurablyToADirectoryFails) {
  auto status = fs_->AppendDurably(dir_, "x");
  ASSERT_FALSE(status.has_value());
  EXPECT_THAT(status.error().message(), HasSubstr(dir_));
  EXPECT_THAT(status.error().message(), HasSubstr("Is a directory"));
}

TEST_F(FilesTest, RelativePathInCurrentDirectory) {
  const auto old_cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir_);
  auto status = fs_->WriteFileAtomic("relative.txt", "r", 0644);
  auto contents = fs_->ReadFile("relative.txt");
  std::filesystem::current_path(old_cwd);
  ASSERT_TRUE(status.has_value()) << status.error().ToString();
  EXPECT_EQ(contents.value(), "r");
}

TEST_F(FilesTest, StatDeviceOfAFileDisk) {
  const std::string path = Path("disk.img");
  ASSERT_TRUE(fs_->WriteFileAtomic(path, "", 0600));
  std::filesystem::resize_file(path, 256ULL << 20);  // sparse, like the lab's disks
  auto info = fs_->StatDevice(path);
  ASSERT_TRUE(info.has_value()) << info.error().ToString();
  EXPECT_EQ(info->size_bytes, 256ULL << 20);
  EXPECT_FALSE(info->block_device);
}

TEST_F(FilesTest, StatDeviceRefusesWhatIsNotADisk) {
  auto chr = fs_->StatDevice("/dev/null");
  ASSERT_FALSE(chr.has_value());
  EXPECT_EQ(chr.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(chr.error().message(), HasSubstr("'/dev/null' is neither a block device nor a regular file"));
  auto missing = fs_->StatDevice(Path("absent"));
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
}

// issue 17 item 4 (the check-to-open window): OpenFilesOf reports the file a
// descriptor is open on, not what its path names now: after the path is
// swapped for a symlink to another file, the descriptor still shows the
// checked inode, and the other file shows up only once opened.
TEST_F(FilesTest, OpenFilesOfReportsTheOpenInodeNotThePath) {
  ASSERT_TRUE(fs_->CreateSparseFile(Path("lun.img"), 4096, 0600));
  ASSERT_TRUE(fs_->CreateSparseFile(Path("other.img"), 4096, 0600));
  auto checked = StatRegularBeneath(dir_, "lun.img");
  ASSERT_TRUE(checked) << checked.error().message();
  UniqueFd fd(::open(Path("lun.img").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_GE(fd.get(), 0);
  ASSERT_EQ(::unlink(Path("lun.img").c_str()), 0);
  ASSERT_EQ(::symlink(Path("other.img").c_str(), Path("lun.img").c_str()), 0);
  auto held = OpenFilesOf(::getpid());
  ASSERT_TRUE(held) << held.error().message();
  OpenFile want{.fd = fd.get(), .device = checked->device, .inode = checked->inode};
  EXPECT_THAT(*held, ::testing::Contains(want));
  UniqueFd through_link(::open(Path("lun.img").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_GE(through_link.get(), 0);
  held = OpenFilesOf(::getpid());
  ASSERT_TRUE(held);
  auto it = std::find_if(held->begin(), held->end(), [&](const OpenFile& f) { return f.fd == through_link.get(); });
  ASSERT_NE(it, held->end());
  EXPECT_NE(it->inode, checked->inode);
  for (const auto& f : *held) EXPECT_GE(f.fd, 0);
  EXPECT_EQ(OpenFilesOf(999999999).error().code(), ErrorCode::kNotFound);
}

// issue 17 item 4: a LUN file is checked without following symbolic links,
// in any component, and only a regular file on the directory's device passes.
TEST_F(FilesTest, StatRegularBeneathRefusesLinksAndSpecialFiles) {
  ASSERT_TRUE(fs_->CreateSparseFile(Path("lun.img"), 4096, 0600));
  auto ok = StatRegularBeneath(dir_, "lun.img");
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ(ok->size_bytes, 4096u);

  ASSERT_EQ(::symlink(Path("lun.img").c_str(), Path("link.img").c_str()), 0);
  auto link = StatRegularBeneath(dir_, "link.img");
  ASSERT_FALSE(link);
  EXPECT_EQ(link.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(link.error().message(), HasSubstr("is a symbolic link"));
  EXPECT_THAT(link.error().message(), HasSubstr(Path("link.img")));

  // A directory swapped for a link: the middle component is refused too.
  ASSERT_TRUE(fs_->MakeDirs(Path("real"), 0755));
  ASSERT_TRUE(fs_->CreateSparseFile(Path("real/lun.img"), 512, 0600));
  ASSERT_EQ(::symlink(Path("real").c_str(), Path("swapped").c_str()), 0);
  ASSERT_TRUE(StatRegularBeneath(dir_, "real/lun.img"));
  auto middle = StatRegularBeneath(dir_, "swapped/lun.img");
  ASSERT_FALSE(middle);
  EXPECT_THAT(middle.error().message(), HasSubstr("symbolic link"));

  auto dir = StatRegularBeneath(dir_, "real");
  ASSERT_FALSE(dir);
  EXPECT_THAT(dir.error().message(), HasSubstr("is a directory, not a regular file"));
  ASSERT_EQ(::mkfifo(Path("fifo").c_str(), 0600), 0);
  auto fifo = StatRegularBeneath(dir_, "fifo");
  ASSERT_FALSE(fifo);
  EXPECT_THAT(fifo.error().message(), HasSubstr("FIFO"));

  EXPECT_EQ(StatRegularBeneath(dir_, "../etc/hostname").error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(StatRegularBeneath(dir_, "/etc/hostname").error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(StatRegularBeneath(dir_, "missing.img").error().code(), ErrorCode::kNotFound);
}

// issue 17 item 4: a file on another filesystem than the directory (here a
// link-free path into /proc, mounted below nothing of ours: /proc/self is a
// link, so use /proc/version from "/") is refused by device.
TEST_F(FilesTest, StatRegularBeneathRefusesAnotherDevice) {
  auto other = StatRegularBeneath("/", "proc/version");
  ASSERT_FALSE(other);
  EXPECT_THAT(other.error().message(), HasSubstr("another filesystem"));
}

}  // namespace
}  // namespace pk::sys
