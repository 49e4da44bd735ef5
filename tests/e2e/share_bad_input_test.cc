// End-to-end tests of share definitions refused at the edge (issue 4, bad
// input): each request below must fail with an error naming the object and
// the cause, write no property (checked with `zfs get` straight from ZFS),
// create no LUN file, and start no share server (the daemon's debug log lists
// every program it ran: no tgtadm, ganesha or smbd line may appear).
//
// One daemon (its share servers configured, so "nothing started" means
// something) and one single-disk pool with two filesystems and one valid
// share of each protocol to collide with.
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sys/process_runner.h"
#include "tests/e2e/harness.h"
#include "tests/e2e/lab.h"
#include "tests/e2e/share_lab.h"

namespace pk::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

class ShareBadInputTest : public LabSuite<ShareBadInputTest> {
 protected:
  friend class LabSuite<ShareBadInputTest>;  // calls SetUpLab/TearDownLab

  static Status SetUpLab() {
    std::string name = "shb" + std::to_string(::getpid());
    PK_TRY(lab_.Open(name));
    PK_ASSIGN_OR_RETURN(pool_, lab_.CreatePool(name));
    for (const char* ds : {"/a", "/b"}) PK_TRY(lab_.Run(ZfsTool("zfs", {"create", name + ds})));
    lab_.options().config = lab_.work() + "/poolkeeperd.conf";
    PK_TRY(WriteShareConfig(lab_.options(), ShareHeadFor(0)));
    log_path_ = lab_.options().log_path;
    cli_ = lab_.cli();
    PK_TRY(lab_.StartDaemon());
    return AdoptPool(cli_, name);  // made with zpool create
  }

  // The share property of `dataset` as ZFS has it ("-" when unset).
  static std::string Property(const std::string& dataset, const std::string& protocol) {
    auto r = lab_.runner().Run(ZfsTool("zfs", {"get", "-H", "-o", "value", "org.poolkeeper:share." + protocol, dataset}));
    if (!r || !r->status.Success()) return "(zfs get failed)";
    std::string v = r->out;
    while (!v.empty() && v.back() == '\n') v.pop_back();
    return v;
  }

  // Runs `args`, expects exit `code` and an error containing `message`,
  // and that nothing was written or started meanwhile.
  void ExpectRefused(std::vector<std::string> args, int code, const std::string& message) {
    std::string log_before = ReadWholeFile(log_path_);
    std::vector<std::string> props_before;
    for (const auto& ds : Datasets()) {
      for (const char* p : {"iscsi", "nfs", "smb"}) props_before.push_back(Property(ds, p));
    }
    auto files_before = LunFiles();
    CliResult r = cli_.Run(args);
    EXPECT_EQ(r.code, code) << r;
    EXPECT_THAT(r.err, HasSubstr(message)) << r;
    std::vector<std::string> props_after;
    for (const auto& ds : Datasets()) {
      for (const char* p : {"iscsi", "nfs", "smb"}) props_after.push_back(Property(ds, p));
    }
    EXPECT_EQ(props_after, props_before) << "a property changed for " << r;
    EXPECT_EQ(LunFiles(), files_before) << "a LUN file appeared for " << r;
    std::string log_after = ReadWholeFile(log_path_);
    std::string added = log_after.size() > log_before.size() ? log_after.substr(log_before.size()) : "";
    for (const char* server : {"tgtadm", "tgtd", "ganesha", "smbd", "smbcontrol", "zfs set"}) {
      EXPECT_THAT(added, Not(HasSubstr(server))) << "the daemon ran " << server << " for " << r;
    }
  }

  static std::vector<std::string> Datasets() { return {pool_.name + "/a", pool_.name + "/b"}; }
  static std::vector<std::string> LunFiles() {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::recursive_directory_iterator(pool_.mnt, ec)) {
      if (e.path().extension() == ".img") out.push_back(e.path().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  static inline LabPool pool_;
  static inline std::string log_path_;
  static inline CliClient cli_;
};

TEST_F(ShareBadInputTest, RefusedWithTheReasonAndNothingTouched) {
  const std::string a = pool_.name + "/a";
  const std::string b = pool_.name + "/b";
  // Valid shares to collide with.
  auto open = cli_.Run({"share", "create", "iscsi", a, "--size", "16M", "--iqn", "iqn.2026-11.org.example:t1"});
  ASSERT_EQ(open.code, kExitOk) << open;
  // issue 17 item 8: no --initiator and no CHAP keeps the default and says so.
  EXPECT_THAT(open.out, HasSubstr("warning: the LUN of '" + a + "' is open to everyone")) << open;
  auto shown = cli_.Json({"share", "show", "iscsi", a});
  ASSERT_TRUE(shown["warnings"].is_array()) << shown.dump();
  ASSERT_EQ(shown["warnings"].size(), 1u) << shown.dump();
  EXPECT_THAT(shown["warnings"][0].get<std::string>(), HasSubstr("open to everyone"));
  ASSERT_EQ(cli_.Run({"share", "create", "smb", a, "--name", "Projects"}).code, kExitOk);
  ASSERT_EQ(cli_.Run({"share", "create", "nfs", a, "--client", "127.0.0.1(rw)", "--pseudo", "/projects"}).code, kExitOk);

  // Malformed IQNs.
  ExpectRefused({"share", "create", "iscsi", b, "--size", "16M", "--iqn", "iqn.2026-11.org.example:t1;reboot"}, kExitUsage,
                "character ';' is not allowed");
  ExpectRefused({"share", "create", "iscsi", b, "--size", "16M", "--iqn", "IQN.2026-11.org.example:t1"}, kExitUsage,
                "must start with 'iqn.'");
  ExpectRefused({"share", "create", "iscsi", b, "--size", "16M", "--iqn", "iqn.2026-13.org.example:t1"}, kExitUsage, "month");
  // Duplicate LUN number in a target.
  ExpectRefused({"share", "create", "iscsi", b, "--size", "16M", "--iqn", "iqn.2026-11.org.example:t1", "--lun", "1"},
                kExitFailure, "LUN 1 of target iqn.2026-11.org.example:t1 is already used by dataset '" + a + "'");
  // Same target, other ACL: one target has one ACL.
  ExpectRefused({"share", "create", "iscsi", b, "--size", "16M", "--iqn", "iqn.2026-11.org.example:t1", "--lun", "2",
                 "--initiator", "10.1.1.1"},
                kExitFailure, "other CHAP or initiator settings");
  // SMB share name collision (names are case-insensitive).
  ExpectRefused({"share", "create", "smb", b, "--name", "projects"}, kExitFailure,
                "SMB share name 'projects' is already used by dataset '" + a + "'");
  ExpectRefused({"share", "create", "smb", b, "--name", "a]b"}, kExitUsage, "contains ']'");
  // NFS client specs that do not parse; a pseudo path already used.
  ExpectRefused({"share", "create", "nfs", b, "--client", "127.0.0.1(rw,nosuchoption)"}, kExitUsage, "unknown option 'nosuchoption'");
  ExpectRefused({"share", "create", "nfs", b, "--client", "127.0.0.1(rw"}, kExitUsage, "does not parse");
  ExpectRefused({"share", "create", "nfs", b, "--client", "$(reboot)"}, kExitUsage, "does not parse");
  ExpectRefused({"share", "create", "nfs", b, "--client", "*", "--pseudo", "/projects"}, kExitFailure,
                "pseudo path '/projects' is already used");
  // harden item 1 (issue 17, UTF-8 names): names that are not UTF-8 cannot be
  // carried by the JSON API, the pool property or SMB; the CLI refused to send
  // them as U+FFFD, naming the field, the byte and its offset.
  ExpectRefused({"share", "create", "smb", b, "--name", "caf\xe9"}, kExitUsage,
                "field /name 'caf\\xe9' is not valid UTF-8 (byte 0xe9 at offset 3)");
  ExpectRefused({"share", "create", "iscsi", b, "--size", "16M", "--file", "lun\xff.img"}, kExitUsage,
                "field /file 'lun\\xff.img' is not valid UTF-8 (byte 0xff at offset 3)");
  ExpectRefused({"migrate", "start", b, "--source", "file:///srv/old\xfe"}, kExitUsage,
                "field /source 'file:///srv/old\\xfe' is not valid UTF-8 (byte 0xfe at offset 15)");
  // Datasets that do not exist, or whose pool is not imported.
  ExpectRefused({"share", "create", "nfs", pool_.name + "/nope", "--client", "*"}, kExitNotFound,
                "dataset '" + pool_.name + "/nope' does not exist");
  ExpectRefused({"share", "create", "nfs", "nosuchpool/x", "--client", "*"}, kExitFailure,
                "pool 'nosuchpool' is not imported");
  ExpectRefused({"share", "create", "nfs", pool_.name + "/a;rm", "--client", "*"}, kExitUsage, "not allowed");
  // A second share of the same protocol on one dataset; unknown protocol and field.
  ExpectRefused({"share", "create", "smb", a, "--name", "Other"}, kExitFailure, "already has an smb share");
  ExpectRefused({"share", "create", "afp", a}, kExitUsage, "unknown share protocol 'afp'");
  ExpectRefused({"share", "set", "smb", a, "--reset", "colour"}, kExitUsage, "unknown field 'colour'");
  // A new LUN file needs a size; a CHAP secret outside 12..16 characters.
  ExpectRefused({"share", "create", "iscsi", b}, kExitUsage, "give a size for the new LUN file");
  ExpectRefused({"share", "set", "smb", b, "--read-only"}, kExitNotFound, "has no smb share");
  ExpectRefused({"share", "delete", "nfs", b}, kExitNotFound, "has no nfs share");

  // The valid shares are still there, unchanged.
  auto list = cli_.Json({"share", "list", "--pool", pool_.name});
  ASSERT_EQ(list["shares"].size(), 3u) << list.dump(2);
  EXPECT_THAT(Property(a, "smb"), HasSubstr("\"name\":\"Projects\""));
  EXPECT_EQ(Property(b, "iscsi"), "-");
  EXPECT_EQ(Property(b, "smb"), "-");
  EXPECT_EQ(Property(b, "nfs"), "-");
  ASSERT_EQ(cli_.Run({"share", "delete", "iscsi", a}).code, kExitOk);
  EXPECT_EQ(Property(a, "iscsi"), "-");
}

}  // namespace
}  // namespace pk::e2e
