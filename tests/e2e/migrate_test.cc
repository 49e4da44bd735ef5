// End-to-end tests of shadow migration (issue 6) with the real poolkeeperd,
// its poolkeeper-shadowfs helpers (libfuse3) and zfs-fuse, driven through
// the real `poolkeeper` CLI:
//
//  - FileMigrationIsCompleteAndEqual: a generated tree of > 20,000 entries
//    (migrate_tree.py: 100 levels, a 10,000-file directory, hard links across
//    directories, symlinks incl. dangling, FIFOs, devices, empty and sparse
//    files, user xattrs, odd names, mixed owners and modes) is migrated from
//    file://; a never-touched file 100 levels down reads at once; after
//    automatic finalize the target equals the source (migrate_tree.py check),
//    the layer is gone, the property removed, and every file was copied once.
//  - ResumesAfterSigkillAndExportImport: the same with the daemon SIGKILLed at
//    random points of the walk (its helper dies with it and leaves a dead FUSE
//    mount) and the pool exported and imported mid-way: the final tree is
//    equal and no completed copy was repeated (the helper's copy log).
//  - ClientOperationsAndBadInput: renames, deletes, writes and rmdir on
//    unmigrated entries through the layer behave as on a normal filesystem
//    and survive a daemon crash; bad starts change nothing; cancel asks.
//  - NfsSourceMigrates: the same tree (smaller) through nfs:// from
//    nfs-ganesha in a private network namespace (skipped when ganesha is not
//    installed).
//
// One daemon and one pool (2 GiB sparse disk) for the suite, destroyed in
// TearDownTestSuite whatever happened, after the shadow layers are stopped
// (and any dead one detached).
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
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

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Waits (bounded) for a live shadow layer on `mp`: mounted and answering
// (a dead layer left by a killed helper answers ENOTCONN until it is detached).
bool WaitLayer(const std::string& mp) {
  for (int i = 0; i < 400; ++i) {
    struct statvfs sv;  // statfs reaches the layer (stat may come from the kernel's cache)
    if (!ShadowMounts(mp).empty() && ::statvfs(mp.c_str(), &sv) == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

bool Exists(const std::string& p) {
  struct stat st;
  return ::lstat(p.c_str(), &st) == 0;
}

// Processes in another mount namespace that hold copies of mounts below
// `prefix` (a namespace created while our pool was mounted, e.g. by another
// lab on this machine, pins them, and zfs-fuse then refuses the export).
std::string ForeignPins(const std::string& prefix) {
  std::string self = fs::read_symlink("/proc/self/ns/mnt").string();
  for (const auto& p : fs::directory_iterator("/proc")) {
    std::error_code ec;
    auto ns = fs::read_symlink(p.path() / "ns/mnt", ec);
    if (ec || ns.string() == self) continue;
    std::ifstream in(p.path() / "mountinfo");
    std::string line;
    while (std::getline(in, line)) {
      if (line.find(" " + prefix) != std::string::npos) return p.path().filename().string();
    }
  }
  return "";
}

std::string DeepPath() {
  std::string p;
  for (int i = 0; i < 100; ++i) p += (i ? "/" : "") + fmt::format("lvl{:02d}", i);
  return p + "/file at level 99";
}

class MigrateTest : public LabSuite<MigrateTest> {
 protected:
  friend class LabSuite<MigrateTest>;  // calls SetUpLab/TearDownLab

  static pk::Status SetUpLab() {
    runner_ = &lab_.runner();
    pool_ = "mig" + std::to_string(::getpid());
    PK_TRY(lab_.Open(pool_, /*needs_source=*/true));
    build_ = lab_.build_dir();
    source_dir_ = lab_.source_dir();
    work_ = lab_.work();
    src_ = lab_.lab_dir() + "/" + pool_ + "-source";
    PK_ASSIGN_OR_RETURN(LabPool pool, lab_.CreatePool(pool_, 2ll << 30));
    mnt_ = pool.mnt;
    disk_dir_ = pool.disk_dir;
    auto t0 = Clock::now();
    PK_ASSIGN_OR_RETURN(std::string out, lab_.Run(Tree({"gen", src_})));
    stats_ = json::parse(out, nullptr, false);
    std::printf("migrate e2e: source tree %s generated in %.1f s\n", out.c_str(),
                std::chrono::duration<double>(Clock::now() - t0).count());
    options_ = lab_.options();
    cli_ = lab_.cli();
    PK_TRY(StartSuitePoolkeeperd(daemon_, options_));
    return AdoptPool(cli_, pool_);  // made with zpool create
  }

  static void TearDownLab() {
    daemon_.Stop();  // stops the helpers: their layers unmount
    for (const auto& mp : ShadowMounts(mnt_)) (void)runner_->Run({"/bin/umount", {"-l", mp}, ToolEnv()});
    std::error_code ec;
    if (!src_.empty()) fs::remove_all(src_, ec);
  }

  static sys::Command Tree(std::vector<std::string> args) {
    args.insert(args.begin(), source_dir_ + "/tests/e2e/migrate_tree.py");
    return sys::Command{"/usr/bin/python3", args, ToolEnv(), std::nullopt, std::chrono::minutes(10)};
  }

  static std::string RunOk(const sys::Command& cmd, std::string* out = nullptr) {
    auto r = runner_->Run(cmd);
    if (!r) return cmd.ToString() + ": " + r.error().message();
    if (!r->status.Success()) return cmd.ToString() + ": " + r->status.ToString() + ": " + r->out + r->err;
    if (out) *out = r->out;
    return "";
  }

  static std::string ZfsValue(const std::string& ds, const std::string& prop) {
    std::string out;
    if (!RunOk(ZfsTool("zfs", {"get", "-H", "-o", "value", prop, ds}), &out).empty()) return "<error>";
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }

  static json Status(const std::string& ds) {
    auto r = cli_.Run({"--json", "migrate", "status", ds});
    if (r.code != kExitOk) return json{{"cli_error", r.err}, {"code", r.code}};
    auto j = json::parse(r.out, nullptr, false);
    return j.is_discarded() ? json{{"cli_error", "not JSON: " + r.out}} : j;
  }

  // Polls the status until "complete" (or the deadline); returns the last one.
  static json WaitComplete(const std::string& ds, std::chrono::seconds limit) {
    auto deadline = Clock::now() + limit;
    json s;
    while (Clock::now() < deadline) {
      s = Status(ds);
      if (s.value("state", "") == "complete") return s;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    return s;
  }

  static std::string StatePath(const std::string& ds, const std::string& suffix) {
    std::string esc;
    for (unsigned char c : ds) esc += std::isalnum(c) || c == '-' || c == '_' || c == '.' ? std::string(1, c) : fmt::format("%{:02X}", c);
    return options_.state_dir + "/migrate/" + esc + suffix;
  }

  // Every completed copy is one line "KEY SIZE" of the helper's log: no key twice.
  static void ExpectEachFileCopiedOnce(const std::string& ds, uint64_t lost_allowed, const json& stats = stats_) {
    std::ifstream in(StatePath(ds, ".json.copied.log"));
    ASSERT_TRUE(in) << "no copy log for " << ds;
    std::set<std::string> keys;
    std::string line;
    uint64_t lines = 0, dups = 0;
    while (std::getline(in, line)) {
      lines++;
      if (!keys.insert(line.substr(0, line.find(' '))).second) dups++;
    }
    uint64_t expected = stats.value("data_files", uint64_t{0});
    EXPECT_EQ(dups, 0u) << "completed copies repeated";
    EXPECT_LE(lines, expected);
    EXPECT_GE(lines + lost_allowed, expected);
    std::printf("migrate e2e: %s: %lu copies logged for %lu files with data, %lu repeated\n", ds.c_str(),
                static_cast<unsigned long>(lines), static_cast<unsigned long>(expected), static_cast<unsigned long>(dups));
  }

  static void ExpectFinalizedAndEqual(const std::string& ds, const std::string& mp, const std::string& src = src_,
                                      bool xattrs = true) {
    EXPECT_EQ(ZfsValue(ds, "org.poolkeeper:shadow"), "-");
    EXPECT_EQ(ZfsValue(ds, "mounted"), "yes");
    EXPECT_TRUE(ShadowMounts(mp).empty()) << "shadow layer still mounted on " << mp;
    EXPECT_FALSE(Exists(mp + "/.poolkeeper-shadow"));
    std::string out;
    auto t0 = Clock::now();
    std::vector<std::string> args = {"check", src, mp};
    if (!xattrs) args.push_back("--no-xattrs");
    auto e = RunOk(Tree(args), &out);
    EXPECT_EQ(e, "") << out;
    std::printf("migrate e2e: checker on %s (%.1f s): %s", ds.c_str(),
                std::chrono::duration<double>(Clock::now() - t0).count(), out.c_str());
  }

  static inline sys::ProcessRunner* runner_ = nullptr;
  static inline std::string build_, source_dir_, pool_, disk_dir_, mnt_, src_, work_;
  static inline json stats_;
  static inline PoolkeeperdOptions options_;
  static inline CliClient cli_;
  static inline Poolkeeperd daemon_;
};

TEST_F(MigrateTest, FileMigrationIsCompleteAndEqual) {
  std::string ds = pool_ + "/full", mp = mnt_ + "/full";
  ASSERT_EQ(RunOk(ZfsTool("zfs", {"create", ds})), "");
  auto t0 = Clock::now();
  // The generated tree has set-ID files and device nodes: kept only on request (issue 17 item 3).
  auto started = cli_.Run({"migrate", "start", ds, "--source", "file://" + src_, "--concurrency", "4", "--preserve-special"});
  ASSERT_EQ(started.code, kExitOk) << started;
  EXPECT_EQ(ZfsValue(ds, "org.poolkeeper:shadow"), "file://" + src_);
  // Wait for the layer, then read a file 100 levels down that nobody listed.
  ASSERT_TRUE(WaitLayer(mp)) << "no shadow layer on " << mp;
  auto r0 = Clock::now();
  std::string deep = Slurp(mp + "/" + DeepPath());
  double first_read = std::chrono::duration<double>(Clock::now() - r0).count();
  EXPECT_EQ(deep, Slurp(src_ + "/" + DeepPath()));
  std::printf("migrate e2e: first read 100 levels deep right after start: %.3f s\n", first_read);

  auto status = WaitComplete(ds, std::chrono::seconds(1200));
  double took = std::chrono::duration<double>(Clock::now() - t0).count();
  ASSERT_EQ(status.value("state", ""), "complete") << status.dump(2);
  std::printf("migrate e2e: %lu entries migrated in %.1f s (%s files, %s bytes)\n",
              static_cast<unsigned long>(stats_.value("entries", 0)), took, status["files_done"].dump().c_str(),
              status["bytes_done"].dump().c_str());
  EXPECT_EQ(status.value("files_done", uint64_t{0}), stats_.value("data_files", uint64_t{0}));
  EXPECT_EQ(status.value("bytes_done", uint64_t{0}), stats_.value("data_bytes", uint64_t{0}));
  EXPECT_TRUE(status["failed"].empty()) << status.dump(2);
  ExpectFinalizedAndEqual(ds, mp);
  ExpectEachFileCopiedOnce(ds, 0);
}

TEST_F(MigrateTest, ResumesAfterSigkillAndExportImport) {
  std::string ds = pool_ + "/resume", mp = mnt_ + "/resume";
  ASSERT_EQ(RunOk(ZfsTool("zfs", {"create", ds})), "");
  auto t0 = Clock::now();
  auto started = cli_.Run({"migrate", "start", ds, "--source", "file://" + src_, "--concurrency", "3", "--preserve-special"});
  ASSERT_EQ(started.code, kExitOk) << started;
  std::mt19937 rnd(static_cast<unsigned>(::getpid()));
  std::uniform_int_distribution<int> delay_ms(1500, 6000);
  int kills = 0;
  bool exported = false;
  uint64_t last_done = 0;
  for (int round = 0; round < 4; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rnd)));
    auto s = Status(ds);
    ASSERT_NE(s.value("state", ""), "complete") << "finished before interruption " << round << "; make the tree bigger";
    std::printf("migrate e2e: interruption %d at %.1f s: %s files done\n", round,
                std::chrono::duration<double>(Clock::now() - t0).count(), s["files_done"].dump().c_str());
    last_done = std::max(last_done, s.value("files_done", uint64_t{0}));
    if (round == 2) {
      // Export and import through the daemon: the layer steps aside and comes back.
      auto exp = cli_.Run({"pool", "export", pool_});
      if (exp.code != kExitOk && exp.err.find("pool is busy") != std::string::npos) {
        if (std::string pin = ForeignPins(mnt_); !pin.empty()) {
          std::printf("migrate e2e: NOTE: export/import not exercised: process %s (another mount namespace on this "
                      "machine) pins copies of this pool's mounts\n", pin.c_str());
          continue;
        }
      }
      ASSERT_EQ(exp.code, kExitOk) << exp;
      EXPECT_TRUE(ShadowMounts(mp).empty());
      auto imp = cli_.Run({"pool", "import", pool_, "-d", disk_dir_});
      ASSERT_EQ(imp.code, kExitOk) << imp;
      exported = true;
      continue;
    }
    daemon_.Kill();  // the helper outlives it; the next daemon adopts it (issue 18)
    kills++;
    PK_ASSERT_OK(StartSuitePoolkeeperd(daemon_, options_));
  }
  auto status = WaitComplete(ds, std::chrono::seconds(1200));
  ASSERT_EQ(status.value("state", ""), "complete") << status.dump(2);
  std::printf("migrate e2e: resumed migration complete in %.1f s after %d SIGKILLs%s\n",
              std::chrono::duration<double>(Clock::now() - t0).count(), kills,
              exported ? " and one export/import" : " (export/import not exercised, see NOTE)");
  EXPECT_GE(status.value("files_done", uint64_t{0}), last_done);
  ExpectFinalizedAndEqual(ds, mp);
  ExpectEachFileCopiedOnce(ds, static_cast<uint64_t>(kills));
}

TEST_F(MigrateTest, ClientOperationsAndBadInput) {
  std::string ds = pool_ + "/ops", mp = mnt_ + "/ops";
  ASSERT_EQ(RunOk(ZfsTool("zfs", {"create", ds})), "");
  // A trickle of background copies, so the entries used below stay unmigrated.
  auto started = cli_.Run({"migrate", "start", ds, "--source", "file://" + src_, "--concurrency", "1", "--bwlimit", "1K"});
  ASSERT_EQ(started.code, kExitOk) << started;
  ASSERT_TRUE(WaitLayer(mp));
  EXPECT_EQ(Slurp(mp + "/" + DeepPath()), Slurp(src_ + "/" + DeepPath()));

  const std::string big = "/big dir/";
  // Link counts through the layer are the source's: the tree's private
  // pending/ name of an unmigrated file is not counted.
  for (int i = 20; i < 40; ++i) {
    std::string name = fmt::format("f{:05d}", i);
    struct stat src_st, st;
    ASSERT_EQ(::lstat((src_ + big + name).c_str(), &src_st), 0) << name;
    if (src_st.st_nlink != 1 || src_st.st_size == 0) continue;
    ASSERT_EQ(::lstat((mp + big + name).c_str(), &st), 0) << name;
    EXPECT_EQ(st.st_nlink, 1u) << name << " (unmigrated, with its pending/ name)";
    break;
  }
  std::error_code ec;
  fs::rename(mp + big + "f00010", mp + "/renamed f00010", ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(Slurp(mp + "/renamed f00010"), Slurp(src_ + big + "f00010"));
  EXPECT_FALSE(Exists(mp + big + "f00010"));
  ASSERT_TRUE(fs::remove(mp + big + "f00011", ec)) << ec.message();
  {
    std::ofstream app(mp + big + "f00012", std::ios::app | std::ios::binary);
    app << "appended";
  }
  EXPECT_EQ(Slurp(mp + big + "f00012"), Slurp(src_ + big + "f00012") + "appended");
  EXPECT_NE(::rmdir((mp + "/lvl00").c_str()), 0);
  EXPECT_EQ(errno, ENOTEMPTY);
  fs::rename(mp + "/lvl00", mp + "/moved lvl00", ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(Slurp(mp + "/moved lvl00/lvl01/file at level 1"), Slurp(src_ + "/lvl00/lvl01/file at level 1"));

  // A crash changes none of it.
  daemon_.Kill();
  PK_ASSERT_OK(StartSuitePoolkeeperd(daemon_, options_));
  ASSERT_TRUE(WaitLayer(mp));
  EXPECT_FALSE(Exists(mp + big + "f00011"));
  EXPECT_FALSE(Exists(mp + big + "f00010"));
  EXPECT_FALSE(Exists(mp + "/lvl00"));
  EXPECT_EQ(Slurp(mp + "/renamed f00010"), Slurp(src_ + big + "f00010"));
  EXPECT_EQ(Slurp(mp + big + "f00012"), Slurp(src_ + big + "f00012") + "appended");
  // The source's size is estimated by one walk (kept in the dataset once done).
  json s;
  for (int i = 0; i < 120; ++i) {
    s = Status(ds);
    if (s.contains("bytes_remaining") && s["bytes_remaining"].is_number()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  EXPECT_EQ(s.value("state", ""), "migrating") << s.dump(2);
  EXPECT_TRUE(s["bytes_remaining"].is_number()) << s.dump(2);
  EXPECT_GT(s.value("source_bytes", uint64_t{0}), 0u) << s.dump(2);
  auto human = cli_.Run({"migrate", "status", ds});
  EXPECT_EQ(human.code, kExitOk) << human;
  EXPECT_THAT(human.out, HasSubstr("remaining (estimated from the source)"));
  std::printf("migrate e2e: `poolkeeper migrate status %s`:\n%s", ds.c_str(), human.out.c_str());

  // Bad input: clear errors, nothing changed.
  std::string nonempty = pool_ + "/nonempty";
  ASSERT_EQ(RunOk(ZfsTool("zfs", {"create", nonempty})), "");
  { std::ofstream(mnt_ + "/nonempty/keep") << "x"; }
  std::string fresh = pool_ + "/fresh";
  ASSERT_EQ(RunOk(ZfsTool("zfs", {"create", fresh})), "");
  struct Case {
    std::vector<std::string> args;
    int code;
    std::string words;
    std::string dataset;
  };
  std::vector<Case> cases = {
      {{"migrate", "start", nonempty, "--source", "file://" + src_}, kExitFailure, "not empty", nonempty},
      {{"migrate", "start", ds, "--source", "file://" + src_}, kExitFailure, "already under way", ""},
      {{"migrate", "start", fresh, "--source", "file:///nonexistent/pk-source"}, kExitNotFound, "No such file", fresh},
      {{"migrate", "start", fresh, "--source", "file://" + src_ + "/lvl00/file at level 0"}, kExitNotFound, "Not a directory", fresh},
      {{"migrate", "start", fresh, "--source", "smb://host/share"}, kExitUsage, "unsupported scheme 'smb'", fresh},
      {{"migrate", "start", fresh, "--source", "file://relative"}, kExitUsage, "absolute path", fresh},
      {{"migrate", "start", pool_ + "/nosuch", "--source", "file://" + src_}, kExitNotFound, "does not exist", ""},
      {{"migrate", "status", fresh}, kExitNotFound, "no shadow migration", ""},
  };
  for (const auto& c : cases) {
    auto r = cli_.Run(c.args);
    EXPECT_EQ(r.code, c.code) << r;
    EXPECT_THAT(r.err, HasSubstr(c.words)) << r;
    if (!c.dataset.empty()) {
      EXPECT_EQ(ZfsValue(c.dataset, "org.poolkeeper:shadow"), "-") << r;
      std::string dmp = ZfsValue(c.dataset, "mountpoint");
      EXPECT_FALSE(Exists(dmp + "/.poolkeeper-shadow")) << r;
    }
  }
  EXPECT_EQ(ZfsValue(ds, "org.poolkeeper:shadow"), "file://" + src_);

  // Cancel asks first (no answer on stdin: not cancelled), then --yes.
  auto asked = cli_.Run({"migrate", "cancel", ds});
  EXPECT_EQ(asked.code, kExitFailure) << asked;
  EXPECT_THAT(asked.err, HasSubstr("not cancelled"));
  EXPECT_EQ(ZfsValue(ds, "org.poolkeeper:shadow"), "file://" + src_);
  auto cancelled = cli_.Run({"migrate", "cancel", ds, "--yes"});
  ASSERT_EQ(cancelled.code, kExitOk) << cancelled;
  EXPECT_EQ(ZfsValue(ds, "org.poolkeeper:shadow"), "-");
  EXPECT_TRUE(ShadowMounts(mp).empty());
  EXPECT_FALSE(Exists(mp + "/.poolkeeper-shadow"));
  EXPECT_EQ(Slurp(mp + "/renamed f00010"), Slurp(src_ + big + "f00010"));  // kept what was migrated
}

// nfs-ganesha serving DIR/export (made by the caller through `fill`) in a
// private network namespace (tests/e2e/migrate-nfs-server); down and removed
// when destroyed. `uri` is empty when the server did not come up (`error`).
struct NfsServer {
  std::string script, dir, ns, uri, error;
  NfsServer(const std::string& source_dir, const std::string& d, int slot, const std::function<std::string(const std::string&)>& fill)
      : script(source_dir + "/tests/e2e/migrate-nfs-server"), dir(d) {
    const int id = ::getpid() + slot;
    ns = fmt::format("pkm{}", id % 100000);
    const std::string host_ip = fmt::format("10.251.{}.1", id % 250), ns_ip = fmt::format("10.251.{}.2", id % 250);
    const std::string exported = dir + "/export";
    if (auto made = MakeDirectories({dir}); !made) {
      error = made.error().message();
      return;
    }
    if ((error = fill(exported)) != "") return;
    auto runner = sys::MakePosixProcessRunner();
    auto r = runner->Run({script, {"up", dir, ns, host_ip, ns_ip, exported}, ToolEnv(), std::nullopt, std::chrono::seconds(60)});
    if (!r || !r->status.Success()) {
      error = "NFS server did not come up: " + (r ? r->out + r->err : r.error().message()) + Slurp(dir + "/ganesha.log");
      return;
    }
    uri = "nfs://" + ns_ip + exported;
  }
  ~NfsServer() {
    auto runner = sys::MakePosixProcessRunner();
    (void)runner->Run({script, {"down", dir, ns}, ToolEnv(), std::nullopt, std::chrono::seconds(30)});
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

bool HaveGanesha() { return Exists("/usr/bin/ganesha.nfsd") && Exists("/usr/sbin/rpcbind"); }

TEST_F(MigrateTest, NfsSourceMigrates) {
  if (!HaveGanesha()) GTEST_SKIP() << "nfs-ganesha or rpcbind missing";
  const std::string exported = mnt_ + "-nfs/export";
  json small;
  NfsServer server(source_dir_, mnt_ + "-nfs", 0, [&](const std::string& dir) {
    std::string out;
    auto e = RunOk(Tree({"gen", dir, "--small"}), &out);
    small = json::parse(out, nullptr, false);
    return e;
  });
  ASSERT_NE(server.uri, "") << server.error;

  std::string ds = pool_ + "/nfs", mp = mnt_ + "/nfs";
  ASSERT_EQ(RunOk(ZfsTool("zfs", {"create", ds})), "");
  auto t0 = Clock::now();
  const std::string& uri = server.uri;
  const std::string ns_ip = uri.substr(6, uri.find('/', 6) - 6);
  auto started = cli_.Run({"migrate", "start", ds, "--source", uri, "--preserve-special"});
  ASSERT_EQ(started.code, kExitOk) << started;
  auto status = WaitComplete(ds, std::chrono::seconds(900));
  ASSERT_EQ(status.value("state", ""), "complete") << status.dump(2);
  std::printf("migrate e2e: %s entries migrated from %s in %.1f s\n", small["entries"].dump().c_str(), uri.c_str(),
              std::chrono::duration<double>(Clock::now() - t0).count());
  EXPECT_EQ(status.value("files_done", uint64_t{0}), small.value("data_files", uint64_t{0}));
  ExpectFinalizedAndEqual(ds, mp, exported, /*xattrs=*/false);
  ExpectEachFileCopiedOnce(ds, 0, small);
  // A source that does not answer: a clear error, nothing changed.
  std::string other = pool_ + "/nfs-bad";
  ASSERT_EQ(RunOk(ZfsTool("zfs", {"create", other})), "");
  auto bad = cli_.Run({"migrate", "start", other, "--source", "nfs://" + ns_ip + "/no/such/export"});
  EXPECT_NE(bad.code, kExitOk) << bad;
  EXPECT_THAT(bad.err, HasSubstr("NFSv3 mount")) << bad;
  EXPECT_EQ(ZfsValue(other, "org.poolkeeper:shadow"), "-");
}

std::string RawXattr(const std::string& path, const char* name) {
  char buf[8192];
  ssize_t n = ::lgetxattr(path.c_str(), name, buf, sizeof buf);
  return n < 0 ? "<none>" : std::string(buf, static_cast<size_t>(n));
}

std::string Hex(const std::string& s) {
  std::string out = "0x";
  for (unsigned char c : s) out += fmt::format("{:02x}", c);
  return out;
}

// Names of everything below `root` (symlinks not followed).
std::set<std::string> NamesBelow(const std::string& root) {
  std::set<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    out.insert(it->path().filename().string());
  }
  return out;
}

const json* FailedEntryOf(const json& status, const std::string& path) {
  if (!status.contains("failed")) return nullptr;
  for (const auto& f : status["failed"]) {
    if (f.value("path", "") == path) return &f;
  }
  return nullptr;
}

// Issue 17 item 2, with the real daemon, helper and zfs-fuse. While the
// layer is down (daemon stopped) a tenant writes markers naming
// /etc/hostname and ../../etc/hostname (with its real identity) on files it
// owns, a crafted pool brings a root-written one, and the source swaps a
// directory the migration has made but not listed for a symlink to a tree
// outside the source. After the restart the tenant's files are as the tenant
// made them, the crafted marker is reported, and nothing from outside the
// source is in the dataset.
TEST_F(MigrateTest, ForgedMarkersAndADirectorySwapCopyNothingFromOutside) {
  const std::string hsrc = src_ + "-hostile", outside = src_ + "-outside";
  struct Cleanup {
    std::vector<std::string> dirs;
    ~Cleanup() {
      std::error_code ec;
      for (const auto& d : dirs) fs::remove_all(d, ec);
    }
  } cleanup{{hsrc, outside}};
  fs::create_directories(hsrc + "/home");
  fs::create_directories(hsrc + "/swap/l1/l2");
  { std::ofstream(hsrc + "/swap/l1/l2/inside") << "inside"; }
  fs::create_directories(outside + "/l2");
  { std::ofstream(outside + "/OUTSIDE-TOP") << "secret"; }
  { std::ofstream(outside + "/l2/OUTSIDE-DEEP") << "secret"; }
  fs::create_directories(hsrc + "/big");  // keeps the walk busy for a while
  for (int i = 0; i < 3000; ++i) std::ofstream(hsrc + fmt::format("/big/f{:05d}", i)) << i;
  ASSERT_EQ(::chown((hsrc + "/home").c_str(), 65534, 65534), 0);

  std::string ds = pool_ + "/hostile", mp = mnt_ + "/hostile";
  ASSERT_EQ(RunOk(ZfsTool("zfs", {"create", ds})), "");
  auto started = cli_.Run({"migrate", "start", ds, "--source", "file://" + hsrc, "--concurrency", "1", "--bwlimit", "64K"});
  ASSERT_EQ(started.code, kExitOk) << started;
  ASSERT_TRUE(WaitLayer(mp));
  EXPECT_TRUE(Exists(mp + "/swap/l1/l2"));  // lookups make these entries without listing them
  for (const char* name : {"forged-abs", "forged-rel", "crafted"}) {
    std::string p = mp + "/home/" + name;
    { std::ofstream(p) << std::string(64, 'T'); }
    ASSERT_EQ(::chown(p.c_str(), 65534, 65534), 0) << p;
  }
  daemon_.Stop();
  struct Restart {  // the next tests need the daemon whatever happens here
    bool needed = true;
    ~Restart() {
      if (needed) (void)StartSuitePoolkeeperd(daemon_, options_);
    }
  } restart;
  ASSERT_TRUE(ShadowMounts(mp).empty());
  const bool unlisted = RawXattr(mp + "/swap/l1/l2", "trusted.pkshadow") != "<none>";
  if (!unlisted) std::printf("migrate e2e: NOTE: the walk listed swap/l1/l2 before the stop; the swap is not exercised\n");

  struct stat host;
  ASSERT_EQ(::stat("/etc/hostname", &host), 0);
  const std::string key = fmt::format("f{}-{}", static_cast<uint64_t>(host.st_dev), static_cast<uint64_t>(host.st_ino));
  auto as_tenant = [&](std::vector<std::string> argv) {
    argv.insert(argv.begin(), {"--reuid=65534", "--regid=65534", "--clear-groups"});
    return runner_->Run({"/usr/bin/setpriv", argv, ToolEnv()});
  };
  for (auto [name, target] : {std::pair{"forged-abs", "/etc/hostname"}, std::pair{"forged-rel", "../../etc/hostname"}}) {
    std::string p = mp + "/home/" + name, marker = "F" + key + "\n" + target;
    // The user.* marker older helpers read (any owner with write access can
    // set one; written here directly, whoever writes it is not trusted).
    ASSERT_EQ(::lsetxattr(p.c_str(), "user.pkshadow", marker.data(), marker.size(), 0), 0) << p;
    auto r = as_tenant({"/usr/bin/setfattr", "-n", "trusted.pkshadow", "-v", Hex(marker), p});
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->status.Success()) << "a tenant wrote a trusted.* attribute on " << p;
  }
  std::string crafted = "F" + key + "\n../../etc/hostname";
  ASSERT_EQ(::lsetxattr((mp + "/home/crafted").c_str(), "trusted.pkshadow", crafted.data(), crafted.size(), 0), 0);
  fs::rename(hsrc + "/swap/l1", hsrc + "/swap/l1.real");
  ASSERT_EQ(::symlink(outside.c_str(), (hsrc + "/swap/l1").c_str()), 0);

  restart.needed = false;
  PK_ASSERT_OK(StartSuitePoolkeeperd(daemon_, options_));
  ASSERT_TRUE(WaitLayer(mp));
  for (const char* name : {"forged-abs", "forged-rel", "crafted"}) {
    EXPECT_EQ(Slurp(mp + "/home/" + name), std::string(64, 'T')) << name;
  }
  auto status = WaitComplete(ds, std::chrono::seconds(600));
  ASSERT_EQ(status.value("state", ""), "complete") << status.dump(2);
  for (const char* name : {"forged-abs", "forged-rel", "crafted"}) {
    EXPECT_EQ(Slurp(mp + "/home/" + name), std::string(64, 'T')) << name;
  }
  auto names = NamesBelow(mp);
  EXPECT_EQ(names.count("OUTSIDE-TOP"), 0u);
  EXPECT_EQ(names.count("OUTSIDE-DEEP"), 0u);
  EXPECT_EQ(names.count("f02999"), 1u);
  const json* f = FailedEntryOf(status, "home/crafted");
  ASSERT_NE(f, nullptr) << status.dump(2);
  EXPECT_THAT(f->value("error", ""), HasSubstr("marker refused"));
  if (unlisted) {
    EXPECT_NE(FailedEntryOf(status, "swap/l1/l2"), nullptr) << status.dump(2);
  }
}

// Issue 17 item 3, from a local source and from ganesha as the NFS source:
// set-ID bits are dropped and device nodes not created without
// --preserve-special (each reported), names that are not UTF-8 migrate byte
// for byte and the status (helper's file, API, CLI) still reads.
TEST_F(MigrateTest, HostileSourceEntriesAreDroppedAndReported) {
  auto fill = [](const std::string& dir) -> std::string {
    std::error_code ec;
    fs::create_directories(dir + "/ok", ec);
    if (ec) return ec.message();
    { std::ofstream(dir + "/suid") << "suid"; }
    { std::ofstream(dir + "/sgid") << "sgid"; }
    { std::ofstream(dir + "/bad\xff\xfename") << "not utf-8"; }
    { std::ofstream(dir + "/ok/file") << "ok"; }
    ::chmod((dir + "/suid").c_str(), 04755);
    ::chmod((dir + "/sgid").c_str(), 02755);
    if (::mknod((dir + "/mem").c_str(), S_IFCHR | 0666, ::makedev(1, 1)) != 0) return "mknod: " + std::string(std::strerror(errno));
    return "";
  };
  const std::string local = src_ + "-special";
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{local};
  ASSERT_EQ(fill(local), "");
  std::vector<std::pair<std::string, std::string>> sources = {{"special-file", "file://" + local}};
  std::unique_ptr<NfsServer> server;
  if (HaveGanesha()) {
    server = std::make_unique<NfsServer>(source_dir_, mnt_ + "-nfs-special", 7, fill);
    ASSERT_NE(server->uri, "") << server->error;
    sources.push_back({"special-nfs", server->uri});
  } else {
    std::printf("migrate e2e: NOTE: nfs-ganesha missing: the NFS source case is not run\n");
  }
  for (const auto& [name, uri] : sources) {
    SCOPED_TRACE(uri);
    std::string ds = pool_ + "/" + name, mp = mnt_ + "/" + name;
    ASSERT_EQ(RunOk(ZfsTool("zfs", {"create", ds})), "");
    auto started = cli_.Run({"migrate", "start", ds, "--source", uri});
    ASSERT_EQ(started.code, kExitOk) << started;
    auto status = WaitComplete(ds, std::chrono::seconds(300));
    ASSERT_EQ(status.value("state", ""), "complete") << status.dump(2);
    struct stat st;
    ASSERT_EQ(::lstat((mp + "/suid").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0755u);
    ASSERT_EQ(::lstat((mp + "/sgid").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0755u);
    EXPECT_EQ(Slurp(mp + "/suid"), "suid");
    EXPECT_FALSE(Exists(mp + "/mem"));
    EXPECT_EQ(Slurp(mp + "/bad\xff\xfename"), "not utf-8");
    EXPECT_EQ(Slurp(mp + "/ok/file"), "ok");
    for (const char* p : {"suid", "sgid"}) {
      const json* f = FailedEntryOf(status, p);
      ASSERT_NE(f, nullptr) << p << status.dump(2);
      EXPECT_THAT(f->value("error", ""), HasSubstr("--preserve-special"));
    }
    const json* f = FailedEntryOf(status, "mem");
    ASSERT_NE(f, nullptr) << status.dump(2);
    EXPECT_THAT(f->value("error", ""), HasSubstr("device node not created"));
    auto human = cli_.Run({"migrate", "status", ds});
    EXPECT_EQ(human.code, kExitOk) << human;
  }
}

}  // namespace
}  // namespace pk::e2e
