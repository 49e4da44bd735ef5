#include "migrate/source.h"

#include <gtest/gtest.h>

namespace pk::migrate {
namespace {

TEST(SourceUri, ParsesFileAndNfs) {
  auto f = SourceUri::Parse("file:///srv/old data/");
  ASSERT_TRUE(f) << f.error().message();
  EXPECT_EQ(f->scheme, SourceScheme::kFile);
  EXPECT_EQ(f->path, "/srv/old data");
  auto n = SourceUri::Parse("nfs://127.0.0.1/tank/export");
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(n->scheme, SourceScheme::kNfs);
  EXPECT_EQ(n->host, "127.0.0.1");
  EXPECT_EQ(n->path, "/tank/export");
  EXPECT_EQ(SourceUri::Parse("file:///")->path, "/");
}

TEST(SourceUri, RefusesBadInputWithTheReason) {
  struct Case {
    const char* uri;
    const char* words;
  } cases[] = {
      {"smb://host/share", "unsupported scheme 'smb'"},
      {"/srv/data", "not a URI"},
      {"file://relative/path", "absolute path"},
      {"nfs://host", "host and an export path"},
      {"nfs:///export", "host and an export path"},
      {"file:///srv/../etc", "'..'"},
      {"file:///srv/./x", "'.'"},
      {"nfs://h/x?version=4", "query"},
  };
  for (const auto& c : cases) {
    auto r = SourceUri::Parse(c.uri);
    ASSERT_FALSE(r) << c.uri;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument) << c.uri;
    EXPECT_NE(r.error().message().find(c.words), std::string::npos) << r.error().message();
    EXPECT_NE(r.error().message().find(c.uri), std::string::npos) << r.error().message();
  }
}

// harden item 1 (issue 17, UTF-8 names): the source URI is kept in a pool
// property and shown through the JSON API, so it must be UTF-8.
TEST(SourceUri, RefusesWhatIsNotUtf8) {
  auto r = SourceUri::Parse("file:///srv/old\xff");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().message(), "source 'file:///srv/old\\xff' is not valid UTF-8 (byte 0xff at offset 15)");
  EXPECT_TRUE(SourceUri::Parse("nfs://h/caf\xc3\xa9"));
}

TEST(SourceUri, JoinRel) {
  EXPECT_EQ(JoinRel("", "a"), "a");
  EXPECT_EQ(JoinRel("a/b", "c d"), "a/b/c d");
}

}  // namespace
}  // namespace pk::migrate
