// End-to-end tests of pool services (issue 3): a real poolkeeperd supervising
// real zfs-fuse pools, driven through the real `poolkeeper` CLI.
//
// Each test gets its own daemon, state directory and pools (names
// "svc<pid>t<n><tag>", one sparse vdev each, every pool's vdev in a directory
// of its own so `-d DIR` finds only that pool). Pools are created with zpool
// directly, exported, and then imported by the daemon through
// `poolkeeper service enable POOL -d DIR`.
//
// Faults come from tests/e2e/fault-zpool, copied into the test's directory and
// configured as the daemon's `zpool_path`: the test writes `faults` next to it
// ("import POOL hang|crash|fail"); a hanging run writes its pid to `hang.pid`.
//
// TearDown cleans up whatever happened: the hanging wrapper (by its pid file),
// the daemon (by pid: SIGTERM, SIGKILL after a bounded wait), the pools
// (imported again if needed, then `zpool destroy -f`, nested ones first) and
// the files. The test's directory and daemon logs are kept when it failed.
//
// Waiting is bounded polling of the daemon's answers; no assertion rests on a
// sleep. The one time bound asserted (the API answers within a second of
// start while an import hangs) is a functional requirement of the issue.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
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
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr auto kImportWait = seconds(90);  // a zfs-fuse import on a busy 2-core box

struct TestPool {
  std::string name;
  std::string dir;  // where its vdev lives (`-d DIR`)
};

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int counter = 0;
    prefix_ = "svc" + std::to_string(::getpid()) + "t" + std::to_string(++counter);
    PK_ASSERT_OK(lab_.Open(prefix_, /*needs_source=*/true));
    work_ = lab_.work();
    disk_root_ = lab_.lab_dir() + "/disks/" + prefix_;
    mnt_root_ = lab_.lab_dir() + "/mnt/" + prefix_;
    PK_ASSERT_OK(MakeDirectories({disk_root_, mnt_root_}));

    wrapper_ = work_ + "/fault-zpool";
    std::error_code ec;
    fs::copy_file(lab_.source_dir() + "/tests/e2e/fault-zpool", wrapper_, ec);
    ASSERT_FALSE(ec) << "copy fault-zpool: " << ec.message();
    ASSERT_EQ(::chmod(wrapper_.c_str(), 0755), 0);
    WriteFaults("");

    socket_ = lab_.options().socket;
    options_.config = work_ + "/poolkeeperd.conf";
    std::ofstream(options_.config) << "# e2e_service_test\n"
                                   << "state_dir = " << options_.state_dir << "\n"
                                   << "socket = " << socket_ << "\n"
                                   << "zpool_path = " << wrapper_ << "\n";
    cli_ = lab_.cli();
  }

  void TearDown() override {
    if (work_.empty()) return;
    KillHang();
    daemon_.Stop();
    // Bring every pool back (creation order: a nested pool's vdev needs its
    // parent mounted), then destroy them, nested ones first.
    bool pools_gone = true;
    for (const auto& p : pools_) {
      if (!PoolImported(*runner_, p.name)) (void)runner_->Run(ZfsTool("zpool", {"import", "-d", p.dir, p.name}));
    }
    for (auto it = pools_.rbegin(); it != pools_.rend(); ++it) {
      if (!PoolImported(*runner_, it->name)) continue;
      // zfs-fuse answers "pool is busy" for a moment after an import.
      for (int i = 0; i < 50 && PoolImported(*runner_, it->name); ++i) {
        (void)runner_->Run(ZfsTool("zpool", {"destroy", "-f", it->name}));
        if (PoolImported(*runner_, it->name)) std::this_thread::sleep_for(milliseconds(200));
      }
      if (PoolImported(*runner_, it->name)) {
        pools_gone = false;
        ADD_FAILURE() << "pool " << it->name << " could not be destroyed; `scripts/lab down` exports it";
      }
    }
    // Never delete the files of a pool still imported: remove_all would walk
    // into its mounted filesystems.
    std::error_code ec;
    if (pools_gone) {
      fs::remove_all(disk_root_, ec);
      fs::remove_all(mnt_root_, ec);
    }
    if (HasFailure()) {
      for (int n = 1; n < daemon_runs_; ++n) {  // the lab prints the last run's log
        std::string log = ReadWholeFile(LogPath(n));
        size_t from = log.size() > 6000 ? log.find('\n', log.size() - 6000) + 1 : 0;
        std::fprintf(stderr, "e2e: daemon run %d log (%s) ends:\n%s\n", n, LogPath(n).c_str(),
                     log.substr(from).c_str());
      }
    }
    lab_.Close();  // removes the work directory unless a test failed
  }

  // ---- set-up helpers ----

  std::string Pool(const std::string& tag) const { return prefix_ + tag; }
  std::string LogPath(int run) const { return work_ + "/poolkeeperd." + std::to_string(run) + ".log"; }

  pk::Status RunOk(const sys::Command& cmd) {
    PK_TRY(lab_.Run(cmd));
    return OkStatus();
  }

  // Creates `name` on one sparse vdev in `dir` (default: its own directory
  // under the lab's disks), mounted under this test's mount root, with the
  // filesystems `datasets` (relative names). Left imported.
  pk::Status MakePool(const std::string& name, const std::vector<std::string>& datasets = {},
                      std::string dir = "") {
    if (dir.empty()) dir = disk_root_ + "/" + name;
    PK_TRY(MakeDirectories({dir}));
    std::string vdev = dir + "/d0.img";
    PK_TRY(CreateSparseFile(vdev));
    PK_TRY(RunOk(ZfsTool("zpool", {"create", "-m", mnt_root_ + "/" + name, name, vdev})));
    pools_.push_back({name, dir});
    for (const auto& d : datasets) PK_TRY(RunOk(ZfsTool("zfs", {"create", name + "/" + d})));
    return OkStatus();
  }

  pk::Status ExportPool(const std::string& name) {
    pk::Status last = OkStatus();
    for (int i = 0; i < 50; ++i) {  // "pool is busy" right after create/import
      last = RunOk(ZfsTool("zpool", {"export", name}));
      if (last) return last;
      std::this_thread::sleep_for(milliseconds(200));
    }
    return last;
  }

  const std::string& DirOf(const std::string& pool) const {
    for (const auto& p : pools_) {
      if (p.name == pool) return p.dir;
    }
    static const std::string none;
    return none;
  }

  // ---- daemon ----

  pk::Status StartDaemon() {
    options_.log_path = LogPath(++daemon_runs_);
    return daemon_.Start(options_);
  }

  // Every "[zfs] run" line of every daemon run that imports `pool`.
  std::string ImportRuns(const std::string& pool) const {
    std::string out;
    for (int n = 1; n <= daemon_runs_; ++n) {
      std::istringstream in(ReadWholeFile(LogPath(n)));
      for (std::string line; std::getline(in, line);) {
        if (line.find("[zfs] run ") != std::string::npos && line.find(" import ") != std::string::npos &&
            line.ends_with(" " + pool)) {
          out += line + "\n";
        }
      }
    }
    return out;
  }

  // ---- faults ----

  void WriteFaults(const std::string& text) {
    std::string tmp = work_ + "/faults.tmp";
    std::ofstream(tmp) << text;
    fs::rename(tmp, work_ + "/faults");
  }

  static bool Alive(pid_t pid) {
    std::string stat = ReadWholeFile("/proc/" + std::to_string(pid) + "/stat");
    if (stat.empty()) return false;
    size_t paren = stat.rfind(')');
    return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z' && stat[paren + 2] != 'X';
  }

  static bool GoneWithin(pid_t pid, milliseconds limit) {
    auto deadline = Clock::now() + limit;
    while (Alive(pid)) {
      if (Clock::now() > deadline) return false;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return true;
  }

  // The pid a hanging wrapper wrote, once it is there (bounded); -1 if none.
  pid_t WaitHangPid(milliseconds limit = seconds(60)) {
    auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      std::string text = ReadWholeFile(work_ + "/hang.pid");
      pid_t pid = static_cast<pid_t>(std::atoi(text.c_str()));
      if (pid > 0 && Alive(pid)) return pid;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return -1;
  }

  // Kills the hanging wrapper named by hang.pid, if it is still the wrapper
  // (now `sleep`), and removes the pid file.
  void KillHang() {
    std::string path = work_ + "/hang.pid";
    pid_t pid = static_cast<pid_t>(std::atoi(ReadWholeFile(path).c_str()));
    if (pid > 0 && Alive(pid) && ReadWholeFile("/proc/" + std::to_string(pid) + "/comm") == "sleep\n") {
      ::kill(pid, SIGKILL);
      EXPECT_TRUE(GoneWithin(pid, seconds(10))) << "hanging wrapper " << pid << " survived SIGKILL";
    }
    std::error_code ec;
    fs::remove(path, ec);
  }

  // ---- CLI ----

  CliResult Cli(std::vector<std::string> args) { return cli_.Run(std::move(args)); }

  json Status(const std::string& pool) { return cli_.Json({"service", "status", pool}); }

  // Polls `service status POOL` until `done` holds (bounded); the last answer.
  json WaitFor(const std::string& pool, const std::function<bool(const json&)>& done, milliseconds limit) {
    auto deadline = Clock::now() + limit;
    json last;
    while (true) {
      CliResult r = Cli({"--json", "service", "status", pool});
      last = r.code == kExitOk ? json::parse(r.out, nullptr, false) : json{{"cli", r.err}};
      if (!last.is_discarded() && done(last)) return last;
      if (Clock::now() > deadline) return last;
      std::this_thread::sleep_for(milliseconds(100));
    }
  }

  // Polls until the pool is in `state`; gives up early on failed/locked (unless
  // that is what is waited for). The last answer.
  json WaitState(const std::string& pool, const std::string& state, milliseconds limit = kImportWait) {
    return WaitFor(
        pool,
        [&](const json& s) {
          std::string now = s.value("state", "");
          return now == state || (now != state && (now == "failed" || now == "locked") && state != "failed" &&
                                  state != "locked");
        },
        limit);
  }

  std::vector<json> Events() {
    return cli_.JsonLines({"events"});
  }

  static uint64_t LastSeq(const std::vector<json>& events) {
    return events.empty() ? 0 : events.back().value("seq", uint64_t{0});
  }

  // The first event after `after` for pool `pool` entering `state` (and, if
  // given, with a reason holding `reason`); null if none.
  static json FindEvent(const std::vector<json>& events, const std::string& pool, const std::string& state,
                        uint64_t after = 0, const std::string& reason = "") {
    for (const auto& e : events) {
      if (e.value("seq", uint64_t{0}) > after && e.value("resource", "") == "pool:" + pool &&
          e.value("state", "") == state && e.value("reason", "").find(reason) != std::string::npos) {
        return e;
      }
    }
    return nullptr;
  }

  static uint64_t Seq(const json& e) { return e.is_null() ? 0 : e.value("seq", uint64_t{0}); }

  static std::string Trace(const std::vector<json>& events) {
    std::string out;
    for (const auto& e : events) {
      out += std::to_string(e.value("seq", uint64_t{0})) + " " + e.value("resource", "") + " " +
             e.value("previous", "") + " -> " + e.value("state", "") + ": " + e.value("reason", "") + "\n";
    }
    return out;
  }

  Lab lab_;
  sys::ProcessRunner* runner_ = &lab_.runner();
  PoolkeeperdOptions& options_ = lab_.options();
  Poolkeeperd& daemon_ = lab_.daemon();
  std::string prefix_, disk_root_, mnt_root_, work_, wrapper_, socket_;
  std::vector<TestPool> pools_;
  int daemon_runs_ = 0;
  CliClient cli_;
};

// ---------------------------------------------------------------------------

TEST_F(ServiceTest, HangingImportIsKilledAtItsTimeoutWhileAnotherPoolComesOnline) {
  const std::string hung = Pool("h"), good = Pool("g");
  PK_ASSERT_OK(MakePool(hung));
  PK_ASSERT_OK(MakePool(good));
  PK_ASSERT_OK(ExportPool(hung));
  PK_ASSERT_OK(ExportPool(good));
  WriteFaults("import " + hung + " hang\n");
  PK_ASSERT_OK(StartDaemon());

  CliResult r = Cli({"service", "enable", hung, "-d", DirOf(hung), "--import-timeout", "2"});
  ASSERT_EQ(r.code, kExitOk) << r;
  pid_t hang = WaitHangPid();
  ASSERT_GT(hang, 0) << "the import of " << hung << " never reached the wrapper";
  r = Cli({"service", "enable", good, "-d", DirOf(good), "--import-timeout", "60"});
  ASSERT_EQ(r.code, kExitOk) << r;

  json h = WaitState(hung, "failed", seconds(30));
  EXPECT_EQ(h.value("state", ""), "failed") << h.dump(2);
  EXPECT_THAT(h.value("reason", ""), HasSubstr("did not finish within 2000 ms and was killed")) << h.dump(2);
  EXPECT_TRUE(GoneWithin(hang, seconds(5))) << "the hanging zpool (pid " << hang << ") outlived its timeout";
  EXPECT_FALSE(PoolImported(*runner_, hung));

  json g = WaitState(good, "online");
  EXPECT_EQ(g.value("state", ""), "online") << g.dump(2);
  EXPECT_TRUE(PoolImported(*runner_, good));
  // The good pool's import ran while the other one hung: it started before the
  // hung one was given up.
  auto events = Events();
  uint64_t good_importing = Seq(FindEvent(events, good, "importing"));
  uint64_t hung_failed = Seq(FindEvent(events, hung, "failed"));
  EXPECT_GT(good_importing, 0u) << Trace(events);
  EXPECT_LT(good_importing, hung_failed) << Trace(events);
}

TEST_F(ServiceTest, DaemonKilledDuringImportLeavesPoolLockedUntilUnlock) {
  const std::string pool = Pool("l");
  PK_ASSERT_OK(MakePool(pool));
  PK_ASSERT_OK(ExportPool(pool));
  WriteFaults("import " + pool + " hang\n");
  PK_ASSERT_OK(StartDaemon());
  CliResult r = Cli({"service", "enable", pool, "-d", DirOf(pool), "--import-timeout", "60"});
  ASSERT_EQ(r.code, kExitOk) << r;
  ASSERT_GT(WaitHangPid(), 0) << "the import never reached the wrapper";
  EXPECT_EQ(Status(pool).value("state", ""), "importing");

  daemon_.Kill();
  KillHang();  // the orphaned zpool of the dead daemon
  ASSERT_FALSE(PoolImported(*runner_, pool));
  std::string imports_before = ImportRuns(pool);

  PK_ASSERT_OK(StartDaemon());
  json s = Status(pool);
  EXPECT_EQ(s.value("state", ""), "locked") << s.dump(2);
  EXPECT_THAT(s.value("reason", ""), HasSubstr("poolkeeper pool unlock " + pool)) << s.dump(2);
  EXPECT_TRUE(fs::exists(work_ + "/state/locks/" + pool + ".json"));
  // Locked: the daemon does not try again by itself.
  EXPECT_EQ(ImportRuns(pool), imports_before);
  EXPECT_FALSE(PoolImported(*runner_, pool));
  r = Cli({"service", "start", pool});
  EXPECT_EQ(r.code, kExitFailure) << r;
  EXPECT_THAT(r.err, HasSubstr("is locked")) << r;

  WriteFaults("");
  r = Cli({"pool", "unlock", pool});
  ASSERT_EQ(r.code, kExitOk) << r;
  s = WaitState(pool, "online");
  EXPECT_EQ(s.value("state", ""), "online") << s.dump(2);
  EXPECT_TRUE(PoolImported(*runner_, pool));
  EXPECT_FALSE(fs::exists(work_ + "/state/locks/" + pool + ".json"));
}

TEST_F(ServiceTest, SkipAndDelaySurviveRestart) {
  const std::string skipped = Pool("s"), delayed = Pool("d");
  PK_ASSERT_OK(MakePool(skipped));
  PK_ASSERT_OK(MakePool(delayed));
  PK_ASSERT_OK(ExportPool(skipped));
  PK_ASSERT_OK(ExportPool(delayed));
  PK_ASSERT_OK(StartDaemon());
  for (const auto& p : {skipped, delayed}) {
    CliResult r = Cli({"service", "enable", p, "-d", DirOf(p)});
    ASSERT_EQ(r.code, kExitOk) << r;
  }
  for (const auto& p : {skipped, delayed}) ASSERT_EQ(WaitState(p, "online").value("state", ""), "online") << p;

  CliResult r = Cli({"pool", "skip", skipped});
  ASSERT_EQ(r.code, kExitOk) << r;
  json s = Status(skipped);
  EXPECT_EQ(s.value("state", ""), "online") << "skip must not export an imported pool\n" << s.dump(2);
  EXPECT_EQ(s["policy"].value("skip", false), true) << s.dump(2);
  r = Cli({"pool", "delay", delayed, "2"});
  ASSERT_EQ(r.code, kExitOk) << r;
  EXPECT_EQ(Status(delayed)["policy"].value("delay_seconds", 0), 2);
  for (const auto& p : {skipped, delayed}) {
    r = Cli({"service", "stop", p});
    ASSERT_EQ(r.code, kExitOk) << r;
  }
  for (const auto& p : {skipped, delayed}) {
    EXPECT_EQ(WaitState(p, "exported").value("state", ""), "exported") << p;
    EXPECT_FALSE(PoolImported(*runner_, p)) << p;
  }

  daemon_.Stop();
  std::string skipped_imports = ImportRuns(skipped);
  PK_ASSERT_OK(StartDaemon());

  s = Status(skipped);
  EXPECT_EQ(s.value("state", ""), "skipped") << s.dump(2);
  // The delay shows as `waiting` with the time the import will start.
  json d = WaitFor(delayed, [](const json& j) { return j.contains("start_at"); }, seconds(10));
  EXPECT_EQ(d.value("state", ""), "waiting") << d.dump(2);
  ASSERT_TRUE(d.contains("start_at")) << d.dump(2);
  std::tm tm{};
  std::string start_at = d.value("start_at", "");
  ASSERT_NE(::strptime(start_at.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm), nullptr) << start_at;
  long ahead = static_cast<long>(::timegm(&tm) - std::time(nullptr));
  EXPECT_GE(ahead, -1) << start_at;
  EXPECT_LE(ahead, 3) << start_at;

  d = WaitState(delayed, "online");
  EXPECT_EQ(d.value("state", ""), "online") << d.dump(2);
  EXPECT_TRUE(PoolImported(*runner_, delayed));
  auto events = Events();
  json waiting = FindEvent(events, delayed, "waiting", 0, "start delay of 2 s");
  json importing = FindEvent(events, delayed, "importing", Seq(waiting));
  ASSERT_FALSE(waiting.is_null()) << Trace(events);
  ASSERT_FALSE(importing.is_null()) << Trace(events);
  EXPECT_GE(importing.value("epoch_ms", int64_t{0}) - waiting.value("epoch_ms", int64_t{0}), 1990)
      << "the import started before the delay was over\n" << Trace(events);

  // Still skipped, never imported.
  EXPECT_EQ(Status(skipped).value("state", ""), "skipped");
  EXPECT_FALSE(PoolImported(*runner_, skipped));
  EXPECT_EQ(ImportRuns(skipped), skipped_imports);

  r = Cli({"pool", "unskip", skipped});
  ASSERT_EQ(r.code, kExitOk) << r;
  EXPECT_EQ(WaitState(skipped, "online").value("state", ""), "online");
  EXPECT_TRUE(PoolImported(*runner_, skipped));
}

TEST_F(ServiceTest, NestedPoolStartsAfterAndStopsBeforeItsParent) {
  // zfs-fuse cannot serve a pool whose vdev file lives on one of its own
  // FUSE mounts: exporting the inner pool then hangs inside zfs-fuse (seen on
  // the lab). So the outer pool's filesystem `vdevs` has canmount=off and a
  // mountpoint outside its root: the supervisor records that mountpoint
  // (known_mountpoints) and sees the inner pool's search dir inside it, which
  // is all the nesting edge is made from, while the vdev stays on the host's
  // file system.
  const std::string outer = Pool("a"), inner = Pool("b");
  const std::string nest = mnt_root_ + "/nest-" + outer;
  PK_ASSERT_OK(MakePool(outer));
  PK_ASSERT_OK(RunOk(ZfsTool("zfs", {"create", "-o", "canmount=off", "-o", "mountpoint=" + nest, outer + "/vdevs"})));
  const std::string inner_dir = nest + "/" + inner;
  PK_ASSERT_OK(MakePool(inner, {}, inner_dir));
  PK_ASSERT_OK(ExportPool(inner));
  PK_ASSERT_OK(ExportPool(outer));
  PK_ASSERT_OK(StartDaemon());

  CliResult r = Cli({"service", "enable", outer, "-d", DirOf(outer)});
  ASSERT_EQ(r.code, kExitOk) << r;
  json a = WaitState(outer, "online");
  ASSERT_EQ(a.value("state", ""), "online") << a.dump(2);
  EXPECT_THAT(a["policy"].value("known_mountpoints", std::vector<std::string>{}),
              ::testing::Contains(nest))
      << a.dump(2);
  r = Cli({"service", "enable", inner, "-d", inner_dir});
  ASSERT_EQ(r.code, kExitOk) << r;
  json b = WaitState(inner, "online");
  ASSERT_EQ(b.value("state", ""), "online") << b.dump(2);

  // Stopping the outer pool stops the inner one first.
  uint64_t mark = LastSeq(Events());
  r = Cli({"service", "stop", outer});
  ASSERT_EQ(r.code, kExitOk) << r;
  EXPECT_EQ(WaitState(outer, "exported").value("state", ""), "exported");
  EXPECT_EQ(WaitState(inner, "exported").value("state", ""), "exported");
  auto events = Events();
  uint64_t inner_exported = Seq(FindEvent(events, inner, "exported", mark));
  uint64_t outer_exporting = Seq(FindEvent(events, outer, "stopping", mark, "exporting"));
  uint64_t outer_exported = Seq(FindEvent(events, outer, "exported", mark));
  EXPECT_GT(inner_exported, 0u) << Trace(events);
  EXPECT_LT(inner_exported, outer_exporting) << Trace(events);
  EXPECT_LT(inner_exported, outer_exported) << Trace(events);
  EXPECT_FALSE(PoolImported(*runner_, inner));
  EXPECT_FALSE(PoolImported(*runner_, outer));

  // At the next start the inner pool waits for the outer one.
  daemon_.Stop();
  mark = outer_exported;
  PK_ASSERT_OK(StartDaemon());
  b = WaitState(inner, "online");
  ASSERT_EQ(b.value("state", ""), "online") << b.dump(2);
  EXPECT_EQ(Status(outer).value("state", ""), "online");
  events = Events();
  uint64_t outer_online = Seq(FindEvent(events, outer, "online", mark));
  uint64_t inner_importing = Seq(FindEvent(events, inner, "importing", mark));
  EXPECT_GT(outer_online, 0u) << Trace(events);
  EXPECT_LT(outer_online, inner_importing) << Trace(events);
  EXPECT_FALSE(FindEvent(events, inner, "waiting", mark, "pool:" + outer).is_null()) << Trace(events);
}

TEST_F(ServiceTest, DependencyCycleIsRefused) {
  const std::string a = Pool("a"), b = Pool("b");  // never created: nothing is imported
  PK_ASSERT_OK(StartDaemon());
  CliResult r = Cli({"service", "enable", a, "--after", "pool:" + b});
  ASSERT_EQ(r.code, kExitOk) << r;
  json s = WaitFor(a, [&](const json& j) { return j.value("reason", "").find("pool:" + b) != std::string::npos; },
                   seconds(10));
  EXPECT_EQ(s.value("state", ""), "waiting") << s.dump(2);

  CliResult before = Cli({"--json", "service", "list"});
  ASSERT_EQ(before.code, kExitOk) << before;
  r = Cli({"service", "enable", b, "--after", "pool:" + a});
  EXPECT_TRUE(r.code == kExitFailure || r.code == kExitUsage) << r;
  EXPECT_THAT(r.err, HasSubstr("dependency cycle: pool:" + a + " -> pool:" + b + " -> pool:" + a)) << r;
  EXPECT_EQ(r.out, "");
  CliResult after = Cli({"--json", "service", "list"});
  EXPECT_EQ(after.out, before.out);
  EXPECT_EQ(Cli({"service", "status", b}).code, kExitNotFound);
  EXPECT_THAT(ReadWholeFile(work_ + "/state/pools.json"), ::testing::Not(HasSubstr("\"" + b + "\"")));
}

TEST_F(ServiceTest, ApiAnswersWithinASecondWhileAnImportHangs) {
  const std::string pool = Pool("p");
  PK_ASSERT_OK(MakePool(pool));
  PK_ASSERT_OK(ExportPool(pool));
  WriteFaults("import " + pool + " fail\n");
  PK_ASSERT_OK(StartDaemon());
  CliResult r = Cli({"service", "enable", pool, "-d", DirOf(pool), "--import-timeout", "60"});
  ASSERT_EQ(r.code, kExitOk) << r;
  json s = WaitState(pool, "failed", seconds(30));
  EXPECT_EQ(s.value("state", ""), "failed") << s.dump(2);
  EXPECT_THAT(s.value("reason", ""), HasSubstr("injected failure")) << s.dump(2);
  daemon_.Stop();

  // Next start: the enabled pool's import hangs.
  WriteFaults("import " + pool + " hang\n");
  options_.log_path = LogPath(++daemon_runs_);
  PK_ASSERT_OK(daemon_.Spawn(options_));
  CliResult first;
  Clock::time_point answered;
  while (Clock::now() - daemon_.spawned_at() < seconds(30)) {
    first = Cli({"--json", "service", "list"});
    answered = Clock::now();
    if (first.code == kExitOk) break;
    std::this_thread::sleep_for(milliseconds(10));
  }
  ASSERT_EQ(first.code, kExitOk) << first;
  auto took = std::chrono::duration_cast<milliseconds>(answered - daemon_.spawned_at());
  EXPECT_LT(took.count(), 1000) << "first `service list` answered " << took.count() << " ms after spawn";
  PK_ASSERT_OK(daemon_.WaitReady());

  ASSERT_GT(WaitHangPid(), 0) << "the import never reached the wrapper";
  auto asked = Clock::now();
  r = Cli({"--json", "service", "list"});
  took = std::chrono::duration_cast<milliseconds>(Clock::now() - asked);
  ASSERT_EQ(r.code, kExitOk) << r;
  EXPECT_LT(took.count(), 1000) << "`service list` during the hanging import took " << took.count() << " ms";
  EXPECT_THAT(r.out, HasSubstr("\"importing\"")) << r;
  EXPECT_EQ(Status(pool).value("state", ""), "importing");
}

TEST_F(ServiceTest, BadInputIsRefusedAndChangesNothing) {
  const std::string pool = Pool("p");  // managed, but there is no such pool: it fails
  const std::string empty_dir = disk_root_ + "/empty";
  fs::create_directories(empty_dir);
  PK_ASSERT_OK(StartDaemon());
  CliResult r = Cli({"service", "enable", pool, "-d", empty_dir, "--import-timeout", "30"});
  ASSERT_EQ(r.code, kExitOk) << r;
  ASSERT_EQ(WaitState(pool, "failed", seconds(30)).value("state", ""), "failed");

  CliResult list_before = Cli({"--json", "service", "list"});
  CliResult events_before = Cli({"--json", "events"});
  std::string policies_before = ReadWholeFile(work_ + "/state/pools.json");
  ASSERT_EQ(list_before.code, kExitOk) << list_before;

  struct Case {
    std::vector<std::string> args;
    int code;
    std::string fragment;
  };
  const std::string missing = Pool("nosuch");
  for (const auto& c : std::vector<Case>{
           {{"service", "status", "nosuch"}, kExitNotFound, "'nosuch'"},
           {{"service", "status", missing}, kExitNotFound, "is not managed"},
           {{"pool", "delay", pool, "-1"}, kExitUsage, ""},
           {{"pool", "delay", pool, "-5"}, kExitUsage, ""},
           {{"pool", "delay", pool, "abc"}, kExitUsage, "not a whole number"},
           {{"pool", "delay", pool, "1.5"}, kExitUsage, "not a whole number"},
           {{"pool", "delay", pool, "86401"}, kExitUsage, "86400"},
           {{"pool", "skip", missing}, kExitNotFound, missing},
           {{"pool", "unskip", missing}, kExitNotFound, missing},
           {{"pool", "delay", missing, "2"}, kExitNotFound, missing},
           {{"pool", "unlock", pool}, kExitFailure, "is not locked"},
       }) {
    std::string cmd;
    for (const auto& a : c.args) cmd += "[" + a + "] ";
    r = Cli(c.args);
    EXPECT_EQ(r.code, c.code) << cmd << "\n" << r;
    EXPECT_EQ(r.out, "") << cmd;
    EXPECT_FALSE(r.err.empty()) << cmd;
    if (!c.fragment.empty()) {
      EXPECT_THAT(r.err, HasSubstr(c.fragment)) << cmd << "\n" << r;
    }
  }

  EXPECT_EQ(Cli({"--json", "service", "list"}).out, list_before.out);
  EXPECT_EQ(Cli({"--json", "events"}).out, events_before.out);
  EXPECT_EQ(ReadWholeFile(work_ + "/state/pools.json"), policies_before);
}

}  // namespace
}  // namespace pk::e2e
