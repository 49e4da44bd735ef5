// Router over the real CLI adapter (zfs-fuse dialect) and a fake process
// runner: proves that bad input is refused before any zpool/zfs process runs,
// that reads come from the inventory, and that access rules hold.
#include "api/router.h"
#include "api/internal/test_request.h"

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <sstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <nlohmann/json.hpp>

#include "base/log.h"
#include "testing/fake_process_runner.h"
#include "testing/fake_user_directory.h"
#include "testing/fake_zfs.h"

namespace pk::api {
namespace {

using nlohmann::json;
using pk::testing::FakeProcessRunner;

// `zfs get -H -p -r ...` output for pool tank with one child and a snapshot.
constexpr const char* kTankTree =
    "tank\ttype\tfilesystem\t-\n"
    "tank\tused\t1000\t-\n"
    "tank/a\ttype\tfilesystem\t-\n"
    "tank/a\tused\t500\t-\n"
    "tank/a@s1\ttype\tsnapshot\t-\n"
    "tank/a@s1\tused\t0\t-\n";

constexpr const char* kTankStatus =
    "  pool: tank\n state: ONLINE\n scrub: none requested\nconfig:\n\n"
    "\tNAME        STATE     READ WRITE CKSUM\n"
    "\ttank        ONLINE       0     0     0\n"
    "\t  /d/a.img  ONLINE       0     0     0\n\nerrors: No known data errors\n";

using internal::RootRequest;  // a request from root on the unix socket

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    runner_.Expect({"zpool", "list"}, FakeProcessRunner::Exited(0, "tank\t250M\t1M\t249M\tONLINE\t42\t-\n"),
                   FakeProcessRunner::Times::kAlways);
    runner_.Expect({"zpool", "status"}, FakeProcessRunner::Exited(0, kTankStatus), FakeProcessRunner::Times::kAlways);
    runner_.Expect({"zfs", "get"}, FakeProcessRunner::Exited(0, kTankTree), FakeProcessRunner::Times::kAlways);
    runner_.SetDefaultHandler([](const sys::Command&) -> Result<sys::ProcessResult> {
      return FakeProcessRunner::Exited(0);
    });
    ASSERT_TRUE(inventory_.RefreshAll());
    baseline_ = runner_.calls().size();
  }

  HttpResponse Call(std::string method, std::string path, std::string body = "",
                    std::map<std::string, std::string> query = {}) {
    return service_.Handle(RootRequest(std::move(method), std::move(path), std::move(body), std::move(query)));
  }

  size_t NewCalls() const { return runner_.calls().size() - baseline_; }

  static json Body(const HttpResponse& r) { return json::parse(r.body); }

  void ExpectRefused(const HttpResponse& r, int status, const std::string& fragment) {
    EXPECT_EQ(r.status, status) << r.body;
    auto j = Body(r);
    ASSERT_TRUE(j.contains("error")) << r.body;
    EXPECT_NE(j["error"]["message"].get<std::string>().find(fragment), std::string::npos) << r.body;
    EXPECT_EQ(NewCalls(), 0u) << "a zpool/zfs process was started for bad input";
  }

  FakeProcessRunner runner_;
  std::unique_ptr<zfs::Zfs> zfs_ = zfs::MakeCliZfsForDialect(runner_, zfs::Dialect::kZfsFuse, {"/sbin/zpool", "/sbin/zfs"});
  inventory::Inventory inventory_{*zfs_, {}};
  Router service_{*zfs_, inventory_, nullptr, nullptr, nullptr, {"secret-token-0123456789", "test"}};
  size_t baseline_ = 0;
};

// Issue 24 item 1 (bad input): a snapshot policy that does not parse, retention
// zero, unknown keys, a bad name: 400 naming the dataset and the cause, and no
// zfs process (nothing written).
TEST_F(RouterTest, BadSnapshotPoliciesStartNoProcess) {
  struct Case {
    json body;
    const char* fragment;
  } cases[] = {
      {{{"schedule", "every 5x"}, {"keep", "3"}}, "snapshot schedule 'every 5x': unknown unit"},
      {{{"schedule", "hourly"}, {"keep", "0"}}, "retention zero"},
      {{{"schedule", "hourly"}, {"keep", "3"}, {"color", "red"}}, "color"},
      {{{"schedule", "none"}, {"keep", "3"}}, "keep"},
      {{{"schedule", "hourly"}}, "keep"},
      {{{"schedule", "hourly"}, {"keep", "3"}, {"prefix", "x/y"}}, "snapshot prefix 'x/y'"},
      {{{"schedule", 5}, {"keep", "3"}}, "schedule"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.body.dump());
    auto r = Call("PUT", "/v1/snapshot-policies/tank/a", c.body.dump());
    ExpectRefused(r, 400, c.fragment);
  }
  ExpectRefused(Call("PUT", "/v1/snapshot-policies/tank/a@s1", json{{"schedule", "hourly"}, {"keep", "3"}}.dump()), 400,
                "tank/a@s1");
  ExpectRefused(Call("DELETE", "/v1/snapshot-policies/tank%2F..%2Fetc"), 400, "invalid");
  // A good one is written as one `zfs set` of the canonical value, after the type check.
  auto ok = Call("PUT", "/v1/snapshot-policies/tank/a", json{{"schedule", "every 15m"}, {"keep", "keep 24 hourly, 7 daily"}}.dump());
  EXPECT_EQ(ok.status, 200) << ok.body;
  bool set = false;
  for (const auto& call : runner_.calls()) {
    std::string argv;
    for (const auto& a : call.args) argv += " " + a;
    if (argv.find(" set ") != std::string::npos) {
      EXPECT_THAT(argv, ::testing::HasSubstr(
                            " org.poolkeeper:snapshot-schedule=schedule=every 15m;keep=24 hourly,7 daily;prefix=auto tank/a"));
      set = true;
    }
  }
  EXPECT_TRUE(set);
}

TEST_F(RouterTest, BadNamesStartNoProcess) {
  for (const std::string& bad : std::vector<std::string>{"tank/a;reboot", "tank/$(reboot)", "tank/`id`", "tank/a\nb", "tank/../etc",
                          "-tank", "tank/-o", std::string(300, 'a')}) {
    SCOPED_TRACE(bad);
    ExpectRefused(Call("POST", "/v1/datasets", json{{"name", bad}}.dump()), 400, "invalid");
    ExpectRefused(Call("GET", "/v1/datasets/" + bad), 400, "invalid");
    ExpectRefused(Call("DELETE", "/v1/datasets/" + bad), 400, "invalid");
    ExpectRefused(Call("POST", "/v1/snapshots", json{{"name", bad + "@s"}}.dump()), 400, "invalid");
  }
  ExpectRefused(Call("POST", "/v1/pools", json{{"name", "t;x"}, {"vdevs", {"/d/a"}}}.dump()), 400, "'t;x'");
  ExpectRefused(Call("POST", "/v1/imports", json{{"name", "$(x)"}}.dump()), 400, "'$(x)'");
}

TEST_F(RouterTest, BadPropertiesStartNoProcess) {
  ExpectRefused(Call("POST", "/v1/datasets", json{{"name", "tank/b"}, {"properties", {{"compresion", "on"}}}}.dump()),
                400, "'compresion': not a native property");
  ExpectRefused(Call("POST", "/v1/datasets", json{{"name", "tank/b"}, {"properties", {{"owner", "alice"}}}}.dump()),
                400, "must be 'module:property'");
  ExpectRefused(Call("PATCH", "/v1/datasets/tank/a", json{{"properties", {{"com.example:x", "a\nb"}}}}.dump()), 400,
                "newlines");
  ExpectRefused(Call("POST", "/v1/datasets", json{{"name", "tank/b"}, {"properties", {{"quota", 5}}}}.dump()), 400,
                "must be a string");
  ExpectRefused(Call("PATCH", "/v1/datasets/tank/a", json{{"properties", {{"org.poolkeeper:quota-warn", "95,80"}}}}.dump()),
                400, "must increase");
}

// issue 19 item 4: a request body is read through one JsonFields; a field the
// route does not know (a typo, a client of another version) is refused by
// name before anything runs, where it used to be ignored.
TEST_F(RouterTest, UnknownBodyFieldsAreRefusedByName) {
  ExpectRefused(Call("POST", "/v1/datasets", json{{"name", "tank/b"}, {"parnets", true}}.dump()), 400,
                "unknown field 'parnets'");
  ExpectRefused(Call("POST", "/v1/snapshots", json{{"name", "tank/a@s"}, {"recursve", true}}.dump()), 400,
                "unknown field 'recursve'");
  ExpectRefused(Call("POST", "/v1/pools/tank", json{{"froce", true}}.dump(), {{"action", "export"}}), 400, "unknown field 'froce'");
  ExpectRefused(Call("POST", "/v1/imports", json{{"name", "tank"}, {"read_only", true}}.dump()), 400,
                "unknown field 'read_only'");
  ExpectRefused(Call("POST", "/v1/datasets/tank/a", json{{"new_name", "tank/b"}, {"force", true}}.dump(), {{"action", "rename"}}),
                400, "unknown field 'force'");
  ExpectRefused(Call("POST", "/v1/pools", json{{"name", "tank2"}, {"vdevs", {"/d/a"}}, {"ashift", 12}}.dump()), 400,
                "unknown field 'ashift'");
  // A wrong type is named as before.
  ExpectRefused(Call("POST", "/v1/datasets", json{{"name", "tank/b"}, {"parents", "yes"}}.dump()), 400,
                "field 'parents' has the wrong type");
}

TEST_F(RouterTest, MalformedRequests) {
  ExpectRefused(Call("POST", "/v1/datasets", "{not json"), 400, "not valid JSON");
  ExpectRefused(Call("POST", "/v1/datasets", "[1,2]"), 400, "JSON object");
  ExpectRefused(Call("POST", "/v1/datasets", "{}"), 400, "'name' is required");
  ExpectRefused(Call("GET", "/v1/nothing"), 404, "no API route");
  ExpectRefused(Call("GET", "/v2/pools"), 404, "no API route");
  ExpectRefused(Call("POST", "/v1/imports", json{{"guid", "12ab"}}.dump()), 400, "not a decimal number");
  ExpectRefused(Call("DELETE", "/v1/datasets/tank/a", "", {{"recursive", "maybe"}}), 400, "recursive must be");
  ExpectRefused(Call("DELETE", "/v1/datasets/tank"), 400, "pool destroy");
}

TEST_F(RouterTest, ReadsComeFromTheInventory) {
  auto r = Call("GET", "/v1/datasets", "", {{"type", "all"}});
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = Body(r);
  ASSERT_EQ(j["datasets"].size(), 3u);
  EXPECT_EQ(j["datasets"][1]["name"], "tank/a");
  EXPECT_EQ(j["datasets"][1]["properties"]["used"]["value"], "500");
  auto snaps = Body(Call("GET", "/v1/snapshots", "", {{"dataset", "tank/a"}}));
  ASSERT_EQ(snaps["snapshots"].size(), 1u);
  auto pools = Body(Call("GET", "/v1/pools"));
  ASSERT_EQ(pools["pools"].size(), 1u);
  EXPECT_EQ(pools["pools"][0]["guid"], "42");
  EXPECT_EQ(NewCalls(), 0u) << "reads must not run zpool/zfs";
}

TEST_F(RouterTest, CreateRunsZfsWithArgvAndRefreshes) {
  auto r = Call("POST", "/v1/datasets",
                json{{"name", "tank/my data:1.0"}, {"properties", {{"com.example:owner", "alice; rm -rf /"}}}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  auto calls = runner_.calls();
  const auto& create = calls[baseline_];
  EXPECT_EQ(create.program, "/sbin/zfs");
  EXPECT_EQ(create.args, (std::vector<std::string>{"create", "-o", "com.example:owner=alice; rm -rf /", "tank/my data:1.0"}));
  EXPECT_GT(calls.size(), baseline_ + 1) << "no inventory refresh after the change";
}

// ---- Disk lifecycle routes (issue 20 item 1, item 4 for the refusals) ----

TEST_F(RouterTest, DiskActionsRunZpoolWithArgvAndRefresh) {
  struct Case {
    std::string action;
    json body;
    std::vector<std::string> args;
  };
  std::vector<Case> cases = {
      {"replace", {{"device", "/d/a.img"}, {"new_device", "/d/b.img"}}, {"replace", "tank", "/d/a.img", "/d/b.img"}},
      {"replace", {{"device", "1234567"}, {"new_device", "/d/b.img"}, {"force", true}},
       {"replace", "-f", "tank", "1234567", "/d/b.img"}},
      {"attach", {{"device", "/d/a.img"}, {"new_device", "/d/c.img"}}, {"attach", "tank", "/d/a.img", "/d/c.img"}},
      {"detach", {{"device", "/d/c.img"}}, {"detach", "tank", "/d/c.img"}},
      {"offline", {{"device", "/d/a.img"}, {"temporary", true}}, {"offline", "-t", "tank", "/d/a.img"}},
      {"online", {{"device", "/d/a.img"}, {"expand", true}}, {"online", "-e", "tank", "/d/a.img"}},
      {"add", {{"vdevs", {"spare", "/d/s.img", "log", "/d/l.img"}}}, {"add", "tank", "spare", "/d/s.img", "log", "/d/l.img"}},
      {"remove", {{"device", "/d/s.img"}}, {"remove", "tank", "/d/s.img"}},
      {"scrub", json::object(), {"scrub", "tank"}},
      {"scrub", {{"scrub", "stop"}}, {"scrub", "-s", "tank"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.action + " " + c.body.dump());
    size_t before = runner_.calls().size();
    auto r = Call("POST", "/v1/pools/tank", c.body.dump(), {{"action", c.action}});
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(Body(r)["pool"], "tank");
    auto calls = runner_.calls();
    ASSERT_GT(calls.size(), before + 1) << "no inventory refresh after the change";
    EXPECT_EQ(calls[before].program, "/sbin/zpool");
    EXPECT_EQ(calls[before].args, c.args);
  }
}

TEST_F(RouterTest, AddDryRunAnswersTheLayoutAndDoesNotRefresh) {
  runner_.Expect({"zpool", "add"}, FakeProcessRunner::Exited(0, "would update 'tank' to the following configuration:\n"));
  auto r = Call("POST", "/v1/pools/tank", json{{"vdevs", {"/d/x.img"}}, {"dry_run", true}}.dump(), {{"action", "add"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r)["layout"], "would update 'tank' to the following configuration:\n");
  EXPECT_EQ(NewCalls(), 1u);
  EXPECT_EQ(runner_.calls()[baseline_].args, (std::vector<std::string>{"add", "-n", "tank", "/d/x.img"}));
}

TEST_F(RouterTest, BadDiskInputNamesTheObjectAndStartsNoProcess) {
  auto post = [&](const std::string& action, const json& body) {
    return Call("POST", "/v1/pools/tank", body.dump(), {{"action", action}});
  };
  ExpectRefused(post("replace", {{"device", "d/a.img"}, {"new_device", "/d/b.img"}}), 400,
                "replace in pool 'tank': invalid vdev 'd/a.img'");
  ExpectRefused(post("replace", {{"device", "/d/a.img"}, {"new_device", "b.img"}}), 400,
                "invalid device 'b.img': must be an absolute path");
  ExpectRefused(post("attach", {{"device", "/d/a.img"}, {"new_device", "-f"}}), 400, "invalid device '-f'");
  ExpectRefused(post("attach", {{"device", "/d/a.img"}}), 400, "new_device");
  ExpectRefused(post("detach", {{"device", "/d/a\nb"}}), 400, "control characters");
  ExpectRefused(post("offline", {{"device", "/d/a.img"}, {"bogus", 1}}), 400, "bogus");
  ExpectRefused(post("add", {{"vdevs", json::array()}}), 400, "no devices");
  ExpectRefused(post("add", {{"vdevs", {"spare", "-n"}}}), 400, "invalid device '-n'");
  ExpectRefused(post("scrub", {{"scrub", "faster"}}), 400, "start, stop or pause, not 'faster'");
  ExpectRefused(Call("POST", "/v1/pools/t;x", json{{"device", "/d/a"}}.dump(), {{"action", "detach"}}), 400, "'t;x'");
}

TEST(RouterScanTest, PoolStatusAnswersScanProgress) {
  // A finished scrub as zfs-fuse words it (tests/data/zfs-fuse/zpool-status-scrub-done.out).
  std::string done = kTankStatus;
  done.replace(done.find("scrub: none requested"), std::string("scrub: none requested").size(),
               "scrub: scrub completed after 0h1m with 2 errors on Mon Dec  7 11:09:07 2026");
  FakeProcessRunner runner;
  runner.Expect({"zpool", "list"}, FakeProcessRunner::Exited(0, "tank\t250M\t1M\t249M\tONLINE\t42\t-\n"),
                FakeProcessRunner::Times::kAlways);
  runner.Expect({"zpool", "status"}, FakeProcessRunner::Exited(0, kTankStatus));
  runner.Expect({"zpool", "status"}, FakeProcessRunner::Exited(0, done), FakeProcessRunner::Times::kAlways);
  runner.Expect({"zfs", "get"}, FakeProcessRunner::Exited(0, kTankTree), FakeProcessRunner::Times::kAlways);
  auto zfs = zfs::MakeCliZfsForDialect(runner, zfs::Dialect::kZfsFuse, {"/sbin/zpool", "/sbin/zfs"});
  inventory::Inventory inventory(*zfs, {});
  Router service(*zfs, inventory, nullptr, nullptr, nullptr, {"secret-token-0123456789", "test"});
  ASSERT_TRUE(inventory.RefreshAll());  // the first status read: none requested
  auto r = service.Handle(RootRequest("GET", "/v1/pools/tank"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["scan_progress"], (json{{"kind", "scrub"},
                                                        {"state", "finished"},
                                                        {"elapsed_seconds", 60},
                                                        {"errors", 2},
                                                        {"end_time", "Mon Dec  7 11:09:07 2026"}}));
  EXPECT_EQ(inventory.Current()->pools.at(0).status.scan_progress.kind, zfs::ScanProgress::Kind::kNone);
}

TEST_F(RouterTest, ToolErrorsKeepTheToolsWords) {
  runner_.Expect({"zfs", "destroy"},
                 FakeProcessRunner::Exited(1, "", "cannot open 'tank/zz': dataset does not exist\n"));
  auto r = Call("DELETE", "/v1/datasets/tank/zz");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(Body(r)["error"]["message"],
            "destroy dataset 'tank/zz': zfs exited 1: cannot open 'tank/zz': dataset does not exist");
}

TEST_F(RouterTest, TcpNeedsTheBearerToken) {
  HttpRequest r;
  r.method = "GET";
  r.path = r.target = "/v1/health";
  r.transport = Transport::kTcp;
  EXPECT_EQ(service_.Handle(r).status, 401);
  r.headers["authorization"] = "Bearer wrong-token-0123456789";
  EXPECT_EQ(service_.Handle(r).status, 401);
  r.headers["authorization"] = "Bearer secret-token-0123456789";
  EXPECT_EQ(service_.Handle(r).status, 200);
}

TEST_F(RouterTest, UnixSocketServesRootOnly) {
  HttpRequest r;
  r.method = "GET";
  r.path = r.target = "/v1/health";
  r.transport = Transport::kUnix;
  r.peer_uid = 1000;
  EXPECT_EQ(service_.Handle(r).status, 403);
}

// issue 17 item 8: a unix caller whose SO_PEERCRED could not be read is denied,
// never taken for root.
TEST_F(RouterTest, UnknownUnixPeerIsDenied) {
  HttpRequest r;
  r.method = "GET";
  r.path = r.target = "/v1/health";
  r.transport = Transport::kUnix;
  r.peer = "unix peer of unknown uid";
  auto resp = service_.Handle(r);
  EXPECT_EQ(resp.status, 403);
  EXPECT_NE(Body(resp)["error"]["message"].get<std::string>().find("SO_PEERCRED"), std::string::npos) << resp.body;
  EXPECT_TRUE(service_.AuthorizeHead(r).has_value());
}

// issue 17 item 8: failed authentications are logged with transport, peer and
// path, and never with token material.
TEST_F(RouterTest, FailedAuthenticationIsLoggedWithoutTheToken) {
  std::ostringstream captured;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(captured);
  auto logger = GetLogger("api");
  logger->sinks().push_back(sink);
  HttpRequest r;
  r.method = "POST";
  r.path = r.target = "/v1/pools";
  r.transport = Transport::kTcp;
  r.peer = "192.0.2.7:41000";
  r.headers["authorization"] = "Bearer guessed-token-AAAABBBBCCCC";
  EXPECT_EQ(service_.Handle(r).status, 401);
  HttpRequest u;
  u.method = "GET";
  u.path = u.target = "/v1/services";
  u.transport = Transport::kUnix;
  u.peer_uid = 1000;
  u.peer = "uid 1000 pid 4242";
  EXPECT_EQ(service_.Handle(u).status, 403);
  logger->sinks().pop_back();
  std::string log = captured.str();
  EXPECT_NE(log.find("authentication failed: transport=tcp peer=192.0.2.7:41000 method=POST path=\"/v1/pools\""),
            std::string::npos) << log;
  EXPECT_NE(log.find("transport=unix peer=uid 1000 pid 4242 method=GET path=\"/v1/services\""), std::string::npos)
      << log;
  EXPECT_EQ(log.find("guessed-token"), std::string::npos) << log;
  EXPECT_EQ(log.find("secret-token"), std::string::npos) << log;
}

// issue 17 item 8: a percent-decoded name that is not UTF-8 is a 400 naming the
// request (it used to reach a JSON dump that threw: 500), and starts no tool.
TEST_F(RouterTest, NonUtf8NameIs400) {
  HttpRequest r;
  r.method = "GET";
  r.path = "/v1/datasets/tank\xFF";
  r.target = "/v1/datasets/tank%FF";
  r.transport = Transport::kUnix;
  r.peer_uid = 0;
  auto resp = service_.Handle(r);
  ExpectRefused(resp, 400, "/v1/datasets/tank%FF");
  EXPECT_NE(resp.body.find("not valid UTF-8"), std::string::npos) << resp.body;
  r.path = "/v1/datasets";
  r.target = "/v1/datasets?root=tank%FE";
  r.query["root"] = "tank\xFE";
  ExpectRefused(service_.Handle(r), 400, "query parameter");
}

// issue 17 item 1: a read that runs a tool goes through the short-timeout
// adapter; a tool that does not answer in time is a 504 naming the pool and
// the cause, not a request held for the main adapter's minutes.
TEST_F(RouterTest, ToolBackedReadPastItsDeadlineIs504NamingThePool) {
  FakeProcessRunner slow_runner;
  slow_runner.Expect({"zpool", "status"}, FakeProcessRunner::TimedOut(), FakeProcessRunner::Times::kAlways);
  zfs::ZfsOptions short_timeout;
  short_timeout.timeout = std::chrono::seconds(2);
  auto reads = zfs::MakeCliZfsForDialect(slow_runner, zfs::Dialect::kZfsFuse, {"/sbin/zpool", "/sbin/zfs"},
                                         short_timeout);
  Router service{*zfs_, inventory_, nullptr, nullptr, nullptr,
                     RouterOptions{.bearer_token = "secret-token-0123456789", .version = "test",
                                       .tool_reads = reads.get()}};
  HttpRequest r;
  r.method = "GET";
  r.path = r.target = "/v1/pools/tank";
  r.transport = Transport::kUnix;
  r.peer_uid = 0;
  auto resp = service.Handle(r);
  EXPECT_EQ(resp.status, 504) << resp.body;
  std::string message = Body(resp)["error"]["message"];
  EXPECT_NE(message.find("pool 'tank': live status"), std::string::npos) << message;
  EXPECT_NE(message.find("did not finish within 2000 ms"), std::string::npos) << message;
  EXPECT_EQ(NewCalls(), 0u) << "the read ran on the main adapter";
}

// issue 17 item 1: long-polls and tool-backed reads go to the long lane, so
// they never take a worker that the OCF monitor's reads need.
TEST(ApiClassifyTest, LongPollsAndToolRunsAreLong) {
  auto cls = [](std::string method, std::string path, std::map<std::string, std::string> query = {}) {
    HttpRequest r;
    r.method = std::move(method);
    r.path = r.target = std::move(path);
    r.query = std::move(query);
    return Router::Classify(r);
  };
  EXPECT_EQ(cls("GET", "/v1/events", {{"wait", "30"}}), RequestClass::kLong);
  EXPECT_EQ(cls("GET", "/v1/events", {{"after", "3"}}), RequestClass::kShort);
  EXPECT_EQ(cls("GET", "/v1/pools/tank"), RequestClass::kLong);  // live zpool status
  EXPECT_EQ(cls("GET", "/v1/datasets/tank/a"), RequestClass::kLong);
  EXPECT_EQ(cls("POST", "/v1/pools/tank", {{"action", "export"}}), RequestClass::kLong);
  EXPECT_EQ(cls("GET", "/v1/pools"), RequestClass::kShort);
  EXPECT_EQ(cls("GET", "/v1/services"), RequestClass::kShort);
  EXPECT_EQ(cls("GET", "/v1/services/tank"), RequestClass::kShort);
  EXPECT_EQ(cls("POST", "/v1/services/tank", {{"action", "start"}}), RequestClass::kShort);
  EXPECT_EQ(cls("GET", "/v1/datasets"), RequestClass::kShort);
}


// ------------------------------------------------------------ quotas

class QuotaRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    zfs_.AddImportedPool("tank", {{"tank", "on", "/tank", false}, {"tank/home", "on", "/tank/home", false}});
    users_.Add(sys::AccountKind::kUser, "alice", 1001);
    users_.Add(sys::AccountKind::kUser, "bob", 1002);
    users_.Add(sys::AccountKind::kGroup, "staff", 50);
  }

  HttpResponse Call(std::string method, std::string path, std::string body = "",
                    std::map<std::string, std::string> query = {}) {
    return service_.Handle(RootRequest(std::move(method), std::move(path), std::move(body), std::move(query)));
  }
  size_t QuotaCalls() const {
    size_t n = 0;
    for (const auto& c : zfs_.calls()) n += c.find("quota") != std::string::npos;
    return n;
  }
  void ExpectRefused(const HttpResponse& r, int status, const std::string& fragment) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_NE(r.body.find(fragment), std::string::npos) << r.body;
    EXPECT_EQ(QuotaCalls(), 0u) << "zfs was called for bad input";
  }

  pk::testing::FakeZfs zfs_{zfs::Dialect::kZfsFuse};
  pk::testing::FakeUserDirectory users_;
  inventory::Inventory inventory_{zfs_, {}};
  Router service_{zfs_, inventory_, nullptr, nullptr, nullptr, {"secret-token-0123456789", "test"}, &users_};
};

TEST_F(QuotaRoutesTest, SetGetClearByNameAndByNumericId) {
  auto set = Call("PUT", "/v1/quotas/tank/home", R"({"user":"alice","quota":"10G"})");
  ASSERT_EQ(set.status, 200) << set.body;
  EXPECT_EQ(json::parse(set.body)["quota"], 10ull << 30);
  EXPECT_EQ(json::parse(set.body)["name"], "alice");
  EXPECT_EQ(zfs_.CountCalls("set-quota tank/home user@1001=10737418240"), 1u);
  auto get = Call("GET", "/v1/quotas/tank/home", "", {{"user", "1001"}});
  ASSERT_EQ(get.status, 200) << get.body;
  EXPECT_EQ(json::parse(get.body)["name"], "alice");
  EXPECT_EQ(zfs_.CountCalls("get-quota tank/home user@1001"), 2u);  // after set, and this
  EXPECT_EQ(zfs_.CountCalls("list-quotas tank/home user"), 0u) << "a single subject must not list";
  auto group = Call("PUT", "/v1/quotas/tank/home", R"({"group":"staff","quota":"512M"})");
  ASSERT_EQ(group.status, 200) << group.body;
  EXPECT_EQ(zfs_.CountCalls("set-quota tank/home group@50=536870912"), 1u);
  auto clear = Call("DELETE", "/v1/quotas/tank/home", "", {{"user", "alice"}});
  ASSERT_EQ(clear.status, 200) << clear.body;
  EXPECT_EQ(zfs_.CountCalls("clear-quota tank/home user@1001"), 1u);
}

TEST_F(QuotaRoutesTest, BadInputStartsNothing) {
  ExpectRefused(Call("PUT", "/v1/quotas/tank/home", R"({"user":"nosuch","quota":"1G"})"), 404,
                "user 'nosuch' does not exist");
  ExpectRefused(Call("GET", "/v1/quotas/tank/home", "", {{"group", "nogroup"}}), 404, "group 'nogroup' does not exist");
  ExpectRefused(Call("PUT", "/v1/quotas/tank/home", R"({"user":"alice","quota":"-1G"})"), 400, "'-1G'");
  ExpectRefused(Call("PUT", "/v1/quotas/tank/home", R"({"user":"alice","quota":"1.5.G"})"), 400, "'1.5.G'");
  ExpectRefused(Call("PUT", "/v1/quotas/tank/home", R"({"user":"alice","quota":"0"})"), 400, "zero");
  ExpectRefused(Call("PUT", "/v1/quotas/tank/home", R"({"user":"alice"})"), 400, "'quota'");
  ExpectRefused(Call("PUT", "/v1/quotas/tank/home", R"({"user":"a;reboot","quota":"1G"})"), 400,
                "user name 'a;reboot' is not valid");
  ExpectRefused(Call("PUT", "/v1/quotas/tank/home", R"({"user":"alice","group":"staff","quota":"1G"})"), 400,
                "not both");
  ExpectRefused(Call("DELETE", "/v1/quotas/tank/home"), 400, "give a user or a group");
  ExpectRefused(Call("GET", "/v1/quotas/tank/home", "", {{"kind", "wheel"}}), 400, "kind must be");
  ExpectRefused(Call("GET", "/v1/quotas/tank/home", "", {{"sort", "size"}}), 400, "sort must be");
  ExpectRefused(Call("GET", "/v1/quotas/tank;x"), 400, "tank;x");
}

TEST_F(QuotaRoutesTest, UnknownBodyFieldIsRefused) {  // issue 19 item 4
  ExpectRefused(Call("PUT", "/v1/quotas/tank/home", R"({"user":"alice","quota":"1G","qouta":"2G"})"), 400,
                "unknown field 'qouta'");
}

TEST_F(QuotaRoutesTest, ListSortsFiltersAndNamesSubjects) {
  zfs_.SetQuotaUsage("tank/home", zfs::QuotaKind::kUser, 1001, 100);
  zfs_.SetQuotaUsage("tank/home", zfs::QuotaKind::kUser, 1002, 300);
  zfs_.SetQuotaUsage("tank/home", zfs::QuotaKind::kUser, 424242, 200);
  ASSERT_EQ(Call("PUT", "/v1/quotas/tank/home", R"({"user":"alice","quota":"1K"})").status, 200);
  auto by_name = json::parse(Call("GET", "/v1/quotas/tank/home").body);
  ASSERT_EQ(by_name["quotas"].size(), 3u) << by_name;
  EXPECT_EQ(by_name["quotas"][0]["name"], "424242");
  EXPECT_EQ(by_name["quotas"][1]["name"], "alice");
  EXPECT_DOUBLE_EQ(by_name["quotas"][1]["percent"].get<double>(), 100.0 * 100 / 1024);
  EXPECT_TRUE(by_name["quotas"][2]["percent"].is_null());
  auto by_used = json::parse(Call("GET", "/v1/quotas/tank/home", "", {{"sort", "used"}}).body);
  EXPECT_EQ(by_used["quotas"][0]["name"], "bob");
  EXPECT_EQ(by_used["quotas"][2]["name"], "alice");
  auto filtered = json::parse(Call("GET", "/v1/quotas/tank/home", "", {{"filter", "b"}}).body);
  ASSERT_EQ(filtered["quotas"].size(), 1u);
  EXPECT_EQ(filtered["quotas"][0]["name"], "bob");
  auto groups = json::parse(Call("GET", "/v1/quotas/tank/home", "", {{"kind", "group"}}).body);
  EXPECT_EQ(groups["quotas"].size(), 0u);
}

// The API's imports and exports go through the supervisor, the one owner of a
// pool's life (issue 19 item 1): over the fake ZFS, a real supervisor, policy
// store and event log.
class PoolLifeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "pk_pool_life_XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    store_ = std::make_unique<supervisor::PolicyStore>(*fs_, dir_);
    ASSERT_TRUE(store_->Init());
    auto log = events::EventLog::Open(*fs_, dir_ + "/events.jsonl");
    ASSERT_TRUE(log) << log.error().message();
    events_ = std::move(*log);
    supervisor::SupervisorOptions o;
    o.health_period = std::chrono::milliseconds(10);
    o.serve_shares = [this](const zfs::PoolName& pool) -> Result<std::vector<std::string>> {
      std::lock_guard lock(mu_);
      ++served_[pool.str()];
      return std::vector<std::string>{};
    };
    o.unserve_shares = [this](const zfs::PoolName& pool) -> Status {
      std::lock_guard lock(mu_);
      ++unserved_[pool.str()];
      return OkStatus();
    };
    sup_ = std::make_unique<supervisor::Supervisor>(zfs_.Factory(), *store_, *events_, o);
    ASSERT_TRUE(sup_->Start());
    // The start serves the pools imported without a service in the background:
    // let it finish, or it may serve a pool a test imports as well.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!sup_->UnmanagedServed() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_TRUE(sup_->UnmanagedServed());
    router_ = std::make_unique<Router>(zfs_, inventory_, sup_.get(), events_.get(), nullptr,
                                       RouterOptions{"secret-token-0123456789", "test"});
  }
  void TearDown() override {
    router_.reset();
    sup_.reset();
    std::filesystem::remove_all(dir_);
  }

  HttpResponse Post(const std::string& path, const json& body, std::map<std::string, std::string> query = {}) {
    return router_->Handle(RootRequest("POST", path, body.dump(), std::move(query)));
  }

  supervisor::ServiceStatus WaitFor(const std::string& pool, supervisor::State state) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (true) {
      auto s = sup_->Get(pool);
      if ((s && s->state == state) || std::chrono::steady_clock::now() > deadline) {
        EXPECT_TRUE(s && s->state == state) << pool << " never reached " << supervisor::StateName(state);
        return s ? *s : supervisor::ServiceStatus{};
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  int Served(const std::string& pool) {
    std::lock_guard lock(mu_);
    return served_[pool];
  }
  int Unserved(const std::string& pool) {
    std::lock_guard lock(mu_);
    return unserved_[pool];
  }
  // "state (reason)" of every event of `pool`, oldest first.
  std::vector<std::string> Events(const std::string& pool) const {
    std::vector<std::string> out;
    for (const auto& e : events_->Since(0, 100000)) {
      if (e.resource == "pool:" + pool) out.push_back(e.state + " (" + e.reason + ")");
    }
    return out;
  }

  pk::testing::FakeZfs zfs_{zfs::Dialect::kOpenZfs2};
  std::unique_ptr<sys::FileSystem> fs_ = sys::MakeRealFileSystem();
  std::string dir_;
  std::unique_ptr<supervisor::PolicyStore> store_;
  std::unique_ptr<events::EventLog> events_;
  inventory::Inventory inventory_{zfs_, {}};
  std::mutex mu_;
  std::map<std::string, int> served_, unserved_;  // guarded by mu_
  std::unique_ptr<supervisor::Supervisor> sup_;
  std::unique_ptr<Router> router_;
};

// Issue 19 item 1: an API export of a managed pool is its service's stop,
// seen at once (state, reason, event), never later as "exported outside
// Poolkeeper"; an API import of it is its service's start (shares served once).
// Issue 17 item 7: `POST /v1/imports {"force":true}` of a pool the cluster
// manages follows the cluster's rule also on a head whose daemon has no
// service for it (the pool never ran here): tried unforced, and forced only
// with the proof, which is missing here; the import is never forced.
TEST_F(PoolLifeTest, AForcedImportOfAClusterPoolWithoutAServiceHereNeedsTheProof) {
  RouterOptions options{"secret-token-0123456789", "test"};
  options.is_cluster_pool = [](const std::string& pool) { return pool == "tank"; };
  options.cluster_force_proof = [](const std::string& pool, const std::string& refusal) -> Result<std::string> {
    return FailedPrecondition(fmt::format("pool '{}': {}; not forcing: head 'h1' is online", pool, refusal));
  };
  router_ = std::make_unique<Router>(zfs_, inventory_, sup_.get(), events_.get(), nullptr, options);
  zfs_.AddPool("tank");
  zfs_.FailImport("tank", "cannot import 'tank': pool may be in use from other system");
  auto r = Post("/v1/imports", json{{"name", "tank"}, {"force", true}});
  EXPECT_NE(r.status, 201) << r.body;
  EXPECT_THAT(r.body, ::testing::HasSubstr("not forcing"));
  auto last = zfs_.LastImportOptions("tank");
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->force, zfs::Force::kNo) << "the import was forced without the proof";
}

TEST_F(PoolLifeTest, ApiExportAndImportOfAManagedPoolGoThroughItsService) {
  zfs_.AddPool("tank", {{"tank", "on", "/tank"}});
  supervisor::PoolPolicy tank;
  tank.pool = "tank";
  ASSERT_TRUE(sup_->Enable(tank));
  WaitFor("tank", supervisor::State::kOnline);
  ASSERT_EQ(Served("tank"), 1);

  auto exported = Post("/v1/pools/tank", json::object(), {{"action", "export"}});
  ASSERT_EQ(exported.status, 200) << exported.body;
  auto s = sup_->Get("tank");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->state, supervisor::State::kExported) << "the supervisor must see the API's export at once";
  EXPECT_THAT(s->reason, ::testing::HasSubstr("exported on request"));
  EXPECT_EQ(Unserved("tank"), 1) << "the shares stop once, before the export";
  EXPECT_FALSE(zfs_.IsImported("tank"));
  EXPECT_THAT(Events("tank"), ::testing::Contains(::testing::StartsWith("exported (exported on request")));

  auto imported = Post("/v1/imports", json{{"name", "tank"}});
  ASSERT_EQ(imported.status, 200) << imported.body;
  s = sup_->Get("tank");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->state, supervisor::State::kOnline) << "the API's import is the service's start: " << s->reason;
  EXPECT_EQ(Served("tank"), 2) << "the shares are served once per import";
  EXPECT_EQ(zfs_.CountCalls("import tank"), 2u);
  // Health checks ran meanwhile (every 10 ms): none took the API's export for a foreign one.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  for (const auto& e : Events("tank")) EXPECT_EQ(e.find("outside"), std::string::npos) << e;
  EXPECT_EQ(sup_->Get("tank")->state, supervisor::State::kOnline);
}

// Issue 19 item 1: a pool without a service gets the same steps around its
// import and export (shares served after, stopped before), and a managed pool
// cannot be imported under a new name.
TEST_F(PoolLifeTest, UnmanagedPoolGetsTheSameStepsAndManagedOnesKeepTheirName) {
  zfs_.AddPool("other", {{"other", "on", "/other"}});
  auto imported = Post("/v1/imports", json{{"name", "other"}});
  ASSERT_EQ(imported.status, 200) << imported.body;
  EXPECT_EQ(Served("other"), 1);
  EXPECT_FALSE(sup_->Get("other")) << "importing does not make a service";
  auto exported = Post("/v1/pools/other", json::object(), {{"action", "export"}});
  ASSERT_EQ(exported.status, 200) << exported.body;
  EXPECT_EQ(Unserved("other"), 1);
  EXPECT_FALSE(zfs_.IsImported("other"));

  zfs_.AddPool("tank");
  supervisor::PoolPolicy tank;
  tank.pool = "tank";
  ASSERT_TRUE(sup_->Enable(tank));
  WaitFor("tank", supervisor::State::kOnline);
  ASSERT_EQ(Post("/v1/pools/tank", json::object(), {{"action", "export"}}).status, 200);
  auto renamed = Post("/v1/imports", json{{"name", "tank"}, {"new_name", "tank2"}});
  EXPECT_EQ(renamed.status, 409) << renamed.body;
  EXPECT_NE(renamed.body.find("has a service"), std::string::npos) << renamed.body;
  EXPECT_EQ(zfs_.CountCalls("import tank"), 1u) << "nothing imported for a refused request";
}

}  // namespace
}  // namespace pk::api
