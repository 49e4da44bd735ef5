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

}  // namespace
}  // namespace pk::cli
