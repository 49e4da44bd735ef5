#include "cli/render.h"

#include <gtest/gtest.h>

namespace pk::cli {
namespace {

TEST(RenderTest, HumanSizesLikeZfs) {
  EXPECT_EQ(HumanSize(0), "0");
  EXPECT_EQ(HumanSize(1023), "1023");
  EXPECT_EQ(HumanSize(1536), "1.50K");
  EXPECT_EQ(HumanSize(15ULL * 1024 * 1024), "15.0M");
  EXPECT_EQ(HumanSize(150ULL * 1024 * 1024 * 1024), "150G");
  EXPECT_EQ(HumanSize(std::string("-")), "-");
}

TEST(RenderTest, TableAlignsColumns) {
  EXPECT_EQ(RenderTable({"NAME", "X"}, {{"tank/long name", "1"}, {"a", "22"}}),
            "NAME            X\n"
            "tank/long name  1\n"
            "a               22\n");
}

TEST(RenderTest, PoolStatusLooksLikeZpoolStatus) {
  auto pool = nlohmann::json::parse(R"({
    "name":"tank","state":"ONLINE","status":"","action":"","scan":"none requested",
    "errors":"No known data errors","size":1048576,"allocated":0,"free":1048576,"guid":"42",
    "vdevs":{"name":"tank","state":"ONLINE","read_errors":0,"write_errors":0,"checksum_errors":0,
      "children":[{"name":"mirror-0","state":"ONLINE","read_errors":0,"write_errors":0,"checksum_errors":1,
        "children":[{"name":"/d/a","state":"ONLINE","read_errors":0,"write_errors":0,"checksum_errors":1}]}]},
    "logs":[],"caches":[],"spares":[{"name":"/d/s","state":"AVAIL"}],
    "poolkeeper":{"datasets":3,"snapshots":2,"dialect":"zfs-fuse","inventory":{"generation":7,"age_seconds":1.0,"last_error":""}}})");
  std::string out = RenderPoolStatus(pool);
  EXPECT_NE(out.find("  pool: tank\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\t    /d/a    ONLINE     0      0      1"), std::string::npos) << out;
  EXPECT_NE(out.find("\tspares"), std::string::npos) << out;
  EXPECT_NE(out.find("datasets: 3 filesystems and volumes, 2 snapshots"), std::string::npos) << out;
}

// issue 20 item 1: `pool status` shows the scan's progress in one line.
TEST(RenderTest, ScanProgressInOneLine) {
  EXPECT_EQ(ScanProgressText(nlohmann::json{{"kind", "none"}, {"state", "none"}}), "");
  auto running = nlohmann::json::parse(R"({"kind":"scrub","state":"scanning","percent_done":29.8,
    "done_bytes":3264175145,"total_bytes":10952166604,"rate_bytes_per_second":441450496,"eta_seconds":17,
    "processed_bytes":0,"start_time":"Sun Nov 22 05:39:07 2026"})");
  EXPECT_EQ(ScanProgressText(running),
            "scrub scanning, 29.80% done, 3.04G of 10.2G at 421M/s, 17 s to go, 0 repaired, started Sun Nov 22 05:39:07 2026");
  auto done = nlohmann::json::parse(R"({"kind":"resilver","state":"finished","errors":0,"elapsed_seconds":3,
    "processed_bytes":16043212,"end_time":"Sun Nov 22 05:39:42 2026"})");
  EXPECT_EQ(ScanProgressText(done), "resilver finished, 0 errors, 15.3M resilvered in 3 s, ended Sun Nov 22 05:39:42 2026");
  auto pool = nlohmann::json::parse(R"({"name":"tank","state":"ONLINE","scan":"x","errors":"",
    "vdevs":{"name":"tank","state":"ONLINE"},"scan_progress":{"kind":"scrub","state":"paused","percent_done":5.0,
    "end_time":"Mon Dec  7 11:09:07 2026"}})");
  EXPECT_NE(RenderPoolStatus(pool).find("progress: scrub paused, 5.00% done, paused Mon Dec  7 11:09:07 2026\n"),
            std::string::npos)
      << RenderPoolStatus(pool);
}

}  // namespace
}  // namespace pk::cli
