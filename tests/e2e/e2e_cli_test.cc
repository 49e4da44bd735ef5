// End-to-end tests: a real poolkeeperd on the lab's ZFS (scripts/lab, CTest
// fixture `lab`), driven through the real `poolkeeper` binary and through raw
// HTTP requests on the daemon's unix socket.
//
// The suite starts one daemon (SetUpTestSuite) with its state, socket and log
// in a fresh directory under $PK_LAB_DIR, debug logging (every zpool/zfs run is
// logged as "[zfs] run ...") and a refresh interval of an hour, so that after
// start-up the daemon runs a tool only when a request asks for one. That makes
// "no zpool/zfs process was started for this bad request" provable: count the
// "[zfs] run " lines in the daemon's log before and after the request.
//
// The tests share one pool and run in the order they are defined (they build
// on each other: create, datasets, snapshots, bad input, export/import,
// destroy). TearDownTestSuite destroys the pool whatever happened (through the
// CLI, falling back to `zpool destroy -f`), stops the daemon (SIGTERM, then
// SIGKILL after a bounded wait) and removes the disk files. The daemon's
// directory is kept when a test failed, for its log.
//
// The daemon, the CLI runs and the disk files go through tests/e2e/harness.h
// (CLI commands run through sys::ProcessRunner: argv vectors, explicit
// environment; never a shell).
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "api/http.h"
#include "base/error.h"
#include "sys/process_runner.h"
#include "tests/e2e/harness.h"
#include "tests/e2e/lab.h"

namespace pk::e2e {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

constexpr auto kStartTimeout = std::chrono::seconds(60);

// How the CLI prints a name in an error message (zfs/names.cc Quote()).
std::string Printable(const std::string& name) {
  std::string out;
  for (char c : name) out += c == '\n' ? std::string("\\n") : std::string(1, c);
  return out;
}

// The names in a list answer that belong to this test's pool, one a line
// (failure messages; other pools on the shared lab may hold thousands).
std::string Names(const json& list, const char* key) {
  std::string out;
  if (!list.contains(key)) return "(no '" + std::string(key) + "' in answer)";
  for (const auto& d : list[key]) {
    std::string name = d.value("name", "");
    if (name.starts_with("e2e")) out += name + "\n";
  }
  return out;
}

bool ContainsName(const json& list, const char* key, const std::string& name) {
  if (!list.contains(key)) return false;
  for (const auto& d : list[key]) {
    if (d.value("name", "") == name) return true;
  }
  return false;
}

const json* FindNamed(const json& list, const char* key, const std::string& name) {
  if (!list.contains(key)) return nullptr;
  for (const auto& d : list[key]) {
    if (d.value("name", "") == name) return &d;
  }
  return nullptr;
}

class E2eCliTest : public LabSuite<E2eCliTest> {
 protected:
  friend class LabSuite<E2eCliTest>;  // calls SetUpLab/TearDownLab

  static Status SetUpLab() {
    runner_ = &lab_.runner();
    PK_TRY(lab_.Open("e2e"));
    pool_ = "e2e" + std::to_string(getpid());
    dataset_ = pool_ + "/my data:1.0";
    snapshot_ = dataset_ + "@v1.0";
    disk_dir_ = lab_.lab_dir() + "/disks/e2e/" + pool_;
    mnt_ = lab_.lab_dir() + "/mnt/" + pool_;
    PK_TRY(MakeDirectories({disk_dir_}));
    for (const char* leaf : {"d0.img", "d1.img"}) {
      std::string path = disk_dir_ + "/" + leaf;
      PK_TRY(CreateSparseFile(path));
      disks_.push_back(path);
    }
    work_ = lab_.work();
    socket_ = lab_.options().socket;
    log_path_ = lab_.options().log_path;
    cli_ = lab_.cli();
    PK_TRY(lab_.StartDaemon());
    // The daemon answers before its first inventory refresh (it never waits
    // for ZFS at start): wait for that refresh (generation 1) so it is idle.
    return WaitForGeneration(1);
  }

  // The tests make the pool through the daemon: destroyed here, while it runs.
  static void TearDownLab() {
    bool pool_gone = true;
    if (!pool_.empty() && !disks_.empty()) {
      if (!PoolImported(pool_)) {
        // Exported by a test that then failed: bring it back to destroy it.
        (void)runner_->Run(Tool("zpool", {"import", "-d", disk_dir_, "-N", pool_}));
      }
      if (PoolImported(pool_)) {
        CliResult r = lab_.daemon().running() ? Cli({"pool", "destroy", "-f", pool_}) : CliResult{};
        if (r.code != 0 && PoolImported(pool_)) (void)runner_->Run(Tool("zpool", {"destroy", "-f", pool_}));
      }
      if (PoolImported(pool_)) {
        pool_gone = false;
        ADD_FAILURE() << "pool " << pool_ << " could not be destroyed; `scripts/lab down` exports it";
      }
    }
    // Never delete the disks or the mount directory of a pool that is still
    // imported: remove_all would walk into its mounted filesystems.
    std::error_code ec;
    if (pool_gone && !disk_dir_.empty()) fs::remove_all(disk_dir_, ec);
    if (pool_gone && !mnt_.empty()) fs::remove_all(mnt_, ec);
  }

  // ---- processes ----

  static sys::Command Tool(const std::string& name, std::vector<std::string> args) {
    return ZfsTool(name, std::move(args));
  }

  static bool PoolImported(const std::string& pool) { return e2e::PoolImported(*runner_, pool); }

  // Runs the CLI with POOLKEEPER_SOCKET pointing at the test's daemon.
  static CliResult Cli(std::vector<std::string> args, std::optional<std::string> socket = std::nullopt) {
    return cli_.Run(std::move(args), std::move(socket));
  }

  // Runs the CLI with --json and parses stdout; fails the test if it can't.
  static json CliJson(std::vector<std::string> args) { return cli_.Json(std::move(args)); }

  static Result<api::HttpResponse> Http(std::string_view method, const std::string& target,
                                        std::string_view body = {}) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!body.empty()) headers.emplace_back("Content-Type", "application/json");
    return api::HttpRequestTo(api::Endpoint{api::Transport::kUnix, socket_, "", 0}, method, target, body,
                              headers, std::chrono::seconds(60));
  }

  // Number of zpool/zfs runs the daemon has logged so far.
  static int ToolRuns() {
    std::string log = ReadWholeFile(log_path_);
    int n = 0;
    for (size_t at = log.find("[zfs] run "); at != std::string::npos; at = log.find("[zfs] run ", at + 1)) ++n;
    return n;
  }

  // ---- daemon ----

  // Polls /v1/health until the inventory generation reaches `generation`.
  static Status WaitForGeneration(uint64_t generation) {
    auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
    std::string last;
    while (std::chrono::steady_clock::now() < deadline) {
      auto r = Http("GET", "/v1/health");
      if (r && r->status == 200) {
        json j = json::parse(r->body, nullptr, false);
        if (!j.is_discarded() && j["inventory"].value("generation", 0ULL) >= generation) return OkStatus();
        last = r->body;
      } else {
        last = r ? r->body : r.error().message();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return DeadlineExceeded("daemon inventory did not reach generation " + std::to_string(generation) +
                            "; last health: " + last);
  }

  // ---- shared assertions ----

  // A bad request through the CLI: exit `code`, stderr naming `fragments`,
  // and no zpool/zfs run.
  static void ExpectRefused(const std::vector<std::string>& args, int code,
                            const std::vector<std::string>& fragments, bool allow_tool_runs = false) {
    int before = ToolRuns();
    CliResult r = Cli(args);
    std::string cmd;
    for (const auto& a : args) cmd += "[" + a + "] ";
    EXPECT_EQ(r.code, code) << cmd << "\n" << r;
    EXPECT_THAT(r.err, HasSubstr("poolkeeper: ")) << cmd;
    for (const auto& f : fragments) EXPECT_THAT(r.err, HasSubstr(f)) << cmd << "\n" << r;
    EXPECT_EQ(r.out, "") << cmd;
    if (!allow_tool_runs) {
      EXPECT_EQ(ToolRuns(), before) << cmd << ": a zpool/zfs process was started for it";
    }
  }

  // A bad request straight to the API: HTTP `status`, a JSON error with
  // `error_code` whose message holds `fragments`, and no zpool/zfs run.
  static void ExpectHttpRefused(std::string_view method, const std::string& target, const std::string& body,
                                int status, const std::string& error_code,
                                const std::vector<std::string>& fragments) {
    int before = ToolRuns();
    auto r = Http(method, target, body);
    std::string what = std::string(method) + " " + target + " " + body;
    ASSERT_TRUE(r.has_value()) << what << ": " << r.error().message();
    EXPECT_EQ(r->status, status) << what << " -> " << r->body;
    json j = json::parse(r->body, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << what << ": not JSON: " << r->body;
    ASSERT_TRUE(j.contains("error") && j["error"].is_object()) << what << " -> " << r->body;
    EXPECT_EQ(j["error"].value("code", ""), error_code) << what << " -> " << r->body;
    for (const auto& f : fragments) EXPECT_THAT(j["error"].value("message", ""), HasSubstr(f)) << what;
    EXPECT_EQ(ToolRuns(), before) << what << ": a zpool/zfs process was started for it";
  }

  static json GetProps(const std::string& name) { return CliJson({"dataset", "get", name}); }

  static void ExpectProp(const json& d, const std::string& prop, const std::string& value,
                         const std::string& source) {
    ASSERT_TRUE(d.contains("properties") && d["properties"].contains(prop)) << prop << " missing in " << d.dump(2);
    EXPECT_EQ(d["properties"][prop].value("value", ""), value) << prop << " in " << d.dump(2);
    EXPECT_EQ(d["properties"][prop].value("source", ""), source) << prop << " in " << d.dump(2);
  }

  // The dataset entry from `dataset list --json` (the daemon's inventory).
  static json Listed(const std::string& name, const std::string& types = "filesystem,volume") {
    json list = CliJson({"dataset", "list", "-t", types, pool_});
    const json* d = FindNamed(list, "datasets", name);
    return d ? *d : json();
  }

  static inline sys::ProcessRunner* runner_ = nullptr;
  static inline std::string work_, socket_, log_path_, disk_dir_, mnt_;
  static inline std::string pool_, dataset_, snapshot_, guid_;
  static inline std::vector<std::string> disks_;
  static inline CliClient cli_;
};

// ---------------------------------------------------------------------------

// Issue 21 item 6: the error also says what to check.
TEST_F(E2eCliTest, DaemonUnreachableIsExit4) {
  std::string missing = work_ + "/no-such-dir/missing.sock";
  CliResult r = Cli({"--socket", missing, "pool", "list"});
  EXPECT_EQ(r.code, kExitUnavailable) << r;
  EXPECT_THAT(r.err, HasSubstr(missing)) << r;
  EXPECT_THAT(r.err, HasSubstr("is poolkeeperd running? systemctl status poolkeeperd")) << r;
  // The environment variable works the same way.
  r = Cli({"pool", "list"}, missing);
  EXPECT_EQ(r.code, kExitUnavailable) << r;
  EXPECT_THAT(r.err, HasSubstr(missing)) << r;
}

// Issue 21 item 6: `poolkeeper --version` prints CMake's project version.
TEST_F(E2eCliTest, VersionIsTheProjectVersion) {
  CliResult r = Cli({"--version"});
  EXPECT_EQ(r.code, kExitOk) << r;
  EXPECT_EQ(r.out, "poolkeeper " PK_VERSION "\n") << r;
}

TEST_F(E2eCliTest, UnknownRouteAndMalformedJson) {
  ExpectHttpRefused("GET", "/v1/nosuchroute", "", 404, "not_found", {"nosuchroute"});
  ExpectHttpRefused("GET", "/nosuch", "", 404, "not_found", {"/nosuch"});
  ExpectHttpRefused("PUT", "/v1/pools", "", 404, "not_found", {"PUT", "/v1/pools"});
  ExpectHttpRefused("POST", "/v1/datasets", "{\"name\": \"x/y\",", 400, "invalid_argument", {"not valid JSON"});
  ExpectHttpRefused("POST", "/v1/pools", "[1,2]", 400, "invalid_argument", {"JSON object"});
  ExpectHttpRefused("POST", "/v1/imports", "{nope", 400, "invalid_argument", {"not valid JSON"});
  ExpectHttpRefused("POST", "/v1/snapshots", "{\"name\": 7}", 400, "invalid_argument", {"'name'"});
}

TEST_F(E2eCliTest, PoolCreateAndList) {
  int before = ToolRuns();
  CliResult r = Cli({"pool", "create", "-m", mnt_, pool_, "mirror", disks_[0], disks_[1]});
  ASSERT_EQ(r.code, kExitOk) << r;
  EXPECT_EQ(r.out, "created pool '" + pool_ + "'\n");
  // The tool-run counter the bad-input tests rely on does see real runs.
  EXPECT_GT(ToolRuns(), before) << "the daemon log has no '[zfs] run ' lines: is it logging at debug?";

  // Human table: header and rows aligned column by column.
  r = Cli({"pool", "list"});
  ASSERT_EQ(r.code, kExitOk) << r;
  std::vector<std::string> lines;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_GE(lines.size(), 2u) << r;
  const std::string& header = lines[0];
  EXPECT_TRUE(header.starts_with("NAME ")) << header;
  std::string row;
  for (const auto& l : lines) {
    if (l.starts_with(pool_ + " ")) row = l;
  }
  ASSERT_FALSE(row.empty()) << "no row for " << pool_ << " in\n" << r.out;
  for (const char* col : {"SIZE", "ALLOC", "FREE", "HEALTH", "GUID", "ALTROOT"}) {
    size_t at = header.find(std::string(" ") + col);
    ASSERT_NE(at, std::string::npos) << col << " not in header " << header;
    ++at;
    ASSERT_LT(at, row.size()) << col << ": row too short: " << row;
    EXPECT_NE(row[at], ' ') << col << " column misaligned:\n" << header << "\n" << row;
    EXPECT_EQ(row[at - 1], ' ') << col << " column misaligned:\n" << header << "\n" << row;
  }
  EXPECT_EQ(row.substr(header.find("HEALTH"), 6), "ONLINE") << header << "\n" << row;

  json list = CliJson({"pool", "list"});
  const json* p = FindNamed(list, "pools", pool_);
  ASSERT_NE(p, nullptr) << Names(list, "pools");
  guid_ = p->value("guid", "");
  EXPECT_FALSE(guid_.empty());
  EXPECT_EQ(guid_.find_first_not_of("0123456789"), std::string::npos) << guid_;
  EXPECT_EQ(p->value("health", ""), "ONLINE");
  EXPECT_THAT(row, HasSubstr(guid_));
  // --json works after the subcommand too.
  r = Cli({"pool", "list", "--json"});
  ASSERT_EQ(r.code, kExitOk) << r;
  EXPECT_TRUE(ContainsName(json::parse(r.out, nullptr, false), "pools", pool_)) << r;
}

TEST_F(E2eCliTest, PoolStatusLooksLikeZpoolStatus) {
  CliResult r = Cli({"pool", "status", pool_});
  ASSERT_EQ(r.code, kExitOk) << r;
  const std::string& s = r.out;
  EXPECT_THAT(s, HasSubstr("  pool: " + pool_ + "\n")) << s;
  EXPECT_THAT(s, HasSubstr(" state: ONLINE\n")) << s;
  EXPECT_THAT(s, HasSubstr("\nconfig:\n\n")) << s;
  EXPECT_TRUE(std::regex_search(s, std::regex("\n\tNAME +STATE +READ +WRITE +CKSUM\n"))) << s;
  EXPECT_TRUE(std::regex_search(s, std::regex("\n\t" + pool_ + " +ONLINE +0 +0 +0\n"))) << s;
  EXPECT_TRUE(std::regex_search(s, std::regex("\n\t  mirror(-0)? +ONLINE +0 +0 +0\n"))) << s;
  for (const auto& d : disks_) {
    // Leaves under the mirror, by path (zfs-fuse) or by file name.
    std::string leaf = d.substr(d.rfind('/') + 1);
    EXPECT_TRUE(std::regex_search(s, std::regex("\n\t    \\S*" + leaf + " +ONLINE +0 +0 +0\n"))) << s;
  }
  EXPECT_THAT(s, HasSubstr("\npoolkeeper:\n")) << s;
  EXPECT_THAT(s, HasSubstr("  guid: " + guid_ + "\n")) << s;
  EXPECT_THAT(s, HasSubstr("  datasets: 1 filesystems and volumes, 0 snapshots\n")) << s;

  json j = CliJson({"pool", "status", pool_});
  EXPECT_EQ(j.value("name", ""), pool_);
  EXPECT_EQ(j.value("state", ""), "ONLINE");
  EXPECT_TRUE(j.contains("poolkeeper")) << j.dump(2);
}

// issue 20 item 1: the disk verbs through the CLI and the daemon, the scan's
// progress in `pool status`, and a scrub's start and end in `events`; bad
// device paths are refused before any tool runs (item 4).
TEST_F(E2eCliTest, DiskVerbsScrubProgressAndScanEvents) {
  std::vector<std::string> extra;
  for (const char* leaf : {"x2.img", "x3.img"}) {
    extra.push_back(disk_dir_ + "/" + leaf);
    ASSERT_TRUE(CreateSparseFile(extra.back()));
  }
  auto ok = [&](std::vector<std::string> args, const std::string& out) {
    CliResult r = Cli(args);
    EXPECT_EQ(r.code, kExitOk) << r;
    EXPECT_EQ(r.out, out) << r;
  };
  ok({"pool", "attach", pool_, disks_[0], extra[0]},
     "attached '" + extra[0] + "' to '" + disks_[0] + "' (resilver started) in pool '" + pool_ + "'\n");
  EXPECT_THAT(Cli({"pool", "status", pool_}).out, HasSubstr(extra[0]));
  ok({"pool", "detach", pool_, extra[0]}, "detached '" + extra[0] + "' in pool '" + pool_ + "'\n");
  EXPECT_THAT(Cli({"pool", "status", pool_}).out, ::testing::Not(HasSubstr(extra[0])));
  ok({"pool", "offline", "-t", pool_, disks_[1]}, "'" + disks_[1] + "' is offline in pool '" + pool_ + "'\n");
  EXPECT_THAT(Cli({"pool", "status", pool_}).out, HasSubstr(" state: DEGRADED\n"));
  ok({"pool", "online", pool_, disks_[1]}, "'" + disks_[1] + "' is online in pool '" + pool_ + "'\n");
  CliResult dry = Cli({"pool", "add", "-n", pool_, "spare", extra[1]});
  EXPECT_EQ(dry.code, kExitOk) << dry;
  EXPECT_THAT(dry.out, HasSubstr("would update '" + pool_ + "'"));
  EXPECT_THAT(Cli({"pool", "status", pool_}).out, ::testing::Not(HasSubstr(extra[1])));
  ok({"pool", "add", pool_, "spare", extra[1]}, "added vdevs in pool '" + pool_ + "'\n");
  json st = CliJson({"pool", "status", pool_});
  ASSERT_EQ(st["spares"].size(), 1u) << st.dump(2);
  EXPECT_EQ(st["spares"][0].value("name", ""), extra[1]);
  ok({"pool", "remove", pool_, extra[1]}, "removed '" + extra[1] + "' in pool '" + pool_ + "'\n");
  // add --profile: the planner's layout for the given disks, as `pool create
  // --profile` makes it (a dry run). The pool is a mirror: a stripe is
  // refused with zpool's reason, a mirror2 of two disks is what it would get.
  CliResult stripe = Cli({"pool", "add", "-n", "--profile", "stripe", pool_, extra[0]});
  EXPECT_EQ(stripe.code, kExitUsage) << stripe;
  EXPECT_THAT(stripe.err, HasSubstr("mismatched replication level")) << stripe;
  CliResult planned = Cli({"pool", "add", "-n", "--profile", "mirror2", pool_, extra[0], extra[1]});
  EXPECT_EQ(planned.code, kExitOk) << planned;
  EXPECT_THAT(planned.out, HasSubstr("would update '" + pool_ + "'")) << planned;
  EXPECT_THAT(planned.out, HasSubstr(extra[1])) << planned;
  EXPECT_THAT(Cli({"pool", "status", pool_}).out, ::testing::Not(HasSubstr(extra[0])));
  CliResult no_profile = Cli({"pool", "add", "--profile", "raidz9", pool_, extra[0]});
  EXPECT_EQ(no_profile.code, kExitUsage) << no_profile;
  EXPECT_THAT(no_profile.err, HasSubstr("raidz9")) << no_profile;

  // Bad input: refused by the daemon before any zpool runs, exit 2, the cause named.
  int before = ToolRuns();
  CliResult bad = Cli({"pool", "detach", pool_, "x2.img"});
  EXPECT_EQ(bad.code, kExitUsage) << bad;
  EXPECT_THAT(bad.err, HasSubstr("detach in pool '" + pool_ + "': invalid vdev 'x2.img'")) << bad;
  bad = Cli({"pool", "attach", pool_, disks_[0], "-"});
  EXPECT_NE(bad.code, kExitOk) << bad;
  EXPECT_EQ(ToolRuns(), before) << "a zpool/zfs process was started for bad input";

  // A scrub: its end in `pool status` and both ends in `events`.
  // `events --json` prints one JSON event a line.
  auto events = [&](uint64_t after_seq) { return cli_.JsonLines({"events", "--after", std::to_string(after_seq)}); };
  uint64_t after = 0;
  for (const auto& e : events(0)) after = std::max<uint64_t>(after, e.value("seq", 0ULL));
  ok({"pool", "scrub", pool_}, "scrub started in pool '" + pool_ + "'\n");
  st = CliJson({"pool", "status", pool_});
  EXPECT_EQ(st["scan_progress"].value("kind", ""), "scrub") << st.dump(2);
  std::string status_text = Cli({"pool", "status", pool_}).out;
  EXPECT_TRUE(std::regex_search(status_text, std::regex("progress: scrub (finished|scanning)"))) << status_text;
  std::vector<std::string> states;
  for (const auto& e : events(after)) {
    if (e.value("resource", "") == "scan:" + pool_) states.push_back(e.value("state", ""));
  }
  EXPECT_THAT(states, ::testing::Contains("scrub-running"));
  if (st["scan_progress"].value("state", "") == "finished") {
    EXPECT_THAT(states, ::testing::Contains("scrub-finished"));
  }
  // zfs-fuse has no scrub pause: the daemon says so (Unimplemented).
  if (st["poolkeeper"].value("dialect", "") == "zfs-fuse") {
    CliResult pause = Cli({"pool", "scrub", "--pause", pool_});
    EXPECT_NE(pause.code, kExitOk) << pause;
    EXPECT_THAT(pause.err, HasSubstr("zfs-fuse (pool version 23) cannot pause a scrub")) << pause;
  }
}

TEST_F(E2eCliTest, DatasetPropertiesInheritanceRename) {
  const std::string mp = mnt_ + "/custom";
  CliResult r = Cli({"dataset", "create", "-o", "compression=on", "-o", "canmount=off", "-o", "mountpoint=" + mp,
                     "-o", "com.example:owner=alice", dataset_});
  ASSERT_EQ(r.code, kExitOk) << r;
  EXPECT_EQ(r.out, "created dataset '" + dataset_ + "'\n");

  json d = GetProps(dataset_);
  EXPECT_EQ(d.value("name", ""), dataset_);
  ExpectProp(d, "compression", "on", "local");
  ExpectProp(d, "canmount", "off", "local");
  ExpectProp(d, "mountpoint", mp, "local");
  ExpectProp(d, "com.example:owner", "alice", "local");
  // Selected properties only.
  json some = CliJson({"dataset", "get", dataset_, "compression", "com.example:owner"});
  EXPECT_EQ(some["properties"].size(), 2u) << some.dump(2);
  // Human output names the source.
  r = Cli({"dataset", "get", dataset_, "compression"});
  ASSERT_EQ(r.code, kExitOk) << r;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("compression +on +local\n"))) << r;

  json listed = Listed(dataset_);
  ASSERT_FALSE(listed.is_null()) << "dataset list does not show " << dataset_ << " right after create";
  ExpectProp(listed, "compression", "on", "local");
  ExpectProp(listed, "canmount", "off", "local");

  // A child inherits compression from the parent.
  const std::string child = dataset_ + "/child";
  r = Cli({"dataset", "create", child});
  ASSERT_EQ(r.code, kExitOk) << r;
  json c = GetProps(child);
  ExpectProp(c, "compression", "on", "inherited");
  EXPECT_EQ(c["properties"]["compression"].value("inherited_from", ""), dataset_) << c.dump(2);
  r = Cli({"dataset", "get", child, "compression"});
  EXPECT_THAT(r.out, HasSubstr("inherited from " + dataset_)) << r;
  json lc = Listed(child);
  ASSERT_FALSE(lc.is_null()) << "dataset list does not show " << child;
  ExpectProp(lc, "compression", "on", "inherited");

  // set: local values change, the child follows, the list at once.
  r = Cli({"dataset", "set", dataset_, "compression=off", "com.example:owner=bob"});
  ASSERT_EQ(r.code, kExitOk) << r;
  d = GetProps(dataset_);
  ExpectProp(d, "compression", "off", "local");
  ExpectProp(d, "com.example:owner", "bob", "local");
  ExpectProp(Listed(dataset_), "compression", "off", "local");
  ExpectProp(Listed(child), "compression", "off", "inherited");

  // inherit: the parent takes the pool's value (set on the root here).
  r = Cli({"dataset", "set", pool_, "compression=on"});
  ASSERT_EQ(r.code, kExitOk) << r;
  ExpectProp(Listed(pool_), "compression", "on", "local");
  r = Cli({"dataset", "inherit", dataset_, "compression"});
  ASSERT_EQ(r.code, kExitOk) << r;
  d = GetProps(dataset_);
  ExpectProp(d, "compression", "on", "inherited");
  EXPECT_EQ(d["properties"]["compression"].value("inherited_from", ""), pool_);
  ExpectProp(Listed(dataset_), "compression", "on", "inherited");
  json lchild = Listed(child);
  ExpectProp(lchild, "compression", "on", "inherited");
  r = Cli({"dataset", "inherit", dataset_, "com.example:owner"});
  ASSERT_EQ(r.code, kExitOk) << r;
  d = GetProps(dataset_);
  EXPECT_FALSE(d["properties"].contains("com.example:owner") &&
               d["properties"]["com.example:owner"].value("source", "") == "local")
      << d.dump(2);

  // rename: the old name is gone from the list, the new one there, at once.
  // (zfs-fuse cannot rename a mounted filesystem: "dataset is busy".)
  const std::string old_name = dataset_ + "/old name";
  const std::string new_name = dataset_ + "/new name";
  r = Cli({"dataset", "create", "-o", "canmount=off", old_name});
  ASSERT_EQ(r.code, kExitOk) << r;
  ASSERT_FALSE(Listed(old_name).is_null()) << "dataset list does not show " << old_name;
  r = Cli({"dataset", "rename", old_name, new_name});
  ASSERT_EQ(r.code, kExitOk) << r;
  EXPECT_EQ(r.out, "renamed to '" + new_name + "'\n");
  json list = CliJson({"dataset", "list", pool_});
  EXPECT_FALSE(ContainsName(list, "datasets", old_name)) << Names(list, "datasets");
  EXPECT_TRUE(ContainsName(list, "datasets", new_name)) << Names(list, "datasets");
  EXPECT_TRUE(ContainsName(list, "datasets", child)) << Names(list, "datasets");
  // Listing a subtree by the shell-hostile name.
  json sub = CliJson({"dataset", "list", dataset_});
  ASSERT_TRUE(sub.contains("datasets"));
  EXPECT_EQ(sub["datasets"].size(), 3u) << Names(sub, "datasets");
  EXPECT_TRUE(ContainsName(sub, "datasets", new_name)) << Names(sub, "datasets");
  // The human list shows the names with their spaces intact.
  r = Cli({"dataset", "list", dataset_});
  EXPECT_THAT(r.out, HasSubstr("\n" + new_name + " ")) << r;
  EXPECT_THAT(r.out, HasSubstr("\n" + dataset_ + " ")) << r;
}

// Names that sort between a dataset and its descendants ('-', '.', ' ', ':' sort
// before '/') must not hide the descendants from subtree listings.
TEST_F(E2eCliTest, SubtreeListingWithLookalikeSibling) {
  const std::string sibling = dataset_ + "-b";
  const std::string snap = dataset_ + "@lookalike";
  CliResult r = Cli({"dataset", "create", "-o", "canmount=off", sibling});
  ASSERT_EQ(r.code, kExitOk) << r;
  r = Cli({"snapshot", "create", snap});
  ASSERT_EQ(r.code, kExitOk) << r;

  json sub = CliJson({"dataset", "list", dataset_});
  EXPECT_TRUE(ContainsName(sub, "datasets", dataset_ + "/child")) << "dataset list '" << dataset_ << "':\n"
                                                                  << Names(sub, "datasets");
  EXPECT_FALSE(ContainsName(sub, "datasets", sibling)) << Names(sub, "datasets");
  json snaps = CliJson({"snapshot", "list", dataset_});
  EXPECT_TRUE(ContainsName(snaps, "snapshots", snap)) << "snapshot list '" << dataset_ << "':\n"
                                                      << Names(snaps, "snapshots");
  json pool = CliJson({"pool", "status", pool_});
  json whole = CliJson({"dataset", "list", pool_});
  EXPECT_EQ(pool["poolkeeper"].value("datasets", 0u), whole["datasets"].size()) << Names(whole, "datasets");

  for (const auto& gone : {snap, sibling}) {
    r = Cli({gone == snap ? "snapshot" : "dataset", "destroy", gone});
    EXPECT_EQ(r.code, kExitOk) << r;
  }
}

TEST_F(E2eCliTest, SnapshotsCreateListRollbackDestroy) {
  CliResult r = Cli({"snapshot", "create", snapshot_});
  ASSERT_EQ(r.code, kExitOk) << r;
  EXPECT_EQ(r.out, "created snapshot '" + snapshot_ + "'\n");
  json snaps = CliJson({"snapshot", "list", dataset_});
  EXPECT_TRUE(ContainsName(snaps, "snapshots", snapshot_)) << Names(snaps, "snapshots");
  r = Cli({"snapshot", "list"});
  ASSERT_EQ(r.code, kExitOk) << r;
  EXPECT_THAT(r.out, HasSubstr(snapshot_ + " ")) << r;
  json got = GetProps(snapshot_);
  EXPECT_EQ(got.value("name", ""), snapshot_);
  EXPECT_EQ(got.value("type", ""), "snapshot");

  // Rollback undoes a change made after the snapshot: a file in the mounted kid.
  const std::string kid = dataset_ + "/child";
  const std::string kid_snap = kid + "@before";
  json kp = CliJson({"dataset", "get", kid, "mountpoint", "mounted"});
  ASSERT_TRUE(kp.contains("properties") && kp["properties"].contains("mountpoint")) << kp.dump(2);
  std::string kid_mp = kp["properties"]["mountpoint"].value("value", "");
  ASSERT_EQ(kp["properties"]["mounted"].value("value", ""), "yes") << kp.dump(2);
  r = Cli({"snapshot", "create", kid_snap});
  ASSERT_EQ(r.code, kExitOk) << r;
  std::string file = kid_mp + "/written-after-snapshot";
  {
    std::ofstream out(file);
    out << "data\n";
    ASSERT_TRUE(out.good()) << "cannot write " << file;
  }
  ASSERT_TRUE(fs::exists(file));
  r = Cli({"snapshot", "rollback", kid_snap});
  ASSERT_EQ(r.code, kExitOk) << r;
  EXPECT_EQ(r.out, "rolled back to '" + kid_snap + "'\n");
  EXPECT_FALSE(fs::exists(file)) << file << " survived the rollback";
  r = Cli({"snapshot", "rollback", snapshot_});
  EXPECT_EQ(r.code, kExitOk) << r;

  // Recursive listing from the parent sees both; destroy removes at once.
  snaps = CliJson({"snapshot", "list", "-r", dataset_});
  EXPECT_TRUE(ContainsName(snaps, "snapshots", snapshot_)) << Names(snaps, "snapshots");
  EXPECT_TRUE(ContainsName(snaps, "snapshots", kid_snap)) << Names(snaps, "snapshots");
  for (const auto& s : {kid_snap, snapshot_}) {
    r = Cli({"snapshot", "destroy", s});
    ASSERT_EQ(r.code, kExitOk) << r;
    EXPECT_EQ(r.out, "destroyed '" + s + "'\n");
  }
  snaps = CliJson({"snapshot", "list"});
  EXPECT_FALSE(ContainsName(snaps, "snapshots", snapshot_)) << Names(snaps, "snapshots");
  EXPECT_FALSE(ContainsName(snaps, "snapshots", kid_snap)) << Names(snaps, "snapshots");
  // Gone from ZFS too, not only from the list.
  ExpectRefused({"dataset", "get", snapshot_}, kExitNotFound, {snapshot_}, /*allow_tool_runs=*/true);
}

// Names the validator must refuse, with the cause it must give.
struct BadName {
  std::string name;
  std::string cause;
};

std::vector<BadName> BadDatasetNames(const std::string& pool) {
  return {
      {pool + "/a;reboot", "character ';' is not allowed"},
      {pool + "/$(reboot)", "character '$' is not allowed"},
      {pool + "/`reboot`", "character '`' is not allowed"},
      {pool + "/a\nb", "character '\\n' is not allowed"},
      {pool + "/../etc", "'..' is not allowed"},
      {pool + "/-rf", "may not start with '-'"},
      {pool + "/" + std::string(300, 'x'), "longer than 255"},
  };
}

TEST_F(E2eCliTest, BadNamesRefusedByCliWithoutToolRuns) {
  for (const auto& [name, cause] : BadDatasetNames(pool_)) {
    SCOPED_TRACE("name: " + Printable(name));
    std::string shown = Printable(name).substr(0, 200);
    ExpectRefused({"dataset", "create", name}, kExitUsage, {"invalid dataset name", shown, cause});
    ExpectRefused({"dataset", "create", "-o", "compression=on", name}, kExitUsage, {shown, cause});
    ExpectRefused({"dataset", "get", name}, kExitUsage, {shown, cause});
    ExpectRefused({"dataset", "set", name, "compression=on"}, kExitUsage, {shown, cause});
    ExpectRefused({"dataset", "destroy", name}, kExitUsage, {shown, cause});
    ExpectRefused({"dataset", "rename", dataset_, name}, kExitUsage, {shown, cause});
    ExpectRefused({"dataset", "list", name}, kExitUsage, {shown, cause});
    ExpectRefused({"snapshot", "create", name + "@s"}, kExitUsage, {"invalid snapshot name", shown, cause});
    ExpectRefused({"snapshot", "rollback", name + "@s"}, kExitUsage, {shown, cause});
  }
  // Bad snapshot parts.
  ExpectRefused({"snapshot", "create", dataset_ + "@x;reboot"}, kExitUsage, {"character ';' is not allowed"});
  ExpectRefused({"snapshot", "create", dataset_ + "@$(reboot)"}, kExitUsage, {"character '$' is not allowed"});
  ExpectRefused({"snapshot", "destroy", dataset_ + "@a@b"}, kExitUsage, {"not allowed after '@'"});
  ExpectRefused({"snapshot", "create", dataset_}, kExitUsage, {"expected DATASET@SNAPSHOT"});

  // Pool names.
  for (const auto& [name, cause] : std::vector<BadName>{
           {"a;reboot", "character ';' is not allowed"},
           {"$(reboot)", "character '$' is not allowed"},
           {"`reboot`", "character '`' is not allowed"},
           {"p\nq", "character '\\n' is not allowed"},
           {"p" + std::string(299, 'x'), "longer than 255"},
           {"mirror", "reserved word"},
       }) {
    SCOPED_TRACE("pool: " + Printable(name));
    std::string shown = Printable(name).substr(0, 200);
    ExpectRefused({"pool", "create", "-m", mnt_ + "/bad", name, "mirror", disks_[0], disks_[1]}, kExitUsage,
                  {"invalid pool name", shown, cause});
    ExpectRefused({"pool", "status", name}, kExitUsage, {"invalid pool name", shown, cause});
    ExpectRefused({"pool", "export", name}, kExitUsage, {shown, cause});
    ExpectRefused({"pool", "destroy", name}, kExitUsage, {shown, cause});
    ExpectRefused({"pool", "import", "-d", disk_dir_, name}, kExitUsage, {shown, cause});
  }

  // A leading '-' reads as an option to CLI11: a usage error, no request at all.
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"dataset", "create", "-rf"},
           {"pool", "status", "-x"},
           {"pool", "destroy", "--", "-f"},
       }) {
    int before = ToolRuns();
    CliResult r = Cli(args);
    EXPECT_EQ(r.code, kExitUsage) << args.back() << "\n" << r;
    EXPECT_FALSE(r.err.empty()) << r;
    EXPECT_EQ(ToolRuns(), before) << args.back();
  }
}

TEST_F(E2eCliTest, BadPropertiesRefusedWithoutToolRuns) {
  const std::string target = pool_ + "/props";
  ExpectRefused({"dataset", "create", "-o", "compresion=on", target}, kExitUsage,
                {"compresion", "not a native property", target});
  ExpectRefused({"dataset", "create", "-o", "owner=alice", target}, kExitUsage,
                {"'owner'", "user property must be 'module:property'"});
  ExpectRefused({"dataset", "create", "-o", "Com.Example:Owner=alice", target}, kExitUsage,
                {"Com.Example:Owner", "lower-case"});
  ExpectRefused({"dataset", "create", "-o", "compression", target}, kExitUsage, {"'compression'", "PROPERTY=VALUE"});
  ExpectRefused({"dataset", "set", dataset_, "compresion=on"}, kExitUsage, {"compresion", dataset_});
  ExpectRefused({"dataset", "set", dataset_, "owner=alice"}, kExitUsage, {"'owner'"});
  ExpectRefused({"dataset", "set", dataset_, "com.example:note=a\nb"}, kExitUsage, {"com.example:note", "newlines"});
  ExpectRefused({"dataset", "inherit", dataset_, "compresion"}, kExitUsage, {"compresion"});
  ExpectRefused({"dataset", "get", dataset_, "compresion"}, kExitUsage, {"compresion"});
  ExpectRefused({"pool", "create", "-m", mnt_ + "/bad", "-O", "compresion=on", "e2ebad", "mirror", disks_[0], disks_[1]},
                kExitUsage, {"compresion", "e2ebad"});
  // Nothing was created.
  json list = CliJson({"dataset", "list"});
  EXPECT_FALSE(ContainsName(list, "datasets", target)) << Names(list, "datasets");
}

TEST_F(E2eCliTest, BadNamesRefusedByApiWithoutToolRuns) {
  auto bad = BadDatasetNames(pool_);
  bad.push_back({"-rf", "may not start with '-'"});
  bad.push_back({pool_ + "/-o mountpoint=/etc", "may not start with '-'"});
  for (const auto& [name, cause] : bad) {
    SCOPED_TRACE("name: " + Printable(name));
    std::string shown = Printable(name).substr(0, 200);
    std::string seg = api::PercentEncode(name);
    ExpectHttpRefused("POST", "/v1/datasets", json{{"name", name}}.dump(), 400, "invalid_argument",
                      {"invalid dataset name", shown, cause});
    ExpectHttpRefused("GET", "/v1/datasets/" + seg, "", 400, "invalid_argument", {shown, cause});
    ExpectHttpRefused("PATCH", "/v1/datasets/" + seg, json{{"properties", {{"compression", "on"}}}}.dump(), 400,
                      "invalid_argument", {shown, cause});
    ExpectHttpRefused("DELETE", "/v1/datasets/" + seg + "?recursive=yes", "", 400, "invalid_argument", {shown, cause});
    ExpectHttpRefused("POST", "/v1/datasets/" + seg + "?action=inherit", json{{"property", "compression"}}.dump(), 400,
                      "invalid_argument", {shown, cause});
    ExpectHttpRefused("POST", "/v1/datasets/" + api::PercentEncode(dataset_) + "?action=rename",
                      json{{"new_name", name}}.dump(), 400, "invalid_argument", {shown, cause});
    ExpectHttpRefused("GET", "/v1/datasets?root=" + seg, "", 400, "invalid_argument", {shown, cause});
    ExpectHttpRefused("POST", "/v1/snapshots", json{{"name", name + "@s"}}.dump(), 400, "invalid_argument",
                      {"invalid snapshot name", cause});
    ExpectHttpRefused("DELETE", "/v1/snapshots/" + api::PercentEncode(name + "@s"), "", 400, "invalid_argument",
                      {cause});
  }
  // Pool names that start with '-' and the like, straight to the API.
  for (const auto& [name, cause] : std::vector<BadName>{
           {"-f", "may not start with '-'"},
           {"-R/", "'/' and '@' are not allowed"},
           {"a;reboot", "character ';' is not allowed"},
           {"$(reboot)", "character '$' is not allowed"},
           {"`reboot`", "character '`' is not allowed"},
           {"p\nq", "character '\\n' is not allowed"},
       }) {
    SCOPED_TRACE("pool: " + Printable(name));
    std::string seg = api::PercentEncode(name);
    ExpectHttpRefused("POST", "/v1/pools",
                      json{{"name", name}, {"vdevs", {"mirror", disks_[0], disks_[1]}}, {"mountpoint", mnt_ + "/bad"}}.dump(),
                      400, "invalid_argument", {"invalid pool name", cause});
    ExpectHttpRefused("GET", "/v1/pools/" + seg, "", 400, "invalid_argument", {cause});
    ExpectHttpRefused("DELETE", "/v1/pools/" + seg + "?force=true", "", 400, "invalid_argument", {cause});
    ExpectHttpRefused("POST", "/v1/pools/" + seg + "?action=export", "{}", 400, "invalid_argument", {cause});
    ExpectHttpRefused("POST", "/v1/imports", json{{"name", name}, {"search_dirs", {disk_dir_}}}.dump(), 400,
                      "invalid_argument", {cause});
    ExpectHttpRefused("POST", "/v1/imports", json{{"guid", "1"}, {"new_name", name}, {"search_dirs", {disk_dir_}}}.dump(),
                      400, "invalid_argument", {cause});
  }
  // Properties through the API.
  ExpectHttpRefused("POST", "/v1/datasets",
                    json{{"name", pool_ + "/p"}, {"properties", {{"compresion", "on"}}}}.dump(), 400,
                    "invalid_argument", {"compresion", "not a native property"});
  ExpectHttpRefused("POST", "/v1/datasets", json{{"name", pool_ + "/p"}, {"properties", {{"owner", "alice"}}}}.dump(),
                    400, "invalid_argument", {"'owner'"});
  ExpectHttpRefused("POST", "/v1/datasets",
                    json{{"name", pool_ + "/p"}, {"properties", {{"-o", "x"}}}}.dump(), 400, "invalid_argument",
                    {"'-o'"});
  ExpectHttpRefused("GET", "/v1/datasets/" + api::PercentEncode(dataset_) + "?properties=compresion", "", 400,
                    "invalid_argument", {"compresion"});
  ExpectHttpRefused("POST", "/v1/imports", json{{"guid", "12;reboot"}}.dump(), 400, "invalid_argument",
                    {"12;reboot", "not a decimal number"});
  ExpectHttpRefused("POST", "/v1/import-scan", json{{"search_dirs", {"relative/dir"}}}.dump(), 400,
                    "invalid_argument", {"relative/dir", "absolute path"});
}

TEST_F(E2eCliTest, MissingObjectsAreExit3) {
  ExpectRefused({"pool", "status", "nosuchpool"}, kExitNotFound, {"nosuchpool", "not imported"},
                /*allow_tool_runs=*/true);
  ExpectRefused({"pool", "import", "-d", disk_dir_, "nosuchpool"}, kExitNotFound, {"nosuchpool"},
                /*allow_tool_runs=*/true);
  ExpectRefused({"pool", "import", "-d", disk_dir_, "--cachefile", "none", "123456789"}, kExitNotFound, {"123456789"},
                /*allow_tool_runs=*/true);
  ExpectRefused({"dataset", "get", pool_ + "/nosuch"}, kExitNotFound, {pool_ + "/nosuch"}, /*allow_tool_runs=*/true);
  ExpectRefused({"dataset", "list", pool_ + "/nosuch"}, kExitNotFound, {pool_ + "/nosuch", "does not exist"});
  ExpectRefused({"snapshot", "destroy", dataset_ + "@nosuch"}, kExitNotFound, {dataset_ + "@nosuch"},
                /*allow_tool_runs=*/true);
  ExpectRefused({"pool", "export", "nosuchpool"}, kExitNotFound, {"nosuchpool"}, /*allow_tool_runs=*/true);
}

TEST_F(E2eCliTest, ExportImportByGuidDestroy) {
  CliResult r = Cli({"pool", "export", pool_});
  ASSERT_EQ(r.code, kExitOk) << r;
  EXPECT_EQ(r.out, "exported pool '" + pool_ + "'\n");
  json pools = CliJson({"pool", "list"});
  EXPECT_FALSE(ContainsName(pools, "pools", pool_)) << Names(pools, "pools");
  json list = CliJson({"dataset", "list"});
  EXPECT_FALSE(ContainsName(list, "datasets", dataset_)) << Names(list, "datasets");
  ExpectRefused({"pool", "status", pool_}, kExitNotFound, {pool_}, /*allow_tool_runs=*/true);

  // No name: the importable pools in DIR.
  r = Cli({"pool", "import", "-d", disk_dir_});
  ASSERT_EQ(r.code, kExitOk) << r;
  EXPECT_TRUE(r.out.starts_with("NAME ")) << r;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("\n" + pool_ + " +" + guid_ + " +ONLINE"))) << r;
  json importable = CliJson({"pool", "import", "-d", disk_dir_});
  const json* p = FindNamed(importable, "pools", pool_);
  ASSERT_NE(p, nullptr) << importable.dump(2);
  EXPECT_EQ(p->value("guid", ""), guid_);

  r = Cli({"pool", "import", "-d", disk_dir_, "--cachefile", "none", guid_});
  ASSERT_EQ(r.code, kExitOk) << r;
  EXPECT_EQ(r.out, "imported pool '" + pool_ + "'\n");
  pools = CliJson({"pool", "list"});
  p = FindNamed(pools, "pools", pool_);
  ASSERT_NE(p, nullptr) << Names(pools, "pools");
  EXPECT_EQ(p->value("guid", ""), guid_);
  list = CliJson({"dataset", "list"});
  EXPECT_TRUE(ContainsName(list, "datasets", dataset_)) << Names(list, "datasets");
  EXPECT_TRUE(ContainsName(list, "datasets", dataset_ + "/new name")) << Names(list, "datasets");
  // Properties survived the round trip.
  ExpectProp(GetProps(dataset_), "mountpoint", mnt_ + "/custom", "local");
  r = Cli({"pool", "status", pool_});
  EXPECT_EQ(r.code, kExitOk) << r;
  EXPECT_THAT(r.out, HasSubstr(" state: ONLINE\n")) << r;

  // zfs-fuse refuses to destroy a pool for a moment after importing it
  // ("pool is busy" while it is still mounting): retry that one answer, bounded.
  r = Cli({"pool", "destroy", pool_});
  for (int i = 0; i < 50 && r.code != kExitOk && r.err.find("pool is busy") != std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    r = Cli({"pool", "destroy", pool_});
  }
  ASSERT_EQ(r.code, kExitOk) << r;
  EXPECT_EQ(r.out, "destroyed pool '" + pool_ + "'\n");
  pools = CliJson({"pool", "list"});
  EXPECT_FALSE(ContainsName(pools, "pools", pool_)) << Names(pools, "pools");
  list = CliJson({"dataset", "list"});
  EXPECT_FALSE(ContainsName(list, "datasets", dataset_)) << Names(list, "datasets");
  EXPECT_FALSE(PoolImported(pool_));
  ExpectRefused({"pool", "status", pool_}, kExitNotFound, {pool_}, /*allow_tool_runs=*/true);
}

}  // namespace
}  // namespace pk::e2e
