// ApiService over the real CLI adapter (zfs-fuse dialect) and a fake process
// runner: proves that bad input is refused before any zpool/zfs process runs,
// that reads come from the inventory, and that access rules hold.
#include "api/service.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "testing/fake_process_runner.h"

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

class ApiServiceTest : public ::testing::Test {
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
    HttpRequest r;
    r.method = std::move(method);
    r.path = path;
    r.target = path;
    r.body = std::move(body);
    r.query = std::move(query);
    r.transport = Transport::kUnix;
    r.peer_uid = 0;
    return service_.Handle(r);
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
  ApiService service_{*zfs_, inventory_, nullptr, nullptr, nullptr, {"secret-token-0123456789", "test"}};
  size_t baseline_ = 0;
};

TEST_F(ApiServiceTest, BadNamesStartNoProcess) {
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

TEST_F(ApiServiceTest, BadPropertiesStartNoProcess) {
  ExpectRefused(Call("POST", "/v1/datasets", json{{"name", "tank/b"}, {"properties", {{"compresion", "on"}}}}.dump()),
                400, "'compresion': not a native property");
  ExpectRefused(Call("POST", "/v1/datasets", json{{"name", "tank/b"}, {"properties", {{"owner", "alice"}}}}.dump()),
                400, "must be 'module:property'");
  ExpectRefused(Call("PATCH", "/v1/datasets/tank/a", json{{"properties", {{"com.example:x", "a\nb"}}}}.dump()), 400,
                "newlines");
  ExpectRefused(Call("POST", "/v1/datasets", json{{"name", "tank/b"}, {"properties", {{"quota", 5}}}}.dump()), 400,
                "must be a string");
}

TEST_F(ApiServiceTest, MalformedRequests) {
  ExpectRefused(Call("POST", "/v1/datasets", "{not json"), 400, "not valid JSON");
  ExpectRefused(Call("POST", "/v1/datasets", "[1,2]"), 400, "JSON object");
  ExpectRefused(Call("POST", "/v1/datasets", "{}"), 400, "'name' is required");
  ExpectRefused(Call("GET", "/v1/nothing"), 404, "no API route");
  ExpectRefused(Call("GET", "/v2/pools"), 404, "no API route");
  ExpectRefused(Call("POST", "/v1/imports", json{{"guid", "12ab"}}.dump()), 400, "not a decimal number");
  ExpectRefused(Call("DELETE", "/v1/datasets/tank/a", "", {{"recursive", "maybe"}}), 400, "recursive must be");
  ExpectRefused(Call("DELETE", "/v1/datasets/tank"), 400, "pool destroy");
}

TEST_F(ApiServiceTest, ReadsComeFromTheInventory) {
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

TEST_F(ApiServiceTest, CreateRunsZfsWithArgvAndRefreshes) {
  auto r = Call("POST", "/v1/datasets",
                json{{"name", "tank/my data:1.0"}, {"properties", {{"com.example:owner", "alice; rm -rf /"}}}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  auto calls = runner_.calls();
  const auto& create = calls[baseline_];
  EXPECT_EQ(create.program, "/sbin/zfs");
  EXPECT_EQ(create.args, (std::vector<std::string>{"create", "-o", "com.example:owner=alice; rm -rf /", "tank/my data:1.0"}));
  EXPECT_GT(calls.size(), baseline_ + 1) << "no inventory refresh after the change";
}

TEST_F(ApiServiceTest, ToolErrorsKeepTheToolsWords) {
  runner_.Expect({"zfs", "destroy"},
                 FakeProcessRunner::Exited(1, "", "cannot open 'tank/zz': dataset does not exist\n"));
  auto r = Call("DELETE", "/v1/datasets/tank/zz");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(Body(r)["error"]["message"],
            "destroy dataset 'tank/zz': zfs exited 1: cannot open 'tank/zz': dataset does not exist");
}

TEST_F(ApiServiceTest, TcpNeedsTheBearerToken) {
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

TEST_F(ApiServiceTest, UnixSocketServesRootOnly) {
  HttpRequest r;
  r.method = "GET";
  r.path = r.target = "/v1/health";
  r.transport = Transport::kUnix;
  r.peer_uid = 1000;
  EXPECT_EQ(service_.Handle(r).status, 403);
}

}  // namespace
}  // namespace pk::api
