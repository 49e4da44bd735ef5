// End-to-end tests of quotas (issue 7) on a real zfs-fuse pool, driven through
// the real `poolkeeper` CLI and poolkeeperd:
//
//  - UserQuotaIsEnforced: a 2 MiB quota for a throwaway numeric uid (no passwd
//    entry); that uid then writes 256 KiB files (dd conv=fsync, as the uid via
//    setpriv) until the kernel answers EDQUOT. ZFS enforces quotas against
//    usage that lags by up to a transaction group, so writes pass the quota
//    for a while: how long and how many bytes past it is printed, and must
//    stay under a generous bound.
//  - GroupQuotaIsEnforced: the same for a group quota (a uid outside the group
//    writes with the group as its gid).
//  - RealNamesResolveAndListIsSortedAndFiltered: `nobody` (and the `daemon`
//    group) by name; `quota get` shows name and id; the listing is sorted,
//    filtered, and agrees with `zfs get`.
//  - BadInputChangesNothing: unknown user/group (exit 3), negative, malformed
//    or zero sizes, bad names (exit 2); `zfs get userquota@...` is unchanged.
//
// One daemon and one 128 MiB single-disk pool for the suite (e2e::Lab),
// destroyed at the suite's end whatever happened. Programs run through sys::ProcessRunner
// with argv vectors; never a shell. No assertion rests on a sleep.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sys/process_runner.h"
#include "tests/e2e/harness.h"
#include "tests/e2e/lab.h"

namespace pk::e2e {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kChunk = 256 * 1024;       // bytes per dd run
constexpr uint64_t kWriteCap = 48 * kMiB;     // give up past this (the pool has ~90 MiB)
constexpr const char* kSetpriv = "/usr/bin/setpriv";
constexpr const char* kDd = "/usr/bin/dd";

class QuotaTest : public LabSuite<QuotaTest> {
 protected:
  friend class LabSuite<QuotaTest>;  // calls SetUpLab/TearDownLab

  static Status SetUpLab() {
    pool_ = "quo" + std::to_string(::getpid());
    PK_TRY(lab_.Open(pool_));
    PK_ASSIGN_OR_RETURN(LabPool pool, lab_.CreatePool(pool_));
    mnt_ = pool.mnt;
    dataset_ = pool_ + "/q";
    PK_TRY(lab_.Run(ZfsTool("zfs", {"create", dataset_})));
    // Anyone may create files in the filesystem (sticky, like /tmp).
    std::error_code ec;
    fs::permissions(mnt_ + "/q", fs::perms::all | fs::perms::sticky_bit, ec);
    if (ec) return Internal("chmod " + mnt_ + "/q: " + ec.message());
    cli_ = lab_.cli();
    return lab_.StartDaemon();
  }

  // `zfs get -H -p -o value PROPERTY DATASET`, straight from ZFS.
  static std::string ZfsValue(const std::string& property) {
    auto got = lab_.Run(ZfsTool("zfs", {"get", "-H", "-p", "-o", "value", property, dataset_}));
    PK_EXPECT_OK(got);
    std::string out = got.value_or("");
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }

  struct WriteOutcome {
    bool hit_edquot = false;
    uint64_t bytes_written = 0;  // by successful dd runs (a refused run's partial bytes not counted)
    int chunks = 0;
    double seconds = 0;
    std::string last_error;
  };

  // Writes kChunk-byte files as uid/gid until dd fails (EDQUOT expected) or kWriteCap.
  static WriteOutcome WriteUntilRefused(uint32_t uid, uint32_t gid, const std::string& tag) {
    WriteOutcome w;
    auto start = Clock::now();
    while (w.bytes_written < kWriteCap) {
      std::string file = mnt_ + "/q/" + tag + "-" + std::to_string(w.chunks);
      sys::Command cmd{kSetpriv,
                       {"--reuid=" + std::to_string(uid), "--regid=" + std::to_string(gid), "--clear-groups", kDd,
                        "if=/dev/zero", "of=" + file, "bs=64k", "count=" + std::to_string(kChunk / 65536),
                        "conv=fsync"},
                       ToolEnv(),
                       std::nullopt,
                       std::chrono::seconds(60)};
      auto r = lab_.runner().Run(cmd);
      ++w.chunks;
      if (!r) {
        w.last_error = r.error().message();
        break;
      }
      if (!r->status.Success()) {
        w.last_error = r->err;
        w.hit_edquot = r->err.find("Disk quota exceeded") != std::string::npos;
        break;
      }
      w.bytes_written += kChunk;
    }
    w.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return w;
  }

  static void Report(const std::string& what, const WriteOutcome& w, uint64_t quota, uint64_t used_after) {
    std::printf("quota e2e: %s: quota %llu B; EDQUOT %s after %d dd runs, %.3f s; %llu B written "
                "(%+lld B vs the quota); usage then %llu B\n",
                what.c_str(), static_cast<unsigned long long>(quota), w.hit_edquot ? "reached" : "NOT reached",
                w.chunks, w.seconds, static_cast<unsigned long long>(w.bytes_written),
                static_cast<long long>(w.bytes_written) - static_cast<long long>(quota),
                static_cast<unsigned long long>(used_after));
    std::fflush(stdout);
  }

  static inline std::string pool_, dataset_, mnt_;
  static inline CliClient cli_;
};

TEST_F(QuotaTest, UserQuotaIsEnforced) {
  const uint32_t uid = 424242;
  auto set = cli_.Run({"quota", "set", dataset_, "--user", std::to_string(uid), "2M"});
  ASSERT_EQ(set.code, kExitOk) << set;
  EXPECT_THAT(set.out, HasSubstr("(uid 424242) on '" + dataset_ + "': used 0, quota 2.00M (0%)"));
  EXPECT_EQ(ZfsValue("userquota@424242"), "2097152");
  auto got = cli_.Json({"quota", "get", dataset_, "--user", std::to_string(uid)});
  EXPECT_EQ(got["quota"], 2 * kMiB);
  EXPECT_EQ(got["id"], uid);

  auto w = WriteUntilRefused(uid, uid, "u");
  auto after = cli_.Json({"quota", "get", dataset_, "--user", std::to_string(uid)});
  Report("user 424242", w, 2 * kMiB, after.value("used", 0ULL));
  EXPECT_TRUE(w.hit_edquot) << "last dd error: " << w.last_error;
  EXPECT_GE(w.bytes_written, 2 * kMiB - kChunk) << "refused before the quota was used";
  EXPECT_GE(after.value("used", 0ULL), 2 * kMiB);
  EXPECT_EQ(std::to_string(after.value("used", 0ULL)), ZfsValue("userused@424242"));

  auto cleared = cli_.Run({"quota", "clear", dataset_, "--user", std::to_string(uid)});
  ASSERT_EQ(cleared.code, kExitOk) << cleared;
  EXPECT_EQ(ZfsValue("userquota@424242"), "0");
  // Without the quota the same uid can write again.
  auto again = WriteUntilRefused(uid, uid, "u-after");
  EXPECT_EQ(again.bytes_written, kWriteCap) << "still refused after clear: " << again.last_error;
}

TEST_F(QuotaTest, GroupQuotaIsEnforced) {
  const uint32_t gid = 424243, uid = 424244;
  auto set = cli_.Run({"quota", "set", dataset_, "--group", std::to_string(gid), "2M"});
  ASSERT_EQ(set.code, kExitOk) << set;
  EXPECT_EQ(ZfsValue("groupquota@424243"), "2097152");
  auto w = WriteUntilRefused(uid, gid, "g");
  auto after = cli_.Json({"quota", "get", dataset_, "--group", std::to_string(gid)});
  Report("group 424243", w, 2 * kMiB, after.value("used", 0ULL));
  EXPECT_TRUE(w.hit_edquot) << "last dd error: " << w.last_error;
  EXPECT_GE(after.value("used", 0ULL), 2 * kMiB);
  EXPECT_EQ(after["kind"], "group");
  // The uid itself has no quota: charged, not limited.
  auto user = cli_.Json({"quota", "get", dataset_, "--user", std::to_string(uid)});
  EXPECT_EQ(user["quota"], 0);
  EXPECT_GE(user.value("used", 0ULL), 2 * kMiB);
  ASSERT_EQ(cli_.Run({"quota", "clear", dataset_, "--group", std::to_string(gid)}).code, kExitOk);
  EXPECT_EQ(ZfsValue("groupquota@424243"), "0");
}

TEST_F(QuotaTest, RealNamesResolveAndListIsSortedAndFiltered) {
  auto set = cli_.Run({"quota", "set", dataset_, "--user", "nobody", "3M"});
  ASSERT_EQ(set.code, kExitOk) << set;
  EXPECT_EQ(ZfsValue("userquota@65534"), "3145728");
  auto got = cli_.Json({"quota", "get", dataset_, "--user", "nobody"});
  EXPECT_EQ(got["name"], "nobody");
  EXPECT_EQ(got["id"], 65534);
  EXPECT_EQ(got["quota"], 3 * kMiB);
  ASSERT_EQ(cli_.Run({"quota", "set", dataset_, "--group", "daemon", "1G"}).code, kExitOk);
  EXPECT_EQ(ZfsValue("groupquota@1"), std::to_string(1ull << 30));

  // Someone with usage and no quota: uid 424250 writes 512 KiB.
  PK_ASSERT_OK(lab_.Run({kSetpriv,
                         {"--reuid=424250", "--regid=424250", "--clear-groups", kDd, "if=/dev/zero",
                          "of=" + mnt_ + "/q/l-0", "bs=64k", "count=8", "conv=fsync"},
                         ToolEnv(),
                         std::nullopt,
                         std::chrono::seconds(60)}));
  auto list = cli_.Json({"quota", "list", dataset_, "--sort", "used"});
  ASSERT_TRUE(list.contains("quotas")) << list;
  const auto& rows = list["quotas"];
  ASSERT_GE(rows.size(), 2u) << list;
  for (size_t i = 1; i < rows.size(); ++i) {
    EXPECT_GE(rows[i - 1].value("used", 0ULL), rows[i].value("used", 0ULL)) << list;
  }
  bool saw_nobody = false;
  for (const auto& r : rows) {
    if (r["name"] == "nobody") {
      saw_nobody = true;
      EXPECT_EQ(r["quota"], 3 * kMiB);
    }
    if (!r["id"].is_null()) {
      EXPECT_EQ(std::to_string(r.value("used", 0ULL)), ZfsValue("userused@" + std::to_string(r["id"].get<uint64_t>())))
          << r;
    }
  }
  EXPECT_TRUE(saw_nobody) << "zfs-fuse's listing did not show nobody's quota: " << list;
  auto filtered = cli_.Json({"quota", "list", dataset_, "--filter", "nob"});
  ASSERT_EQ(filtered["quotas"].size(), 1u) << filtered;
  EXPECT_EQ(filtered["quotas"][0]["name"], "nobody");
  auto groups = cli_.Json({"quota", "list", dataset_, "--group"});
  bool saw_daemon = false;
  for (const auto& r : groups["quotas"]) saw_daemon |= r["name"] == "daemon";
  EXPECT_TRUE(saw_daemon) << groups;
  auto table = cli_.Run({"quota", "list", dataset_});
  ASSERT_EQ(table.code, kExitOk) << table;
  EXPECT_THAT(table.out, HasSubstr("NAME"));
  EXPECT_THAT(table.out, HasSubstr("QUOTA"));
  EXPECT_THAT(table.out, HasSubstr("nobody"));
  std::printf("quota e2e: `poolkeeper quota list %s`:\n%s", dataset_.c_str(), table.out.c_str());
  ASSERT_EQ(cli_.Run({"quota", "clear", dataset_, "--user", "nobody"}).code, kExitOk);
  ASSERT_EQ(cli_.Run({"quota", "clear", dataset_, "--group", "daemon"}).code, kExitOk);
  EXPECT_EQ(ZfsValue("userquota@65534"), "0");
}

TEST_F(QuotaTest, BadInputChangesNothing) {
  ASSERT_EQ(cli_.Run({"quota", "set", dataset_, "--user", "424245", "1M"}).code, kExitOk);
  ASSERT_EQ(ZfsValue("userquota@424245"), "1048576");
  struct Case {
    std::vector<std::string> args;
    int code;
    std::string words;
  };
  std::vector<Case> cases = {
      {{"quota", "set", dataset_, "--user", "pk-no-such-user", "1G"}, kExitNotFound, "user 'pk-no-such-user' does not exist"},
      {{"quota", "get", dataset_, "--group", "pk-no-such-group"}, kExitNotFound, "group 'pk-no-such-group' does not exist"},
      {{"quota", "set", dataset_, "--user", "424245", "--", "-5M"}, kExitUsage, "'-5M'"},
      {{"quota", "set", dataset_, "--user", "424245", "1.5.G"}, kExitUsage, "'1.5.G'"},
      {{"quota", "set", dataset_, "--user", "424245", "10X"}, kExitUsage, "'10X'"},
      {{"quota", "set", dataset_, "--user", "424245", "0"}, kExitUsage, "zero"},
      {{"quota", "set", dataset_, "--user", "a;reboot", "1G"}, kExitUsage, "user name 'a;reboot' is not valid"},
      {{"quota", "set", dataset_, "--user", "$(id)", "1G"}, kExitUsage, "is not valid"},
      {{"quota", "set", pool_ + "/nosuch", "--user", "424245", "1G"}, kExitNotFound, "does not exist"},
  };
  for (const auto& c : cases) {
    auto r = cli_.Run(c.args);
    EXPECT_EQ(r.code, c.code) << r;
    EXPECT_THAT(r.err, HasSubstr(c.words)) << r;
    EXPECT_EQ(ZfsValue("userquota@424245"), "1048576") << "changed by: " << r;
  }
  ASSERT_EQ(cli_.Run({"quota", "clear", dataset_, "--user", "424245"}).code, kExitOk);
}

}  // namespace
}  // namespace pk::e2e
