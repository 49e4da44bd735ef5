#include "zfs/names.h"

#include <gtest/gtest.h>

#include "zfs/types.h"

namespace pk::zfs {
namespace {

void ExpectInvalid(const Result<DatasetName>& r, std::string_view fragment) {
  ASSERT_FALSE(r) << "accepted a bad name";
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message().find(fragment), std::string::npos) << r.error().message();
}

TEST(NamesTest, AcceptsNamesZfsAllows) {
  for (const char* ok : {"tank", "tank/a", "tank/my data", "tank/v1.0:beta", "t_a-n.k", "tank/a/b/c"}) {
    EXPECT_TRUE(DatasetName::Parse(ok)) << ok;
  }
  EXPECT_TRUE(PoolName::Parse("my pool"));
  EXPECT_TRUE(SnapshotName::Parse("tank/a@snap 1"));
}

TEST(NamesTest, RejectsShellMetacharactersAndControlCharacters) {
  ExpectInvalid(DatasetName::Parse("tank/a;rm -rf /"), "character ';'");
  ExpectInvalid(DatasetName::Parse("tank/$(reboot)"), "character '$'");
  ExpectInvalid(DatasetName::Parse("tank/`id`"), "character '`'");
  ExpectInvalid(DatasetName::Parse("tank/a\nb"), "character '\\n'");
  ExpectInvalid(DatasetName::Parse("tank/a|b"), "character '|'");
  ExpectInvalid(DatasetName::Parse("tank/a>b"), "character '>'");
}

TEST(NamesTest, RejectsStructuralProblems) {
  ExpectInvalid(DatasetName::Parse("tank/.."), "'..' is not allowed");
  ExpectInvalid(DatasetName::Parse("tank/./a"), "'.' is not allowed");
  ExpectInvalid(DatasetName::Parse("tank//a"), "empty component");
  ExpectInvalid(DatasetName::Parse("tank/a/"), "empty component");
  ExpectInvalid(DatasetName::Parse("-tank"), "may not start with '-'");
  ExpectInvalid(DatasetName::Parse("1tank"), "must start with a letter");
  ExpectInvalid(DatasetName::Parse("tank/-o"), "may not start with '-'");
  ExpectInvalid(DatasetName::Parse(std::string(300, 'a')), "longer than 255");
  ExpectInvalid(DatasetName::Parse(""), "empty");
  ExpectInvalid(DatasetName::Parse("mirror/a"), "reserved word");
  ExpectInvalid(DatasetName::Parse("c0t0d0"), "reserved for disk names");
  ExpectInvalid(DatasetName::Parse("tank@snap"), "snapshot");
}

TEST(NamesTest, ErrorNamesTheObject) {
  auto r = PoolName::Parse("tank;x");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(),
            "invalid pool name 'tank;x': character ';' is not allowed (only letters, digits, space and _-.:)");
}

TEST(NamesTest, SnapshotNames) {
  auto s = SnapshotName::Parse("tank/a@monday");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->dataset().str(), "tank/a");
  EXPECT_EQ(s->snap(), "monday");
  EXPECT_FALSE(SnapshotName::Parse("tank/a"));
  EXPECT_FALSE(SnapshotName::Parse("tank/a@"));
  EXPECT_FALSE(SnapshotName::Parse("tank/a@b@c"));
  EXPECT_FALSE(SnapshotName::Parse("tank/a@b;c"));
}

TEST(NamesTest, DatasetParentAndPool) {
  auto d = DatasetName::Parse("tank/a/b");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->pool().str(), "tank");
  EXPECT_EQ(d->parent()->str(), "tank/a");
  EXPECT_FALSE(DatasetName::Parse("tank")->parent());
}

TEST(NamesTest, PropertyNames) {
  EXPECT_TRUE(PropertyName::Parse("compression"));
  EXPECT_TRUE(PropertyName::Parse("com.example:owner"));
  EXPECT_TRUE(PropertyName::Parse("org.poolkeeper:share.nfs"));
  EXPECT_TRUE(PropertyName::Parse("userquota@alice"));
  EXPECT_TRUE(PropertyName::Parse("com.example:owner")->IsUser());

  auto unknown = PropertyName::Parse("compresion");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message().find("not a native property"), std::string::npos);
  EXPECT_FALSE(PropertyName::Parse("Com.Example:Owner"));   // upper case
  EXPECT_FALSE(PropertyName::Parse(":owner"));              // no module
  EXPECT_FALSE(PropertyName::Parse("com.example:"));        // no property
  EXPECT_FALSE(PropertyName::Parse("com.example:a;b"));
  EXPECT_FALSE(PropertyName::Parse("userquota@"));
}

TEST(NamesTest, PropertyAssignments) {
  auto a = PropertyAssignment::Parse("com.example:owner=alice smith");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->value, "alice smith");
  EXPECT_TRUE(PropertyAssignment::Parse("com.example:note=a=b"));
  EXPECT_FALSE(PropertyAssignment::Parse("compression"));
  EXPECT_FALSE(PropertyAssignment::Parse("com.example:note=a\nb"));
}

TEST(VdevSpecTest, ParsesZpoolGrammar) {
  auto spec = VdevSpec::Parse({"mirror", "/d/a", "/d/b", "raidz2", "/d/c", "/d/d", "/d/e", "spare",
                               "/d/f", "log", "/d/g", "cache", "/d/h"});
  ASSERT_TRUE(spec) << spec.error().message();
  ASSERT_EQ(spec->data.size(), 2u);
  EXPECT_EQ(spec->data[1].kind, VdevGroup::Kind::kRaidz2);
  EXPECT_EQ(spec->spares, std::vector<std::string>{"/d/f"});
  EXPECT_EQ(spec->ToArgs(), (std::vector<std::string>{"mirror", "/d/a", "/d/b", "raidz2", "/d/c", "/d/d",
                                                      "/d/e", "spare", "/d/f", "log", "/d/g", "cache",
                                                      "/d/h"}));
}

TEST(VdevSpecTest, RejectsBadSpecs) {
  EXPECT_FALSE(VdevSpec::Parse({}));
  EXPECT_FALSE(VdevSpec::Parse({"mirror", "/d/a"}));           // too few
  EXPECT_FALSE(VdevSpec::Parse({"raidz3", "/d/a", "/d/b", "/d/c"}));
  EXPECT_FALSE(VdevSpec::Parse({"/d/a", "-f"}));                // option smuggling
  EXPECT_FALSE(VdevSpec::Parse({"spare", "/d/a"}));             // no data
  EXPECT_FALSE(VdevSpec::Parse({"/d/a", "cache", "mirror", "/d/b", "/d/c"}));
}

}  // namespace
}  // namespace pk::zfs
