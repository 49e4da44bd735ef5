#include "base/json_fields.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pk {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

// issue 19 item 4: one way to read JSON fields, refusing unknown ones.
TEST(JsonFieldsTest, ReadsTypedFieldsAndKeepsDefaults) {
  json j = {{"name", "tank"}, {"force", true}, {"size", 10}, {"dirs", {"/a", "/b"}}, {"gone", nullptr}};
  JsonFields f(j, "pool 'tank'");
  std::string name;
  bool force = false;
  uint64_t size = 0;
  std::vector<std::string> dirs;
  std::optional<int> delay;
  std::string gone = "kept";
  f.Require("name", name);
  f.Get("force", force);
  f.Get("size", size);
  f.Get("dirs", dirs);
  f.Get("delay", delay);
  f.Get("gone", gone);
  ASSERT_TRUE(f.Finish()) << f.Finish().error().message();
  EXPECT_EQ(name, "tank");
  EXPECT_TRUE(force);
  EXPECT_EQ(size, 10u);
  EXPECT_EQ(dirs.size(), 2u);
  EXPECT_FALSE(delay);
  EXPECT_EQ(gone, "kept");
}

// The sanitized unit run (issue 17, standing defences) found this test
// reading a temporary json through JsonFields' reference after the temporary
// was gone; JsonFields now refuses a temporary at compile time.
static_assert(!std::is_constructible_v<JsonFields, json&&, std::string>);
static_assert(std::is_constructible_v<JsonFields, const json&, std::string>);

TEST(JsonFieldsTest, FirstErrorNamesTheObjectAndTheField) {
  json j = {{"force", "yes"}, {"size", -1}};
  JsonFields f(j, "import of 'tank'");
  bool force = false;
  uint64_t size = 0;
  f.Get("force", force);
  f.Get("size", size);
  auto s = f.Finish();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(s.error().message(), "import of 'tank': field 'force' has the wrong type: must be true or false");
  const json empty = json::object();
  JsonFields none(empty, "");
  std::string name;
  none.Require("name", name);
  EXPECT_EQ(none.Finish().error().message(), "field 'name' is required");
  const json array = json::array();
  JsonFields not_object(array, "body");
  EXPECT_THAT(not_object.Finish().error().message(), HasSubstr("must be a JSON object"));
}

TEST(JsonFieldsTest, UnknownFieldsRefusedUnlessIgnored) {
  json j = {{"name", "a"}, {"nmae", "b"}};
  JsonFields f(j, "body");
  std::string name;
  f.Get("name", name);
  auto s = f.Finish();
  ASSERT_FALSE(s);
  EXPECT_THAT(s.error().message(), HasSubstr("unknown field 'nmae' (known: name)"));
  JsonFields lenient(j, "state file");
  lenient.Get("name", name);
  EXPECT_TRUE(lenient.Finish(JsonFields::Unknown::kIgnore));
}

TEST(JsonFieldsTest, RangesOfIntegerTypesAreChecked) {
  json j = {{"small", 1ll << 40}, {"id", -5}, {"ok", 7}};
  JsonFields f(j, "");
  int small = 0;
  f.Get("small", small);
  EXPECT_THAT(f.Finish().error().message(), HasSubstr("'small' has the wrong type: must be an integer"));
  JsonFields g(j, "");
  uint32_t id = 0;
  g.Get("id", id);
  EXPECT_THAT(g.Finish().error().message(), HasSubstr("'id' has the wrong type: must be a non-negative integer"));
}

}  // namespace
}  // namespace pk
